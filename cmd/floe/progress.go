package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress shows how far a replay has read: on a terminal a bar redrawn in
// place with rate and ETA, otherwise a plain line every few seconds (logs
// and CI keep every line).
type progress struct {
	w       io.Writer
	tty     bool
	total   int64
	read    func() int64
	started time.Time
	every   time.Duration
}

func newProgress(w io.Writer, total int64, read func() int64) *progress {
	p := &progress{w: w, tty: isTerminal(w), total: total, read: read, started: time.Now(), every: 5 * time.Second}
	if p.tty {
		p.every = 200 * time.Millisecond
	}
	return p
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// run draws until ctx is done.
func (p *progress) run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.draw(time.Since(p.started))
		}
	}
}

// finish draws the last state and ends the bar's line.
func (p *progress) finish() {
	p.draw(time.Since(p.started))
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

func (p *progress) draw(elapsed time.Duration) {
	fmt.Fprint(p.w, p.line(min(p.read(), p.total), elapsed))
}

// line renders one progress state; on a terminal it starts with \r and
// has no newline so the next one overwrites it.
func (p *progress) line(done int64, elapsed time.Duration) string {
	frac := 1.0
	if p.total > 0 {
		frac = float64(done) / float64(p.total)
	}
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	eta := "?"
	switch {
	case done >= p.total:
		eta = "0s"
	case rate > 0:
		eta = time.Duration(float64(p.total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	stats := fmt.Sprintf("%3.0f%%  %d / %d offsets  %s/s  ETA %s", frac*100, done, p.total, humanCount(rate), eta)
	if !p.tty {
		return fmt.Sprintf("%8s  read %s\n", elapsed.Round(time.Second), stats)
	}
	const width = 30
	n := int(frac * width)
	return "\r[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "] " + stats + "   "
}

func humanCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
