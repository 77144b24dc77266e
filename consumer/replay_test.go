package consumer

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/offsets"
)

func rowsIn(bs []*batcher.Batch) (rows int64, records int) {
	for _, b := range bs {
		if b.Rows != nil {
			rows += b.Rows.NumRows()
		}
		records += b.Records
	}
	return rows, records
}

func (e *consumerEnv) runRange(bounds map[int32]Bounds) (int, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	n, err := e.c.RunRange(ctx, "t", bounds)
	require.NoError(e.t, ctx.Err(), "RunRange returned because of its deadline, not because it finished")
	return n, err
}

func TestRunRangeReadsExactlyTheRange(t *testing.T) {
	e := newConsumerEnv(t, 3, func(c *Config) { c.Batch.MaxRecords = 3 })
	for i := 0; i < 10; i++ {
		e.produce(0, "a")
		e.produce(1, "b")
		e.produce(2, "c")
	}
	n, err := e.runRange(map[int32]Bounds{0: {2, 7}, 1: {0, 10}, 2: {4, 4}})
	require.NoError(t, err)
	require.Equal(t, 2, n, "partition 2's range is empty")
	bs := e.sink.snapshot()
	require.Equal(t, map[int32][2]int64{0: {2, 7}, 1: {0, 10}}, covered(t, bs))
	rows, records := rowsIn(bs)
	require.Equal(t, int64(15), rows)
	require.Equal(t, 15, records)
	require.Equal(t, int64(15), e.c.RangeRead())
	for _, b := range bs {
		require.True(t, b.FromTable, "a replay's start is its own: fencing, never a re-seek to start-from")
	}
}

func TestRunRangeResumesFromTheOffsets(t *testing.T) {
	e := newConsumerEnv(t, 2, nil)
	for i := 0; i < 10; i++ {
		e.produce(0, "a")
		e.produce(1, "b")
	}
	e.sink.stored = offsets.Map{Topics: map[string]offsets.Topic{"t": {Next: map[int32]int64{0: 6, 1: 8}}}}
	n, err := e.runRange(map[int32]Bounds{0: {2, 9}, 1: {0, 8}})
	require.NoError(t, err)
	require.Equal(t, 1, n, "partition 1 is complete already")
	require.Equal(t, map[int32][2]int64{0: {6, 9}}, covered(t, e.sink.snapshot()))
}

func TestRunRangeAlreadyDoneReadsNothing(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	e.produce(0, "a", "b")
	e.sink.stored = offsets.Map{Topics: map[string]offsets.Topic{"t": {Next: map[int32]int64{0: 2}}}}
	n, err := e.runRange(map[int32]Bounds{0: {0, 2}})
	require.NoError(t, err)
	require.Zero(t, n)
	require.Empty(t, e.sink.snapshot())
}

func TestRunRangeRefusesOffsetsOutsideItsRange(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	e.produce(0, "a", "b", "c")
	e.sink.stored = offsets.Map{Topics: map[string]offsets.Topic{"t": {Next: map[int32]int64{0: 1}}}}
	_, err := e.runRange(map[int32]Bounds{0: {2, 3}})
	require.ErrorIs(t, err, ErrReplayOffsets)
	require.ErrorContains(t, err, "t[0] is at 1")
}

func TestRunRangeUnroutedTopicIsAnError(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	_, err := e.c.RunRange(context.Background(), "other", map[int32]Bounds{0: {0, 1}})
	require.ErrorContains(t, err, `topic "other" is not routed`)
}

// A range whose last offsets are transaction markers or aborted records
// still ends exactly at its To: the stored offsets must reach it.
func TestRunRangeEndsOverTransactionMarkers(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	txp, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.ListenAddrs()...), kgo.DefaultProduceTopic("t"),
		kgo.TransactionalID("replay-test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer txp.Close()
	ctx := context.Background()
	txn := func(commit bool, values ...string) {
		require.NoError(t, txp.BeginTransaction())
		for _, v := range values {
			require.NoError(t, txp.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte(v)}).FirstErr())
		}
		require.NoError(t, txp.EndTransaction(ctx, kgo.TransactionEndTry(commit)))
	}
	txn(true, "a", "b", "c") // offsets 0-2, marker 3
	txn(false, "x", "y")     // aborted 4-5, marker 6
	n, err := e.runRange(map[int32]Bounds{0: {0, 7}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	bs := e.sink.snapshot()
	require.Equal(t, map[int32][2]int64{0: {0, 7}}, covered(t, bs))
	rows, records := rowsIn(bs)
	require.Equal(t, int64(3), rows, "aborted records are not read")
	require.Equal(t, 3, records)
}
