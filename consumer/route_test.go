package consumer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/internal/promtest"
	"github.com/floe-dev/floe/offsets"
)

// committingSink is a table with the committer's protocol, in memory: a
// batch lands only where the table stands (else it is fenced), moves the
// table's offsets and floor, and its rows are counted. Batches commit in
// order on a goroutine of the sink's, as a committer's do; while held they
// wait, and a crash (Drop of everything) loses them.
type committingSink struct {
	name string

	mu      sync.Mutex
	stored  offsets.Map
	rows    map[string]int   // row value → times committed
	gens    map[int32]uint64 // partition → newest generation committed
	held    bool
	pending []*batcher.Batch
	health  func(string, bool)
	work    chan *batcher.Batch
}

func newCommittingSink(name string) *committingSink {
	s := &committingSink{name: name, stored: offsets.Map{Topics: map[string]offsets.Topic{}}, rows: map[string]int{}, gens: map[int32]uint64{}, work: make(chan *batcher.Batch, 1024)}
	go func() {
		for b := range s.work {
			s.commit(b)
		}
	}()
	return s
}

func (s *committingSink) Table() string { return s.name }
func (s *committingSink) Offsets(context.Context) (offsets.Map, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored.Clone(), nil
}
func (s *committingSink) SetSource(offsets.Source) {}
func (s *committingSink) OnCommit(func())          {}
func (s *committingSink) CaughtUp()                {}
func (s *committingSink) OnHealth(fn func(string, bool)) {
	s.mu.Lock()
	s.health = fn
	s.mu.Unlock()
}
func (s *committingSink) Submit(b *batcher.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		s.pending = append(s.pending, b)
		return
	}
	s.work <- b
}
func (s *committingSink) Drop(topic string, p int32, gen uint64) {
	s.mu.Lock()
	var keep, drop []*batcher.Batch
	for _, b := range s.pending {
		if b.Topic == topic && b.Partition == p && b.Generation <= gen {
			drop = append(drop, b)
		} else {
			keep = append(keep, b)
		}
	}
	s.pending = keep
	s.mu.Unlock()
	for _, b := range drop {
		b.Finish(batcher.Outcome{Kind: batcher.Dropped})
	}
}

// crash loses the batches held: a process that died before committing them.
func (s *committingSink) crash() {
	s.mu.Lock()
	lost := s.pending
	s.pending, s.held = nil, false
	s.mu.Unlock()
	for _, b := range lost {
		b.Release()
	}
}

func (s *committingSink) hold() {
	s.mu.Lock()
	s.held = true
	s.mu.Unlock()
}

func (s *committingSink) commit(b *batcher.Batch) {
	s.mu.Lock()
	stored, ok := s.stored.Get(b.Topic, b.Partition)
	if ok && stored != b.Start {
		s.mu.Unlock()
		if stored < b.Start && b.FromTable {
			panic(fmt.Sprintf("%s: gap: table at %d, batch [%d,%d)", s.name, stored, b.Start, b.End))
		}
		b.Finish(batcher.Outcome{Kind: batcher.Fenced, TableNext: stored})
		return
	}
	if b.Rows != nil {
		col := b.Rows.Column(0).(*array.String)
		for i := 0; i < col.Len(); i++ {
			s.rows[col.Value(i)]++
		}
	}
	s.stored.Set(b.Topic, "", b.Partition, b.End)
	s.gens[b.Partition] = max(s.gens[b.Partition], b.Generation)
	if b.Floor > 0 {
		s.stored.RaiseFloor(b.Topic, b.Partition, b.Floor)
	}
	s.mu.Unlock()
	b.Finish(batcher.Outcome{Kind: batcher.Committed})
}

func (s *committingSink) committed() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.rows {
		out[k] = v
	}
	return out
}

// routedEnv is a topic routed by the x-table header to tables a, b and c
// (made when first named); anything else is outside the allow-list.
type routedEnv struct {
	mu    sync.Mutex
	sinks map[string]*committingSink
	asked map[string]int // route value → Table calls
}

func (r *routedEnv) sink(name string) *committingSink {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sinks[name] == nil {
		r.sinks[name] = newCommittingSink("db." + name)
	}
	return r.sinks[name]
}

func (r *routedEnv) route(name string) *Route {
	return &Route{Schema: idSchema, Decoder: idDecoder{}, OnError: codec.OnErrorSkip, Sink: r.sink(name)}
}

func (r *routedEnv) router(existing ...string) *Route {
	routes := map[string]*Route{}
	var tables []*Route
	for _, name := range existing {
		routes[name] = r.route(name)
		tables = append(tables, routes[name])
	}
	var mu sync.Mutex
	return &Route{Topics: []string{"t"}, OnError: codec.OnErrorSkip, Template: "db.{route}", Router: &Router{
		By: "header:x-table",
		Value: func(m *codec.Message) (string, bool) {
			for _, h := range m.Headers {
				if h.Key == "x-table" {
					return string(h.Value), true
				}
			}
			return "", false
		},
		Table: func(_ context.Context, v string) (*Route, error) {
			r.mu.Lock()
			r.asked[v]++
			r.mu.Unlock()
			if v != "a" && v != "b" && v != "c" {
				return nil, fmt.Errorf("%w: db.%s is not in allowed-tables", ErrRouteNotAllowed, v)
			}
			mu.Lock()
			defer mu.Unlock()
			if routes[v] == nil {
				routes[v] = r.route(v)
			}
			return routes[v], nil
		},
		Tables: tables,
	}}
}

// One topic feeding three tables, exactly once across a crash in which one
// table's batches never landed while the others' did: each table ends with
// exactly the records routed to it, the unroutable ones are counted and
// skipped.
func TestRoutedTopicFeedsTablesExactlyOnce(t *testing.T) {
	kc, prod := newCluster(t, 2)
	cfg := DefaultConfig()
	cfg.Brokers = kc.ListenAddrs()
	cfg.Batch.MaxAge = 20 * time.Millisecond
	cfg.Batch.MaxRecords = 7 // many batches per table
	env := &routedEnv{sinks: map[string]*committingSink{}, asked: map[string]int{}}
	want := map[string]map[string]int{"a": {}, "b": {}, "c": {}}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 0
	produce := func(count int) {
		for range count {
			v := fmt.Sprintf("v%d", n)
			n++
			rec := &kgo.Record{Partition: int32(rng.IntN(2)), Value: []byte(v)}
			switch k := rng.IntN(10); {
			case k < 8:
				name := []string{"a", "b", "c"}[k%3]
				rec.Headers = []kgo.RecordHeader{{Key: "x-table", Value: []byte(name)}}
				want[name][v] = 1
			case k == 8:
				rec.Headers = []kgo.RecordHeader{{Key: "x-table", Value: []byte("secrets")}}
			}
			require.NoError(t, prod.ProduceSync(context.Background(), rec).FirstErr())
		}
	}
	start := func(existing ...string) (*Consumer, *prometheus.Registry, func()) {
		reg := prometheus.NewRegistry()
		c, err := New(cfg, []*Route{env.router(existing...)}, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return c, reg, func() { cancel(); require.NoError(t, <-done) }
	}
	allIn := func(name string) bool {
		got := env.sink(name).committed()
		for v := range want[name] {
			if got[v] == 0 {
				return false
			}
		}
		return true
	}

	// Run 1: c's batches never land (held, then lost in the crash); a's
	// and b's do.
	env.sink("c").hold()
	produce(300)
	_, reg, stop := start()
	require.Eventually(t, func() bool { return allIn("a") && allIn("b") }, waitFor, tick)
	for _, reason := range []string{"route_not_allowed", "route_missing"} {
		require.Greater(t, promtest.Value(t, reg, "floe_consumer_bad_records_total",
			map[string]string{"topic": "t", "reason": reason, "outcome": "skipped"}), 0.0, reason)
	}
	env.mu.Lock()
	require.Equal(t, 1, env.asked["secrets"], "a refused value is not asked for again at once")
	env.mu.Unlock()
	stop()
	env.sink("c").crash()
	require.Empty(t, env.sink("c").committed())
	for p := int32(0); p < 2; p++ {
		for _, name := range []string{"a", "b"} {
			m, _ := env.sink(name).Offsets(context.Background())
			next, _ := m.Get("t", p)
			f, ok := m.GetFloor("t", p)
			if ok {
				require.LessOrEqual(t, f, next, "%s[%d]", name, p)
			}
		}
	}

	// Run 2: the tables an earlier run made are known; c's records are
	// read again from the floors, a's and b's are not written twice.
	produce(200)
	_, _, stop = start("a", "b", "c")
	require.Eventually(t, func() bool { return allIn("a") && allIn("b") && allIn("c") }, waitFor, tick)
	stop()
	for _, name := range []string{"a", "b", "c"} {
		require.Equal(t, want[name], env.sink(name).committed(), "table %s: every record routed to it, once", name)
	}
}

func (s *committingSink) generation(p int32) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gens[p]
}

// A fenced batch of one table starts its routed partition again from every
// table's offsets under a new generation: what the partition held is read
// again, and no table gets a record twice.
func TestRoutedFencedPartitionStartsAgain(t *testing.T) {
	kc, prod := newCluster(t, 1)
	cfg := DefaultConfig()
	cfg.Brokers = kc.ListenAddrs()
	cfg.Batch.MaxAge = 20 * time.Millisecond
	env := &routedEnv{sinks: map[string]*committingSink{}, asked: map[string]int{}}
	want := map[string]map[string]int{"a": {}, "b": {}}
	n := 0
	produce := func(count int) {
		for range count {
			v, name := fmt.Sprintf("v%d", n), []string{"a", "b"}[n%2]
			n++
			want[name][v] = 1
			rec := &kgo.Record{Value: []byte(v), Headers: []kgo.RecordHeader{{Key: "x-table", Value: []byte(name)}}}
			require.NoError(t, prod.ProduceSync(context.Background(), rec).FirstErr())
		}
	}
	c, err := New(cfg, []*Route{env.router()}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	all := func() bool {
		for name, vs := range want {
			got := env.sink(name).committed()
			for v := range vs {
				if got[v] == 0 {
					return false
				}
			}
		}
		return true
	}
	produce(40)
	require.Eventually(t, all, waitFor, tick)
	gen := env.sink("a").generation(0)

	c.fenced("t", 0, gen, 0) // as if another owner had committed to a
	produce(40)
	require.Eventually(t, func() bool { return all() && env.sink("a").generation(0) > gen }, waitFor, tick)
	for name, vs := range want {
		require.Equal(t, vs, env.sink(name).committed(), "table %s", name)
	}
}

// Once a routed partition is idle and every table has committed, the
// highest floor its tables store reaches the partition's end: no lag is
// left, and a restart reads nothing again.
func TestRoutedIdlePartitionFloorReachesItsEnd(t *testing.T) {
	kc, prod := newCluster(t, 1)
	cfg := DefaultConfig()
	cfg.Brokers = kc.ListenAddrs()
	cfg.Batch.MaxAge = 20 * time.Millisecond
	cfg.LagInterval = 50 * time.Millisecond
	env := &routedEnv{sinks: map[string]*committingSink{}, asked: map[string]int{}}
	for i := range 60 {
		rec := &kgo.Record{Value: []byte(fmt.Sprintf("v%d", i))}
		if i%10 != 9 { // every tenth has no route: skipped, its offset passed by
			rec.Headers = []kgo.RecordHeader{{Key: "x-table", Value: []byte([]string{"a", "b", "c"}[i%3])}}
		}
		require.NoError(t, prod.ProduceSync(context.Background(), rec).FirstErr())
	}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, []*Route{env.router()}, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	require.Eventually(t, func() bool {
		var top int64
		for _, name := range []string{"a", "b", "c"} {
			m, _ := env.sink(name).Offsets(context.Background())
			if f, ok := m.GetFloor("t", 0); ok {
				top = max(top, f)
			}
		}
		return top == 60
	}, waitFor, tick, "the highest floor reaches the end")
	require.Eventually(t, func() bool {
		return promtest.Value(t, reg, "floe_consumer_lag_records", map[string]string{"topic": "t", "partition": "0"}) == 0
	}, waitFor, tick, "no lag")
}

// A lane's batch that is fenced (or dropped) holds no record in any table:
// until the partition starts again from the tables, no other lane's floor
// may pass it. A committed one stops holding the floor.
func TestFencedLaneBatchHoldsTheFloor(t *testing.T) {
	c := &Consumer{m: newMetrics(prometheus.NewRegistry()), wake: make(chan struct{}, 1), mirrorWake: make(chan struct{}, 1),
		tableNext: map[topicPartition]int64{}, tableNewest: map[topicPartition]time.Time{}, mirror: map[string]map[int32]kgo.EpochOffset{},
		parts: map[topicPartition]*partState{}}
	policy := batcher.DefaultPolicy()
	part := &partState{buf: batcher.NewBuffer("t", 0, 1, 0, nil, nil, policy)}
	lane := func() *partState {
		return &partState{parent: part, flight: &inflight{}, buf: batcher.NewBuffer("t", 0, 1, 0, idSchema, nil, policy)}
	}
	a, b := lane(), lane()
	part.laneList = []*partState{a, b}
	part.buf.SkipTo(20)
	require.Equal(t, int64(20), floor(a), "nothing held elsewhere: the position")

	batch := func(l *partState, first, start, end int64) *batcher.Batch {
		bt := &batcher.Batch{Topic: "t", Start: start, End: end, Generation: 1}
		l.flight.add(bt, first)
		bt.Done = c.laneDone(l)
		return bt
	}
	fenced := batch(b, 3, 1, 10)
	committed := batch(b, 12, 10, 15)
	require.Equal(t, int64(3), floor(a))
	fenced.Finish(batcher.Outcome{Kind: batcher.Fenced, TableNext: 5})
	require.Equal(t, int64(3), floor(a), "a fenced batch still holds the floor down")
	committed.Finish(batcher.Outcome{Kind: batcher.Committed})
	require.Equal(t, int64(3), floor(a))
	dropped := batch(b, 1, 0, 1)
	dropped.Finish(batcher.Outcome{Kind: batcher.Dropped})
	require.Equal(t, int64(1), floor(a), "so does a dropped one")
	require.Len(t, c.fences, 1, "the fence reached the consumer")
}
