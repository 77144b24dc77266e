//go:build e2e

package e2e

// floe rollback on real services: --replay puts the table back and floe
// reads the undone records again, exactly once; --skip puts the data back
// and floe goes on after the undone records. PyIceberg and DuckDB judge
// every offset.

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceN writes records first..first+n-1 and waits for them.
func produceN(t testing.TB, cl *kgo.Client, topic string, first, n int) {
	t.Helper()
	recs, _ := records(topic, first, n)
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// rollback runs floe rollback, retrying while the group still lists the
// stopped floe as a member.
func (p *pipeline) rollback(to int64, mode string) string {
	p.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, err := exec.Command(floeBin, "rollback", "--config", p.cfgPath, "--table", p.table,
			"--to-snapshot", fmt.Sprint(to), mode).CombinedOutput()
		if err == nil {
			p.t.Logf("floe rollback %s:\n%s", mode, out)
			return string(out)
		}
		if !strings.Contains(string(out), "floe instances are consuming") || time.Now().After(deadline) {
			p.t.Fatalf("floe rollback %s: %v\n%s", mode, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// judgeOffsets has both readers list the table's rows and requires every
// offset below ends once, except those in skipped (none).
func (p *pipeline) judgeOffsets(ends map[int32]int64, skipped func(part int32, off int64) bool) {
	p.t.Helper()
	p.judgeCounts(ends, func(part int32, off int64) int {
		if skipped != nil && skipped(part, off) {
			return 0
		}
		return 1
	})
}

// judgeCounts has both readers list the table's rows and requires every
// offset below ends to be there want(partition, offset) times.
func (p *pipeline) judgeCounts(ends map[int32]int64, want func(part int32, off int64) int) {
	p.t.Helper()
	py, duck := readPairs(p.t, p, p.table, "_kafka_partition", "_kafka_offset", "id")
	for _, r := range []struct {
		name  string
		pairs [][3]any
	}{{"pyiceberg", py}, {"duckdb", duck}} {
		seen := map[string]int{}
		for _, pr := range r.pairs {
			seen[pairKey(pr)]++
		}
		var problems []string
		total := 0
		for part, end := range ends {
			for off := int64(0); off < end; off++ {
				k, n := fmt.Sprintf("%d/%d", part, off), want(part, off)
				total += n
				if seen[k] != n {
					problems = append(problems, fmt.Sprintf("%s %d× (want %d)", k, seen[k], n))
				}
			}
		}
		if len(problems) > 0 || len(r.pairs) != total {
			p.t.Errorf("%s: %d rows, want %d; %d offsets wrong, first: %v", r.name, len(r.pairs), total, len(problems), problems[:min(10, len(problems))])
		} else {
			p.t.Logf("%s: %d rows, every offset as expected", r.name, len(r.pairs))
		}
	}
	if p.t.Failed() {
		p.t.FailNow()
	}
}

func (p *pipeline) head() int64 {
	p.t.Helper()
	hist, err := floeCommits(p.cfgPath)
	if err != nil || len(hist) == 0 {
		p.t.Fatalf("floe commits: %v (%d commits)", err, len(hist))
	}
	return hist[0].SnapshotID
}

func TestRollbackReplayAndSkip(t *testing.T) {
	s := needServices(t)
	p := newPipeline(t, s, "rest-s3", 4)
	caughtUp := func(procs ...*floeProc) map[int32]int64 {
		ends := endOffsets(t, p.adm, p.topic)
		p.waitUntil("caught up", 5*time.Minute, func(m map[int32]int64) bool { return maps.Equal(m, withoutEmpty(ends)) }, procs...)
		return ends
	}

	produceN(t, p.cl, p.topic, 0, 6000)
	a := p.start("a")
	caughtUp(a)
	good := p.head()
	produceN(t, p.cl, p.topic, 6000, 4000) // the "bad write"
	ends := caughtUp(a)
	a.stop(t)

	// --replay: the table is at the good snapshot again...
	out := p.rollback(good, "--replay")
	if !strings.Contains(out, fmt.Sprintf("current snapshot: %d", good)) {
		t.Fatalf("rollback --replay did not report the new current snapshot %d", good)
	}
	hist, err := floeCommits(p.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	atGood := committedOffsets(hist, p.topic)
	p.judgeOffsets(atGood, nil)
	// ...and floe reads the rest again: every record once.
	b := p.start("b")
	ends = caughtUp(b)
	b.stop(t)
	p.judgeOffsets(ends, nil)

	// --skip: the data of the good snapshot, the offsets floe had.
	good = p.head()
	before := endOffsets(t, p.adm, p.topic)
	produceN(t, p.cl, p.topic, 10000, 2000) // to be skipped
	c := p.start("c")
	skippedEnds := caughtUp(c)
	c.stop(t)
	out = p.rollback(good, "--skip")
	if !strings.Contains(out, "floe.rollback records the skip") {
		t.Fatalf("rollback --skip output lacks the evidence line")
	}
	skipped := func(part int32, off int64) bool { return off >= before[part] && off < skippedEnds[part] }
	p.judgeOffsets(skippedEnds, skipped)
	d := p.start("d")
	produceN(t, p.cl, p.topic, 12000, 1000)
	ends = caughtUp(d)
	d.stop(t)
	p.judgeOffsets(ends, skipped)
	hist, err = floeCommits(p.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	rollbacks := 0
	for _, h := range hist {
		if h.Rollback != nil {
			rollbacks++
		}
	}
	if rollbacks != 1 {
		t.Errorf("floe commits shows %d rollback snapshots, want 1", rollbacks)
	}
}
