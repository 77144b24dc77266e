package consumer

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClientOptions are the franz-go options every Kafka client of one floe
// process shares: hooks that export the client's own view of the brokers
// (connections, request latency and errors by broker and request, fetched
// bytes, throttling, group-session errors) as floe_kafka_* metrics, and its
// log through slog. Build them once per registry — the metrics register
// once — and give them to every client: the group consumer, the admin
// client, the dead-letter producer, floe replay and floe rollback.
func ClientOptions(cfg Config, logger *slog.Logger, reg prometheus.Registerer) ([]kgo.Opt, error) {
	sec, err := securityOptions(cfg, logger)
	if err != nil {
		return nil, err
	}
	return append([]kgo.Opt{
		kgo.WithHooks(newClientHooks(reg)),
		kgo.WithLogger(kafkaLogger{log: logger.With("component", "kafka")}),
	}, sec...), nil
}

// clientHooks implements franz-go's hook interfaces. Hooks run on the
// client's goroutines, often per request: each does a counter or histogram
// update and nothing else.
type clientHooks struct {
	connects      *prometheus.CounterVec
	disconnects   *prometheus.CounterVec
	connections   *prometheus.GaugeVec
	requests      *prometheus.HistogramVec
	requestErrors *prometheus.CounterVec
	fetchBytes    *prometheus.CounterVec
	fetchRaw      *prometheus.CounterVec
	throttle      prometheus.Histogram
	groupErrors   prometheus.Counter
	failures      connFailures
}

var (
	_ kgo.HookBrokerConnect    = (*clientHooks)(nil)
	_ kgo.HookBrokerDisconnect = (*clientHooks)(nil)
	_ kgo.HookBrokerE2E        = (*clientHooks)(nil)
	_ kgo.HookBrokerThrottle   = (*clientHooks)(nil)
	_ kgo.HookFetchBatchRead   = (*clientHooks)(nil)
	_ kgo.HookGroupManageError = (*clientHooks)(nil)
)

func newClientHooks(reg prometheus.Registerer) *clientHooks {
	f := promauto.With(reg)
	latency := prometheus.ExponentialBuckets(0.001, 4, 9) // 1 ms … 65 s
	h := &clientHooks{
		connects: f.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_kafka_connects_total", Help: "Connection attempts to Kafka brokers, by broker (node ID, or seed before metadata) and outcome (ok, error).",
		}, []string{"broker", "outcome"}),
		disconnects: f.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_kafka_disconnects_total", Help: "Connections to Kafka brokers closed, by broker.",
		}, []string{"broker"}),
		connections: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "floe_kafka_connections", Help: "Connections open to Kafka brokers, by broker, over all of this process's Kafka clients.",
		}, []string{"broker"}),
		requests: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "floe_kafka_request_duration_seconds", Help: "Kafka requests from write to the end of the response, by broker and request (Fetch, Produce, Heartbeat, …).",
			Buckets: latency,
		}, []string{"broker", "operation"}),
		requestErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_kafka_request_errors_total", Help: "Kafka requests that failed on the connection (write or read error), by broker and request.",
		}, []string{"broker", "operation"}),
		fetchBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_kafka_fetch_bytes_total", Help: "Record-batch bytes fetched from Kafka as sent on the wire (compressed), by topic.",
		}, []string{"topic"}),
		fetchRaw: f.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_kafka_fetch_uncompressed_bytes_total", Help: "Record-batch bytes fetched from Kafka after decompression, by topic.",
		}, []string{"topic"}),
		throttle: f.NewHistogram(prometheus.HistogramOpts{
			Name: "floe_kafka_throttle_seconds", Help: "Throttling imposed by Kafka brokers (quotas), per throttled response.",
			Buckets: latency,
		}),
		groupErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "floe_kafka_group_errors_total", Help: "Errors that ended a consumer-group session (the member rejoins; its partitions are lost meanwhile).",
		}),
	}
	return h
}

// broker labels a broker by node ID; seed brokers, contacted before the
// cluster's metadata is known, have negative IDs and share one label.
func broker(meta kgo.BrokerMetadata) string {
	if meta.NodeID < 0 {
		return "seed"
	}
	return strconv.Itoa(int(meta.NodeID))
}

func (h *clientHooks) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.connects.WithLabelValues(broker(meta), "error").Inc()
		h.failures.record(meta, err)
		return
	}
	b := broker(meta)
	h.connects.WithLabelValues(b, "ok").Inc()
	h.connections.WithLabelValues(b).Inc()
	// A broker's failure series exist, at 0, once it is known.
	h.connects.WithLabelValues(b, "error")
	h.disconnects.WithLabelValues(b)
}

func (h *clientHooks) OnBrokerDisconnect(meta kgo.BrokerMetadata, _ net.Conn) {
	h.disconnects.WithLabelValues(broker(meta)).Inc()
	h.connections.WithLabelValues(broker(meta)).Dec()
}

func (h *clientHooks) OnBrokerE2E(meta kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	b, op := broker(meta), kmsg.NameForKey(key)
	errs := h.requestErrors.WithLabelValues(b, op) // exists, at 0, once the request was sent
	if e2e.Err() != nil {
		errs.Inc()
		return
	}
	h.requests.WithLabelValues(b, op).Observe(e2e.DurationE2E().Seconds())
}

func (h *clientHooks) OnBrokerThrottle(_ kgo.BrokerMetadata, interval time.Duration, _ bool) {
	h.throttle.Observe(interval.Seconds())
}

func (h *clientHooks) OnFetchBatchRead(_ kgo.BrokerMetadata, topic string, _ int32, m kgo.FetchBatchMetrics) {
	h.fetchBytes.WithLabelValues(topic).Add(float64(m.CompressedBytes))
	h.fetchRaw.WithLabelValues(topic).Add(float64(m.UncompressedBytes))
}

func (h *clientHooks) OnGroupManageError(error) { h.groupErrors.Inc() }

// kafkaLogger passes franz-go's log to slog. franz-go's info level narrates
// every connection, metadata refresh and group step: it goes to debug, so
// floe's own info log stays readable; warnings and errors keep their level.
type kafkaLogger struct{ log *slog.Logger }

func (l kafkaLogger) Level() kgo.LogLevel {
	ctx := context.Background()
	switch {
	case l.log.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelInfo // franz-go's debug level logs every request
	case l.log.Enabled(ctx, slog.LevelWarn):
		return kgo.LogLevelWarn
	default:
		return kgo.LogLevelError
	}
}

func (l kafkaLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		lvl = slog.LevelError
	case kgo.LogLevelWarn:
		lvl = slog.LevelWarn
	}
	l.log.Log(context.Background(), lvl, msg, keyvals...)
}
