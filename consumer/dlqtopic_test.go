package consumer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/batcher"
)

func letters(offsets ...int64) []batcher.DeadLetter {
	var out []batcher.DeadLetter
	for _, o := range offsets {
		v := []byte(fmt.Sprintf(`{"bad":%d`, o))
		out = append(out, batcher.DeadLetter{Offset: o, Key: []byte("k"), Value: v, ValueSize: len(v),
			Headers: []batcher.Header{{Key: "trace", Value: []byte("t1")}}, Reason: "malformed_json", Error: "decode: malformed_json",
			Timestamp: time.UnixMilli(1_700_000_000_000)})
	}
	return out
}

// readDLQ reads the dead-letter topic read_committed, to its end: "source
// partition/offset" → count. It reads until every partition's position
// reaches the end offset listed first (transaction markers are kept so that
// the position is known), not for a while: a slow machine reads it all too,
// and nothing written before the call is missed.
func readDLQ(t testing.TB, brokers []string, topic string) (map[string]int, []*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	require.NoError(t, ends.Error())
	left := map[int32]int64{} // partition → end offset not yet reached
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	out := map[string]int{}
	var recs []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "reading %s to its end offsets, %v left", topic, left)
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			out[h[HeaderPartition]+"/"+h[HeaderOffset]]++
			recs = append(recs, r)
		})
	}
	return out, recs
}

func TestDLQTopicWritesOnceAcrossRetries(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "events.dlq", "events"))
	require.NoError(t, err)
	defer kc.Close()
	brokers := kc.ListenAddrs()
	d := NewDLQTopic(Config{Brokers: brokers}, "events.dlq", "g", "db.t", "test")
	require.NoError(t, d.Check(context.Background()))
	require.ErrorContains(t, NewDLQTopic(Config{Brokers: brokers}, "nope", "g", "db.t", "test").Check(context.Background()), `dlq.topic "nope": does not exist`)

	n, err := d.Write(context.Background(), []batcher.Letters{{Topic: "events", Partition: 0, End: 10, Letters: letters(3, 7)}})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	// A restart (or another owner) writes an overlapping range: only what
	// is past the progress is added.
	d2 := NewDLQTopic(Config{Brokers: brokers}, "events.dlq", "g", "db.t", "test")
	n, err = d2.Write(context.Background(), []batcher.Letters{
		{Topic: "events", Partition: 0, End: 20, Letters: letters(3, 7, 15)},
		{Topic: "events", Partition: 1, End: 5, Letters: letters(1)},
	})
	require.NoError(t, err)
	require.Equal(t, 2, n, "3 and 7 are there already")
	n, err = d.Write(context.Background(), []batcher.Letters{{Topic: "events", Partition: 0, End: 20, Letters: letters(15)}})
	require.NoError(t, err)
	require.Zero(t, n)

	got, recs := readDLQ(t, brokers, "events.dlq")
	require.Equal(t, map[string]int{"0/3": 1, "0/7": 1, "0/15": 1, "1/1": 1}, got)
	h := map[string]string{}
	for _, x := range recs[0].Headers {
		h[x.Key] = string(x.Value)
	}
	require.Equal(t, "t1", h["trace"], "the record's own headers are kept")
	require.Equal(t, "malformed_json", h[HeaderReason])
	require.Equal(t, "db.t", h[HeaderTable])
	require.Equal(t, "events", h[HeaderTopic])
	require.Equal(t, "false", h[HeaderTruncated])
	require.Equal(t, "1700000000000", h[HeaderTimestamp])
	require.Equal(t, []byte("k"), recs[0].Key)
}
