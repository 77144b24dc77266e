package maintenance

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/tablecommit"
)

// Table is a table maintenance works on.
type Table struct {
	// Name is the table's name as configured, for messages and metrics.
	Name    string
	Ident   table.Identifier
	Catalog table.CatalogIO
	// Observe, if set, is told how long each catalog commit request took.
	Observe func(took time.Duration, err error)
	// TargetFileSize is the table's target-file-size: the size compaction
	// aims for unless its own is set.
	TargetFileSize int64
}

// load loads the table; the files its commits delete are counted in removed.
func (t Table) load(ctx context.Context, removed *atomic.Int64) (*table.Table, error) {
	tbl, err := t.Catalog.LoadTable(ctx, t.Ident)
	if err != nil {
		return nil, catalog.LoadFailed(fmt.Errorf("load table %s: %w", t.Name, err))
	}
	fsF := func(ctx context.Context) (icebergio.IO, error) {
		fs, err := tbl.FS(ctx)
		if err != nil {
			return nil, err
		}
		wfs, ok := fs.(icebergio.WriteFileIO) // commits need it; every real store has it
		if !ok {
			return fs, nil
		}
		if bulk, ok := fs.(icebergio.BulkRemovableIO); ok {
			return countingBulkIO{countingIO{wfs, removed}, bulk}, nil
		}
		return countingIO{wfs, removed}, nil
	}
	return table.New(tbl.Identifier(), tbl.Metadata(), tbl.MetadataLocation(), fsF, t.Catalog), nil
}

// countingIO counts the files removed through it.
type countingIO struct {
	icebergio.WriteFileIO
	n *atomic.Int64
}

func (c countingIO) Remove(name string) error {
	err := c.WriteFileIO.Remove(name)
	if err == nil {
		c.n.Add(1)
	}
	return err
}

type countingBulkIO struct {
	countingIO
	bulk icebergio.BulkRemovableIO
}

func (c countingBulkIO) DeleteFiles(ctx context.Context, paths []string) ([]string, error) {
	done, err := c.bulk.DeleteFiles(ctx, paths)
	c.n.Add(int64(len(done)))
	return done, err
}

// ExpireResult is what an expiry did or, in a dry run, would do.
type ExpireResult struct {
	// Due is the number of snapshots past the bounds.
	Due int `json:"due"`
	// Expired are the snapshots removed (in a dry run: to be removed);
	// none when fewer than min-expired were due.
	Expired []int64 `json:"expired_snapshots"`
	// Retained is the number of snapshots left.
	Retained int `json:"retained_snapshots"`
	// FilesRemoved counts the files (manifest lists, manifests, data files)
	// only the expired snapshots referenced, deleted after the commit.
	FilesRemoved int64 `json:"files_removed"`
	// Committed says an expiry commit landed.
	Committed bool `json:"committed"`
	// CleanupError is set when the commit landed but deleting the files
	// failed: they are orphans for the sweep (`floe sweep`).
	CleanupError string `json:"cleanup_error,omitempty"`
}

// commitTimeout bounds one maintenance commit, its retries after losing to
// ingestion included.
const commitTimeout = 2 * time.Minute

var commitBackoff = catalog.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}

// committed is what a maintenance commit did.
type committed struct {
	landed     bool  // a commit landed (not: nothing to do, a dry run)
	snapshot   int64 // the snapshot it made, for a commit with an ID
	unknown    bool  // an attempt's outcome was unknown
	resolved   bool  // and it had landed: found by its commit ID
	cleanupErr error // it landed, but deleting the files it made unreferenced failed
	removed    int64 // files deleted through the table's IO
}

// commitAlone makes one maintenance commit of its own on t (no
// floe.offsets key): stage plans it on each freshly loaded table (and may
// say ErrNothing), so an attempt that loses to ingestion re-plans on the
// new head. Without an id, an outcome that was unknown is re-planned the
// same way (what landed is no longer due); with one (written by stage as
// floe.commit-id), it is looked for in the history first.
func (t Table) commitAlone(ctx context.Context, id string, stage tablecommit.Stage) (committed, error) {
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	var removed atomic.Int64
	commit := &tablecommit.Commit{ID: id, Target: tablecommit.Target{
		Name: t.Name, Observe: t.Observe,
		Load: func(ctx context.Context) (*table.Table, error) { return t.load(ctx, &removed) },
	}}
	var out committed
	err := commit.Run(ctx, commitBackoff, func(ctx context.Context) error {
		staged := false
		res, err := commit.Once(ctx, func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
			err := stage(ctx, tbl, txn)
			staged = err == nil
			return err
		})
		out = committed{landed: err == nil && (staged || res.Resolved), resolved: res.Resolved, cleanupErr: res.CleanupErr}
		if res.Snapshot != nil {
			out.snapshot = res.Snapshot.SnapshotID
		}
		return err
	}, nil)
	out.removed = removed.Load()
	out.unknown = commit.Unknown()
	return out, err
}

// Expire removes t's snapshots that are past cfg's bounds in one commit of
// its own (no floe.offsets.* key), then deletes the files only they
// referenced. It makes no commit when fewer than cfg's min-expired are due
// (unless every is set) or when apply is false (a dry run). An expiry
// asserts every ref it read (iceberg-go), so one that loses to an ingest
// commit re-plans on the new head; the snapshots each group's offsets tag
// names are never removed.
func Expire(ctx context.Context, t Table, cfg ExpireConfig, every, apply bool) (ExpireResult, error) {
	if err := cfg.Validate(); err != nil {
		return ExpireResult{}, fmt.Errorf("expire: %w", err)
	}
	var res ExpireResult
	out, err := t.commitAlone(ctx, "", func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
		res = ExpireResult{}
		return stageExpiry(tbl, txn, cfg, every, apply, &res)
	})
	res.Committed = out.landed
	if out.cleanupErr != nil {
		res.CleanupError = out.cleanupErr.Error()
	}
	res.FilesRemoved = out.removed
	if err != nil {
		return res, fmt.Errorf("expire snapshots of %s: %w", t.Name, err)
	}
	return res, nil
}

// stageExpiry is an expiry's stage: the snapshots past the bounds removed,
// or ErrNothing when too few are due or it is a dry run.
func stageExpiry(tbl *table.Table, txn *table.Transaction, cfg ExpireConfig, every, apply bool, res *ExpireResult) error {
	if err := txn.ExpireSnapshots(table.WithRetainLast(cfg.KeepLast), table.WithOlderThan(cfg.KeepFor)); err != nil {
		if !tbl.Properties().GetBool("gc.enabled", true) {
			err = fmt.Errorf("%w (the table property gc.enabled is false: set it to true to let floe expire snapshots, or turn maintenance.expire off)", err)
		}
		return tablecommit.Fatal(err)
	}
	staged, err := txn.StagedTable()
	if err != nil {
		return tablecommit.Fatal(err)
	}
	after := staged.Metadata()
	var due []int64
	for _, s := range tbl.Metadata().Snapshots() {
		if after.SnapshotByID(s.SnapshotID) == nil {
			due = append(due, s.SnapshotID)
		}
	}
	slices.Sort(due)
	res.Due = len(due)
	res.Retained = len(tbl.Metadata().Snapshots())
	if len(due) == 0 || (!every && len(due) < cfg.minExpired()) {
		return tablecommit.ErrNothing
	}
	res.Expired, res.Retained = due, len(after.Snapshots())
	if !apply {
		return tablecommit.ErrNothing
	}
	return nil
}
