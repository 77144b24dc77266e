//go:build e2e

package e2e

// Fault injection against real services. The scenarios are grouped by what
// they fault: faults_catalog_test.go (the REST catalog's answers),
// faults_storage_test.go (S3's answers), faults_kafka_test.go (the broker,
// the consumer group, the topic) and faults_replicas_test.go (floe replicas
// killed or frozen). This file holds what they share: the fault rig — a
// pipeline whose floe processes reach the REST catalog or S3 through an
// in-process faultproxy (e2e/faultproxy), in which the test turns faults on
// and off while records stream in — and helpers that edit floe's config and
// read its metrics and logs. Every scenario ends with the same exactly-once judgement
// by PyIceberg and DuckDB as TestExactlyOnce. The readers and `floe commits`
// always talk to the services directly: only the floe daemons under test go
// through a proxy.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floe-dev/floe/e2e/faultproxy"
)

// commitSection is the commit: section of a floe config; each field is a
// duration as the config writes it ("5s").
type commitSection struct {
	timeout     string // commit.timeout: one attempt
	retryMin    string // commit.retry-min: the first backoff
	retryMax    string // commit.retry-max: the longest backoff
	giveUpAfter string // commit.give-up-after: failing this long, floe exits 1
}

func (c commitSection) yaml() string {
	return fmt.Sprintf("commit:\n  timeout: %s\n  retry-min: %s\n  retry-max: %s\n  give-up-after: %s\n",
		c.timeout, c.retryMin, c.retryMax, c.giveUpAfter)
}

// catalogHTTP is the catalog.http section the fault scenarios use: floe
// retries GETs itself, quickly, so a short outage shows up as failed commit
// attempts rather than as one long request.
const catalogHTTP = `  http:
    request-timeout: 5s
    read-retries: 2
    retry-min: 50ms
    retry-max: 500ms`

// faultRig is a pipeline whose floe processes reach the catalog (and, for
// an S3 warehouse, S3) through fault proxies.
type faultRig struct {
	*pipeline
	rest *faultproxy.Proxy // in front of the REST catalog, or nil
	s3   *faultproxy.Proxy // in front of S3, or nil
	rng  *rand.Rand        // the test's random choices and the proxies' seeds (seededRand)
}

// proxies says which services a fault rig's floe processes reach through a
// fault proxy, for the test to fault; the others they reach directly.
type proxies struct {
	catalog bool // the REST catalog, through faultRig.rest
	s3      bool // S3 (setup rest-s3 only), through faultRig.s3
}

// newFaultRig makes a pipeline for setup "rest-file" or "rest-s3" with the
// fault scenarios' catalog.http section, and points floe's catalog.uri at a
// proxy in front of the REST catalog (via.catalog) and floe's
// catalog.s3.endpoint at a proxy in front of S3 (via.s3). The config for
// `floe commits` keeps the direct addresses.
func newFaultRig(t testing.TB, s *services, setup string, partitions int32, via proxies) *faultRig {
	t.Helper()
	p := newPipeline(t, s, setup, partitions)
	r := &faultRig{pipeline: p, rng: seededRand(t)}
	var uri, warehouse string
	switch setup {
	case "rest-file":
		uri, warehouse = s.RESTFileURI, s.RESTFileWarehouse
	case "rest-s3":
		uri, warehouse = s.RESTS3URI, s.RESTS3Warehouse
	default:
		t.Fatalf("fault rigs take a REST catalog, not %q", setup)
	}
	if via.s3 && setup != "rest-s3" {
		t.Fatalf("an S3 proxy needs setup rest-s3, not %q", setup)
	}
	if via.catalog {
		r.rest = startProxy(t, uri, faultproxy.RESTCatalog, r.rng)
		uri = r.rest.URL()
	}
	yaml := faultCatalog(uri, warehouse)
	if setup == "rest-s3" {
		endpoint := s.S3.Endpoint
		if via.s3 {
			r.s3 = startProxy(t, s.S3.Endpoint, faultproxy.S3, r.rng)
			endpoint = r.s3.URL()
		}
		yaml += "\n" + s3Section(s.S3, endpoint)
	}
	p.conf.catalog = yaml
	return r
}

// faultCatalog is the catalog: section of a fault rig's floe config: the
// REST catalog at uri, with catalogHTTP.
func faultCatalog(uri, warehouse string) string {
	return fmt.Sprintf("  type: rest\n  name: e2e-fault\n  uri: %s\n  warehouse: %s\n%s",
		yamlStr(uri), yamlStr(warehouse), catalogHTTP)
}

// startProxy starts a fault proxy in front of target, an upstream of kind
// up, its draws for Rule.Probability seeded from rng; it is closed when t
// ends.
func startProxy(t testing.TB, target string, up faultproxy.Upstream, rng *rand.Rand) *faultproxy.Proxy {
	t.Helper()
	px, err := faultproxy.New(target, up)
	if err != nil {
		t.Fatal(err)
	}
	px.Seed(rng.Uint64())
	t.Cleanup(func() { _ = px.Close() })
	t.Logf("%v proxy %s -> %s", up, px.URL(), target)
	return px
}

var commitSectionRE = regexp.MustCompile(`(?m)^commit:\n(?:[ \t]+.*\n)+`)

// startWith starts a floe process whose commit: section is commit.
func (p *pipeline) startWith(name string, commit commitSection) *floeProc {
	p.t.Helper()
	cfg, addr := p.conf.write(p.t, p.dir, name)
	data, err := os.ReadFile(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	if !commitSectionRE.Match(data) {
		p.t.Fatalf("no commit: section to replace in %s:\n%s", cfg, data)
	}
	data = commitSectionRE.ReplaceAllLiteral(data, []byte(commit.yaml()))
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		p.t.Fatal(err)
	}
	proc := startFloe(p.t, name, cfg, addr)
	p.procs = append(p.procs, proc)
	return proc
}

// startEdited starts a floe process whose config has its first old replaced
// by new.
func (p *pipeline) startEdited(name, old, new string) *floeProc {
	p.t.Helper()
	cfg, addr := p.conf.write(p.t, p.dir, name)
	data, err := os.ReadFile(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		p.t.Fatalf("no %q to replace in %s", old, cfg)
	}
	data = []byte(strings.Replace(string(data), old, new, 1))
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		p.t.Fatal(err)
	}
	proc := startFloe(p.t, name, cfg, addr)
	p.procs = append(p.procs, proc)
	return proc
}

// waitCaughtUp waits until the table's offsets are the topic's end offsets.
func (p *pipeline) waitCaughtUp(timeout time.Duration, procs ...*floeProc) time.Duration {
	p.t.Helper()
	start := time.Now()
	ends := withoutEmpty(endOffsets(p.t, p.adm, p.topic))
	p.waitUntil("caught up with the topic's end", timeout,
		func(m map[int32]int64) bool { return maps.Equal(m, ends) }, procs...)
	return time.Since(start)
}

// resumeAndFinish waits until f caught up by itself once access is back,
// and judges the table.
func (r *faultRig) resumeAndFinish(t testing.TB, prod *producer, f *floeProc) {
	t.Helper()
	resumed := time.Now()
	ids := prod.wait(t)
	r.waitCaughtUp(5*time.Minute, f)
	t.Logf("caught up %v after access came back", time.Since(resumed).Round(time.Millisecond))
	hist := r.finish(ids, f)
	requireUniqueCommitIDs(t, hist)
	t.Logf("commit outcomes in the log: %v", outcomeCounts(commitsByOutcome(f)))
}

// readyStatus is the HTTP status of /readyz, 0 if it did not answer.
func (p *floeProc) readyStatus() int {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + p.addr + "/readyz")
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// metrics scrapes /metrics.
func (p *floeProc) metrics() (string, error) {
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/metrics: %s", resp.Status)
	}
	return string(b), nil
}

// metricSum sums the samples of metric name whose labels include want.
// found says whether any sample matched.
func metricSum(text, name string, want map[string]string) (sum float64, found bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		series, val := line[:sp], line[sp+1:]
		metric, labelText := series, ""
		if i := strings.IndexByte(series, '{'); i >= 0 {
			metric, labelText = series[:i], strings.TrimSuffix(series[i+1:], "}")
		}
		if metric != name {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(labelText, `",`) {
			k, v, ok := strings.Cut(kv, "=")
			if ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		sum += f
		found = true
	}
	return sum, found
}

// logLine is one JSON line of floe's log.
type logLine map[string]any

func (l logLine) str(k string) string {
	s, _ := l[k].(string)
	return s
}

// logLines parses the JSON lines of p's log; lines that are not JSON are
// skipped.
func (p *floeProc) logLines() []logLine {
	var out []logLine
	for _, line := range strings.Split(p.log(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var l logLine
		if json.Unmarshal([]byte(line), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// countLog counts the lines of text holding needle.
func countLog(text, needle string) int { return strings.Count(text, needle) }

// commitsByOutcome returns the commit IDs of procs' "commit" log lines by
// outcome.
func commitsByOutcome(procs ...*floeProc) map[string][]string {
	out := map[string][]string{}
	for _, p := range procs {
		for _, l := range p.logLines() {
			if l.str("msg") == "commit" {
				out[l.str("outcome")] = append(out[l.str("outcome")], l.str("commit_id"))
			}
		}
	}
	return out
}

func outcomeCounts(m map[string][]string) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

// requireUniqueCommitIDs: no commit ID in two snapshots of floe's history.
func requireUniqueCommitIDs(t testing.TB, hist []commitInfo) map[string]int64 {
	t.Helper()
	ids := map[string]int64{}
	for _, c := range hist {
		if other, dup := ids[c.CommitID]; dup {
			t.Errorf("commit %s is in two snapshots: %d and %d", c.CommitID, other, c.SnapshotID)
		}
		ids[c.CommitID] = c.SnapshotID
	}
	return ids
}
