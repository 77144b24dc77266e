package tablecommit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/internal/catalogtest"
	"github.com/floe-dev/floe/offsets"
	"github.com/floe-dev/floe/tablecommit"
)

var ident = table.Identifier{"db", "t"}

type env struct {
	t   testing.TB
	cat *catalogtest.Faults
}

func newEnv(t testing.TB) *env {
	t.Helper()
	raw := catalogtest.Open(t)
	require.NoError(t, catalog.EnsureNamespace(context.Background(), raw, []string{"db"}))
	sc := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "n", Type: iceberg.PrimitiveTypes.Int64, Required: true})
	_, err := raw.CreateTable(context.Background(), ident, sc)
	require.NoError(t, err)
	return &env{t: t, cat: catalogtest.Wrap(raw)}
}

func (e *env) load(ctx context.Context) (*table.Table, error) { return e.cat.LoadTable(ctx, ident) }

func (e *env) reload() *table.Table {
	e.t.Helper()
	tbl, err := e.load(context.Background())
	require.NoError(e.t, err)
	return tbl
}

// commit makes a commit of its own that appends one row, with id as its
// commit ID.
func (e *env) commit(id string) *tablecommit.Commit {
	return &tablecommit.Commit{Target: tablecommit.Target{Name: "db.t", Load: e.load}, ID: id}
}

// appendRow is a stage that appends one row with commit ID id.
func appendRow(id string) tablecommit.Stage {
	return func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
		sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
		if err != nil {
			return err
		}
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		defer b.Release()
		b.Field(0).(*array.Int64Builder).Append(1)
		rec := b.NewRecordBatch()
		defer rec.Release()
		at := array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
		defer at.Release()
		return txn.AppendTable(ctx, at, 10, offsets.Summary{CommitID: id}.Properties())
	}
}

func snapshots(tbl *table.Table) int { return len(tbl.Metadata().Snapshots()) }

func TestOnceCommitsWithItsID(t *testing.T) {
	e := newEnv(t)
	c := e.commit("c1")
	res, err := c.Once(context.Background(), appendRow("c1"))
	require.NoError(t, err)
	require.False(t, res.Resolved)
	require.NotNil(t, res.Snapshot)
	require.Equal(t, "c1", res.Snapshot.Summary.Properties[offsets.SummaryCommitID])
	require.Equal(t, res.Snapshot.SnapshotID, e.reload().CurrentSnapshot().SnapshotID)
	require.False(t, c.Unknown())
}

// The catalog applies a commit but the response is lost: the next attempt
// finds the commit ID in the history and sends nothing.
func TestOnceResolvesAnUnknownOutcomeThatLanded(t *testing.T) {
	e := newEnv(t)
	e.cat.SetAfter(func(n int, err error) error {
		if n == 1 && err == nil {
			return errors.New("connection reset by peer")
		}
		return nil
	})
	c := e.commit("c1")
	_, err := c.Once(context.Background(), appendRow("c1"))
	require.ErrorContains(t, err, "connection reset")
	require.True(t, c.Unknown(), "not a definite rejection")

	staged := false
	res, err := c.Once(context.Background(), func(context.Context, *table.Table, *table.Transaction) error {
		staged = true
		return nil
	})
	require.NoError(t, err)
	require.True(t, res.Resolved)
	require.False(t, staged, "a landed commit is not staged again")
	require.Equal(t, 1, e.cat.Calls(), "nothing sent twice")
	require.Equal(t, 1, snapshots(e.reload()))
}

// A 5xx before the catalog applied anything: unknown, looked for, not
// found, so the next attempt commits.
func TestOnceRetriesAnUnknownOutcomeThatFailed(t *testing.T) {
	e := newEnv(t)
	e.cat.SetBefore(func(n int) error {
		if n == 1 {
			return rest.ErrCommitStateUnknown
		}
		return nil
	})
	c := e.commit("c1")
	_, err := c.Once(context.Background(), appendRow("c1"))
	require.ErrorIs(t, err, rest.ErrCommitStateUnknown)
	require.True(t, c.Unknown())
	res, err := c.Once(context.Background(), appendRow("c1"))
	require.NoError(t, err)
	require.False(t, res.Resolved)
	require.Equal(t, 1, snapshots(e.reload()))
}

// Another writer commits between the load and the commit: the pinned head
// fails the commit, which is a clean conflict (nothing landed).
func TestOncePinsTheHead(t *testing.T) {
	e := newEnv(t)
	other := e.commit("other")
	c := e.commit("c1")
	_, err := c.Once(context.Background(), func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
		_, err := other.Once(ctx, appendRow("other"))
		require.NoError(t, err)
		return appendRow("c1")(ctx, tbl, txn)
	})
	require.Error(t, err)
	require.Equal(t, catalog.ReasonConflict, catalog.Reason(err))
	require.Equal(t, 1, snapshots(e.reload()), "only the other writer's commit")

}

func TestOnceNothingToCommit(t *testing.T) {
	e := newEnv(t)
	c := e.commit("c1")
	res, err := c.Once(context.Background(), func(context.Context, *table.Table, *table.Transaction) error {
		return tablecommit.ErrNothing
	})
	require.NoError(t, err)
	require.Nil(t, res.Snapshot)
	require.NotNil(t, res.Table)
	require.Equal(t, 0, e.cat.Calls())
}

func TestRunRetriesUntilItLands(t *testing.T) {
	e := newEnv(t)
	e.cat.SetBefore(func(n int) error {
		if n <= 2 {
			return table.ErrCommitFailed // a clean conflict, twice
		}
		return nil
	})
	c := e.commit("c1")
	var failed []string
	err := c.Run(context.Background(), catalog.Backoff{Min: time.Millisecond, Max: time.Millisecond},
		func(ctx context.Context) error {
			_, err := c.Once(ctx, appendRow("c1"))
			return err
		}, func(err error) { failed = append(failed, catalog.Reason(err)) })
	require.NoError(t, err)
	require.Equal(t, 3, c.Attempts)
	require.Equal(t, 2, c.Conflicts)
	require.Equal(t, []string{"conflict", "conflict"}, failed)
	require.False(t, c.Unknown(), "conflicts are definite")
	require.Equal(t, 1, snapshots(e.reload()))
}

func TestRunStopsAtFatal(t *testing.T) {
	e := newEnv(t)
	c := e.commit("c1")
	boom := errors.New("a gap")
	err := c.Run(context.Background(), catalog.Backoff{Min: time.Millisecond, Max: time.Millisecond},
		func(ctx context.Context) error {
			_, err := c.Once(ctx, func(context.Context, *table.Table, *table.Transaction) error {
				return tablecommit.Fatal(boom)
			})
			return err
		}, func(error) { t.Fatal("a fatal error is not retried") })
	require.ErrorIs(t, err, boom)
	require.True(t, tablecommit.IsFatal(err))
	require.Equal(t, 1, c.Attempts)
}

func TestRunGivesUpWhenTheContextEnds(t *testing.T) {
	e := newEnv(t)
	e.cat.SetBefore(func(int) error { return errors.New("503 service unavailable") })
	c := e.commit("c1")
	ctx, cancel := context.WithCancel(context.Background())
	err := c.Run(ctx, catalog.Backoff{Min: time.Millisecond, Max: time.Millisecond},
		func(ctx context.Context) error {
			_, err := c.Once(ctx, appendRow("c1"))
			if c.Attempts == 3 {
				cancel()
			}
			return err
		}, nil)
	var timeout *tablecommit.TimeoutError
	require.ErrorAs(t, err, &timeout)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 3, timeout.Attempts)
	require.ErrorContains(t, timeout.Last, "503 service unavailable")
	require.ErrorContains(t, err, "after 3 attempts (last error:")
	require.True(t, c.Unknown(), "a 503 may have landed")
}

// withOffsets is appendRow with the offsets of group g (next offset next)
// in the summary.
func withOffsets(id string, next int64) tablecommit.Stage {
	return func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
		var m offsets.Map
		m.Set("events", "", 0, next)
		return tablecommit.SummaryOnly(ctx, txn, offsets.Summary{CommitID: id, Offsets: map[string]offsets.Map{offsets.Key("g"): m}}.Properties())
	}
}

func tagOf(t *testing.T, tbl *table.Table, name string) (table.SnapshotRef, bool) {
	t.Helper()
	for n, ref := range tbl.Metadata().Refs() {
		if n == name {
			return ref, true
		}
	}
	return table.SnapshotRef{}, false
}

// The group's tag names the newest snapshot carrying its offsets, moved in
// the same catalog request as the commit that writes them; commits of other
// writers leave it.
func TestTagFollowsTheOffsetsInTheSameRequest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tagged := func(id string) *tablecommit.Commit {
		c := e.commit(id)
		c.Target.Keys = []string{offsets.Key("g")}
		c.Target.Catalog = e.cat
		return c
	}
	res1, err := tagged("c1").Once(ctx, withOffsets("c1", 10))
	require.NoError(t, err)
	ref, ok := tagOf(t, e.reload(), "floe.offsets.g")
	require.True(t, ok, "the first commit creates the tag")
	require.Equal(t, table.TagRef, ref.SnapshotRefType)
	require.Equal(t, res1.Snapshot.SnapshotID, ref.SnapshotID)
	require.NotNil(t, ref.MaxRefAgeMs)
	require.Equal(t, offsets.TagMaxRefAgeMs, *ref.MaxRefAgeMs, "never aged out by another engine's expiry")

	_, err = e.commit("other").Once(ctx, appendRow("other"))
	require.NoError(t, err)
	ref, _ = tagOf(t, e.reload(), "floe.offsets.g")
	require.Equal(t, res1.Snapshot.SnapshotID, ref.SnapshotID, "another writer's commit leaves the tag")

	res3, err := tagged("c3").Once(ctx, withOffsets("c3", 20))
	require.NoError(t, err)
	ref, _ = tagOf(t, e.reload(), "floe.offsets.g")
	require.Equal(t, res3.Snapshot.SnapshotID, ref.SnapshotID)
	require.Equal(t, 3, e.cat.Calls(), "one catalog request per commit: the tag moves with it")

	// The tag keeps the offsets readable once expiry cut the history: the
	// head (another writer's) and the tagged snapshot stay, the ones
	// between go.
	_, err = e.commit("o1").Once(ctx, appendRow("o1"))
	require.NoError(t, err)
	_, err = e.commit("o2").Once(ctx, appendRow("o2"))
	require.NoError(t, err)
	tbl := e.reload()
	txn := tbl.NewTransaction()
	require.NoError(t, txn.ExpireSnapshots(table.WithRetainLast(1), table.WithOlderThan(0)))
	_, err = txn.Commit(ctx)
	require.NoError(t, err)
	meta := e.reload().Metadata()
	require.Len(t, meta.Snapshots(), 2, "the head and the tagged snapshot")
	_, _, err = offsets.AsOf(meta, meta.CurrentSnapshot(), offsets.Key("g"))
	require.ErrorIs(t, err, offsets.ErrExpired, "the walk from the head is cut")
	m, snap, err := offsets.Read(meta, "g", "")
	require.NoError(t, err)
	require.Equal(t, res3.Snapshot.SnapshotID, snap.SnapshotID)
	next, _ := m.Get("events", 0)
	require.EqualValues(t, 20, next)
}

// A commit whose response was lost is resolved with its tag: the tag moved
// in the request that landed, and is not moved again.
func TestTagMovedByALostResponseCommit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.cat.SetAfter(func(n int, err error) error {
		if n == 1 && err == nil {
			return errors.New("connection reset by peer")
		}
		return nil
	})
	c := e.commit("c1")
	c.Target.Keys = []string{offsets.Key("g")}
	c.Target.Catalog = e.cat
	_, err := c.Once(ctx, withOffsets("c1", 5))
	require.Error(t, err)
	res, err := c.Once(ctx, withOffsets("c1", 5))
	require.NoError(t, err)
	require.True(t, res.Resolved)
	ref, ok := tagOf(t, e.reload(), "floe.offsets.g")
	require.True(t, ok)
	require.Equal(t, res.Snapshot.SnapshotID, ref.SnapshotID)
}

func TestTaggedKeysNeedTheCatalog(t *testing.T) {
	e := newEnv(t)
	c := e.commit("c1")
	c.Target.Keys = []string{offsets.Key("g")}
	_, err := c.Once(context.Background(), withOffsets("c1", 5))
	require.True(t, tablecommit.IsFatal(err))
	require.ErrorContains(t, err, "tagged keys need the target's catalog")
}
