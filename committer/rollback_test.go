package committer

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/apache/iceberg-go/table"

	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/maintenance"
	"github.com/floe-dev/floe/offsets"
)

// threeCommits commits [0,5) of partition 0; [5,10) of 0 and [0,4) of 1;
// [10,15) of 0, and returns the three snapshot IDs.
func threeCommits(t testing.TB, e *protoEnv, c *Committer) (s1, s2, s3 int64) {
	t.Helper()
	c.Submit(e.batch(c, 0, 1, 0, 5))
	require.NoError(t, c.Commit(context.Background()))
	s1 = e.reload().CurrentSnapshot().SnapshotID
	c.Submit(e.batch(c, 0, 1, 5, 10))
	c.Submit(e.batch(c, 1, 1, 0, 4))
	require.NoError(t, c.Commit(context.Background()))
	s2 = e.reload().CurrentSnapshot().SnapshotID
	c.Submit(e.batch(c, 0, 1, 10, 15))
	require.NoError(t, c.Commit(context.Background()))
	s3 = e.reload().CurrentSnapshot().SnapshotID
	return s1, s2, s3
}

var who = offsets.Writer{Instance: "rb", Host: "test", Version: "t"}

func TestRollbackReplay(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	s1, s2, s3 := threeCommits(t, e, c)

	plan, err := maintenance.PlanRollback(e.reload(), "db.events", protoGroup, s1)
	require.NoError(t, err)
	require.Equal(t, s3, plan.From)
	require.Len(t, plan.Undone, 2)
	require.Equal(t, []int64{s3, s2}, []int64{plan.Undone[0].SnapshotID, plan.Undone[1].SnapshotID})
	require.NotEmpty(t, plan.Undone[0].CommitID)
	require.Equal(t, int64(5), plan.Undone[0].Records)
	require.Equal(t, []offsets.Range{{Topic: "events", Partition: 0, Start: 5, End: 15}, {Topic: "events", Partition: 1, Start: 0, End: 4}}, plan.Reread)

	out, err := maintenance.ApplyRollback(context.Background(), e.cat, e.reload(), plan, maintenance.RollbackReplay, who)
	require.NoError(t, err)
	require.Equal(t, s1, out.CurrentSnapshot().SnapshotID, "the head is the target itself")
	require.Equal(t, s1, groupTag(t, out), "the group's tag moved back with the head: the undone snapshots keep nothing alive")
	require.Equal(t, map[int32]int64{0: 5}, e.offsets().Topics["events"].Next, "floe reads from the target's offsets")
	requireNoDuplicates(t, e.rows(), 5)

	// The same records come again and land once.
	c2 := e.committer("b")
	c2.Submit(e.batch(c2, 0, 1, 5, 15))
	c2.Submit(e.batch(c2, 1, 1, 0, 4))
	require.NoError(t, c2.Commit(context.Background()))
	requireNoDuplicates(t, e.rows(), 19)

	// s3 is off the branch now.
	_, err = maintenance.PlanRollback(e.reload(), "db.events", protoGroup, s3)
	require.ErrorContains(t, err, "is not an ancestor of table db.events's current snapshot")
}

func TestRollbackSkip(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	s1, _, s3 := threeCommits(t, e, c)
	plan, err := maintenance.PlanRollback(e.reload(), "db.events", protoGroup, s1)
	require.NoError(t, err)
	out, err := maintenance.ApplyRollback(context.Background(), e.cat, e.reload(), plan, maintenance.RollbackSkip, who)
	require.NoError(t, err)
	head := out.CurrentSnapshot()
	require.Equal(t, s1, *head.ParentSnapshotID, "a new snapshot on top of the target")
	require.Equal(t, head.SnapshotID, groupTag(t, out), "the group's tag is on the snapshot carrying its offsets")
	requireNoDuplicates(t, e.rows(), 5)
	require.Equal(t, map[int32]int64{0: 15, 1: 4}, e.offsets().Topics["events"].Next, "the offsets floe had: it goes on after the undone records")

	hist, err := offsets.History(e.reload().Metadata(), protoGroup, "")
	require.NoError(t, err)
	require.Len(t, hist, 2)
	rb := hist[0].Rollback
	require.NotNil(t, rb, "floe commits shows the rollback")
	require.Equal(t, string(maintenance.RollbackSkip), rb.Mode)
	require.Equal(t, s3, rb.From)
	require.Equal(t, s1, rb.To)
	require.Len(t, rb.Undone, 2)
	require.Equal(t, []offsets.Range{{Topic: "events", Partition: 0, Start: 5, End: 15}, {Topic: "events", Partition: 1, Start: 0, End: 4}}, rb.Skipped)
	require.Empty(t, hist[0].Ranges, "the skip adds no rows")

	// floe goes on after the skipped range.
	c.Submit(e.batch(c, 0, 1, 15, 18))
	require.NoError(t, c.Commit(context.Background()))
	requireNoDuplicates(t, e.rows(), 8)
	require.Equal(t, map[int32]int64{0: 18, 1: 4}, e.offsets().Topics["events"].Next)
}

func TestRollbackRefusals(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	s1, _, s3 := threeCommits(t, e, c)

	_, err := maintenance.PlanRollback(e.reload(), "db.events", protoGroup, 42)
	require.ErrorContains(t, err, "snapshot 42 is not in table db.events")

	plan, err := maintenance.PlanRollback(e.reload(), "db.events", protoGroup, s3)
	require.NoError(t, err)
	require.Equal(t, plan.From, plan.To)
	_, err = maintenance.ApplyRollback(context.Background(), e.cat, e.reload(), plan, maintenance.RollbackSkip, who)
	require.ErrorContains(t, err, "nothing to roll back")

	// The head moves between the plan and the rollback: nothing changes.
	plan, err = maintenance.PlanRollback(e.reload(), "db.events", protoGroup, s1)
	require.NoError(t, err)
	stale := e.reload()
	c.Submit(e.batch(c, 0, 1, 15, 16))
	require.NoError(t, c.Commit(context.Background()))
	_, err = maintenance.ApplyRollback(context.Background(), e.cat, stale, plan, maintenance.RollbackReplay, who)
	require.ErrorContains(t, err, "changed while rolling back")
	requireNoDuplicates(t, e.rows(), 20)

	_, err = maintenance.ApplyRollback(context.Background(), e.cat, e.reload(), plan, maintenance.RollbackReplay, who)
	require.ErrorContains(t, err, "moved since the rollback was planned")
	_, err = maintenance.ApplyRollback(context.Background(), e.cat, stale, plan, "undo", who)
	require.ErrorContains(t, err, `rollback mode must be replay or skip, got "undo"`)
}

// A rollback whose response is lost after the catalog applied it is found
// in the table by the next attempt and not applied twice.
func TestRollbackUnknownOutcomeIsResolved(t *testing.T) {
	for _, mode := range []maintenance.RollbackMode{maintenance.RollbackReplay, maintenance.RollbackSkip} {
		t.Run(string(mode), func(t *testing.T) {
			e := newProtoEnv(t)
			c := e.committer("a")
			s1, _, _ := threeCommits(t, e, c)
			plan, err := maintenance.PlanRollback(e.reload(), "db.events", protoGroup, s1)
			require.NoError(t, err)
			calls := e.cat.Calls()
			e.cat.SetAfter(func(n int, err error) error {
				if n == calls+1 && err == nil {
					return errors.New("502 bad gateway")
				}
				return nil
			})
			out, err := maintenance.ApplyRollback(context.Background(), e.cat, e.reload(), plan, mode, who)
			require.NoError(t, err)
			require.Equal(t, calls+1, e.cat.Calls(), "one rollback commit, found after its response was lost")
			head := out.CurrentSnapshot()
			if mode == maintenance.RollbackReplay {
				require.Equal(t, s1, head.SnapshotID)
			} else {
				require.Equal(t, s1, *head.ParentSnapshotID)
			}
			requireNoDuplicates(t, e.rows(), 5)
		})
	}
}

// groupTag is the snapshot the protocol group's offsets tag names.
func groupTag(t *testing.T, tbl *table.Table) int64 {
	t.Helper()
	for name, ref := range tbl.Metadata().Refs() {
		if name == offsets.Tag(offsets.Key(protoGroup), "") {
			require.Equal(t, table.TagRef, ref.SnapshotRefType)
			return ref.SnapshotID
		}
	}
	t.Fatal("no offsets tag")
	return 0
}

// A rollback to a snapshot expiry removed is refused, naming how far back
// the table's history goes.
func TestRollbackRefusesAnExpiredSnapshot(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	s1, _, s3 := threeCommits(t, e, c)
	txn := e.reload().NewTransaction()
	require.NoError(t, txn.ExpireSnapshots(table.WithRetainLast(1), table.WithOlderThan(0)))
	_, err := txn.Commit(context.Background())
	require.NoError(t, err)
	_, err = maintenance.PlanRollback(e.reload(), "db.events", protoGroup, s1)
	require.ErrorContains(t, err, fmt.Sprintf("snapshot %d is not in table db.events: expired, or of another table; the table's history goes back to snapshot %d", s1, s3))
	require.ErrorContains(t, err, "older snapshots were expired (maintenance.expire: keep-last, keep-for)")
}
