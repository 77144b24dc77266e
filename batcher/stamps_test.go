package batcher

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStampsRuns(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000) // on a slot boundary
	mid := StampResolution / 2
	tests := []struct {
		name string
		add  []time.Duration // offsets from t0
		want []StampRun
	}{
		{"empty", nil, []StampRun{}},
		{"one slot", []time.Duration{0, 10 * time.Millisecond, 99 * time.Millisecond},
			[]StampRun{{t0.Add(mid), 3}}},
		{"in order", []time.Duration{0, 50 * time.Millisecond, 150 * time.Millisecond, 1500 * time.Millisecond},
			[]StampRun{{t0.Add(mid), 2}, {t0.Add(StampResolution + mid), 1}, {t0.Add(15*StampResolution + mid), 1}}},
		{"out of order makes runs again", []time.Duration{0, 200 * time.Millisecond, 10 * time.Millisecond},
			[]StampRun{{t0.Add(mid), 1}, {t0.Add(2*StampResolution + mid), 1}, {t0.Add(mid), 1}}},
		{"before 1970 is not counted", []time.Duration{-t0.Sub(time.Unix(-1, 0)), 0},
			[]StampRun{{t0.Add(mid), 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Stamps
			for _, d := range tt.add {
				s.Add(t0.Add(d))
			}
			require.Equal(t, tt.want, s.Runs())
			n := 0
			for _, r := range tt.want {
				n += r.Count
			}
			require.Equal(t, n, s.Count())
		})
	}
}

func TestStampsCap(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	var s Stamps
	// One slot of 1,000 records, then 200 slots of one record each a
	// second apart: far more runs than the cap.
	for range 1000 {
		s.Add(t0)
	}
	var sum time.Duration
	for i := 1; i <= 200; i++ {
		s.Add(t0.Add(time.Duration(i) * time.Second))
		sum += time.Duration(i) * time.Second
	}
	runs := s.Runs()
	require.Len(t, runs, MaxStampRuns)
	require.Equal(t, 1200, s.Count())
	// The big run keeps its time: merging the small ones costs less.
	require.Equal(t, StampRun{t0.Add(StampResolution / 2), 1000}, runs[0])
	// Merges keep the mean: the records' total age is what it was, within
	// a millisecond of rounding per merge.
	var got time.Duration
	for _, r := range runs[1:] {
		got += time.Duration(r.Count) * r.At.Sub(t0.Add(StampResolution/2))
	}
	require.InDelta(t, float64(sum), float64(got), float64(200*time.Millisecond))
	// Runs stay in time order when the records came in order.
	for i := 1; i < len(runs); i++ {
		require.True(t, runs[i].At.After(runs[i-1].At), "run %d", i)
	}
}

func TestBufferStamps(t *testing.T) {
	b, _ := newTestBuffer(t, 0, Policy{MaxRecords: 100, MaxBytes: 1 << 20, MaxAge: time.Hour})
	t0 := time.UnixMilli(1_700_000_000_000)
	now := t0.Add(time.Hour)
	_, err := b.Add(0, t0, 10, false, now) // skipped
	require.NoError(t, err)
	_, err = b.AddLetter(DeadLetter{Offset: 1, Timestamp: t0.Add(time.Millisecond)}, 10, now)
	require.NoError(t, err)
	_, err = b.Add(2, t0.Add(time.Second), 10, false, now)
	require.NoError(t, err)

	batch := b.Seal(ReasonAge)
	require.Equal(t, 3, batch.Stamps.Count(), "skipped records and dead letters count")
	require.Equal(t, []StampRun{{t0.Add(50 * time.Millisecond), 2}, {t0.Add(time.Second + 50*time.Millisecond), 1}}, batch.Stamps.Runs())

	// The buffer starts afresh, and the sealed batch keeps its own runs.
	_, err = b.Add(3, t0.Add(time.Minute), 10, false, now)
	require.NoError(t, err)
	next := b.Seal(ReasonAge)
	require.Equal(t, []StampRun{{t0.Add(time.Minute + 50*time.Millisecond), 1}}, next.Stamps.Runs())
	require.Equal(t, 3, batch.Stamps.Count())
}

func TestStampsAddAllocations(t *testing.T) {
	var s Stamps
	t0 := time.UnixMilli(1_700_000_000_000)
	s.Add(t0) // the first Add makes room for the runs
	i := 0
	allocs := testing.AllocsPerRun(10_000, func() {
		i++
		s.Add(t0.Add(time.Duration(i) * time.Millisecond))
	})
	require.Zero(t, allocs)
}
