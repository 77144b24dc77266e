package maintenance

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/floe-dev/floe/internal/prom"
)

// Maintainer runs one table's maintenance while floe ingests. Every
// Interval the replica that owns the table — the one the consumer group
// gave the table's first partition, so exactly one at a time, handed over
// by rebalances like the partition itself — runs what is due. Two owners
// for a moment (a rebalance in flight) cost a lost race, not a wrong
// table: every maintenance commit asserts the head it read.
type Maintainer struct {
	cfg  Config
	t    Table
	owns func() bool
	log  *slog.Logger
	m    maintainerMetrics
}

type maintainerMetrics struct {
	runs      *prometheus.CounterVec // task, outcome
	duration  *prometheus.HistogramVec
	expired   prometheus.Counter
	removed   *prometheus.CounterVec // task
	rewritten prometheus.Counter     // files compaction replaced
	rewrBytes prometheus.Counter     // their bytes
	snapshots prometheus.Gauge
	lastOK    *prometheus.GaugeVec // task
}

// NewMaintainer returns the maintainer of t; owns reports whether this
// replica owns the table now.
func NewMaintainer(cfg Config, t Table, owns func() bool, logger *slog.Logger, reg prometheus.Registerer) *Maintainer {
	l := prometheus.Labels{"table": t.Name}
	m := &Maintainer{
		cfg: cfg, t: t, owns: owns, log: logger.With("table", t.Name, "component", "maintenance"),
		m: maintainerMetrics{
			runs: prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "floe_maintenance_runs_total",
				Help: "Maintenance tasks run on a table, by task (expire, compact, manifests) and outcome (committed: changed the table; nothing: nothing was due; failed).",
			}, []string{"table", "task", "outcome"})).MustCurryWith(l),
			duration: prom.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "floe_maintenance_duration_seconds",
				Help:    "Time a maintenance task took, retries included.",
				Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
			}, []string{"table", "task"})).MustCurryWith(l).(*prometheus.HistogramVec),
			expired: prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "floe_maintenance_snapshots_expired_total", Help: "Snapshots removed by expiry.",
			}, []string{"table"})).With(l),
			removed: prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "floe_maintenance_files_removed_total", Help: "Files deleted by maintenance (manifest lists, manifests, data files), by task.",
			}, []string{"table", "task"})).MustCurryWith(l),
			rewritten: prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "floe_maintenance_files_rewritten_total", Help: "Small data files compaction replaced with larger ones.",
			}, []string{"table"})).With(l),
			rewrBytes: prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "floe_maintenance_bytes_rewritten_total", Help: "Bytes of the small data files compaction replaced (read and written again).",
			}, []string{"table"})).With(l),
			snapshots: prom.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "floe_table_snapshots", Help: "Snapshots in the table's metadata, as the table's maintenance last saw it.",
			}, []string{"table"})).With(l),
			lastOK: prom.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "floe_maintenance_last_success_timestamp_seconds", Help: "When a maintenance task last ran without failing (Unix time).",
			}, []string{"table", "task"})).MustCurryWith(l),
		},
	}
	// Every series exists from the start, so rates and alerts see a zero
	// rather than nothing.
	for _, task := range []string{"expire", "compact", "manifests"} {
		for _, outcome := range []string{"committed", "nothing", "failed"} {
			m.m.runs.WithLabelValues(task, outcome)
		}
		m.m.duration.WithLabelValues(task)
		m.m.removed.WithLabelValues(task)
	}
	return m
}

// minCheckTime is the least time a check may take, however short the
// interval: ticks that come meanwhile are dropped.
const minCheckTime = time.Minute

// Run checks the table every interval until stop is done (never when the
// interval is 0). A failure is logged and counted, never fatal: the next
// check tries again, and ingestion goes on meanwhile.
//
// When stop ends during a check, the task in progress is finished, not cut
// off, and no other starts: an expiry cut off after its commit reached the
// catalog leaves the files it made unreferenced, and a compaction cut off
// mid-commit the files it wrote, to the orphan sweep. hard bounds that
// finishing (floe's shutdown.timeout): once it is done the task is
// abandoned.
func (m *Maintainer) Run(stop, hard context.Context) {
	if m.cfg.Interval <= 0 {
		return
	}
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-stop.Done():
			return
		case <-t.C:
		}
		if m.owns() {
			// A check that cannot finish (the catalog is down, ingestion
			// keeps winning) gives way to the next one; a short interval
			// still leaves a compaction time to finish.
			cctx, cancel := context.WithTimeout(hard, max(m.cfg.Interval, minCheckTime))
			m.once(cctx, stop, false)
			cancel()
		}
	}
}

// Once runs each task that is due (every: regardless of its thresholds)
// and reports whether they all succeeded.
func (m *Maintainer) Once(ctx context.Context, every bool) bool {
	return m.once(ctx, ctx, every)
}

// once is Once, starting no task once stop is done.
func (m *Maintainer) once(ctx, stop context.Context, every bool) bool {
	ok := true
	due := func(enabled bool) bool { return enabled && stop.Err() == nil }
	if due(m.cfg.Expire.Enabled) {
		ok = m.task(ctx, "expire", func() (taskOutcome, error) {
			res, err := Expire(ctx, m.t, m.cfg.Expire, every, true)
			if res.Retained > 0 {
				m.m.snapshots.Set(float64(res.Retained))
			}
			m.m.expired.Add(float64(len(res.Expired) * btoi(res.Committed)))
			return taskOutcome{
				committed: res.Committed, removed: res.FilesRemoved, cleanupErr: res.CleanupError,
				log: []any{"expired", len(res.Expired), "retained", res.Retained, "files_removed", res.FilesRemoved},
			}, err
		}) && ok
	}
	if due(m.cfg.Compact.Enabled) {
		ok = m.task(ctx, "compact", func() (taskOutcome, error) {
			res, err := Compact(ctx, m.t, m.cfg.Compact, every, true)
			if res.Committed {
				m.m.rewritten.Add(float64(res.FilesRewritten))
				m.m.rewrBytes.Add(float64(res.BytesRewritten))
			}
			return taskOutcome{
				committed: res.Committed,
				log: []any{"groups", res.Groups, "files_rewritten", res.FilesRewritten, "bytes_rewritten", res.BytesRewritten,
					"files_added", res.FilesAdded, "bytes_added", res.BytesAdded, "deferred_groups", res.Deferred, "snapshot_id", res.SnapshotID,
					"landed_after_unknown", res.LandedAfterUnknown},
			}, err
		}) && ok
	}
	if due(m.cfg.Manifests.Enabled) {
		ok = m.task(ctx, "manifests", func() (taskOutcome, error) {
			res, err := RewriteManifests(ctx, m.t, m.cfg.Manifests, every, true)
			return taskOutcome{
				committed: res.Committed,
				log:       []any{"manifests_before", res.Before, "rewritten", res.Rewritten, "added", res.Added},
			}, err
		}) && ok
	}
	return ok
}

// taskOutcome is what a task did, for the metrics and the log.
type taskOutcome struct {
	committed  bool
	removed    int64
	cleanupErr string
	log        []any
}

// task runs one task, counts and logs it, and reports whether it did not
// fail.
func (m *Maintainer) task(ctx context.Context, name string, run func() (taskOutcome, error)) bool {
	start := time.Now()
	out, err := run()
	took := time.Since(start)
	m.m.duration.WithLabelValues(name).Observe(took.Seconds())
	m.m.removed.WithLabelValues(name).Add(float64(out.removed))
	switch {
	case err != nil:
		if !errors.Is(ctx.Err(), context.Canceled) { // not floe stopping
			m.m.runs.WithLabelValues(name, "failed").Inc()
			m.log.Warn("maintenance failed; trying again at the next check", "task", name, "error", err)
		}
		return false
	case out.committed:
		m.m.runs.WithLabelValues(name, "committed").Inc()
		m.log.Info("maintenance committed", append([]any{"task", name, "took", took.Round(time.Millisecond).String()}, out.log...)...)
		if out.cleanupErr != "" {
			m.log.Warn("some files no retained snapshot references were not deleted; the orphan sweep removes them",
				"task", name, "error", out.cleanupErr)
		}
	default:
		m.m.runs.WithLabelValues(name, "nothing").Inc()
	}
	m.m.lastOK.WithLabelValues(name).SetToCurrentTime()
	return true
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
