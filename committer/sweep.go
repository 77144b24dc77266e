package committer

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/iceberg-go/table"
)

// MinSweepAge is the youngest a file may be for a sweep to delete it: files
// of a commit still in progress (or whose outcome is still unknown) are not
// referenced yet, and must survive until that commit has surely ended.
const MinSweepAge = time.Hour

// SweepConfig configures the periodic orphan sweep of `floe run`.
type SweepConfig struct {
	// Interval between sweeps of each table; 0 (the default) never sweeps.
	Interval time.Duration `koanf:"interval"`
	// OlderThan is the age a file must exceed to be deleted.
	OlderThan time.Duration `koanf:"older-than"`
}

// DefaultSweepConfig returns the sweep defaults: off.
func DefaultSweepConfig() SweepConfig { return SweepConfig{OlderThan: 24 * time.Hour} }

// Validate reports the first invalid field, relative to the sweep section.
func (s SweepConfig) Validate() error {
	if s.Interval < 0 {
		return fmt.Errorf("interval: must be >= 0 (0: off), got %s", s.Interval)
	}
	if s.OlderThan < MinSweepAge {
		return fmt.Errorf("older-than: must be at least %s so files of commits in progress are never touched, got %s", MinSweepAge, s.OlderThan)
	}
	return nil
}

// OrphanFile is a file under the table location that no snapshot, manifest
// or metadata file references.
type OrphanFile struct {
	Path string `json:"path"`
	Size int64  `json:"size_bytes"`
}

// SweepResult lists what a sweep found and, unless it was a dry run, deleted.
type SweepResult struct {
	Orphans []OrphanFile `json:"orphans"`
	Bytes   int64        `json:"bytes"`
	Deleted []string     `json:"deleted"`
}

// Sweep finds files under the table's location that are older than
// olderThan and referenced by nothing in the table's metadata (all
// snapshots, branches and tags), and deletes them when apply is set. Files
// any snapshot references are never candidates. The listing and the
// reference check are iceberg-go's; Sweep adds floe's minimum age.
func Sweep(ctx context.Context, tbl *table.Table, olderThan time.Duration, apply bool) (SweepResult, error) {
	if olderThan < MinSweepAge {
		return SweepResult{}, fmt.Errorf("sweep: --older-than must be at least %s, got %s", MinSweepAge, olderThan)
	}
	plan, err := tbl.PlanOrphanFiles(ctx, table.WithFilesOlderThan(olderThan))
	if err != nil {
		return SweepResult{}, fmt.Errorf("find orphan files of %s: %w", tbl.Location(), err)
	}
	var res SweepResult
	for _, f := range plan.OrphanFiles() {
		res.Orphans = append(res.Orphans, OrphanFile{Path: f.Path, Size: f.SizeBytes})
	}
	res.Bytes = plan.TotalSizeBytes()
	if !apply || len(res.Orphans) == 0 {
		return res, nil
	}
	done, err := tbl.ExecuteOrphanCleanup(ctx, plan)
	res.Deleted = done.DeletedFiles
	if err != nil {
		return res, fmt.Errorf("delete orphan files of %s: %w", tbl.Location(), err)
	}
	return res, nil
}

// SweepLoop sweeps the committer's table every cfg.Interval until ctx is
// done. Errors are logged and counted, never fatal: a sweep is housekeeping.
func (c *Committer) SweepLoop(ctx context.Context, cfg SweepConfig) {
	if cfg.Interval <= 0 {
		return
	}
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tbl, err := c.load(ctx)
		if err == nil {
			var res SweepResult
			res, err = Sweep(ctx, tbl, cfg.OlderThan, true)
			c.m.swept.Add(float64(len(res.Deleted)))
			if len(res.Orphans) > 0 {
				c.log.Info("orphan files swept", "found", len(res.Orphans), "deleted", len(res.Deleted), "bytes", res.Bytes)
			}
		}
		if err != nil && ctx.Err() == nil {
			c.m.sweepErrors.Inc()
			c.log.Warn("orphan sweep failed; trying again next interval", "error", err)
		}
	}
}
