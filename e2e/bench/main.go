// Command bench measures floe end to end against the real test bed (see
// e2e/testbed): it produces a fixed synthetic dataset to a new topic on the
// real Kafka broker before floe starts, runs the built floe binary against
// the REST catalog until every record is committed, and reports throughput,
// peak RSS, CPU per GB, files, snapshots and commit latency. It is black-box:
// it talks to floe only through its config, its HTTP endpoints, its log and
// `floe commits`.
//
//	make up && go run ./e2e/bench -floe bin/floe [-records 2000000]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	floe, envFile, catalog, profile string
	records, partitions, size       int
	keep                            bool
}

func run() error {
	var o options
	flag.StringVar(&o.floe, "floe", "bin/floe", "the floe binary to measure")
	flag.StringVar(&o.envFile, "env", "e2e/testbed/.run/env", "the test bed's env file (make up writes it)")
	flag.StringVar(&o.catalog, "catalog", "rest-file", "rest-file or rest-s3")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a 20 s CPU profile of floe, taken mid-run, to this file")
	flag.IntVar(&o.records, "records", 2_000_000, "records to produce")
	flag.IntVar(&o.partitions, "partitions", 8, "partitions of the topic")
	flag.IntVar(&o.size, "size", 300, "approximate record size in bytes")
	flag.BoolVar(&o.keep, "keep", false, "keep floe's config and log (printed at the end)")
	flag.Parse()

	env, err := floebench.ReadEnv(o.envFile)
	if err != nil {
		return fmt.Errorf("read %s (run `make up` first): %w", o.envFile, err)
	}
	ctx := context.Background()
	suffix := strconv.FormatInt(time.Now().Unix(), 36)
	topic, table, group := "bench_"+suffix, "bench.events_"+suffix, "bench-"+suffix

	cl, err := kgo.NewClient(kgo.SeedBrokers(env["E2E_KAFKA"]), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(10*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(200_000))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, int32(o.partitions), 1, nil, topic); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	fmt.Fprintf(os.Stderr, "producing %d records of ~%d bytes to %s (%d partitions)...\n", o.records, o.size, topic, o.partitions)
	start := time.Now()
	payload, err := produce(ctx, cl, o.records, o.size)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "produced %.1f MB in %s\n", float64(payload)/1e6, time.Since(start).Round(time.Millisecond))

	dir, err := os.MkdirTemp("", "floe-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		defer fmt.Fprintln(os.Stderr, "kept", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	addr, err := floebench.FreeAddr()
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "floe.yaml")
	if err := os.WriteFile(cfgPath, []byte(config(env, o.catalog, topic, table, group, addr)), 0o644); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "floe.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()

	cmd := exec.Command(o.floe, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var (
		profiled    bool
		profileDone = make(chan struct{})
		consumedAll time.Duration // when the last record had been read
	)
	for {
		select {
		case err := <-done:
			return fmt.Errorf("floe exited early (%v); log: %s", err, floebench.TailFile(logPath))
		case <-time.After(200 * time.Millisecond):
		}
		consumed := floebench.Metric(addr, "floe_consumer_records_total")
		if consumedAll == 0 && consumed >= float64(o.records) {
			consumedAll = time.Since(t0)
		}
		if o.profile != "" && !profiled && consumed > float64(o.records)/20 {
			profiled = true
			go func() {
				defer close(profileDone)
				if err := cpuProfile(addr, o.profile); err != nil {
					fmt.Fprintln(os.Stderr, "cpu profile:", err)
				}
			}()
		}
		if floebench.Metric(addr, "floe_committer_rows_total") >= float64(o.records) {
			break
		}
		if time.Since(t0) > 30*time.Minute {
			return errors.New("floe did not commit every record within 30 minutes")
		}
	}
	elapsed := time.Since(t0)
	if profiled {
		<-profileDone
	}
	fileBytes, fileCount := floebench.Metric(addr, "floe_committer_data_file_size_bytes_sum"), floebench.Metric(addr, "floe_committer_data_file_size_bytes_count")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		return fmt.Errorf("floe did not stop cleanly: %w; log: %s", err, floebench.TailFile(logPath))
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())

	commits, err := exec.Command(o.floe, "commits", "--config", cfgPath, "--json").Output()
	if err != nil {
		return fmt.Errorf("floe commits: %w", err)
	}
	snapshots, added := 0, int64(0)
	for _, line := range bytes.Split(bytes.TrimSpace(commits), []byte("\n")) {
		var c struct {
			Records int64 `json:"added_records"`
		}
		if err := json.Unmarshal(line, &c); err != nil {
			return fmt.Errorf("floe commits: %w", err)
		}
		snapshots++
		added += c.Records
	}
	if added != int64(o.records) {
		return fmt.Errorf("the table holds %d records, %d were produced", added, o.records)
	}
	lat, err := floebench.CommitLatencies(logPath)
	if err != nil {
		return err
	}

	gb := float64(payload) / 1e9
	host, _ := os.Hostname()
	fmt.Printf("| metric | value |\n|---|---|\n")
	fmt.Printf("| records | %d (%.1f MB of JSON, %d partitions) |\n", o.records, float64(payload)/1e6, o.partitions)
	fmt.Printf("| catalog | %s |\n", o.catalog)
	fmt.Printf("| wall time, floe start to last record read | %s |\n", consumedAll.Round(time.Millisecond))
	fmt.Printf("| wall time, floe start to last commit | %s |\n", elapsed.Round(time.Millisecond))
	fmt.Printf("| records/s | %.0f |\n", float64(o.records)/elapsed.Seconds())
	fmt.Printf("| MB/s | %.1f |\n", float64(payload)/1e6/elapsed.Seconds())
	fmt.Printf("| peak RSS | %.0f MiB |\n", float64(ru.Maxrss)/1024)
	fmt.Printf("| CPU time | %s (%.1f CPU-s per GB) |\n", cpu.Round(time.Millisecond), cpu.Seconds()/gb)
	fmt.Printf("| snapshots | %d |\n", snapshots)
	fmt.Printf("| data files | %.0f, average %.1f MiB |\n", fileCount, fileBytes/max(fileCount, 1)/(1<<20))
	fmt.Printf("| commit latency p50 / p99 | %s / %s (%d commits) |\n", floebench.Pct(lat, 50), floebench.Pct(lat, 99), len(lat))
	fmt.Printf("\nmachine: %s, %d CPUs, %s; %s\n", host, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format(time.RFC3339))
	return nil
}

// produce writes n JSON records of about size bytes with a fixed seed.
func produce(ctx context.Context, cl *kgo.Client, n, size int) (int64, error) {
	rng := rand.New(rand.NewPCG(42, 42))
	pad := strings.Repeat("x", max(size-165, 1)) // the fields take ~165 bytes
	var total int64
	errc := make(chan error, 1)
	for i := 0; i < n; i++ {
		v := fmt.Appendf(nil, `{"id":"e%09d","n":%d,"amount":"%d.%02d","ts":"2026-11-26T%02d:%02d:%02d.%03dZ","user":{"name":"user-%d","age":%d},"tags":["t%d","t%d"],"note":"%s"}`,
			i, rng.Int64(), rng.IntN(100000), rng.IntN(100), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000),
			rng.IntN(1_000_000), rng.IntN(90), rng.IntN(50), rng.IntN(50), pad)
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

func config(env map[string]string, catalog, topic, table, group, addr string) string {
	uri, warehouse := env["E2E_REST_FILE_URI"], env["E2E_REST_FILE_WAREHOUSE"]
	s3 := ""
	if catalog == "rest-s3" {
		uri, warehouse = env["E2E_REST_S3_URI"], env["E2E_REST_S3_WAREHOUSE"]
		s3 = fmt.Sprintf("  s3: {endpoint: %q, region: %q, access-key-id: %q, secret-access-key: %q, path-style: true}\n",
			env["E2E_S3_ENDPOINT"], env["E2E_S3_REGION"], env["E2E_S3_ACCESS_KEY"], env["E2E_S3_SECRET_KEY"])
	}
	wh := ""
	if warehouse != "" {
		wh = fmt.Sprintf("  warehouse: %q\n", warehouse)
	}
	return fmt.Sprintf(`kafka:
  brokers: [%q]
  group: %q
  memory-budget: 512MiB
  batch: {max-records: 200000, max-bytes: 16MiB, max-age: 2s}
catalog:
  type: rest
  uri: %q
%s%scommit: {timeout: 2m}
http: {addr: %q, pprof: true}
tables:
  - name: %q
    topics: [%q]
    commit-interval: 2s
    target-file-size: 128MiB
    schema:
      - {name: id, type: string, required: true}
      - {name: n, type: long}
      - {name: amount, type: "decimal(12,2)"}
      - {name: ts, type: timestamptz}
      - {name: user, type: struct, fields: [{name: name, type: string}, {name: age, type: int}]}
      - {name: tags, type: "list<string>"}
      - {name: note, type: string}
    partition-by: ["day(ts)"]
`, env["E2E_KAFKA"], group, uri, wh, s3, addr, table, topic)
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
