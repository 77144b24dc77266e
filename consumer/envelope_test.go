package consumer

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/internal/promtest"
	"github.com/floe-dev/floe/offsets"
)

// Debezium deletes and tombstones have no row: they go by the table's
// deletes policy even when on-error is fail, are counted apart from bad
// records, and their offsets are committed like any other.
func TestChangeEventsWithoutARowFollowTheDeletesPolicy(t *testing.T) {
	for _, deletes := range []codec.OnError{codec.OnErrorSkip, codec.OnErrorDLQ} {
		t.Run(string(deletes), func(t *testing.T) {
			e := newConsumerEnv(t, 1, nil)
			schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil)
			cfg := codec.DefaultConfig()
			cfg.Envelope, cfg.Deletes = codec.EnvelopeDebezium, deletes
			dec, err := codec.New(schema, cfg)
			require.NoError(t, err)
			sink := &fakeSink{stored: offsets.Map{Topics: map[string]offsets.Topic{}}}
			e.reg = prometheus.NewRegistry()
			c, err := New(e.c.cfg, []*Route{{Topics: []string{"t"}, Schema: schema, Decoder: dec, OnError: codec.OnErrorFail, Sink: sink}},
				slog.New(slog.NewTextHandler(io.Discard, nil)), e.reg)
			require.NoError(t, err)
			e.c, e.sink = c, sink
			e.run()
			e.produce(0, `{"after":{"id":"a"},"op":"c"}`, `{"before":{"id":"a"},"after":null,"op":"d"}`)
			// The tombstone after the delete: a null value.
			require.NoError(t, e.prod.ProduceSync(context.Background(), &kgo.Record{Partition: 0}).FirstErr())
			e.produce(0, `{"after":{"id":"b"},"op":"u"}`)
			require.Eventually(t, func() bool { return covered(t, sink.snapshot())[0][1] == 4 }, waitFor, tick)
			var rows int64
			skipped, letters := 0, 0
			for _, b := range sink.snapshot() {
				skipped += b.Skipped
				letters += len(b.Letters)
				if b.Rows != nil {
					rows += b.Rows.NumRows()
				}
			}
			require.Equal(t, int64(2), rows)
			outcome := "skipped"
			if deletes == codec.OnErrorDLQ {
				outcome = "dead_lettered"
				require.Equal(t, 2, letters, "the delete and the tombstone")
			} else {
				require.Equal(t, 2, skipped)
			}
			require.Equal(t, 1.0, promtest.Value(t, e.reg, "floe_consumer_change_events_without_row_total",
				map[string]string{"topic": "t", "reason": "cdc_delete", "outcome": outcome}))
			require.Equal(t, 1.0, promtest.Value(t, e.reg, "floe_consumer_change_events_without_row_total",
				map[string]string{"topic": "t", "reason": "null_value", "outcome": outcome}))
			require.Equal(t, 0.0, promtest.ValueOrZero(t, e.reg, "floe_consumer_bad_records_total",
				map[string]string{"topic": "t", "reason": "cdc_delete", "outcome": "failed"}))
		})
	}
}
