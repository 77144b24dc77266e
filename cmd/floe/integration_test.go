package main

// Integration tests: the built floe binary, run as a separate process against
// an in-process Kafka (kfake) and a SQLite catalog, stopped gracefully and
// killed hard, alone and in pairs. The table is read back with iceberg-go.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/offsets"
)

var floeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "floe-bin-")
	if err != nil {
		panic(err)
	}
	floeBin = filepath.Join(dir, "floe")
	args := []string{"build", "-o", floeBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build floe:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type bed struct {
	t       testing.TB
	dir     string
	kafka   *kfake.Cluster
	brokers []string
	topic   string
	prod    *kgo.Client
	next    int // next record id to produce
}

func newBed(t testing.TB, partitions int32, opts ...kfake.Opt) *bed {
	t.Helper()
	kc, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, "events")}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(kc.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.DefaultProduceTopic("events"),
		kgo.ProducerBatchMaxBytes(32<<20))
	require.NoError(t, err)
	t.Cleanup(prod.Close)
	return &bed{t: t, dir: t.TempDir(), kafka: kc, brokers: kc.ListenAddrs(), topic: "events", prod: prod}
}

// produce writes n records with unique ids, spread over the partitions.
func (b *bed) produce(n int) {
	b.t.Helper()
	b.produceTo(b.topic, n)
}

// produceTo is produce to another topic; the ids go on from the last.
func (b *bed) produceTo(topic string, n int) {
	b.t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		id := b.next + i
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(id)),
			Value: fmt.Appendf(nil, `{"id":"r%07d","n":%d,"amount":"%d.%02d","ts":"2026-11-26T10:%02d:%02dZ","tags":["a","b"],"user":{"name":"u%d","age":%d}}`,
				id, id, id%1000, id%100, id%60, id%60, id%97, id%90)}
	}
	b.next += n
	require.NoError(b.t, b.prod.ProduceSync(context.Background(), recs...).FirstErr())
}

// config writes a floe config for this bed and returns its path.
//
// Its timeouts leave room for a slow machine (-race beside other jobs on two
// cores): the session survives a heartbeat several seconds late, and the
// final commit on SIGTERM has a minute. http.addr takes a port the kernel
// picks when floe listens; the test learns it from floe's log (proc.address).
func (b *bed) config(name, extra string) string {
	b.t.Helper()
	yaml := fmt.Sprintf(`
kafka:
  brokers: [%s]
  group: itest
  session-timeout: 10s
  lag-interval: 1s
  batch:
    max-records: 400
    max-age: 300ms
catalog:
  type: sql
  name: itest
  warehouse: file://%s/warehouse
  sql:
    driver: sqlite
    dsn: %s/catalog.db
commit:
  retry-min: 20ms
  retry-max: 500ms
http:
  addr: 127.0.0.1:0
log:
  level: debug
shutdown:
  timeout: 60s
tables:
  - name: itest.events
    topics: [events]
    commit-interval: 500ms
    metadata-columns:
      partition: _partition
      offset: _offset
    schema:
      - {name: id, type: string, required: true}
      - {name: n, type: long, required: true}
      - {name: amount, type: "decimal(10,2)"}
      - {name: ts, type: timestamptz}
      - {name: tags, type: "list<string>"}
      - name: user
        type: struct
        fields:
          - {name: name, type: string}
          - {name: age, type: int}
    partition-by: ["bucket(4, id)"]
%s`, strings.Join(b.brokers, ", "), b.dir, b.dir, extra)
	path := filepath.Join(b.dir, name+".yaml")
	require.NoError(b.t, os.WriteFile(path, []byte(yaml), 0o644))
	return path
}

type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error

	mu   sync.Mutex
	addr string // of the HTTP server, once floe has logged it
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (b *bed) start(cfg string, args ...string) *proc {
	b.t.Helper()
	cmd := exec.Command(floeBin, append([]string{"run", "--config", cfg}, args...)...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(b.t, cmd.Start())
	p := &proc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	b.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if b.t.Failed() {
			b.t.Logf("floe output:\n%s", tail(out.String(), 60))
		}
	})
	return p
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// servingLine is floe's log line once its HTTP server listens.
var servingLine = regexp.MustCompile(`"msg":"serving /metrics /healthz /readyz","addr":"([^"]+)"`)

// address is the host:port of the process's HTTP server, "" until floe
// has logged that it listens.
func (p *proc) address() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.addr == "" {
		if m := servingLine.FindStringSubmatch(p.out.String()); m != nil {
			p.addr = m[1]
		}
	}
	return p.addr
}

// get fetches path from the process's HTTP server; code 0 while it does not
// listen yet or cannot be reached.
func (p *proc) get(t testing.TB, path string) (int, string) {
	t.Helper()
	addr := p.address()
	if addr == "" {
		return 0, "floe does not listen yet"
	}
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitReady waits until /readyz answers 200: the group is joined.
func (p *proc) waitReady(t testing.TB) {
	t.Helper()
	require.Eventually(t, func() bool { c, _ := p.get(t, "/readyz"); return c == 200 },
		60*time.Second, 50*time.Millisecond, "floe never became ready:\n%s", tail(p.out.String(), 40))
}

// stop sends sig and waits for the exit, returning the exit code.
func (p *proc) stop(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	return p.wait(t)
}

// wait waits for the exit, returning the exit code. Its bound is well past
// the config's shutdown.timeout: a slow final commit is not a hang.
func (p *proc) wait(t testing.TB) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("floe did not exit; output:\n%s", tail(p.out.String(), 40))
	}
	return p.cmd.ProcessState.ExitCode()
}

func (b *bed) loadTable() *table.Table {
	b.t.Helper()
	return b.loadTableNamed("itest.events")
}

// loadTableNamed loads a table of the bed's catalog; nil if there is none.
func (b *bed) loadTableNamed(name string) *table.Table {
	b.t.Helper()
	cat, err := catalog.Open(context.Background(), catalog.Config{
		Type: "sql", Name: "itest", Warehouse: "file://" + b.dir + "/warehouse",
		SQL: catalog.SQLConfig{Driver: "sqlite", DSN: b.dir + "/catalog.db"},
	}, nil)
	require.NoError(b.t, err)
	defer closeCatalog(cat)
	tbl, err := cat.LoadTable(context.Background(), strings.Split(name, "."))
	if err != nil {
		return nil
	}
	return tbl
}

// committed is the number of records the table's offsets cover.
func (b *bed) committed() int64 {
	b.t.Helper()
	tbl := b.loadTable()
	if tbl == nil {
		return 0
	}
	m, _, err := offsets.Read(tbl.Metadata(), "itest", "")
	require.NoError(b.t, err)
	var n int64
	for _, o := range m.Topics["events"].Next {
		n += o
	}
	return n
}

func (b *bed) waitCommitted(atLeast int64, procs ...*proc) {
	b.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for b.committed() < atLeast {
		for _, p := range procs {
			select {
			case <-p.done:
				b.t.Fatalf("floe exited early (%v):\n%s", p.err, tail(p.out.String(), 40))
			default:
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("only %d of %d records committed in time", b.committed(), atLeast)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// requireExactlyOnce reads the table back and checks that ids r0..r(n-1)
// are each present once and that the offsets equal the topic's end offsets.
func (b *bed) requireExactlyOnce(n int) {
	b.t.Helper()
	seen := b.rowIDs()
	tbl := b.loadTable()
	var dups []string
	for id, c := range seen {
		if c != 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", id, c))
		}
	}
	require.Empty(b.t, dups, "duplicated rows")
	for i := 0; i < n; i++ {
		if _, ok := seen[fmt.Sprintf("r%07d", i)]; !ok {
			b.t.Fatalf("record r%07d is missing (%d rows)", i, len(seen))
		}
	}
	require.Len(b.t, seen, n)

	adm := kadm.NewClient(b.prod)
	ends, err := adm.ListEndOffsets(context.Background(), b.topic)
	require.NoError(b.t, err)
	m, _, err := offsets.Read(tbl.Metadata(), "itest", "")
	require.NoError(b.t, err)
	ends.Each(func(o kadm.ListedOffset) {
		require.Equal(b.t, o.Offset, m.Topics[b.topic].Next[o.Partition], "partition %d", o.Partition)
	})
}

func TestGracefulStopAndRestart(t *testing.T) {
	b := newBed(t, 8)
	cfg := b.config("floe", "")
	b.produce(3000)
	p := b.start(cfg)
	b.waitCommitted(1, p)
	b.produce(3000)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM), "SIGTERM flushes, commits and exits 0")
	require.Contains(t, p.out.String(), `"msg":"floe stopped"`)

	b.produce(2000)
	p = b.start(cfg)
	b.waitCommitted(8000, p)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	b.requireExactlyOnce(8000)
}

// consumed sums floe_consumer_records_total from the process's metrics.
func (p *proc) consumed(t testing.TB) int64 {
	t.Helper()
	_, body := p.get(t, "/metrics")
	var n int64
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "floe_consumer_records_total{") {
			var v float64
			_, _ = fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v)
			n += int64(v)
		}
	}
	return n
}

func TestShutdownCommitsEverythingConsumed(t *testing.T) {
	b := newBed(t, 4)
	cfg := b.config("floe", "")
	// With an hour between commits, only the shutdown commit can land.
	yaml := strings.Replace(readFile(t, cfg), "commit-interval: 500ms", "commit-interval: 1h", 1)
	require.NoError(t, os.WriteFile(cfg, []byte(yaml), 0o644))
	b.produce(5000)
	p := b.start(cfg)
	require.Eventually(t, func() bool { return p.consumed(t) == 5000 }, 60*time.Second, 50*time.Millisecond)
	require.Equal(t, int64(0), b.committed())
	code, _ := p.get(t, "/debug/pprof/")
	require.Equal(t, 404, code, "no profiler unless http.pprof is set")
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	require.Equal(t, int64(5000), b.committed(), "the final commit covers every consumed record")
	b.requireExactlyOnce(5000)
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

func TestHardKillsAndRestart(t *testing.T) {
	b := newBed(t, 8)
	cfg := b.config("floe", "")
	total := 0
	for round := 0; round < 4; round++ {
		b.produce(2500)
		total += 2500
		p := b.start(cfg)
		b.waitCommitted(int64(total-2000), p) // kill mid-stream, often mid-commit
		time.Sleep(time.Duration(round*150) * time.Millisecond)
		p.stop(t, syscall.SIGKILL)
	}
	p := b.start(cfg)
	p.waitReady(t)
	b.waitCommitted(int64(total), p)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	b.requireExactlyOnce(total)
}

func TestTwoInstancesShareTheGroup(t *testing.T) {
	b := newBed(t, 8)
	cfgA, cfgB := b.config("a", ""), b.config("b", "")
	b.produce(4000)
	a := b.start(cfgA)
	b.waitCommitted(500, a)
	bb := b.start(cfgB) // joins mid-stream: partitions move between the two
	b.produce(4000)
	b.waitCommitted(8000, a, bb)
	require.Equal(t, 0, a.stop(t, syscall.SIGTERM))
	b.produce(2000) // the survivor takes all partitions
	b.waitCommitted(10000, bb)
	require.Equal(t, 0, bb.stop(t, syscall.SIGTERM))
	b.requireExactlyOnce(10000)
}

func TestMetricsAndHealthEndpoints(t *testing.T) {
	b := newBed(t, 2)
	cfg := b.config("floe", "")
	b.produce(100)
	p := b.start(cfg, "--set", "http.pprof=true")
	b.waitCommitted(100, p)
	code, _ := p.get(t, "/healthz")
	require.Equal(t, 200, code)
	code, _ = p.get(t, "/debug/pprof/")
	require.Equal(t, 200, code, "http.pprof serves the profiler")
	p.waitReady(t)
	var metrics string
	require.Eventually(t, func() bool {
		_, metrics = p.get(t, "/metrics")
		return strings.Contains(metrics, `floe_consumer_lag_records{partition="0",topic="events"} 0`)
	}, 60*time.Second, 200*time.Millisecond, "lag against the table's offsets reaches 0")
	for _, want := range []string{
		`floe_consumer_records_total{partition="0",topic="events"}`,
		`floe_consumer_bytes_total{partition="1",topic="events"}`,
		`floe_consumer_flushes_total{reason="age"}`,
		`floe_committer_commits_total{outcome="committed",table="itest.events"}`,
		`floe_committer_commit_duration_seconds_bucket{table="itest.events"`,
		`floe_committer_rows_total{table="itest.events"} 100`,
		`floe_build_info{version="dev"} 1`,
		`floe_catalog_requests_in_flight 0`,
		`floe_catalog_open_connections 0`,
		`floe_consumer_fetch_paused{reason="memory"} 0`,
	} {
		require.Contains(t, metrics, want)
	}
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
}
