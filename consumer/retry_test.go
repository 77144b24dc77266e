package consumer

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/internal/promtest"
	"github.com/floe-dev/floe/offsets"
)

// outageDecoder is idDecoder behind a dependency that can be down: while
// down, every record is codec.ErrRetry. It counts the attempts.
type outageDecoder struct {
	down     atomic.Bool
	attempts atomic.Int64
}

func (d *outageDecoder) Append(b codec.Row, m *codec.Message) error {
	d.attempts.Add(1)
	if d.down.Load() {
		return fmt.Errorf("%w: schema registry unavailable for schema 7: connection refused", codec.ErrRetry)
	}
	return idDecoder{}.Append(b, m)
}

// A record that cannot be decoded now (the registry is down) stops its
// partition, paused, and is read again after a backoff until it decodes:
// never skipped, never dead-lettered, and floe says why it waits.
func TestRecordsWaitWhileTheDecoderCannotDecode(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	dec := &outageDecoder{}
	sink := &fakeSink{stored: offsets.Map{Topics: map[string]offsets.Topic{}}}
	e.reg = prometheus.NewRegistry()
	c, err := New(e.c.cfg, []*Route{{Topics: []string{"t"}, Schema: idSchema, Decoder: dec, OnError: codec.OnErrorDLQ, Sink: sink}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), e.reg)
	require.NoError(t, err)
	e.c, e.sink = c, sink
	e.run()
	e.produce(0, "a", "b")
	require.Eventually(t, func() bool { return covered(t, sink.snapshot())[0][1] == 2 }, waitFor, tick)

	dec.down.Store(true)
	e.produce(0, "c", "d")
	require.Eventually(t, func() bool { return c.Unavailable() != nil }, waitFor, tick)
	require.ErrorContains(t, c.Unavailable(), "schema registry unavailable for schema 7")
	require.Equal(t, 1.0, promtest.Value(t, e.reg, "floe_consumer_fetch_paused", map[string]string{"reason": "retry"}))
	// It tries again after the backoff, and again fails.
	before := dec.attempts.Load()
	require.Eventually(t, func() bool { return dec.attempts.Load() > before }, waitFor, tick)
	require.Equal(t, 2, int(covered(t, sink.snapshot())[0][1]), "nothing past the record is taken")

	dec.down.Store(false)
	require.Eventually(t, func() bool { return covered(t, sink.snapshot())[0][1] == 4 }, waitFor, tick)
	require.Eventually(t, func() bool { return c.Unavailable() == nil }, waitFor, tick)
	require.Equal(t, 0.0, promtest.Value(t, e.reg, "floe_consumer_fetch_paused", map[string]string{"reason": "retry"}))
	for _, b := range sink.snapshot() {
		require.Zero(t, b.Skipped, "no record was skipped or dead-lettered")
	}
	require.Equal(t, 0.0, promtest.ValueOrZero(t, e.reg, "floe_consumer_bad_records_total",
		map[string]string{"topic": "t", "reason": "invalid", "outcome": "dead_lettered"}))
}
