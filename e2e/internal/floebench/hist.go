package floebench

import (
	"math"

	dto "github.com/prometheus/client_model/go"
)

// Hist is a histogram scraped from floe, merged over processes and label
// sets: cumulative counts per upper bound.
type Hist struct {
	Bounds []float64
	Counts []float64
	Count  float64
	Sum    float64
}

// Add merges one scraped histogram series into h.
func (h *Hist) Add(m *dto.Metric) {
	hg := m.GetHistogram()
	if h.Bounds == nil {
		for _, b := range hg.GetBucket() {
			h.Bounds = append(h.Bounds, b.GetUpperBound())
		}
		h.Counts = make([]float64, len(h.Bounds))
	}
	for i, b := range hg.GetBucket() {
		if i < len(h.Counts) {
			h.Counts[i] += float64(b.GetCumulativeCount())
		}
	}
	h.Count += float64(hg.GetSampleCount())
	h.Sum += hg.GetSampleSum()
}

// Quantile interpolates linearly inside the bucket that holds the q-th
// observation, as PromQL's histogram_quantile does; NaN for no
// observations.
func (h *Hist) Quantile(q float64) float64 {
	if h == nil || h.Count == 0 {
		return math.NaN()
	}
	rank := q * h.Count
	lower, below := 0.0, 0.0
	for i, c := range h.Counts {
		if c >= rank {
			if c == below {
				return h.Bounds[i]
			}
			return lower + (h.Bounds[i]-lower)*(rank-below)/(c-below)
		}
		lower, below = h.Bounds[i], c
	}
	return lower // above the last bound
}

// Hist merges every series of histogram name whose labels include match
// (nil: all); nil when there is none.
func (f Families) Hist(name string, match map[string]string) *Hist {
	var h *Hist
	for _, m := range f[name].GetMetric() {
		if m.GetHistogram() == nil || !HasLabels(m, match) {
			continue
		}
		if h == nil {
			h = &Hist{}
		}
		h.Add(m)
	}
	return h
}
