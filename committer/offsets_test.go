package committer

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
)

func TestOffsetMapEncodeDecode(t *testing.T) {
	var m OffsetMap
	m.ClusterID = "c1"
	m.Set("b", "id-b", 10, 5)
	m.Set("b", "", 2, 7) // an empty ID keeps the known one
	m.Set("a", "id-a", 0, 0)
	enc := m.Encode()
	require.Equal(t, `{"cluster_id":"c1","topics":{"a":{"topic_id":"id-a","partitions":{"0":0}},"b":{"topic_id":"id-b","partitions":{"2":7,"10":5}}}}`, enc)
	got, err := DecodeOffsetMap(enc)
	require.NoError(t, err)
	require.Equal(t, m, got)
	o, ok := got.Get("b", 10)
	require.True(t, ok)
	require.Equal(t, int64(5), o)
	_, ok = got.Get("b", 3)
	require.False(t, ok)
	_, ok = got.Get("zzz", 0)
	require.False(t, ok)

	clone := got.Clone()
	clone.Set("b", "", 2, 99)
	o, _ = got.Get("b", 2)
	require.Equal(t, int64(7), o, "Clone is deep")
}

func TestDecodeOffsetMapErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":           `{"cluster_id":`,
		"negative offset":    `{"topics":{"t":{"partitions":{"0":-1}}}}`,
		"non-number":         `{"topics":{"t":{"partitions":{"0":"x"}}}}`,
		"non-int partition":  `{"topics":{"t":{"partitions":{"p":1}}}}`,
		"negative partition": `{"topics":{"t":{"partitions":{"-3":1}}}}`,
	} {
		_, err := DecodeOffsetMap(in)
		require.Error(t, err, name)
		require.Contains(t, err.Error(), "decode offsets", name)
	}
	m, err := DecodeOffsetMap(`{"cluster_id":"x"}`)
	require.NoError(t, err)
	require.True(t, m.Empty())
}

// foreignAppend commits rows the way another engine would: no floe keys.
func foreignAppend(t *testing.T, e *protoEnv) {
	t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(t, err)
	sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
	require.NoError(t, err)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer rb.Release()
	rb.Field(0).(*array.StringBuilder).Append("foreign")
	rb.Field(1).(*array.Int64Builder).AppendNull()
	rec := rb.NewRecordBatch()
	defer rec.Release()
	at := array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
	defer at.Release()
	_, err = tbl.AppendTable(context.Background(), at, 10, nil)
	require.NoError(t, err)
}

func TestReadOffsetsSkipsForeignSnapshots(t *testing.T) {
	e := newProtoEnv(t)
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(t, err)
	m, snap, err := ReadOffsets(tbl.Metadata(), protoGroup)
	require.NoError(t, err)
	require.Nil(t, snap, "an empty table has no offsets")
	require.True(t, m.Empty())

	foreignAppend(t, e) // a table with foreign history only: a complete walk, no key
	tbl, err = e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(t, err)
	m, snap, err = ReadOffsets(tbl.Metadata(), protoGroup)
	require.NoError(t, err)
	require.Nil(t, snap)
	require.True(t, m.Empty())

	c := e.committer("a")
	c.Submit(e.batch(c, 0, 1, 0, 4))
	require.NoError(t, c.Commit(context.Background()))
	floeSnap := c.tbl.CurrentSnapshot().SnapshotID
	foreignAppend(t, e)
	foreignAppend(t, e)

	tbl, err = e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(t, err)
	m, snap, err = ReadOffsets(tbl.Metadata(), protoGroup)
	require.NoError(t, err)
	require.Equal(t, floeSnap, snap.SnapshotID, "found below two foreign snapshots")
	require.Equal(t, map[int32]int64{0: 4}, m.Topics["events"].Next)
	_, _, err = ReadOffsets(tbl.Metadata(), "another-group")
	require.NoError(t, err, "another group simply has no offsets")

	// The consumer continues after foreign commits.
	c.Submit(e.batch(c, 0, 1, 4, 6))
	require.NoError(t, c.Commit(context.Background()))
	require.Equal(t, map[int32]int64{0: 6}, e.offsets().Topics["events"].Next)
}

func TestReadOffsetsRefusesExpiredHistory(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	c.Submit(e.batch(c, 0, 1, 0, 4))
	require.NoError(t, c.Commit(context.Background()))
	foreignAppend(t, e)

	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(t, err)
	txn := tbl.NewTransaction()
	require.NoError(t, txn.ExpireSnapshots(table.WithRetainLast(1), table.WithOlderThan(0)))
	_, err = txn.Commit(context.Background())
	require.NoError(t, err)

	tbl, err = e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(t, err)
	require.Len(t, tbl.Metadata().Snapshots(), 1)
	_, _, err = ReadOffsets(tbl.Metadata(), protoGroup)
	require.ErrorIs(t, err, ErrOffsetsExpired)
}

func TestCheckSource(t *testing.T) {
	var m OffsetMap
	m.ClusterID = "c1"
	m.Set("a", "A1", 0, 5)
	m.Set("b", "B1", 0, 9)
	live := Source{ClusterID: "c1", TopicIDs: map[string]string{"a": "A1", "b": "B2"}}

	_, err := CheckSource(m, live)
	require.ErrorIs(t, err, ErrSourceMismatch)
	require.Contains(t, err.Error(), `topic "b"`)

	live.ResetMismatched = true
	got, err := CheckSource(m, live)
	require.NoError(t, err)
	require.Contains(t, got.Topics, "a")
	require.NotContains(t, got.Topics, "b")
	require.Contains(t, m.Topics, "b", "the input is not modified")

	_, err = CheckSource(m, Source{ClusterID: "c2"})
	require.ErrorIs(t, err, ErrSourceMismatch)
	require.Contains(t, err.Error(), "cluster c1")
	got, err = CheckSource(m, Source{ClusterID: "c2", ResetMismatched: true})
	require.NoError(t, err)
	require.True(t, got.Empty())

	_, err = CheckSource(m, Source{}) // IDs unknown (old brokers): nothing to compare
	require.NoError(t, err)
}
