package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

// drainResult is what one drain run measured.
type drainResult struct {
	budget      string
	records     int
	payload     int64         // bytes of JSON produced
	consumedAll time.Duration // floe start → last record read
	elapsed     time.Duration // floe start → last record committed
	cpu         time.Duration // floe's CPU time, start to exit (rusage)
	busy        float64       // the machine's CPUs busy, floe start → last commit
	trace       string        // the machine's CPUs busy per traceEvery, in %
	floeShare   float64       // floe's CPU time over the same span / (wall × CPUs)
	maxRSS      int64         // bytes
	snapshots   int
	files       float64
	fileBytes   float64
	lat         []time.Duration // commit latencies, sorted
}

func (r drainResult) rate() float64     { return float64(r.records) / r.elapsed.Seconds() }
func (r drainResult) mbps() float64     { return float64(r.payload) / 1e6 / r.elapsed.Seconds() }
func (r drainResult) cpuPerGB() float64 { return r.cpu.Seconds() / (float64(r.payload) / 1e9) }

// drain produces o.records records to a fresh topic before floe starts,
// then runs floe with kafka.memory-budget budget until every record is
// committed, and has the readers judge the table.
func drain(ctx context.Context, o *options, env map[string]string, budget string) (drainResult, error) {
	res := drainResult{budget: budget, records: o.records}
	topic, table, group, cl, err := newTopic(ctx, o, env, "drain")
	if err != nil {
		return res, err
	}
	defer cl.Close()
	fmt.Fprintf(os.Stderr, "producing %d records of ~%d bytes to %s (%d partitions)...\n", o.records, o.size, topic, o.partitions)
	start := time.Now()
	if res.payload, err = produceBacklog(ctx, cl, o.records, o.size); err != nil {
		return res, err
	}
	fmt.Fprintf(os.Stderr, "produced %.1f MB in %s; floe starts (memory-budget %s)\n", float64(res.payload)/1e6, time.Since(start).Round(time.Millisecond), budget)

	f, err := startFloe(o, env, topic, table, group, budget)
	if err != nil {
		return res, err
	}
	defer f.cleanup(o.keep)
	trace := startCPUTrace(traceEvery)
	defer trace.end()
	var (
		profiled    bool
		profileDone = make(chan struct{})
	)
	err = f.waitRows(o.records, 30*time.Minute, func(consumed float64) {
		if res.consumedAll == 0 && consumed >= float64(o.records) {
			res.consumedAll = time.Since(f.started)
		}
		if o.profile != "" && !profiled && consumed > float64(o.records)/20 {
			profiled = true
			go func() {
				defer close(profileDone)
				if err := cpuProfile(f.addr, o.profile); err != nil {
					fmt.Fprintln(os.Stderr, "cpu profile:", err)
				}
			}()
		}
	})
	if err != nil {
		return res, err
	}
	res.elapsed = time.Since(f.started)
	cpu1, err := sampleCPU()
	if err != nil {
		return res, err
	}
	floeCPU, err := processCPU(f.cmd.Process.Pid)
	if err != nil {
		return res, err
	}
	res.busy = busyShare(f.cpu0, cpu1)
	res.trace = trace.end()
	res.floeShare = floeCPU.Seconds() / (res.elapsed.Seconds() * float64(runtime.NumCPU()))
	if profiled {
		<-profileDone
	}
	fams, err := floebench.Scrape(f.addr)
	if err != nil {
		return res, err
	}
	res.fileBytes, res.files = fams.Sum("floe_committer_data_file_size_bytes_sum", nil), fams.Sum("floe_committer_data_file_size_bytes_count", nil)
	ru, err := f.stop()
	if err != nil {
		return res, err
	}
	res.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	res.maxRSS = ru.Maxrss << 10

	commits, err := f.commits(o.floe)
	if err != nil {
		return res, err
	}
	var added int64
	for _, c := range commits {
		added += c.Records
	}
	res.snapshots = len(commits)
	if added != int64(o.records) {
		return res, fmt.Errorf("the table holds %d records, %d were produced", added, o.records)
	}
	if res.lat, err = floebench.CommitLatencies(f.log); err != nil {
		return res, err
	}
	if err := judge(ctx, o, env, cl, topic, table, group, "e", o.records); err != nil {
		return res, err
	}
	cleanupTable(ctx, o, env, cl, topic, table)
	return res, nil
}

// traceEvery is the step of the drain's CPU timeline.
const traceEvery = 250 * time.Millisecond

// print writes the drain's figures as a Markdown table.
func (r drainResult) print(o *options) {
	fmt.Printf("| metric | value |\n|---|---|\n")
	fmt.Printf("| records | %d (%.1f MB of JSON, %d partitions) |\n", r.records, float64(r.payload)/1e6, o.partitions)
	fmt.Printf("| catalog, memory-budget | %s, %s |\n", o.catalog, r.budget)
	fmt.Printf("| wall time, floe start to last record read | %s |\n", r.consumedAll.Round(time.Millisecond))
	fmt.Printf("| wall time, floe start to last commit | %s |\n", r.elapsed.Round(time.Millisecond))
	fmt.Printf("| records/s | %.0f |\n", r.rate())
	fmt.Printf("| MB/s | %.1f |\n", r.mbps())
	fmt.Printf("| peak RSS | %.0f MiB |\n", float64(r.maxRSS)/(1<<20))
	fmt.Printf("| CPU time | %s (%.1f CPU-s per GB) |\n", r.cpu.Round(time.Millisecond), r.cpuPerGB())
	fmt.Printf("| CPU busy, all %d CPUs, floe start to last commit | %.0f %% (floe's own share %.0f %%) |\n", runtime.NumCPU(), 100*r.busy, 100*r.floeShare)
	fmt.Printf("| CPU busy per %s, floe start to last commit | %s |\n", traceEvery, r.trace)
	fmt.Printf("| snapshots | %d |\n", r.snapshots)
	fmt.Printf("| data files | %.0f, average %.1f MiB |\n", r.files, r.fileBytes/max(r.files, 1)/(1<<20))
	fmt.Printf("| commit latency p50 / p99 | %s / %s (%d commits) |\n", floebench.Pct(r.lat, 50), floebench.Pct(r.lat, 99), len(r.lat))
	fmt.Printf("| exactly once | %s |\n", exactlyOnce(o))
}

// value is record i: a JSON object of about size bytes (id prefix+i).
func value(rng *rand.Rand, prefix string, i int, pad string) []byte {
	return fmt.Appendf(nil, `{"id":"%s%09d","n":%d,"amount":"%d.%02d","ts":"2026-11-26T%02d:%02d:%02d.%03dZ","user":{"name":"user-%d","age":%d},"tags":["t%d","t%d"],"note":"%s"}`,
		prefix, i, rng.Int64(), rng.IntN(100000), rng.IntN(100), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000),
		rng.IntN(1_000_000), rng.IntN(90), rng.IntN(50), rng.IntN(50), pad)
}

// padding makes value about size bytes: the fields take ~165.
func padding(size int) string { return strings.Repeat("x", max(size-165, 1)) }

// produceBacklog writes n records of about size bytes with a fixed seed.
func produceBacklog(ctx context.Context, cl *kgo.Client, n, size int) (int64, error) {
	rng := rand.New(rand.NewPCG(42, 42))
	pad := padding(size)
	var total int64
	errc := make(chan error, 1)
	for i := 0; i < n; i++ {
		v := value(rng, "e", i, pad)
		total += int64(len(v))
		cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	select {
	case err := <-errc:
		return 0, fmt.Errorf("produce: %w", err)
	default:
	}
	return total, nil
}

func cpuProfile(addr, path string) error {
	resp, err := http.Get("http://" + addr + "/debug/pprof/profile?seconds=20")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
