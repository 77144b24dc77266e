// Package promtest reads a metric from a Prometheus registry by the name
// and labels it is exported with, so tests assert what a scrape shows
// rather than a component's private fields. For an exact value asserted
// once, prefer testutil.GatherAndCompare; Value and ValueOrZero are for
// polling, sums and comparisons.
package promtest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Value gathers g and returns the value of the counter, gauge or untyped
// series named name whose labels are exactly labels (nil or empty: the
// series without labels). It fails the test at once when the series does
// not exist or is of another type: a missing series is a renamed metric
// or a label value never set, not a zero.
//
// In a require.Eventually condition, use ValueOrZero for a series that
// appears only once something happens: a failure there ends only the
// condition's goroutine, and the test fails when the wait runs out.
func Value(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	v, err := lookup(g, name, labels)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// ValueOrZero is Value for a series that is exported only once set (a
// vector's child made on the first record, a gauge deleted with its
// partition): one that is not exported reads 0, as the child would. It
// still fails the test when gathering fails or the series is of another
// type.
func ValueOrZero(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	v, err := lookup(g, name, labels)
	var missing *missingError
	if errors.As(err, &missing) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// missingError says that g exports no series name{labels}.
type missingError struct{ msg string }

func (e *missingError) Error() string { return e.msg }

func lookup(g prometheus.Gatherer, name string, labels map[string]string) (float64, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, fmt.Errorf("gather %s: %w", name, err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var have []string
		for _, m := range mf.GetMetric() {
			got := labelMap(m)
			if !maps.Equal(got, labels) {
				have = append(have, format(got))
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), nil
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), nil
			case m.Untyped != nil:
				return m.GetUntyped().GetValue(), nil
			}
			return 0, fmt.Errorf("%s%s is a %s, not a counter or gauge", name, format(labels), strings.ToLower(mf.GetType().String()))
		}
		return 0, &missingError{fmt.Sprintf("no series %s%s; the registry has %s%s", name, format(labels), name, strings.Join(have, ", "+name))}
	}
	return 0, &missingError{fmt.Sprintf("no metric %s in the registry", name)}
}

func labelMap(m *dto.Metric) map[string]string {
	l := make(map[string]string, len(m.GetLabel()))
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// format writes labels as in the exposition format, sorted by name.
func format(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	pairs := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		pairs = append(pairs, k+"="+`"`+labels[k]+`"`)
	}
	return "{" + strings.Join(pairs, ",") + "}"
}
