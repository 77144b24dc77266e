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

// expireTimeout bounds one expiry, its retries after losing to ingestion
// included.
const expireTimeout = 2 * time.Minute

var expireBackoff = catalog.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}

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
	ctx, cancel := context.WithTimeout(ctx, expireTimeout)
	defer cancel()
	var removed atomic.Int64
	commit := &tablecommit.Commit{Target: tablecommit.Target{
		Name: t.Name, Observe: t.Observe,
		Load: func(ctx context.Context) (*table.Table, error) { return t.load(ctx, &removed) },
	}}
	var res ExpireResult
	err := commit.Run(ctx, expireBackoff, func(ctx context.Context) error {
		res = ExpireResult{}
		staged := false
		out, err := commit.Once(ctx, func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
			err := stageExpiry(tbl, txn, cfg, every, apply, &res)
			staged = err == nil
			return err
		})
		if err != nil {
			return err
		}
		res.Committed = staged
		if out.CleanupErr != nil {
			res.CleanupError = out.CleanupErr.Error()
		}
		return nil
	}, nil)
	res.FilesRemoved = removed.Load()
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
