//go:build e2e

package e2e

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/floe-dev/floe/e2e/faultproxy"
)

// TestMaintenanceWhileIngesting: three replicas ingest while the owner of
// the table expires snapshots (keep-last 5), compacts small files (three per
// partition) and rewrites manifests (more than 3) every second, so
// maintenance commits race ingest commits all the time. Through a fault
// proxy in front of the REST catalog the test then
//
//   - holds the owner's compaction commit (its files written, the commit on
//     the wire) and SIGKILLs it there: mid-compaction;
//   - holds the next owner's expiry commit and SIGKILLs it there:
//     mid-expiry;
//   - loses the response to a compaction commit the catalog applied: the
//     owner must find its rewrite by commit ID, not rewrite twice;
//
// while replicas join in place of the killed ones. PyIceberg and DuckDB
// then find every record exactly once, the group's offsets (read through
// floe's tag) at the topic's end, every retained snapshot with offsets
// holding, as of itself, exactly the records below them, and no data file
// that no snapshot references but those the SIGKILLed owners left behind.
func TestMaintenanceWhileIngesting(t *testing.T) {
	s := needServices(t)
	const n = 30_000
	r := newFaultRig(t, s, "rest-file", 12, proxies{catalog: true})
	r.maintained = true
	r.conf.tableExtra = "    maintenance: {interval: 1s, expire: {keep-last: 5, keep-for: 0s, min-expired: 1}, " +
		"manifests: {max: 3}, compact: {min-files: 3}}\n"
	prod := startProducer(t, r.cl, r.topic, pacedRun{n: n, rate: 1000})

	live := []*floeProc{r.start("a"), r.start("b"), r.start("c")}
	for _, proc := range live {
		proc.waitReady(t)
	}
	r.waitCommitted(n*10/100, live...)

	// The owner is whichever replica maintains the table; hold its next
	// commit of task and SIGKILL it while the commit is held.
	killMidTask := func(task string, only func(body []byte) bool) {
		t.Helper()
		release := make(chan struct{})
		rule := faultproxy.Rule{Kind: faultproxy.KindCommit, Action: faultproxy.Hold, Release: release, Times: 1,
			Only: func(_ *http.Request, body []byte) bool { return only(body) }}
		hits := r.rest.Hits(faultproxy.KindCommit)
		r.rest.Add(rule)
		waitFor(t, "a held "+task+" commit", 3*time.Minute, func() bool {
			prod.keepFlowing(t)
			return r.rest.Hits(faultproxy.KindCommit) > hits
		}, live...)
		var owner *floeProc
		for _, proc := range live {
			if ownsPartition0(proc) {
				owner = proc
			}
		}
		if owner == nil {
			t.Fatalf("a %s commit is held but no live replica owns partition 0", task)
		}
		owner.kill(t)
		r.killedAt = time.Now()
		close(release)
		r.rest.Clear()
		t.Logf("SIGKILLed %s with its %s commit held", owner.name, task)
		var rest []*floeProc
		for _, proc := range live {
			if proc != owner {
				rest = append(rest, proc)
			}
		}
		live = rest
	}

	killMidTask("compact", func(body []byte) bool { return bytes.Contains(body, []byte(`"floe.maintenance":"compact"`)) })
	live = append(live, r.start("d"))
	r.waitCommitted(n*40/100, live...)

	killMidTask("expire", func(body []byte) bool { return bytes.Contains(body, []byte(`"action":"remove-snapshots"`)) })
	live = append(live, r.start("e"))
	r.waitCommitted(n*60/100, live...)

	// A compaction commit the catalog applies but whose response is lost.
	before := r.rest.Hits(faultproxy.KindCommit)
	r.rest.Add(faultproxy.Rule{Kind: faultproxy.KindCommit, Action: faultproxy.ForwardThenDrop, Times: 1,
		Only: func(_ *http.Request, body []byte) bool {
			return bytes.Contains(body, []byte(`"floe.maintenance":"compact"`))
		}})
	// The owner finds its rewrite by commit ID (landed_after_unknown) — or
	// the HTTP client already replayed the request and got the catalog's
	// answer; either way later compactions land and the readers below find
	// every row once (a rewrite wrongly given up would have deleted live
	// files).
	var after int
	waitFor(t, "a compaction whose response was lost, and one after it", 3*time.Minute, func() bool {
		prod.keepFlowing(t)
		if r.rest.Hits(faultproxy.KindCommit) == before {
			after = 0
			for _, proc := range live {
				after += loggedMaintenance(proc, "compact")
			}
			return false
		}
		n := 0
		for _, proc := range live {
			n += loggedMaintenance(proc, "compact")
		}
		return n > after+1
	}, live...)
	for _, proc := range live {
		if strings.Contains(proc.log(), `"landed_after_unknown":true`) {
			t.Logf("%s found its compaction by commit ID after the lost response", proc.name)
		}
	}
	r.rest.Clear()

	ids := prod.wait(t)
	r.finish(ids, live...)
	var expiries, compactions, rewrites int
	for _, proc := range r.procs {
		expiries += loggedMaintenance(proc, "expire")
		compactions += loggedMaintenance(proc, "compact")
		rewrites += loggedMaintenance(proc, "manifests")
	}
	t.Logf("maintenance commits logged: %d expiries, %d compactions, %d manifest rewrites", expiries, compactions, rewrites)
	if expiries == 0 || compactions == 0 {
		t.Errorf("the run made %d expiries and %d compactions: maintenance did not run", expiries, compactions)
	}
}

// loggedMaintenance counts the maintenance commits of task proc logged.
func loggedMaintenance(proc *floeProc, task string) int {
	n := 0
	for _, line := range strings.Split(proc.log(), "\n") {
		if strings.Contains(line, `"msg":"maintenance committed"`) && strings.Contains(line, `"task":"`+task+`"`) {
			n++
		}
	}
	return n
}

// partition0 matches the log's partition field for partition 0.
var partition0 = regexp.MustCompile(`"partition":0[,}]`)

// ownsPartition0 reports whether proc's log has partition 0 assigned last
// (not revoked since): the replica that maintains the table.
func ownsPartition0(proc *floeProc) bool {
	owns := false
	for _, line := range strings.Split(proc.log(), "\n") {
		if !partition0.MatchString(line) {
			continue
		}
		switch {
		case strings.Contains(line, `"msg":"partition assigned"`):
			owns = true
		case strings.Contains(line, `"msg":"partition revoked"`), strings.Contains(line, `"msg":"partition lost"`):
			owns = false
		}
	}
	return owns
}
