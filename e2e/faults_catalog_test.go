//go:build e2e

package e2e

// Faults of the REST catalog, injected by the fault rig's proxy in front of
// it: commit responses lost after the catalog applied the commit
// (TestFaultLostCommitResponses), a storm of 409s on two replicas' commits
// (TestFaultConflictStorm), every request answered 503
// (TestFaultCatalogOutage), 401 and then 403 (TestFaultAccessDenied), and
// floe's OAuth2 token revoked (TestFaultTokenRevoked).

import (
	"fmt"
	"net/http"
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

func hitsAll(p *faultproxy.Proxy) int {
	n := 0
	for _, k := range restKinds {
		n += p.Hits(k)
	}
	return n
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

// TestFaultTokenRevoked (j, OAuth2): floe authenticates to the REST
// catalog with a client credential and gets a token from
// /v1/oauth/tokens. Then the token is revoked: every request carrying it is
// answered 401, while the token endpoint issues a new one (the proxy plays
// the identity provider: the reference server always issues the same token
// for a client and checks none). floe must fetch a new token and go on,
// without a restart; the old token must not come back. The revocation is
// watched for 10 s and on until floe has moved to the new token.
func TestFaultTokenRevoked(t *testing.T) {
	s := needServices(t)
	const n = 15_000
	const client = "floe-e2e"
	r := newFaultRig(t, s, "rest-file", 8, proxies{catalog: true})
	r.conf.catalog += "\n  rest:\n    credential: " + client + ":not-a-secret"
	prod := startProducer(t, r.cl, r.topic, pacedRun{n: n, rate: 1000})
	f := r.startWith("a", commitSection{timeout: "5s", retryMin: "100ms", retryMax: "2s", giveUpAfter: "10m"})
	f.waitReady(t)
	r.waitCommitted(n*10/100, f)
	tokens0 := r.rest.Seen(faultproxy.KindToken)
	if tokens0 == 0 {
		t.Fatal("floe fetched no token through the proxy: catalog.rest.credential was not used")
	}
	// What the reference server issues for a client_credentials grant.
	old := "Bearer client-credentials-token:sub=" + client
	const fresh = "floe-e2e-rotated-token"

	var rejected, withFresh atomic.Int32
	count := func(c *atomic.Int32, hit bool) func(*http.Request, []byte) bool {
		return func(*http.Request, []byte) bool { c.Add(1); return hit }
	}
	var rules []faultproxy.Rule
	for _, k := range restKinds {
		if k == faultproxy.KindToken {
			continue
		}
		rules = append(rules,
			faultproxy.Rule{Kind: k, Action: faultproxy.Status, Status: http.StatusUnauthorized,
				Headers: map[string]string{"Authorization": old}, Only: count(&rejected, true),
				Body: `{"error":{"message":"Not authorized: the token was revoked","type":"NotAuthorizedException","code":401}}`},
			// Never hits: counts the requests that carry the fresh token.
			faultproxy.Rule{Kind: k, Headers: map[string]string{"Authorization": "Bearer " + fresh}, Only: count(&withFresh, false)},
		)
	}
	rules = append(rules, faultproxy.Rule{Kind: faultproxy.KindToken, Action: faultproxy.Status, Status: http.StatusOK,
		Body: `{"access_token":"` + fresh + `","token_type":"Bearer","issued_token_type":"urn:ietf:params:oauth:token-type:access_token"}`})
	r.rest.Add(rules...)
	revoked := time.Now()
	// 10 s, and on until floe has met the revocation, fetched a new token
	// and sent a request with it after the last one with the old token:
	// how soon depends on the machine.
	var lastRejected, freshAtLastRejected int32
	held, _ := holdUntil(t, holdFor{atLeast: 10 * time.Second, atMost: 3 * time.Minute}, func() bool {
		rej := rejected.Load()
		fresh := withFresh.Load()
		if rej != lastRejected {
			lastRejected, freshAtLastRejected = rej, fresh
		}
		if lastRejected > 0 && r.rest.Seen(faultproxy.KindToken) > tokens0 && fresh > freshAtLastRejected {
			return true
		}
		prod.keepFlowing(t) // requests to make
		return false
	}, f)
	tokens := r.rest.Seen(faultproxy.KindToken) - tokens0
	t.Logf("%v after the revocation: %d requests with the revoked token answered 401, %d new tokens fetched, %d requests with the new token",
		held.Round(time.Millisecond), rejected.Load(), tokens, withFresh.Load())
	if rejected.Load() == 0 {
		t.Fatal("no request carried the revoked token: the scenario tested nothing")
	}
	if tokens == 0 {
		t.Fatalf("floe fetched no new token in %v after its token was revoked", held.Round(time.Second))
	}
	if withFresh.Load() == 0 {
		t.Fatalf("no request carried the new token")
	}
	// The revoked token is gone for good: no request carries it any more.
	before := rejected.Load()
	ids := prod.wait(t)
	r.waitCaughtUp(5*time.Minute, f)
	t.Logf("caught up %v after the revocation, with the new token", time.Since(revoked).Round(time.Millisecond))
	if late := rejected.Load() - before; late > 0 {
		t.Errorf("%d more requests carried the revoked token after floe had a new one", late)
	}
	if m, err := f.metrics(); err != nil {
		t.Errorf("/metrics: %v", err)
	} else {
		tok, _ := metricSum(m, "floe_catalog_request_duration_seconds_count", map[string]string{"operation": "token", "status": "200"})
		var r401 float64
		for _, op := range []string{"load_table", "commit_table", "config", "namespace", "other"} {
			v, _ := metricSum(m, "floe_catalog_request_duration_seconds_count", map[string]string{"operation": op, "status": "401"})
			r401 += v
		}
		t.Logf("metrics: token requests answered 200: %.0f; catalog requests answered 401: %.0f", tok, r401)
		if tok < 2 || r401 == 0 {
			t.Errorf("metrics show %.0f token fetches and %.0f 401s; want at least 2 and 1", tok, r401)
		}
	}
	denied := 0
	for _, l := range f.logLines() {
		if strings.Contains(fmt.Sprint(l), "access denied") {
			denied++
			if denied == 1 {
				t.Logf("floe logged: %s %s: %s", l.str("level"), l.str("msg"), l.str("error"))
			}
		}
	}
	t.Logf("log lines saying access denied: %d (a commit refused with the old token is retried by the protocol; reads are retried at once with the new token)", denied)
	hist := r.finish(ids, f)
	requireUniqueCommitIDs(t, hist)
	t.Logf("commit outcomes in the log: %v; floe a (pid %d) ran throughout", outcomeCounts(commitsByOutcome(f)), f.cmd.Process.Pid)
}
