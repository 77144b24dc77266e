package consumer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/internal/promtest"
	"github.com/floe-dev/floe/offsets"
)

// waitFor bounds every wait for something that must happen. CI runs the
// tests with -race on two busy cores: a generous bound costs time only when
// a test fails anyway. tick is how often a condition is polled.
const (
	waitFor = 60 * time.Second
	tick    = 10 * time.Millisecond
)

// fakeSink is the consumer's view of a committer, with function fields.
type fakeSink struct {
	mu      sync.Mutex
	table   string // "db.t" when empty
	stored  offsets.Map
	batches []*batcher.Batch
	drops   []string
	submit  func(b *batcher.Batch)
	health  func(table string, healthy bool) // registered by the consumer
	// onCommit seals the table's buffers (registered by the consumer).
	onCommit func()
	// onOffsets, if set, runs at each Offsets call, before it answers.
	onOffsets func()
	caughtUp  int // CaughtUp calls
}

func (s *fakeSink) Table() string {
	if s.table == "" {
		return "db.t"
	}
	return s.table
}
func (s *fakeSink) Offsets(context.Context) (offsets.Map, error) {
	s.mu.Lock()
	hook := s.onOffsets
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored, nil
}
func (s *fakeSink) SetSource(offsets.Source) {}
func (s *fakeSink) Submit(b *batcher.Batch) {
	s.mu.Lock()
	s.batches = append(s.batches, b)
	f := s.submit
	s.mu.Unlock()
	if f != nil {
		f(b)
	}
}
func (s *fakeSink) OnCommit(fn func()) {
	s.mu.Lock()
	s.onCommit = fn
	s.mu.Unlock()
}
func (s *fakeSink) CaughtUp() {
	s.mu.Lock()
	s.caughtUp++
	s.mu.Unlock()
}
func (s *fakeSink) caughtUps() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.caughtUp
}
func (s *fakeSink) OnHealth(fn func(string, bool)) {
	s.mu.Lock()
	s.health = fn
	s.mu.Unlock()
}

// setHealthy tells the consumer, as a committer does, whether the table can
// commit.
func (s *fakeSink) setHealthy(ok bool) {
	s.mu.Lock()
	fn := s.health
	s.mu.Unlock()
	fn(s.Table(), ok)
}
func (s *fakeSink) Drop(topic string, p int32, gen uint64) {
	s.mu.Lock()
	s.drops = append(s.drops, fmt.Sprintf("%s[%d]@%d", topic, p, gen))
	s.mu.Unlock()
}

func (s *fakeSink) snapshot() []*batcher.Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*batcher.Batch(nil), s.batches...)
}

func (s *fakeSink) dropped() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.drops...)
}

// idDecoder appends the record value as the only string column.
type idDecoder struct{}

func (idDecoder) Append(b codec.Row, m *codec.Message) error {
	if string(m.Value) == "bad" {
		return &codec.DecodeError{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Kind: codec.KindMalformedJSON}
	}
	b.Field(0).(*array.StringBuilder).Append(string(m.Value))
	return nil
}

var idSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil)

type consumerEnv struct {
	t     testing.TB
	kafka *kfake.Cluster
	prod  *kgo.Client
	sink  *fakeSink
	reg   *prometheus.Registry
	c     *Consumer
	stop  context.CancelFunc
	done  chan error
}

// newCluster starts an in-process Kafka with topic t of partitions
// partitions and a producer that writes to the partition a record names.
func newCluster(t testing.TB, partitions int32) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "t"))
	require.NoError(t, err)
	t.Cleanup(kc.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.DefaultProduceTopic("t"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	t.Cleanup(prod.Close)
	return kc, prod
}

func newConsumerEnv(t testing.TB, partitions int32, mutate func(*Config)) *consumerEnv {
	t.Helper()
	kc, prod := newCluster(t, partitions)
	cfg := DefaultConfig()
	cfg.Brokers = kc.ListenAddrs()
	cfg.Batch.MaxAge = 50 * time.Millisecond
	cfg.LagInterval = 50 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	sink := &fakeSink{stored: offsets.Map{Topics: map[string]offsets.Topic{}}}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, []*Route{{Topics: []string{"t"}, Schema: idSchema, Decoder: idDecoder{}, OnError: codec.OnErrorSkip, Sink: sink}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	require.NoError(t, err)
	return &consumerEnv{t: t, kafka: kc, prod: prod, sink: sink, reg: reg, c: c}
}

// addTable routes a new one-partition topic to a table of its own, before
// run: a healthy neighbour whose records show that the consumer is fetching.
func (e *consumerEnv) addTable(topic, table string) *fakeSink {
	e.t.Helper()
	require.NoError(e.t, e.kafka.CreateTopic(topic, 1, nil))
	sink := &fakeSink{table: table, stored: offsets.Map{Topics: map[string]offsets.Topic{}}}
	routes := append(e.c.routes, &Route{Topics: []string{topic}, Schema: idSchema, Decoder: idDecoder{}, OnError: codec.OnErrorSkip, Sink: sink})
	e.reg = prometheus.NewRegistry()
	// The neighbour keeps a fetch waiting on the broker, and a resumed topic
	// joins only the next fetch: a short wait keeps a resume prompt (it
	// comes either way).
	c, err := New(e.c.cfg, routes, slog.New(slog.NewTextHandler(io.Discard, nil)), e.reg, kgo.FetchMaxWait(200*time.Millisecond))
	require.NoError(e.t, err)
	e.c = c
	return sink
}

// pausedTopics returns the topics the consumer's Kafka client is not
// fetching. The consumer pauses under c.mu and before it polls, so once
// this lists a topic, no poll returns records of it until it is resumed:
// franz-go neither fetches a paused topic nor hands out what it buffered.
func (e *consumerEnv) pausedTopics() []string {
	e.c.mu.Lock()
	defer e.c.mu.Unlock()
	return e.c.cl.PauseFetchTopics()
}

func (e *consumerEnv) run() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stop, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.c.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-e.done })
}

func (e *consumerEnv) produce(p int32, values ...string) {
	e.t.Helper()
	for _, v := range values {
		require.NoError(e.t, e.prod.ProduceSync(context.Background(), &kgo.Record{Partition: p, Value: []byte(v)}).FirstErr())
	}
}

// covered returns, per partition, the offsets the batches cover, checking
// that they are contiguous from the first batch's start.
func covered(t testing.TB, bs []*batcher.Batch) map[int32][2]int64 {
	t.Helper()
	out := map[int32][2]int64{}
	for _, b := range bs {
		r, ok := out[b.Partition]
		if ok {
			require.Equal(t, r[1], b.Start, "batches of partition %d are contiguous", b.Partition)
			r[1] = b.End
		} else {
			r = [2]int64{b.Start, b.End}
		}
		out[b.Partition] = r
	}
	return out
}

func TestStartsFromTheTableOffsets(t *testing.T) {
	e := newConsumerEnv(t, 2, nil)
	for i := 0; i < 10; i++ {
		e.produce(0, fmt.Sprint(i))
		e.produce(1, fmt.Sprint(i))
	}
	e.sink.stored.Topics["t"] = offsets.Topic{Next: map[int32]int64{0: 7}} // partition 1: never committed
	e.run()
	require.Eventually(t, func() bool {
		c := covered(t, e.sink.snapshot())
		return c[0][1] == 10 && c[1][1] == 10
	}, waitFor, tick)
	c := covered(t, e.sink.snapshot())
	require.Equal(t, [2]int64{7, 10}, c[0], "partition 0 resumes at the table's offset")
	require.Equal(t, [2]int64{0, 10}, c[1], "partition 1 starts at the earliest offset")
	for _, b := range e.sink.snapshot() {
		require.Equal(t, b.Partition == 0, b.FromTable, "only the table gives an anchored start")
	}
	require.True(t, e.c.Joined())
}

func TestFencedPartitionIsReseeked(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	e.produce(0, "a", "b", "c", "d", "e")
	e.run()
	require.Eventually(t, func() bool { return covered(t, e.sink.snapshot())[0][1] == 5 }, waitFor, tick)
	gen := e.sink.snapshot()[0].Generation

	// Another owner committed up to 3: the consumer must restart at 3 under a
	// new generation and drop what it holds of the old one.
	n := len(e.sink.snapshot())
	e.c.fenced("t", 0, gen, 3)
	e.produce(0, "f")
	require.Eventually(t, func() bool {
		bs := e.sink.snapshot()[n:]
		return len(bs) > 0 && covered(t, bs)[0][1] == 6
	}, waitFor, tick)
	after := e.sink.snapshot()[n:]
	require.Equal(t, int64(3), after[0].Start)
	require.True(t, after[0].FromTable, "a re-seek to the table's offset is anchored")
	require.Greater(t, after[0].Generation, gen)
	require.Contains(t, e.sink.dropped(), fmt.Sprintf("t[0]@%d", gen))

	// A stale fence for the old generation is ignored.
	e.c.fenced("t", 0, gen, 1)
	e.produce(0, "g")
	require.Eventually(t, func() bool { return covered(t, e.sink.snapshot()[n:])[0][1] == 7 }, waitFor, tick)
}

func TestMemoryBudgetPausesUntilReleased(t *testing.T) {
	e := newConsumerEnv(t, 2, func(c *Config) {
		c.Batch.MaxBytes = 100
		c.MemoryBudget = 300
		c.Batch.MaxAge = time.Hour
	})
	e.run()
	for i := 0; i < 40; i++ {
		e.produce(int32(i%2), fmt.Sprintf("%020d", i)) // 20 bytes each
	}
	paused := func() float64 {
		return promtest.Value(t, e.reg, "floe_consumer_fetch_paused", map[string]string{"reason": "memory"})
	}
	require.Eventually(t, func() bool { return paused() == 1 }, waitFor, tick,
		"with 300 bytes pending and nothing committed, fetching pauses")
	// While paused, nothing more is consumed: the client has the topic
	// paused, and records that the consumer sees waiting in Kafka (all 60
	// are lag, nothing is committed) are not read. No wait for "long
	// enough": a paused topic is neither fetched nor handed out by a poll.
	// A partition's records and lag are exported from its first record and
	// lag pass on; before that they read 0.
	records := func(p string) float64 {
		return promtest.ValueOrZero(t, e.reg, "floe_consumer_records_total", map[string]string{"topic": "t", "partition": p})
	}
	consumed := func() float64 { return records("0") + records("1") }
	require.Equal(t, []string{"t"}, e.pausedTopics(), "fetching is paused")
	before := consumed()
	for i := 40; i < 60; i++ {
		e.produce(int32(i%2), fmt.Sprintf("%020d", i))
	}
	lag := func(p string) float64 {
		return promtest.ValueOrZero(t, e.reg, "floe_consumer_lag_records", map[string]string{"topic": "t", "partition": p})
	}
	require.Eventually(t, func() bool { return lag("0") == 30 && lag("1") == 30 }, waitFor, tick)
	require.Equal(t, before, consumed(), "fetching is paused")

	// The sink commits and releases everything: fetching resumes and the rest arrives.
	var (
		mu sync.Mutex
	)
	release := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range e.sink.snapshot() {
			b.Finish(batcher.Outcome{Kind: batcher.Committed}) // as the committer does; once per batch
		}
	}
	e.sink.mu.Lock()
	e.sink.submit = func(*batcher.Batch) { go release() }
	e.sink.mu.Unlock()
	release()
	require.Eventually(t, func() bool {
		c := covered(t, e.sink.snapshot())
		return c[0][1]+c[1][1] >= 50 // the budget still holds back the last partial buffers
	}, waitFor, tick)
	flushes := func(reason string) float64 {
		return promtest.Value(t, e.reg, "floe_consumer_flushes_total", map[string]string{"reason": reason})
	}
	require.GreaterOrEqual(t, flushes("bytes")+flushes("memory"), 3.0)
}

// A buffer sealed full keeps room in its builder for the next batch like
// it. That room is Arrow memory the budget sees but no commit releases:
// with every batch committed it must not keep fetching paused (it did, for
// ever, once the room of the empty buffers passed the budget).
func TestReservedRoomDoesNotKeepFetchingPaused(t *testing.T) {
	e := newConsumerEnv(t, 2, func(c *Config) {
		c.Batch.MaxRecords = 5
		c.MemoryBudget = 300
		c.Batch.MaxAge = time.Hour
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.ListenAddrs()...), kgo.ConsumeTopics("t"))
	require.NoError(t, err)
	defer cl.Close()
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cl = cl
	now := time.Now()
	for p := range int32(2) {
		tp := topicPartition{"t", p}
		c.openPart(tp, 0, true)
		buf := c.parts[tp].buf
		for off := range int64(5) {
			buf.Builder().Field(0).(*array.StringBuilder).Append(fmt.Sprintf("%020d", off))
			_, err := buf.Add(off, now, 20, true, now)
			require.NoError(t, err)
		}
		buf.Seal(batcher.ReasonRecords).Release() // committed
	}
	require.Greater(t, c.mem.bytes.Load(), c.cfg.MemoryBudget, "the room for two more batches")

	c.balanceMemory()
	require.False(t, c.memoryPaused, "nothing is buffered or pending")
	require.Empty(t, cl.PauseFetchTopics())
	require.Zero(t, c.mem.bytes.Load(), "the empty buffers gave their room back")
	require.Zero(t, promtest.Value(t, e.reg, "floe_consumer_memory_bytes", map[string]string{"state": "arrow"}))
}

// readThirty runs a consumer that has read 30 records, 10 per partition of
// 3, none of them sealed yet.
func readThirty(t *testing.T) *consumerEnv {
	t.Helper()
	e := newConsumerEnv(t, 3, func(c *Config) { c.Batch.MaxAge = time.Hour })
	e.run()
	for i := 0; i < 30; i++ {
		e.produce(int32(i%3), fmt.Sprint(i))
	}
	records := func(p string) float64 {
		return promtest.ValueOrZero(t, e.reg, "floe_consumer_records_total", map[string]string{"topic": "t", "partition": p})
	}
	require.Eventually(t, func() bool { return records("0")+records("1")+records("2") == 30 }, waitFor, tick)
	require.Empty(t, e.sink.snapshot(), "nothing is full yet")
	return e
}

func TestShutdownSealsEverything(t *testing.T) {
	e := readThirty(t)
	e.stop()
	require.NoError(t, <-e.done)
	e.done <- nil // for the cleanup
	c := covered(t, e.sink.snapshot())
	require.Equal(t, map[int32][2]int64{0: {0, 10}, 1: {0, 10}, 2: {0, 10}}, c)
	require.Empty(t, e.sink.dropped(), "leaving the group keeps the sealed batches")
}

// A commit starting seals the table's buffers first, so it takes every
// record read before it, not only those whose batches were full or old.
func TestCommitSealsTheTablesBuffers(t *testing.T) {
	e := readThirty(t)
	e.sink.mu.Lock()
	seal := e.sink.onCommit
	e.sink.mu.Unlock()
	require.NotNil(t, seal, "the consumer registered with its sink")
	seal()
	bs := e.sink.snapshot()
	require.Equal(t, map[int32][2]int64{0: {0, 10}, 1: {0, 10}, 2: {0, 10}}, covered(t, bs))
	for _, b := range bs {
		require.Equal(t, batcher.ReasonCommit, b.Reason)
	}
	seal() // nothing new: no empty batches
	require.Len(t, e.sink.snapshot(), len(bs))
}

// A partition behind its high watermark does not seal on age: a backlog
// drains in full batches; once it has caught up, age seals it again.
func TestBehindPartitionSealsOnSizeNotAge(t *testing.T) {
	st := &partState{buf: batcher.NewBuffer("t", 0, 0, 0, idSchema, nil, batcher.Policy{MaxRecords: 100, MaxBytes: 1 << 20, MaxAge: time.Millisecond}), hwm: 10}
	require.True(t, behind(st))
	st.buf.SkipTo(10)
	require.False(t, behind(st), "caught up")
	lane := &partState{parent: st}
	st.hwm = 11
	require.True(t, behind(lane), "a lane is as far behind as its partition")
}

// A large buffer whose partition has read the last record of a backlog
// seals at once, to be written beside the rest, not at the commit; a
// partition that keeps up (no fetch ended short of its high watermark), or
// is still behind, keeps filling its batch.
func TestCaughtUpLargeBufferSeals(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	policy := batcher.Policy{MaxRecords: 1 << 20, MaxBytes: 4 << 20, MaxAge: time.Hour} // seals from 1 MiB
	part := func(backlog bool, hwm int64) *partState {
		st := &partState{route: e.c.routes[0], buf: batcher.NewBuffer("t", 0, 1, 0, idSchema, nil, policy), backlog: backlog, hwm: hwm}
		for o := range int64(1100) { // 1,100 records of 1 KiB: past 1 MiB
			st.buf.Builder().Field(0).(*array.StringBuilder).Append("x")
			_, err := st.buf.Add(o, time.Now(), 1024, true, time.Now())
			require.NoError(t, err)
		}
		return st
	}
	tp := topicPartition{"t", 0}
	for _, tt := range []struct {
		name    string
		st      *partState
		reasons []batcher.Reason
	}{
		{"backlog read to its end", part(true, 1100), []batcher.Reason{batcher.ReasonCaughtUp}},
		{"kept up all along", part(false, 1100), nil},
		{"still behind", part(true, 5000), nil},
	} {
		e.sink.mu.Lock()
		e.sink.batches = nil
		e.sink.mu.Unlock()
		e.c.mu.Lock()
		e.c.parts = map[topicPartition]*partState{tp: tt.st}
		e.c.sealDue(time.Now())
		e.c.mu.Unlock()
		var reasons []batcher.Reason
		for _, b := range e.sink.snapshot() {
			reasons = append(reasons, b.Reason)
		}
		require.Equal(t, tt.reasons, reasons, tt.name)
		require.Equal(t, tt.st.hwm > 1100, tt.st.backlog, "%s: the backlog flag lasts while behind", tt.name)
	}
}

// A sink hears that its table caught up once, when the last of its
// partitions that had a backlog reads to its end; never while one is still
// behind, and never for a stream that kept up.
func TestCaughtUpTellsTheSinkOnce(t *testing.T) {
	e := newConsumerEnv(t, 2, nil)
	policy := batcher.Policy{MaxRecords: 1 << 20, MaxBytes: 4 << 20, MaxAge: time.Hour}
	part := func(p int32, backlog bool, hwm int64) *partState {
		return &partState{route: e.c.routes[0], buf: batcher.NewBuffer("t", p, 1, 0, idSchema, nil, policy), backlog: backlog, hwm: hwm}
	}
	step := func(parts ...*partState) int {
		e.c.mu.Lock()
		e.c.parts = map[topicPartition]*partState{}
		for i, st := range parts {
			e.c.parts[topicPartition{"t", int32(i)}] = st
		}
		e.c.sealDue(time.Now())
		e.c.mu.Unlock()
		return e.sink.caughtUps()
	}
	p0, p1 := part(0, true, 0), part(1, true, 10)
	require.Equal(t, 0, step(p0, p1), "partition 1 is still behind")
	require.False(t, p0.backlog, "partition 0's backlog ended")
	p1.hwm = 0
	require.Equal(t, 1, step(p0, p1), "the last partition behind read to its end")
	require.Equal(t, 1, step(p0, p1), "told once: no backlog since")
	require.Equal(t, 2, step(part(0, true, 0), part(1, true, 0)), "two partitions ending their backlogs at once: told once")
	require.Equal(t, 2, step(part(0, false, 0), part(1, false, 0)), "a stream that kept up")
}

func TestSkippedRecordsAreAccountedFor(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	e.produce(0, "a", "bad", "c")
	e.run()
	require.Eventually(t, func() bool { return covered(t, e.sink.snapshot())[0][1] == 3 }, waitFor, tick)
	var rows int64
	skipped := 0
	for _, b := range e.sink.snapshot() {
		skipped += b.Skipped
		if b.Rows != nil {
			rows += b.Rows.NumRows()
		}
	}
	require.Equal(t, int64(2), rows)
	require.Equal(t, 1, skipped)
	require.Equal(t, 1.0, promtest.Value(t, e.reg, "floe_consumer_bad_records_total",
		map[string]string{"topic": "t", "reason": "malformed_json", "outcome": "skipped"}))
}

func TestNewRejectsBadRoutes(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &fakeSink{}
	_, err := New(DefaultConfig(), []*Route{
		{Topics: []string{"a"}, Schema: idSchema, Decoder: idDecoder{}, Sink: s},
		{Topics: []string{"a"}, Schema: idSchema, Decoder: idDecoder{}, Sink: s},
	}, log, prometheus.NewRegistry())
	require.ErrorContains(t, err, `topic "a" is routed to two tables`)
	_, err = New(DefaultConfig(), []*Route{{Topics: []string{"a"}}}, log, prometheus.NewRegistry())
	require.ErrorContains(t, err, "needs a sink")
}

func TestMissingTopicIsAnError(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer kc.Close()
	cfg := DefaultConfig()
	cfg.Brokers = kc.ListenAddrs()
	c, err := New(cfg, []*Route{{Topics: []string{"nope"}, Schema: idSchema, Decoder: idDecoder{}, Sink: &fakeSink{}}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.ErrorContains(t, c.Run(ctx), `topic "nope": does not exist`)
}

func TestUnhealthyTablePausesItsTopics(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	other := e.addTable("u", "db.u")
	e.run()
	e.produce(0, "a")
	require.Eventually(t, func() bool { return covered(t, e.sink.snapshot())[0][1] == 1 }, waitFor, tick)

	e.sink.setHealthy(false)
	pausedForTable := func() float64 {
		return promtest.Value(t, e.reg, "floe_consumer_fetch_paused", map[string]string{"reason": "table"})
	}
	require.Eventually(t, func() bool { return pausedForTable() == 1 }, waitFor, tick)
	require.Equal(t, []string{"t"}, e.pausedTopics(), "only the unhealthy table's topics are paused")
	// b and c are in Kafka before x: had t been fetched, the poll that
	// brought x would have brought them too (one broker, one fetch). x is
	// sealed on age by a later pass of the loop, after that poll was
	// processed: once x's batch is there, the count of t is final.
	e.produce(0, "b", "c")
	require.NoError(t, e.prod.ProduceSync(context.Background(), &kgo.Record{Topic: "u", Value: []byte("x")}).FirstErr())
	require.Eventually(t, func() bool { return covered(t, other.snapshot())[0][1] == 1 }, waitFor, tick,
		"the healthy table's topic goes on")
	require.Equal(t, 1.0, promtest.Value(t, e.reg, "floe_consumer_records_total", map[string]string{"topic": "t", "partition": "0"}),
		"nothing is fetched for a table that cannot commit")

	e.sink.setHealthy(true)
	require.Eventually(t, func() bool { return covered(t, e.sink.snapshot())[0][1] == 3 }, waitFor, tick)
	require.Equal(t, 0.0, pausedForTable())
}

func TestLagInRecordsAndSeconds(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	e.produce(0, "a", "b", "c", "d", "e")
	e.run()
	require.Eventually(t, func() bool { return covered(t, e.sink.snapshot())[0][1] == 5 }, waitFor, tick)
	lag := func() (float64, float64) {
		p0 := map[string]string{"topic": "t", "partition": "0"}
		return promtest.ValueOrZero(t, e.reg, "floe_consumer_lag_records", p0), promtest.ValueOrZero(t, e.reg, "floe_consumer_lag_seconds", p0)
	}
	require.Eventually(t, func() bool { r, _ := lag(); return r == 5 }, waitFor, tick,
		"nothing committed yet: the whole partition is lag")

	// The table now holds offsets [0,2), the newest of them a minute old.
	e.c.committed("t", 0, 2, time.Now().Add(-time.Minute))
	require.Eventually(t, func() bool { r, s := lag(); return r == 3 && s >= 60 }, waitFor, tick)

	e.c.committed("t", 0, 5, time.Now())
	require.Eventually(t, func() bool { r, s := lag(); return r == 0 && s == 0 }, waitFor, tick,
		"caught up: no lag in records or seconds")

	// A partition this consumer does not own is not reported. A record
	// produced after the call makes the next lag pass visible: once
	// partition 0 shows it, a pass has run since Committed returned.
	e.c.committed("t", 7, 1, time.Now())
	e.produce(0, "f")
	require.Eventually(t, func() bool { r, _ := lag(); return r == 1 }, waitFor, tick)
	mfs, err := e.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				require.False(t, l.GetName() == "partition" && l.GetValue() == "7", "%s reports an unowned partition", mf.GetName())
			}
		}
	}
}

// A topic deleted and recreated under the same name while floe runs: the
// group may keep the partitions assigned, franz-go never adopts the new
// topic ID, and the table's offsets belong to the old topic. The consumer
// must stop with the mismatch named (with the override that applies), after
// handing over what it read of the old topic; a topic that is merely gone
// for a while is not a mismatch.
func TestTopicRecreatedWhileRunningStops(t *testing.T) {
	for _, override := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow-topic-mismatch=%v", override), func(t *testing.T) {
			e := newConsumerEnv(t, 2, func(c *Config) { c.AllowTopicMismatch = override })
			e.produce(0, "a", "b", "c")
			e.produce(1, "d")
			e.run()
			require.Eventually(t, func() bool {
				c := covered(t, e.sink.snapshot())
				return c[0][1] == 3 && c[1][1] == 1
			}, waitFor, tick)

			adm := kadm.NewClient(e.prod)
			ctx := context.Background()
			_, err := adm.DeleteTopics(ctx, "t")
			require.NoError(t, err)
			// Gone, not yet back: several checks pass without a verdict.
			// Counted, not timed: a check that began before the delete may
			// finish after it, hence one more.
			const checks = 20
			from := e.c.topicChecks.Load()
			giveUp := time.After(waitFor)
			for e.c.topicChecks.Load() < from+checks+1 {
				select {
				case err := <-e.done:
					t.Fatalf("the consumer stopped while the topic was only missing: %v", err)
				case <-giveUp:
					t.Fatalf("only %d topic checks in %s", e.c.topicChecks.Load()-from, waitFor)
				case <-time.After(tick):
				}
			}
			require.Eventually(t, func() bool {
				_, err := adm.CreateTopic(ctx, 2, 1, nil, "t")
				return err == nil
			}, waitFor, 50*time.Millisecond)

			var runErr error
			select {
			case runErr = <-e.done:
				e.done <- runErr // for the cleanup
			case <-time.After(waitFor):
				t.Fatal("the consumer kept running on a recreated topic")
			}
			require.ErrorIs(t, runErr, offsets.ErrSourceMismatch)
			msg := runErr.Error()
			require.Contains(t, msg, `topic ID mismatch: topic "t" had ID`)
			require.Contains(t, msg, "deleted and recreated while floe ran")
			require.Contains(t, msg, "kafka.allow-topic-mismatch")
			if override {
				require.Contains(t, msg, "kafka.allow-topic-mismatch is set: restart floe")
			} else {
				require.Contains(t, msg, "set kafka.allow-topic-mismatch: true and restart")
			}
			c := covered(t, e.sink.snapshot())
			require.Equal(t, [2]int64{0, 3}, c[0], "what was read of the old topic is handed over")
			require.Equal(t, [2]int64{0, 1}, c[1])
		})
	}
}

// blockingSink answers StoredOffsets only when the context ends, as a
// catalog that is slow to answer while floe starts.
type blockingSink struct {
	fakeSink
	asked chan struct{}
}

func (s *blockingSink) Offsets(ctx context.Context) (offsets.Map, error) {
	close(s.asked)
	<-ctx.Done()
	return offsets.Map{}, fmt.Errorf("load table: %w", ctx.Err())
}

// A stop (SIGTERM) while the consumer is still reading the tables' offsets
// is a clean stop, not a failure: the process must exit 0.
func TestStopWhileStartingIsClean(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	sink := &blockingSink{asked: make(chan struct{})}
	c, err := New(e.c.cfg, []*Route{{Topics: []string{"t"}, Schema: idSchema, Decoder: idDecoder{}, OnError: codec.OnErrorSkip, Sink: sink}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-sink.asked:
	case <-time.After(waitFor):
		t.Fatal("the consumer never asked for the table's offsets")
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("Run did not return after its context was canceled")
	}
	require.False(t, c.Joined())
}

// fatDecoder appends a 64 KiB row for every record: the Arrow memory of
// the rows dwarfs their payload.
type fatDecoder struct{}

var fatRow = strings.Repeat("x", 64<<10)

func (fatDecoder) Append(b codec.Row, m *codec.Message) error {
	b.Field(0).(*array.StringBuilder).Append(fatRow)
	return nil
}

func TestMemoryBudgetCountsArrowMemory(t *testing.T) {
	e := newConsumerEnv(t, 1, func(c *Config) {
		c.Batch.MaxBytes = 1 << 20
		c.MemoryBudget = 1 << 20 // payload: a few hundred bytes, far below
		c.Batch.MaxAge = 200 * time.Millisecond
	})
	e.c.routes[0].Decoder = fatDecoder{}
	e.run()
	for i := 0; i < 40; i++ {
		e.produce(0, fmt.Sprintf("%020d", i))
	}
	paused := func() float64 {
		return promtest.Value(t, e.reg, "floe_consumer_fetch_paused", map[string]string{"reason": "memory"})
	}
	require.Eventually(t, func() bool { return paused() == 1 }, waitFor, tick,
		"the rows' Arrow memory is over the budget although their payload is not")
	require.Greater(t, promtest.Value(t, e.reg, "floe_consumer_memory_bytes", map[string]string{"state": "arrow"}), float64(1<<20))

	// Committing frees the Arrow memory: fetching resumes. The hook goes in
	// first, so that a batch sealed meanwhile is not missed; each batch is
	// released once.
	var (
		mu       sync.Mutex
		released = map[*batcher.Batch]bool{}
	)
	releaseAll := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range e.sink.snapshot() {
			if !released[b] {
				released[b] = true
				b.Finish(batcher.Outcome{Kind: batcher.Dropped})
			}
		}
	}
	e.sink.mu.Lock()
	e.sink.submit = func(*batcher.Batch) { releaseAll() }
	e.sink.mu.Unlock()
	releaseAll()
	require.Eventually(t, func() bool { return paused() == 0 }, waitFor, tick)
	require.Eventually(t, func() bool { return covered(t, e.sink.snapshot())[0][1] == 40 }, waitFor, tick)
}
