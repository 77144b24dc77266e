// Command benchlongrun measures how floe's commit cost and a table's
// metadata grow over thousands of commits, on the real test bed (see
// e2e/testbed): the REST reference catalog with its file:// warehouse.
//
// It creates a topic with -partitions partitions, produces -rate small
// JSON records per second to it for the whole run, and runs the floe binary
// with commit-interval -interval until -commits commits have landed. Every
// commit's latency comes from floe's `commit` log line; every -sample
// commits (and once at the end) it reads the table as a reader would: the
// current metadata.json through the catalog's metadata-location, the
// current snapshot's manifest list, and the table's metadata/ directory in
// the warehouse. Then it stops producing, lets floe commit what is left,
// stops floe with SIGTERM and checks exactly once: the table's
// total-records equals the records produced, floe.offsets equals Kafka's
// end offsets, and two independent readers (PyIceberg and DuckDB, through
// e2e/readers/check.py) see every produced record once.
//
// It writes one CSV row per commit (the sampled columns filled on sampled
// commits) and a summary to -results/<name>.csv and <name>.md; chart.py
// draws the runs' CSVs. -table-config merges a YAML mapping into the
// table's entry of the floe config it writes (e.g. a maintenance: section),
// so a run with other table settings needs no code change. It measures and
// never asserts on time; it fails only when floe fails or exactly-once does
// not hold.
//
//	make up && go run ./e2e/benchlongrun -floe bin/floe [-partitions 64 -commits 2000 -interval 250ms -name p64-off]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchlongrun:", err)
		os.Exit(1)
	}
}

type options struct {
	floe, envFile, name, results, tableConfig string
	readers                                   string
	partitions, rate, commits, sampleEvery    int
	interval, batchAge, maxTime, timeout      time.Duration
	keep                                      bool
}

func run() error {
	var o options
	flag.StringVar(&o.floe, "floe", "bin/floe", "the floe binary to measure")
	flag.StringVar(&o.envFile, "env", "e2e/testbed/.run/env", "the test bed's env file (make up writes it)")
	flag.StringVar(&o.name, "name", "", "the run's name: <results>/<name>.csv and .md (default longrun-p<partitions>)")
	flag.StringVar(&o.results, "results", "/tmp/floe-longrun", "directory for the CSV and the summary")
	flag.StringVar(&o.readers, "readers", "e2e/readers/check.py", "the independent readers' script, which must see every record once; empty: skip them")
	flag.StringVar(&o.tableConfig, "table-config", "", "YAML mapping merged into the table's entry of floe's config (e.g. maintenance: ...)")
	flag.IntVar(&o.partitions, "partitions", 64, "partitions of the topic")
	flag.IntVar(&o.rate, "rate", 1000, "records per second, produced for the whole run")
	flag.IntVar(&o.commits, "commits", 2000, "run until this many commits have landed")
	flag.IntVar(&o.sampleEvery, "sample", 50, "read the table's metadata every this many commits")
	flag.DurationVar(&o.interval, "interval", 250*time.Millisecond, "tables[].commit-interval")
	flag.DurationVar(&o.batchAge, "batch-age", 0, "kafka.batch.max-age (0: the commit interval, so every commit has sealed batches)")
	flag.DurationVar(&o.maxTime, "max-time", 0, "end the run early, with the commits landed so far, after this long (0: no limit)")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Hour, "fail when the commits have not landed by then")
	flag.BoolVar(&o.keep, "keep", false, "keep floe's config and log (printed at the end)")
	flag.Parse()
	if o.partitions < 1 || o.rate < 1 || o.commits < 10 || o.sampleEvery < 1 || o.interval <= 0 {
		return errors.New("need -partitions, -rate, -sample >= 1, -commits >= 10 and -interval > 0")
	}
	if o.name == "" {
		o.name = fmt.Sprintf("longrun-p%d", o.partitions)
	}
	if o.batchAge <= 0 {
		o.batchAge = o.interval
	}
	env, err := floebench.ReadEnv(o.envFile)
	if err != nil {
		return fmt.Errorf("read %s (run `make up` first): %w", o.envFile, err)
	}
	if env["E2E_REST_FILE_WAREHOUSE"] == "" {
		return errors.New("E2E_REST_FILE_WAREHOUSE is not set: the run reads the table's metadata/ directory in the file:// warehouse")
	}
	if err := os.MkdirAll(o.results, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "floe-longrun-")
	if err != nil {
		return err
	}
	if o.keep {
		defer fmt.Fprintln(os.Stderr, "kept", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	r := &longrun{o: o, env: env, dir: dir}
	res, err := r.run(context.Background())
	if err != nil {
		return err
	}
	return r.report(res)
}

// longrun is one run: one topic, one table, one floe process.
type longrun struct {
	o                   options
	env                 map[string]string
	dir                 string
	topic, table, group string
	cfg, log, addr      string
}

// result is what a run measured.
type result struct {
	commits  []floebench.Commit
	samples  []sample // in the order taken; the last one after floe stopped
	produced int
	wall     time.Duration // floe start to floe stopped
	verdict  []string      // exactly-once problems; empty: none
}

func (r *longrun) run(ctx context.Context) (*result, error) {
	o := r.o
	suffix := strconv.FormatInt(time.Now().Unix(), 36)
	r.topic, r.table, r.group = "longrun_"+suffix, "longrun.events_"+suffix, "longrun-"+suffix

	cl, err := kgo.NewClient(kgo.SeedBrokers(r.env["E2E_KAFKA"]), kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner())) // every partition gets records, so every one is in floe.offsets
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, int32(o.partitions), 1, nil, r.topic); err != nil {
		return nil, fmt.Errorf("create topic %s: %w", r.topic, err)
	}
	if err := floebench.WaitTopics(ctx, adm, o.partitions, r.topic); err != nil {
		return nil, err
	}
	if r.addr, err = floebench.FreeAddr(); err != nil {
		return nil, err
	}
	cfg, err := r.config()
	if err != nil {
		return nil, err
	}
	r.cfg, r.log = filepath.Join(r.dir, "floe.yaml"), filepath.Join(r.dir, "floe.log")
	if err := os.WriteFile(r.cfg, cfg, 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(r.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(o.floe, "run", "--config", r.cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start floe: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	exited := func() error {
		select {
		case err := <-done:
			stopped = true
			return fmt.Errorf("floe exited (%v); log:\n%s", err, floebench.TailFile(r.log))
		default:
			return nil
		}
	}
	if err := r.waitReady(90*time.Second, exited); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "%s: %d partitions, %d records/s, commit-interval %s, until %d commits; table %s\n",
		o.name, o.partitions, o.rate, o.interval, o.commits, r.table)

	stop := make(chan struct{})
	type produced struct {
		n   []int
		err error
	}
	prod := make(chan produced, 1)
	go func() {
		n, err := floebench.Pace(ctx, cl, []string{r.topic}, o.rate, 0, stop)
		prod <- produced{n, err}
	}()
	stopProducing := func() (int, error) {
		if stop != nil {
			close(stop)
			stop = nil
		}
		p := <-prod
		prod <- p
		if p.err != nil {
			return 0, p.err
		}
		return p.n[0], nil
	}
	defer func() { _, _ = stopProducing() }()

	res := &result{}
	fl := &follower{path: r.log}
	defer fl.close()
	next, lastReport := o.sampleEvery, time.Now()
	deadline := t0.Add(o.timeout)
	for len(res.commits) < o.commits {
		if err := exited(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d commits after %s", len(res.commits), o.commits, o.timeout)
		}
		if o.maxTime > 0 && time.Since(t0) >= o.maxTime {
			fmt.Fprintf(os.Stderr, "  -max-time %s reached after %d of %d commits: ending the run\n", o.maxTime, len(res.commits), o.commits)
			break
		}
		if err := fl.commits(&res.commits); err != nil {
			return nil, err
		}
		if len(res.commits) >= next {
			s, err := r.sample(ctx, res.commits)
			if err != nil {
				return nil, err
			}
			res.samples = append(res.samples, s)
			next = (len(res.commits)/o.sampleEvery + 1) * o.sampleEvery
		}
		if time.Since(lastReport) >= 30*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(os.Stderr, "  %s: %d commits, last %s\n", time.Since(t0).Round(time.Second), len(res.commits), res.commits[len(res.commits)-1].Duration)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Stop producing and let floe commit the rest, then stop floe: its
	// final commit on SIGTERM has nothing left to add.
	if res.produced, err = stopProducing(); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "  %d commits; produced %d records; waiting for floe to commit them all...\n", len(res.commits), res.produced)
	for floebench.Metric(r.addr, "floe_committer_rows_total") < float64(res.produced) {
		if err := exited(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline.Add(10 * time.Minute)) {
			return nil, fmt.Errorf("floe did not commit all %d records", res.produced)
		}
		time.Sleep(250 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err = <-done:
		stopped = true
	case <-time.After(5 * time.Minute):
		return nil, errors.New("floe did not stop within 5 minutes of SIGTERM")
	}
	res.wall = time.Since(t0)
	if err != nil {
		return nil, fmt.Errorf("floe did not stop cleanly: %w; log:\n%s", err, floebench.TailFile(r.log))
	}
	if err := fl.commits(&res.commits); err != nil {
		return nil, err
	}
	final, err := r.sample(ctx, res.commits)
	if err != nil {
		return nil, err
	}
	res.samples = append(res.samples, final)
	res.verdict, err = r.judge(ctx, adm, final, res.produced)
	return res, err
}

func (r *longrun) waitReady(timeout time.Duration, exited func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := exited(); err != nil {
			return err
		}
		resp, err := http.Get("http://" + r.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("floe not ready after %s; log:\n%s", timeout, floebench.TailFile(r.log))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// judge checks exactly once on the table as it is after floe stopped: the
// current snapshot's total-records is the records produced (none lost,
// none twice), floe.offsets.<group> equals Kafka's end offsets, and the
// independent readers (PyIceberg and DuckDB) see every produced id once.
func (r *longrun) judge(ctx context.Context, adm *kadm.Client, final sample, produced int) ([]string, error) {
	var problems []string
	if final.totalRecords != int64(produced) {
		problems = append(problems, fmt.Sprintf("the table holds %d records, %d were produced", final.totalRecords, produced))
	}
	ends, err := adm.ListEndOffsets(ctx, r.topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	if final.offsets == nil {
		problems = append(problems, "no floe.offsets."+r.group+" for the topic in the snapshot floe's tag names (or the current one)")
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) {
		sum += o.Offset
		if got := final.offsets[o.Partition]; final.offsets != nil && got != o.Offset { // absent: never consumed, 0
			problems = append(problems, fmt.Sprintf("partition %d: floe.offsets has %d, Kafka's end offset is %d", o.Partition, got, o.Offset))
		}
	})
	if sum != int64(produced) {
		problems = append(problems, fmt.Sprintf("Kafka's end offsets add up to %d, %d were produced", sum, produced))
	}
	if r.o.readers == "" {
		return problems, nil
	}
	ids := make([]string, produced)
	for i := range ids {
		ids[i] = floebench.RecordID(0, i)
	}
	started := time.Now()
	out, err := floebench.RunReaders(ctx, r.env["E2E_PYTHON"], r.o.readers, map[string]any{
		"catalog": map[string]any{"type": "rest", "uri": r.env["E2E_REST_FILE_URI"], "warehouse": r.env["E2E_REST_FILE_WAREHOUSE"]},
		"table":   r.table, "group": r.group, "id_column": "id", "expected_ids": ids,
	})
	if err != nil {
		return nil, err
	}
	for _, name := range floebench.Readers {
		if p := out[name].RowProblem(name, produced); p != "" {
			problems = append(problems, p)
		}
	}
	fmt.Fprintf(os.Stderr, "  the readers took %s\n", time.Since(started).Round(time.Second))
	return problems, nil
}
