package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/floe-dev/floe/batcher"
)

// Headers floe adds to a record it writes to a dead-letter topic.
const (
	HeaderReason     = "floe.reason"
	HeaderError      = "floe.error"
	HeaderTable      = "floe.table"
	HeaderTopic      = "floe.source.topic"
	HeaderPartition  = "floe.source.partition"
	HeaderOffset     = "floe.source.offset"
	HeaderTimestamp  = "floe.source.timestamp"
	HeaderValueSize  = "floe.value.size"
	HeaderTruncated  = "floe.value.truncated"
	HeaderVersion    = "floe.version"
	dlqTxnTimeout    = time.Minute
	dlqRequestLimit  = 64 << 20
	progressMetadata = "floe dead-letter progress"
)

// DLQTopic writes dead letters to a Kafka topic exactly once. Each write is
// one Kafka transaction that produces the letters and, in the same
// transaction, commits the letters' progress — per source partition, the
// end of the last range whose letters the topic holds — as the offsets of
// a consumer group of its own (floe-dlq.<group>.<table>), never consumed.
// Every write first initialises the producer under one transactional ID
// per group and table, which fences any other floe instance (a zombie)
// writing the same table's letters, and then reads the progress: letters
// below it are there already and are not written again.
type DLQTopic struct {
	brokers  []string
	acc      access
	opts     []kgo.Opt
	topic    string
	table    string
	txnID    string
	progress string // the consumer group holding the progress
	version  string
}

// NewDLQTopic returns the dead-letter topic writer of table for group.
func NewDLQTopic(kafka Config, topic, group, table, version string, opts ...kgo.Opt) *DLQTopic {
	return &DLQTopic{
		brokers: kafka.Brokers, acc: access{cfg: kafka}, opts: opts, topic: topic, table: table, version: version,
		txnID:    "floe-dlq." + group + "." + table,
		progress: "floe-dlq." + group + "." + table,
	}
}

// Topic names the dead-letter topic.
func (d *DLQTopic) Topic() string { return d.topic }

// Check verifies that the dead-letter topic exists.
func (d *DLQTopic) Check(ctx context.Context) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(d.brokers...)}, d.opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	d.acc = accessOf(d.acc.cfg, cl)
	md, err := kadm.NewClient(cl).Metadata(kadm.WithAuthorizedOps(ctx), d.topic)
	if err != nil {
		return fmt.Errorf("dlq.topic %s: %w", d.topic, d.acc.explainGrant(err, "DESCRIBE", d.topic, "WRITE"))
	}
	t, ok := md.Topics[d.topic]
	switch {
	case ok && errors.Is(t.Err, kerr.TopicAuthorizationFailed):
		return fmt.Errorf("dlq.topic %s: %w", d.topic, d.acc.explainGrant(t.Err, "DESCRIBE", d.topic, "WRITE"))
	case !ok || t.Err != nil:
		return fmt.Errorf("dlq.topic %q: does not exist or is not writable (%v); create it first", d.topic, t.Err)
	case !hasOp(t.AuthorizedOperations, kadm.OpWrite):
		return fmt.Errorf("dlq.topic %s: %w", d.topic, d.acc.explain(kerr.TopicAuthorizationFailed, "WRITE", d.topic))
	}
	return nil
}

// Write puts the letters in the topic, skipping those an earlier write
// put there, and returns how many it wrote. An error means nothing of this
// write is visible to read_committed consumers: try again.
func (d *DLQTopic) Write(ctx context.Context, batches []batcher.Letters) (int, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(d.brokers...),
		kgo.TransactionalID(d.txnID),
		kgo.TransactionTimeout(dlqTxnTimeout),
		kgo.DefaultProduceTopic(d.topic),
		kgo.ProducerBatchMaxBytes(dlqRequestLimit),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.MaxVersions(progressVersions()),
	}, d.opts...)...)
	if err != nil {
		return 0, fmt.Errorf("dead-letter topic %s: %w", d.topic, err)
	}
	defer cl.Close()
	// Initialising the producer fences every other writer of this table's
	// letters and settles their open transactions: the progress read next
	// is complete.
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return 0, fmt.Errorf("dead-letter topic %s: init producer %s: %w", d.topic, d.txnID, d.acc.explain(err, "WRITE", "TransactionalId:"+d.txnID))
	}
	stored, err := d.readProgress(ctx, cl)
	if err != nil {
		return 0, err
	}
	var recs []*kgo.Record
	next := map[string]map[int32]int64{}
	for _, b := range batches {
		end, ok := stored[b.Topic][b.Partition]
		for i := range b.Letters {
			if ok && b.Letters[i].Offset < end {
				continue // written by an earlier run or another owner
			}
			recs = append(recs, d.record(b.Topic, b.Partition, &b.Letters[i]))
		}
		if !ok || b.End > end {
			if next[b.Topic] == nil {
				next[b.Topic] = map[int32]int64{}
			}
			next[b.Topic][b.Partition] = max(b.End, next[b.Topic][b.Partition])
		}
	}
	if len(recs) == 0 {
		return 0, nil
	}
	if err := cl.BeginTransaction(); err != nil {
		return 0, fmt.Errorf("dead-letter topic %s: begin transaction: %w", d.topic, err)
	}
	abort := func(cause error) (int, error) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = cl.AbortBufferedRecords(actx)
		_ = cl.EndTransaction(actx, kgo.TryAbort)
		return 0, cause
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return abort(fmt.Errorf("dead-letter topic %s: produce %d letters: %w", d.topic, len(recs), d.acc.explain(err, "WRITE", d.topic)))
	}
	if err := d.commitProgress(ctx, cl, next); err != nil {
		return abort(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return abort(fmt.Errorf("dead-letter topic %s: commit transaction: %w", d.topic, err))
	}
	return len(recs), nil
}

// progressVersions keeps the offset requests at versions that name topics
// (newer ones name them by topic ID only).
func progressVersions() *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.OffsetFetch.Int16(), 9)
	v.SetMaxKeyVersion(kmsg.TxnOffsetCommit.Int16(), 5)
	return v
}

func (d *DLQTopic) record(topic string, partition int32, l *batcher.DeadLetter) *kgo.Record {
	r := &kgo.Record{Topic: d.topic, Key: l.Key, Value: l.Value}
	for _, h := range l.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	add := func(k, v string) { r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(HeaderReason, l.Reason)
	add(HeaderError, l.Error)
	add(HeaderTable, d.table)
	add(HeaderTopic, topic)
	add(HeaderPartition, strconv.Itoa(int(partition)))
	add(HeaderOffset, strconv.FormatInt(l.Offset, 10))
	if !l.Timestamp.IsZero() {
		add(HeaderTimestamp, strconv.FormatInt(l.Timestamp.UnixMilli(), 10))
	}
	add(HeaderValueSize, strconv.Itoa(l.ValueSize))
	add(HeaderTruncated, strconv.FormatBool(l.Truncated()))
	add(HeaderVersion, d.version)
	return r
}

// readProgress reads the progress group's committed offsets.
func (d *DLQTopic) readProgress(ctx context.Context, cl *kgo.Client) (map[string]map[int32]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = d.progress
	req.RequireStable = true
	out := map[string]map[int32]int64{}
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return out, nil // no letters written yet
	}
	if err != nil {
		return nil, fmt.Errorf("dead-letter topic %s: read progress (group %s): %w", d.topic, d.progress, d.acc.explainGrant(err, "DESCRIBE", "Group:"+d.progress, "READ"))
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("dead-letter topic %s: read progress of %s[%d]: %w", d.topic, t.Topic, p.Partition, err)
			}
			if p.Offset < 0 {
				continue
			}
			if out[t.Topic] == nil {
				out[t.Topic] = map[int32]int64{}
			}
			out[t.Topic][p.Partition] = p.Offset
		}
	}
	return out, nil
}

// commitProgress adds the progress group's offsets to the transaction.
func (d *DLQTopic) commitProgress(ctx context.Context, cl *kgo.Client, next map[string]map[int32]int64) error {
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("dead-letter topic %s: producer ID: %w", d.topic, err)
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = d.txnID, pid, epoch, d.progress
	addResp, err := add.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(addResp.ErrorCode)
	}
	if err != nil {
		return fmt.Errorf("dead-letter topic %s: add the progress to the transaction: %w", d.topic, d.acc.explain(err, "READ", "Group:"+d.progress))
	}
	commit := kmsg.NewPtrTxnOffsetCommitRequest()
	commit.TransactionalID, commit.Group, commit.ProducerID, commit.ProducerEpoch = d.txnID, d.progress, pid, epoch
	commit.Generation, commit.MemberID = -1, ""
	meta := progressMetadata
	for topic, parts := range next {
		t := kmsg.NewTxnOffsetCommitRequestTopic()
		t.Topic = topic
		for p, o := range parts {
			tp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			tp.Partition, tp.Offset, tp.LeaderEpoch, tp.Metadata = p, o, -1, &meta
			t.Partitions = append(t.Partitions, tp)
		}
		commit.Topics = append(commit.Topics, t)
	}
	resp, err := commit.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("dead-letter topic %s: commit the progress: %w", d.topic, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("dead-letter topic %s: commit the progress of %s[%d]: %w", d.topic, t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}
