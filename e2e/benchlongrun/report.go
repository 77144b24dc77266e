package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

// csvHeader names the columns of a run's CSV: one row per commit; the
// columns from metadata_json_bytes on are filled on the commits a sample
// found current, empty elsewhere.
var csvHeader = []string{
	"commit", "elapsed_s", "latency_ms", "outcome", "attempts", "records", "files", "file_bytes", "snapshot_id",
	"metadata_json_bytes", "snapshots", "refs", "manifests", "manifest_bytes", "data_files", "data_bytes", "avg_data_file_bytes",
	"total_records", "metadata_dir_files", "metadata_dir_bytes", "metadata_dir_json_bytes", "metadata_dir_manifest_list_bytes",
}

func (r *longrun) report(res *result) error {
	if len(res.commits) == 0 || len(res.samples) == 0 {
		return fmt.Errorf("nothing measured: %d commits, %d samples", len(res.commits), len(res.samples))
	}
	csvPath := filepath.Join(r.o.results, r.o.name+".csv")
	if err := writeCSV(csvPath, res); err != nil {
		return err
	}
	var sb strings.Builder
	r.summary(&sb, res)
	mdPath := filepath.Join(r.o.results, r.o.name+".md")
	if err := os.WriteFile(mdPath, []byte(sb.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(sb.String())
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", csvPath, mdPath)
	if len(res.verdict) > 0 {
		return fmt.Errorf("exactly once does not hold:\n  %s", strings.Join(res.verdict, "\n  "))
	}
	return nil
}

func writeCSV(path string, res *result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	if err := w.Write(csvHeader); err != nil {
		return err
	}
	byCommit := map[int]sample{}
	for _, s := range res.samples { // a later sample of the same commit wins
		byCommit[s.commit] = s
	}
	t0 := res.commits[0].Time.Add(-res.commits[0].Duration)
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	for i, c := range res.commits {
		row := []string{
			strconv.Itoa(i + 1), fmt.Sprintf("%.3f", c.Time.Sub(t0).Seconds()), fmt.Sprintf("%.1f", float64(c.Duration)/float64(time.Millisecond)),
			c.Outcome, strconv.Itoa(c.Attempts), i64(c.Records), i64(c.Files), i64(c.FileBytes), i64(c.SnapshotID),
		}
		if s, ok := byCommit[i+1]; ok {
			row = append(row, i64(s.metadataBytes), strconv.Itoa(s.snapshots), strconv.Itoa(s.refs), strconv.Itoa(s.manifests),
				i64(s.manifestBytes), i64(s.dataFiles), i64(s.dataBytes), i64(s.dataBytes/max(s.dataFiles, 1)),
				i64(s.totalRecords), strconv.Itoa(s.metaDirFiles), i64(s.metaDirBytes), i64(s.metaDirJSONBytes), i64(s.metaDirListBytes))
		} else {
			row = append(row, make([]string, len(csvHeader)-len(row))...)
		}
		if err := w.Write(row); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return f.Close()
}

// p50 is the median of the commits' latencies.
func p50(cs []floebench.Commit) time.Duration {
	ds := make([]time.Duration, len(cs))
	for i, c := range cs {
		ds[i] = c.Duration
	}
	slices.Sort(ds)
	if len(ds) == 0 {
		return 0
	}
	return ds[(len(ds)-1)/2]
}

func mib(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// summary writes the run's figures as a Markdown table.
func (r *longrun) summary(w io.Writer, res *result) {
	o, cs := r.o, res.commits
	tenth := max(len(cs)/10, 1)
	first, last := p50(cs[:tenth]), p50(cs[len(cs)-tenth:])
	all := make([]time.Duration, len(cs))
	for i, c := range cs {
		all[i] = c.Duration
	}
	slices.Sort(all)
	final := res.samples[len(res.samples)-1]
	peak := func(f func(sample) int64) int64 {
		var m int64
		for _, s := range res.samples {
			m = max(m, f(s))
		}
		return m
	}
	settings := "floe's defaults"
	if o.tableConfig != "" {
		settings = "merged from " + o.tableConfig
	}
	fmt.Fprintf(w, "\n### %s\n\n| metric | value |\n|---|---|\n", o.name)
	fmt.Fprintf(w, "| load | %d partitions, %d records/s, commit-interval %s, batch max-age %s; table settings: %s |\n",
		o.partitions, o.rate, o.interval, o.batchAge, settings)
	fmt.Fprintf(w, "| commits | %d in %s (%.2f/s); %d records |\n", len(cs), res.wall.Round(time.Second), float64(len(cs))/res.wall.Seconds(), res.produced)
	fmt.Fprintf(w, "| commit latency p50, first 10 %% / last 10 %% of commits | %s / %s: **%.2f×** (%d commits each) |\n",
		first.Round(time.Millisecond), last.Round(time.Millisecond), float64(last)/float64(max(first, 1)), tenth)
	fmt.Fprintf(w, "| commit latency p50 / p99 / max, all commits | %s / %s / %s |\n",
		floebench.Pct(all, 50), floebench.Pct(all, 99), all[len(all)-1].Round(time.Millisecond))
	fmt.Fprintf(w, "| metadata.json, final / max | %s / %s |\n", mib(final.metadataBytes), mib(peak(func(s sample) int64 { return s.metadataBytes })))
	fmt.Fprintf(w, "| retained snapshots, final / max | %d / %d (refs: %d) |\n", final.snapshots, peak(func(s sample) int64 { return int64(s.snapshots) }), final.refs)
	fmt.Fprintf(w, "| manifests in the current snapshot, final / max | %d (%s) / %d |\n", final.manifests, mib(final.manifestBytes), peak(func(s sample) int64 { return int64(s.manifests) }))
	fmt.Fprintf(w, "| metadata/ directory, final / max | %s in %d files / %s in %d files |\n", mib(final.metaDirBytes), final.metaDirFiles,
		mib(peak(func(s sample) int64 { return s.metaDirBytes })), peak(func(s sample) int64 { return int64(s.metaDirFiles) }))
	fmt.Fprintf(w, "| metadata/ directory at the end, by kind | metadata.json files %s, manifest lists %s, manifests and the rest %s |\n",
		mib(final.metaDirJSONBytes), mib(final.metaDirListBytes), mib(final.metaDirBytes-final.metaDirJSONBytes-final.metaDirListBytes))
	fmt.Fprintf(w, "| data files in the current snapshot | %d, average %s (%s in all) |\n", final.dataFiles, mib(final.dataBytes/max(final.dataFiles, 1)), mib(final.dataBytes))
	verdict := "holds: total-records = records produced"
	verdict += ", floe.offsets (through floe's tag) = Kafka's end offsets"
	if r.o.readers != "" {
		verdict += "; PyIceberg and DuckDB read every record once"
	}
	if len(res.verdict) > 0 {
		verdict = "**FAILS**: " + strings.Join(res.verdict, "; ")
	}
	fmt.Fprintf(w, "| exactly once | %s |\n", verdict)
	fmt.Fprintf(w, "| wall time | %s (floe start to stop) |\n", res.wall.Round(time.Second))
	host, _ := os.Hostname()
	fmt.Fprintf(w, "\nsamples every %d commits; machine: %s, %d CPUs, %s; %s\n", o.sampleEvery, host, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format(time.RFC3339))
}
