package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

// floeRun is one floe process of a benchmark run, with its config and log
// in a directory of its own.
type floeRun struct {
	dir, cfg, log, addr string
	cmd                 *exec.Cmd
	done                chan error
	logFile             *os.File
	started             time.Time
	cpu0                cpuSample // the machine's CPU when floe started
}

// startFloe writes floe's config for topic → table and starts it.
func startFloe(o *options, env map[string]string, topic, table, group, budget string) (*floeRun, error) {
	dir, err := os.MkdirTemp("", "floe-bench-")
	if err != nil {
		return nil, err
	}
	f := &floeRun{dir: dir, cfg: filepath.Join(dir, "floe.yaml"), log: filepath.Join(dir, "floe.log"), done: make(chan error, 1)}
	if f.addr, err = floebench.FreeAddr(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f.cfg, []byte(config(env, o.catalog, topic, table, group, f.addr, budget, o.batch)), 0o644); err != nil {
		return nil, err
	}
	if f.logFile, err = os.Create(f.log); err != nil {
		return nil, err
	}
	f.cmd = exec.Command(o.floe, "run", "--config", f.cfg)
	f.cmd.Stdout, f.cmd.Stderr = f.logFile, f.logFile
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if f.cpu0, err = sampleCPU(); err != nil {
		return nil, err
	}
	f.started = time.Now()
	if err := f.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { f.done <- f.cmd.Wait() }()
	return f, nil
}

// exited returns an error if floe has exited (it must not before stop).
func (f *floeRun) exited() error {
	select {
	case err := <-f.done:
		f.done <- err
		return fmt.Errorf("floe exited early (%v); log: %s", err, floebench.TailFile(f.log))
	default:
		return nil
	}
}

// waitReady waits until floe's /readyz answers 200: it joined the group
// and can commit.
func (f *floeRun) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := f.exited(); err != nil {
			return err
		}
		if resp, err := http.Get("http://" + f.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("floe not ready after %s; log: %s", timeout, floebench.TailFile(f.log))
}

// waitRows waits until floe has committed n rows, checking every 200 ms;
// each check calls also (if set) with the records floe has consumed.
func (f *floeRun) waitRows(n int, timeout time.Duration, also func(consumed float64)) error {
	for {
		if err := f.exited(); err != nil {
			return err
		}
		if also != nil {
			also(floebench.Metric(f.addr, "floe_consumer_records_total"))
		}
		if floebench.Metric(f.addr, "floe_committer_rows_total") >= float64(n) {
			return nil
		}
		if time.Since(f.started) > timeout {
			return fmt.Errorf("floe did not commit %d records within %s", n, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop ends floe with SIGTERM and returns its resource usage.
func (f *floeRun) stop() (*syscall.Rusage, error) {
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-f.done; err != nil {
		return nil, fmt.Errorf("floe did not stop cleanly: %w; log: %s", err, floebench.TailFile(f.log))
	}
	return f.cmd.ProcessState.SysUsage().(*syscall.Rusage), nil
}

// cleanup kills floe if it still runs and removes its directory unless
// keep is set (then it says where it is).
func (f *floeRun) cleanup(keep bool) {
	if f.cmd.ProcessState == nil && f.cmd.Process != nil {
		_ = f.cmd.Process.Kill()
		<-f.done
	}
	f.logFile.Close()
	if keep {
		fmt.Fprintln(os.Stderr, "kept", f.dir)
		return
	}
	os.RemoveAll(f.dir)
}

// commitInfo is one line of `floe commits --json`.
type commitInfo struct {
	SnapshotID int64 `json:"snapshot_id"`
	Records    int64 `json:"added_records"`
	Ranges     []struct {
		Partition int32 `json:"partition"`
		Start     int64 `json:"start"`
		End       int64 `json:"end"`
	} `json:"ranges"`
}

// commits runs `floe commits --json`: the table's commit history as floe
// reads it, newest first.
func (f *floeRun) commits(bin string) ([]commitInfo, error) {
	return floebench.Commits[commitInfo](bin, f.cfg)
}

// config is floe's config for one benchmark run: batch as kafka.batch, a
// 2 s commit interval in every mode, budget as kafka.memory-budget
// ("default": floe's).
func config(env map[string]string, catalog, topic, table, group, addr, budget, batch string) string {
	uri, warehouse := env["E2E_REST_FILE_URI"], env["E2E_REST_FILE_WAREHOUSE"]
	s3 := ""
	if catalog == "rest-s3" {
		uri, warehouse = env["E2E_REST_S3_URI"], env["E2E_REST_S3_WAREHOUSE"]
		s3 = fmt.Sprintf("  s3: {endpoint: %q, region: %q, access-key-id: %q, secret-access-key: %q, path-style: true}\n",
			env["E2E_S3_ENDPOINT"], env["E2E_S3_REGION"], env["E2E_S3_ACCESS_KEY"], env["E2E_S3_SECRET_KEY"])
	}
	budgetLine := ""
	if budget != "default" {
		budgetLine = fmt.Sprintf("  memory-budget: %s\n", budget)
	}
	wh := ""
	if warehouse != "" {
		wh = fmt.Sprintf("  warehouse: %q\n", warehouse)
	}
	return fmt.Sprintf(`kafka:
  brokers: [%q]
  group: %q
%s  batch: %s
catalog:
  type: rest
  uri: %q
%s%scommit: {timeout: 2m}
http: {addr: %q, pprof: true}
tables:
  - name: %q
    topics: [%q]
    commit-interval: %s
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
`, env["E2E_KAFKA"], group, budgetLine, batch, uri, wh, s3, addr, table, topic, commitInterval)
}

// commitInterval is the tables' commit-interval in every mode.
const commitInterval = 2 * time.Second

// catalogURI is the REST catalog's URI the run's floe uses.
func catalogURI(env map[string]string, catalog string) string {
	if catalog == "rest-s3" {
		return env["E2E_REST_S3_URI"]
	}
	return env["E2E_REST_FILE_URI"]
}

// splitTable splits "ns.table".
func splitTable(name string) (ns, tbl string) {
	i := strings.LastIndexByte(name, '.')
	return name[:i], name[i+1:]
}
