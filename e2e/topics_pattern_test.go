//go:build e2e

package e2e

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

// The log lines floe writes when a topics-pattern takes a topic: at start,
// and when a listing while it runs finds one created since.
const (
	logFoundAtStart = "topic matches topics-pattern"
	logFoundLater   = "new topic matches topics-pattern: consuming it from its first offset"
)

// TestTopicsPatternExactlyOnce: a table takes its topics by topics-pattern.
// One matching topic is there at start; a second is created while floe runs
// and must be found by a listing (kafka.topic-refresh-interval) and read
// from its first offset; a topic the pattern matches only a prefix of the
// name of must never be read. floe is SIGKILLed while both matching topics
// receive records, the restarted floe finds both at start, and a SIGTERM
// ends it (exit 0). Then both readers must find every record of the two
// topics once and none of the other, the stored offsets must be each
// topic's end under its own topic ID, and floe's commits must tile every
// partition of both topics.
func TestTopicsPatternExactlyOnce(t *testing.T) {
	s := needServices(t)
	const (
		nFirst, nLate = 24_000, 12_000
		// The stray topic's records are numbered far past the others': an
		// id of theirs in the table shows as unexpected.
		strayFirst, nStray = 1_000_000, 1_000
	)
	p := newPatternPipeline(t, s, 4)
	late := p.topic + ".late"
	stray := p.topic + ".late2" // the pattern matches "….late", a prefix of it, not all of it
	if re := regexp.MustCompile(`^(?:` + p.conf.topicsPattern + `)$`); !re.MatchString(late) || re.MatchString(stray) {
		t.Fatalf("topics-pattern %q must match %s and not %s", p.conf.topicsPattern, late, stray)
	}

	createTopic(t, p.adm, stray, 2)
	produceN(t, p.cl, stray, strayFirst, nStray/2)
	firstProd := startProducer(t, p.cl, p.topic, pacedRun{n: nFirst, rate: 1000})

	run1 := p.start("run1")
	run1.waitReady(t)
	requireLogged(t, run1, logFoundAtStart, p.topic)
	p.waitTopicCommitted(p.topic, nFirst*15/100, run1)

	// A matching topic created while floe runs, and more records in the
	// stray one meanwhile. The late topic's numbering continues the first
	// topic's: ids stay unique, 0..nFirst+nLate-1 in all.
	createTopic(t, p.adm, late, 3)
	p.also = append(p.also, late)
	found := time.Now()
	lateProd := startProducer(t, p.cl, late, pacedRun{first: nFirst, n: nLate, rate: 1000})
	produceN(t, p.cl, stray, strayFirst+nStray/2, nStray/2)
	waitLogged(t, run1, logFoundLater, late)
	t.Logf("floe run1 found %s %v after it was created", late, time.Since(found).Round(time.Millisecond))
	waitTableTopics(t, run1, p.table, 2)
	p.waitTopicCommitted(late, nLate*25/100, run1)
	if firstProd.finished() || lateProd.finished() {
		t.Logf("a producer finished before the SIGKILL (first: %v, late: %v): a slow machine; the kill is still mid-stream for the other",
			firstProd.finished(), lateProd.finished())
	}
	run1.kill(t) // mid-stream: whatever of either topic was not committed is read again

	// The restart finds both topics at start, and resumes each from the
	// table's offsets.
	run2 := p.start("run2")
	for _, topic := range []string{p.topic, late} {
		waitLogged(t, run2, logFoundAtStart, topic)
	}
	waitTableTopics(t, run2, p.table, 2)
	p.waitTopicCommitted(late, nLate*60/100, run2)

	ids := append(firstProd.wait(t), lateProd.wait(t)...)
	p.finish(ids, run2)

	for _, proc := range []*floeProc{run1, run2} {
		for _, msg := range []string{logFoundAtStart, logFoundLater} {
			if loggedFor(proc, msg, stray) {
				t.Errorf("floe %s logged %q for %s, which its pattern does not match", proc.name, msg, stray)
			}
		}
	}
	if loggedFor(run2, logFoundLater, late) {
		t.Errorf("floe run2 logged %s as new, but it was there when run2 started", late)
	}
}

// newPatternPipeline is a rest-file pipeline whose table takes its topics
// by pattern: topic and the topics named topic.<letters>, found every
// second, with a topic column telling their partitions apart.
func newPatternPipeline(t testing.TB, s *services, partitions int32) *pipeline {
	t.Helper()
	p := newPipeline(t, s, "rest-file", partitions)
	p.conf.topicsPattern = regexp.QuoteMeta(p.topic) + `(\.[a-z]+)?`
	p.conf.topicColumn = "_kafka_topic"
	p.conf.kafkaExtra = "  topic-refresh-interval: 1s"
	// floe commits reads the table by the config: the same table, now
	// configured with the pattern.
	p.cfgPath, _ = p.conf.write(t, p.dir, "commits")
	t.Logf("topics-pattern %s", p.conf.topicsPattern)
	return p
}

// loggedFor says whether proc logged msg with topic as its topic.
func loggedFor(proc *floeProc, msg, topic string) bool {
	for _, l := range proc.logLines() {
		if l.str("msg") == msg && l.str("topic") == topic {
			return true
		}
	}
	return false
}

// requireLogged fails unless proc has logged msg for topic.
func requireLogged(t testing.TB, proc *floeProc, msg, topic string) {
	t.Helper()
	if !loggedFor(proc, msg, topic) {
		t.Fatalf("floe %s has not logged %q for %s; log:\n%s", proc.name, msg, topic, proc.logTail(40))
	}
}

// waitLogged waits until proc logs msg for topic.
func waitLogged(t testing.TB, proc *floeProc, msg, topic string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("floe %s to log %q for %s", proc.name, msg, topic), 3*time.Minute,
		func() bool { return loggedFor(proc, msg, topic) }, proc)
}

// waitTableTopics waits until proc's floe_consumer_topics{table} is n (with
// table "", summed over every table), with no topic left out
// (floe_consumer_topics_left_out).
func waitTableTopics(t testing.TB, proc *floeProc, table string, n float64) {
	t.Helper()
	labels, to := map[string]string{"table": table}, table
	if table == "" {
		labels, to = nil, "its tables"
	}
	var last string
	waitFor(t, fmt.Sprintf("floe %s to route %v topics to %s", proc.name, n, to), time.Minute, func() bool {
		text, err := proc.metrics()
		if err != nil {
			last = err.Error()
			return false
		}
		routed, _ := metricSum(text, "floe_consumer_topics", labels)
		leftOut, _ := metricSum(text, "floe_consumer_topics_left_out", nil)
		last = fmt.Sprintf("%v routed, %v left out", routed, leftOut)
		return routed == n && leftOut == 0
	}, proc)
	t.Logf("floe %s: %s", proc.name, last)
}
