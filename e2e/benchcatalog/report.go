package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

// merge merges histogram name over every process, grouped by label key
// (empty: one group).
func merge(fams []floebench.Families, name, key string) map[string]*floebench.Hist {
	out := map[string]*floebench.Hist{}
	for _, f := range fams {
		for _, m := range f[name].GetMetric() {
			k := label(m, key)
			if out[k] == nil {
				out[k] = &floebench.Hist{}
			}
			out[k].Add(m)
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// sumBy sums counter name over every process, grouped by label key.
func sumBy(fams []floebench.Families, name, key string) map[string]float64 {
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f[name].GetMetric() {
			out[label(m, key)] += m.GetCounter().GetValue()
		}
	}
	return out
}

func ms(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f ms", s*1000)
}

func (b *bench) report(fams []floebench.Families, tcp *connSampler, g *gaugeSampler, v *verdict, lat []time.Duration, elapsed, cpu time.Duration) {
	o := b.o
	outcomes := sumBy(fams, "floe_committer_commits_total", "outcome")
	landed := outcomes["committed"] + outcomes["conflict_retried"] + outcomes["retried"] + outcomes["landed_after_unknown"]
	reasons := sumBy(fams, "floe_committer_attempt_errors_total", "reason")
	var attemptErrors float64
	for _, n := range reasons {
		attemptErrors += n
	}
	readRetries := sumBy(fams, "floe_catalog_read_retries_total", "")[""]
	dropped := sumBy(fams, "floe_committer_dropped_batches_total", "reason")
	perCommit := merge(fams, "floe_committer_catalog_requests_per_commit", "")[""]
	byOp := merge(fams, "floe_catalog_request_duration_seconds", "operation")
	byStatus := map[string]map[string]float64{}
	for _, f := range fams {
		for _, m := range f["floe_catalog_request_duration_seconds"].GetMetric() {
			op, st := label(m, "operation"), label(m, "status")
			if byStatus[op] == nil {
				byStatus[op] = map[string]float64{}
			}
			byStatus[op][st] += float64(m.GetHistogram().GetSampleCount())
		}
	}

	limConns, limInFlight := o.maxConns, o.maxInFlight
	if limConns == 0 {
		limConns = 8 // catalog.DefaultHTTPConfig
	}
	if limInFlight == 0 {
		limInFlight = 8
	}
	under := func(peak float64, limit int) string {
		if peak <= float64(limit) {
			return fmt.Sprintf("%.0f (limit %d: under)", peak, limit)
		}
		return fmt.Sprintf("%.0f (limit %d: **OVER**)", peak, limit)
	}
	peakTCP := slices.Max(tcp.peak)

	host, _ := os.Hostname()
	fmt.Printf("\n### %d processes × %d tables = %d writers, %s\n\n", o.procs, o.tables, o.procs*o.tables, b.limits())
	fmt.Printf("| metric | value |\n|---|---|\n")
	fmt.Printf("| load | %d records/s per table for %s, %d partitions per topic, commit-interval %s, catalog %s |\n",
		o.rate, o.duration, o.partitions, o.commitInterval, o.catalog)
	fmt.Printf("| writers that committed (table, process) | %d |\n", v.writers)
	fmt.Printf("| commits landed | %.0f (%.1f/s over %s) |\n", landed, landed/elapsed.Seconds(), elapsed.Round(time.Second))
	fmt.Printf("| commits by outcome | %s |\n", formatCounts(outcomes))
	fmt.Printf("| conflicts per landed commit | %.3f (%.0f conflicts) |\n", reasons["conflict"]/max(landed, 1), reasons["conflict"])
	fmt.Printf("| retried attempts per landed commit | %.3f (%.0f; by reason: %s) |\n", attemptErrors/max(landed, 1), attemptErrors, formatCounts(reasons))
	fmt.Printf("| catalog read retries (429/5xx/network) | %.0f |\n", readRetries)
	fmt.Printf("| batches dropped (fenced, stale) | %s |\n", formatCounts(dropped))
	if perCommit != nil && perCommit.Count > 0 {
		fmt.Printf("| catalog requests per commit, mean / p99 | %.2f / %.0f |\n", perCommit.Sum/perCommit.Count, perCommit.Quantile(0.99))
	}
	if objReqs := merge(fams, "floe_objectstore_request_duration_seconds", "")[""]; objReqs != nil && objReqs.Count > 0 {
		fmt.Printf("| object-store requests per landed commit (all of the run) | %.1f (%.0f requests; peak %.0f connections per process) |\n",
			objReqs.Count/max(landed, 1), objReqs.Count, g.peak("floe_objectstore_open_connections"))
	}
	fmt.Printf("| commit latency p50 / p99 (log) | %s / %s |\n", floebench.Pct(lat, 50), floebench.Pct(lat, 99))
	fmt.Printf("| peak open connections per process, floe's gauge | %s |\n", under(g.peak("floe_catalog_open_connections"), limConns))
	fmt.Printf("| peak established TCP connections per process, /proc | %s (%d samples every 20 ms) |\n", under(float64(peakTCP), limConns), tcp.samples)
	fmt.Printf("| peak established TCP connections, all processes | %d (limit %d × %d processes) |\n", tcp.peakSum, limConns, o.procs)
	fmt.Printf("| peak requests in flight per process | %s |\n", under(g.peak("floe_catalog_requests_in_flight"), limInFlight))
	fmt.Printf("| peak requests waiting for a slot per process | %.0f |\n", g.peak("floe_catalog_requests_waiting"))
	fmt.Printf("| floe CPU, all processes | %s |\n", cpu.Round(time.Millisecond))
	verdict := "no commit lost or duplicated"
	if len(v.problems) > 0 {
		verdict = fmt.Sprintf("**%d problems**", len(v.problems))
	}
	how := "floe commits (unique commit IDs, ranges tile 0..end offset per partition, records == produced)"
	if v.readers {
		how += "; PyIceberg and DuckDB (every id once, rows == produced, floe.offsets == end offsets, commit IDs unique)"
	}
	fmt.Printf("| exactly once, %d commits in %d tables | %s: %s |\n", v.commits, len(b.tables), verdict, how)

	fmt.Printf("\n| catalog operation | requests | p50 | p99 | statuses |\n|---|---|---|---|---|\n")
	ops := make([]string, 0, len(byOp))
	for op := range byOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		h := byOp[op]
		fmt.Printf("| %s | %.0f | %s | %s | %s |\n", op, h.Count, ms(h.Quantile(0.5)), ms(h.Quantile(0.99)), formatCounts(byStatus[op]))
	}
	fmt.Printf("\nmachine: %s, %d CPUs, %s; %s\n", host, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format(time.RFC3339))
}

// formatCounts prints the non-zero counts, sorted by key.
func formatCounts(m map[string]float64) string {
	var parts []string
	for k, n := range m {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", k, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
