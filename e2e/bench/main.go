// Command bench measures floe end to end against the real test bed (see
// e2e/testbed). It is black-box: it talks to floe only through its config,
// its HTTP endpoints, its log and `floe commits`, and after every run the
// independent readers (e2e/readers/check.py: PyIceberg and DuckDB) judge
// the table — every produced id exactly once, floe.offsets at Kafka's end
// offsets — or the benchmark fails.
//
// Modes:
//
//   - drain (default): produce a fixed synthetic backlog to a new topic
//     before floe starts, run floe until every record is committed, and
//     report throughput, CPU per GB, the machine's CPU utilisation and
//     floe's share of it (/proc), peak RSS, files, snapshots and commit
//     latency;
//
//   - steady: start floe, produce -rate records/s for -duration, and
//     report record → visible latency (produce time → the snapshot holding
//     the record first seen in the REST catalog, polled every 100 ms)
//     p50/p90/p99/max against the target commit-interval + 1 s, beside
//     floe's own floe_table_freshness_seconds;
//
//   - all: drain, then steady, then one summary (make bench);
//
//   - -budgets 128MiB,256MiB,…: the drain once per kafka.memory-budget, a
//     CSV and a chart (make bench-budget).
//
//     make up && go run ./e2e/bench -floe bin/floe [-records 2000000]
//     go run ./e2e/bench -floe bin/floe -mode steady -rate 20000 -duration 2m
//     go run ./e2e/bench -floe bin/floe -budgets 128MiB,256MiB,512MiB,1GiB
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	floe, envFile, catalog, profile, readers string
	mode, budget, budgets, csv, chart        string
	batch                                    string
	chartScript                              string
	records, partitions, size, rate          int
	duration                                 time.Duration
	keep                                     bool
}

func run() error {
	var o options
	flag.StringVar(&o.floe, "floe", "bin/floe", "the floe binary to measure")
	flag.StringVar(&o.envFile, "env", "e2e/testbed/.run/env", "the test bed's env file (make up writes it)")
	flag.StringVar(&o.catalog, "catalog", "rest-file", "rest-file or rest-s3")
	flag.StringVar(&o.mode, "mode", "drain", "drain, steady or all (drain, then steady, then a summary)")
	flag.StringVar(&o.profile, "cpuprofile", "", "drain: write a 20 s CPU profile of floe, taken mid-run, to this file")
	flag.IntVar(&o.records, "records", 2_000_000, "drain: records to produce before floe starts")
	flag.IntVar(&o.partitions, "partitions", 8, "partitions of the topic")
	flag.IntVar(&o.size, "size", 300, "approximate record size in bytes")
	flag.StringVar(&o.budget, "memory-budget", "default", "floe's kafka.memory-budget (default: floe's own)")
	flag.StringVar(&o.batch, "batch", "{max-age: 2s}", "floe's kafka.batch (floe's defaults for what it leaves out)")
	flag.IntVar(&o.rate, "rate", 20_000, "steady: records per second")
	flag.DurationVar(&o.duration, "duration", 2*time.Minute, "steady: how long to produce")
	flag.StringVar(&o.budgets, "budgets", "", "run the drain once per kafka.memory-budget in this comma-separated list (e.g. 128MiB,256MiB,512MiB,1GiB) and chart them")
	flag.StringVar(&o.csv, "csv", "/tmp/floe-bench/budget.csv", "-budgets: the CSV to write")
	flag.StringVar(&o.chart, "chart", "docs/benchmarks/budget.png", "-budgets: the PNG to draw (empty: none)")
	flag.StringVar(&o.chartScript, "chart-script", "e2e/bench/budget.py", "-budgets: the script that draws the chart (run with the test bed's Python)")
	flag.StringVar(&o.readers, "readers", "e2e/readers/check.py", "the independent readers' script (empty: exactly once not judged)")
	flag.BoolVar(&o.keep, "keep", false, "keep floe's config and log (printed at the end), the topics and the tables")
	flag.Parse()

	env, err := floebench.ReadEnv(o.envFile)
	if err != nil {
		return fmt.Errorf("read %s (run `make up` first): %w", o.envFile, err)
	}
	ctx := context.Background()
	if o.budgets != "" {
		err := sweep(ctx, &o, env)
		machine()
		return err
	}
	var (
		d    drainResult
		s    steadyResult
		hasD = o.mode == "drain" || o.mode == "all"
		hasS = o.mode == "steady" || o.mode == "all"
	)
	if !hasD && !hasS {
		return fmt.Errorf("-mode %q: want drain, steady or all", o.mode)
	}
	if hasD {
		if d, err = drain(ctx, &o, env, o.budget); err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		d.print(&o)
		fmt.Println()
	}
	if hasS {
		if s, err = steady(ctx, &o, env); err != nil {
			return fmt.Errorf("steady: %w", err)
		}
		s.print(&o)
		fmt.Println()
	}
	if hasD && hasS {
		summary(&o, d, s)
	}
	machine()
	return nil
}

// summary is `make bench`'s one table: the drain and the freshness.
func summary(o *options, d drainResult, s steadyResult) {
	fmt.Printf("## Summary\n\n| figure | value |\n|---|---|\n")
	fmt.Printf("| drain, floe start → every record visible | %.0f records/s, %.1f MB/s (%d records in %s) |\n", d.rate(), d.mbps(), d.records, ms(d.elapsed))
	fmt.Printf("| CPU per GB (floe, rusage) | %.1f CPU-s |\n", d.cpuPerGB())
	fmt.Printf("| CPU utilisation during the drain, all %d CPUs | %.0f %% busy (floe's own share %.0f %%) |\n", runtime.NumCPU(), 100*d.busy, 100*d.floeShare)
	fmt.Printf("| peak RSS (memory-budget %s) | %.0f MiB |\n", d.budget, float64(d.maxRSS)/(1<<20))
	verdict := "met"
	if !s.met() {
		verdict = "NOT met"
	}
	fmt.Printf("| freshness at %d records/s, record → visible p50 / p99 | %s / %s (target p99 ≤ %s: %s) |\n", s.rate, ms(s.pct(50)), ms(s.pct(99)), s.target(), verdict)
	fmt.Printf("| floe_table_freshness_seconds p50 / p99 | %s / %s |\n", secs(s.floe.Quantile(0.5)), secs(s.floe.Quantile(0.99)))
	if o.readers == "" {
		fmt.Printf("| exactly once (PyIceberg, DuckDB) | NOT judged: -readers is empty |\n")
	} else {
		fmt.Printf("| exactly once (PyIceberg, DuckDB) | holds after both runs |\n")
	}
}

func machine() {
	host, _ := os.Hostname()
	fmt.Printf("\nmachine: %s, %d CPUs, %s; %s\n", host, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format(time.RFC3339))
}
