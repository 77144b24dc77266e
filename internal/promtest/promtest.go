// Package promtest reads a metric from a Prometheus registry by the name
// and labels it is exported with, so tests assert what a scrape shows
// rather than a component's private fields. For an exact value asserted
// once, prefer testutil.GatherAndCompare; Value is for polling, sums and
// comparisons.
package promtest

import (
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
// or an uninitialised label value, not a zero. Inside a require.Eventually
// condition that failure also ends the condition's goroutine, so the test
// fails when the wait runs out.
func Value(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather %s: %v", name, err)
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
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Untyped != nil:
				return m.GetUntyped().GetValue()
			}
			t.Fatalf("%s%s is a %s, not a counter or gauge", name, format(labels), strings.ToLower(mf.GetType().String()))
		}
		t.Fatalf("no series %s%s; the registry has %s%s", name, format(labels), name, strings.Join(have, ", "+name))
	}
	t.Fatalf("no metric %s in the registry", name)
	return 0
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
