package maintenance_test

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/maintenance"
	"github.com/floe-dev/floe/offsets"
)

var compactCfg = maintenance.CompactConfig{Enabled: true, MinFiles: 5, MaxBytes: 1 << 30}

// dataFiles lists the Parquet files under the table's data directory.
func (e *env) dataFiles() []string {
	e.t.Helper()
	u, err := url.Parse(e.reload().Location())
	require.NoError(e.t, err)
	var out []string
	require.NoError(e.t, filepath.WalkDir(filepath.Join(u.Path, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") {
			out = append(out, p)
		}
		return err
	}))
	return out
}

// referenced lists the data files any snapshot of the table references.
func (e *env) referenced() map[string]bool {
	e.t.Helper()
	tbl := e.reload()
	fsys, err := tbl.FS(context.Background())
	require.NoError(e.t, err)
	out := map[string]bool{}
	for _, s := range tbl.Metadata().Snapshots() {
		mans, err := s.Manifests(fsys)
		require.NoError(e.t, err)
		for _, m := range mans {
			entries, err := m.FetchEntries(fsys, true)
			require.NoError(e.t, err)
			for _, en := range entries {
				out[strings.TrimPrefix(en.DataFile().FilePath(), "file://")] = true
			}
		}
	}
	return out
}

// requireNoOrphans: every data file on disk is one a snapshot references.
func (e *env) requireNoOrphans() {
	e.t.Helper()
	ref := e.referenced()
	for _, f := range e.dataFiles() {
		require.True(e.t, ref[f], "data file %s is referenced by no snapshot", f)
	}
}

func (e *env) compact(cfg maintenance.CompactConfig, every, apply bool) (maintenance.CompactResult, error) {
	return maintenance.Compact(context.Background(), e.table(), cfg, every, apply)
}

// Twelve commits' small files become one, in a replace snapshot of its own
// that carries no offsets: the head, and time travel to before it, read the
// same rows, and floe still reads its offsets from below it.
func TestCompactRewritesSmallFilesKeepingTheRows(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 12; n++ {
		e.ingest(n, "g")
	}
	before := e.reload().CurrentSnapshot().SnapshotID
	rows := e.rows(0)

	dry, err := e.compact(compactCfg, false, false)
	require.NoError(t, err)
	require.Equal(t, 1, dry.Groups)
	require.Equal(t, 12, dry.FilesRewritten)
	require.False(t, dry.Committed)
	require.Equal(t, before, e.reload().CurrentSnapshot().SnapshotID, "a dry run changes nothing")
	require.Len(t, e.dataFiles(), 12)

	res, err := e.compact(compactCfg, false, true)
	require.NoError(t, err)
	require.True(t, res.Committed)
	require.Equal(t, 12, res.FilesRewritten)
	require.Equal(t, 1, res.FilesAdded)
	require.Positive(t, res.BytesRewritten)
	require.Positive(t, res.BytesAdded)

	head := e.reload().CurrentSnapshot()
	require.Equal(t, res.SnapshotID, head.SnapshotID)
	require.Equal(t, table.OpReplace, head.Summary.Operation)
	require.Equal(t, "compact", head.Summary.Properties[maintenance.SummaryMaintenance])
	_, ok := head.Summary.Properties[offsets.Key("g")]
	require.False(t, ok, "no offsets key on a compaction")
	require.Equal(t, "1", head.Summary.Properties["total-data-files"])
	require.ElementsMatch(t, rows, e.rows(0), "the head reads the same rows")
	require.ElementsMatch(t, rows, e.rows(before), "and so does time travel to before the compaction")
	m, snap, err := offsets.Read(e.reload().Metadata(), "g", "")
	require.NoError(t, err)
	require.Equal(t, before, snap.SnapshotID)
	next, _ := m.Get("events", 0)
	require.EqualValues(t, 12, next)
	e.requireNoOrphans()

	again, err := e.compact(compactCfg, false, true)
	require.NoError(t, err)
	require.False(t, again.Committed, "one file: nothing to compact")
	require.Zero(t, again.Groups)
}

// Fewer small files than min-files wait; every (floe maintain) takes two.
func TestCompactWaitsForMinFiles(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 3; n++ {
		e.ingest(n, "g")
	}
	res, err := e.compact(compactCfg, false, true)
	require.NoError(t, err)
	require.Zero(t, res.Groups)
	require.False(t, res.Committed)
	res, err = e.compact(compactCfg, true, true)
	require.NoError(t, err)
	require.True(t, res.Committed)
	require.Equal(t, 3, res.FilesRewritten)
}

// max-bytes bounds a run: one group now, the rest deferred to later runs.
func TestCompactMaxBytesDefersGroups(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 12; n++ {
		e.ingest(n, "g")
	}
	head := e.reload().CurrentSnapshot()
	size := int64(0)
	for k, v := range head.Summary.Properties {
		if k == "total-files-size" {
			size = offsets.Atoi(v) / 12
		}
	}
	require.Positive(t, size)
	tbl := e.table()
	tbl.TargetFileSize = 3 * size // bins of about three files
	cfg := compactCfg
	cfg.MinFiles, cfg.MaxBytes = 2, 1
	res, err := maintenance.Compact(context.Background(), tbl, cfg, false, true)
	require.NoError(t, err)
	require.True(t, res.Committed)
	require.Equal(t, 1, res.Groups)
	require.Positive(t, res.Deferred)
	require.Less(t, res.FilesRewritten, 12)
	require.Len(t, e.rows(0), 12)
}

// An ingest commit lands between the compaction's load and its commit:
// the compaction re-stages the same rewrite on the new head and lands; the
// ingested row and its offsets tag stay.
func TestCompactLosesToIngestionAndRestages(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 6; n++ {
		e.ingest(n, "g")
	}
	var raced int64
	e.beforeNextCommit(func() { raced = e.ingest(6, "g") })
	res, err := e.compact(compactCfg, false, true)
	require.NoError(t, err)
	require.True(t, res.Committed)
	require.Equal(t, 6, res.FilesRewritten)
	tbl := e.reload()
	require.Equal(t, res.SnapshotID, tbl.CurrentSnapshot().SnapshotID)
	require.Equal(t, raced, *tbl.CurrentSnapshot().ParentSnapshotID)
	require.Equal(t, "2", tbl.CurrentSnapshot().Summary.Properties["total-data-files"], "the compacted file and the raced one")
	require.ElementsMatch(t, []int64{0, 1, 2, 3, 4, 5, 6}, e.rows(0))
	require.Equal(t, raced, tbl.Metadata().SnapshotByName(offsets.Tag(offsets.Key("g"), "")).SnapshotID)
	e.requireNoOrphans()
}

// Two owners for a moment (a rebalance in flight) compact the same files:
// the one that loses finds its inputs gone, gives up and deletes the files
// it wrote — no orphan, no row twice.
func TestCompactGivesUpWhenAnotherReplacedItsFiles(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 6; n++ {
		e.ingest(n, "g")
	}
	var other maintenance.CompactResult
	var otherErr error
	e.beforeNextCommit(func() { other, otherErr = e.compact(compactCfg, false, true) })
	res, err := e.compact(compactCfg, false, true)
	require.NoError(t, otherErr)
	require.True(t, other.Committed)
	require.ErrorContains(t, err, "compact db.t: rewrite given up")
	require.ErrorContains(t, err, "no longer in the table")
	require.False(t, res.Committed)
	require.Contains(t, res.Abandoned, "deleted")
	require.Equal(t, other.SnapshotID, e.reload().CurrentSnapshot().SnapshotID)
	require.ElementsMatch(t, []int64{0, 1, 2, 3, 4, 5}, e.rows(0))
	e.requireNoOrphans()
}

// The compaction's commit lands but its response is lost: the next attempt
// finds it by its commit ID instead of committing again.
func TestCompactFindsItsCommitAfterALostResponse(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 6; n++ {
		e.ingest(n, "g")
	}
	calls := e.cat.Calls()
	var once sync.Once
	e.cat.SetAfter(func(n int, err error) error {
		var lost error
		if n == calls+1 && err == nil {
			once.Do(func() { lost = errors.New("connection reset by peer") })
		}
		return lost
	})
	res, err := e.compact(compactCfg, false, true)
	require.NoError(t, err)
	require.True(t, res.Committed)
	require.True(t, res.LandedAfterUnknown)
	tbl := e.reload()
	require.Equal(t, res.SnapshotID, tbl.CurrentSnapshot().SnapshotID)
	compactions := 0
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary.Properties[maintenance.SummaryMaintenance] == "compact" {
			compactions++
		}
	}
	require.Equal(t, 1, compactions, "the rewrite landed once")
	require.ElementsMatch(t, []int64{0, 1, 2, 3, 4, 5}, e.rows(0))
	e.requireNoOrphans()
}

func TestCompactConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  maintenance.CompactConfig
		want string
	}{
		{maintenance.CompactConfig{MinFiles: 2, MaxBytes: 1, TargetFileSize: -1}, "target-file-size: must be >= 0"},
		{maintenance.CompactConfig{MinFiles: 1, MaxBytes: 1}, "min-files: must be at least 2"},
		{maintenance.CompactConfig{MinFiles: 2, MaxBytes: 0}, "max-bytes: must be > 0"},
	} {
		require.ErrorContains(t, tc.cfg.Validate(), tc.want)
	}
	cfg := maintenance.DefaultConfig()
	cfg.Compact.MinFiles = 0
	require.ErrorContains(t, cfg.Validate(), "compact.min-files")

	e := newEnv(t, nil)
	tbl := e.table()
	tbl.TargetFileSize = 0
	_, err := maintenance.Compact(context.Background(), tbl, compactCfg, false, true)
	require.ErrorContains(t, err, "no target file size")
}

// Every attempt's outcome is unknown (the catalog answers 503 after or
// instead of applying it) until the run is cut short: the compacted files
// may be live, so they stay for the orphan sweep, and the rows are intact.
func TestCompactLeavesFilesForTheSweepWhenTheOutcomeIsUnknown(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 6; n++ {
		e.ingest(n, "g")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := e.cat.Calls()
	e.cat.SetBefore(func(n int) error {
		if n > calls+1 {
			cancel()
		}
		return errors.New("503 Service Unavailable")
	})
	res, err := maintenance.Compact(ctx, e.table(), compactCfg, false, true)
	require.Error(t, err)
	require.False(t, res.Committed)
	require.Contains(t, res.Abandoned, "left for the orphan sweep")
	e.cat.SetBefore(nil)
	require.Len(t, e.dataFiles(), 7, "six inputs and the compacted file")
	require.ElementsMatch(t, []int64{0, 1, 2, 3, 4, 5}, e.rows(0))
}

// A small file that cannot be read fails the rewrite before any commit:
// what it wrote is deleted and the table is untouched.
func TestCompactFailsCleanlyWhenAnInputIsUnreadable(t *testing.T) {
	e := newEnv(t, nil)
	for n := int64(0); n < 6; n++ {
		e.ingest(n, "g")
	}
	head := e.reload().CurrentSnapshot().SnapshotID
	files := e.dataFiles()
	require.NoError(t, os.Remove(files[len(files)-1]))
	res, err := e.compact(compactCfg, false, true)
	require.ErrorContains(t, err, "compact db.t")
	require.False(t, res.Committed)
	require.Equal(t, head, e.reload().CurrentSnapshot().SnapshotID)
	require.Len(t, e.dataFiles(), 5, "nothing the failed rewrite wrote is left")
}
