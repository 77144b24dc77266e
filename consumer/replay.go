package consumer

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/batcher"
)

// Bounds is the offset range [From, To) of one partition to replay.
type Bounds struct{ From, To int64 }

// ErrReplayOffsets means the table holds offsets under the replay's key
// that do not lie within its range: the key belongs to something else.
var ErrReplayOffsets = errors.New("the table's offsets for this replay lie outside its range")

// RunRange replays a fixed range of topic, partition by partition, into the
// sink of the route that owns topic — no consumer group: a plain client is
// assigned the partitions. A partition starts where the sink's stored
// offsets say (an interrupted replay resumes) or at its From, and stops at
// its To: its last batch ends exactly at To, whatever the offsets below To
// hold (records, transaction markers, compacted gaps), so the stored offsets
// then equal To. Reading is read_committed and an offset Kafka no longer has
// is an error, as in [Consumer.Run].
//
// It returns nil once every partition reached its To or ctx is done; in both
// cases every buffer has been sealed and submitted, so the caller's final
// commit covers everything read. It returns the number of partitions that
// were not yet complete in the table when it started.
func (c *Consumer) RunRange(ctx context.Context, topic string, bounds map[int32]Bounds) (int, error) {
	defer c.close()
	r := c.byTopic[topic]
	if r == nil {
		return 0, fmt.Errorf("topic %q is not routed to a table", topic)
	}
	seed, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.cfg.Brokers...), kgo.ClientID(c.cfg.ClientID)}, c.opts...)...)
	if err != nil {
		return 0, fmt.Errorf("create kafka client: %w", err)
	}
	if err := c.readTopics(ctx, seed, []string{topic}); err != nil {
		return 0, err
	}
	stored, err := c.stored(ctx, r)
	if err != nil {
		return 0, err
	}

	parts := make([]int32, 0, len(bounds))
	for p := range bounds {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	starts := map[int32]kgo.Offset{}
	c.mu.Lock()
	c.stops = map[topicPartition]int64{}
	for _, p := range parts {
		b := bounds[p]
		start := b.From
		if next, ok := stored.Topics[topic].Next[p]; ok {
			if next < b.From || next > b.To {
				c.mu.Unlock()
				return 0, fmt.Errorf("%w: %s[%d] is at %d in table %s, outside [%d, %d)",
					ErrReplayOffsets, topic, p, next, r.Sink.Table(), b.From, b.To)
			}
			start = next
		}
		if start >= b.To {
			continue
		}
		tp := topicPartition{topic, p}
		c.stops[tp] = b.To
		c.openPart(tp, start, true)
		starts[p] = kgo.NewOffset().At(start).WithEpoch(-1)
		c.log.Info("replaying partition", "topic", topic, "partition", p, "start_offset", start, "end_offset", b.To)
	}
	c.mu.Unlock()
	if len(starts) == 0 {
		return 0, nil
	}

	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ClientID(c.cfg.ClientID),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		// Markers are offsets of the range too: seeing them is how a
		// partition whose last offsets are markers knows it is done.
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(c.cfg.FetchMaxBytes),
	}, c.opts...)...)
	if err != nil {
		return 0, fmt.Errorf("create kafka client: %w", err)
	}
	c.mu.Lock()
	c.cl = cl
	c.mu.Unlock()
	c.joined.Store(true)

	err = c.loop(ctx, true)
	c.mu.Lock()
	c.sealAll(batcher.ReasonShutdown)
	c.mu.Unlock()
	return len(starts), err
}

// atStop finishes a replayed partition once its buffer reached its stop
// offset: the last batch is sealed ending exactly there and the partition is
// no longer fetched. It reports whether the partition is finished; it is
// always false outside a replay. c.mu held.
func (c *Consumer) atStop(tp topicPartition, st *partState, offset int64) bool {
	stop, ok := c.stops[tp]
	if !ok || offset < stop {
		return false
	}
	st.buf.SkipTo(stop)
	c.seal(tp, st, batcher.ReasonEnd)
	st.buf.Release()
	delete(c.parts, tp)
	c.cl.RemoveConsumePartitions(map[string][]int32{tp.topic: {tp.partition}})
	c.log.Info("partition replayed", "topic", tp.topic, "partition", tp.partition, "end_offset", stop)
	return true
}

// RangeRead is the number of offsets a replay has read so far.
func (c *Consumer) RangeRead() int64 { return c.rangeRead.Load() }
