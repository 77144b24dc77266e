//go:build e2e

package e2e

// floe replay on real services: a range of a topic replayed into the table
// floe run fills, twice (the second run adds nothing), and a replay over
// replay.max-bytes refused. PyIceberg and DuckDB judge every offset.

import (
	"errors"
	"maps"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func (p *pipeline) replay(args ...string) (int, string) {
	p.t.Helper()
	cmd := exec.Command(floeBin, append([]string{"replay", "--config", p.cfgPath, "--topic", p.topic, "--table", p.table}, args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	p.t.Fatalf("floe replay: %v\n%s", err, out)
	return 0, ""
}

func TestReplayRange(t *testing.T) {
	s := needServices(t)
	p := newPipeline(t, s, "rest-s3", 4)
	produceN(t, p.cl, p.topic, 0, 8000)
	a := p.start("a")
	ends := endOffsets(t, p.adm, p.topic)
	p.waitUntil("caught up", 5*time.Minute, func(m map[int32]int64) bool { return maps.Equal(m, withoutEmpty(ends)) }, a)
	a.stop(t)

	// Refused before anything is written when the range is too large.
	code, out := p.replay("--from", "100", "--to", "600", "--set", "replay.max-bytes=1KiB")
	if code != 3 || !strings.Contains(out, "Spark") {
		t.Fatalf("replay over replay.max-bytes: exit %d, want 3 naming a distributed engine:\n%s", code, out)
	}
	t.Logf("refused: %s", strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]))

	code, out = p.replay("--from", "100", "--to", "600")
	if code != 0 {
		t.Fatalf("floe replay: exit %d\n%s", code, out)
	}
	t.Logf("floe replay:\n%s", out)
	twice := func(_ int32, off int64) bool { return off >= 100 && off < 600 }
	p.judgeTimes(ends, twice)

	code, out = p.replay("--from", "100", "--to", "600")
	if code != 0 || !strings.Contains(out, "already done") {
		t.Fatalf("the same replay again: exit %d, want 0 and \"already done\":\n%s", code, out)
	}
	p.judgeTimes(ends, twice)

	// The live group's offsets did not move: floe run has nothing to do.
	hist, err := floeCommits(p.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := committedOffsets(hist, p.topic); !maps.Equal(got, withoutEmpty(ends)) {
		t.Errorf("the live group's offsets are %v after the replay, want %v", got, ends)
	}
}

// judgeTimes is judgeOffsets for a table holding some offsets twice.
func (p *pipeline) judgeTimes(ends map[int32]int64, twice func(part int32, off int64) bool) {
	p.t.Helper()
	p.judgeCounts(ends, func(part int32, off int64) int {
		if twice(part, off) {
			return 2
		}
		return 1
	})
}
