package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// Linux architecture floe is built for.
const clockTicks = 100

// cpuSample is the machine's CPU time, all CPUs, from the first line of
// /proc/stat, in clock ticks.
type cpuSample struct {
	busy, total uint64
}

// sampleCPU reads /proc/stat. Busy is everything but idle and iowait;
// guest time is already inside user and nice, so it is not added again.
func sampleCPU() (cpuSample, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return cpuSample{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var s cpuSample
	for i, v := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuSample{}, fmt.Errorf("/proc/stat: %w", err)
		}
		s.total += n
		if i != 3 && i != 4 { // idle, iowait
			s.busy += n
		}
	}
	return s, nil
}

// busyShare is the share of all CPUs' time that was busy between a and b.
func busyShare(a, b cpuSample) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total)
}

// processCPU is the CPU time (user + system) process pid has used so far,
// from /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks uint64
	for _, v := range f[11:13] { // utime, stime: fields 14 and 15
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// cpuTrace samples the machine's CPU busy share every interval until
// stopped: a timeline of the run, to see where the cores sat idle.
type cpuTrace struct {
	every  time.Duration
	once   sync.Once
	stop   chan struct{}
	done   chan struct{}
	shares []float64
}

func startCPUTrace(every time.Duration) *cpuTrace {
	t := &cpuTrace{every: every, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		prev, err := sampleCPU()
		if err != nil {
			return
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
			}
			s, err := sampleCPU()
			if err != nil {
				return
			}
			t.shares = append(t.shares, busyShare(prev, s))
			prev = s
		}
	}()
	return t
}

// end stops the trace and returns it as percentages, one per interval.
// It may be called again (on an error path, deferred).
func (t *cpuTrace) end() string {
	t.once.Do(func() { close(t.stop) })
	<-t.done
	return percentages(t.shares)
}

// percentages writes shares (0 to 1) as whole percentages.
func percentages(shares []float64) string {
	out := make([]string, len(shares))
	for i, s := range shares {
		out[i] = strconv.Itoa(int(100*s + 0.5))
	}
	return strings.Join(out, " ")
}
