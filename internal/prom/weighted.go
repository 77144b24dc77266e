package prom

import (
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// WeightedHistogramVec is a histogram vector whose observations carry a
// count: ObserveN(v, n) is n observations of v in one call. client_golang's
// histograms take one observation per call; a committer that lands a
// million records, whose ages it holds as a few dozen (age, count) runs,
// would otherwise call Observe a million times. It is exported as an
// ordinary histogram.
type WeightedHistogramVec struct {
	desc   *prometheus.Desc
	bounds []float64

	mu     sync.Mutex
	series map[string]*WeightedHistogram
}

// NewWeightedHistogramVec returns a vector of histograms named and bucketed
// as opts says (nil buckets: prometheus.DefBuckets), one per value of
// labels.
func NewWeightedHistogramVec(opts prometheus.HistogramOpts, labels []string) *WeightedHistogramVec {
	bounds := opts.Buckets
	if bounds == nil {
		bounds = prometheus.DefBuckets
	}
	bounds = append([]float64(nil), bounds...)
	sort.Float64s(bounds)
	if n := len(bounds); n > 0 && math.IsInf(bounds[n-1], +1) {
		bounds = bounds[:n-1] // +Inf is implicit
	}
	return &WeightedHistogramVec{
		desc:   prometheus.NewDesc(prometheus.BuildFQName(opts.Namespace, opts.Subsystem, opts.Name), opts.Help, labels, opts.ConstLabels),
		bounds: bounds,
		series: map[string]*WeightedHistogram{},
	}
}

// WithLabelValues returns the histogram of the given label values, made
// (and exported, empty) on first use.
func (v *WeightedHistogramVec) WithLabelValues(lvs ...string) *WeightedHistogram {
	key := strings.Join(lvs, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	h := v.series[key]
	if h == nil {
		h = &WeightedHistogram{labels: append([]string(nil), lvs...), bounds: v.bounds, counts: make([]uint64, len(v.bounds))}
		v.series[key] = h
	}
	return h
}

// Describe implements prometheus.Collector.
func (v *WeightedHistogramVec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

// Collect implements prometheus.Collector.
func (v *WeightedHistogramVec) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	series := make([]*WeightedHistogram, 0, len(v.series))
	for _, h := range v.series {
		series = append(series, h)
	}
	v.mu.Unlock()
	for _, h := range series {
		count, sum, buckets := h.snapshot()
		ch <- prometheus.MustNewConstHistogram(v.desc, count, sum, buckets, h.labels...)
	}
}

// WeightedHistogram is one series of a WeightedHistogramVec.
type WeightedHistogram struct {
	labels []string
	bounds []float64

	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; above the last bound only in count
	count  uint64
	sum    float64
}

// ObserveN adds n observations of value. A NaN value is ignored.
func (h *WeightedHistogram) ObserveN(value float64, n uint64) {
	if n == 0 || math.IsNaN(value) {
		return
	}
	i := sort.SearchFloat64s(h.bounds, value) // the first bound >= value: le is inclusive
	h.mu.Lock()
	if i < len(h.counts) {
		h.counts[i] += n
	}
	h.count += n
	h.sum += value * float64(n)
	h.mu.Unlock()
}

// snapshot returns the count, sum and cumulative bucket counts, consistent
// with each other.
func (h *WeightedHistogram) snapshot() (uint64, float64, map[float64]uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	buckets := make(map[float64]uint64, len(h.bounds))
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		buckets[b] = cum
	}
	return h.count, h.sum, buckets
}
