// Package consumer runs the Kafka side of floe: one franz-go group client
// whose partitions start where the Iceberg tables say (never where Kafka's
// committed offsets say), a decode-and-buffer loop that fills one
// [batcher.Buffer] per partition, and backpressure from a global memory
// budget.
//
// A single goroutine polls, decodes and buffers; sealed batches go to the
// table's [Sink] (the committer), which writes and commits them on its own
// goroutine. Rebalances are blocked while a poll is being processed
// (kgo.BlockRebalanceOnPoll), so partition state changes only between polls.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/evolution"
	"github.com/floe-dev/floe/offsets"
)

// Sink is the committer of one table, as the consumer sees it.
type Sink interface {
	// Table names the table, for logs.
	Table() string
	// Offsets reads the group's offsets back from the table.
	Offsets(ctx context.Context) (offsets.Map, error)
	// SetSource tells the sink the live cluster and topic IDs, and whether
	// mismatched stored offsets are to be discarded (operator override).
	SetSource(src offsets.Source)
	// Submit hands over a sealed batch; the sink releases it.
	Submit(b *batcher.Batch)
	// Drop discards the partition's batches up to generation.
	Drop(topic string, partition int32, generation uint64)
	// OnHealth registers fn to be told when the table starts or stops
	// being able to commit.
	OnHealth(fn func(table string, healthy bool))
	// OnCommit registers fn to be called as each commit starts, before the
	// commit takes the batches submitted so far: the consumer seals the
	// table's buffers then, so a commit holds every record read before it.
	OnCommit(fn func())
	// CaughtUp tells the sink that every partition feeding its table here
	// has read to the end of a backlog: it may commit before its interval.
	CaughtUp()
}

// Decoder appends one record as one row, or nothing and an error.
type Decoder interface {
	Append(b codec.Row, m *codec.Message) error
}

// Route sends some topics to one table.
type Route struct {
	Topics []string
	// Pattern, if set, also routes every topic whose name it matches and
	// that no route lists: those in Kafka at start and those created while
	// floe runs (see topics.go). It must match whole names (^…$).
	Pattern *regexp.Regexp
	// Spawn, if set, makes the route a template: it has no sink, and each
	// topic it takes (listed or by Pattern) gets a route of its own from
	// Spawn — a table per topic, created or loaded by Spawn. Template names
	// the template in logs and errors.
	Spawn    func(ctx context.Context, topic string) (*Route, error)
	Template string
	// FromFirst starts a partition the table holds no offset for at its
	// first offset, whatever kafka.start-from says: a template's table that
	// existed before this start was made for a topic seen by an earlier
	// run, which may have stopped before committing it.
	FromFirst bool
	Schema    *arrow.Schema // the rows' schema: the table's, with field IDs
	Decoder   Decoder
	OnError   codec.OnError
	// MaxLetterValue cuts the value of a dead letter to this many bytes
	// (on-error: dlq); 0 keeps it whole.
	MaxLetterValue int64
	// Deletes is what becomes of the table's change events without a row
	// (envelope: debezium: skip or dlq), whose series start at 0; empty
	// for a table that does not read change events.
	Deletes codec.OnError
	Sink    Sink
	// Evolve changes the table's schema as a record asks
	// (*evolution.Change, tables[].schema-evolution) and returns the new
	// row schema and a decoder for it. A *codec.DecodeError means the
	// change cannot be made: the record is a bad record. Nil: no evolution.
	Evolve func(ctx context.Context, ch *evolution.Change) (*arrow.Schema, Decoder, error)
	// Router, if set, makes the route a router: it has no sink, and each
	// record of its topics goes to the table its content names (route.go).
	// OnError is what becomes of a record it cannot route.
	Router *Router
}

type topicPartition struct {
	topic     string
	partition int32
}

type partState struct {
	route     *Route
	buf       *batcher.Buffer
	gen       uint64
	fromTable bool  // the start offset was read from the table
	hwm       int64 // the partition's high watermark at the last fetch
	backlog   bool  // a fetch ended short of the high watermark, and the partition has not caught up since
	// read and readBytes are the partition's records and bytes counters.
	read, readBytes prometheus.Counter

	// A record that needs a schema change stops its partition until the
	// change lands: records are skipped while waitSchema; once the change
	// is done (reseek) the poll goroutine re-seeks the partition to
	// buf.Next(), the record, before it polls again.
	waitSchema   bool
	reseek       bool
	changeAt     int64 // offset of the record that asked for the latest change
	changeRounds int   // changes made for the record at changeAt
	refusedAt    int64 // the record at this offset asked for a change that cannot be made:
	refused      error // this bad-record error, under on-error

	// A record the decoder cannot decode now (codec.ErrRetry: the schema
	// registry is down) stops its partition the same way, paused, until
	// retryAt; each retry that fails again doubles the wait.
	retryAt time.Time
	retries int

	// A partition of a routed topic (Route.Router) holds no rows itself:
	// buf only tracks its position, and each table its records go to has
	// a lane, a partState of its own whose buf holds that table's rows
	// (route.go). laneNext is each table's stored next offset.
	lanes     map[*Route]*partState
	laneList  []*partState // lanes in the order they opened
	laneNext  map[*Route]int64
	floorSent int64      // the highest floor a lane's batch carried
	lastLane  *partState // the lane sealed last
	// Of a lane: its partition, the offset of its buffer's first record,
	// and its batches in flight (sealed, not finished) with theirs.
	parent  *partState
	firstAt int64
	flight  *inflight
}

type fenceEvent struct {
	tp   topicPartition
	gen  uint64
	next int64
}

// Consumer is the Kafka group member. Create it with New, start it with Run.
type Consumer struct {
	cfg     Config
	routes  []*Route
	byTopic map[string]*Route
	topics  []string
	log     *slog.Logger
	m       *metrics
	mem     *countingAllocator
	opts    []kgo.Opt
	runCtx  context.Context // the poll loop's context, for the schema changes it starts (c.mu)

	cl  *kgo.Client
	adm *kadm.Client
	acc access // names floe's principal and brokers in access errors

	everJoined  bool             // the group was joined once (c.mu)
	denied      map[string]error // topics Kafka refuses to serve (c.mu); fetching them is paused
	groupDenied error            // the group refuses floe (c.mu); franz-go rejoins with backoff
	retryErr    error            // why partitions wait to decode a record again (c.mu and sideMu), nil when none does
	// sideMu guards, besides c.mu, the consumer-wide fields that decoding
	// partitions side by side reach (decodeParallel): retryErr, evolving.
	sideMu     sync.Mutex
	accessWake chan struct{}

	clusterID string
	topicIDs  map[string]string // replaced, never changed in place (c.mu once running)

	found   map[string]bool   // topics routed by a pattern (c.mu)
	late    map[string]bool   // found while running: read from their first offset (c.mu)
	leftOut map[string]string // topics a pattern matches that are left out, and why (c.mu)

	mu           sync.Mutex // guards parts, gens and fatal; see the package doc
	parts        map[topicPartition]*partState
	gens         map[topicPartition]uint64
	fatal        error
	fences       []fenceEvent
	refenced     map[topicPartition]uint64    // routed partitions to start again from their tables, at generation
	evolving     map[*Route]bool              // a schema change of the route's table is being committed
	evolves      sync.WaitGroup               // the goroutines committing them
	memoryPaused bool                         // the memory budget is used up
	pausedTopics map[string]bool              // topics whose fetching is paused
	unhealthy    map[string]bool              // tables that cannot commit
	closing      bool                         // leaving the group: keep sealed batches for the final commit
	tableNext    map[topicPartition]int64     // the table's next offset, per owned partition
	tableNewest  map[topicPartition]time.Time // the newest record timestamp committed, per owned partition

	mirror     map[string]map[int32]kgo.EpochOffset // committed offsets to copy to the Kafka group
	mirrorWake chan struct{}

	stops     map[topicPartition]int64 // a replay's end offset per partition (RunRange)
	rangeRead atomic.Int64             // offsets a replay has read

	pendingBytes atomic.Int64 // submitted, not yet released by the sinks
	topicChecks  atomic.Int64 // lag-loop topic-ID checks passed without a verdict (tests wait on it)
	joined       atomic.Bool
	started      atomic.Bool // open finished: the group client exists
	wake         chan struct{}
}

// New validates the routes and prepares a consumer. extra client options are
// appended last (tests use them to tune timeouts).
func New(cfg Config, routes []*Route, logger *slog.Logger, reg prometheus.Registerer, extra ...kgo.Opt) (*Consumer, error) {
	c := &Consumer{
		cfg: cfg, routes: routes, byTopic: map[string]*Route{}, log: logger,
		mem:   newCountingAllocator(),
		parts: map[topicPartition]*partState{}, gens: map[topicPartition]uint64{},
		tableNext:    map[topicPartition]int64{},
		tableNewest:  map[topicPartition]time.Time{},
		wake:         make(chan struct{}, 1),
		mirror:       map[string]map[int32]kgo.EpochOffset{},
		mirrorWake:   make(chan struct{}, 1),
		pausedTopics: map[string]bool{},
		unhealthy:    map[string]bool{},
		evolving:     map[*Route]bool{},
		refenced:     map[topicPartition]uint64{},
		denied:       map[string]error{},
		accessWake:   make(chan struct{}, 1),
		found:        map[string]bool{},
		late:         map[string]bool{},
		leftOut:      map[string]string{},
		opts:         extra,
	}
	for _, r := range routes {
		if r.Router != nil {
			if r.Sink != nil || r.Spawn != nil {
				return nil, errors.New("a router sends records to the tables it makes: it has no sink and no spawn")
			}
			if err := c.addRouter(r); err != nil {
				return nil, err
			}
			continue
		}
		if r.Spawn != nil {
			if r.Sink != nil {
				return nil, errors.New("a template route makes a route per topic: it has no sink")
			}
			continue // its listed topics are spawned in open
		}
		if r.Sink == nil || r.Decoder == nil || r.Schema == nil {
			return nil, errors.New("route needs a sink, a decoder and a schema")
		}
		for _, t := range r.Topics {
			if _, dup := c.byTopic[t]; dup {
				return nil, fmt.Errorf("topic %q is routed to two tables", t)
			}
			c.byTopic[t] = r
		}
	}
	c.m = newMetrics(reg)
	for _, r := range routes {
		if r.Spawn != nil {
			continue
		}
		c.m.topics.WithLabelValues(r.table())
		for _, t := range r.Topics {
			c.addTopic(r, t)
		}
		if r.Router != nil {
			for _, t := range r.Router.Tables {
				c.routes = append(slices.Clone(c.routes), t)
				c.m.topics.WithLabelValues(t.table())
				c.watch(t.Sink)
			}
			continue
		}
		c.watch(r.Sink)
	}
	return c, nil
}

// table names the route's table, or its template.
func (r *Route) table() string {
	if r.Sink == nil {
		return r.Template
	}
	return r.Sink.Table()
}

// badOutcome is the outcome label of a bad record under policy.
func badOutcome(policy codec.OnError) string {
	switch policy {
	case codec.OnErrorSkip:
		return "skipped"
	case codec.OnErrorDLQ:
		return "dead_lettered"
	default:
		return "failed"
	}
}

// Joined reports whether the consumer is in the group with its partitions
// positioned from the tables.
// With no topic to read yet (a topics-pattern that matches none) there is
// no group to join, and nothing is behind.
func (c *Consumer) Joined() bool {
	if c.joined.Load() {
		return true
	}
	topics, _ := c.snapshotTopics()
	return len(topics) == 0 && c.started.Load()
}

// batchDone is the Done of every batch the consumer seals: the sink
// finished it. Its bytes leave the memory budget; a committed batch moves
// the table's offsets (lag, Kafka mirror); a fenced one re-seeks the
// partition. It never blocks on Kafka, and for a dropped batch (the sink's
// Drop, which the consumer calls holding c.mu) takes no lock.
func (c *Consumer) batchDone(b *batcher.Batch, o batcher.Outcome) {
	c.releasedBatch(b)
	switch o.Kind {
	case batcher.Committed:
		c.committed(b.Topic, b.Partition, b.End, b.MaxTimestamp)
	case batcher.Fenced:
		c.fenced(b.Topic, b.Partition, b.Generation, o.TableNext)
	}
}

// laneDone is the Done of a lane's batches: the batch leaves the lane's
// flight, and a committed one moves the partition's table offset (lag,
// Kafka mirror) to its floor, where a restart would read from.
func (c *Consumer) laneDone(lane *partState) func(b *batcher.Batch, o batcher.Outcome) {
	return func(b *batcher.Batch, o batcher.Outcome) {
		if o.Kind == batcher.Committed {
			lane.flight.done(b)
			c.releasedBatch(b)
			c.committedUpTo(b.Topic, b.Partition, b.Floor, b.MaxTimestamp, true)
			return
		}
		// A fenced or dropped batch stays in flight: its records are in
		// no table, so no floor may pass them until the partition starts
		// again (new lanes) from the tables' offsets.
		c.batchDone(b, o)
	}
}

// releasedBatch returns a finished batch's bytes to the memory budget,
// unless they came back when its rows were written ahead.
func (c *Consumer) releasedBatch(b *batcher.Batch) {
	if !b.WrittenAhead() {
		c.released(b.Bytes)
	}
}

// released returns bytes of finished batches to the memory budget.
func (c *Consumer) released(bytes int64) {
	c.pendingBytes.Add(-bytes)
	c.m.bufferedBytes.WithLabelValues("pending").Set(float64(c.pendingBytes.Load()))
	c.poke()
}

// fenced: another owner committed past the partition's batch, so the
// partition must restart at next if this consumer still owns it at that
// generation (a repeat for the same generation is ignored).
func (c *Consumer) fenced(topic string, partition int32, generation uint64, next int64) {
	c.mu.Lock()
	c.fences = append(c.fences, fenceEvent{topicPartition{topic, partition}, generation, next})
	c.mu.Unlock()
	c.poke()
}

// Owns reports whether this member consumes the partition now. A table's
// maintenance runs on the member that owns the table's first partition
// (Route.Owner), so exactly one replica of the group runs it.
func (c *Consumer) Owns(topic string, partition int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.parts[topicPartition{topic, partition}]
	return ok
}

// OwnsFirstOf reports whether this member owns partition 0 of the first
// topic (by name) routed to table now: the one member that runs the
// table's maintenance. With no topic routed to it yet, none does.
func (c *Consumer) OwnsFirstOf(table string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.topics { // sorted
		if c.byTopic[t].feeds(table) {
			_, ok := c.parts[topicPartition{t, 0}]
			return ok
		}
	}
	return false
}

// committed records the table's new offset and newest record timestamp of
// a partition for the lag metrics and queues the offset for the Kafka group
// mirror (for standard lag tools only; floe never reads it back).
func (c *Consumer) committed(topic string, partition int32, next int64, newest time.Time) {
	c.committedUpTo(topic, partition, next, newest, false)
}

// committedUpTo is committed; with onlyUp (a routed partition's floor: its
// tables commit in any order) the offset never moves back.
func (c *Consumer) committedUpTo(topic string, partition int32, next int64, newest time.Time, onlyUp bool) {
	c.mu.Lock()
	tp := topicPartition{topic, partition}
	prev, owned := c.tableNext[tp]
	if onlyUp && owned && next < prev {
		next = prev
	}
	if owned {
		c.tableNext[tp] = next // a commit's batches come in offset order
		if newest.After(c.tableNewest[tp]) {
			c.tableNewest[tp] = newest
		}
	}
	if c.mirror[topic] == nil {
		c.mirror[topic] = map[int32]kgo.EpochOffset{}
	}
	c.mirror[topic][partition] = kgo.EpochOffset{Epoch: -1, Offset: next}
	c.mu.Unlock()
	select {
	case c.mirrorWake <- struct{}{}:
	default:
	}
}

// mirrorLoop commits the queued offsets to the Kafka group, newest wins.
func (c *Consumer) mirrorLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.mirrorWake:
		}
		c.mu.Lock()
		offsets := c.mirror
		c.mirror = map[string]map[int32]kgo.EpochOffset{}
		c.mu.Unlock()
		if len(offsets) == 0 || !c.joined.Load() {
			continue
		}
		mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c.cl.CommitOffsetsSync(mctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				c.log.Debug("mirror offsets to the Kafka group", "error", err)
			}
		})
		cancel()
	}
}

// watch registers the consumer with a table's sink: for its health, and to
// seal the table's buffers as each of its commits starts.
func (c *Consumer) watch(sink Sink) {
	sink.OnHealth(c.TableHealth)
	sink.OnCommit(func() { c.sealFor(sink) })
}

// sealFor seals every buffer of sink's table that holds records, so the
// commit starting now takes them: a record waits for at most one commit
// interval, not for its batch's max-age as well.
func (c *Consumer) sealFor(sink Sink) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leaves(func(tp topicPartition, st *partState) {
		if st.route.Sink == sink && st.buf.Len() > 0 {
			c.seal(tp, st, batcher.ReasonCommit)
		}
	})
}

// TableHealth is told (through Sink.OnHealth) when a table starts or stops
// being able to commit: its topics stop fetching meanwhile, so a failing table holds no
// more than it already has while the others go on.
func (c *Consumer) TableHealth(table string, healthy bool) {
	c.mu.Lock()
	if healthy {
		delete(c.unhealthy, table)
	} else {
		c.unhealthy[table] = true
		c.log.Warn("table cannot commit: its topics are paused", "table", table)
	}
	c.mu.Unlock()
	c.poke()
}

func (c *Consumer) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
