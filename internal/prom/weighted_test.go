package prom

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
)

func TestWeightedHistogram(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.HistogramOpts{Name: "test_age_seconds", Help: "Age.", Buckets: []float64{1, 2, 5}}
	v := Register(reg, NewWeightedHistogramVec(opts, []string{"table"}))
	require.Same(t, v, Register(reg, NewWeightedHistogramVec(opts, []string{"table"})), "a second registration returns the first")

	a := v.WithLabelValues("a")
	a.ObserveN(0.5, 3)     // le 1
	a.ObserveN(1, 2)       // le is inclusive: le 1
	a.ObserveN(4, 10)      // le 5
	a.ObserveN(60, 1)      // only +Inf
	a.ObserveN(3, 0)       // nothing
	v.WithLabelValues("b") // exported empty

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP test_age_seconds Age.
# TYPE test_age_seconds histogram
test_age_seconds_bucket{table="a",le="1"} 5
test_age_seconds_bucket{table="a",le="2"} 5
test_age_seconds_bucket{table="a",le="5"} 15
test_age_seconds_bucket{table="a",le="+Inf"} 16
test_age_seconds_sum{table="a"} 103.5
test_age_seconds_count{table="a"} 16
test_age_seconds_bucket{table="b",le="1"} 0
test_age_seconds_bucket{table="b",le="2"} 0
test_age_seconds_bucket{table="b",le="5"} 0
test_age_seconds_bucket{table="b",le="+Inf"} 0
test_age_seconds_sum{table="b"} 0
test_age_seconds_count{table="b"} 0
`), "test_age_seconds"))
}

// TestWeightedHistogramMatchesObserve holds ObserveN(v, n) to n calls of a
// client_golang histogram's Observe(v) (dyadic values, so that the two sums,
// adding the same floats in another order, are exact).
func TestWeightedHistogramMatchesObserve(t *testing.T) {
	opts := prometheus.HistogramOpts{Name: "test_age_seconds", Help: "Age.", Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 10}}
	weighted := NewWeightedHistogramVec(opts, []string{"table"})
	plain := prometheus.NewHistogramVec(opts, []string{"table"})
	for i, v := range []float64{0, 0.0625, 0.125, 0.25, 0.375, 0.5, 1, 2.5, 3, 4.75, 10, 10.5, 1 << 20} {
		n := uint64(i%4 + 1)
		weighted.WithLabelValues("t").ObserveN(v, n)
		for range n {
			plain.WithLabelValues("t").Observe(v)
		}
	}
	want, err := testutil.CollectAndFormat(plain, expfmt.TypeTextPlain, "test_age_seconds")
	require.NoError(t, err)
	require.NoError(t, testutil.CollectAndCompare(weighted, strings.NewReader(string(want)), "test_age_seconds"))
}
