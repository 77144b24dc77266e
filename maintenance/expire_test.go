package maintenance_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/internal/catalogtest"
	"github.com/floe-dev/floe/internal/promtest"
	"github.com/floe-dev/floe/maintenance"
	"github.com/floe-dev/floe/offsets"
	"github.com/floe-dev/floe/tablecommit"
)

var ident = table.Identifier{"db", "t"}

type env struct {
	t   *testing.T
	cat *catalogtest.Faults
}

func newEnv(t *testing.T, props iceberg.Properties) *env {
	t.Helper()
	raw := catalogtest.Open(t)
	require.NoError(t, catalog.EnsureNamespace(context.Background(), raw, []string{"db"}))
	sc := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "n", Type: iceberg.PrimitiveTypes.Int64, Required: true})
	_, err := raw.CreateTable(context.Background(), ident, sc, icecat.WithProperties(props))
	require.NoError(t, err)
	return &env{t: t, cat: catalogtest.Wrap(raw)}
}

func (e *env) table() maintenance.Table {
	return maintenance.Table{Name: "db.t", Ident: ident, Catalog: e.cat, TargetFileSize: 1 << 20}
}

func (e *env) reload() *table.Table {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), ident)
	require.NoError(e.t, err)
	return tbl
}

// ingest makes a floe-like commit: one row n, and group g's offsets at n+1
// (tagged as floe does). With group "" it is another writer's append.
func (e *env) ingest(n int64, group string) int64 {
	e.t.Helper()
	c := &tablecommit.Commit{Target: tablecommit.Target{Name: "db.t", Catalog: e.cat,
		Load: func(ctx context.Context) (*table.Table, error) { return e.cat.LoadTable(ctx, ident) }}}
	props := iceberg.Properties{}
	if group != "" {
		var m offsets.Map
		m.Set("events", "", 0, n+1)
		c.ID = fmt.Sprintf("commit-%d", n)
		c.Target.Keys = []string{offsets.Key(group)}
		props = offsets.Summary{CommitID: c.ID, Offsets: map[string]offsets.Map{offsets.Key(group): m}}.Properties()
	}
	res, err := c.Once(context.Background(), func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
		sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
		if err != nil {
			return err
		}
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		defer b.Release()
		b.Field(0).(*array.Int64Builder).Append(n)
		rec := b.NewRecordBatch()
		defer rec.Release()
		at := array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
		defer at.Release()
		return txn.AppendTable(ctx, at, 10, props)
	})
	require.NoError(e.t, err)
	return res.Table.CurrentSnapshot().SnapshotID
}

// beforeNextCommit runs fn once, just before the next commit request
// reaches the catalog: another writer that commits first.
func (e *env) beforeNextCommit(fn func()) {
	calls := e.cat.Calls()
	e.cat.SetBefore(func(n int) error {
		if n == calls+1 {
			e.cat.SetBefore(nil)
			fn()
		}
		return nil
	})
}

// rows reads the n column of the table as of snapshot (0: the head).
func (e *env) rows(snapshot int64) []int64 {
	e.t.Helper()
	opts := []table.ScanOption{}
	if snapshot != 0 {
		opts = append(opts, table.WithSnapshotID(snapshot))
	}
	at, err := e.reload().Scan(opts...).ToArrowTable(context.Background())
	require.NoError(e.t, err)
	defer at.Release()
	var out []int64
	for _, ch := range at.Column(0).Data().Chunks() {
		out = append(out, ch.(*array.Int64).Int64Values()...)
	}
	return out
}

var keep3 = maintenance.ExpireConfig{Enabled: true, KeepLast: 3, KeepFor: 0, MinExpired: 1}

// Expiry keeps the newest keep-last snapshots and the one the group's tag
// names, however many other writers' snapshots came after it; the rows the
// head and every retained snapshot hold are unchanged, and the files only
// the expired snapshots referenced are gone.
func TestExpireKeepsTheNewestAndTheTaggedOffsets(t *testing.T) {
	e := newEnv(t, nil)
	var floeSnap int64
	for n := int64(0); n < 4; n++ {
		floeSnap = e.ingest(n, "g")
	}
	for n := int64(4); n < 10; n++ {
		e.ingest(n, "") // another writer, six times
	}
	before := e.rows(0)
	require.Len(t, before, 10)
	taggedRows := e.rows(floeSnap)

	res, err := maintenance.Expire(context.Background(), e.table(), keep3, false, true)
	require.NoError(t, err)
	require.True(t, res.Committed)
	require.Len(t, res.Expired, 6, "10 snapshots: the newest 3 and the tagged one stay")
	require.Equal(t, 4, res.Retained)
	require.Positive(t, res.FilesRemoved, "the expired snapshots' manifest lists at least")
	require.Empty(t, res.CleanupError)

	meta := e.reload().Metadata()
	require.Len(t, meta.Snapshots(), 4)
	require.NotNil(t, meta.SnapshotByID(floeSnap))
	m, snap, err := offsets.Read(meta, "g", "")
	require.NoError(t, err)
	require.Equal(t, floeSnap, snap.SnapshotID)
	next, _ := m.Get("events", 0)
	require.EqualValues(t, 4, next)
	require.ElementsMatch(t, before, e.rows(0), "the head reads the same rows")
	require.ElementsMatch(t, taggedRows, e.rows(floeSnap), "time travel to the tagged snapshot too")
	for _, id := range res.Expired {
		require.Nil(t, meta.SnapshotByID(id))
	}

	// Nothing more is due.
	again, err := maintenance.Expire(context.Background(), e.table(), keep3, false, true)
	require.NoError(t, err)
	require.False(t, again.Committed)
	require.Zero(t, again.Due)
}

func TestExpireWaitsForMinExpiredAndDryRunChangesNothing(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 5; n++ {
		e.ingest(n, "g")
	}
	cfg := keep3
	cfg.MinExpired = 5
	res, err := maintenance.Expire(context.Background(), e.table(), cfg, false, true)
	require.NoError(t, err)
	require.Equal(t, 2, res.Due)
	require.False(t, res.Committed, "2 due, fewer than min-expired")
	require.Len(t, e.reload().Metadata().Snapshots(), 5)

	res, err = maintenance.Expire(context.Background(), e.table(), cfg, true, false)
	require.NoError(t, err)
	require.Len(t, res.Expired, 2, "a dry run lists what it would expire")
	require.Equal(t, 3, res.Retained)
	require.False(t, res.Committed)
	require.Len(t, e.reload().Metadata().Snapshots(), 5, "and changes nothing")
	require.Zero(t, e.cat.Calls()-5, "no commit request")
}

// An ingest commit lands between the expiry's load and its commit: the
// expiry loses (it asserted the refs it read), re-plans on the new head and
// lands; the ingest commit's snapshot and tag stay.
func TestExpireLosesToIngestionAndReplans(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 5; n++ {
		e.ingest(n, "g")
	}
	var raced int64
	e.beforeNextCommit(func() { raced = e.ingest(5, "g") })
	res, err := maintenance.Expire(context.Background(), e.table(), keep3, false, true)
	require.NoError(t, err)
	require.True(t, res.Committed)
	meta := e.reload().Metadata()
	require.Equal(t, raced, meta.CurrentSnapshot().SnapshotID)
	require.Len(t, meta.Snapshots(), 3)
	require.Equal(t, raced, meta.SnapshotByName(offsets.Tag(offsets.Key("g"), "")).SnapshotID)
	require.Len(t, e.rows(0), 6)
}

func TestExpireRefusesWhenGCIsOff(t *testing.T) {
	e := newEnv(t, iceberg.Properties{"gc.enabled": "false"})
	for n := int64(0); n < 5; n++ {
		e.ingest(n, "g")
	}
	_, err := maintenance.Expire(context.Background(), e.table(), keep3, false, true)
	require.ErrorContains(t, err, "expire snapshots of db.t")
	require.ErrorContains(t, err, "gc.enabled")
}

// The commit lands but a file it made unreferenced cannot be deleted: the
// expiry is done, and says what was left for the sweep.
func TestExpireReportsAFailedCleanup(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 5; n++ {
		e.ingest(n, "g")
	}
	first := e.reload().Metadata().Snapshots()[0]
	require.NoError(t, os.Remove(strings.TrimPrefix(first.ManifestList, "file://")))
	res, err := maintenance.Expire(context.Background(), e.table(), keep3, false, true)
	require.NoError(t, err)
	require.True(t, res.Committed)
	require.Contains(t, res.CleanupError, first.ManifestList[len("file://"):])
	require.Len(t, e.reload().Metadata().Snapshots(), 3)
}

func TestExpireConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  maintenance.ExpireConfig
		want string
	}{
		{maintenance.ExpireConfig{KeepLast: 0}, "keep-last: must be at least 1"},
		{maintenance.ExpireConfig{KeepLast: 1, KeepFor: -1}, "keep-for: must be >= 0"},
		{maintenance.ExpireConfig{KeepLast: 1, MinExpired: -1}, "min-expired: must be >= 0"},
	} {
		require.ErrorContains(t, tc.cfg.Validate(), tc.want)
	}
	require.NoError(t, maintenance.DefaultConfig().Validate())
	cfg := maintenance.DefaultConfig()
	cfg.Interval = -1
	require.ErrorContains(t, cfg.Validate(), "interval: must be >= 0")
	cfg = maintenance.DefaultConfig()
	cfg.Expire.KeepLast = 0
	require.ErrorContains(t, cfg.Validate(), "expire.keep-last")
}

// Once runs the due expiry and counts what it did.
func TestMaintainerOnceCountsWhatItDid(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 8; n++ {
		e.ingest(n, "g")
	}
	reg := prometheus.NewRegistry()
	cfg := maintenance.DefaultConfig()
	cfg.Expire = keep3
	cfg.Compact.MinFiles = 5
	m := maintenance.NewMaintainer(cfg, e.table(), func() bool { return true }, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	require.True(t, m.Once(context.Background(), false))
	l := map[string]string{"table": "db.t"}
	require.Equal(t, 5.0, promtest.Value(t, reg, "floe_maintenance_snapshots_expired_total", l))
	require.Equal(t, 3.0, promtest.Value(t, reg, "floe_table_snapshots", l))
	require.Equal(t, 1.0, promtest.Value(t, reg, "floe_maintenance_runs_total", map[string]string{"table": "db.t", "task": "expire", "outcome": "committed"}))
	require.Positive(t, promtest.Value(t, reg, "floe_maintenance_files_removed_total", map[string]string{"table": "db.t", "task": "expire"}))
	require.Equal(t, 8.0, promtest.Value(t, reg, "floe_maintenance_files_rewritten_total", l), "eight commits' files compacted")
	require.Positive(t, promtest.Value(t, reg, "floe_maintenance_bytes_rewritten_total", l))
	require.Equal(t, 1.0, promtest.Value(t, reg, "floe_maintenance_runs_total", map[string]string{"table": "db.t", "task": "compact", "outcome": "committed"}))

	require.True(t, m.Once(context.Background(), false))
	// The compaction's snapshot pushed one more past keep-last 3.
	require.Equal(t, 2.0, promtest.Value(t, reg, "floe_maintenance_runs_total", map[string]string{"table": "db.t", "task": "expire", "outcome": "committed"}))
	require.Equal(t, 1.0, promtest.Value(t, reg, "floe_maintenance_runs_total", map[string]string{"table": "db.t", "task": "compact", "outcome": "nothing"}))
	require.True(t, m.Once(context.Background(), false))
	require.Equal(t, 1.0, promtest.Value(t, reg, "floe_maintenance_runs_total", map[string]string{"table": "db.t", "task": "expire", "outcome": "nothing"}))
}

func (e *env) manifests() int {
	e.t.Helper()
	tbl := e.reload()
	fs, err := tbl.FS(context.Background())
	require.NoError(e.t, err)
	mans, err := tbl.CurrentSnapshot().Manifests(fs)
	require.NoError(e.t, err)
	return len(mans)
}

// A table without manifest merging (not created by floe) gets its
// manifests rewritten once there are more than max; a dry run or a table
// under max is left alone; the rows stay the same.
func TestRewriteManifestsOverMax(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 6; n++ {
		e.ingest(n, "g")
	}
	require.Equal(t, 6, e.manifests())
	before := e.rows(0)
	cfg := maintenance.ManifestsConfig{Enabled: true, Max: 6}
	res, err := maintenance.RewriteManifests(context.Background(), e.table(), cfg, false, true)
	require.NoError(t, err)
	require.False(t, res.Committed, "not over max")

	e.ingest(6, "g")
	res, err = maintenance.RewriteManifests(context.Background(), e.table(), cfg, false, false)
	require.NoError(t, err)
	require.False(t, res.Committed, "a dry run")
	require.Equal(t, 7, res.Before)
	require.Equal(t, 7, e.manifests())

	res, err = maintenance.RewriteManifests(context.Background(), e.table(), cfg, false, true)
	require.NoError(t, err)
	require.True(t, res.Committed)
	require.Equal(t, 7, res.Rewritten)
	require.Equal(t, 1, e.manifests())
	require.ElementsMatch(t, append(before, 6), e.rows(0))
	head := e.reload().CurrentSnapshot()
	require.Equal(t, table.OpReplace, head.Summary.Operation)
	_, ok := head.Summary.Properties[offsets.Key("g")]
	require.False(t, ok, "no offsets key: floe reads its offsets below it")
	m, _, err := offsets.Read(e.reload().Metadata(), "g", "")
	require.NoError(t, err)
	next, _ := m.Get("events", 0)
	require.EqualValues(t, 7, next)

	require.ErrorContains(t, maintenance.ManifestsConfig{Max: 0}.Validate(), "max: must be at least 1")
}

// Stopping floe (SIGTERM) during a check finishes the task in progress —
// an expiry whose commit is on its way lands and deletes the files it made
// unreferenced, rather than leaving them to the orphan sweep — and starts
// no other task; the hard bound (shutdown.timeout) abandons it instead.
func TestMaintainerFinishesTheTaskInProgressWhenStopped(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hardStop bool
	}{{"stop", false}, {"hard-stop", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			for n := int64(0); n < 8; n++ {
				e.ingest(n, "g")
			}
			reg := prometheus.NewRegistry()
			cfg := maintenance.DefaultConfig()
			cfg.Interval = time.Millisecond
			cfg.Expire = keep3
			cfg.Compact.MinFiles = 2
			m := maintenance.NewMaintainer(cfg, e.table(), func() bool { return true },
				slog.New(slog.NewTextHandler(io.Discard, nil)), reg)

			reached, proceed := make(chan struct{}), make(chan struct{})
			first := e.cat.Calls() + 1
			e.cat.SetBefore(func(n int) error {
				if n == first {
					close(reached)
					<-proceed
				}
				return nil
			})
			stop, stopNow := context.WithCancel(context.Background())
			hard, hardNow := context.WithCancel(context.Background())
			defer hardNow()
			done := make(chan struct{})
			go func() { defer close(done); m.Run(stop, hard) }()
			<-reached // the expiry's commit is on its way to the catalog
			stopNow()
			if tc.hardStop {
				hardNow()
			}
			close(proceed)
			<-done

			run := func(task, outcome string) float64 {
				return promtest.Value(t, reg, "floe_maintenance_runs_total",
					map[string]string{"table": "db.t", "task": task, "outcome": outcome})
			}
			for _, outcome := range []string{"committed", "nothing", "failed"} {
				require.Zero(t, run("compact", outcome), "no task starts once stopped")
			}
			require.Zero(t, run("expire", "failed"), "floe stopping is not a failure")
			if tc.hardStop {
				require.Zero(t, run("expire", "committed"))
				require.Len(t, e.reload().Metadata().Snapshots(), 8, "abandoned: nothing expired")
				return
			}
			require.Equal(t, 1.0, run("expire", "committed"))
			require.Len(t, e.reload().Metadata().Snapshots(), 3)
			require.Positive(t, promtest.Value(t, reg, "floe_maintenance_files_removed_total",
				map[string]string{"table": "db.t", "task": "expire"}), "the expired snapshots' files were deleted")
		})
	}
}
