//go:build e2e

package e2e

// Faults of S3, injected with the S3 warehouse by the fault rig's proxy in
// front of it: PUTs failing and slow, then all failing
// (TestFaultS3WriteErrors), and every write refused with 403 AccessDenied
// (TestFaultS3AccessDenied).

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floe-dev/floe/e2e/faultproxy"
)

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
