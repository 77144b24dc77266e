package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/offsets"
)

// Routing by record content (tables[].route-by). One topic feeds many
// tables: each record names its table (a header or a field), the table is
// made the first time it is named — if the allow-list lets it — and the
// record becomes a row there.
//
// Exactly once with one partition feeding several tables:
//   - Each table's partition has a lane, a buffer of its own covering a
//     contiguous range of the partition's offsets: a batch of table T
//     [Start, End) holds every record of the range routed to T, and only
//     those. T's stored next offset says: every record below it that
//     routes to T is in T. Re-read records below a lane's next are
//     skipped for that lane, so no table gets a record twice.
//   - No table's offset may let a restart skip another table's records
//     that are not committed yet. So each batch carries a floor: the
//     lowest offset of any record of the partition not yet committed to
//     its table, other than the batch's own (a record in another lane's
//     buffer or in another table's batch in flight), or the partition's
//     position if there is none. Once the batch lands, every record below
//     the floor is in its table. The committer stores the floor beside the
//     table's offsets; a restart reads the partition from the highest
//     floor among the tables (each is a true claim, the highest the most
//     useful), and each lane skips what its table holds.
//   - A fenced batch (another owner committed past it) re-reads the
//     partition's offsets from every table and starts it again.
//
// A record with no route value, or one that names a table outside the
// allow-list, is a bad record (route_missing, route_not_allowed) under the
// router's on-error.

// Router sends each record of a route's topics to a table named by the
// record's content.
type Router struct {
	// By names what the route value is read from ("header:x-table"), for
	// errors.
	By string
	// Value reads a record's route value; false when it has none.
	Value func(m *codec.Message) (string, bool)
	// Table makes (or loads) the table a route value names, once per
	// value. An error wrapping ErrRouteNotAllowed makes the record a bad
	// record (route_not_allowed); any other error is retried like a
	// registry outage (the partition waits and reads the record again).
	Table func(ctx context.Context, value string) (*Route, error)
	// Tables are the tables earlier runs made: their offsets position the
	// partitions. Table may return one of them.
	Tables []*Route
	// Letters, under on-error: dlq, takes the records no table takes: a
	// route to the dead-letter table whose Decoder is a LetterDecoder. It
	// is a table of the router like the others (a lane, offsets, floors).
	Letters *Route

	values  map[string]*Route  // route value → table (c.mu)
	refused map[string]refusal // route value → why its table is refused, for a while (c.mu)
	tables  []*Route           // Tables and those made since (c.mu; replaced, never changed in place)
}

// LetterDecoder appends a dead letter as a row of a dead-letter table: the
// Decoder of Router.Letters.
type LetterDecoder interface {
	AppendLetter(rb *array.RecordBuilder, topic string, partition int32, l *batcher.DeadLetter) error
}

// errReleased stops the records of a partition released while they were
// being read.
var errReleased = errors.New("partition released")

// A refused route value is refused again without asking for refuseFor; at
// most maxRefused values are kept.
const (
	refuseFor  = time.Minute
	maxRefused = 1024
)

type refusal struct {
	why string
	at  time.Time
}

// ErrRouteNotAllowed is what Router.Table wraps when a route value names a
// table the allow-list does not allow.
var ErrRouteNotAllowed = errors.New("route not allowed")

// inflight lists a lane's sealed batches not finished yet, with the offset
// of each one's first record. Its own lock: a batch finishes on the sink's
// goroutine, or under c.mu when the consumer drops it.
type inflight struct {
	mu      sync.Mutex
	batches []flightBatch
}

type flightBatch struct {
	b     *batcher.Batch
	first int64
}

func (f *inflight) add(b *batcher.Batch, first int64) {
	f.mu.Lock()
	f.batches = append(f.batches, flightBatch{b, first})
	f.mu.Unlock()
}

func (f *inflight) done(b *batcher.Batch) {
	f.mu.Lock()
	for i, fb := range f.batches {
		if fb.b == b {
			f.batches = append(f.batches[:i], f.batches[i+1:]...)
			break
		}
	}
	f.mu.Unlock()
}

// lowest is the first record's offset of the oldest batch in flight.
func (f *inflight) lowest() (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.batches) == 0 {
		return 0, false
	}
	low := f.batches[0].first
	for _, fb := range f.batches[1:] {
		low = min(low, fb.first)
	}
	return low, true
}

// addRouter checks a router route and claims its topics. Before Run.
func (c *Consumer) addRouter(r *Route) error {
	rt := r.Router
	if rt.Value == nil || rt.Table == nil {
		return errors.New("a router needs Value and Table")
	}
	for _, t := range rt.Tables {
		if t.Sink == nil || t.Decoder == nil || t.Schema == nil {
			return errors.New("a router's table needs a sink, a decoder and a schema")
		}
	}
	if l := rt.Letters; l != nil {
		if _, ok := l.Decoder.(LetterDecoder); !ok || l.Sink == nil || l.Schema == nil {
			return errors.New("a router's letters route needs a sink, a schema and a LetterDecoder")
		}
		rt.Tables = append(rt.Tables[:len(rt.Tables):len(rt.Tables)], l)
	}
	for _, t := range r.Topics {
		if _, dup := c.byTopic[t]; dup {
			return fmt.Errorf("topic %q is routed to two tables", t)
		}
		c.byTopic[t] = r
	}
	rt.values, rt.refused = map[string]*Route{}, map[string]refusal{}
	rt.tables = rt.Tables
	return nil
}

// feeds reports whether the route's records go to table.
func (r *Route) feeds(table string) bool {
	if r.Router == nil {
		return r.Sink != nil && r.Sink.Table() == table
	}
	for _, t := range r.Router.tables {
		if t.Sink.Table() == table {
			return true
		}
	}
	return false
}

// routeUnhealthy: a table the route feeds cannot commit. c.mu held.
func (c *Consumer) routeUnhealthy(r *Route) bool {
	if r.Router == nil {
		return c.unhealthy[r.Sink.Table()]
	}
	for _, t := range r.Router.tables {
		if c.unhealthy[t.Sink.Table()] {
			return true
		}
	}
	return false
}

// routedPositions reads every table of router route r this process knows
// and returns, per assigned partition of topics, the highest floor stored
// (absent: none stored) and each table's next offset. anyTable says a
// table was made (or the dead-letter table holds offsets), so a partition
// without a floor is read from its first offset (an earlier run may have
// routed records to a table and died before any floor).
func (c *Consumer) routedPositions(ctx context.Context, r *Route, topics map[string][]int32) (floors map[topicPartition]int64, nexts map[topicPartition]map[*Route]int64, anyTable bool, err error) {
	c.mu.Lock()
	tables := r.Router.tables
	c.mu.Unlock()
	floors, nexts = map[topicPartition]int64{}, map[topicPartition]map[*Route]int64{}
	for _, t := range tables {
		m, err := c.stored(ctx, t)
		if err != nil {
			return nil, nil, false, err
		}
		// The dead-letter table exists from the first start: only offsets
		// in it say an earlier run routed records.
		anyTable = anyTable || t != r.Router.Letters || !m.Empty()
		for topic, parts := range topics {
			for _, p := range parts {
				tp := topicPartition{topic, p}
				if n, ok := m.Get(topic, p); ok {
					if nexts[tp] == nil {
						nexts[tp] = map[*Route]int64{}
					}
					nexts[tp][t] = n
				}
				if f, ok := m.GetFloor(topic, p); ok && f > floors[tp] {
					floors[tp] = f
				}
			}
		}
	}
	return floors, nexts, anyTable, nil
}

// addRouted routes one record of a routed partition to its table's lane.
// c.mu held; it is let go while a table is made.
func (c *Consumer) addRouted(tp topicPartition, st *partState, rec *kgo.Record, now time.Time) error {
	rt := st.route.Router
	msg := message(rec)
	value, ok := rt.Value(&msg)
	var derr *codec.DecodeError
	var r *Route
	switch {
	case !ok:
		derr = &codec.DecodeError{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
			Kind: codec.KindRouteMissing, Detail: "the record has no " + rt.By + " to route it by"}
	case rt.values[value] != nil:
		r = rt.values[value]
	case now.Sub(rt.refused[value].at) < refuseFor:
		derr = &codec.DecodeError{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
			Kind: codec.KindRouteNotAllowed, Detail: rt.refused[value].why}
	default:
		var err error
		r, err = c.makeRouteTable(st, value)
		if c.parts[tp] != st {
			return errReleased // its topic deleted while the table was made
		}
		switch {
		case errors.Is(err, ErrRouteNotAllowed):
			derr = &codec.DecodeError{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
				Kind: codec.KindRouteNotAllowed, Detail: err.Error()}
			// Records naming it again are refused without asking the
			// catalog each time (a foreign table is one load per record
			// otherwise); the values kept are bounded, as producers choose them.
			if len(rt.refused) >= maxRefused {
				clear(rt.refused)
			}
			rt.refused[value] = refusal{why: err.Error(), at: now}
		case err != nil:
			return c.waitRetry(st, rec, fmt.Errorf("make the table %s names: %w", rt.By, err), now)
		}
	}
	if derr != nil {
		return c.unroutable(tp, st, rec, derr, now)
	}
	lane := st.lanes[r]
	if lane == nil {
		lane = c.openLane(tp, st, r, rec.Offset)
	}
	if rec.Offset >= lane.buf.Next() { // else the table holds it already
		lane.buf.SkipTo(rec.Offset)
		if lane.buf.Len() == 0 {
			lane.firstAt = rec.Offset
		}
		err := c.addMessage(lane, rec, &msg, now)
		if errors.Is(err, errWaitRetry) {
			// The partition waits, not the lane: its position is where
			// the record is read again.
			st.waitSchema, st.retryAt, st.retries = true, lane.retryAt, lane.retries
			lane.waitSchema, lane.retryAt = false, time.Time{}
			return err
		}
		if err != nil {
			return err
		}
	}
	st.retries = 0
	st.buf.SkipTo(rec.Offset + 1)
	return nil
}

// makeRouteTable makes (or loads) the table value routes to and joins it
// to the router. c.mu held, let go meanwhile.
func (c *Consumer) makeRouteTable(st *partState, value string) (*Route, error) {
	rt := st.route.Router
	ctx := c.runCtx
	c.mu.Unlock()
	r, err := rt.Table(ctx, value)
	if err == nil {
		_, err = c.stored(ctx, r) // tells its sink the live cluster and topic IDs
	}
	c.mu.Lock()
	if err != nil {
		return nil, err
	}
	if known := rt.values[value]; known != nil {
		return known, nil
	}
	rt.values[value] = r
	for _, t := range rt.tables {
		if t == r {
			return r, nil // made by an earlier run
		}
	}
	rt.tables = append(rt.tables[:len(rt.tables):len(rt.tables)], r)
	c.routes = append(c.routes[:len(c.routes):len(c.routes)], r)
	c.m.topics.WithLabelValues(r.table())
	c.watch(r.Sink)
	c.log.Info("routing records to a new table", "route_by", rt.By, "value", value, "table", r.table())
	return r, nil
}

// unroutable handles a record the router cannot route, under its
// on-error. c.mu held.
func (c *Consumer) unroutable(tp topicPartition, st *partState, rec *kgo.Record, derr *codec.DecodeError, now time.Time) error {
	c.m.records.WithLabelValues(rec.Topic, partLabel(rec.Partition)).Inc()
	c.m.bytes.WithLabelValues(rec.Topic, partLabel(rec.Partition)).Add(float64(len(rec.Value)))
	policy := st.route.OnError
	switch {
	case policy == codec.OnErrorFail:
		c.m.badRecords.WithLabelValues(rec.Topic, string(derr.Kind), badOutcome(policy)).Inc()
		c.seal(tp, st, batcher.ReasonShutdown)
		return fmt.Errorf("%w (on-error is fail: floe stops here; fix the record, or set on-error: skip or dlq)", derr)
	case policy == codec.OnErrorDLQ && st.route.Router.Letters != nil:
		return c.deadLetterUnroutable(tp, st, rec, derr, now)
	}
	// skip: the offset is accounted for by the partition's position, and
	// the lanes' ranges pass it by.
	c.m.badRecords.WithLabelValues(rec.Topic, string(derr.Kind), badOutcome(codec.OnErrorSkip)).Inc()
	c.log.Warn("record skipped", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "error", derr)
	st.buf.SkipTo(rec.Offset + 1)
	return nil
}

// deadLetterUnroutable puts a record no table takes in the letters lane, as
// a row of the dead-letter table. c.mu held.
func (c *Consumer) deadLetterUnroutable(tp topicPartition, st *partState, rec *kgo.Record, derr *codec.DecodeError, now time.Time) error {
	r := st.route.Router.Letters
	lane := st.lanes[r]
	if lane == nil {
		lane = c.openLane(tp, st, r, rec.Offset)
	}
	if rec.Offset >= lane.buf.Next() { // else the dead-letter table holds it already
		lane.buf.SkipTo(rec.Offset)
		if lane.buf.Len() == 0 {
			lane.firstAt = rec.Offset
		}
		l := letter(rec, string(derr.Kind), derr, st.route.MaxLetterValue)
		if err := r.Decoder.(LetterDecoder).AppendLetter(lane.buf.Builder(), rec.Topic, rec.Partition, &l); err != nil {
			return fmt.Errorf("dead-letter table %s: %w", r.table(), err)
		}
		full, err := lane.buf.Add(rec.Offset, rec.Timestamp, len(rec.Value), true, now)
		if err := c.account(lane, rec, full, err); err != nil {
			return err
		}
		c.m.badRecords.WithLabelValues(rec.Topic, string(derr.Kind), badOutcome(codec.OnErrorDLQ)).Inc()
		c.log.Warn("record sent to the dead-letter table", "topic", rec.Topic, "partition", rec.Partition,
			"offset", rec.Offset, "reason", string(derr.Kind), "error", derr)
	}
	st.buf.SkipTo(rec.Offset + 1)
	return nil
}

// openLane opens table r's lane in a routed partition: its batches start
// at the table's stored next offset, or (none stored) at the record that
// opens it. c.mu held.
func (c *Consumer) openLane(tp topicPartition, st *partState, r *Route, at int64) *partState {
	start, fromTable := at, false
	if n, ok := st.laneNext[r]; ok {
		start, fromTable = n, true
	}
	lane := &partState{
		route: r, gen: st.gen, fromTable: fromTable, parent: st, flight: &inflight{},
		buf: batcher.NewBuffer(tp.topic, tp.partition, st.gen, start, r.Schema, c.mem, c.cfg.Batch),
	}
	st.lanes[r] = lane
	st.laneList = append(st.laneList, lane)
	return lane
}

// floor is the offset below which every record of lane's partition is in
// its table once lane's batch being sealed lands: the partition's
// position, or the first record of another lane's buffer or batch in
// flight if lower. c.mu held.
func floor(lane *partState) int64 {
	p := lane.parent
	f := p.buf.Next()
	for _, l := range p.laneList {
		if l == lane {
			continue
		}
		if l.buf.Len() > 0 {
			f = min(f, l.firstAt)
		}
		if low, ok := l.flight.lowest(); ok {
			f = min(f, low)
		}
	}
	return f
}

// raiseIdleFloor stores a routed partition's position as its floor once
// nothing of it is left uncommitted: each lane's last batch was sealed while
// other lanes still held records, so no floor stored so far reaches the
// position, and without this the partition would show lag (and a restart
// would read its tail again) until more records come. It seals the last
// sealed lane's range up to the position (empty if its range reaches it):
// a commit of offsets only, once per idle spell. c.mu held.
func (c *Consumer) raiseIdleFloor(tp topicPartition, st *partState) {
	if st.buf.Next() <= max(st.floorSent, st.buf.Start()) {
		return
	}
	for _, l := range st.laneList {
		if l.buf.Len() > 0 {
			return
		}
		if _, busy := l.flight.lowest(); busy {
			return
		}
	}
	lane := st.lastLane
	if lane == nil {
		// Nothing routed to a table yet (every record skipped): the
		// position goes to the dead-letter table, else any table.
		rt := st.route.Router
		r := rt.Letters
		if r == nil && len(rt.tables) > 0 {
			r = rt.tables[0]
		}
		if r == nil {
			return // no table to hold it
		}
		lane = c.openLane(tp, st, r, st.buf.Start())
	}
	lane.buf.SkipTo(st.buf.Next())
	b := lane.buf.Seal(batcher.ReasonAge)
	if b == nil {
		// The lane's range reaches the position already (its last batch
		// did): an empty range, for the floor alone.
		at := lane.buf.Next()
		b = &batcher.Batch{Topic: tp.topic, Partition: tp.partition, Generation: lane.gen, Start: at, End: at, Reason: batcher.ReasonAge}
	}
	c.submit(lane, b)
}

// leaves calls fn with every buffer that holds rows: each partition's, or
// each lane's of a routed partition. c.mu held.
func (c *Consumer) leaves(fn func(tp topicPartition, st *partState)) {
	for tp, st := range c.parts {
		if st.lanes == nil {
			fn(tp, st)
			continue
		}
		for _, l := range st.laneList {
			fn(tp, l)
		}
	}
}

// dropLanes releases a routed partition's lanes and drops their batches
// in flight. c.mu held.
func (c *Consumer) dropLanes(tp topicPartition, st *partState, drop bool) {
	for _, l := range st.laneList {
		l.buf.Release()
		if drop {
			l.route.Sink.Drop(tp.topic, tp.partition, l.gen)
		}
	}
}

// repositionRouted starts routed partitions whose batch was fenced again
// from their tables' offsets: another owner committed to one of the
// tables, so what this one holds of every table is dropped and read
// again. Without c.mu.
func (c *Consumer) repositionRouted(ctx context.Context, fenced map[topicPartition]uint64) error {
	byRoute := map[*Route]map[string][]int32{}
	c.mu.Lock()
	for tp := range fenced {
		st := c.parts[tp]
		if st == nil || st.route.Router == nil {
			continue
		}
		if byRoute[st.route] == nil {
			byRoute[st.route] = map[string][]int32{}
		}
		byRoute[st.route][tp.topic] = append(byRoute[st.route][tp.topic], tp.partition)
	}
	c.mu.Unlock()
	for r, topics := range byRoute {
		floors, nexts, _, err := c.routedPositions(ctx, r, topics)
		if errors.Is(err, offsets.ErrSourceMismatch) {
			return err
		}
		if err != nil {
			// A catalog blip: try again at the next turn of the loop.
			c.log.Warn("read the tables' offsets to start a fenced routed partition again", "error", err)
			c.mu.Lock()
			for tp, gen := range fenced {
				c.refenced[tp] = gen
			}
			c.mu.Unlock()
			continue
		}
		seek := map[string]map[int32]kgo.EpochOffset{}
		c.mu.Lock()
		for topic, parts := range topics {
			for _, p := range parts {
				tp := topicPartition{topic, p}
				st := c.parts[tp]
				if st == nil || st.gen > fenced[tp] {
					continue
				}
				start, ok := floors[tp]
				if !ok {
					start = st.buf.Start() // where this owner started it: nothing below is missing
				}
				c.openPart(tp, start, true)
				c.parts[tp].laneNext = nexts[tp]
				c.tableNext[tp] = start
				if seek[topic] == nil {
					seek[topic] = map[int32]kgo.EpochOffset{}
				}
				seek[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: start}
				c.log.Warn("routed partition started again from its tables' offsets after a fenced batch",
					"topic", topic, "partition", p, "offset", start)
			}
		}
		c.mu.Unlock()
		if len(seek) > 0 {
			c.cl.SetOffsets(seek)
		}
	}
	return nil
}

// message is the codec's view of a record.
func message(rec *kgo.Record) codec.Message {
	msg := codec.Message{
		Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp,
		Key: rec.Key, Value: rec.Value,
	}
	if len(rec.Headers) > 0 {
		msg.Headers = make([]codec.Header, len(rec.Headers))
		for i, h := range rec.Headers {
			msg.Headers[i] = codec.Header{Key: h.Key, Value: h.Value}
		}
	}
	return msg
}
