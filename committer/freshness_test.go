package committer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/batcher"
)

// stampedBatch builds a batch of partition p covering [start, end): rows
// whose record timestamps are ts(offset), and every fifth record skipped
// (no row): it is done too, so it counts for freshness.
func (e *protoEnv) stampedBatch(c *Committer, p int32, start, end int64, ts func(int64) time.Time) *batcher.Batch {
	e.t.Helper()
	sc, err := c.ArrowSchema()
	require.NoError(e.t, err)
	buf := batcher.NewBuffer("events", p, 1, start, sc, memory.NewGoAllocator(), batcher.DefaultPolicy())
	now := time.Now()
	for o := start; o < end; o++ {
		row := o%5 != 0
		if row {
			rb := buf.Builder()
			rb.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("%d/%d", p, o))
			rb.Field(1).(*array.Int64Builder).Append(o)
		}
		_, err := buf.Add(o, ts(o), 10, row, now)
		require.NoError(e.t, err)
	}
	b := buf.Seal(batcher.ReasonRecords)
	b.FromTable = true
	b.Done = e.done
	return b
}

// freshness returns the table's floe_table_freshness_seconds series.
func freshness(t testing.TB, reg prometheus.Gatherer) *dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "floe_table_freshness_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "table" && l.GetValue() == "db.events" {
					return m.GetHistogram()
				}
			}
		}
	}
	t.Fatal("no floe_table_freshness_seconds{table=\"db.events\"}")
	return nil
}

// cumulative returns the histogram's cumulative count at upper bound le.
func cumulative(t testing.TB, h *dto.Histogram, le float64) uint64 {
	t.Helper()
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	t.Fatalf("no bucket le=%g", le)
	return 0
}

func TestFreshnessObservedWhenLanded(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	require.Zero(t, freshness(t, e.reg).GetSampleCount(), "exported empty from the start")

	// Timestamps two hours and more in the past, a millisecond apart: every
	// record is at least 7,200 s old when the commit lands, whatever the
	// machine's speed.
	old := time.Now().Add(-2 * time.Hour)
	past := func(o int64) time.Time { return old.Add(-time.Duration(o) * time.Millisecond) }
	c.Submit(e.stampedBatch(c, 0, 0, 1000, past))
	c.Submit(e.stampedBatch(c, 1, 0, 500, past))
	// One record stamped an hour in the future (clock skew): 0 s.
	c.Submit(e.stampedBatch(c, 2, 0, 1, func(int64) time.Time { return time.Now().Add(time.Hour) }))
	require.NoError(t, c.Commit(context.Background()))

	h := freshness(t, e.reg)
	require.Equal(t, uint64(1501), h.GetSampleCount(), "every record, rows and skipped ones")
	require.Equal(t, uint64(1), cumulative(t, h, 0.1), "the future record counts as fresh")
	require.Equal(t, uint64(1), cumulative(t, h, 3600), "the others are over an hour old")
	require.GreaterOrEqual(t, h.GetSampleSum(), 1500*7200.0)
	// Bounded above by the wall time since the oldest timestamp: the test
	// has taken less than a day.
	require.Less(t, h.GetSampleSum(), 1500*(7200.0+86400))
}

func TestFreshnessNotObservedForReplay(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	c.deps.Replay = true
	old := time.Now().Add(-2 * time.Hour)
	c.Submit(e.stampedBatch(c, 0, 0, 100, func(int64) time.Time { return old }))
	require.NoError(t, c.Commit(context.Background()))
	requireNoDuplicates(t, e.rows(), 80)
	require.Zero(t, freshness(t, e.reg).GetSampleCount())
}
