//go:build e2e

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

// floeProc is one running floe process.
type floeProc struct {
	name    string
	addr    string // http.addr
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // cmd.Wait's result, set before done closes
}

// startFloe runs `floe run --config cfg`, its output going to a log file in
// t's temp dir. The process is killed when t ends, and the log's tail is
// printed if t failed.
func startFloe(t testing.TB, name, cfg, addr string) *floeProc {
	t.Helper()
	logPath := filepath.Join(filepath.Dir(cfg), name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(floeBin, "run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test binary itself dies, floe goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start floe %s: %v", name, err)
	}
	p := &floeProc{name: name, addr: addr, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Logf("started floe %s (pid %d, http %s, log %s)", name, cmd.Process.Pid, addr, logPath)
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
		}
		<-p.done
		if t.Failed() {
			t.Logf("floe %s log (%s), last lines:\n%s", name, logPath, p.logTail(60))
		}
	})
	return p
}

func (p *floeProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *floeProc) logTail(lines int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	parts := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

func (p *floeProc) log() string {
	data, _ := os.ReadFile(p.logPath)
	return string(data)
}

// logSummary counts the log lines that tell how the process's commits went:
// what the test exercised, beyond whether it passed.
func (p *floeProc) logSummary() string {
	log := p.log()
	var parts []string
	for _, c := range []struct{ label, needle string }{
		{"commits", `"msg":"commit","`},
		{"failed attempts", `"msg":"commit attempt failed; retrying"`},
		{"fenced batches", `"msg":"batch fenced`},
		{"re-seeks", `"msg":"partition re-seeked`},
		{"partitions assigned", `"msg":"partition assigned"`},
		{"revoked", `"msg":"partition revoked"`},
		{"errors", `"level":"ERROR"`},
	} {
		parts = append(parts, fmt.Sprintf("%d %s", strings.Count(log, c.needle), c.label))
	}
	state := "running"
	if p.exited() {
		state = p.cmd.ProcessState.String()
	}
	return strings.Join(parts, ", ") + "; " + state
}

// signal sends sig and waits for the exit; it returns the exit code (-1 for
// a process ended by a signal).
func (p *floeProc) signal(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("signal floe %s: %v", p.name, err)
	}
	return p.wait(t, 2*time.Minute)
}

func (p *floeProc) wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("floe %s did not exit within %v; log:\n%s", p.name, d, p.logTail(40))
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop sends SIGTERM and requires the graceful path: exit 0 after the final
// commit.
func (p *floeProc) stop(t testing.TB) {
	t.Helper()
	stopAll(t, p)
}

// interrupt sends SIGTERM twice, as an impatient operator would: the first
// starts the shutdown (seal, final commit), the second must end the process
// at once with exit code 130, wherever the shutdown was.
func (p *floeProc) interrupt(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal floe %s: %v", p.name, err)
	}
	// Two signals pending at once merge into one: wait for the first to be
	// taken.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(p.log(), "received: flushing and committing") {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("floe %s did not acknowledge SIGTERM; log:\n%s", p.name, p.logTail(40))
		}
		time.Sleep(5 * time.Millisecond)
	}
	switch code := p.signal(t, syscall.SIGTERM); {
	case code == 130 && strings.Contains(p.log(), "second terminated: exiting without flushing"):
	case code == 0 && strings.Contains(p.log(), `"msg":"floe stopped"`):
		// The shutdown was quicker than the second signal: still a valid run.
		t.Logf("floe %s finished its shutdown before the second SIGTERM arrived", p.name)
	default:
		t.Fatalf("floe %s exited %d after a second SIGTERM, want 130; log:\n%s", p.name, code, p.logTail(40))
	}
}

// kill sends SIGKILL: no final commit, nothing flushed.
func (p *floeProc) kill(t testing.TB) {
	t.Helper()
	p.signal(t, syscall.SIGKILL)
}

// waitReady waits for /readyz: joined to the group and every table can
// commit.
func (p *floeProc) waitReady(t testing.TB) {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if p.exited() {
			t.Fatalf("floe %s exited before it was ready (%v); log:\n%s", p.name, p.err, p.logTail(40))
		}
		resp, err := client.Get("http://" + p.addr + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("floe %s not ready after 3m; log:\n%s", p.name, p.logTail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// committedOnce says whether p has logged a commit (one that landed).
func (p *floeProc) committedOnce() bool {
	return strings.Contains(p.log(), `"msg":"commit","`)
}

// holdFor bounds how long holdUntil holds.
type holdFor struct {
	atLeast time.Duration // however soon done reports true
	atMost  time.Duration // in all, however long done takes to report true
}

// holdUntil holds for at least h.atLeast while every proc stays alive, and
// then on until done reports true, for at most h.atMost in all: a fault
// lasts as long as the test means it to and then until it has had the
// effect the test asserts, however slowly a busy machine runs. done (nil:
// always true) runs every 250ms from the start, so it can also sample. It
// returns how long it held and whether done reported true.
func holdUntil(t testing.TB, h holdFor, done func() bool, procs ...*floeProc) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for {
		for _, proc := range procs {
			if proc.exited() {
				t.Fatalf("floe %s exited (%v); log:\n%s", proc.name, proc.err, proc.logTail(40))
			}
		}
		ok := done == nil || done()
		held := time.Since(start)
		if ok && held >= h.atLeast {
			return held, true
		}
		if held >= h.atMost {
			return held, false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// hold waits d while every proc stays alive: a fault lasts that long.
func hold(t testing.TB, d time.Duration, procs ...*floeProc) {
	t.Helper()
	holdUntil(t, holdFor{atLeast: d, atMost: d}, nil, procs...)
}

// waitFor waits until cond holds, for at most timeout, while every proc
// stays alive.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool, procs ...*floeProc) {
	t.Helper()
	if held, ok := holdUntil(t, holdFor{atMost: timeout}, cond, procs...); !ok {
		t.Fatalf("waited %v in vain for %s", held.Round(time.Second), what)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// floeConfig is what differs between the e2e pipelines.
type floeConfig struct {
	brokers string
	group   string
	topic   string
	table   string
	catalog string // the YAML of the catalog: section, indented by two spaces
	// tableExtra is more YAML for the table's list item (indented by four
	// spaces), e.g. on-error and dlq.
	tableExtra string
	// kafkaExtra is more YAML for the kafka: section (indented by two
	// spaces), e.g. topic-refresh-interval.
	kafkaExtra string
	// topicsPattern, if set, is the table's topics-pattern in place of
	// topics: [topic].
	topicsPattern string
	// topicColumn, if set, names a metadata column with each row's topic:
	// what tells a table's partitions apart when several topics feed it.
	topicColumn string
}

// write writes a config with a free http.addr to dir/name.yaml and returns
// its path and that address.
func (c floeConfig) write(t testing.TB, dir, name string) (path, addr string) {
	t.Helper()
	addr = freeAddr(t)
	topics := "topics: [" + c.topic + "]"
	if c.topicsPattern != "" {
		topics = "topics-pattern: " + yamlStr(c.topicsPattern)
	}
	kafka := ""
	if c.kafkaExtra != "" {
		kafka = "\n" + c.kafkaExtra
	}
	meta := "      partition: _kafka_partition\n      offset: _kafka_offset"
	if c.topicColumn != "" {
		meta += "\n      topic: " + c.topicColumn
	}
	yaml := fmt.Sprintf(`# floe e2e: %s
kafka:
  brokers: [%s]
  group: %s
  client-id: floe-e2e-%s
  session-timeout: 6s
  lag-interval: 2s
  batch:
    max-records: 5000
    max-age: 500ms%s
catalog:
%s
commit:
  timeout: 60s
  retry-min: 100ms
  retry-max: 2s
http:
  addr: %s
log:
  level: info
  format: json
shutdown:
  timeout: 60s
tables:
  - name: %s
    %s
    commit-interval: 1s
    metadata-columns:
%s
    schema:
      - {name: id, type: string, required: true}
      - {name: n, type: long, required: true}
      - {name: amount, type: "decimal(12, 2)"}
      - {name: ts, type: timestamptz, required: true}
      - name: customer
        type: struct
        fields:
          - {name: id, type: long, required: true}
          - {name: country, type: string}
          - {name: segment, type: string}
      - {name: tags, type: "list<string>"}
    partition-by: [day(ts)]
%s`, name, c.brokers, c.group, name, kafka, c.catalog, addr, c.table, topics, meta, c.tableExtra)
	path = filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, addr
}

// yamlStr quotes s for YAML: a JSON string is a YAML double-quoted scalar.
func yamlStr(s string) string { return string(mustJSON(s)) }

// commitInfo is one line of `floe commits --json`.
type commitInfo struct {
	Table      string `json:"table"`
	SnapshotID int64  `json:"snapshot_id"`
	CommitID   string `json:"commit_id"`
	Writer     struct {
		Instance string `json:"instance"`
		Host     string `json:"host"`
	} `json:"writer"`
	Records  int64           `json:"added_records"`
	Rollback json.RawMessage `json:"rollback"`
	Ranges   []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Start     int64  `json:"start"`
		End       int64  `json:"end"`
	} `json:"ranges"`
}

// floeCommits runs `floe commits --config cfg --json`: the commit history as
// floe reads it from the table, newest first.
func floeCommits(cfg string) ([]commitInfo, error) {
	return floebench.Commits[commitInfo](floeBin, cfg)
}

// committedOffsets folds a commit history into the next offset of every
// partition of topic: the end of the partition's last range.
func committedOffsets(hist []commitInfo, topic string) map[int32]int64 {
	next := map[int32]int64{}
	for _, c := range hist {
		for _, r := range c.Ranges {
			if r.Topic == topic && r.End > next[r.Partition] {
				next[r.Partition] = r.End
			}
		}
	}
	return next
}

func sumOffsets(m map[int32]int64) int64 {
	var n int64
	for _, o := range m {
		n += o
	}
	return n
}
