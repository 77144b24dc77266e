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
	snapshots prometheus.Gauge
	lastOK    *prometheus.GaugeVec // task
}

// NewMaintainer returns the maintainer of t; owns reports whether this
// replica owns the table now.
func NewMaintainer(cfg Config, t Table, owns func() bool, logger *slog.Logger, reg prometheus.Registerer) *Maintainer {
	l := prometheus.Labels{"table": t.Name}
	return &Maintainer{
		cfg: cfg, t: t, owns: owns, log: logger.With("table", t.Name, "component", "maintenance"),
		m: maintainerMetrics{
			runs: prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "floe_maintenance_runs_total",
				Help: "Maintenance tasks run on a table, by task (expire) and outcome (committed: changed the table; nothing: nothing was due; failed).",
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
			snapshots: prom.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "floe_table_snapshots", Help: "Snapshots in the table's metadata, as the table's maintenance last saw it.",
			}, []string{"table"})).With(l),
			lastOK: prom.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "floe_maintenance_last_success_timestamp_seconds", Help: "When a maintenance task last ran without failing (Unix time).",
			}, []string{"table", "task"})).MustCurryWith(l),
		},
	}
}

// Run checks the table every interval until ctx is done (never when the
// interval is 0). A failure is logged and counted, never fatal: the next
// check tries again, and ingestion goes on meanwhile.
func (m *Maintainer) Run(ctx context.Context) {
	if m.cfg.Interval <= 0 {
		return
	}
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if m.owns() {
			// A check that cannot finish (the catalog is down, ingestion
			// keeps winning) gives way to the next one.
			cctx, cancel := context.WithTimeout(ctx, m.cfg.Interval)
			m.Once(cctx, false)
			cancel()
		}
	}
}

// Once runs each task that is due (every: regardless of its thresholds)
// and reports whether they all succeeded.
func (m *Maintainer) Once(ctx context.Context, every bool) bool {
	ok := true
	if m.cfg.Expire.Enabled {
		start := time.Now()
		res, err := Expire(ctx, m.t, m.cfg.Expire, every, true)
		m.m.duration.WithLabelValues("expire").Observe(time.Since(start).Seconds())
		m.m.removed.WithLabelValues("expire").Add(float64(res.FilesRemoved))
		if res.Retained > 0 {
			m.m.snapshots.Set(float64(res.Retained))
		}
		switch {
		case err != nil:
			ok = false
			if !errors.Is(ctx.Err(), context.Canceled) { // not floe stopping
				m.m.runs.WithLabelValues("expire", "failed").Inc()
				m.log.Warn("snapshot expiry failed; trying again at the next check", "error", err)
			}
		case res.Committed:
			m.m.runs.WithLabelValues("expire", "committed").Inc()
			m.m.expired.Add(float64(len(res.Expired)))
			m.m.lastOK.WithLabelValues("expire").SetToCurrentTime()
			m.log.Info("snapshots expired", "expired", len(res.Expired), "retained", res.Retained,
				"files_removed", res.FilesRemoved, "took", time.Since(start).Round(time.Millisecond).String())
			if res.CleanupError != "" {
				m.log.Warn("snapshots expired, but some files they alone referenced were not deleted; the orphan sweep removes them",
					"error", res.CleanupError)
			}
		default:
			m.m.runs.WithLabelValues("expire", "nothing").Inc()
			m.m.lastOK.WithLabelValues("expire").SetToCurrentTime()
		}
	}
	return ok
}
