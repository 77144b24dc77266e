package committer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/floe-dev/floe/internal/prom"
)

// Commit outcomes, the values of the outcome label.
const (
	outcomeCommitted          = "committed"
	outcomeConflictRetried    = "conflict_retried" // landed after losing to a concurrent commit
	outcomeRetried            = "retried"          // landed after other failed attempts (errors, timeouts)
	outcomeLandedAfterUnknown = "landed_after_unknown"
	outcomeFailed             = "failed"
)

// FreshnessBuckets are the upper bounds of floe_table_freshness_seconds:
// from a fast commit-interval's sub-second freshness to an hour behind, finer
// around the usual commit intervals (seconds) so a p99 near them reads true.
var FreshnessBuckets = []float64{0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 20, 30, 60, 120, 300, 600, 1800, 3600}

type metrics struct {
	commits           *prometheus.CounterVec
	attemptErrors     *prometheus.CounterVec
	dropped           *prometheus.CounterVec
	catalogDuration   prometheus.ObserverVec
	commitDuration    prometheus.Observer
	writeDuration     prometheus.Observer
	fileBytes         prometheus.Observer
	rows              prometheus.Counter
	files             prometheus.Counter
	pendingBytes      prometheus.Gauge
	healthy           prometheus.Gauge
	lastCommit        prometheus.Gauge
	watermark         prometheus.Gauge
	freshness         *prom.WeightedHistogram
	requestsPerCommit prometheus.Observer
	objectsPerCommit  prometheus.Observer
	deadLetters       prometheus.Counter
	deadLettersTopic  prometheus.Counter
	refused           *prometheus.CounterVec
	schemaChanges     prometheus.Counter
	writeAhead        *prometheus.CounterVec
	catchUpCommits    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, tableName string) *metrics {
	l := prometheus.Labels{"table": tableName}
	commits := prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_committer_commits_total",
		Help: "Commit attempt groups by outcome: committed, conflict_retried, retried, landed_after_unknown, failed.",
	}, []string{"table", "outcome"})).MustCurryWith(l)
	attemptErrors := prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_committer_attempt_errors_total",
		Help: "Failed commit attempts that were retried, by reason.",
	}, []string{"table", "reason"})).MustCurryWith(l)
	dropped := prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_committer_dropped_batches_total",
		Help: "Batches not committed because another owner committed their range (fenced) or the partition moved (stale).",
	}, []string{"table", "reason"})).MustCurryWith(l)
	catalog := prom.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "floe_committer_catalog_request_duration_seconds",
		Help:    "Catalog operations made by the committer, by operation and status.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	}, []string{"table", "operation", "status"})).MustCurryWith(l)
	commitDur := prom.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "floe_committer_commit_duration_seconds",
		Help:    "Time from the start of a commit to its landing, files and retries included.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	}, []string{"table"}))
	writeDur := prom.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "floe_committer_write_duration_seconds",
		Help:    "Time to write Parquet data files: a commit's, or one batch's written ahead of its commit.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	}, []string{"table"}))
	fileBytes := prom.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "floe_committer_data_file_size_bytes",
		Help:    "Size of the data files written.",
		Buckets: prometheus.ExponentialBuckets(64<<10, 2, 14),
	}, []string{"table"}))
	rows := prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_committer_rows_total", Help: "Rows committed to the table.",
	}, []string{"table"}))
	files := prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_committer_data_files_total", Help: "Data files committed to the table.",
	}, []string{"table"}))
	pending := prom.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "floe_committer_pending_bytes", Help: "Payload bytes of sealed batches waiting for a commit.",
	}, []string{"table"}))
	healthy := prom.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "floe_committer_table_healthy", Help: "1 while the table's last commit landed in time, 0 while it cannot commit.",
	}, []string{"table"}))
	last := prom.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "floe_committer_last_commit_timestamp_seconds", Help: "Unix time of the last commit that landed.",
	}, []string{"table"}))
	wm := prom.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "floe_committer_watermark_timestamp_seconds", Help: "Committed watermark: min over partitions of the newest committed record timestamp.",
	}, []string{"table"}))

	freshness := prom.Register(reg, prom.NewWeightedHistogramVec(prometheus.HistogramOpts{
		Name:    "floe_table_freshness_seconds",
		Help:    "Time from each record's Kafka timestamp to the landing of the commit that holds it (rows, skipped records and dead letters; not for floe replay).",
		Buckets: FreshnessBuckets,
	}, []string{"table"}))

	perCommit := prom.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "floe_committer_catalog_requests_per_commit",
		Help:    "Catalog HTTP requests (every try) one commit made: the API cost of a commit.",
		Buckets: []float64{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64},
	}, []string{"table"}))

	deadLetters := prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_committer_dead_letters_total",
		Help: "Records written to the table's dead-letter destination (on-error: dlq), by destination: table, topic.",
	}, []string{"table", "destination"}))
	refused := prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_committer_refused_total",
		Help: "Commits refused over a configured limit, by reason (too_many_files).",
	}, []string{"table", "reason"})).MustCurryWith(l)

	schemaChanges := prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_committer_schema_changes_total",
		Help: "Schema changes floe committed to the table (schema-evolution: add-columns, widen).",
	}, []string{"table"}))

	writeAhead := prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_committer_write_ahead_total",
		Help: "Full batches written to Parquet ahead of their commit, by result: written, failed (the commit writes it).",
	}, []string{"table", "result"})).MustCurryWith(l)

	catchUp := prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_committer_catch_up_commits_total",
		Help: "Commits started before their interval because the table's partitions had read to the end of a backlog (commit-on-catch-up).",
	}, []string{"table"}))

	objPerCommit := prom.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "floe_committer_objectstore_requests_per_commit",
		Help:    "Object-store HTTP requests (every try) one commit made: data files, manifests, metadata (S3 warehouses through floe's client).",
		Buckets: []float64{2, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256},
	}, []string{"table"}))

	m := &metrics{
		commits: commits, attemptErrors: attemptErrors, dropped: dropped, catalogDuration: catalog,
		commitDuration: commitDur.With(l), writeDuration: writeDur.With(l), fileBytes: fileBytes.With(l),
		rows: rows.With(l), files: files.With(l), pendingBytes: pending.With(l),
		healthy: healthy.With(l), lastCommit: last.With(l), watermark: wm.With(l),
		freshness:         freshness.WithLabelValues(tableName),
		requestsPerCommit: perCommit.With(l),
		objectsPerCommit:  objPerCommit.With(l),
		deadLetters:       deadLetters.With(prometheus.Labels{"table": tableName, "destination": "table"}),
		deadLettersTopic:  deadLetters.With(prometheus.Labels{"table": tableName, "destination": "topic"}),
		refused:           refused, schemaChanges: schemaChanges.With(l),
		writeAhead: writeAhead, catchUpCommits: catchUp.With(l),
	}
	m.writeAhead.WithLabelValues("written")
	m.writeAhead.WithLabelValues("failed")
	m.refused.WithLabelValues("too_many_files")
	for _, o := range []string{outcomeCommitted, outcomeConflictRetried, outcomeRetried, outcomeLandedAfterUnknown, outcomeFailed} {
		m.commits.WithLabelValues(o)
	}
	for _, r := range []string{"conflict", "timeout", "write", "load", "access_denied", "unknown"} {
		m.attemptErrors.WithLabelValues(r)
	}
	for _, r := range []string{"fenced", "stale"} {
		m.dropped.WithLabelValues(r)
	}
	m.healthy.Set(1)
	return m
}
