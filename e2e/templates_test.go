//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// TestTemplateTablePerTopic: a table template (name …t_{topic}) takes its
// topics by topics-pattern, and floe makes one table per topic. Of the 20
// matching topics, 15 are there at start and 5 are created while floe runs;
// records arrive in all of them, floe is SIGKILLed mid-stream, restarted
// (and must find all 20 at start), and stopped with SIGTERM (exit 0). Then,
// for each topic's table, both readers must find that topic's records once
// and no other topic's, the stored offsets must name that topic alone, at
// its end under its topic ID, and floe's commits of that table must tile the
// topic's partitions; floe commits must list the 20 tables.
func TestTemplateTablePerTopic(t *testing.T) {
	s := needServices(t)
	const (
		nTopics, nAtStart = 20, 15
		// 500 records per topic at about 20 a second, in produce calls of
		// ten: each topic's stream lasts about 25s, across the SIGKILL.
		perTopic, rate, chunk = 500, 20, 10
		// Topic k's records are numbered from k*stride: ids are unique
		// across topics, so a record in the wrong table shows as unexpected.
		stride = 10_000
	)
	p, topics := newTemplatePipeline(t, s, nTopics)
	early, late := topics[:nAtStart], topics[nAtStart:]

	// Topics of one and of two partitions; the first, newPipeline's, has two.
	for k, topic := range topics[1:nAtStart] {
		createTopic(t, p.adm, topic, int32(1+k%2))
	}
	prods := make([]*producer, nTopics)
	produce := func(k int) {
		prods[k] = startProducer(t, p.cl, topics[k], pacedRun{first: k * stride, n: perTopic, rate: rate, chunk: chunk})
	}
	for k := range early {
		produce(k)
	}

	run1 := p.start("run1")
	run1.waitReady(t)
	for _, topic := range early {
		requireLogged(t, run1, logFoundAtStart, topic)
	}
	p.waitTopicsCommitted(early, perTopic/5, run1)

	// Five more, created while floe runs: each must be found by a listing
	// and get a table of its own, read from its first offset.
	for i, topic := range late {
		createTopic(t, p.adm, topic, int32(1+i%2))
		produce(nAtStart + i)
	}
	for _, topic := range late {
		waitLogged(t, run1, logFoundLater, topic)
	}
	waitTableTopics(t, run1, "", nTopics)
	p.waitTopicsCommitted(late, perTopic/5, run1)
	if flowing := slices.ContainsFunc(prods, func(pr *producer) bool { return !pr.finished() }); !flowing {
		t.Logf("every producer finished before the SIGKILL: a slow machine; the kill still loses what floe had not committed")
	}
	run1.kill(t) // mid-stream: whatever any table had not committed is read again

	// The restart finds all twenty at start and resumes each table from its
	// own offsets.
	run2 := p.start("run2")
	for _, topic := range topics {
		waitLogged(t, run2, logFoundAtStart, topic)
	}
	waitTableTopics(t, run2, "", nTopics)

	var n int
	ids := make([][]string, nTopics)
	for k, pr := range prods {
		ids[k] = pr.wait(t)
		n += len(ids[k])
	}
	ends := p.stopAtEnds(n, run2)
	hist := p.history()

	// floe commits finds the template's tables by listing the namespace.
	byTable := map[string][]commitInfo{}
	for _, c := range hist {
		byTable[c.Table] = append(byTable[c.Table], c)
	}
	var want []string
	for _, topic := range topics {
		want = append(want, p.tableFor(topic))
	}
	slices.Sort(want)
	if got := slices.Sorted(maps.Keys(byTable)); !slices.Equal(got, want) {
		t.Fatalf("floe commits lists the tables %v; want the template's %v", got, want)
	}
	for _, topic := range topics {
		if loggedFor(run2, logFoundLater, topic) {
			t.Errorf("floe run2 logged %s as new, but it was there when run2 started", topic)
		}
	}

	// The readers read the twenty tables in one run (one Python start);
	// each table is judged on its own: a failure names its table.
	runs := make([]tableRun, nTopics)
	reads := make([]tableRead, nTopics)
	for k, topic := range topics {
		runs[k] = tableRun{ends: map[string]map[int32]int64{topic: ends[topic]}, ids: ids[k], first: k * stride,
			commits: byTable[p.tableFor(topic)]}
		reads[k] = tableRead{table: p.tableFor(topic), ids: ids[k]}
	}
	read := readTables(t, s, p.catalog, p.group, reads, p.readerOptions())
	for k, r := range read {
		t.Run(strings.TrimPrefix(reads[k].table, p.namespace()+"."), func(t *testing.T) {
			requireExactlyOnce(t, p.expect(t, runs[k]), r.PyIceberg, r.DuckDB)
		})
	}
}

// newTemplatePipeline is a rest-file pipeline whose table is a template,
// <namespace>.t_{topic}, in a namespace of its own (floe commits lists it),
// taking n topics by pattern: newPipeline's topic (two partitions) and
// topic.Src-01 … (not created here), found every second; the names hold
// upper case, '-' and '.', which the table names must not. A topic column
// tells the readers which topic each row came from.
func newTemplatePipeline(t testing.TB, s *services, n int) (*pipeline, []string) {
	t.Helper()
	p := newPipeline(t, s, "rest-file", 2)
	topics := []string{p.topic}
	for k := 1; k < n; k++ {
		topics = append(topics, fmt.Sprintf("%s.Src-%02d", p.topic, k))
	}
	p.table = strings.ReplaceAll(p.table, ".", "_") + ".t_{topic}"
	p.conf.table = p.table
	p.conf.topicsPattern = regexp.QuoteMeta(p.topic) + `(\.Src-[0-9]+)?`
	p.conf.topicColumn = "_kafka_topic"
	p.conf.kafkaExtra = "  topic-refresh-interval: 1s"
	p.also = topics[1:]
	p.cfgPath, _ = p.conf.write(t, p.dir, "commits")
	t.Logf("template %s, topics-pattern %s", p.table, p.conf.topicsPattern)
	return p, topics
}

// namespace is the namespace of p's table (or template).
func (p *pipeline) namespace() string {
	ns, _, _ := strings.Cut(p.table, ".")
	return ns
}

// tableFor is the table p's template makes for topic: the topic in place of
// {topic}, lower-cased, with every character other than a-z, 0-9 and _
// replaced by _ (the README's rule, written again here: the test imports no
// floe package).
func (p *pipeline) tableFor(topic string) string {
	part := strings.Map(func(r rune) rune {
		r = unicode.ToLower(r)
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, topic)
	return strings.Replace(p.table, "{topic}", part, 1)
}
