package consumer

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/floe-dev/floe/batcher"
)

type metrics struct {
	records       *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	badRecords    *prometheus.CounterVec
	withoutRow    *prometheus.CounterVec
	flushes       *prometheus.CounterVec
	lag           *prometheus.GaugeVec
	lagSeconds    *prometheus.GaugeVec
	bufferedBytes *prometheus.GaugeVec
	paused        *prometheus.GaugeVec
	accessDenied  prometheus.Gauge
	topics        *prometheus.GaugeVec
	topicsLeftOut prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		records: f.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_consumer_records_total", Help: "Records consumed from Kafka.",
		}, []string{"topic", "partition"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_consumer_bytes_total", Help: "Record value bytes consumed from Kafka.",
		}, []string{"topic", "partition"}),
		badRecords: f.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_consumer_bad_records_total", Help: "Records that could not be decoded, by reason and what floe did (skipped, dead_lettered, failed).",
		}, []string{"topic", "reason", "outcome"}),
		withoutRow: f.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_consumer_change_events_without_row_total", Help: "Change events (envelope: debezium) without a row to append — deletes, truncates, tombstones — by reason and what floe did (skipped, dead_lettered) under the table's deletes.",
		}, []string{"topic", "reason", "outcome"}),
		flushes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_consumer_flushes_total", Help: "Partition buffers sealed into batches, by reason.",
		}, []string{"reason"}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "floe_consumer_lag_records", Help: "Log end offset minus the offset committed to the table, per owned partition.",
		}, []string{"topic", "partition"}),
		lagSeconds: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "floe_consumer_lag_seconds", Help: "While records wait for a partition, the age of the newest record the table holds for it; 0 when caught up.",
		}, []string{"topic", "partition"}),
		bufferedBytes: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "floe_consumer_memory_bytes", Help: "Memory held: payload bytes in partition buffers (buffered) and in sealed, uncommitted batches (pending), and the Arrow memory of their rows (arrow).",
		}, []string{"state"}),
		paused: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "floe_consumer_fetch_paused", Help: "1 while fetching is paused, by reason: memory (the budget is used up), table (a table cannot commit), access (Kafka denies READ on a topic) or retry (a record cannot be decoded now: the schema registry is down).",
		}, []string{"reason"}),
		accessDenied: f.NewGauge(prometheus.GaugeOpts{
			Name: "floe_kafka_access_denied", Help: "Resources (topics, the consumer group) Kafka refuses floe now; while above 0 floe is unready and retries with backoff.",
		}),
		topics: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "floe_consumer_topics", Help: "Topics routed to the table: listed in its topics, or matching its topics-pattern now.",
		}, []string{"table"}),
		topicsLeftOut: f.NewGauge(prometheus.GaugeOpts{
			Name: "floe_consumer_topics_left_out", Help: "Topics a topics-pattern matches that floe does not read: two tables' patterns match them, or Kafka denies READ (logged with the reason).",
		}),
	}
	for _, r := range batcher.Reasons {
		m.flushes.WithLabelValues(string(r))
	}
	m.paused.WithLabelValues("memory")
	m.paused.WithLabelValues("table")
	m.paused.WithLabelValues("access")
	m.paused.WithLabelValues("retry")
	m.bufferedBytes.WithLabelValues("buffered")
	m.bufferedBytes.WithLabelValues("pending")
	m.bufferedBytes.WithLabelValues("arrow")
	return m
}

func partLabel(p int32) string { return strconv.Itoa(int(p)) }
