package consumer

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClientOptionsExportTheClient produces and consumes through clients
// built with ClientOptions and checks what the hooks exported.
func TestClientOptionsExportTheClient(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	require.NoError(t, err)
	t.Cleanup(kc.Close)
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	opts, err := ClientOptions(Config{}, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	require.NoError(t, err)

	prod, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(kc.ListenAddrs()...), kgo.DefaultProduceTopic("t")}, opts...)...)
	require.NoError(t, err)
	defer prod.Close()
	require.NoError(t, prod.ProduceSync(t.Context(), &kgo.Record{Value: []byte(strings.Repeat("x", 1000))}).FirstErr())

	cons, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	require.NoError(t, err)
	defer cons.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	fs := cons.PollFetches(ctx)
	require.NoError(t, fs.Err())
	require.Equal(t, 1, fs.NumRecords())

	require.Greater(t, sumOf(t, reg, "floe_kafka_connects_total", "outcome", "ok"), 0.0)
	require.Zero(t, sumOf(t, reg, "floe_kafka_connects_total", "outcome", "error"))
	require.Greater(t, sumOf(t, reg, "floe_kafka_connections", "", ""), 0.0)
	require.GreaterOrEqual(t, sumOf(t, reg, "floe_kafka_fetch_uncompressed_bytes_total", "topic", "t"), 1000.0)
	require.Greater(t, sumOf(t, reg, "floe_kafka_fetch_bytes_total", "topic", "t"), 0.0)
	n, err := testutil.GatherAndCount(reg, "floe_kafka_request_duration_seconds")
	require.NoError(t, err)
	require.Greater(t, n, 0, "request latency by broker and request")
	require.Contains(t, requestOps(t, reg), "Fetch")
	require.Contains(t, requestOps(t, reg), "Produce")
}

func TestClientHooksThrottleAndGroupErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newClientHooks(reg)
	h.OnBrokerThrottle(kgo.BrokerMetadata{NodeID: 1}, 250*time.Millisecond, true)
	h.OnGroupManageError(context.DeadlineExceeded)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP floe_kafka_group_errors_total Errors that ended a consumer-group session (the member rejoins; its partitions are lost meanwhile).
# TYPE floe_kafka_group_errors_total counter
floe_kafka_group_errors_total 1
`), "floe_kafka_group_errors_total"))
	n, err := testutil.GatherAndCount(reg, "floe_kafka_throttle_seconds")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, "seed", broker(kgo.BrokerMetadata{NodeID: -1}))
	require.Equal(t, "3", broker(kgo.BrokerMetadata{NodeID: 3}))
}

// TestKafkaLoggerLevels: franz-go's warnings and errors keep their level in
// floe's log, its chatty info goes to debug, and nothing below floe's level
// is even produced.
func TestKafkaLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := kafkaLogger{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	require.Equal(t, kgo.LogLevelWarn, l.Level(), "at info, franz-go logs warnings and errors")
	l.Log(kgo.LogLevelWarn, "heartbeat errored", "group", "g")
	l.Log(kgo.LogLevelError, "fatal", "err", "x")
	l.Log(kgo.LogLevelInfo, "joining group")
	out := buf.String()
	require.Contains(t, out, `level=WARN msg="heartbeat errored" group=g`)
	require.Contains(t, out, `level=ERROR msg=fatal err=x`)
	require.NotContains(t, out, "joining group")

	buf.Reset()
	l = kafkaLogger{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	require.Equal(t, kgo.LogLevelInfo, l.Level())
	l.Log(kgo.LogLevelInfo, "joining group")
	require.Contains(t, buf.String(), `level=DEBUG msg="joining group"`)

	l = kafkaLogger{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))}
	require.Equal(t, kgo.LogLevelError, l.Level())
}

// sumOf sums the series of name whose label has value (all of them when
// label is empty).
func sumOf(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				match = match || l.GetName() == label && l.GetValue() == value
			}
			if match {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func requestOps(t testing.TB, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var ops []string
	for _, mf := range mfs {
		if mf.GetName() != "floe_kafka_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" {
					ops = append(ops, l.GetValue())
				}
			}
		}
	}
	return ops
}
