package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// sweep runs the drain once per memory budget, each on a fresh topic,
// writes one CSV row per run and draws the chart from the CSV.
func sweep(ctx context.Context, o *options, env map[string]string) error {
	var results []drainResult
	for _, b := range strings.Split(o.budgets, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		r, err := drain(ctx, o, env, b)
		if err != nil {
			return fmt.Errorf("memory-budget %s: %w", b, err)
		}
		r.print(o)
		fmt.Println()
		results = append(results, r)
	}
	if err := writeCSV(o.csv, results); err != nil {
		return err
	}
	fmt.Printf("| memory-budget | records/s | MB/s | peak RSS | CPU-s per GB | CPU busy |\n|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Printf("| %s | %.0f | %.1f | %.0f MiB | %.1f | %.0f %% |\n", r.budget, r.rate(), r.mbps(), float64(r.maxRSS)/(1<<20), r.cpuPerGB(), 100*r.busy)
	}
	fmt.Fprintln(os.Stderr, "wrote", o.csv)
	if o.chart == "" {
		return nil
	}
	if env["E2E_PYTHON"] == "" {
		return fmt.Errorf("no E2E_PYTHON in the env file: cannot draw %s", o.chart)
	}
	cmd := exec.CommandContext(ctx, env["E2E_PYTHON"], o.chartScript, "-o", o.chart, o.csv)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", o.chartScript, err)
	}
	fmt.Fprintln(os.Stderr, "wrote", o.chart)
	return nil
}

// writeCSV writes one row per run: budget, records/s, peak RSS MiB,
// CPU-s/GB, CPU busy %, and the run's size.
func writeCSV(path string, results []drainResult) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"budget", "records_per_s", "peak_rss_mib", "cpu_s_per_gb", "cpu_busy_pct", "floe_cpu_pct", "records", "mb"})
	for _, r := range results {
		_ = w.Write([]string{
			r.budget,
			strconv.FormatFloat(r.rate(), 'f', 0, 64),
			strconv.FormatFloat(float64(r.maxRSS)/(1<<20), 'f', 1, 64),
			strconv.FormatFloat(r.cpuPerGB(), 'f', 2, 64),
			strconv.FormatFloat(100*r.busy, 'f', 1, 64),
			strconv.FormatFloat(100*r.floeShare, 'f', 1, 64),
			strconv.Itoa(r.records),
			strconv.FormatFloat(float64(r.payload)/1e6, 'f', 1, 64),
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
