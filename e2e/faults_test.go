//go:build e2e

package e2e

// Fault injection against real services. Each scenario puts an in-process
// faultproxy (e2e/faultproxy) between floe and the REST catalog or S3, turns
// faults on while records stream in, turns them off, and ends with the same
// exactly-once judgement by PyIceberg and DuckDB as TestExactlyOnce. The
// readers and `floe commits` always talk to the services directly: only the
// floe daemons under test go through the proxy.

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/floe-dev/floe/e2e/faultproxy"
)

// restKinds are every request kind of a REST catalog.
var restKinds = []string{
	faultproxy.KindConfig, faultproxy.KindToken, faultproxy.KindLoadTable, faultproxy.KindCommit,
	faultproxy.KindCreateTable, faultproxy.KindNamespace, faultproxy.KindOther,
}

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

// waitCaughtUp waits until the table's offsets are the topic's end offsets.
func (p *pipeline) waitCaughtUp(timeout time.Duration, procs ...*floeProc) time.Duration {
	p.t.Helper()
	start := time.Now()
	ends := withoutEmpty(endOffsets(p.t, p.adm, p.topic))
	p.waitUntil("caught up with the topic's end", timeout,
		func(m map[int32]int64) bool { return maps.Equal(m, ends) }, procs...)
	return time.Since(start)
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

// TestFaultLostCommitResponses (b): the proxy forwards some commits to the
// catalog, which applies them, and then resets the connection instead of
// answering. floe must find its commit in the table instead of sending it
// again: outcome landed_after_unknown, no commit ID twice, no duplicate row.
func TestFaultLostCommitResponses(t *testing.T) {
	s := needServices(t)
	const n = 20_000
	r := newFaultRig(t, s, "rest-file", 8, proxies{catalog: true})
	prod := startProducer(t, r.cl, r.topic, pacedRun{n: n, rate: 1000})
	f := r.startWith("a", commitSection{timeout: "60s", retryMin: "100ms", retryMax: "2s", giveUpAfter: "10m"})
	f.waitReady(t)
	r.waitCommitted(n*5/100, f)

	const drops = 10
	r.rest.Add(faultproxy.Rule{Kind: faultproxy.KindCommit, Action: faultproxy.ForwardThenDrop, Times: drops, Probability: 0.5})
	// Up to ten lost responses while the records stream in, and at least
	// one however far floe had caught up with the producer.
	holdUntil(t, holdFor{atMost: 3 * time.Minute}, func() bool {
		hits := r.rest.Hits(faultproxy.KindCommit)
		if hits == 0 {
			prod.keepFlowing(t)
		}
		return hits >= drops || (hits > 0 && prod.finished())
	}, f)
	r.rest.Clear()
	dropped := r.rest.Hits(faultproxy.KindCommit)
	t.Logf("%d commit responses dropped after the catalog applied them (%d commits sent)",
		dropped, r.rest.Seen(faultproxy.KindCommit))
	if dropped == 0 {
		t.Fatal("no commit response was dropped: the scenario tested nothing")
	}
	// Let floe resolve the last lost response (it looks for the commit in
	// the table, in its retry loop) before the end: the judgement below
	// requires each one found, once.
	if _, ok := holdUntil(t, holdFor{atMost: 3 * time.Minute}, func() bool {
		return len(commitsByOutcome(f)["landed_after_unknown"]) >= dropped
	}, f); !ok {
		t.Logf("floe has not logged landed_after_unknown for each of the %d lost responses yet", dropped)
	}
	ids := prod.wait(t)

	hist := r.finish(ids, f)
	byOutcome := commitsByOutcome(f)
	t.Logf("commit outcomes in the log: %v", outcomeCounts(byOutcome))
	landed := byOutcome["landed_after_unknown"]
	if len(landed) == 0 {
		t.Errorf("no commit logged outcome landed_after_unknown after %d lost responses", dropped)
	}
	if len(landed) != dropped {
		// One writer: every dropped commit was applied by the catalog, so
		// each must be found again, once.
		t.Errorf("%d lost commit responses but %d commits logged landed_after_unknown", dropped, len(landed))
	}
	inHist := requireUniqueCommitIDs(t, hist)
	for _, id := range landed {
		if _, ok := inHist[id]; !ok {
			t.Errorf("commit %s logged landed_after_unknown but is not in the table's history", id)
		}
	}
	// Every logged commit is in the history once and vice versa.
	logged := map[string]bool{}
	for _, l := range byOutcome {
		for _, id := range l {
			if logged[id] {
				t.Errorf("commit %s logged as landed twice", id)
			}
			logged[id] = true
		}
	}
	for id := range inHist {
		if !logged[id] {
			t.Errorf("commit %s is in the table but floe never logged it as landed", id)
		}
	}
}

// TestFaultConflictStorm (c): two replicas in one group commit to the same
// table (real conflicts through optimistic concurrency) while the proxy
// answers 70% of commits with 409 for 15 s (and on until a commit has landed
// after a conflict). Every conflict must be retried from a fresh table read;
// nothing lands twice.
func TestFaultConflictStorm(t *testing.T) {
	s := needServices(t)
	const n = 20_000
	r := newFaultRig(t, s, "rest-file", 8, proxies{catalog: true})
	prod := startProducer(t, r.cl, r.topic, pacedRun{n: n, rate: 1000})
	commit := commitSection{timeout: "30s", retryMin: "100ms", retryMax: "1s", giveUpAfter: "10m"}
	a, b := r.startWith("a", commit), r.startWith("b", commit)
	a.waitReady(t)
	b.waitReady(t)
	r.waitCommitted(n*10/100, a, b)
	waitEachCommitted(t, prod, a, b)

	r.rest.Add(faultproxy.Rule{Kind: faultproxy.KindCommit, Action: faultproxy.Status, Status: http.StatusConflict, Probability: 0.7})
	held, _ := holdUntil(t, holdFor{atLeast: 15 * time.Second, atMost: 3 * time.Minute}, func() bool {
		if len(commitsByOutcome(a, b)["conflict_retried"]) > 0 {
			return true
		}
		prod.keepFlowing(t)
		return false
	}, a, b)
	r.rest.Clear()
	injected := r.rest.Hits(faultproxy.KindCommit)
	t.Logf("409 storm for %v: %d of %d commits answered 409 by the proxy", held.Round(time.Millisecond), injected, r.rest.Seen(faultproxy.KindCommit))

	ids := prod.wait(t)
	r.waitCaughtUp(5*time.Minute, a, b)
	var conflicts float64
	for _, proc := range []*floeProc{a, b} {
		m, err := proc.metrics()
		if err != nil {
			t.Fatalf("floe %s /metrics: %v", proc.name, err)
		}
		v, _ := metricSum(m, "floe_committer_attempt_errors_total", map[string]string{"reason": "conflict"})
		conflicts += v
	}
	t.Logf("attempts failed with a conflict: %.0f (%d injected, so about %.0f real ones between the replicas)",
		conflicts, injected, conflicts-float64(injected))

	hist := r.finish(ids, a, b)
	requireUniqueCommitIDs(t, hist)
	byOutcome := outcomeCounts(commitsByOutcome(a, b))
	t.Logf("commit outcomes in the logs: %v", byOutcome)
	if byOutcome["conflict_retried"] == 0 {
		t.Errorf("no commit logged outcome conflict_retried after %d injected 409s", injected)
	}
	if conflicts == 0 {
		t.Errorf("floe_committer_attempt_errors_total{reason=conflict} is 0 after %d injected 409s", injected)
	}
	if w := writerInstances(hist); len(w) < 2 {
		t.Errorf("commits come from %d floe instances; two ran in the group", len(w))
	}
}

// TestFaultCatalogOutage (d): every catalog request is answered 503 for
// 25 s while records arrive (and on until floe has shown what is asserted
// below). The table must turn unhealthy (/readyz 503,
// floe_committer_table_healthy 0) without floe exiting, and catch up by
// itself once the catalog is back (how long that took is logged, not
// asserted: it depends on the machine).
func TestFaultCatalogOutage(t *testing.T) {
	s := needServices(t)
	const n = 15_000
	r := newFaultRig(t, s, "rest-file", 8, proxies{catalog: true})
	prod := startProducer(t, r.cl, r.topic, pacedRun{n: n, rate: 1000})
	f := r.startWith("a", commitSection{timeout: "5s", retryMin: "100ms", retryMax: "1s", giveUpAfter: "10m"})
	f.waitReady(t)
	r.waitCommitted(n*15/100, f)

	outage := time.Now()
	for _, k := range restKinds {
		r.rest.Add(faultproxy.Rule{Kind: k, Action: faultproxy.Status, Status: http.StatusServiceUnavailable})
	}
	var notReadyAt, unhealthyAt time.Duration
	var lastReady int
	var failedSeen bool
	// 25 s of 503s, and on until floe has shown each effect asserted below:
	// how soon it does depends on the machine, not on floe being right.
	holdUntil(t, holdFor{atLeast: 25 * time.Second, atMost: 3 * time.Minute}, func() bool {
		if code := f.readyStatus(); code != 0 {
			lastReady = code
			if code == http.StatusServiceUnavailable && notReadyAt == 0 {
				notReadyAt = time.Since(outage)
			}
		}
		if unhealthyAt == 0 || !failedSeen {
			if m, err := f.metrics(); err == nil {
				if v, ok := metricSum(m, "floe_committer_table_healthy", map[string]string{"table": r.table}); ok && v == 0 && unhealthyAt == 0 {
					unhealthyAt = time.Since(outage)
				}
				v, _ := metricSum(m, "floe_committer_commits_total", map[string]string{"table": r.table, "outcome": "failed"})
				failedSeen = v > 0
			}
		}
		if notReadyAt == 0 || unhealthyAt == 0 || !failedSeen {
			prod.keepFlowing(t) // a commit to fail
			return false
		}
		return true
	}, f)
	m, err := f.metrics()
	if err != nil {
		t.Fatalf("/metrics during the outage: %v", err)
	}
	failed, _ := metricSum(m, "floe_committer_commits_total", map[string]string{"table": r.table, "outcome": "failed"})
	r.rest.Clear()
	cleared := time.Now()
	down := cleared.Sub(outage)
	t.Logf("outage of %v: %d requests answered 503 (load_table %d, commit %d); /readyz 503 after %v, healthy=0 after %v; %.0f commits timed out",
		down.Round(time.Millisecond), hitsAll(r.rest), r.rest.Hits(faultproxy.KindLoadTable), r.rest.Hits(faultproxy.KindCommit),
		notReadyAt.Round(time.Millisecond), unhealthyAt.Round(time.Millisecond), failed)
	if notReadyAt == 0 {
		t.Errorf("/readyz never answered 503 during a %v catalog outage (last status %d)", down.Round(time.Second), lastReady)
	}
	if unhealthyAt == 0 {
		t.Errorf("floe_committer_table_healthy{table=%q} never was 0 during a %v catalog outage", r.table, down.Round(time.Second))
	}
	if failed == 0 {
		t.Errorf("floe_committer_commits_total{outcome=failed} is 0 after a %v outage with commit.timeout 5s", down.Round(time.Second))
	}
	// Backoff, not a loop: far fewer than one request per 50ms. A bound
	// that holds at any speed: a slower machine only sends fewer.
	if h := hitsAll(r.rest); h > int(down/(50*time.Millisecond)) {
		t.Errorf("%d catalog requests during a %v outage: floe retries in a loop", h, down.Round(time.Second))
	}

	// Back: ready again and caught up, by itself.
	waitFor(t, "floe ready again after the catalog came back", 3*time.Minute,
		func() bool { return f.readyStatus() == http.StatusOK }, f)
	readyAgain := time.Since(cleared)
	ids := prod.wait(t)
	r.waitCaughtUp(5*time.Minute, f)
	caughtUp := time.Since(cleared)
	t.Logf("after the outage: ready again in %v, caught up with the topic in %v",
		readyAgain.Round(time.Millisecond), caughtUp.Round(time.Millisecond))
	if m, err := f.metrics(); err == nil {
		if v, ok := metricSum(m, "floe_committer_table_healthy", map[string]string{"table": r.table}); !ok || v != 1 {
			t.Errorf("floe_committer_table_healthy{table=%q} is %v (present %v) after catching up, want 1", r.table, v, ok)
		}
	}

	hist := r.finish(ids, f)
	requireUniqueCommitIDs(t, hist)
	t.Logf("commit outcomes in the log: %v", outcomeCounts(commitsByOutcome(f)))
}

// attemptErrors sums floe_committer_attempt_errors_total over the reasons
// an S3 write error shows as, and lists them.
func attemptErrors(metrics string) (all float64, reasons string) {
	var parts []string
	for _, reason := range []string{"write", "unknown", "timeout", "load", "conflict"} {
		v, _ := metricSum(metrics, "floe_committer_attempt_errors_total", map[string]string{"reason": reason})
		all += v
		parts = append(parts, fmt.Sprintf("%s %.0f", reason, v))
	}
	return all, strings.Join(parts, ", ")
}

func hitsAll(p *faultproxy.Proxy) int {
	n := 0
	for _, k := range restKinds {
		n += p.Hits(k)
	}
	return n
}

// TestFaultS3WriteErrors (f): with the S3 warehouse, floe's S3 requests go
// through a proxy (SigV4 signs the proxy's Host, which the proxy keeps)
// that answers 30% of PUTs with 500 and delays half of the others for 10 s,
// then every PUT for 10 s (each phase on until it has had its effect).
// Failed data-file writes are retried; nothing is lost or doubled.
func TestFaultS3WriteErrors(t *testing.T) {
	s := needServices(t)
	const n = 20_000
	r := newFaultRig(t, s, "rest-s3", 8, proxies{s3: true})
	prod := startProducer(t, r.cl, r.topic, pacedRun{n: n, rate: 1000})
	f := r.startWith("a", commitSection{timeout: "60s", retryMin: "100ms", retryMax: "2s", giveUpAfter: "10m"})
	f.waitReady(t)
	r.waitCommitted(n*10/100, f)
	if puts := r.s3.Seen(faultproxy.KindS3Put); puts == 0 {
		t.Fatalf("floe committed without a PUT through the S3 proxy: its data files bypass catalog.s3.endpoint (S3 requests seen: get %d, head %d, post %d)",
			r.s3.Seen(faultproxy.KindS3Get), r.s3.Seen(faultproxy.KindS3Head), r.s3.Seen(faultproxy.KindS3Post))
	} else {
		t.Logf("SigV4 through the proxy works: %d PUTs passed before the faults", puts)
	}

	// Phase 1, 10s: 30% of PUTs (and multipart POSTs) answered 500, half of
	// the rest delayed. Phase 2, 10s: every PUT answered 500, longer than the
	// S3 client's own retries last, so floe's commit attempts fail writing
	// their data files and floe's loop must retry them. Each phase goes on
	// until it has had that effect, however slowly the machine runs.
	const s3Error = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected by faultproxy</Message></Error>`
	var errs500, delayed atomic.Int32
	count := func(c *atomic.Int32) func(*http.Request, []byte) bool {
		return func(*http.Request, []byte) bool { c.Add(1); return true }
	}
	puts0 := r.s3.Seen(faultproxy.KindS3Put)
	r.s3.Add(
		faultproxy.Rule{Kind: faultproxy.KindS3Put, Action: faultproxy.Status, Status: http.StatusInternalServerError,
			Probability: 0.3, Body: s3Error, Only: count(&errs500)},
		faultproxy.Rule{Kind: faultproxy.KindS3Put, Action: faultproxy.Delay, Delay: 300 * time.Millisecond,
			Probability: 0.5, Only: count(&delayed)},
		faultproxy.Rule{Kind: faultproxy.KindS3Post, Action: faultproxy.Status, Status: http.StatusInternalServerError,
			Probability: 0.3, Body: s3Error},
	)
	held1, _ := holdUntil(t, holdFor{atLeast: 10 * time.Second, atMost: 3 * time.Minute}, func() bool {
		if errs500.Load() > 0 {
			return true
		}
		prod.keepFlowing(t) // a commit to write files
		return false
	}, f)
	r.s3.Clear()
	t.Logf("S3 phase 1, %v: %d PUTs, %d answered 500, %d delayed 300ms; %d POSTs answered 500", held1.Round(time.Millisecond),
		r.s3.Seen(faultproxy.KindS3Put)-puts0, errs500.Load(), delayed.Load(), r.s3.Hits(faultproxy.KindS3Post))
	if errs500.Load() == 0 {
		t.Fatal("no PUT was answered 500: the scenario tested nothing")
	}
	puts1, errs1 := r.s3.Seen(faultproxy.KindS3Put), errs500.Load()
	failed1 := -1.0 // failed commit attempts before phase 2; -1 until /metrics answers
	if m, err := f.metrics(); err == nil {
		failed1, _ = attemptErrors(m)
	}
	r.s3.Add(faultproxy.Rule{Kind: faultproxy.KindS3Put, Action: faultproxy.Status, Status: http.StatusInternalServerError,
		Body: s3Error, Only: count(&errs500)})
	held2, _ := holdUntil(t, holdFor{atLeast: 10 * time.Second, atMost: 3 * time.Minute}, func() bool {
		if m, err := f.metrics(); err == nil {
			all, _ := attemptErrors(m)
			if failed1 < 0 {
				failed1 = all
			} else if all > failed1 {
				return true
			}
		}
		prod.keepFlowing(t) // a commit to fail
		return false
	}, f)
	r.s3.Clear()
	t.Logf("S3 phase 2, %v: all %d PUTs answered 500 (%d)", held2.Round(time.Millisecond), r.s3.Seen(faultproxy.KindS3Put)-puts1, errs500.Load()-errs1)

	ids := prod.wait(t)
	r.waitCaughtUp(5*time.Minute, f)
	if m, err := f.metrics(); err != nil {
		t.Errorf("/metrics: %v", err)
	} else {
		// A failed data file PUT counts as reason write; a failed manifest
		// PUT ("stage data files") as unknown.
		all, reasons := attemptErrors(m)
		t.Logf("failed commit attempts: %.0f (%s)", all, reasons)
		if all == 0 {
			t.Errorf("no commit attempt failed (floe_committer_attempt_errors_total) after %v of S3 answering every PUT with 500", held2.Round(time.Second))
		}
	}
	hist := r.finish(ids, f)
	requireUniqueCommitIDs(t, hist)
	t.Logf("commit outcomes in the log: %v", outcomeCounts(commitsByOutcome(f)))
	for _, e := range attemptWarnings(f) {
		t.Logf("logged attempt failure: %s", e)
	}
}

// TestFaultAccessDenied (j): the catalog answers 401 for 10 s, then 403 for
// 10 s (each on until floe has logged it), to table loads and commits. floe
// must say "access denied", keep running, retry with backoff (not in a
// loop), and resume by itself.
func TestFaultAccessDenied(t *testing.T) {
	s := needServices(t)
	const n = 15_000
	r := newFaultRig(t, s, "rest-file", 8, proxies{catalog: true})
	prod := startProducer(t, r.cl, r.topic, pacedRun{n: n, rate: 1000})
	f := r.startWith("a", commitSection{timeout: "5s", retryMin: "100ms", retryMax: "2s", giveUpAfter: "10m"})
	f.waitReady(t)
	r.waitCommitted(n*10/100, f)

	seen := func() int {
		return r.rest.Seen(faultproxy.KindLoadTable) + r.rest.Seen(faultproxy.KindCommit)
	}
	const window = 10 * time.Second
	before := seen()
	start := time.Now()
	var perStatus []string
	// Bodies as an Iceberg REST server sends them: floe must pass the
	// catalog's reason on.
	bodies := map[int]string{
		http.StatusUnauthorized: `{"error":{"message":"Not authorized: token expired","type":"NotAuthorizedException","code":401}}`,
		http.StatusForbidden:    `{"error":{"message":"Forbidden: no grant on the table","type":"ForbiddenException","code":403}}`,
	}
	// What a log line carries of each answer's body: the catalog's reason.
	reasons := map[int]string{http.StatusUnauthorized: "NotAuthorizedException", http.StatusForbidden: "ForbiddenException"}
	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		s0 := seen()
		r.rest.Add(
			faultproxy.Rule{Kind: faultproxy.KindLoadTable, Action: faultproxy.Status, Status: code, Body: bodies[code]},
			faultproxy.Rule{Kind: faultproxy.KindCommit, Action: faultproxy.Status, Status: code, Body: bodies[code]},
		)
		// floe logs a failed attempt at most once per 10s: each status
		// lasts until floe has logged it, however slowly the machine runs.
		held, _ := holdUntil(t, holdFor{atLeast: window, atMost: 3 * time.Minute}, func() bool {
			for _, line := range strings.Split(f.log(), "\n") {
				if strings.Contains(line, "access denied") && strings.Contains(line, reasons[code]) {
					return true
				}
			}
			prod.keepFlowing(t) // a commit to refuse
			return false
		}, f)
		r.rest.Clear()
		perStatus = append(perStatus, fmt.Sprintf("%d: %d requests in %v", code, seen()-s0, held.Round(time.Millisecond)))
	}
	elapsed := time.Since(start)
	requests := seen() - before
	t.Logf("access denied for %v: %d table loads and commits (%s), about one per %v",
		elapsed.Round(time.Millisecond), requests, strings.Join(perStatus, "; "),
		(elapsed / time.Duration(max(requests, 1))).Round(time.Millisecond))
	if requests == 0 {
		t.Errorf("floe sent no table load or commit in %v: it did not retry", elapsed)
	}
	// Backoff, not a loop: far fewer than one request per 50ms (a tight
	// retry would make hundreds); with retry-max 2s expect about one a second.
	// A bound that holds at any speed: a slower machine only sends fewer.
	if limit := int(elapsed / (200 * time.Millisecond)); requests > limit {
		t.Errorf("%d table loads and commits in %v (more than one per 200ms): attempts are not spaced by backoff", requests, elapsed)
	}

	var denied, unauthorized, forbidden int
	var example string
	for _, l := range f.logLines() {
		line := fmt.Sprint(l)
		if !strings.Contains(line, "access denied") {
			continue
		}
		if lvl := l.str("level"); lvl != "WARN" && lvl != "ERROR" {
			t.Errorf("access denied logged at level %s: %v", lvl, l)
		}
		denied++
		if example == "" {
			example = l.str("level") + " " + l.str("msg") + ": " + l.str("error")
		}
		if strings.Contains(line, reasons[http.StatusUnauthorized]) {
			unauthorized++
		}
		if strings.Contains(line, reasons[http.StatusForbidden]) {
			forbidden++
		}
	}
	t.Logf("log lines saying access denied: %d (%d with the catalog's 401 reason, %d with its 403 reason), e.g. %s",
		denied, unauthorized, forbidden, example)
	if denied == 0 {
		t.Errorf("floe never logged \"access denied\" during %v of 401/403 answers", elapsed)
	}
	if unauthorized == 0 || forbidden == 0 {
		t.Errorf("the access denied log lines carry the catalog's 401 reason %d times and its 403 reason %d times; want both", unauthorized, forbidden)
	}
	if m, err := f.metrics(); err != nil {
		t.Errorf("/metrics: %v", err)
	} else {
		ad, _ := metricSum(m, "floe_committer_attempt_errors_total", map[string]string{"table": r.table, "reason": "access_denied"})
		r401, _ := metricSum(m, "floe_catalog_request_duration_seconds_count", map[string]string{"operation": "load_table", "status": "401"})
		r403, _ := metricSum(m, "floe_catalog_request_duration_seconds_count", map[string]string{"operation": "load_table", "status": "403"})
		t.Logf("metrics: attempt_errors{reason=access_denied} %.0f; catalog load_table 401: %.0f, 403: %.0f", ad, r401, r403)
		if ad == 0 {
			t.Errorf("floe_committer_attempt_errors_total{reason=access_denied} is 0")
		}
	}

	// Resumes by itself.
	r.resumeAndFinish(t, prod, f)
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

// attemptWarnings are the reason and error of p's logged failed commit
// attempts (floe logs at most one every 10s per table).
func attemptWarnings(p *floeProc) []string {
	var out []string
	for _, l := range p.logLines() {
		if l.str("msg") == "commit attempt failed; retrying" {
			out = append(out, l.str("reason")+": "+l.str("error"))
		}
	}
	return out
}
