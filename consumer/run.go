package consumer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/evolution"
	"github.com/floe-dev/floe/offsets"
)

// maxPollWait bounds one poll so age limits, fence events and memory are
// checked at least this often.
const maxPollWait = time.Second

// Run joins the group and consumes until ctx is done or a fatal error (bad
// record under on-error fail, offset out of range, source mismatch). On
// return every buffer has been sealed and submitted to its sink, so the
// caller's final commit covers everything consumed. It returns nil on
// cancellation.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.close()
	if err := c.open(ctx); err != nil {
		if ctx.Err() != nil {
			// Stopped while starting (a SIGTERM before the group was
			// joined): nothing was consumed, so this is a clean stop.
			c.log.Info("stopped while starting; nothing consumed", "error", err)
			return nil
		}
		return err
	}

	bgCtx, stopBg := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Add(3)
	go func() { defer bg.Done(); c.lagLoop(bgCtx) }()
	go func() { defer bg.Done(); c.mirrorLoop(bgCtx) }()
	go func() { defer bg.Done(); c.accessLoop(bgCtx) }()
	if c.patterns() {
		bg.Add(1)
		go func() { defer bg.Done(); c.topicLoop(bgCtx) }()
	}
	defer func() { stopBg(); bg.Wait() }()

	err := c.loop(ctx, false)
	c.mu.Lock()
	c.sealAll(batcher.ReasonShutdown)
	c.mu.Unlock()
	return err
}

// open connects, checks the topics and the tables' stored offsets against
// the live cluster, and creates the group client.
func (c *Consumer) open(ctx context.Context) error {
	seed, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.cfg.Brokers...), kgo.ClientID(c.cfg.ClientID)}, c.opts...)...)
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	// The admin client lives on its own connection, set before the group
	// client exists: rebalance callbacks use it from franz-go's goroutines.
	if c.patterns() {
		if err := c.findTopics(ctx, kadm.NewClient(seed)); err != nil {
			seed.Close()
			return err
		}
	}
	if err := c.readTopics(ctx, seed, c.topics); err != nil {
		return err
	}
	if err := c.checkGroupAccess(ctx); err != nil {
		return err
	}
	for _, r := range c.routes {
		if r.Sink == nil {
			continue // a template: its tables' routes are among the routes
		}
		if _, err := c.stored(ctx, r); err != nil {
			return err
		}
	}

	opts := []kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ClientID(c.cfg.ClientID),
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// The table gives every start offset; an offset Kafka no longer has
		// is data loss to surface, never a silent jump.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.SessionTimeout(c.cfg.SessionTimeout),
		kgo.FetchMaxBytes(c.cfg.FetchMaxBytes),
		kgo.AdjustFetchOffsetsFn(c.adjust),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.revoked),
	}
	if c.cfg.Balancer == "server" {
		opts = append(opts, kgo.ServerSideBalancer())
	} else {
		opts = append(opts, kgo.Balancers(kgo.CooperativeStickyBalancer()))
	}
	cl, err := kgo.NewClient(append(opts, c.opts...)...)
	if err != nil {
		return fmt.Errorf("create kafka group client: %w", err)
	}
	c.mu.Lock()
	c.cl = cl
	c.mu.Unlock()
	c.started.Store(true)
	return nil
}

var errUnknownTopic = errors.New("unknown topic")

// readTopics reads the topics' metadata through seed (which becomes the
// admin client's): the cluster and topic IDs, and whether floe's principal
// may read each topic. The brokers list, per topic, the operations the
// principal may do: a missing READ stops floe here, with the ACL to grant,
// rather than leaving it to fetch errors later.
func (c *Consumer) readTopics(ctx context.Context, seed *kgo.Client, topics []string) error {
	c.adm = kadm.NewClient(seed)
	c.acc = accessOf(c.cfg, seed)
	mdCtx, done := c.acc.failFast(ctx)
	md, err := c.adm.Metadata(kadm.WithAuthorizedOps(mdCtx), topics...)
	if cause := done(); cause != nil {
		err = cause
	}
	if err != nil {
		resource := "Cluster"
		if errors.Is(err, kerr.TopicAuthorizationFailed) {
			resource = strings.Join(topics, ",")
		}
		if ae := c.acc.explainGrant(err, "DESCRIBE", resource, "READ"); ae != err {
			return ae
		}
		return fmt.Errorf("read kafka metadata from %v: %w", c.cfg.Brokers, err)
	}
	c.clusterID = md.Cluster
	ids := map[string]string{}
	defer func() {
		c.mu.Lock()
		c.topicIDs = ids
		c.mu.Unlock()
	}()
	for _, t := range topics {
		d, ok := md.Topics[t]
		if ok && errors.Is(d.Err, kerr.TopicAuthorizationFailed) {
			return c.acc.explainGrant(d.Err, "DESCRIBE", t, "READ")
		}
		if !ok || errors.Is(d.Err, errUnknownTopic) || d.Err != nil {
			return fmt.Errorf("topic %q: does not exist or is not readable: %v", t, d.Err)
		}
		if !hasOp(d.AuthorizedOperations, kadm.OpRead) {
			return c.acc.explain(kerr.TopicAuthorizationFailed, "READ", t)
		}
		if d.ID != (kadm.TopicID{}) {
			ids[t] = d.ID.String()
		}
	}
	return nil
}

// stored reads a route's table offsets and checks them against the live
// cluster and topic IDs.
func (c *Consumer) stored(ctx context.Context, r *Route) (offsets.Map, error) {
	m, err := r.Sink.Offsets(ctx)
	if err != nil {
		return offsets.Map{}, fmt.Errorf("read offsets of table %s: %w", r.Sink.Table(), err)
	}
	_, ids := c.snapshotTopics()
	src := offsets.Source{ClusterID: c.clusterID, TopicIDs: ids, ResetMismatched: c.cfg.AllowTopicMismatch}
	r.Sink.SetSource(src)
	m, dropped, err := src.Check(r.Sink.Table(), m)
	if err != nil {
		return offsets.Map{}, err
	}
	for _, t := range dropped {
		if t == "" {
			c.log.Warn("cluster ID mismatch overridden: stored offsets ignored", "table", r.Sink.Table())
			continue
		}
		c.log.Warn("topic ID mismatch overridden: stored offsets ignored", "topic", t, "table", r.Sink.Table())
	}
	return m, nil
}

// checkTopicIDs compares the topics' IDs in Kafka now with those floe
// started with. A topic deleted and recreated under the same name while floe
// runs has a new ID. franz-go never adopts it (fetches fail with
// UNKNOWN_TOPIC_ID until the client is restarted), and the offsets floe
// holds and reads from the table belong to the old topic: the only safe move
// is to stop, so that a restart meets the refusal (or the operator's
// override) in open. A topic missing from the metadata (deleted, not yet
// recreated) or a failed metadata request is not a mismatch: the next check
// sees how it ends.
func (c *Consumer) checkTopicIDs(ctx context.Context) error {
	topics, ids := c.snapshotTopics()
	if len(topics) == 0 {
		return nil
	}
	md, err := c.adm.Metadata(ctx, topics...)
	if err != nil {
		return nil
	}
	for _, t := range topics {
		d, ok := md.Topics[t]
		was := ids[t]
		if !ok || d.Err != nil || d.ID == (kadm.TopicID{}) || was == "" || d.ID.String() == was {
			continue
		}
		override := "set kafka.allow-topic-mismatch: true and restart to consume the new topic from kafka.start-from"
		if c.cfg.AllowTopicMismatch {
			override = "kafka.allow-topic-mismatch is set: restart floe to consume the new topic from kafka.start-from"
		}
		return fmt.Errorf("%w: topic ID mismatch: topic %q had ID %s when floe started but has ID %s in Kafka now: "+
			"it was deleted and recreated while floe ran. Offsets of the old topic do not apply to the new one, and a "+
			"running client cannot follow it; everything read before is committed, then floe stops. To go on, %s",
			offsets.ErrSourceMismatch, t, was, d.ID.String(), override)
	}
	return nil
}

// close leaves the group. The revocation that leaving triggers must not drop
// the batches just sealed for the final commit: c.closing tells revoked.
func (c *Consumer) close() {
	c.mu.Lock()
	cl, adm := c.cl, c.adm
	c.closing = true
	c.mu.Unlock()
	c.joined.Store(false)
	if cl != nil {
		cl.Close()
	}
	if adm != nil {
		adm.Close()
	}
}

// adjust positions newly assigned partitions from the tables. Partitions a
// table has never seen start at kafka.start-from, resolved to a number so
// every batch knows exactly where it starts.
func (c *Consumer) adjust(ctx context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	// A topic recreated under floe: its partitions may come back in this
	// assignment, and the table's offsets do not apply to them.
	if err := c.checkTopicIDs(ctx); err != nil {
		c.setFatal(err)
		return nil, err
	}
	starts := map[topicPartition]int64{}
	fromTable := map[topicPartition]bool{}
	var missing, missingLate []string
	c.mu.Lock()
	byRoute := map[*Route][]string{}
	late, found := map[string]bool{}, map[string]bool{}
	for t := range assigned {
		if r := c.byTopic[t]; r != nil {
			byRoute[r] = append(byRoute[r], t)
			late[t], found[t] = c.late[t], c.found[t]
		}
	}
	routes := c.routes
	c.mu.Unlock()
	laneNext := map[topicPartition]map[*Route]int64{}
	for _, r := range routes {
		topics := byRoute[r]
		if len(topics) == 0 {
			continue
		}
		if r.Router != nil {
			parts := map[string][]int32{}
			for _, t := range topics {
				for p := range assigned[t] {
					parts[t] = append(parts[t], p)
				}
			}
			floors, nexts, anyTable, err := c.routedPositions(ctx, r, parts)
			if errors.Is(err, offsets.ErrSourceMismatch) {
				c.setFatal(err)
				return nil, err
			}
			if err != nil {
				c.log.Warn("read the routed tables' offsets for assigned partitions", "router", r.table(), "error", err)
				return nil, err
			}
			// A routed partition starts at the highest floor its tables
			// hold; without one, from its first offset once a table was
			// made (an earlier run may have routed records to it and
			// died before committing), else at start-from.
			for t, ps := range parts {
				for _, p := range ps {
					tp := topicPartition{t, p}
					laneNext[tp] = nexts[tp]
					switch f, ok := floors[tp]; {
					case ok:
						starts[tp], fromTable[tp] = f, true
					case anyTable || late[t]:
						missingLate = append(missingLate, t)
					default:
						missing = append(missing, t)
					}
				}
			}
			continue
		}
		s, err := c.stored(ctx, r)
		if errors.Is(err, offsets.ErrSourceMismatch) {
			c.setFatal(err)
			return nil, err
		}
		if err != nil {
			// A catalog blip: the group client retries the assignment.
			c.log.Warn("read the table's offsets for assigned partitions", "table", r.Sink.Table(), "error", err)
			return nil, err
		}
		for _, t := range topics {
			// A topic found by pattern that the table holds no offsets
			// for, while it holds some: it may have been created after the
			// table's first start (found by another replica, or by an
			// earlier run that stopped before committing it), so all of it
			// is read. start-from (perhaps latest) is for a first start.
			fresh := late[t] || (found[t] && len(s.Topics) > 0) || r.FromFirst
			for p := range assigned[t] {
				switch next, ok := s.Topics[t].Next[p]; {
				case ok:
					starts[topicPartition{t, p}] = next
					fromTable[topicPartition{t, p}] = true
				case fresh:
					missingLate = append(missingLate, t)
				default:
					missing = append(missing, t)
				}
			}
		}
	}
	// A topic created while floe runs is read from its first offset: all of
	// it was written after floe started.
	for _, l := range []struct {
		from   string
		topics []string
	}{{c.cfg.StartFrom, missing}, {"earliest", missingLate}} {
		if len(l.topics) == 0 {
			continue
		}
		var listed kadm.ListedOffsets
		var err error
		if l.from == "latest" {
			listed, err = c.adm.ListEndOffsets(ctx, l.topics...)
		} else {
			listed, err = c.adm.ListStartOffsets(ctx, l.topics...)
		}
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("list %s offsets: %w", l.from, err)
		}
		listed.Each(func(o kadm.ListedOffset) {
			tp := topicPartition{o.Topic, o.Partition}
			if _, ok := assigned[o.Topic][o.Partition]; ok {
				if _, have := starts[tp]; !have {
					starts[tp] = o.Offset
				}
			}
		})
	}

	out := map[string]map[int32]kgo.Offset{}
	c.mu.Lock()
	defer c.mu.Unlock()
	for tp, start := range starts {
		if c.byTopic[tp.topic] == nil {
			// Deleted and released while its offsets were read: not
			// positioned, so franz-go does not fetch it.
			c.log.Info("partition of a released topic not started", "topic", tp.topic, "partition", tp.partition)
			continue
		}
		if out[tp.topic] == nil {
			out[tp.topic] = map[int32]kgo.Offset{}
		}
		out[tp.topic][tp.partition] = kgo.NewOffset().At(start).WithEpoch(-1)
		c.openPart(tp, start, fromTable[tp])
		c.parts[tp].laneNext = laneNext[tp]
		c.tableNext[tp] = start
		c.log.Info("partition assigned", "topic", tp.topic, "partition", tp.partition, "start_offset", start)
	}
	c.joined.Store(true)
	c.everJoined = true
	if c.groupDenied != nil {
		c.log.Info("kafka access restored: joined the group again", "group", c.cfg.Group)
		c.groupDenied = nil
	}
	return out, nil
}

// openPart starts a fresh buffer at start under a new generation; fromTable
// says start was read from the table. c.mu held.
func (c *Consumer) openPart(tp topicPartition, start int64, fromTable bool) {
	if old := c.parts[tp]; old != nil {
		old.buf.Release()
		if !old.retryAt.IsZero() && c.cl != nil {
			// Paused to retry a record: the fresh start reads it anew.
			c.cl.ResumeFetchPartitions(map[string][]int32{tp.topic: {tp.partition}})
		}
		if old.lanes != nil {
			c.dropLanes(tp, old, true)
		} else {
			old.route.Sink.Drop(tp.topic, tp.partition, old.gen)
		}
	}
	c.gens[tp]++
	r := c.byTopic[tp.topic]
	st := &partState{
		route: r, gen: c.gens[tp], fromTable: fromTable,
		buf: batcher.NewBuffer(tp.topic, tp.partition, c.gens[tp], start, r.Schema, c.mem, c.cfg.Batch),
	}
	if r.Router != nil {
		// buf only tracks the position (it never holds a row); the
		// tables' lanes open as records are routed to them.
		st.lanes = map[*Route]*partState{}
	}
	c.parts[tp] = st
}

func (c *Consumer) assigned(_ context.Context, _ *kgo.Client, _ map[string][]int32) {}

// revoked drops the partitions' buffers and their uncommitted batches: the
// next owner re-reads from the table's offsets. A commit already on the wire
// stays correct through the committer's fencing check.
func (c *Consumer) revoked(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, parts := range lost {
		for _, p := range parts {
			tp := topicPartition{topic, p}
			c.closePart(tp)
			c.log.Info("partition revoked", "topic", topic, "partition", p)
		}
	}
}

// closePart forgets a partition and drops its uncommitted work. c.mu held.
func (c *Consumer) closePart(tp topicPartition) {
	st := c.parts[tp]
	if st == nil {
		return
	}
	st.buf.Release()
	if !st.retryAt.IsZero() && c.cl != nil {
		// Paused to retry a record: a later owner (perhaps this process
		// again) starts unpaused.
		c.cl.ResumeFetchPartitions(map[string][]int32{tp.topic: {tp.partition}})
	}
	delete(c.parts, tp)
	delete(c.tableNext, tp)
	delete(c.tableNewest, tp)
	switch {
	case st.lanes != nil:
		c.dropLanes(tp, st, !c.closing)
	case !c.closing:
		st.route.Sink.Drop(tp.topic, tp.partition, st.gen)
	}
	c.m.lag.DeleteLabelValues(tp.topic, partLabel(tp.partition))
	c.m.lagSeconds.DeleteLabelValues(tp.topic, partLabel(tp.partition))
}

func (c *Consumer) setFatal(err error) {
	c.mu.Lock()
	if c.fatal == nil {
		c.fatal = err
	}
	c.mu.Unlock()
	c.poke()
}

// loop polls, decodes and buffers until ctx is done or a fatal error; with
// finite (a replay) also once no partition is left to read.
func (c *Consumer) loop(ctx context.Context, finite bool) error {
	// Schema changes are committed under this context, on goroutines of
	// their own; they end before the loop returns.
	ctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	c.runCtx = ctx
	c.mu.Unlock()
	defer func() { cancel(); c.evolves.Wait() }()
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		c.mu.Lock()
		err := c.fatal
		if err == nil {
			c.applyFences()
			c.applyRetries(time.Now())
			c.applySchemaSeeks()
			c.sealDue(time.Now())
			c.balanceMemory()
		}
		left := len(c.parts)
		refenced := c.refenced
		if len(refenced) > 0 {
			c.refenced = map[topicPartition]uint64{}
		}
		c.mu.Unlock()
		if err == nil && len(refenced) > 0 {
			err = c.repositionRouted(ctx, refenced)
		}
		if err != nil {
			return err
		}
		if finite && left == 0 {
			return nil // a replay: every partition reached its end
		}

		// A poke (memory released, a fence, a schema change landed) ends
		// the wait at once: a loop paused on the memory budget resumes as
		// soon as a batch is written, not at the next poll timeout.
		pollCtx, cancel := context.WithTimeout(ctx, maxPollWait)
		go func() {
			select {
			case <-c.wake:
				cancel()
			case <-pollCtx.Done():
			}
		}()
		fetches := c.cl.PollRecords(pollCtx, 50_000)
		cancel()
		if fetches.IsClientClosed() {
			return nil
		}
		c.mu.Lock()
		err = c.process(fetches)
		c.mu.Unlock()
		c.cl.AllowRebalance()
		if err != nil {
			return err
		}
	}
}

// process decodes and buffers one poll's records. c.mu held.
func (c *Consumer) process(fetches kgo.Fetches) error {
	for _, fe := range fetches.Errors() {
		if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
			continue
		}
		if !c.everJoined && isDenial(fe.Err) {
			// Refused before floe ever joined: a missing ACL at start,
			// which the operator must fix.
			return c.acc.explain(fe.Err, "READ", fe.Topic)
		}
		if c.denyAccess(fe.Topic, fe.Err) {
			continue
		}
		if isFatalFetchError(fe.Err) {
			return fmt.Errorf("fetch %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
		}
		c.log.Warn("fetch error; the client retries", "topic", fe.Topic, "partition", fe.Partition, "error", fe.Err)
	}
	now := time.Now()
	// Partitions are decoded side by side, each by one goroutine in offset
	// order (see decodeParallel); routed partitions and replays, whose
	// records reach state shared across partitions (the router's tables, the
	// replay's stops), one after another.
	var (
		parallel, serial []partWork
	)
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		tp := topicPartition{fp.Topic, fp.Partition}
		st := c.parts[tp]
		if st == nil || st.waitSchema {
			return // revoked while the fetch was buffered, or read again once the table's schema changed
		}
		st.hwm = fp.HighWatermark
		if n := len(fp.Records); n > 0 && fp.Records[n-1].Offset+1 < fp.HighWatermark {
			st.backlog = true // more was in Kafka than this fetch brought
		}
		w := partWork{tp: tp, st: st, records: fp.Records}
		if st.lanes != nil || len(c.stops) > 0 {
			serial = append(serial, w)
		} else {
			parallel = append(parallel, w)
		}
	})
	firstErr := c.decodeParallel(parallel, now)
	for _, w := range serial {
		if firstErr != nil {
			break
		}
		firstErr = c.decodePart(w, now)
	}
	return firstErr
}

// partWork is one partition's records of a poll.
type partWork struct {
	tp      topicPartition
	st      *partState
	records []*kgo.Record
}

// decodeParallel decodes the partitions of ws on up to GOMAXPROCS
// goroutines, each partition on one of them, its records in offset order,
// and returns the first error. c.mu held (by the caller, for all of them).
//
// A partition's decode touches only its own state (partState, buffer,
// batches) and what is safe for concurrent use: the decoders, metrics,
// the sinks' Submit, atomic counters; the few consumer-wide fields its
// rarer paths reach (a schema change, a decode retry) are under c.sideMu.
// Nothing here is bound to one goroutine, so decoding grows with the cores
// while each partition's order, and so the commit protocol, is kept.
func (c *Consumer) decodeParallel(ws []partWork, now time.Time) error {
	workers := min(runtime.GOMAXPROCS(0), len(ws))
	if workers <= 1 {
		for _, w := range ws {
			if err := c.decodePart(w, now); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ws) {
					return
				}
				if err := c.decodePart(ws[i], now); err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// decodePart decodes one partition's records of a poll into its buffer.
func (c *Consumer) decodePart(w partWork, now time.Time) error {
	tp, st := w.tp, w.st
	before := st.buf.Next()
	defer func() { c.rangeRead.Add(max(st.buf.Next()-before, 0)) }()
	for _, rec := range w.records {
		if rec.Offset < st.buf.Next() {
			continue // re-delivered before a re-seek took effect
		}
		if c.atStop(tp, st, rec.Offset) {
			return nil // a replay past its range
		}
		if rec.Attrs.IsControl() {
			// A transaction marker (only kept for replays): an offset
			// without a row.
			st.buf.SkipTo(rec.Offset + 1)
		} else if err := c.addTo(tp, st, rec, now); errors.Is(err, errWaitSchema) || errors.Is(err, errWaitRetry) || errors.Is(err, errReleased) {
			return nil // the rest of this partition waits for the change
		} else if err != nil {
			return err
		}
		if c.atStop(tp, st, st.buf.Next()) {
			return nil
		}
	}
	return nil
}

// addTo adds one record to its partition: to its buffer, or to a lane of a
// routed partition.
func (c *Consumer) addTo(tp topicPartition, st *partState, rec *kgo.Record, now time.Time) error {
	if st.lanes != nil {
		return c.addRouted(tp, st, rec, now)
	}
	return c.add(st, rec, now)
}

// add decodes one record into its partition's buffer.
func (c *Consumer) add(st *partState, rec *kgo.Record, now time.Time) error {
	msg := message(rec)
	return c.addMessage(st, rec, &msg, now)
}

// addMessage is add with the record's codec view already made (a routed
// record's, read once to route it).
func (c *Consumer) addMessage(st *partState, rec *kgo.Record, msg *codec.Message, now time.Time) error {
	size := len(rec.Value)
	if st.read == nil {
		st.read = c.m.records.WithLabelValues(rec.Topic, partLabel(rec.Partition))
		st.readBytes = c.m.bytes.WithLabelValues(rec.Topic, partLabel(rec.Partition))
	}
	st.read.Inc()
	st.readBytes.Add(float64(size))
	derr := st.route.Decoder.Append(st.buf.Builder(), msg)
	if errors.Is(derr, codec.ErrRetry) {
		return c.waitRetry(st, rec, derr, now)
	}
	st.retries = 0
	if change := (*evolution.Change)(nil); errors.As(derr, &change) && st.route.Evolve != nil {
		if st.refused == nil || st.refusedAt != rec.Offset {
			return c.needSchema(st, change)
		}
		derr = st.refused // not a safe evolution: a bad record
	}
	if derr == nil {
		full, err := st.buf.Add(rec.Offset, rec.Timestamp, size, true, now)
		return c.account(st, rec, full, err)
	}
	reason := "invalid"
	var de *codec.DecodeError
	if errors.As(derr, &de) {
		reason = string(de.Kind)
	}
	// A change event without a row (a delete) goes by its own policy and
	// is counted apart from bad records: no fault of the producer's.
	policy, counted, rowless := st.route.OnError, c.m.badRecords, de != nil && de.Policy != ""
	if rowless {
		policy, counted = de.Policy, c.m.withoutRow
	}
	switch policy {
	case codec.OnErrorSkip:
		counted.WithLabelValues(rec.Topic, reason, badOutcome(policy)).Inc()
		if !rowless {
			c.log.Warn("record skipped", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "error", derr)
		}
		full, err := st.buf.Add(rec.Offset, rec.Timestamp, size, false, now)
		return c.account(st, rec, full, err)
	case codec.OnErrorDLQ:
		counted.WithLabelValues(rec.Topic, reason, badOutcome(policy)).Inc()
		if !rowless {
			c.log.Warn("record sent to the dead-letter table", "topic", rec.Topic, "partition", rec.Partition,
				"offset", rec.Offset, "reason", reason, "error", derr)
		}
		full, err := st.buf.AddLetter(letter(rec, reason, derr, st.route.MaxLetterValue), size, now)
		return c.account(st, rec, full, err)
	default:
		c.m.badRecords.WithLabelValues(rec.Topic, reason, badOutcome(codec.OnErrorFail)).Inc()
		// Everything before the bad record is valid: seal it so the final
		// commit keeps it, then stop at the bad record.
		c.seal(topicPartition{rec.Topic, rec.Partition}, st, batcher.ReasonShutdown)
		return fmt.Errorf("%w (on-error is fail: floe stops here; fix the record, or set on-error: skip or dlq)", derr)
	}
}

// maxChangesPerRecord bounds the schema changes one record can cause.
const maxChangesPerRecord = 3

// account seals the partition's buffer when adding rec filled it.
func (c *Consumer) account(st *partState, rec *kgo.Record, reason batcher.Reason, err error) error {
	if err != nil {
		return err
	}
	if reason != batcher.ReasonNone {
		c.seal(topicPartition{rec.Topic, rec.Partition}, st, reason)
	}
	return nil
}

// letter copies a bad record for the dead-letter table: franz-go's record
// slices point into fetch buffers that must not be kept alive. The value is
// cut to maxValue bytes (0: no limit).
func letter(rec *kgo.Record, reason string, err error, maxValue int64) batcher.DeadLetter {
	v := rec.Value
	if maxValue > 0 && int64(len(v)) > maxValue {
		v = v[:maxValue]
	}
	l := batcher.DeadLetter{
		Offset: rec.Offset, Timestamp: rec.Timestamp, ValueSize: len(rec.Value),
		Key: bytes.Clone(rec.Key), Value: bytes.Clone(v), Reason: reason, Error: err.Error(),
	}
	if l.Value == nil && rec.Value != nil {
		l.Value = []byte{}
	}
	for _, h := range rec.Headers {
		l.Headers = append(l.Headers, batcher.Header{Key: h.Key, Value: bytes.Clone(h.Value)})
	}
	return l
}

// isFatalFetchError is true for errors that mean records the table needs
// are gone from Kafka: continuing would skip them silently.
func isFatalFetchError(err error) bool {
	var loss *kgo.ErrDataLoss
	return errors.As(err, &loss) || errors.Is(err, kerr.OffsetOutOfRange)
}

// seal submits the partition's buffer as a batch. c.mu held.
func (c *Consumer) seal(tp topicPartition, st *partState, reason batcher.Reason) {
	if st.lanes != nil {
		for _, l := range st.laneList {
			c.seal(tp, l, reason)
		}
		return
	}
	if st.parent != nil && st.buf.Len() > 0 {
		// A lane's batch covers the partition up to its position: the
		// records in between went to other tables.
		st.buf.SkipTo(st.parent.buf.Next())
	}
	if b := st.buf.Seal(reason); b != nil {
		c.submit(st, b)
	}
}

// submit hands a sealed batch of st to its sink. c.mu held.
func (c *Consumer) submit(st *partState, b *batcher.Batch) {
	b.FromTable = st.fromTable
	b.Done = c.batchDone
	b.Written = func(b *batcher.Batch) { c.released(b.Bytes) } // written ahead: the memory is free
	if st.parent != nil {
		b.Floor = floor(st)
		st.parent.floorSent = max(st.parent.floorSent, b.Floor)
		st.parent.lastLane = st
		st.flight.add(b, st.firstAt)
		b.Done = c.laneDone(st)
	}
	c.pendingBytes.Add(b.Bytes)
	c.m.flushes.WithLabelValues(string(b.Reason)).Inc()
	st.route.Sink.Submit(b)
}

func (c *Consumer) sealAll(reason batcher.Reason) {
	for tp, st := range c.parts {
		c.seal(tp, st, reason)
	}
}

func (c *Consumer) sealDue(now time.Time) {
	c.leaves(func(tp topicPartition, st *partState) {
		part := st
		if st.parent != nil {
			part = st.parent
		}
		switch {
		case behind(st):
		case st.buf.Due(now):
			c.seal(tp, st, batcher.ReasonAge)
		case part.backlog && st.buf.Bytes() >= caughtUpBytes(st.buf.Policy()):
			// The partition just read the last record of a backlog: its
			// large tail is written now, beside the reading of the rest,
			// not at the next commit. (A stream that keeps up never
			// fetches short of its high watermark: its batches stay full.)
			c.seal(tp, st, batcher.ReasonCaughtUp)
		}
	})
	var caught []Sink
	for tp, st := range c.parts {
		if !behind(st) {
			if st.backlog {
				caught = st.sinks(caught)
			}
			st.backlog = false
		}
		if st.lanes != nil {
			c.raiseIdleFloor(tp, st)
		}
	}
	c.tellCaughtUp(caught)
}

// tellCaughtUp tells each of sinks, whose partitions have just read to the
// end of a backlog, that it has caught up, unless another partition feeding
// it here is still behind. c.mu held.
func (c *Consumer) tellCaughtUp(sinks []Sink) {
	for i, sink := range sinks {
		if slices.Contains(sinks[:i], sink) {
			continue
		}
		still := false
		c.leaves(func(_ topicPartition, st *partState) {
			still = still || (st.route.Sink == sink && behind(st))
		})
		if !still {
			sink.CaughtUp()
		}
	}
}

// sinks appends the sinks st's partition feeds: its route's, or its lanes'.
func (st *partState) sinks(to []Sink) []Sink {
	if st.lanes == nil {
		if st.route.Sink != nil {
			to = append(to, st.route.Sink)
		}
		return to
	}
	for _, l := range st.laneList {
		if l.route.Sink != nil {
			to = append(to, l.route.Sink)
		}
	}
	return to
}

// caughtUpBytes is the size from which a buffer whose partition has just
// caught up with a backlog seals at once (ReasonCaughtUp): an eighth of a
// full batch.
func caughtUpBytes(p batcher.Policy) int64 { return max(p.MaxBytes/8, 1<<20) }

// behind is true while st's partition has records in Kafka beyond what was
// read: its buffers then seal on size (and at each commit), not on age, so
// a backlog drains in full batches.
func behind(st *partState) bool {
	if st.parent != nil {
		st = st.parent
	}
	return st.buf.Next() < st.hwm
}

// applyFences re-seeks partitions whose batches were fenced. c.mu held.
func (c *Consumer) applyFences() {
	if len(c.fences) == 0 {
		return
	}
	seek := map[string]map[int32]kgo.EpochOffset{}
	for _, f := range c.fences {
		st := c.parts[f.tp]
		if st == nil || st.gen > f.gen {
			continue // revoked, or already re-seeked since
		}
		if st.lanes != nil {
			c.refenced[f.tp] = max(c.refenced[f.tp], f.gen) // every table's offsets are read again (loop)
			continue
		}
		c.openPart(f.tp, f.next, true)
		c.tableNext[f.tp] = f.next
		if c.atStop(f.tp, c.parts[f.tp], f.next) {
			continue // a replay whose range someone else finished
		}
		if seek[f.tp.topic] == nil {
			seek[f.tp.topic] = map[int32]kgo.EpochOffset{}
		}
		seek[f.tp.topic][f.tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: f.next}
		c.log.Warn("partition re-seeked to the table's offset after a fenced batch",
			"topic", f.tp.topic, "partition", f.tp.partition, "offset", f.next)
	}
	c.fences = nil
	if len(seek) > 0 {
		c.cl.SetOffsets(seek)
	}
}

// balanceMemory enforces the memory budget: past it, the largest buffers
// are sealed (their bytes move to the sinks); while uncommitted bytes alone
// exceed it, fetching pauses until commits release memory. c.mu held.
func (c *Consumer) balanceMemory() {
	var buffered int64
	c.leaves(func(_ topicPartition, st *partState) { buffered += st.buf.Bytes() })
	pending := c.pendingBytes.Load()
	c.m.bufferedBytes.WithLabelValues("buffered").Set(float64(buffered))
	c.m.bufferedBytes.WithLabelValues("pending").Set(float64(pending))
	budget := c.cfg.MemoryBudget
	arrowBytes := c.mem.bytes.Load()
	if arrowBytes > budget {
		// First the room that full batches reserved in empty buffers for
		// the next ones: without it no Arrow memory is left that sealing
		// and commits do not release, so the pause below always ends.
		c.leaves(func(_ topicPartition, st *partState) { st.buf.Unreserve() })
		arrowBytes = c.mem.bytes.Load()
	}
	c.m.bufferedBytes.WithLabelValues("arrow").Set(float64(arrowBytes))
	// The Arrow memory of the rows (builders with their growth, sealed
	// batches) counts too: it is what the process really holds, often more
	// than the payload. Past the budget on either count the largest buffers
	// are sealed, so that commits can free them; a buffer's Arrow memory is
	// estimated from its payload at the overall ratio.
	ratio := 1.0
	if held := buffered + pending; held > 0 && arrowBytes > held {
		ratio = float64(arrowBytes) / float64(held)
	}
	excess := func() float64 {
		return max(float64(buffered+pending-budget), float64(arrowBytes-budget)-float64(pending)*ratio)
	}
	if excess() > 0 {
		type sized struct {
			tp topicPartition
			st *partState
		}
		var all []sized
		c.leaves(func(tp topicPartition, st *partState) {
			if st.buf.Len() > 0 {
				all = append(all, sized{tp, st})
			}
		})
		sort.Slice(all, func(i, j int) bool { return all[i].st.buf.Bytes() > all[j].st.buf.Bytes() })
		for _, s := range all {
			if excess() <= 0 {
				break
			}
			if pending+s.st.buf.Bytes() > budget {
				continue // would not fit either; a smaller one may
			}
			n := s.st.buf.Bytes()
			c.seal(s.tp, s.st, batcher.ReasonMemory)
			buffered -= n
			pending += n
		}
	}
	// Buffers still seal on age while paused, and commits release both
	// counts, so a pause always ends.
	over := buffered+pending > budget || arrowBytes > budget
	if over != c.memoryPaused {
		c.memoryPaused = over
		c.m.paused.WithLabelValues("memory").Set(boolGauge(over))
		if over {
			c.log.Info("memory budget reached: fetching paused until commits catch up",
				"buffered_bytes", buffered, "pending_bytes", pending, "arrow_bytes", arrowBytes, "budget_bytes", budget)
		}
	}
	c.applyPauses()
}

// applyPauses pauses every topic while memory is short, and otherwise the
// topics of tables that cannot commit; it resumes the rest. c.mu held.
func (c *Consumer) applyPauses() {
	want := map[string]bool{}
	for _, t := range c.topics {
		if c.memoryPaused || c.routeUnhealthy(c.byTopic[t]) {
			want[t] = true
		}
	}
	for t := range c.denied {
		want[t] = true
	}
	var pause, resume []string
	for _, t := range c.topics {
		switch {
		case want[t] && !c.pausedTopics[t]:
			pause = append(pause, t)
		case !want[t] && c.pausedTopics[t]:
			resume = append(resume, t)
		}
	}
	if len(pause) > 0 {
		c.cl.PauseFetchTopics(pause...)
	}
	if len(resume) > 0 {
		c.cl.ResumeFetchTopics(resume...)
	}
	c.pausedTopics = want
	unhealthy := 0
	for _, r := range c.routes {
		if r.Sink != nil && c.unhealthy[r.Sink.Table()] {
			unhealthy++
		}
	}
	c.m.paused.WithLabelValues("table").Set(boolGauge(unhealthy > 0))
	c.m.paused.WithLabelValues("access").Set(boolGauge(len(c.denied) > 0))
	denied := len(c.denied)
	if c.groupDenied != nil {
		denied++
	}
	c.m.accessDenied.Set(float64(denied))
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
