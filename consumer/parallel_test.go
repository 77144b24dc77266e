package consumer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/offsets"
)

// meetingDecoder is idDecoder whose first record of each partition waits
// until another partition's first record is being decoded too: decoding
// one partition after another would never get past it.
type meetingDecoder struct {
	mu      sync.Mutex
	arrived map[int32]bool
	met     chan struct{}
	order   map[int32][]string
}

func (d *meetingDecoder) Append(b codec.Row, m *codec.Message) error {
	d.mu.Lock()
	first := !d.arrived[m.Partition]
	if first {
		d.arrived[m.Partition] = true
		if len(d.arrived) == 2 {
			close(d.met)
		}
	}
	d.order[m.Partition] = append(d.order[m.Partition], string(m.Value))
	d.mu.Unlock()
	if first {
		select {
		case <-d.met:
		case <-time.After(waitFor):
			return fmt.Errorf("partition %d decoded alone for %s", m.Partition, waitFor)
		}
	}
	return idDecoder{}.Append(b, m)
}

// Partitions of one poll are decoded side by side, each in offset order.
func TestPartitionsDecodeSideBySide(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	kc, prod := newCluster(t, 4)
	const per = 200
	var recs []*kgo.Record
	for i := range 4 * per {
		recs = append(recs, &kgo.Record{Partition: int32(i % 4), Value: []byte(fmt.Sprint(i))})
	}
	require.NoError(t, prod.ProduceSync(context.Background(), recs...).FirstErr())

	dec := &meetingDecoder{arrived: map[int32]bool{}, met: make(chan struct{}), order: map[int32][]string{}}
	cfg := DefaultConfig()
	cfg.Brokers = kc.ListenAddrs()
	cfg.Batch.MaxAge = time.Hour
	sink := &fakeSink{stored: offsets.Map{Topics: map[string]offsets.Topic{}}}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, []*Route{{Topics: []string{"t"}, Schema: idSchema, Decoder: dec, OnError: codec.OnErrorFail, Sink: sink}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	require.NoError(t, err)
	e := &consumerEnv{t: t, kafka: kc, prod: prod, sink: sink, reg: reg, c: c}
	e.run()
	select {
	case <-dec.met:
	case <-time.After(waitFor):
		t.Fatalf("no two partitions were decoded at once within %s", waitFor)
	}
	read := func() int {
		dec.mu.Lock()
		defer dec.mu.Unlock()
		n := 0
		for _, o := range dec.order {
			n += len(o)
		}
		return n
	}
	require.Eventually(t, func() bool { return read() == 4*per }, waitFor, tick)
	c.sealFor(sink)
	require.Equal(t, map[int32][2]int64{0: {0, per}, 1: {0, per}, 2: {0, per}, 3: {0, per}}, covered(t, sink.snapshot()))
	for p, values := range dec.order {
		for i, v := range values {
			require.Equal(t, fmt.Sprint(i*4+int(p)), v, "partition %d in offset order", p)
		}
	}
}
