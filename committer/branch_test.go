package committer

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/offsets"
)

// committerAs is e.committer with another group (and branch): a replay
// keeps its own offsets key in the same table.
func (e *protoEnv) committerAs(group, branch string) *Committer {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(e.t, err)
	cfg := DefaultConfig()
	cfg.RetryMin, cfg.RetryMax, cfg.CommitTimeout = time.Millisecond, 5*time.Millisecond, time.Minute
	c, err := New(cfg, e.tc, Deps{
		Catalog: e.cat, Table: tbl, Group: group, Branch: branch,
		Identity: offsets.Writer{Instance: group, Host: "test", Version: "t"},
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	require.NoError(e.t, err)
	c.SetSource(offsets.Source{ClusterID: "cluster-A", TopicIDs: map[string]string{"events": "topic-1"}})
	return c
}

// rowsAt counts ids in the snapshot id (a branch head).
func (e *protoEnv) rowsAt(id int64) map[string]int {
	e.t.Helper()
	tbl := e.reload()
	_, recs, err := tbl.Scan(table.WithSelectedFields("id"), table.WithSnapshotID(id)).ToArrowRecords(context.Background())
	require.NoError(e.t, err)
	out := map[string]int{}
	for rec, err := range recs {
		require.NoError(e.t, err)
		col := rec.Column(0).(*array.String)
		for i := 0; i < col.Len(); i++ {
			out[col.Value(i)]++
		}
		rec.Release()
	}
	return out
}

// Two groups committing to one table in turn each read their own key from
// the newest snapshot carrying it, past the other's snapshots: neither
// disturbs the other, and each stays exactly once.
func TestInterleavedGroupsKeepTheirOwnOffsets(t *testing.T) {
	e := newProtoEnv(t)
	live := e.committer("live")
	replay := e.committerAs("replay-abc", "")
	live.Submit(e.batch(live, 0, 1, 0, 10))
	require.NoError(t, live.Commit(context.Background()))
	replay.Submit(e.batch(replay, 1, 1, 100, 110)) // the replay starts at its --from
	require.NoError(t, replay.Commit(context.Background()))
	live.Submit(e.batch(live, 0, 1, 10, 20))
	require.NoError(t, live.Commit(context.Background()))
	replay.Submit(e.batch(replay, 1, 1, 110, 120))
	require.NoError(t, replay.Commit(context.Background()))

	require.Equal(t, map[int32]int64{0: 20}, e.offsets().Topics["events"].Next, "the live group's map is untouched")
	m, err := replay.Offsets(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{1: 120}, m.Topics["events"].Next)

	// The replay's batch again (a rerun that did not check first) is fenced,
	// not written twice; so is a stale live batch.
	replay.Submit(e.batch(replay, 1, 1, 100, 110))
	require.NoError(t, replay.Commit(context.Background()))
	live.Submit(e.batch(live, 0, 1, 10, 20))
	require.NoError(t, live.Commit(context.Background()))
	requireNoDuplicates(t, e.rows(), 40)
}

func TestCommitToBranch(t *testing.T) {
	e := newProtoEnv(t)
	live := e.committer("live")
	live.Submit(e.batch(live, 0, 1, 0, 10))
	require.NoError(t, live.Commit(context.Background()))
	mainHead := e.reload().CurrentSnapshot().SnapshotID

	replay := e.committerAs("replay-b", "audit")
	replay.Submit(e.batch(replay, 1, 1, 0, 5))
	require.NoError(t, replay.Commit(context.Background()), "the first commit creates the branch")
	replay.Submit(e.batch(replay, 1, 1, 5, 8))
	require.NoError(t, replay.Commit(context.Background()))

	tbl := e.reload()
	require.Equal(t, mainHead, tbl.CurrentSnapshot().SnapshotID, "main did not move")
	head := offsets.Head(tbl.Metadata(), "audit")
	require.NotNil(t, head)
	require.NotEqual(t, mainHead, head.SnapshotID)
	require.Len(t, e.rows(), 10, "main holds only the live rows")
	requireNoDuplicates(t, e.rowsAt(head.SnapshotID), 18) // forked from main: 10 + 8

	m, _, err := offsets.Read(tbl.Metadata(), "replay-b", "audit")
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{1: 8}, m.Topics["events"].Next)
	m, _, err = offsets.Read(tbl.Metadata(), "replay-b", "")
	require.NoError(t, err)
	require.True(t, m.Empty(), "main's history has no replay offsets")
	require.Equal(t, []string{offsets.Key(protoGroup)}, offsets.TaggedKeys(tbl.Metadata(), ""))
	require.Equal(t, []string{offsets.Key("replay-b")}, offsets.TaggedKeys(tbl.Metadata(), "audit"),
		"the branch's group is tagged as audit/floe.offsets.replay-b")
	require.Equal(t, head.SnapshotID, tbl.Metadata().SnapshotByName("audit/"+offsets.Key("replay-b")).SnapshotID)

	// Main moves on; the branch keeps its own head and offsets.
	live.Submit(e.batch(live, 0, 1, 10, 12))
	require.NoError(t, live.Commit(context.Background()))
	replay.Submit(e.batch(replay, 1, 1, 8, 9))
	require.NoError(t, replay.Commit(context.Background()))
	tbl = e.reload()
	requireNoDuplicates(t, e.rowsAt(offsets.Head(tbl.Metadata(), "audit").SnapshotID), 19)
	requireNoDuplicates(t, e.rows(), 12)
}

// A commit to a branch whose head moved under it fails its pin and is
// retried on the new head; a fenced batch is not written twice.
func TestBranchCommitFencesAnotherWriter(t *testing.T) {
	e := newProtoEnv(t)
	a := e.committerAs("replay-c", "audit")
	b := e.committerAs("replay-c", "audit")
	a.Submit(e.batch(a, 0, 1, 0, 5))
	b.Submit(e.batch(b, 0, 1, 0, 5))
	require.NoError(t, a.Commit(context.Background()))
	require.NoError(t, b.Commit(context.Background()), "b's batch is fenced by a's commit")
	tbl := e.reload()
	requireNoDuplicates(t, e.rowsAt(offsets.Head(tbl.Metadata(), "audit").SnapshotID), 5)
	require.Nil(t, tbl.CurrentSnapshot(), "main was never written")
}
