package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

// connSampler counts, independently of floe, the established TCP
// connections each floe process holds to the catalog's port: the sockets
// of /proc/net/tcp{,6} in state ESTABLISHED whose remote port is the
// catalog's, matched by inode against the process's /proc/<pid>/fd.
type connSampler struct {
	port    int
	procs   []*proc
	mu      sync.Mutex
	peak    []int // per process
	peakSum int   // all processes at one instant
	samples int
	errs    int
}

func newConnSampler(port int, procs []*proc) *connSampler {
	return &connSampler{port: port, procs: procs, peak: make([]int, len(procs))}
}

func (s *connSampler) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *connSampler) sample() {
	est, err := establishedTo(s.port)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs++
		return
	}
	sum := 0
	for i, p := range s.procs {
		inodes, err := socketInodes(p.cmd.Process.Pid)
		if err != nil {
			continue // exited
		}
		n := 0
		for ino := range inodes {
			if est[ino] {
				n++
			}
		}
		s.peak[i] = max(s.peak[i], n)
		sum += n
	}
	s.peakSum = max(s.peakSum, sum)
	s.samples++
}

// establishedTo returns the inodes of the established TCP sockets whose
// remote port is port.
func establishedTo(port int) (map[uint64]bool, error) {
	out := map[uint64]bool{}
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(path)
		if err != nil {
			if path == "/proc/net/tcp6" && os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "01" { // 01: TCP_ESTABLISHED
				continue
			}
			_, hexPort, ok := strings.Cut(fields[2], ":")
			if !ok {
				continue
			}
			if rp, err := strconv.ParseUint(hexPort, 16, 16); err != nil || int(rp) != port {
				continue
			}
			if ino, err := strconv.ParseUint(fields[9], 10, 64); err == nil && ino != 0 {
				out[ino] = true
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	return out, nil
}

// socketInodes returns the inodes of the sockets process pid has open.
func socketInodes(pid int) (map[uint64]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[uint64]bool{}
	for _, e := range entries {
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if rest, ok := strings.CutPrefix(target, "socket:["); ok {
			if ino, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64); err == nil {
				out[ino] = true
			}
		}
	}
	return out, nil
}

// gaugeSampler records the peaks of floe's own catalog client gauges per
// process, from /metrics.
type gaugeSampler struct {
	procs []*proc
	mu    sync.Mutex
	peaks []map[string]float64 // per process, by metric name
}

var sampledGauges = []string{"floe_catalog_open_connections", "floe_catalog_requests_in_flight", "floe_catalog_requests_waiting", "floe_objectstore_open_connections"}

func newGaugeSampler(procs []*proc) *gaugeSampler {
	g := &gaugeSampler{procs: procs}
	for range procs {
		g.peaks = append(g.peaks, map[string]float64{})
	}
	return g
}

func (g *gaugeSampler) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for i, p := range g.procs {
			f, err := floebench.Scrape(p.addr)
			if err != nil {
				continue
			}
			g.mu.Lock()
			for _, name := range sampledGauges {
				g.peaks[i][name] = max(g.peaks[i][name], f.Sum(name, nil))
			}
			g.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// peak is the highest value of gauge name any process showed.
func (g *gaugeSampler) peak(name string) float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var m float64
	for _, p := range g.peaks {
		m = max(m, p[name])
	}
	return m
}
