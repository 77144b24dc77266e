package maintenance

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/floe-dev/floe/internal/prom"
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

// Sweeper sweeps one table every SweepConfig.Interval while floe runs.
type Sweeper struct {
	cfg    SweepConfig
	load   func(ctx context.Context) (*table.Table, error)
	log    *slog.Logger
	swept  prometheus.Counter
	failed prometheus.Counter
}

// NewSweeper returns the sweeper of tableName; load loads the table.
func NewSweeper(cfg SweepConfig, tableName string, load func(ctx context.Context) (*table.Table, error), logger *slog.Logger, reg prometheus.Registerer) *Sweeper {
	l := prometheus.Labels{"table": tableName}
	return &Sweeper{
		cfg: cfg, load: load, log: logger.With("table", tableName),
		swept: prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_committer_swept_files_total", Help: "Orphan files deleted by the periodic sweep.",
		}, []string{"table"})).With(l),
		failed: prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_committer_sweep_errors_total", Help: "Periodic sweeps that failed.",
		}, []string{"table"})).With(l),
	}
}

// Run sweeps the table every interval until ctx is done (never when the
// interval is 0). Errors are logged and counted, never fatal: a sweep is
// housekeeping.
func (s *Sweeper) Run(ctx context.Context) {
	if s.cfg.Interval <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tbl, err := s.load(ctx)
		if err == nil {
			var res SweepResult
			res, err = Sweep(ctx, tbl, s.cfg.OlderThan, true)
			s.swept.Add(float64(len(res.Deleted)))
			if len(res.Orphans) > 0 {
				s.log.Info("orphan files swept", "found", len(res.Orphans), "deleted", len(res.Deleted), "bytes", res.Bytes)
			}
		}
		if err != nil && ctx.Err() == nil {
			s.failed.Inc()
			s.log.Warn("orphan sweep failed; trying again next interval", "error", err)
		}
	}
}
