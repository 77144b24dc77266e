//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestExactlyOnce streams records into a table while floe is stopped with
// SIGTERM, killed with SIGKILL twice, interrupted in its shutdown by a second
// SIGTERM and restarted each time, for each catalog and warehouse setup; then
// PyIceberg and DuckDB read the table: every produced record is in it once,
// and the stored offsets are the topic's end.
func TestExactlyOnce(t *testing.T) {
	s := needServices(t)
	for _, setup := range []string{"rest-file", "rest-s3", "sql-postgres-s3"} {
		t.Run(setup, func(t *testing.T) {
			const n = 30_000
			rng := seededRand(t)
			p := newPipeline(t, s, setup, 8)
			prod := startProducer(t, p.cl, p.topic, pacedRun{n: n, rate: 1000})

			first := p.start("run1")
			first.waitReady(t)
			p.waitCommitted(n*15/100, first)
			first.stop(t) // graceful, mid-stream: exit 0 after a final commit

			second := p.start("run2")
			p.waitCommitted(n*35/100, second)
			second.kill(t) // mid-stream, no final commit

			third := p.start("run3")
			p.waitCommitted(n*55/100, third)
			time.Sleep(randUpTo(rng, time.Second)) // anywhere in the commit cycle
			third.kill(t)

			fourth := p.start("run4")
			p.waitCommitted(n*70/100, fourth)
			fourth.interrupt(t) // SIGTERM twice: gone in the middle of its shutdown

			last := p.start("run5")
			ids := prod.wait(t)
			p.finish(ids, last)
		})
	}
}

// TestGroupOfThree runs three floe processes in one consumer group on a
// 12-partition topic while records arrive, kills one, starts a fourth, and
// checks the table holds every record once.
func TestGroupOfThree(t *testing.T) {
	s := needServices(t)
	const n = 36_000
	p := newPipeline(t, s, "rest-file", 12)
	prod := startProducer(t, p.cl, p.topic, pacedRun{n: n, rate: 1200})

	// All three at once: they race to create the table and join the group.
	a, b, c := p.start("a"), p.start("b"), p.start("c")
	for _, proc := range []*floeProc{a, b, c} {
		proc.waitReady(t)
	}
	p.waitCommitted(n*30/100, a, b, c)
	// Each of the three has committed before one of them dies: the count of
	// writers below must not depend on how quickly each joined the group.
	waitEachCommitted(t, prod, a, b, c)
	b.kill(t)
	d := p.start("d")
	p.waitCommitted(n*60/100, a, c, d)

	ids := prod.wait(t)
	hist := p.finish(ids, a, c, d)

	if w := writerInstances(hist); len(w) < 3 {
		t.Errorf("commits come from %d floe instances; four ran in the group", len(w))
	}
}

// pipeline is one topic → table route with its own topic, table and group,
// named uniquely so reruns against the same services never meet.
type pipeline struct {
	t       testing.TB
	svc     *services
	dir     string
	topic   string
	table   string
	group   string
	cl      *kgo.Client
	adm     *kadm.Client
	conf    floeConfig
	catalog map[string]any // the catalog as check.py takes it
	cfgPath string         // a config for floe commits
	procs   []*floeProc    // every floe process started, in order
	// also are more topics the table takes beside topic (by its
	// topics-pattern); finish judges each.
	also []string
	// maintained: the table's maintenance runs (see expectation).
	maintained bool
	// headOnly: the catalog keeps only the head snapshot (see expectation).
	headOnly bool
	// killedAt: the last SIGKILL of a floe (see expectation).
	killedAt time.Time
}

func newPipeline(t testing.TB, s *services, setup string, partitions int32) *pipeline {
	t.Helper()
	// Not from seededRand: names must differ between runs, FLOE_E2E_SEED or not.
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(rand.IntN(1000))
	slug := strings.ReplaceAll(setup, "-", "")
	p := &pipeline{
		t:     t,
		svc:   s,
		dir:   t.TempDir(),
		topic: fmt.Sprintf("e2e-orders-%s-%s", setup, suffix),
		table: fmt.Sprintf("e2e.orders_%s_%s", slug, suffix),
		group: fmt.Sprintf("floe-e2e-%s-%s", setup, suffix),
	}
	var yaml string
	yaml, p.catalog = catalogFor(t, s, setup, suffix)
	p.cl, p.adm = kafkaClient(t, s)
	createTopic(t, p.adm, p.topic, partitions)
	p.conf = floeConfig{brokers: s.Kafka, group: p.group, topic: p.topic, table: p.table, catalog: yaml}
	p.cfgPath, _ = p.conf.write(t, p.dir, "commits")
	t.Logf("topic %s (%d partitions), table %s, group %s, files in %s", p.topic, partitions, p.table, p.group, p.dir)
	return p
}

// catalogFor returns the catalog: section of floe's config for a setup and
// the same catalog as the readers take it.
func catalogFor(t testing.TB, s *services, setup, suffix string) (yaml string, reader map[string]any) {
	t.Helper()
	s3yaml := s3Section(s.S3, s.S3.Endpoint)
	s3reader := map[string]any{
		"endpoint": s.S3.Endpoint, "region": s.S3.Region,
		"access_key": s.S3.AccessKey, "secret_key": s.S3.SecretKey,
	}
	switch setup {
	case "rest-file":
		return fmt.Sprintf("  type: rest\n  name: e2e-rest-file\n  uri: %s\n  warehouse: %s",
				yamlStr(s.RESTFileURI), yamlStr(s.RESTFileWarehouse)),
			map[string]any{"type": "rest", "uri": s.RESTFileURI, "warehouse": s.RESTFileWarehouse}
	case "rest-s3":
		return fmt.Sprintf("  type: rest\n  name: e2e-rest-s3\n  uri: %s\n  warehouse: %s\n%s",
				yamlStr(s.RESTS3URI), yamlStr(s.RESTS3Warehouse), s3yaml),
			map[string]any{"type": "rest", "uri": s.RESTS3URI, "warehouse": s.RESTS3Warehouse, "s3": s3reader}
	case "sql-postgres-s3":
		// A warehouse prefix of its own per run: the SQL catalog puts
		// tables under it.
		warehouse := fmt.Sprintf("s3://%s/sql-%s", s.S3.Bucket, suffix)
		return fmt.Sprintf("  type: sql\n  name: e2e\n  warehouse: %s\n  sql:\n    driver: postgres\n    dsn: %s\n%s",
				yamlStr(warehouse), yamlStr(s.PGDSN), s3yaml),
			map[string]any{"type": "sql", "name": "e2e", "uri": s.PGDSN, "warehouse": warehouse, "s3": s3reader}
	}
	if yaml, reader, ok := moreCatalogFor(t, s, setup, suffix); ok {
		return yaml, reader
	}
	if yaml, reader, ok := storeCatalogFor(t, s, setup, suffix); ok { // stores_test.go
		return yaml, reader
	}
	t.Fatalf("unknown catalog setup %q", setup)
	return "", nil
}

// s3Section is the catalog.s3 section of floe's config for the testbed's S3
// reached at endpoint (the service's own, or a fault proxy's).
func s3Section(s3 s3Service, endpoint string) string {
	return fmt.Sprintf(`  s3:
    endpoint: %s
    region: %s
    access-key-id: %s
    secret-access-key: %s
    path-style: true`, yamlStr(endpoint), yamlStr(s3.Region), yamlStr(s3.AccessKey), yamlStr(s3.SecretKey))
}

// start runs a floe process with its own config (its own http.addr).
func (p *pipeline) start(name string) *floeProc {
	p.t.Helper()
	cfg, addr := p.conf.write(p.t, p.dir, name)
	proc := startFloe(p.t, name, cfg, addr)
	p.procs = append(p.procs, proc)
	return proc
}

// committed is the table's next offset per partition, from floe commits. A
// table not created yet has none.
func (p *pipeline) committed() (map[int32]int64, []commitInfo, error) {
	hist, err := floeCommits(p.cfgPath)
	if err != nil {
		return nil, nil, err
	}
	return committedOffsets(hist, p.topic), hist, nil
}

// tableTopics are the topics the table takes: topic, and also.
func (p *pipeline) tableTopics() []string {
	return append([]string{p.topic}, p.also...)
}

// waitUntil polls the table until done says so of topic's offsets; each of
// procs must stay alive meanwhile.
func (p *pipeline) waitUntil(what string, timeout time.Duration, done func(map[int32]int64) bool, procs ...*floeProc) []commitInfo {
	p.t.Helper()
	return p.waitHistory(what, timeout, func(hist []commitInfo) bool { return done(committedOffsets(hist, p.topic)) }, procs...)
}

// waitHistory polls floe's commit history until done says so; each of procs
// must stay alive meanwhile.
func (p *pipeline) waitHistory(what string, timeout time.Duration, done func([]commitInfo) bool, procs ...*floeProc) []commitInfo {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var last []commitInfo
	var lastErr error
	for {
		for _, proc := range procs {
			if proc.exited() {
				p.t.Fatalf("floe %s exited (%v) while waiting until %s; log:\n%s", proc.name, proc.err, what, proc.logTail(40))
			}
		}
		hist, err := floeCommits(p.cfgPath)
		if err == nil && p.headOnly {
			hist, err = p.headOffsets()
		}
		if err == nil {
			last, lastErr = hist, nil
			if done(hist) {
				return hist
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			var at []string
			for _, topic := range p.tableTopics() {
				next := committedOffsets(last, topic)
				at = append(at, fmt.Sprintf("%s %v (%d records)", topic, next, sumOffsets(next)))
			}
			p.t.Fatalf("not %s after %v: table offsets %s, last error: %v", what, timeout, strings.Join(at, ", "), lastErr)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// waitCommitted waits until the table covers at least n records.
func (p *pipeline) waitCommitted(n int, procs ...*floeProc) {
	p.t.Helper()
	p.waitTopicCommitted(p.topic, n, procs...)
}

// waitTopicCommitted waits until the table covers at least n records of
// topic.
func (p *pipeline) waitTopicCommitted(topic string, n int, procs ...*floeProc) {
	p.t.Helper()
	p.waitTopicsCommitted([]string{topic}, n, procs...)
}

// waitTopicsCommitted waits until the table (or, for a template, each
// topic's table) covers at least n records of each of topics.
func (p *pipeline) waitTopicsCommitted(topics []string, n int, procs ...*floeProc) {
	p.t.Helper()
	what := topics[0]
	if len(topics) > 1 {
		what = fmt.Sprintf("each of %d topics (%s … %s)", len(topics), topics[0], topics[len(topics)-1])
	}
	start := time.Now()
	p.waitHistory(fmt.Sprintf("%d records of %s committed", n, what), 5*time.Minute, func(hist []commitInfo) bool {
		for _, topic := range topics {
			if sumOffsets(committedOffsets(hist, topic)) < int64(n) {
				return false
			}
		}
		return true
	}, procs...)
	p.t.Logf("%d records of %s committed after %v", n, what, time.Since(start).Round(time.Millisecond))
}

// waitEachCommitted waits until each of procs has logged a commit, keeping
// records flowing (prod.keepFlowing) meanwhile: a test that counts the
// table's writers must not depend on how quickly each replica joined the
// group compared with how quickly the producer ran.
func waitEachCommitted(t testing.TB, prod *producer, procs ...*floeProc) {
	t.Helper()
	start := time.Now()
	waitFor(t, "a commit by each replica", 3*time.Minute, func() bool {
		for _, proc := range procs {
			if !proc.committedOnce() {
				prod.keepFlowing(t)
				return false
			}
		}
		return true
	}, procs...)
	t.Logf("each of %d replicas has committed (waited %v)", len(procs), time.Since(start).Round(time.Millisecond))
}

// finish waits until the table's offsets reach its topics' ends, stops
// procs with SIGTERM (all at once: each must exit 0), has the readers check
// the table and returns floe's commit history.
func (p *pipeline) finish(ids []string, procs ...*floeProc) []commitInfo {
	p.t.Helper()
	ends := p.stopAtEnds(len(ids), procs...)
	hist := p.history()
	want := p.expect(p.t, tableRun{ends: ends, ids: ids, commits: hist})
	py, duck := readTableWith(p.t, p.svc, p.catalog, p.table, p.group, ids, p.readerOptions())
	requireExactlyOnce(p.t, want, py, duck)
	return hist
}

// stopAtEnds waits until the table's offsets (the tables' offsets, for a
// template) reach the ends of every topic in tableTopics, which must hold n
// records in all, then stops procs with SIGTERM (all at once: each must exit
// 0). It returns each topic's end offsets.
func (p *pipeline) stopAtEnds(n int, procs ...*floeProc) map[string]map[int32]int64 {
	p.t.Helper()
	ends := map[string]map[int32]int64{}
	var total int64
	for _, topic := range p.tableTopics() {
		ends[topic] = endOffsets(p.t, p.adm, topic)
		total += sumOffsets(ends[topic])
	}
	if total != int64(n) {
		p.t.Fatalf("the topics end at %v (%d records); %d were produced", ends, total, n)
	}
	p.waitHistory("caught up with the topics' ends", 10*time.Minute, func(hist []commitInfo) bool {
		for topic, e := range ends {
			if !maps.Equal(committedOffsets(hist, topic), withoutEmpty(e)) {
				return false
			}
		}
		return true
	}, procs...)
	stopAll(p.t, procs...)
	return ends
}

// history is floe's commit history once floe has stopped; it logs it and
// what each floe process did.
func (p *pipeline) history() []commitInfo {
	p.t.Helper()
	hist, err := floeCommits(p.cfgPath)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("floe commits: %s", describe(hist))
	for _, proc := range p.procs {
		p.t.Logf("floe %s: %s", proc.name, proc.logSummary())
	}
	return hist
}

// tableRun is what one table must hold: every offset of its topics up to
// ends, the records ids (numbered from first), and commits, floe's history
// of the table.
type tableRun struct {
	ends    map[string]map[int32]int64
	ids     []string
	first   int
	commits []commitInfo
}

// expect is what a table of p's must show after run. It reports to t, which
// may be a subtest of p's test.
func (p *pipeline) expect(t testing.TB, run tableRun) expectation {
	t.Helper()
	want := expectation{ids: run.ids, first: run.first, topics: map[string]topicEnd{}, commits: run.commits,
		maintained: p.maintained, headOnly: p.headOnly, killedAt: p.killedAt}
	for topic, e := range run.ends {
		var id string
		want.clusterID, id = topicIdentity(t, p.adm, topic)
		want.topics[topic] = topicEnd{ends: e, id: id}
	}
	return want
}

// readerOptions are check.py's options for p's tables: what maintenance
// calls for, and the topic column.
func (p *pipeline) readerOptions() map[string]any {
	extra := map[string]any{}
	if p.maintained {
		extra["time_travel"], extra["orphans"] = true, true
	}
	if p.conf.topicColumn != "" {
		extra["topic_column"] = p.conf.topicColumn
	}
	return extra
}

// withoutEmpty drops partitions without records: floe stores no offset for
// a partition it never read a record of.
func withoutEmpty(m map[int32]int64) map[int32]int64 {
	out := map[int32]int64{}
	for p, o := range m {
		if o > 0 {
			out[p] = o
		}
	}
	return out
}

// stopAll sends SIGTERM to every process at once and requires each to exit 0.
func stopAll(t testing.TB, procs ...*floeProc) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]string, len(procs))
	for i, proc := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				errs[i] = fmt.Sprintf("floe %s: SIGTERM: %v (exited before: %v)", proc.name, err, proc.err)
				return
			}
			select {
			case <-proc.done:
			case <-time.After(2 * time.Minute):
				errs[i] = fmt.Sprintf("floe %s did not exit within 2m of SIGTERM", proc.name)
				return
			}
			if code := proc.cmd.ProcessState.ExitCode(); code != 0 {
				errs[i] = fmt.Sprintf("floe %s exited %d after SIGTERM, want 0", proc.name, code)
			} else if !strings.Contains(proc.log(), `"msg":"floe stopped"`) &&
				!strings.Contains(proc.log(), `"msg":"stopped while starting; nothing consumed"`) {
				// (A replica restarted just before the end may be stopped
				// while it opens the catalog: a clean stop too.)
				errs[i] = fmt.Sprintf("floe %s exited 0 without logging \"floe stopped\"", proc.name)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}
