package batcher

import (
	"time"
)

// StampResolution is the width of the time slots [Stamps] counts records in.
const StampResolution = 100 * time.Millisecond

// MaxStampRuns bounds the runs one [Stamps] keeps: past it, the two
// neighbouring runs whose merge moves the fewest records the least are
// merged, so a batch's distribution stays a few hundred bytes however its
// timestamps are spread.
const MaxStampRuns = 64

// StampRun is a number of records whose timestamps fall in one slot, or,
// after a merge, whose mean timestamp is At.
type StampRun struct {
	At    time.Time // the slot's midpoint, or the merged records' mean
	Count int
}

// Stamps is a compact distribution of record timestamps: counts of records
// per [StampResolution] slot, run-length encoded in the order the records
// came (a partition's records arrive mostly in timestamp order, so a batch
// of seconds of records holds tens of runs), at most [MaxStampRuns] runs.
// The committer turns it into freshness observations when the batch lands
// (floe_table_freshness_seconds) without keeping a timestamp per record.
// Records without a timestamp (zero, or before 1970) are not counted.
// The zero value is empty and ready to use.
type Stamps struct {
	runs []stampRun
}

// stampRun is a StampRun kept in milliseconds: a slot's start while unmerged
// (the record's slot is compared with the last run's on every Add), the
// merged records' mean after a merge.
type stampRun struct {
	ms     int64
	merged bool
	count  int
}

// Add counts one record with timestamp ts. It allocates only when the runs
// first grow (a buffer reuses its room from batch to batch).
func (s *Stamps) Add(ts time.Time) {
	ms := ts.UnixMilli()
	if ms <= 0 {
		return
	}
	slot := ms - ms%StampResolution.Milliseconds()
	if n := len(s.runs); n > 0 && !s.runs[n-1].merged && s.runs[n-1].ms == slot {
		s.runs[n-1].count++
		return
	}
	if len(s.runs) == MaxStampRuns {
		s.mergeClosest()
	}
	if s.runs == nil {
		s.runs = make([]stampRun, 0, MaxStampRuns)
	}
	s.runs = append(s.runs, stampRun{ms: slot, count: 1})
}

// mergeClosest merges the neighbours whose merge costs least: the count
// weighted squared distance between their times (Ward's criterion), so
// that a big run keeps its time and small ones join it.
func (s *Stamps) mergeClosest() {
	best, bestCost := 0, -1.0
	for i := 0; i+1 < len(s.runs); i++ {
		a, b := s.runs[i], s.runs[i+1]
		d := float64(s.mid(a) - s.mid(b))
		cost := float64(a.count) * float64(b.count) / float64(a.count+b.count) * d * d
		if bestCost < 0 || cost < bestCost {
			best, bestCost = i, cost
		}
	}
	a, b := s.runs[best], s.runs[best+1]
	n := a.count + b.count
	mean := (float64(s.mid(a))*float64(a.count) + float64(s.mid(b))*float64(b.count)) / float64(n)
	s.runs[best] = stampRun{ms: int64(mean + 0.5), merged: true, count: n}
	s.runs = append(s.runs[:best+1], s.runs[best+2:]...)
}

// mid is the time a run stands for: its slot's midpoint while unmerged.
func (s *Stamps) mid(r stampRun) int64 {
	if r.merged {
		return r.ms
	}
	return r.ms + StampResolution.Milliseconds()/2
}

// Count is the number of records counted.
func (s *Stamps) Count() int {
	n := 0
	for _, r := range s.runs {
		n += r.count
	}
	return n
}

// Runs returns the runs in the order they were made.
func (s *Stamps) Runs() []StampRun {
	out := make([]StampRun, len(s.runs))
	for i, r := range s.runs {
		out[i] = StampRun{At: time.UnixMilli(s.mid(r)), Count: r.count}
	}
	return out
}

// Each calls f for every run, without allocating.
func (s *Stamps) Each(f func(at time.Time, count int)) {
	for _, r := range s.runs {
		f(time.UnixMilli(s.mid(r)), r.count)
	}
}

// clone returns a copy that owns its runs (exactly as many as there are),
// so that s can be reset and reused.
func (s *Stamps) clone() Stamps {
	if len(s.runs) == 0 {
		return Stamps{}
	}
	return Stamps{runs: append([]stampRun(nil), s.runs...)}
}

// reset empties s and keeps its room.
func (s *Stamps) reset() { s.runs = s.runs[:0] }
