package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProgressLines(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, total: 1000, read: func() int64 { return 250 }}
	require.Equal(t, "     10s  read  25%  250 / 1000 offsets  25/s  ETA 30s\n", p.line(250, 10*time.Second))
	require.Equal(t, "      1s  read 100%  1000 / 1000 offsets  1.0k/s  ETA 0s\n", p.line(1000, time.Second))
	require.Contains(t, p.line(0, 0), "ETA ?")

	p.tty = true
	bar := p.line(500, 2*time.Second)
	require.Equal(t, "\r[###############...............]  50%  500 / 1000 offsets  250/s  ETA 2s   ", bar)
	require.False(t, isTerminal(&buf), "a buffer is not a terminal")
}
