package maintenance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/table/compaction"
	"github.com/google/uuid"

	"github.com/floe-dev/floe/offsets"
	"github.com/floe-dev/floe/tablecommit"
)

// CompactConfig is small-file compaction: the small data files of a
// partition (each commit adds one per partition it touched) are rewritten
// into files near TargetFileSize, in a snapshot of its own (operation
// replace, the same rows, no floe.offsets.* key).
type CompactConfig struct {
	Enabled bool `koanf:"enabled"`
	// TargetFileSize is the size compacted files aim for; 0: the table's
	// target-file-size. Files under three quarters of it are small.
	TargetFileSize int64 `koanf:"target-file-size"`
	// MinFiles is the least number of small files of one partition worth a
	// rewrite: fewer wait for more to come.
	MinFiles int `koanf:"min-files"`
	// MaxBytes bounds the bytes one run reads and rewrites (at least one
	// group is rewritten); the rest waits for the next check, so a run
	// stays short and its memory bounded.
	MaxBytes int64 `koanf:"max-bytes"`
}

// DefaultCompactConfig returns the compaction defaults: on, rewriting a
// partition once it has 10 small files, at most 512 MiB a run.
func DefaultCompactConfig() CompactConfig {
	return CompactConfig{Enabled: true, MinFiles: 10, MaxBytes: 512 << 20}
}

// Validate reports the first invalid field, relative to the compact
// section.
func (c CompactConfig) Validate() error {
	switch {
	case c.TargetFileSize < 0:
		return fmt.Errorf("target-file-size: must be >= 0 (0: the table's target-file-size), got %d", c.TargetFileSize)
	case c.MinFiles < 2:
		return fmt.Errorf("min-files: must be at least 2 (one file has nothing to be merged with), got %d", c.MinFiles)
	case c.MaxBytes < 1:
		return fmt.Errorf("max-bytes: must be > 0, got %d", c.MaxBytes)
	}
	return nil
}

// CompactResult is what a compaction did or, in a dry run, would do.
type CompactResult struct {
	// Groups are the sets of small files of one partition rewritten
	// together (in a dry run: that would be).
	Groups int `json:"groups"`
	// FilesRewritten and BytesRewritten are the small files replaced and
	// their size; Deferred counts the groups max-bytes left for later.
	FilesRewritten int   `json:"files_rewritten"`
	BytesRewritten int64 `json:"bytes_rewritten"`
	Deferred       int   `json:"groups_deferred,omitempty"`
	// FilesAdded and BytesAdded are the compacted files written (0 in a
	// dry run).
	FilesAdded int   `json:"files_added"`
	BytesAdded int64 `json:"bytes_added"`
	Committed  bool  `json:"committed"`
	SnapshotID int64 `json:"snapshot_id,omitempty"`
	// LandedAfterUnknown says an attempt's response was lost but its commit
	// had landed: found in the history by its commit ID, not made twice.
	LandedAfterUnknown bool `json:"landed_after_unknown,omitempty"`
	// Abandoned is set when the rewrite was given up after writing its
	// files (another writer replaced the same files first): the files were
	// deleted, or, when an attempt's outcome was unknown, left for the sweep.
	Abandoned string `json:"abandoned,omitempty"`
}

// SummaryMaintenance names the maintenance task a snapshot of floe's own
// (no floe.offsets.* key) was made by.
const SummaryMaintenance = "floe.maintenance"

// errReplaced is a rewrite whose input files are no longer all in the head.
var errReplaced = errors.New("some of the files it rewrote are no longer in the table (another compaction or a rollback replaced them first)")

// Compact rewrites t's small files, at most cfg.MaxBytes of them, into
// files near the target size (cfg's, or t's when cfg has none) and
// commits the result as one replace snapshot. every lowers the files a
// partition needs to two; apply false only plans (a dry run).
//
// The files are read and written before the commit and outside its retry
// loop: an ingest commit landing meanwhile only makes the commit re-stage
// the same files on the new head (appends never conflict with a rewrite).
// When the inputs are no longer all there — another owner of the table
// compacted them first, or a rollback took them away — the rewrite is given
// up and its files deleted; when an attempt's outcome was unknown they are
// kept (they may be live) and the sweep deletes them if they are not.
func Compact(ctx context.Context, t Table, cfg CompactConfig, every, apply bool) (CompactResult, error) {
	target := t.TargetFileSize
	if cfg.TargetFileSize > 0 {
		target = cfg.TargetFileSize
	}
	if err := cfg.Validate(); err != nil {
		return CompactResult{}, fmt.Errorf("compact: %w", err)
	}
	if target <= 0 {
		return CompactResult{}, fmt.Errorf("compact: no target file size (set maintenance.compact.target-file-size)")
	}
	fail := func(res CompactResult, err error) (CompactResult, error) {
		return res, fmt.Errorf("compact %s: %w", t.Name, err)
	}
	var removed atomic.Int64 // nothing: a rewrite deletes no file
	tbl, err := t.load(ctx, &removed)
	if err != nil {
		return fail(CompactResult{}, err)
	}
	groups, res, err := planCompaction(ctx, tbl, cfg, target, every)
	if err != nil || len(groups) == 0 || !apply {
		if err != nil {
			return fail(res, err)
		}
		return res, nil
	}

	var done []table.CompactionGroupResult
	for _, g := range groups {
		gr, err := table.ExecuteCompactionGroup(ctx, tbl, g,
			table.WithCompactionTargetFileSize(target),
			// One reader: compaction shares the cores with ingestion.
			table.WithCompactionScanConcurrency(1))
		done = append(done, gr)
		if err != nil {
			return fail(res, errors.Join(err, deleteOutputs(context.WithoutCancel(ctx), tbl, done)))
		}
		res.FilesAdded += len(gr.NewDataFiles)
		res.BytesAdded += gr.BytesAfter
	}

	id := uuid.NewString()
	props := iceberg.Properties{offsets.SummaryCommitID: id, SummaryMaintenance: "compact"}
	var last table.Metadata // the table the last attempt staged on
	out, err := t.commitAlone(ctx, id, func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
		last = tbl.Metadata()
		rw := txn.NewRewrite(props)
		for _, gr := range done {
			rw.ApplyResult(gr)
		}
		err := rw.Commit(ctx)
		if err != nil && strings.Contains(err.Error(), "do not belong to the table") {
			return tablecommit.Fatal(errReplaced)
		}
		return err
	})
	res.Committed, res.SnapshotID, res.LandedAfterUnknown = out.landed, out.snapshot, out.resolved
	if err == nil {
		return res, nil
	}
	// Inputs gone, and no snapshot with the rewrite's ID in the table read
	// after every attempt: an earlier attempt whose outcome was unknown did
	// not land, and cannot any more (each asserted a head that had the
	// inputs), so the files are surely unreferenced.
	if out.unknown && errors.Is(err, errReplaced) && !hasCommit(last, id) {
		out.unknown = false
	}
	if out.unknown {
		res.Abandoned = "an attempt's outcome was unknown: the compacted files are left for the orphan sweep"
	} else {
		res.Abandoned = "the compacted files were deleted"
		err = errors.Join(err, deleteOutputs(context.WithoutCancel(ctx), tbl, done))
	}
	if errors.Is(err, errReplaced) {
		return fail(res, fmt.Errorf("rewrite given up: %w", err))
	}
	return fail(res, err)
}

// planCompaction plans the rewrite of tbl's head: the groups to rewrite now,
// at most cfg.MaxBytes of them but at least one.
func planCompaction(ctx context.Context, tbl *table.Table, cfg CompactConfig, target int64, every bool) ([]table.CompactionTaskGroup, CompactResult, error) {
	var res CompactResult
	if tbl.CurrentSnapshot() == nil {
		return nil, res, nil
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, res, fmt.Errorf("list the data files of snapshot %d: %w", tbl.CurrentSnapshot().SnapshotID, err)
	}
	pc := compaction.DefaultConfig()
	pc.TargetFileSizeBytes = target
	pc.MinFileSizeBytes = target * 3 / 4
	pc.MaxFileSizeBytes = target * 9 / 5
	pc.MinInputFiles = uint(cfg.MinFiles)
	if every {
		pc.MinInputFiles = 2
	}
	plan, err := pc.PlanCompaction(tasks)
	if err != nil {
		return nil, res, err
	}
	var groups []table.CompactionTaskGroup
	for _, g := range plan.Groups {
		tasks, size := tiered(g.Tasks)
		if len(tasks) < int(pc.MinInputFiles) {
			continue // its small files are crumbs beside one larger file: wait for more
		}
		if len(groups) > 0 && res.BytesRewritten+size > cfg.MaxBytes {
			res.Deferred++
			continue
		}
		groups = append(groups, table.CompactionTaskGroup{PartitionKey: g.PartitionKey, Tasks: tasks, TotalSizeBytes: size})
		res.Groups++
		res.FilesRewritten += len(tasks)
		res.BytesRewritten += size
	}
	return groups, res, nil
}

// tiered keeps the files of a group worth rewriting together: from the
// smallest up, a file joins while it is at most twice the files before it
// together. A partition that keeps growing holds one earlier compaction's
// output beside the commits' small files since; rewriting it with every
// handful of new small files would rewrite each byte once per run
// (quadratic). Held back until the small files add half its size, it grows
// at least 1.5× per rewrite, so each byte is rewritten about
// log1.5(target / commit file size) times.
func tiered(tasks []table.FileScanTask) ([]table.FileScanTask, int64) {
	tasks = slices.Clone(tasks)
	slices.SortFunc(tasks, func(a, b table.FileScanTask) int {
		return cmp.Compare(a.File.FileSizeBytes(), b.File.FileSizeBytes())
	})
	var sum int64
	for i, t := range tasks {
		if i > 0 && t.File.FileSizeBytes() > 2*sum {
			return tasks[:i], sum
		}
		sum += t.File.FileSizeBytes()
	}
	return tasks, sum
}

// hasCommit reports whether any snapshot of meta carries commit ID id.
func hasCommit(meta table.Metadata, id string) bool {
	if meta == nil {
		return true // never read: assume the worst
	}
	for _, s := range meta.Snapshots() {
		if s.Summary != nil && s.Summary.Properties[offsets.SummaryCommitID] == id {
			return true
		}
	}
	return false
}

// deleteOutputs deletes the files a rewrite that did not land wrote; ctx
// is not the run's, which may be what ended it.
func deleteOutputs(ctx context.Context, tbl *table.Table, done []table.CompactionGroupResult) error {
	fs, err := tbl.FS(ctx)
	if err != nil {
		return fmt.Errorf("delete the compacted files: %w", err)
	}
	var errs []error
	for _, gr := range done {
		for _, f := range gr.NewDataFiles {
			if err := fs.Remove(f.FilePath()); err != nil && !errors.Is(err, iofs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("delete compacted file %s (an orphan for the sweep): %w", f.FilePath(), err))
			}
		}
	}
	return errors.Join(errs...)
}
