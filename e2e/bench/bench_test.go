package main

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCPUSamples(t *testing.T) {
	a, err := sampleCPU()
	require.NoError(t, err)
	require.NotZero(t, a.total)
	require.LessOrEqual(t, a.busy, a.total)
	require.Equal(t, 0.25, busyShare(cpuSample{busy: 100, total: 400}, cpuSample{busy: 200, total: 800}))
	require.Zero(t, busyShare(a, a), "no time passed: no share")

	_, err = processCPU(os.Getpid())
	require.NoError(t, err)
}

func TestCPUTrace(t *testing.T) {
	require.Equal(t, "50 100 0", percentages([]float64{0.5, 0.999, 0}))
	tr := startCPUTrace(time.Millisecond)
	first := tr.end()
	require.Equal(t, first, tr.end(), "ending twice (a deferred end after the first) gives the same")
}

func TestSteadyPercentiles(t *testing.T) {
	r := steadyResult{lat: []float64{0.5, 1, 1.5, 2, 10}}
	require.Equal(t, 1500*time.Millisecond, r.pct(50), "nearest rank")
	require.Equal(t, 10*time.Second, r.pct(99))
	require.Equal(t, 10*time.Second, r.pct(100))
	require.False(t, r.met(), "p99 10 s is over commit-interval + 1 s")
	r.lat = []float64{0.5, 1, 3}
	require.True(t, r.met(), "p99 3 s is the target itself")
	require.False(t, steadyResult{}.met(), "no records: nothing met")
}

func TestSentTimes(t *testing.T) {
	s := &sent{times: map[int32][]int64{}}
	at := time.Unix(1_700_000_000, 123)
	s.record(3, 5, at)
	got, ok := s.at(3, 5)
	require.True(t, ok)
	require.True(t, at.Equal(got))
	_, ok = s.at(3, 4)
	require.False(t, ok, "an offset not produced")
	_, ok = s.at(2, 0)
	require.False(t, ok, "a partition not produced to")
}
