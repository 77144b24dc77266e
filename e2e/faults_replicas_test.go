//go:build e2e

package e2e

// Faults of the floe replicas themselves: a storm of SIGKILLs over a million
// records with three replicas (TestFaultKillStorm), and a replica frozen
// with SIGSTOP past its session so that it wakes up as a zombie holding
// stale batches (TestFaultZombie), one of its commits held in flight at the
// catalog meanwhile (TestFaultZombieInFlight).

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
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

// ownedPartitions folds proc's "partition assigned" / "partition revoked"
// log lines for topic into the partitions it holds now.
func ownedPartitions(proc *floeProc, topic string) []int32 {
	owned := map[int32]bool{}
	for _, l := range proc.logLines() {
		if l.str("topic") != topic {
			continue
		}
		part, _ := l["partition"].(float64)
		switch l.str("msg") {
		case "partition assigned":
			owned[int32(part)] = true
		case "partition revoked":
			delete(owned, int32(part))
		}
	}
	out := make([]int32, 0, len(owned))
	for p := range owned {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// assignedSince are the partitions of topic proc logged as assigned in its
// log lines from index from on.
func assignedSince(proc *floeProc, topic string, from int) map[int32]bool {
	out := map[int32]bool{}
	lines := proc.logLines()
	for _, l := range lines[min(from, len(lines)):] {
		if l.str("msg") == "partition assigned" && l.str("topic") == topic {
			part, _ := l["partition"].(float64)
			out[int32(part)] = true
		}
	}
	return out
}

// waitShared waits until a and b both hold partitions of topic, so a has
// something to lose, and returns a's.
func waitShared(t testing.TB, topic string, a, b *floeProc) []int32 {
	t.Helper()
	if _, ok := holdUntil(t, holdFor{atMost: 3 * time.Minute}, func() bool {
		return len(ownedPartitions(a, topic)) > 0 && len(ownedPartitions(b, topic)) > 0
	}, a, b); !ok {
		t.Fatalf("the replicas did not share the partitions within 3m: a %v, b %v",
			ownedPartitions(a, topic), ownedPartitions(b, topic))
	}
	aParts := ownedPartitions(a, topic)
	t.Logf("before the freeze: a holds %v, b holds %v", aParts, ownedPartitions(b, topic))
	return aParts
}

// TestFaultZombie (g): two replicas in one group; replica A is frozen with
// SIGSTOP for longer than the session timeout while records keep flowing, so
// the group fences it and B takes its partitions over and commits them (A
// stays frozen until B has, however long that takes on a busy machine).
// Then A is thawed with SIGCONT: it wakes up holding batches for partitions
// it no longer owns (a zombie). None of them may land: the judgement must
// find no duplicate, and A's log tells what it did with them.
func TestFaultZombie(t *testing.T) {
	s := needServices(t)
	const n = 30_000
	const frozen = 18 * time.Second // > kafka.session-timeout 6s and the broker's 10s consumer session
	r := newFaultRig(t, s, "rest-file", 8, proxies{})
	prod := startProducer(t, r.cl, r.topic, pacedRun{n: n, rate: 1000})
	commit := commitSection{timeout: "30s", retryMin: "100ms", retryMax: "1s", giveUpAfter: "10m"}
	a, b := r.startWith("a", commit), r.startWith("b", commit)
	// A stopped process must not outlive the test stopped.
	t.Cleanup(func() { _ = a.cmd.Process.Signal(syscall.SIGCONT) })
	a.waitReady(t)
	b.waitReady(t)
	r.waitCommitted(n*10/100, a, b)
	waitEachCommitted(t, prod, a, b) // the count of writers below

	// Wait until both hold partitions, so A has something to lose.
	aParts := waitShared(t, r.topic, a, b)

	bLines := len(b.logLines())
	tableBefore, _, err := r.committed()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(randUpTo(r.rng, time.Second)) // anywhere in a's batch/commit cycle
	if err := syscall.Kill(a.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP a: %v", err)
	}
	frozenAt := time.Now()
	t.Logf("a (pid %d) frozen with SIGSTOP for at least %v; table offsets %v", a.cmd.Process.Pid, frozen, tableBefore)
	// Frozen past the session, and on until B has taken over one of A's
	// partitions and committed it: what the test asserts next.
	held, _ := holdUntil(t, holdFor{atLeast: frozen, atMost: 3 * time.Minute}, func() bool {
		var taken []int32
		took := assignedSince(b, r.topic, bLines)
		for _, p := range aParts {
			if took[p] {
				taken = append(taken, p)
			}
		}
		if len(taken) > 0 {
			if now, _, err := r.committed(); err == nil {
				for _, p := range taken {
					if now[p] > tableBefore[p] {
						return true
					}
				}
			}
		}
		prod.keepFlowing(t) // records for b to commit
		return false
	}, a, b)
	tableFrozen, _, err := r.committed()
	if err != nil {
		t.Fatal(err)
	}
	took := assignedSince(b, r.topic, bLines)
	var takenOver, advanced []int32
	for _, p := range aParts {
		if took[p] {
			takenOver = append(takenOver, p)
		}
		if tableFrozen[p] > tableBefore[p] {
			advanced = append(advanced, p)
		}
	}
	t.Logf("while a was frozen: b was assigned %v of a's partitions %v; a's partitions whose table offsets advanced (b's commits): %v; table offsets %v",
		takenOver, aParts, advanced, tableFrozen)
	if len(takenOver) == 0 {
		t.Fatalf("b took over none of a's partitions %v in %v: the scenario tested nothing", aParts, held.Round(time.Second))
	}
	if len(advanced) == 0 {
		t.Errorf("no partition of a's %v advanced in the table while a was frozen: b did not commit them", aParts)
	}

	after, hist := thawAndJudge(t, r, prod, a, b, frozenAt)
	// Did the zombie commit (or try to) before it learnt it had lost its
	// partitions? Its first lines after waking tell.
	first := strings.Split(strings.TrimSpace(after), "\n")
	firstCommit, firstRevoke := -1, -1
	for i, line := range first {
		if firstCommit < 0 && (strings.Contains(line, `"msg":"commit","`) || strings.Contains(line, `"msg":"commit attempt failed`) ||
			strings.Contains(line, `"msg":"batch fenced`)) {
			firstCommit = i
		}
		if firstRevoke < 0 && strings.Contains(line, `"msg":"partition revoked"`) {
			firstRevoke = i
		}
	}
	switch {
	case firstCommit >= 0 && (firstRevoke < 0 || firstCommit < firstRevoke):
		t.Logf("a reached its committer (line %d after waking) before it logged a revocation (line %d): %s", firstCommit, firstRevoke, first[firstCommit])
	default:
		t.Logf("a logged the revocation of its partitions (line %d after waking) before any commit line (%d): its stale batches were dropped with the partitions", firstRevoke, firstCommit)
	}
	for i, line := range first[:min(len(first), 12)] {
		t.Logf("a woke, line %d: %s", i, line)
	}
	shown := 0
	for _, line := range strings.Split(after, "\n") {
		if shown < 25 && (strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) ||
			strings.Contains(line, "revoked") || strings.Contains(line, "assigned") || strings.Contains(line, "fenced")) {
			t.Logf("a: %s", line)
			shown++
		}
	}
	t.Logf("commit outcomes in the logs: a %v, b %v", outcomeCounts(commitsByOutcome(a)), outcomeCounts(commitsByOutcome(b)))
	if w := writerInstances(hist); len(w) < 2 {
		t.Errorf("commits come from %d floe instances; two ran in the group", len(w))
	}
}

// TestFaultZombieInFlight (g'): like TestFaultZombie, but replica A is
// frozen while one of its commits is in flight: A reaches the catalog
// through a proxy of its own that holds that commit request for at least
// 14 s and until the group has given some of A's partitions to B (the
// broker's consumer session is 10 s), then forwards it, while A itself
// stays frozen for at least 18 s and until the catalog has answered the
// stale commit. B may have committed A's partitions from the table's
// offsets by then. The stale commit must not land on top of B's (or B's must
// not land on top of it): no duplicate, no overlap.
func TestFaultZombieInFlight(t *testing.T) {
	s := needServices(t)
	const n = 30_000
	const frozen, held = 18 * time.Second, 14 * time.Second
	r := newFaultRig(t, s, "rest-file", 8, proxies{})
	px := startProxy(t, s.RESTFileURI, faultproxy.RESTCatalog, r.rng)
	direct := r.conf.catalog
	r.conf.catalog = faultCatalog(px.URL(), s.RESTFileWarehouse)
	prod := startProducer(t, r.cl, r.topic, pacedRun{n: n, rate: 1000})
	commit := commitSection{timeout: "30s", retryMin: "100ms", retryMax: "1s", giveUpAfter: "10m"}
	a := r.startWith("a", commit) // through px
	r.conf.catalog = direct
	b := r.startWith("b", commit) // direct
	t.Cleanup(func() { _ = a.cmd.Process.Signal(syscall.SIGCONT) })
	a.waitReady(t)
	b.waitReady(t)
	r.waitCommitted(n*10/100, a, b)
	aParts := waitShared(t, r.topic, a, b)

	// Catch a's next commit in the proxy and freeze a at once.
	h0 := px.Hits(faultproxy.KindCommit)
	release := make(chan struct{})
	var releaseOnce sync.Once
	forward := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(forward)
	px.Add(faultproxy.Rule{Kind: faultproxy.KindCommit, Action: faultproxy.Hold, Release: release, Times: 1})
	deadline := time.Now().Add(3 * time.Minute)
	for px.Hits(faultproxy.KindCommit) == h0 {
		if a.exited() || time.Now().After(deadline) {
			t.Fatalf("a sent no commit within 3m; log:\n%s", a.logTail(40))
		}
		prod.keepFlowing(t) // something for a to commit
		time.Sleep(2 * time.Millisecond)
	}
	if err := syscall.Kill(a.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP a: %v", err)
	}
	frozenAt := time.Now()
	bLines := len(b.logLines())
	tableBefore, _, err := r.committed()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a's commit held in the proxy for at least %v; a frozen for at least %v; table offsets %v", held, frozen, tableBefore)
	// The stale commit goes on once B has been given some of A's
	// partitions: the order the scenario is about, on a machine of any
	// speed.
	heldFor, _ := holdUntil(t, holdFor{atLeast: held, atMost: 3 * time.Minute}, func() bool {
		took := assignedSince(b, r.topic, bLines)
		for _, p := range aParts {
			if took[p] {
				return true
			}
		}
		return false
	}, a, b)
	atForward, _, _ := r.committed()
	answered := px.Answered(faultproxy.KindCommit)
	forward()
	// A wakes only once the catalog has answered the stale commit (the
	// answer waits in A's socket), and after frozen at the soonest.
	if _, ok := holdUntil(t, holdFor{atLeast: frozen - time.Since(frozenAt), atMost: 3 * time.Minute}, func() bool {
		return px.Answered(faultproxy.KindCommit) > answered
	}, a, b); !ok {
		t.Logf("the catalog has not answered the stale commit 3m after it was forwarded")
	}
	tableFrozen, _, err := r.committed()
	if err != nil {
		t.Fatal(err)
	}
	took := assignedSince(b, r.topic, bLines)
	var takenOver, advanced []int32
	for _, p := range aParts {
		if took[p] {
			takenOver = append(takenOver, p)
		}
		if atForward[p] > tableBefore[p] {
			advanced = append(advanced, p)
		}
	}
	t.Logf("b was assigned %v of a's partitions %v while a was frozen; of those, advanced in the table by B before the stale commit was forwarded (after %v): %v (table then %v); table after %v: %v",
		takenOver, aParts, heldFor.Round(time.Millisecond), advanced, atForward, time.Since(frozenAt).Round(time.Millisecond), tableFrozen)
	if len(takenOver) == 0 {
		t.Fatalf("b took over none of a's partitions %v in %v: the scenario tested nothing", aParts, heldFor.Round(time.Second))
	}
	after, hist := thawAndJudge(t, r, prod, a, b, frozenAt)
	first := strings.Split(strings.TrimSpace(after), "\n")
	for i, line := range first[:min(len(first), 14)] {
		t.Logf("a woke, line %d: %s", i, line)
	}
	// The commit that was held in the proxy: follow it through a's log.
	var heldID string
	for _, line := range first {
		if k := strings.Index(line, `"commit_id":"`); k >= 0 {
			heldID, _, _ = strings.Cut(line[k+len(`"commit_id":"`):], `"`)
			break
		}
	}
	if heldID != "" {
		_, inTable := requireUniqueCommitIDs(t, hist)[heldID]
		t.Logf("first commit a touched after waking, %s: in the table's history: %v; a's log lines about it:", heldID, inTable)
		for _, line := range strings.Split(a.log(), "\n") {
			if strings.Contains(line, heldID) {
				t.Logf("a: %s", line)
			}
		}
	}
	for _, line := range strings.Split(b.log(), "\n") {
		if strings.Contains(line, `"msg":"batch fenced`) || strings.Contains(line, `"msg":"partition re-seeked`) {
			t.Logf("b: %s", line)
		}
	}
	t.Logf("commit outcomes in the logs: a %v, b %v", outcomeCounts(commitsByOutcome(a)), outcomeCounts(commitsByOutcome(b)))
}

// thawAndJudge wakes the frozen replica a, lets both replicas run on, judges
// the table, and returns a's log since it woke (after logging what it did)
// and the commit history.
func thawAndJudge(t testing.TB, r *faultRig, prod *producer, a, b *floeProc, frozenAt time.Time) (string, []commitInfo) {
	t.Helper()
	aLog := len(a.log())
	if err := syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT a: %v", err)
	}
	t.Logf("a thawed with SIGCONT after %v", time.Since(frozenAt).Round(time.Millisecond))
	// Let both run on, at least until a is back in the group, so that its
	// log shows what the zombie did with its stale batches.
	if _, ok := holdUntil(t, holdFor{atLeast: 10 * time.Second, atMost: 3 * time.Minute}, func() bool {
		return strings.Contains(a.log()[aLog:], `"msg":"partition assigned"`)
	}, a, b); !ok {
		t.Logf("a has not been assigned a partition again 3m after SIGCONT")
	}

	ids := prod.wait(t)
	hist := r.finish(ids, a, b)
	requireUniqueCommitIDs(t, hist)

	after := a.log()[aLog:]
	t.Logf("a after SIGCONT: %d fenced batches, %d re-seeks, %d failed commit attempts, %d revoked, %d assigned, %d commits",
		countLog(after, `"msg":"batch fenced`), countLog(after, `"msg":"partition re-seeked`),
		countLog(after, `"msg":"commit attempt failed; retrying"`), countLog(after, `"msg":"partition revoked"`),
		countLog(after, `"msg":"partition assigned"`), countLog(after, `"msg":"commit","`))
	return after, hist
}
