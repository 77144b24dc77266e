//go:build e2e

package e2e

// Fault scenarios against real services, part three: a storm of SIGKILLs
// over a million records with three replicas (TestFaultKillStorm).

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floe-dev/floe/e2e/faultproxy"
)

// TestFaultKillStorm (a): three floe replicas in one group consume a
// 12-partition topic while 1,000,000 records arrive; 30 times, at a random
// instant, a random replica is killed with SIGKILL and a new one started in
// its place soon after, so three keep running. Whatever a dead replica had
// buffered, sealed or on the wire is lost with it and must be read again
// from the table's offsets by whoever gets its partitions; a commit it left
// half-sent must not land twice. The table must end up holding every record
// exactly once. At every fifth kill the storm first waits until one of the
// replicas started since the last such gate has committed, so that the
// count of writers asserted at the end holds however slowly replicas start
// and join on a busy machine.
func TestFaultKillStorm(t *testing.T) {
	s := needServices(t)
	const (
		n          = 1_000_000
		partitions = 12
		replicas   = 3
		kills      = 30
		rate       = 12_000 // records per second: about 85 s of producing
	)
	began := time.Now()
	rng := seededRand(t)
	p := newPipeline(t, s, "rest-file", partitions)
	prod := startProducer(t, p.cl, p.topic, pacedRun{n: n, rate: rate})

	started := 0
	launch := func(slot int) *floeProc {
		started++
		return p.start(fmt.Sprintf("r%d-%02d", slot, started))
	}
	live := make([]*floeProc, replicas)
	for i := range live {
		live[i] = launch(i)
	}
	for _, f := range live {
		f.waitReady(t)
	}
	p.waitCommitted(n/100, live...)
	waitEachCommitted(t, prod, live...)
	gateFrom := len(p.procs) // the first replica started since the last gate

	// Spread the kills over what is left of the producing, at random gaps
	// around the mean, so they land anywhere in the replicas' batch, commit
	// and rebalance cycles: also on replicas that are still starting up.
	left := time.Duration(float64(n-prod.produced()) / rate * float64(time.Second))
	mean := max(left/kills, time.Second)
	stormStart := time.Now()
	var (
		upAtKill     []time.Duration
		commitsAtDie int
		unready      int
	)
	bornAt := map[*floeProc]time.Time{}
	for _, f := range live {
		bornAt[f] = stormStart
	}
	for k := 1; k <= kills; k++ {
		if k%5 == 0 {
			since := p.procs[gateFrom:]
			waitFor(t, fmt.Sprintf("a commit by one of the %d replicas started since the last gate", len(since)), 3*time.Minute, func() bool {
				for _, proc := range since {
					if proc.committedOnce() {
						return true
					}
				}
				prod.keepFlowing(t)
				return false
			}, live...)
			gateFrom = len(p.procs)
		}
		gap := mean/2 + time.Duration(rng.Int64N(int64(mean)))
		hold(t, gap, live...)
		slot := rng.IntN(replicas)
		victim := live[slot]
		if victim.readyStatus() != 200 {
			unready++
		}
		victim.kill(t)
		up := time.Since(bornAt[victim])
		upAtKill = append(upAtKill, up)
		commitsAtDie += strings.Count(victim.log(), `"msg":"commit","`)
		t.Logf("kill %2d/%d at %6.1fs: SIGKILL %s (pid %d, up %v, %d records produced so far)",
			k, kills, time.Since(stormStart).Seconds(), victim.name, victim.cmd.Process.Pid,
			up.Round(100*time.Millisecond), prod.produced())
		// Restart soon after: the dead member stays in the group until its
		// session times out, the new one joins at once.
		time.Sleep(time.Duration(rng.Int64N(int64(1500 * time.Millisecond))))
		live[slot] = launch(slot)
		bornAt[live[slot]] = time.Now()
	}
	storm := time.Since(stormStart)
	var upSum time.Duration
	for _, u := range upAtKill {
		upSum += u
	}
	t.Logf("storm: %d SIGKILLs and %d restarts in %v (mean gap %v); victims were up %v on average, %d of them not ready (starting up or rebalancing) when killed; the killed replicas had logged %d commits",
		kills, started-replicas, storm.Round(time.Millisecond), mean.Round(time.Millisecond),
		(upSum / kills).Round(100*time.Millisecond), unready, commitsAtDie)

	ids := prod.wait(t)
	t.Logf("producer done: %d records after %v", len(ids), time.Since(began).Round(time.Millisecond))
	catchUp := time.Now()
	hist := p.finish(ids, live...)
	t.Logf("caught up, stopped and judged in %v after the producer finished", time.Since(catchUp).Round(time.Millisecond))
	requireUniqueCommitIDs(t, hist)

	outcomes := outcomeCounts(commitsByOutcome(p.procs...))
	var failed, fenced, reseeks, dropped int
	for _, proc := range p.procs {
		log := proc.log()
		failed += countLog(log, `"msg":"commit attempt failed; retrying"`)
		fenced += countLog(log, `"msg":"batch fenced`)
		reseeks += countLog(log, `"msg":"partition re-seeked`)
		dropped += countLog(log, `"msg":"uncommitted batches dropped`)
	}
	t.Logf("figures: %d records, %d partitions, %d processes in all (%d kills, %d restarts), %d commits in the table by %d writers; commit outcomes in the logs %v; %d logged failed attempts (rate-limited), %d fenced batches, %d re-seeks, %d drops of uncommitted batches on revocation; total %v",
		len(ids), partitions, len(p.procs), kills, started-replicas, len(hist), len(writerInstances(hist)), outcomes,
		failed, fenced, reseeks, dropped, time.Since(began).Round(time.Millisecond))
	if w := len(writerInstances(hist)); w < replicas+kills/5 {
		// Most replicas live for seconds only, but a storm in which
		// hardly any of them committed tested little.
		t.Errorf("commits come from %d floe instances of %d started", w, len(p.procs))
	}
}

// TestFaultTopicRecreated (h): the topic is deleted and recreated under the
// same name on the real broker. A floe running through it must stop with
// the topic-ID mismatch and the override named, exit non-zero and lose
// nothing; a fresh floe must refuse to start the same way; with
// kafka.allow-topic-mismatch set, floe consumes the new topic from
// kafka.start-from, and the readers see the old and the new records once.
func TestFaultTopicRecreated(t *testing.T) {
	s := needServices(t)
	const partitions, n1, n2 = 4, 8_000, 6_000
	p := newPipeline(t, s, "rest-file", partitions)
	prod := startProducer(t, p.cl, p.topic, pacedRun{n: n1, rate: 4000})
	running := p.start("running")
	running.waitReady(t)
	oldIDs := prod.wait(t)
	p.waitCaughtUp(5*time.Minute, running)
	oldEnds := endOffsets(t, p.adm, p.topic)
	clusterID, oldTopicID := topicIdentity(t, p.adm, p.topic)
	_, oldHist, err := p.committed()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("old topic %s (ID %s) fully committed: %d records in %d commits, ends %v", p.topic, oldTopicID, n1, len(oldHist), oldEnds)

	// Delete and recreate while floe runs.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	deleted := time.Now()
	if res, err := p.adm.DeleteTopic(ctx, p.topic); err != nil || res.Err != nil {
		t.Fatalf("delete topic %s: %v %v", p.topic, err, res.Err)
	}
	if err := retryFor(2*time.Minute, func() error {
		topics, err := p.adm.ListTopics(ctx, p.topic)
		if err == nil && topics.Has(p.topic) {
			err = fmt.Errorf("topic %s still listed", p.topic)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	createTopic(t, p.adm, p.topic, partitions)
	_, newTopicID := topicIdentity(t, p.adm, p.topic)
	t.Logf("topic deleted and recreated in %v: new ID %s", time.Since(deleted).Round(time.Millisecond), newTopicID)
	if newTopicID == oldTopicID {
		t.Fatalf("the recreated topic kept ID %s", oldTopicID)
	}

	// The running replica stops by itself.
	code := running.wait(t, 3*time.Minute)
	requireMismatchRefusal(t, running, code, p.topic, "deleted and recreated while floe ran")
	t.Logf("the running floe exited %d %v after the deletion", code, time.Since(deleted).Round(time.Millisecond))

	// A fresh process refuses to start, and the table is as it was.
	fresh := p.start("fresh")
	code = fresh.wait(t, 3*time.Minute)
	requireMismatchRefusal(t, fresh, code, p.topic, "it was deleted and recreated")
	hist, err := floeCommits(p.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != len(oldHist) {
		t.Fatalf("the table has %d commits after the refusals; it had %d", len(hist), len(oldHist))
	}
	py, duck := readTable(t, s, p.catalog, p.table, p.group, oldIDs)
	requireExactlyOnce(t, expectation{
		topic: p.topic, ids: oldIDs, ends: oldEnds, clusterID: clusterID, topicID: oldTopicID, commits: hist,
	}, py, duck)
	t.Logf("the readers find the old topic's %d records intact after both refusals", len(oldIDs))

	// With the override: the new topic from kafka.start-from (earliest).
	cl, adm := kafkaClient(t, s) // the old client caches the old topic ID
	newProd := startProducer(t, cl, p.topic, pacedRun{first: n1, n: n2, rate: 4000})
	over := p.startEdited("override", "kafka:\n", "kafka:\n  allow-topic-mismatch: true\n")
	newIDs := newProd.wait(t)
	newEnds := endOffsets(t, adm, p.topic)
	old := map[int64]bool{}
	for _, c := range oldHist {
		old[c.SnapshotID] = true
	}
	var newHist []commitInfo
	p.waitUntil("the new topic committed to its end", 5*time.Minute, func(map[int32]int64) bool {
		all, err := floeCommits(p.cfgPath)
		if err != nil {
			return false
		}
		newHist = newHist[:0]
		for _, c := range all {
			if !old[c.SnapshotID] {
				newHist = append(newHist, c)
			}
		}
		return maps.Equal(committedOffsets(newHist, p.topic), withoutEmpty(newEnds))
	}, over)
	over.stop(t)
	if !strings.Contains(over.log(), "topic ID mismatch overridden") {
		t.Errorf("floe with kafka.allow-topic-mismatch did not log that it overrode the mismatch")
	}

	hist, err = floeCommits(p.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ids := append(append([]string(nil), oldIDs...), newIDs...)
	py, duck = readTable(t, s, p.catalog, p.table, p.group, ids)
	requireOldAndNew(t, py, duck, ids, oldEnds, newEnds)
	checkOffsets(t, py.Offsets, expectation{topic: p.topic, ends: newEnds, clusterID: clusterID, topicID: newTopicID})
	checkSnapshots(t, py, expectation{ids: ids, commits: hist})
	checkHistory(t, expectation{topic: p.topic, ids: oldIDs, ends: oldEnds, commits: oldHist})
	checkHistory(t, expectation{topic: p.topic, ids: newIDs, ends: newEnds, commits: newHist})
	requireUniqueCommitIDs(t, hist)
	t.Logf("with the override: %d new records in %d commits from offset 0 of the new topic (ends %v); the table holds %d old + %d new records once, offsets stored under topic ID %s",
		len(newIDs), len(newHist), newEnds, len(oldIDs), len(newIDs), newTopicID)
}

// requireMismatchRefusal: proc exited non-zero with the topic-ID mismatch,
// the topic, why, and the override named.
func requireMismatchRefusal(t testing.TB, proc *floeProc, code int, topic, why string) {
	t.Helper()
	log := proc.log()
	var line string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "topic ID mismatch") {
			line = l
			break
		}
	}
	t.Logf("floe %s exited %d: %s", proc.name, code, line)
	if code == 0 {
		t.Errorf("floe %s exited 0 on a recreated topic", proc.name)
	}
	for _, want := range []string{"topic ID mismatch", fmt.Sprintf("topic %q", topic), why, "kafka.allow-topic-mismatch"} {
		if !strings.Contains(line, want) {
			t.Errorf("floe %s's refusal lacks %q: %s\nlog tail:\n%s", proc.name, want, line, proc.logTail(20))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// requireOldAndNew: both readers see every id once, and every partition
// holds the old topic's offsets and the new one's (the same offsets twice,
// once per incarnation).
func requireOldAndNew(t testing.TB, py, duck readerResult, ids []string, oldEnds, newEnds map[int32]int64) {
	t.Helper()
	agg := expectedAggregates(len(ids))
	for _, r := range []struct {
		name string
		res  readerResult
	}{{"pyiceberg", py}, {"duckdb", duck}} {
		res := r.res
		if res.Error != "" {
			t.Errorf("%s could not read the table: %s\n%s", r.name, res.Error, res.Traceback)
			continue
		}
		if res.Rows != len(ids) || res.DistinctIDs != len(ids) || res.DuplicateCount != 0 || res.MissingCount != 0 || res.UnexpectedCount != 0 {
			t.Errorf("%s: %d rows, %d distinct ids, %d duplicated, %d missing, %d unexpected; want %d ids once",
				r.name, res.Rows, res.DistinctIDs, res.DuplicateCount, res.MissingCount, res.UnexpectedCount, len(ids))
		}
		if res.aggregates != agg {
			t.Errorf("%s: column aggregates differ\n got: %+v\nwant: %+v", r.name, res.aggregates, agg)
		}
		for part, oe := range oldEnds {
			ne := newEnds[part]
			want := coverage{Rows: oe + ne, Distinct: max(oe, ne), Min: 0, Max: max(oe, ne) - 1}
			if got := res.Partitions[strconv.Itoa(int(part))]; got != want {
				t.Errorf("%s: partition %d holds %+v; want old offsets 0..%d and new 0..%d (%+v)", r.name, part, got, oe-1, ne-1, want)
			}
		}
	}
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

// TestFaultS3AccessDenied (j, storage): with the S3 warehouse, S3 answers
// every PUT (and multipart POST) with 403 AccessDenied, as S3 does, for
// 10 s and on until floe has said so. floe must say access denied, naming
// the S3 endpoint and the operation, back off instead of spinning, keep its
// data, and resume by itself once access is back.
func TestFaultS3AccessDenied(t *testing.T) {
	s := needServices(t)
	const n = 15_000
	r := newFaultRig(t, s, "rest-s3", 8, proxies{s3: true})
	prod := startProducer(t, r.cl, r.topic, pacedRun{n: n, rate: 1000})
	f := r.startWith("a", commitSection{timeout: "5s", retryMin: "100ms", retryMax: "2s", giveUpAfter: "10m"})
	f.waitReady(t)
	r.waitCommitted(n*10/100, f)

	const denied = `<?xml version="1.0" encoding="UTF-8"?>` +
		`<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>faultproxy</RequestId></Error>`
	puts0, posts0 := r.s3.Seen(faultproxy.KindS3Put), r.s3.Seen(faultproxy.KindS3Post)
	start := time.Now()
	r.s3.Add(
		faultproxy.Rule{Kind: faultproxy.KindS3Put, Action: faultproxy.Status, Status: http.StatusForbidden, Body: denied, ContentType: "application/xml"},
		faultproxy.Rule{Kind: faultproxy.KindS3Post, Action: faultproxy.Status, Status: http.StatusForbidden, Body: denied, ContentType: "application/xml"},
	)
	wants := []string{"S3 PutObject", "refused by " + r.s3.URL(), "AccessDenied"}
	// deniedLines are floe's log lines saying access denied by object storage.
	deniedLines := func() []logLine {
		var out []logLine
		for _, l := range f.logLines() {
			if strings.Contains(fmt.Sprint(l), "access denied by object storage") {
				out = append(out, l)
			}
		}
		return out
	}
	// 10 s, and on until floe has said everything asserted below: how soon
	// depends on the machine.
	var counted bool // floe_committer_attempt_errors_total{reason=access_denied} > 0
	holdUntil(t, holdFor{atLeast: 10 * time.Second, atMost: 3 * time.Minute}, func() bool {
		said := r.s3.Hits(faultproxy.KindS3Put)+r.s3.Hits(faultproxy.KindS3Post) > 0
		lines := deniedLines()
		for _, want := range wants {
			found := false
			for _, l := range lines {
				found = found || strings.Contains(l.str("msg")+": "+l.str("error"), want)
			}
			said = said && found
		}
		if said && !counted {
			if m, err := f.metrics(); err == nil {
				ad, _ := metricSum(m, "floe_committer_attempt_errors_total", map[string]string{"table": r.table, "reason": "access_denied"})
				counted = ad > 0
			}
		}
		if said && counted {
			return true
		}
		prod.keepFlowing(t) // a commit to refuse
		return false
	}, f)
	r.s3.Clear()
	elapsed := time.Since(start)
	refused := r.s3.Hits(faultproxy.KindS3Put) + r.s3.Hits(faultproxy.KindS3Post)
	sent := r.s3.Seen(faultproxy.KindS3Put) - puts0 + r.s3.Seen(faultproxy.KindS3Post) - posts0
	t.Logf("S3 refused %d PUT/POST requests with 403 AccessDenied in %v (about one per %v)",
		refused, elapsed.Round(time.Millisecond), (elapsed / time.Duration(max(refused, 1))).Round(time.Millisecond))
	if refused == 0 {
		t.Fatal("floe sent no PUT while S3 denied access: the scenario tested nothing")
	}
	// A bound that holds at any speed: a slower machine only sends fewer.
	if limit := int(elapsed / (100 * time.Millisecond)); sent > limit {
		t.Errorf("%d PUT/POST requests in %v (more than one per 100ms): floe spins instead of backing off", sent, elapsed)
	}

	var lines []string
	for _, l := range deniedLines() {
		if lvl := l.str("level"); lvl != "WARN" && lvl != "ERROR" {
			t.Errorf("storage access denied logged at level %s: %v", lvl, l)
		}
		lines = append(lines, l.str("level")+" "+l.str("msg")+": "+l.str("error"))
	}
	t.Logf("log lines saying access denied by object storage: %d", len(lines))
	for _, l := range lines[:min(len(lines), 3)] {
		t.Logf("  %s", l)
	}
	if len(lines) == 0 {
		t.Errorf("floe never logged \"access denied by object storage\" during %v of 403s", elapsed)
	}
	for _, want := range wants {
		found := false
		for _, l := range lines {
			found = found || strings.Contains(l, want)
		}
		if len(lines) > 0 && !found {
			t.Errorf("no access denied log line names %q", want)
		}
	}
	if m, err := f.metrics(); err != nil {
		t.Errorf("/metrics: %v", err)
	} else {
		ad, _ := metricSum(m, "floe_committer_attempt_errors_total", map[string]string{"table": r.table, "reason": "access_denied"})
		t.Logf("metrics: attempt_errors{reason=access_denied} %.0f", ad)
		if ad == 0 {
			t.Errorf("floe_committer_attempt_errors_total{reason=access_denied} is 0 after S3 refused %d writes", refused)
		}
	}

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
