package consumer

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/offsets"
)

// Admin answers what floe's commands ask Kafka outside a pipeline: who is
// in a consumer group (`floe rollback` refuses while floe consumes), which
// records Kafka no longer has, and what a replay's range is in offsets and
// bytes. It only reads; it changes nothing in Kafka.
type Admin struct {
	brokers []string
	cl      *kgo.Client
	adm     *kadm.Client
}

// NewAdmin makes a client of cfg's brokers with opts (the process's shared
// ClientOptions). Close it when done.
func NewAdmin(cfg Config, opts ...kgo.Opt) (*Admin, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID(cfg.ClientID)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to kafka %v: %w", cfg.Brokers, err)
	}
	return &Admin{brokers: cfg.Brokers, cl: cl, adm: kadm.NewClient(cl)}, nil
}

// Close closes the client.
func (a *Admin) Close() { a.cl.Close() }

// Topics lists the cluster's topics floe may describe, internal ones
// left out, sorted.
func (a *Admin) Topics(ctx context.Context) ([]string, error) {
	listed, err := a.adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list kafka topics: %w", err)
	}
	return listed.Names(), nil
}

// Members lists the members of group as client-id@host, sorted. A group
// that is empty, unknown or that Kafka answers with an error for has none.
func (a *Admin) Members(ctx context.Context, group string) ([]string, error) {
	groups, err := a.adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("describe consumer group %s: %w", group, err)
	}
	g, ok := groups[group]
	if !ok || g.Err != nil {
		return nil, nil
	}
	var members []string
	for _, m := range g.Members {
		members = append(members, m.ClientID+"@"+strings.TrimPrefix(m.ClientHost, "/"))
	}
	sort.Strings(members)
	return members, nil
}

// Lost is the start of a range whose records Kafka no longer has: Start to
// End were deleted (by retention or DeleteRecords).
type Lost struct {
	offsets.Range
	// First is the first offset Kafka still has of the partition; End is
	// First, or the range's own End when all of it is gone.
	First int64
}

// LostRanges returns, in the order of ranges, the parts of them whose
// records Kafka no longer has.
func (a *Admin) LostRanges(ctx context.Context, ranges []offsets.Range) ([]Lost, error) {
	if len(ranges) == 0 {
		return nil, nil
	}
	topics := map[string]bool{}
	var names []string
	for _, r := range ranges {
		if !topics[r.Topic] {
			topics[r.Topic] = true
			names = append(names, r.Topic)
		}
	}
	starts, err := a.adm.ListStartOffsets(ctx, names...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list the first offsets Kafka still has: %w", err)
	}
	var lost []Lost
	for _, r := range ranges {
		if o, ok := starts.Lookup(r.Topic, r.Partition); ok && o.Offset > r.Start {
			gone := r
			gone.End = min(o.Offset, r.End)
			lost = append(lost, Lost{Range: gone, First: o.Offset})
		}
	}
	return lost, nil
}

// Position is one end of a range as asked: an offset, a time, the first
// offset Kafka still has or the end of the partition.
type Position struct {
	kind   positionKind
	offset int64
	time   time.Time
}

type positionKind int

const (
	atOffset positionKind = iota
	atFirst
	atEnd
	atTime
)

// AtOffset is offset n of every partition.
func AtOffset(n int64) Position { return Position{kind: atOffset, offset: n} }

// AtTime is, per partition, the first offset whose record is stamped at or
// after t (or the end when there is none), so a range between two times
// holds the records stamped from <= ts < to.
func AtTime(t time.Time) Position { return Position{kind: atTime, time: t} }

// FirstOffset is the first offset Kafka still has of each partition.
func FirstOffset() Position { return Position{kind: atFirst} }

// EndOffset is the end of each partition: its last stable offset, the end
// of what a read_committed reader can read (an open transaction's records
// are not decided yet).
func EndOffset() Position { return Position{kind: atEnd} }

// RangePlan is a range of one topic resolved against Kafka.
type RangePlan struct {
	Partitions []int32 // sorted
	Bounds     map[int32]Bounds
	Offsets    int64 // the sum of To - From
	// Bytes estimates the Kafka log the range covers: each partition's log
	// size (DescribeLogDirs, its largest replica) prorated by the share of
	// its offsets the range covers. Compaction, compression and record
	// sizes that vary along the log make it approximate.
	Bytes int64
}

// RangeReason says why a range cannot be read as asked.
type RangeReason int

const (
	// NoTopic: the topic does not exist or cannot be read (Err says why).
	NoTopic RangeReason = iota + 1
	// NoPartition: the topic has no partition Partition; it has Partitions.
	NoPartition
	// FromDeleted: From is below First, deleted by retention or DeleteRecords.
	FromDeleted
	// FromExpired: from is a time and the first record Kafka still has is
	// stamped after it (FirstTime): records between the two may have been
	// deleted, and nothing says which.
	FromExpired
	// FromPastEnd: From is past End.
	FromPastEnd
	// ToPastEnd: To is past End.
	ToPastEnd
	// FromAfterTo: From is after To.
	FromAfterTo
)

// RangeError is a range Kafka cannot serve as asked, with what the caller
// needs to say so in its own words.
type RangeError struct {
	Reason     RangeReason
	Topic      string
	Partition  int32
	Partitions int   // NoPartition: how many partitions the topic has
	Err        error // NoTopic: Kafka's error for the topic, if any
	From, To   int64 // the range resolved for Partition
	First, End int64 // the first offset Kafka still has and the end (last stable offset)
	FirstTime  time.Time
}

func (e *RangeError) Error() string {
	where := fmt.Sprintf("%s partition %d", e.Topic, e.Partition)
	switch e.Reason {
	case NoTopic:
		return fmt.Sprintf("topic %q does not exist or is not readable (%v)", e.Topic, e.Err)
	case NoPartition:
		return fmt.Sprintf("topic %s has no partition %d (it has %d partitions)", e.Topic, e.Partition, e.Partitions)
	case FromDeleted:
		return fmt.Sprintf("%s: offset %d no longer exists in Kafka; the first available offset is %d", where, e.From, e.First)
	case FromExpired:
		return fmt.Sprintf("%s: records from the start time may have been deleted: the first available offset %d is newer (%s)",
			where, e.First, e.FirstTime.UTC().Format(time.RFC3339Nano))
	case FromPastEnd:
		return fmt.Sprintf("%s: from offset %d is past the end of the partition (%d)", where, e.From, e.End)
	case ToPastEnd:
		return fmt.Sprintf("%s: to offset %d is past the end of the partition (%d)", where, e.To, e.End)
	case FromAfterTo:
		return fmt.Sprintf("%s: from offset %d is after to offset %d", where, e.From, e.To)
	}
	return where + ": bad range"
}

// PlanRange resolves the range [from, to) of topic's partitions (all when
// partitions is empty) to offsets and checks that Kafka can serve it: a
// *RangeError says why not.
func (a *Admin) PlanRange(ctx context.Context, topic string, partitions []int32, from, to Position) (*RangePlan, error) {
	md, err := a.adm.Metadata(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("read kafka metadata from %v: %w", a.brokers, err)
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return nil, &RangeError{Reason: NoTopic, Topic: topic, Err: td.Err}
	}
	parts, err := selectPartitions(topic, partitions, td.Partitions.Numbers())
	if err != nil {
		return nil, err
	}
	starts, err := listed(a.adm.ListStartOffsets(ctx, topic))
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	ends, err := listed(a.adm.ListCommittedOffsets(ctx, topic))
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	froms, err := a.resolve(ctx, topic, from, true, starts, ends)
	if err != nil {
		return nil, err
	}
	tos, err := a.resolve(ctx, topic, to, false, starts, ends)
	if err != nil {
		return nil, err
	}
	plan := &RangePlan{Partitions: parts, Bounds: map[int32]Bounds{}}
	for _, p := range parts {
		f, t := froms[p], tos[p]
		e := &RangeError{Topic: topic, Partition: p, From: f.offset, To: t.offset, First: starts[p].Offset, End: ends[p].Offset}
		switch {
		case f.offset < e.First:
			e.Reason = FromDeleted
		case f.expired:
			e.Reason, e.FirstTime = FromExpired, time.UnixMilli(f.ts)
		case f.offset > e.End:
			e.Reason = FromPastEnd
		case t.offset > e.End:
			e.Reason = ToPastEnd
		case f.offset > t.offset:
			e.Reason = FromAfterTo
		}
		if e.Reason != 0 {
			return nil, e
		}
		plan.Bounds[p] = Bounds{From: f.offset, To: t.offset}
		plan.Offsets += t.offset - f.offset
	}
	if plan.Bytes, err = a.estimateBytes(ctx, topic, plan.Bounds, starts, ends); err != nil {
		return nil, err
	}
	return plan, nil
}

// selectPartitions returns the partitions asked for, sorted and without
// repeats, or all of them.
func selectPartitions(topic string, asked, all []int32) ([]int32, error) {
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(asked) == 0 {
		return all, nil
	}
	exists := map[int32]bool{}
	for _, p := range all {
		exists[p] = true
	}
	seen := map[int32]bool{}
	var out []int32
	for _, p := range asked {
		if !exists[p] {
			return nil, &RangeError{Reason: NoPartition, Topic: topic, Partition: p, Partitions: len(all)}
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func listed(l kadm.ListedOffsets, err error) (map[int32]kadm.ListedOffset, error) {
	if err == nil {
		err = l.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]kadm.ListedOffset{}
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o })
	return out, nil
}

// bound is one resolved end of the range for one partition.
type bound struct {
	offset  int64
	ts      int64 // for a time: the timestamp of the record at offset
	expired bool  // for the start time: records at or after it may have been deleted
}

// resolve turns pos into an offset per partition; isFrom says it is the
// range's start.
func (a *Admin) resolve(ctx context.Context, topic string, pos Position, isFrom bool, starts, ends map[int32]kadm.ListedOffset) (map[int32]bound, error) {
	out := map[int32]bound{}
	switch pos.kind {
	case atFirst:
		for p, o := range starts {
			out[p] = bound{offset: o.Offset}
		}
		return out, nil
	case atEnd:
		for p, o := range ends {
			out[p] = bound{offset: o.Offset}
		}
		return out, nil
	case atOffset:
		for p := range ends {
			out[p] = bound{offset: pos.offset}
		}
		return out, nil
	}
	t := pos.time.UnixMilli()
	l, err := listed(a.adm.ListOffsetsAfterMilli(ctx, t, topic))
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s at %s: %w", topic, pos.time.Format(time.RFC3339Nano), err)
	}
	for p, o := range l {
		b := bound{offset: o.Offset, ts: o.Timestamp}
		if o.Offset < 0 || o.Offset > ends[p].Offset {
			b.offset = ends[p].Offset // no record at or after t (yet)
		}
		// The first record Kafka still has is already after t: records
		// between t and it may have been deleted, and nothing says which.
		first := starts[p].Offset
		b.expired = isFrom && first > 0 && b.offset == first && o.Timestamp > t
		out[p] = b
	}
	return out, nil
}

// estimateBytes prorates each partition's log size (DescribeLogDirs, the
// largest replica) by the share of its offsets the range covers.
func (a *Admin) estimateBytes(ctx context.Context, topic string, bounds map[int32]Bounds, starts, ends map[int32]kadm.ListedOffset) (int64, error) {
	set := kadm.TopicsSet{}
	for p := range bounds {
		set.Add(topic, p)
	}
	dirs, err := a.adm.DescribeAllLogDirs(ctx, set)
	if err != nil {
		return 0, fmt.Errorf("estimate the range's size: describe log dirs of %s: %w", topic, err)
	}
	var total float64
	for p, b := range bounds {
		var size int64
		for _, broker := range dirs {
			if d, ok := broker.LookupPartition(topic, p); ok && d.Size > size {
				size = d.Size
			}
		}
		span := ends[p].Offset - starts[p].Offset
		if span <= 0 || b.To <= b.From {
			continue
		}
		total += float64(size) * float64(b.To-b.From) / float64(span)
	}
	return int64(total), nil
}
