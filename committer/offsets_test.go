package committer

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/offsets"
)

// foreignAppend commits rows the way another engine would: no floe keys.
func foreignAppend(t testing.TB, e *protoEnv) {
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
	m, snap, err := offsets.Read(tbl.Metadata(), protoGroup, "")
	require.NoError(t, err)
	require.Nil(t, snap, "an empty table has no offsets")
	require.True(t, m.Empty())

	foreignAppend(t, e) // a table with foreign history only: a complete walk, no key
	tbl, err = e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(t, err)
	m, snap, err = offsets.Read(tbl.Metadata(), protoGroup, "")
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
	m, snap, err = offsets.Read(tbl.Metadata(), protoGroup, "")
	require.NoError(t, err)
	require.Equal(t, floeSnap, snap.SnapshotID, "found below two foreign snapshots")
	require.Equal(t, map[int32]int64{0: 4}, m.Topics["events"].Next)
	_, _, err = offsets.Read(tbl.Metadata(), "another-group", "")
	require.NoError(t, err, "another group simply has no offsets")

	// The consumer continues after foreign commits.
	c.Submit(e.batch(c, 0, 1, 4, 6))
	require.NoError(t, c.Commit(context.Background()))
	require.Equal(t, map[int32]int64{0: 6}, e.offsets().Topics["events"].Next)
}

// Expiry keeps the snapshot with the group's newest offsets, however many
// snapshots of other writers came after it: the group's tag, moved with
// every commit, names it. Without the tag (a table whose tag someone
// removed), an expired history is refused rather than guessed.
func TestExpiryKeepsTheTaggedOffsets(t *testing.T) {
	e := newProtoEnv(t)
	ctx := context.Background()
	ident := table.Identifier{"db", "events"}
	c := e.committer("a")
	c.Submit(e.batch(c, 0, 1, 0, 4))
	require.NoError(t, c.Commit(ctx))
	foreignAppend(t, e)
	foreignAppend(t, e)
	expire := func() table.Metadata {
		tbl, err := e.cat.LoadTable(ctx, ident)
		require.NoError(t, err)
		txn := tbl.NewTransaction()
		require.NoError(t, txn.ExpireSnapshots(table.WithRetainLast(1), table.WithOlderThan(0)))
		_, err = txn.Commit(ctx)
		require.NoError(t, err)
		tbl, err = e.cat.LoadTable(ctx, ident)
		require.NoError(t, err)
		return tbl.Metadata()
	}

	meta := expire()
	require.Len(t, meta.Snapshots(), 2, "the head and the tagged snapshot")
	m, _, err := offsets.Read(meta, protoGroup, "")
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{0: 4}, m.Topics["events"].Next)

	// floe goes on from the tagged offsets.
	c.Submit(e.batch(c, 0, 1, 4, 6))
	require.NoError(t, c.Commit(ctx))
	require.Equal(t, map[int32]int64{0: 6}, e.offsets().Topics["events"].Next)

	// The tag gone, the history cut: refused.
	_, _, err = e.cat.CommitTable(ctx, ident, nil, []table.Update{table.NewRemoveSnapshotRefUpdate(offsets.Tag(offsets.Key(protoGroup), ""))})
	require.NoError(t, err)
	foreignAppend(t, e)
	foreignAppend(t, e)
	meta = expire()
	require.Len(t, meta.Snapshots(), 1)
	_, _, err = offsets.Read(meta, protoGroup, "")
	require.ErrorIs(t, err, offsets.ErrExpired)
}
