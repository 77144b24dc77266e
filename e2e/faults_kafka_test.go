//go:build e2e

package e2e

// Faults on the Kafka side: the broker stopped and crashed under a running
// floe (TestFaultBrokerRestart), the consumer group's offsets reset and the
// group deleted (TestFaultGroupOffsetsReset), and the topic deleted and
// recreated under the same name (TestFaultTopicRecreated).

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// testbedScript returns the path the testbed's env file gives for key
// (E2E_KAFKA_STOP, E2E_KAFKA_START), or fails the test.
func testbedScript(t testing.TB, key string) string {
	t.Helper()
	f, err := os.Open(envFile())
	if err != nil {
		t.Fatalf("read the testbed's env file: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "), "=")
		if ok && strings.TrimSpace(k) == key {
			v = strings.Trim(strings.TrimSpace(v), `"'`)
			if v != "" {
				return v
			}
		}
	}
	t.Fatalf("%s lacks %s: run e2e/testbed/up.sh again", envFile(), key)
	return ""
}

// runTestbed runs a testbed script with args and returns how long it took.
func runTestbed(t testing.TB, script string, args ...string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, script, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", script, strings.Join(args, " "), err, out)
	}
	return time.Since(start)
}

// brokerDowntime is how brokerOutage takes the broker down, and for how long.
type brokerDowntime struct {
	crash bool          // SIGKILL, and log recovery on restart; else a controlled shutdown
	down  time.Duration // how long the broker stays down
}

// brokerOutage stops the broker with the testbed's script stop as o says,
// keeps it down for o.down while procs must stay alive, and starts it again
// with start.
func brokerOutage(t testing.TB, stop, start string, o brokerDowntime, prod *producer, procs ...*floeProc) {
	t.Helper()
	how, args := "controlled stop", []string(nil)
	if o.crash {
		how, args = "crash (SIGKILL)", []string{"--kill"}
	}
	before := prod.produced()
	took := runTestbed(t, stop, args...)
	t.Logf("broker: %s took %v (%d records produced so far)", how, took.Round(time.Millisecond), before)
	hold(t, o.down, procs...) // the outage lasts o.down; nothing asserted counts what happened in it
	during := prod.produced()
	took = runTestbed(t, start)
	t.Logf("broker: down for %v, then started again in %v (records acknowledged while it was down: %d)",
		o.down, took.Round(time.Millisecond), during-before)
}

// TestFaultBrokerRestart (e): the only Kafka broker is stopped (controlled
// shutdown) for ~5 s and later crashed with SIGKILL and restarted (log
// recovery) while floe consumes and a producer writes. floe must ride both
// outages out without exiting, resume (read records written after each
// restart), and the table must hold every record once. Restarting the
// broker affects every test using it: run this one alone (-run
// TestFaultBrokerRestart).
func TestFaultBrokerRestart(t *testing.T) {
	s := needServices(t)
	stop, start := testbedScript(t, "E2E_KAFKA_STOP"), testbedScript(t, "E2E_KAFKA_START")
	// Whatever happens, leave the broker running for whoever comes next.
	t.Cleanup(func() {
		if out, err := exec.Command(start).CombinedOutput(); err != nil {
			t.Logf("cleanup: %s: %v\n%s", start, err, out)
		}
	})
	const n = 20_000
	r := newFaultRig(t, s, "rest-file", 8, proxies{})
	prod := startProducer(t, r.cl, r.topic, pacedRun{n: n, rate: 1000})
	f := r.startWith("a", commitSection{timeout: "60s", retryMin: "100ms", retryMax: "2s", giveUpAfter: "10m"})
	f.waitReady(t)
	r.waitCommitted(n*15/100, f)

	// 1: controlled shutdown, down ~5 s.
	brokerOutage(t, stop, start, brokerDowntime{down: 5 * time.Second}, prod, f)
	r.waitResumed(prod, n*10/100, "the controlled stop", f)

	// 2: crash (SIGKILL), restart with log recovery.
	r.waitCommitted(n*45/100, f)
	if prod.produced() >= n {
		t.Logf("note: the producer had finished before the crash")
	}
	brokerOutage(t, stop, start, brokerDowntime{crash: true, down: 2 * time.Second}, prod, f)
	r.waitResumed(prod, n*10/100, "the crash", f)

	ids := prod.wait(t)
	hist := r.finish(ids, f)
	requireUniqueCommitIDs(t, hist)
	log := f.log()
	t.Logf("floe a during the outages: %d \"fetch error; the client retries\" warnings, %d failed commit attempts, %d re-seeks, %d fenced batches; commit outcomes %v",
		countLog(log, `"msg":"fetch error; the client retries"`), countLog(log, `"msg":"commit attempt failed; retrying"`),
		countLog(log, `"msg":"partition re-seeked`), countLog(log, `"msg":"batch fenced`), outcomeCounts(commitsByOutcome(f)))
	for _, l := range f.logLines() {
		if l.str("level") == "ERROR" {
			t.Logf("floe a logged an error: %v", l)
		}
	}
}

// waitResumed writes k records now that the broker is back and waits until
// the table holds every partition up to the end offsets listed after them:
// floe read again after the restart. Records written after the restart,
// rather than a share of the paced run, so that it holds however far floe
// had got before the outage.
func (p *pipeline) waitResumed(prod *producer, k int, after string, procs ...*floeProc) {
	p.t.Helper()
	at, _, err := p.committed()
	if err != nil {
		p.t.Fatal(err)
	}
	prod.more(p.t, k)
	ends := endOffsets(p.t, p.adm, p.topic)
	p.waitUntil(fmt.Sprintf("caught up with %d records written after %s", k, after), 5*time.Minute, func(m map[int32]int64) bool {
		for part, end := range ends {
			if m[part] < end {
				return false
			}
		}
		return true
	}, procs...)
	p.t.Logf("floe resumed after %s: the table went from %d records to cover the %d written after it (%d in the topic then)",
		after, sumOffsets(at), k, sumOffsets(ends))
}

// TestFaultGroupOffsetsReset (i): floe never reads the consumer group's
// committed offsets, only the table's. Resetting the group's offsets to 0
// while floe is stopped, and later deleting the group, must not make it read
// anything twice.
func TestFaultGroupOffsetsReset(t *testing.T) {
	s := needServices(t)
	const n = 16_000
	p := newPipeline(t, s, "rest-file", 8)
	prod := startProducer(t, p.cl, p.topic, pacedRun{n: n, rate: 1000})

	first := p.start("run1")
	first.waitReady(t)
	p.waitCommitted(n*30/100, first)
	first.stop(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	table, _, err := p.committed()
	if err != nil {
		t.Fatal(err)
	}
	group := fetchGroupOffsets(t, p.adm, p.group, p.topic)
	t.Logf("after run1: table offsets %v, group offsets (floe's mirror) %v", table, group)

	// Reset every partition of the group to 0.
	var zero kadm.Offsets
	for part := range endOffsets(t, p.adm, p.topic) {
		zero.Add(kadm.Offset{Topic: p.topic, Partition: part, At: 0, LeaderEpoch: -1})
	}
	// The group is empty once floe has left it; retry while the broker
	// still settles it.
	if err := retryFor(2*time.Minute, func() error {
		res, err := p.adm.CommitOffsets(ctx, p.group, zero)
		if err == nil {
			err = res.Error()
		}
		return err
	}); err != nil {
		t.Fatalf("reset the group's offsets to 0: %v", err)
	}
	group = fetchGroupOffsets(t, p.adm, p.group, p.topic)
	for part, o := range group {
		if o != 0 {
			t.Fatalf("group offset of partition %d is %d after the reset to 0", part, o)
		}
	}
	t.Logf("group %s offsets reset to 0", p.group)

	second := p.start("run2")
	requireStartsFromTable(t, second, p.topic, table)
	p.waitCommitted(n*60/100, second)
	second.stop(t)

	table, _, err = p.committed()
	if err != nil {
		t.Fatal(err)
	}
	if err := retryFor(2*time.Minute, func() error {
		dres, err := p.adm.DeleteGroup(ctx, p.group)
		if err == nil {
			err = dres.Err
		}
		return err
	}); err != nil {
		t.Fatalf("delete group %s: %v", p.group, err)
	}
	if left := fetchGroupOffsets(t, p.adm, p.group, p.topic); len(left) > 0 {
		t.Fatalf("group %s still has offsets after it was deleted: %v", p.group, left)
	}
	t.Logf("after run2: table offsets %v; group %s deleted", table, p.group)

	third := p.start("run3")
	requireStartsFromTable(t, third, p.topic, table)
	ids := prod.wait(t)
	hist := p.finish(ids, third)
	requireUniqueCommitIDs(t, hist)
	t.Logf("group offsets at the end (floe's mirror): %v", fetchGroupOffsets(t, p.adm, p.group, p.topic))
}

func fetchGroupOffsets(t testing.TB, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := adm.FetchOffsetsForTopics(ctx, group, topic)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("fetch offsets of group %s: %v", group, err)
	}
	out := map[int32]int64{}
	res.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.At >= 0 { // -1: no commit
			out[o.Partition] = o.At
		}
	})
	return out
}

// requireStartsFromTable waits until proc has logged the assignment of every
// partition in table and requires each to start at the table's offset.
func requireStartsFromTable(t testing.TB, proc *floeProc, topic string, table map[int32]int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		starts := map[int32]int64{}
		for _, l := range proc.logLines() {
			if l.str("msg") != "partition assigned" || l.str("topic") != topic {
				continue
			}
			part, _ := l["partition"].(float64)
			start, _ := l["start_offset"].(float64)
			starts[int32(part)] = int64(start)
		}
		all := true
		for part := range table {
			_, ok := starts[part]
			all = all && ok
		}
		if all {
			for part, next := range table {
				if starts[part] != next {
					t.Errorf("floe %s started partition %d at %d; the table is at %d", proc.name, part, starts[part], next)
				}
			}
			t.Logf("floe %s started every partition at the table's offset: %v", proc.name, starts)
			return
		}
		if proc.exited() || time.Now().After(deadline) {
			t.Fatalf("floe %s did not assign every partition within 3m (assigned %v); log:\n%s", proc.name, starts, proc.logTail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// retryFor calls f until it succeeds or d has passed; it returns f's last
// error.
func retryFor(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
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
