package promtest

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// fatalRecorder stands in for the test so that Value's failures can be
// asserted: Fatalf records the message and ends the goroutine, as
// testing.T's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatal(args ...any) {
	r.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

type reader func(testing.TB, prometheus.Gatherer, string, map[string]string) float64

// call calls read with a recorder and returns its result or its failure.
func call(read reader, g prometheus.Gatherer, name string, labels map[string]string) (v float64, failure string) {
	r := &fatalRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		v = read(r, g, name, labels)
	}()
	<-done
	return v, r.msg
}

func TestValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := promauto.With(reg)
	changes := f.NewCounterVec(prometheus.CounterOpts{Name: "floe_test_changes_total", Help: "h"}, []string{"table"})
	changes.WithLabelValues("db.a").Add(3)
	changes.WithLabelValues("db.b")
	records := f.NewCounterVec(prometheus.CounterOpts{Name: "floe_test_records_total", Help: "h"}, []string{"topic", "partition"})
	records.WithLabelValues("t", "1").Add(5)
	f.NewGauge(prometheus.GaugeOpts{Name: "floe_test_waiting", Help: "h"}).Set(4)
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "floe_test_open", Help: "h"}, func() float64 { return 2 })
	f.NewHistogram(prometheus.HistogramOpts{Name: "floe_test_duration_seconds", Help: "h"}).Observe(1)

	for _, tc := range []struct {
		name    string
		metric  string
		labels  map[string]string
		want    float64
		failure string
		missing bool // not exported: ValueOrZero reads 0
	}{
		{name: "counter by label", metric: "floe_test_changes_total", labels: map[string]string{"table": "db.a"}, want: 3},
		{name: "initialised to zero", metric: "floe_test_changes_total", labels: map[string]string{"table": "db.b"}, want: 0},
		{name: "two labels", metric: "floe_test_records_total", labels: map[string]string{"partition": "1", "topic": "t"}, want: 5},
		{name: "gauge without labels", metric: "floe_test_waiting", want: 4},
		{name: "empty labels: the series without", metric: "floe_test_waiting", labels: map[string]string{}, want: 4},
		{name: "gauge func", metric: "floe_test_open", want: 2},
		{
			name: "no such label value", metric: "floe_test_changes_total", labels: map[string]string{"table": "db.c"},
			failure: `no series floe_test_changes_total{table="db.c"}; the registry has floe_test_changes_total{table="db.a"}, floe_test_changes_total{table="db.b"}`,
			missing: true,
		},
		{
			name: "labels must match exactly", metric: "floe_test_records_total", labels: map[string]string{"topic": "t"},
			failure: `no series floe_test_records_total{topic="t"}; the registry has floe_test_records_total{partition="1",topic="t"}`,
			missing: true,
		},
		{
			name: "labels where there are none", metric: "floe_test_waiting", labels: map[string]string{"table": "db.a"},
			failure: `no series floe_test_waiting{table="db.a"}; the registry has floe_test_waiting`,
			missing: true,
		},
		{name: "no such metric", metric: "floe_test_renamed_total", failure: "no metric floe_test_renamed_total in the registry", missing: true},
		{name: "histogram", metric: "floe_test_duration_seconds", failure: "floe_test_duration_seconds is a histogram, not a counter or gauge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, failure := call(Value, reg, tc.metric, tc.labels)
			require.Equal(t, tc.failure, failure)
			require.Equal(t, tc.want, got)

			got, failure = call(ValueOrZero, reg, tc.metric, tc.labels)
			if tc.missing {
				require.Empty(t, failure, "not exported yet")
				require.Zero(t, got)
				return
			}
			require.Equal(t, tc.failure, failure)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestValueGatherError(t *testing.T) {
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, errors.New("collector broke") })
	for _, read := range []reader{Value, ValueOrZero} {
		_, failure := call(read, g, "floe_test_waiting", nil)
		require.Equal(t, "gather floe_test_waiting: collector broke", failure)
	}
}
