// Command benchcatalog measures the load floe puts on a shared Iceberg REST
// catalog when many writers commit at a short interval, on the real test
// bed (see e2e/testbed).
//
// The writers are (process, table) pairs: -procs floe processes join one
// consumer group and each is configured with the same -tables tables, one
// topic per table. The group splits every topic's partitions over the
// processes, so each process commits to every table and every table
// receives commits from every process: procs × tables committers meet at
// the catalog, and the writers of one table race each other through
// optimistic concurrency. The default, 4 processes × 6 tables, is 24
// writers. Records are produced at a fixed rate per table for -duration
// while floe runs, so commits happen every commit interval.
//
// It reports, from floe's own metrics scraped from every process, the
// catalog HTTP latency per operation (p50/p99), commits by outcome,
// conflicts and retries, catalog requests per commit, and the peak of
// floe_catalog_open_connections / requests_in_flight / requests_waiting;
// independently of floe, it samples the established TCP connections each
// process holds to the catalog's port (/proc/net/tcp matched against
// /proc/<pid>/fd). At the end it checks that no commit was lost or
// duplicated: every table's commit history (`floe commits`) has unique
// commit IDs and offset ranges that tile each partition from 0 to Kafka's
// end offset, and two independent readers (PyIceberg and DuckDB, through
// e2e/readers/check.py) see every produced id exactly once and the
// table's floe.offsets equal to the end offsets.
//
//	make up && go run ./e2e/benchcatalog -floe bin/floe [-max-conns-per-host 2 -max-in-flight 2]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchcatalog:", err)
		os.Exit(1)
	}
}

type options struct {
	floe, envFile, catalog, readers string
	procs, tables, partitions, rate int
	duration, commitInterval        time.Duration
	maxConns, maxInFlight           int
	keep                            bool
}

// bench is one run: its topics, tables, processes and what was produced.
type bench struct {
	o        options
	env      map[string]string
	dir      string
	group    string
	topics   []string
	tables   []string
	procs    []*proc
	produced []int // records per table
	catURI   string
}

func run() error {
	var o options
	flag.StringVar(&o.floe, "floe", "bin/floe", "the floe binary to measure")
	flag.StringVar(&o.envFile, "env", "e2e/testbed/.run/env", "the test bed's env file (make up writes it)")
	flag.StringVar(&o.catalog, "catalog", "rest-file", "rest-file or rest-s3")
	flag.StringVar(&o.readers, "readers", "e2e/readers/check.py", "the independent readers' script; empty: skip them")
	flag.IntVar(&o.procs, "procs", 4, "floe processes, all in one consumer group")
	flag.IntVar(&o.tables, "tables", 6, "tables (one topic each), written by every process")
	flag.IntVar(&o.partitions, "partitions", 4, "partitions per topic (>= procs, so every process writes every table)")
	flag.IntVar(&o.rate, "rate", 200, "records per second per table")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long records are produced")
	flag.DurationVar(&o.commitInterval, "commit-interval", time.Second, "tables[].commit-interval")
	flag.IntVar(&o.maxConns, "max-conns-per-host", 0, "catalog.http.max-conns-per-host (0: floe's default)")
	flag.IntVar(&o.maxInFlight, "max-in-flight", 0, "catalog.http.max-in-flight (0: floe's default)")
	flag.BoolVar(&o.keep, "keep", false, "keep floe's configs and logs (printed at the end)")
	flag.Parse()
	if o.procs < 1 || o.tables < 1 || o.partitions < 1 || o.rate < 10 || o.duration <= 0 {
		return errors.New("need -procs, -tables, -partitions >= 1, -rate >= 10 and -duration > 0")
	}

	env, err := floebench.ReadEnv(o.envFile)
	if err != nil {
		return fmt.Errorf("read %s (run `make up` first): %w", o.envFile, err)
	}
	b := &bench{o: o, env: env}
	dir, err := os.MkdirTemp("", "floe-benchcatalog-")
	if err != nil {
		return err
	}
	b.dir = dir
	if o.keep {
		defer fmt.Fprintln(os.Stderr, "kept", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	defer b.killAll()
	return b.run(context.Background())
}

func (b *bench) run(ctx context.Context) error {
	o := b.o
	suffix := strconv.FormatInt(time.Now().Unix(), 36)
	b.group = "benchcat-" + suffix
	for t := range o.tables {
		b.topics = append(b.topics, fmt.Sprintf("benchcat_%s_%02d", suffix, t))
		b.tables = append(b.tables, fmt.Sprintf("benchcat.t%02d_%s", t, suffix))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.env["E2E_KAFKA"]), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	res, err := adm.CreateTopics(ctx, int32(o.partitions), 1, nil, b.topics...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	if err := res.Error(); err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	if err := floebench.WaitTopics(ctx, adm, o.partitions, b.topics...); err != nil {
		return err
	}

	cat := b.catalogYAML()
	catPort, err := b.catalogPort()
	if err != nil {
		return err
	}
	for i := range o.procs {
		p, err := b.startProc(fmt.Sprintf("p%02d", i), cat)
		if err != nil {
			return err
		}
		b.procs = append(b.procs, p)
	}
	fmt.Fprintf(os.Stderr, "%d floe processes × %d tables (%d partitions each) on %s; limits %s\n",
		o.procs, o.tables, o.partitions, b.catURI, b.limits())

	samplerCtx, stopSamplers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	tcp := newConnSampler(catPort, b.procs)
	gauges := newGaugeSampler(b.procs)
	wg.Add(2)
	go func() { defer wg.Done(); tcp.run(samplerCtx, 20*time.Millisecond) }()
	go func() { defer wg.Done(); gauges.run(samplerCtx, 100*time.Millisecond) }()
	defer func() { stopSamplers(); wg.Wait() }()

	if err := b.waitReady(90 * time.Second); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "producing %d records/s to each of %d topics for %s...\n", o.rate, o.tables, o.duration)
	t0 := time.Now()
	if b.produced, err = floebench.Pace(ctx, cl, b.topics, o.rate, o.duration, nil); err != nil {
		return err
	}
	if err := b.waitCommitted(3 * time.Minute); err != nil {
		return err
	}
	elapsed := time.Since(t0)
	final := make([]floebench.Families, len(b.procs))
	for i, p := range b.procs {
		if final[i], err = floebench.Scrape(p.addr); err != nil {
			return fmt.Errorf("scrape %s: %w", p.name, err)
		}
	}
	stopSamplers()
	wg.Wait()
	cpu, err := b.stopAll()
	if err != nil {
		return err
	}

	fmt.Fprintln(os.Stderr, "judging the tables...")
	v, err := b.verify(ctx, adm)
	if err != nil {
		return err
	}
	var lat []time.Duration
	for _, p := range b.procs {
		l, err := floebench.CommitLatencies(p.log)
		if err != nil {
			return err
		}
		lat = append(lat, l...)
	}
	slices.Sort(lat)
	b.report(final, tcp, gauges, v, lat, elapsed, cpu)
	if len(v.problems) > 0 {
		return fmt.Errorf("%d problems:\n  %s", len(v.problems), strings.Join(v.problems, "\n  "))
	}
	return nil
}

func (b *bench) limits() string {
	s := func(n int) string {
		if n == 0 {
			return "default"
		}
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("max-conns-per-host %s, max-in-flight %s", s(b.o.maxConns), s(b.o.maxInFlight))
}

// catalogYAML is the catalog: section every process shares.
func (b *bench) catalogYAML() string {
	env := b.env
	uri, warehouse := env["E2E_REST_FILE_URI"], env["E2E_REST_FILE_WAREHOUSE"]
	s3 := ""
	if b.o.catalog == "rest-s3" {
		uri, warehouse = env["E2E_REST_S3_URI"], env["E2E_REST_S3_WAREHOUSE"]
		s3 = fmt.Sprintf("  s3: {endpoint: %q, region: %q, access-key-id: %q, secret-access-key: %q, path-style: true}\n",
			env["E2E_S3_ENDPOINT"], env["E2E_S3_REGION"], env["E2E_S3_ACCESS_KEY"], env["E2E_S3_SECRET_KEY"])
	}
	b.catURI = uri
	y := fmt.Sprintf("  type: rest\n  uri: %q\n", uri)
	if warehouse != "" {
		y += fmt.Sprintf("  warehouse: %q\n", warehouse)
	}
	y += s3
	var lim []string
	if b.o.maxConns > 0 {
		lim = append(lim, fmt.Sprintf("max-conns-per-host: %d, max-idle-conns: %d", b.o.maxConns, min(b.o.maxConns, 4)))
	}
	if b.o.maxInFlight > 0 {
		lim = append(lim, fmt.Sprintf("max-in-flight: %d", b.o.maxInFlight))
	}
	if len(lim) > 0 {
		y += "  http: {" + strings.Join(lim, ", ") + "}\n"
	}
	return y
}

func (b *bench) catalogPort() (int, error) {
	u, err := url.Parse(b.catURI)
	if err != nil {
		return 0, fmt.Errorf("catalog uri %q: %w", b.catURI, err)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return strconv.Atoi(port)
}

// config is one process's floe config: every table, the shared group.
func (b *bench) config(name, cat, addr string) string {
	var tables strings.Builder
	for i, t := range b.tables {
		fmt.Fprintf(&tables, `  - name: %q
    topics: [%q]
    commit-interval: %s
%s`, t, b.topics[i], b.o.commitInterval, floebench.Schema)
	}
	return fmt.Sprintf(`# floe benchcatalog: %s
kafka:
  brokers: [%q]
  group: %q
  client-id: %q
  session-timeout: 10s
  batch: {max-records: 20000, max-age: 500ms}
catalog:
%scommit: {timeout: 60s, retry-min: 100ms, retry-max: 2s}
http: {addr: %q}
log: {level: info, format: json}
shutdown: {timeout: 60s}
tables:
%s`, name, b.env["E2E_KAFKA"], b.group, "benchcat-"+name, cat, addr, tables.String())
}

// proc is one floe process.
type proc struct {
	name, cfg, log, addr string
	cmd                  *exec.Cmd
	done                 chan error
}

func (b *bench) startProc(name, cat string) (*proc, error) {
	addr, err := floebench.FreeAddr()
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, addr: addr, cfg: filepath.Join(b.dir, name+".yaml"), log: filepath.Join(b.dir, name+".log"), done: make(chan error, 1)}
	if err := os.WriteFile(p.cfg, []byte(b.config(name, cat, addr)), 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(b.o.floe, "run", "--config", p.cfg)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start floe %s: %w", name, err)
	}
	go func() {
		p.done <- p.cmd.Wait()
		logFile.Close()
	}()
	return p, nil
}

func (p *proc) exited() (error, bool) {
	select {
	case err := <-p.done:
		p.done <- err
		return err, true
	default:
		return nil, false
	}
}

func (b *bench) checkAlive() error {
	for _, p := range b.procs {
		if err, gone := p.exited(); gone {
			return fmt.Errorf("floe %s exited (%v); log:\n%s", p.name, err, floebench.TailFile(p.log))
		}
	}
	return nil
}

func (b *bench) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, p := range b.procs {
		for {
			if err := b.checkAlive(); err != nil {
				return err
			}
			resp, err := http.Get("http://" + p.addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("floe %s not ready after %s; log:\n%s", p.name, timeout, floebench.TailFile(p.log))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// waitCommitted waits until the processes together committed every
// produced record of every table.
func (b *bench) waitCommitted(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := b.checkAlive(); err != nil {
			return err
		}
		rows := make([]float64, len(b.tables))
		for _, p := range b.procs {
			f, err := floebench.Scrape(p.addr)
			if err != nil {
				continue
			}
			for i, t := range b.tables {
				rows[i] += f.Sum("floe_committer_rows_total", map[string]string{"table": t})
			}
		}
		all := true
		for i := range b.tables {
			all = all && rows[i] >= float64(b.produced[i])
		}
		if all {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not every record committed within %s: committed %v of %v", timeout, rows, b.produced)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// stopAll sends SIGTERM to every process at once and waits for clean exits;
// it returns their CPU time.
func (b *bench) stopAll() (time.Duration, error) {
	for _, p := range b.procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	var cpu time.Duration
	for _, p := range b.procs {
		select {
		case err := <-p.done:
			p.done <- err
			if err != nil {
				return 0, fmt.Errorf("floe %s did not stop cleanly: %w; log:\n%s", p.name, err, floebench.TailFile(p.log))
			}
		case <-time.After(90 * time.Second):
			return 0, fmt.Errorf("floe %s did not stop within 90s", p.name)
		}
		ru := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return cpu, nil
}

// killAll kills the processes still running (after an error).
func (b *bench) killAll() {
	for _, p := range b.procs {
		if _, gone := p.exited(); !gone {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}
