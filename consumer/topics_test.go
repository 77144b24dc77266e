package consumer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/internal/promtest"
	"github.com/floe-dev/floe/offsets"
)

// newPatternEnv is a consumer whose one table takes the topics pattern
// matches, on a cluster holding topic "t" only; the topics are listed
// every 20 ms.
func newPatternEnv(t *testing.T, pattern string, mutate func(*Config), more ...*Route) *consumerEnv {
	t.Helper()
	kc, prod := newCluster(t, 1)
	cfg := DefaultConfig()
	cfg.Brokers = kc.ListenAddrs()
	cfg.Batch.MaxAge = 50 * time.Millisecond
	cfg.LagInterval = 50 * time.Millisecond
	cfg.TopicRefresh = 20 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	sink := &fakeSink{stored: offsets.Map{Topics: map[string]offsets.Topic{}}}
	routes := append([]*Route{{
		Pattern: regexp.MustCompile(`^(?:` + pattern + `)$`),
		Schema:  idSchema, Decoder: idDecoder{}, OnError: codec.OnErrorSkip, Sink: sink,
	}}, more...)
	reg := prometheus.NewRegistry()
	c, err := New(cfg, routes, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	require.NoError(t, err)
	return &consumerEnv{t: t, kafka: kc, prod: prod, sink: sink, reg: reg, c: c}
}

func (e *consumerEnv) produceTo(topic string, p int32, values ...string) {
	e.t.Helper()
	for _, v := range values {
		require.NoError(e.t, e.prod.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}).FirstErr())
	}
}

// coveredIn is covered for the batches of one topic.
func coveredIn(t testing.TB, bs []*batcher.Batch, topic string) map[int32][2]int64 {
	var of []*batcher.Batch
	for _, b := range bs {
		if b.Topic == topic {
			of = append(of, b)
		}
	}
	return covered(t, of)
}

func (e *consumerEnv) topicsOf(table string) float64 {
	return promtest.ValueOrZero(e.t, e.reg, "floe_consumer_topics", map[string]string{"table": table})
}

// A table's topics-pattern takes the matching topics there at start (from
// kafka.start-from) and those created while floe runs, from their first
// offset whatever start-from says; a matching topic that is deleted is
// released. Topics the pattern does not match are not read.
func TestTopicsPatternFollowsTheCluster(t *testing.T) {
	e := newPatternEnv(t, `orders\..*`, func(c *Config) { c.StartFrom = "latest" })
	require.NoError(t, e.kafka.CreateTopic("orders.eu", 1, nil))
	e.produceTo("orders.eu", 0, "old-1", "old-2")
	e.run()
	require.Eventually(t, e.c.Joined, waitFor, tick)
	require.Equal(t, 1.0, e.topicsOf("db.t"))
	e.produceTo("orders.eu", 0, "new-1")
	require.Eventually(t, func() bool { return coveredIn(t, e.sink.snapshot(), "orders.eu")[0][1] == 3 }, waitFor, tick)
	require.Equal(t, [2]int64{2, 3}, coveredIn(t, e.sink.snapshot(), "orders.eu")[0], "start-from: latest at start")

	// Records are written to the new topic before floe can have seen it.
	require.NoError(t, e.kafka.CreateTopic("orders.us", 2, nil))
	e.produceTo("orders.us", 0, "a", "b")
	e.produceTo("orders.us", 1, "c")
	require.NoError(t, e.kafka.CreateTopic("payments", 1, nil))
	e.produceTo("payments", 0, "not for this table")
	require.Eventually(t, func() bool {
		c := coveredIn(t, e.sink.snapshot(), "orders.us")
		return c[0][1] == 2 && c[1][1] == 1
	}, waitFor, tick)
	require.Equal(t, map[int32][2]int64{0: {0, 2}, 1: {0, 1}}, coveredIn(t, e.sink.snapshot(), "orders.us"),
		"a topic created while floe runs is read from its first offset")
	require.Equal(t, 2.0, e.topicsOf("db.t"))
	e.produceTo("t", 0, "not for this table either")

	// Deleted: its partitions are released, the rest goes on.
	adm := kadm.NewClient(e.prod)
	_, err := adm.DeleteTopics(context.Background(), "orders.us")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.topicsOf("db.t") == 1 }, waitFor, tick)
	require.Contains(t, e.sink.dropped(), "orders.us[0]@1")
	require.Contains(t, e.sink.dropped(), "orders.us[1]@1")
	require.Zero(t, seriesOf(t, e.reg, "orders.us"), "a deleted topic's series go with it")
	require.NotZero(t, seriesOf(t, e.reg, "orders.eu"))
	e.produceTo("orders.eu", 0, "new-2")
	require.Eventually(t, func() bool { return coveredIn(t, e.sink.snapshot(), "orders.eu")[0][1] == 4 }, waitFor, tick)
	for _, b := range e.sink.snapshot() {
		require.Contains(t, []string{"orders.eu", "orders.us"}, b.Topic)
	}
	select {
	case err := <-e.done:
		e.done <- err // for the cleanup
		t.Fatalf("the consumer stopped: %v", err)
	default:
	}
}

// A topic that two tables' patterns match feeds neither: at start floe
// refuses to start, naming both tables; while running it is left out, with
// a metric, and the rest goes on. A topic a table lists by name is that
// table's even when another's pattern matches it.
func TestTopicsMatchedByTwoPatterns(t *testing.T) {
	other := &fakeSink{table: "db.other", stored: offsets.Map{Topics: map[string]offsets.Topic{}}}
	second := &Route{Pattern: regexp.MustCompile(`^(?:orders\.eu.*)$`), Topics: []string{"orders.listed"},
		Schema: idSchema, Decoder: idDecoder{}, OnError: codec.OnErrorSkip, Sink: other}
	e := newPatternEnv(t, `orders\..*`, nil, second)
	require.NoError(t, e.kafka.CreateTopic("orders.listed", 1, nil))
	e.produceTo("orders.listed", 0, "x")
	e.run()
	require.Eventually(t, func() bool { return coveredIn(t, other.snapshot(), "orders.listed")[0][1] == 1 }, waitFor, tick,
		"a listed topic goes to its table, whatever the patterns")
	require.Empty(t, e.sink.snapshot())

	require.NoError(t, e.kafka.CreateTopic("orders.eu-west", 1, nil))
	require.NoError(t, e.kafka.CreateTopic("orders.us", 1, nil))
	e.produceTo("orders.eu-west", 0, "ambiguous")
	e.produceTo("orders.us", 0, "y")
	require.Eventually(t, func() bool { return coveredIn(t, e.sink.snapshot(), "orders.us")[0][1] == 1 }, waitFor, tick)
	require.Eventually(t, func() bool {
		return promtest.Value(t, e.reg, "floe_consumer_topics_left_out", nil) == 1
	}, waitFor, tick)
	for _, b := range append(e.sink.snapshot(), other.snapshot()...) {
		require.NotEqual(t, "orders.eu-west", b.Topic)
	}

	// At start the same topic stops floe.
	e2 := newPatternEnv(t, `orders\..*`, nil, &Route{Pattern: regexp.MustCompile(`^(?:orders\.eu.*)$`),
		Schema: idSchema, Decoder: idDecoder{}, OnError: codec.OnErrorSkip,
		Sink: &fakeSink{table: "db.other", stored: offsets.Map{Topics: map[string]offsets.Topic{}}}})
	require.NoError(t, e2.kafka.CreateTopic("orders.eu", 1, nil))
	err := e2.c.Run(context.Background())
	require.EqualError(t, err, `topic "orders.eu" matches the topics-pattern of tables db.t and db.other: a topic feeds one table; `+
		`narrow one of the patterns, or list the topic in one table's topics`)
}

// A pattern that matches nothing yet leaves floe ready, with nothing to
// read; the first matching topic is picked up.
func TestTopicsPatternMatchingNothingYet(t *testing.T) {
	e := newPatternEnv(t, `late\..*`, nil)
	e.run()
	require.Eventually(t, e.c.Joined, waitFor, tick, "nothing to join is not unready")
	require.Zero(t, e.topicsOf("db.t"))
	require.NoError(t, e.kafka.CreateTopic("late.one", 1, nil))
	e.produceTo("late.one", 0, "a", "b")
	require.Eventually(t, func() bool { return coveredIn(t, e.sink.snapshot(), "late.one")[0][1] == 2 }, waitFor, tick)
	require.Equal(t, [2]int64{0, 2}, coveredIn(t, e.sink.snapshot(), "late.one")[0])
}

// seriesOf counts the series labelled with topic.
func seriesOf(t *testing.T, reg *prometheus.Registry, topic string) int {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "topic" && l.GetValue() == topic {
					n++
				}
			}
		}
	}
	return n
}

// start-from applies to a table's first start only: once the table holds
// offsets, a matching topic it holds none for may have been created since
// (found by another replica, or by a run that stopped before committing),
// and is read from its first offset, even with start-from: latest.
func TestTopicsPatternStartFromIsForTheFirstStart(t *testing.T) {
	for _, ran := range []bool{false, true} {
		t.Run(fmt.Sprintf("table ran before %v", ran), func(t *testing.T) {
			e := newPatternEnv(t, `orders\..*`, func(c *Config) { c.StartFrom = "latest" })
			for _, topic := range []string{"orders.a", "orders.b"} {
				require.NoError(t, e.kafka.CreateTopic(topic, 1, nil))
				e.produceTo(topic, 0, "x", "y")
			}
			if ran {
				e.sink.stored.Topics["orders.a"] = offsets.Topic{Next: map[int32]int64{0: 1}}
			}
			e.run()
			require.Eventually(t, e.c.Joined, waitFor, tick)
			e.produceTo("orders.a", 0, "z")
			e.produceTo("orders.b", 0, "z")
			require.Eventually(t, func() bool {
				bs := e.sink.snapshot()
				return coveredIn(t, bs, "orders.a")[0][1] == 3 && coveredIn(t, bs, "orders.b")[0][1] == 3
			}, waitFor, tick)
			bs := e.sink.snapshot()
			if ran {
				require.Equal(t, [2]int64{1, 3}, coveredIn(t, bs, "orders.a")[0], "from the table's offset")
				require.Equal(t, [2]int64{0, 3}, coveredIn(t, bs, "orders.b")[0], "from its first offset")
			} else {
				require.Equal(t, [2]int64{2, 3}, coveredIn(t, bs, "orders.a")[0], "start-from: latest")
				require.Equal(t, [2]int64{2, 3}, coveredIn(t, bs, "orders.b")[0], "start-from: latest")
			}
		})
	}
}

// A topic released while its partitions are being positioned (the table's
// offsets being read) is not started, and floe goes on.
func TestTopicReleasedWhilePositioned(t *testing.T) {
	e := newPatternEnv(t, `orders\..*`, nil)
	require.NoError(t, e.kafka.CreateTopic("orders.a", 1, nil))
	require.NoError(t, e.kafka.CreateTopic("orders.b", 1, nil))
	e.produceTo("orders.b", 0, "x")
	calls := 0
	e.sink.onOffsets = func() {
		if calls++; calls == 2 { // the first is at start, the second positions the assignment
			e.c.mu.Lock()
			e.c.removeTopic("orders.a")
			e.c.mu.Unlock()
		}
	}
	e.run()
	require.Eventually(t, func() bool { return coveredIn(t, e.sink.snapshot(), "orders.b")[0][1] == 1 }, waitFor, tick)
	require.False(t, e.c.Owns("orders.a", 0))
	select {
	case err := <-e.done:
		e.done <- err
		t.Fatalf("the consumer stopped: %v", err)
	default:
	}
}

// A found topic paused (its table cannot commit) and then deleted does not
// stay paused in the client: created again, it is read.
func TestDeletedPausedTopicIsReadWhenCreatedAgain(t *testing.T) {
	e := newPatternEnv(t, `orders\..*`, nil)
	require.NoError(t, e.kafka.CreateTopic("orders.a", 1, nil))
	e.run()
	require.Eventually(t, e.c.Joined, waitFor, tick)
	e.sink.setHealthy(false)
	require.Eventually(t, func() bool { return slices.Contains(e.pausedTopics(), "orders.a") }, waitFor, tick)
	_, err := kadm.NewClient(e.prod).DeleteTopics(context.Background(), "orders.a")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.topicsOf("db.t") == 0 }, waitFor, tick)
	e.sink.setHealthy(true)

	require.NoError(t, e.kafka.CreateTopic("orders.a", 1, nil))
	e.produceTo("orders.a", 0, "again")
	require.Eventually(t, func() bool { return coveredIn(t, e.sink.snapshot(), "orders.a")[0][1] == 1 }, waitFor, tick)
}

// A template route makes a route per topic through Spawn: for its listed
// topics and those its pattern matches, at start and while running. A
// topic Spawn refuses (ErrTopicRefused) is left out, at start too; any
// other failure to make a table at start stops floe.
func TestTemplateSpawnsARoutePerTopic(t *testing.T) {
	var mu sync.Mutex
	sinks := map[string]*fakeSink{}
	spawn := func(_ context.Context, topic string) (*Route, error) {
		switch topic {
		case "orders.clash":
			return nil, fmt.Errorf("%w: its table is another topic's", ErrTopicRefused)
		case "orders.broken":
			return nil, errors.New("the catalog is down")
		}
		s := &fakeSink{table: "raw." + topic, stored: offsets.Map{Topics: map[string]offsets.Topic{}}}
		mu.Lock()
		sinks[topic] = s
		mu.Unlock()
		return &Route{Topics: []string{topic}, Schema: idSchema, Decoder: idDecoder{}, OnError: codec.OnErrorSkip, Sink: s,
			FromFirst: topic == "orders.old"}, nil // its table existed: an earlier run made it
	}
	sinkOf := func(topic string) *fakeSink {
		mu.Lock()
		defer mu.Unlock()
		return sinks[topic]
	}
	template := &Route{Topics: []string{"t"}, Pattern: regexp.MustCompile(`^(?:orders\..*)$`), Template: "raw.{topic}", Spawn: spawn}
	// Another table's pattern matches "t" too: the template lists it, so it
	// is the template's.
	greedy := &Route{Pattern: regexp.MustCompile(`^(?:t)$`), Schema: idSchema, Decoder: idDecoder{}, OnError: codec.OnErrorSkip,
		Sink: &fakeSink{table: "db.greedy", stored: offsets.Map{Topics: map[string]offsets.Topic{}}}}
	kc, prod := newCluster(t, 1)
	cfg := DefaultConfig()
	cfg.Brokers = kc.ListenAddrs()
	cfg.Batch.MaxAge = 50 * time.Millisecond
	cfg.TopicRefresh = 20 * time.Millisecond
	cfg.StartFrom = "latest"
	reg := prometheus.NewRegistry()
	c, err := New(cfg, []*Route{template, greedy}, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	require.NoError(t, err)
	e := &consumerEnv{t: t, kafka: kc, prod: prod, reg: reg, c: c}
	require.NoError(t, kc.CreateTopic("orders.clash", 1, nil))
	require.NoError(t, kc.CreateTopic("orders.old", 1, nil))
	e.produceTo("orders.old", 0, "before this start")
	e.produceTo("t", 0, "before this start")
	e.run()
	require.Eventually(t, c.Joined, waitFor, tick)
	e.produceTo("t", 0, "listed")
	e.produceTo("orders.old", 0, "x")
	require.Eventually(t, func() bool {
		s, old := sinkOf("t"), sinkOf("orders.old")
		return s != nil && coveredIn(t, s.snapshot(), "t")[0][1] == 2 && old != nil && coveredIn(t, old.snapshot(), "orders.old")[0][1] == 2
	}, waitFor, tick, "the template's listed topic has its table")
	require.Equal(t, [2]int64{1, 2}, coveredIn(t, sinkOf("t").snapshot(), "t")[0], "a new table: start-from latest")
	require.Equal(t, [2]int64{0, 2}, coveredIn(t, sinkOf("orders.old").snapshot(), "orders.old")[0],
		"a table an earlier run made is read from its topic's first offset")
	require.Empty(t, greedy.Sink.(*fakeSink).snapshot())
	require.Equal(t, 1.0, promtest.Value(t, reg, "floe_consumer_topics_left_out", nil), "orders.clash is left out")

	require.NoError(t, kc.CreateTopic("orders.eu", 1, nil))
	e.produceTo("orders.eu", 0, "a", "b")
	require.Eventually(t, func() bool {
		s := sinkOf("orders.eu")
		return s != nil && coveredIn(t, s.snapshot(), "orders.eu")[0][1] == 2
	}, waitFor, tick, "a topic created while running has its table")
	require.Equal(t, 1.0, promtest.Value(t, reg, "floe_consumer_topics", map[string]string{"table": "raw.orders.eu"}))
	mu.Lock()
	for topic, s := range sinks {
		for _, b := range s.snapshot() {
			require.Equal(t, topic, b.Topic, "each table gets its own topic's batches only")
		}
	}
	mu.Unlock()

	// At start, a table that cannot be made stops floe.
	require.NoError(t, kc.CreateTopic("orders.broken", 1, nil))
	c2, err := New(cfg, []*Route{{Pattern: template.Pattern, Template: "raw.{topic}", Spawn: spawn}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	require.NoError(t, err)
	require.EqualError(t, c2.Run(context.Background()), `table for topic "orders.broken" from template raw.{topic}: the catalog is down`)
}
