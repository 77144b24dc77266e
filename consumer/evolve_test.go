package consumer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/evolution"
	"github.com/floe-dev/floe/internal/promtest"
)

// evolvingDecoder asks for a column "extra" for values "new" until it has
// it, then appends both columns.
type evolvingDecoder struct{ has bool }

func (d evolvingDecoder) Append(b codec.Row, m *codec.Message) error {
	if string(m.Value) == "new" && !d.has {
		return &evolution.Change{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
			Add: []evolution.Field{{Field: arrow.Field{Name: "extra", Type: arrow.BinaryTypes.String, Nullable: true}}}}
	}
	b.Field(0).(*array.StringBuilder).Append(string(m.Value))
	if d.has {
		b.Field(1).(*array.StringBuilder).Append("x")
	}
	return nil
}

var wideSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.BinaryTypes.String}, {Name: "extra", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

func TestSchemaChangeRebuildsTheBuffers(t *testing.T) {
	e := newConsumerEnv(t, 2, nil)
	r := e.c.routes[0]
	r.Decoder = evolvingDecoder{}
	var asked []string
	r.Evolve = func(_ context.Context, ch *evolution.Change) (*arrow.Schema, Decoder, error) {
		asked = append(asked, ch.Error())
		return wideSchema, evolvingDecoder{has: true}, nil
	}
	e.produce(0, "a", "b", "new", "d") // one poll: a and b are buffered when "new" asks for the change
	e.produce(1, "c")
	e.run()
	require.Eventually(t, func() bool { return covered(t, e.sink.snapshot())[0][1] == 4 }, waitFor, tick)

	require.Equal(t, []string{"record t[0]@2 needs a schema change: add extra string"}, asked)
	var sawSchemaSeal int
	schemaOf := map[string]string{}
	for _, b := range e.sink.snapshot() {
		if b.Reason == batcher.ReasonSchema {
			sawSchemaSeal++
		}
		if b.Rows == nil {
			continue
		}
		which := "old"
		if b.Rows.Schema().Equal(wideSchema) {
			which = "new"
		}
		ids := b.Rows.Column(0).(*array.String)
		for i := 0; i < ids.Len(); i++ {
			schemaOf[ids.Value(i)] = which
		}
	}
	require.Equal(t, "old", schemaOf["a"])
	require.Equal(t, "old", schemaOf["b"])
	require.Equal(t, "new", schemaOf["new"])
	require.Equal(t, "new", schemaOf["d"])
	require.GreaterOrEqual(t, sawSchemaSeal, 1, "the buffers were sealed under the old schema")
	require.Equal(t, float64(sawSchemaSeal), promtest.Value(t, e.reg, "floe_consumer_flushes_total", map[string]string{"reason": "schema"}))
}

func TestSchemaChangeThatCannotBeMadeIsABadRecord(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	r := e.c.routes[0]
	r.Decoder = evolvingDecoder{}
	r.Evolve = func(_ context.Context, ch *evolution.Change) (*arrow.Schema, Decoder, error) {
		return nil, nil, &codec.DecodeError{Topic: ch.Topic, Partition: ch.Partition, Offset: ch.Offset, Kind: codec.KindWrongType,
			Detail: "column extra is long, a record needs string"}
	}
	e.produce(0, "a", "new", "b")
	e.run()
	require.Eventually(t, func() bool { return covered(t, e.sink.snapshot())[0][1] == 3 }, waitFor, tick)
	require.Equal(t, 1.0, promtest.Value(t, e.reg, "floe_consumer_bad_records_total",
		map[string]string{"topic": "t", "reason": "wrong_type", "outcome": "skipped"}), "on-error skip applies")
}

func TestSchemaChangeFailureStopsTheConsumer(t *testing.T) {
	e := newConsumerEnv(t, 1, nil)
	r := e.c.routes[0]
	r.Decoder = evolvingDecoder{}
	r.Evolve = func(context.Context, *evolution.Change) (*arrow.Schema, Decoder, error) {
		return nil, nil, errors.New("evolve the schema of db.t: context deadline exceeded")
	}
	e.produce(0, "a", "new")
	e.run()
	select {
	case err := <-e.done:
		require.ErrorContains(t, err, "table db.t: evolve the schema of db.t: context deadline exceeded")
		e.done <- nil // for the cleanup
	case <-time.After(waitFor):
		t.Fatal("the consumer did not stop")
	}
	require.Equal(t, int64(1), covered(t, e.sink.snapshot())[0][1], "what came before the record is kept for the final commit")
}

// A schema change committed against a slow catalog holds up only the
// partition whose record asked for it: the table's other partitions and
// other tables keep flowing meanwhile (the poll loop never waits on the
// catalog), and the record lands with the new schema once the change does.
func TestSchemaChangeDoesNotBlockOtherPartitions(t *testing.T) {
	e := newConsumerEnv(t, 2, nil)
	other := e.addTable("u", "db.u")
	r := e.c.routes[0]
	r.Decoder = evolvingDecoder{}
	asked, release := make(chan struct{}), make(chan struct{})
	r.Evolve = func(ctx context.Context, _ *evolution.Change) (*arrow.Schema, Decoder, error) {
		close(asked)
		select {
		case <-release:
			return wideSchema, evolvingDecoder{has: true}, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	e.produce(0, "a", "new", "b")
	e.run()
	select {
	case <-asked:
	case <-time.After(waitFor):
		t.Fatal("the schema change was never asked for")
	}

	// The catalog has not answered: the rest flows.
	e.produce(1, "c", "d")
	require.NoError(t, e.prod.ProduceSync(t.Context(), &kgo.Record{Topic: "u", Value: []byte("x")}).FirstErr())
	require.Eventually(t, func() bool { return covered(t, e.sink.snapshot())[1][1] == 2 }, waitFor, tick,
		"the table's other partition keeps flowing")
	require.Eventually(t, func() bool { return covered(t, other.snapshot())[0][1] == 1 }, waitFor, tick,
		"another table keeps flowing")
	require.LessOrEqual(t, covered(t, e.sink.snapshot())[0][1], int64(1), "partition 0 waits at the record that asked")

	close(release)
	require.Eventually(t, func() bool { return covered(t, e.sink.snapshot())[0][1] == 3 }, waitFor, tick)
	schemaOf := map[string]bool{}
	for _, b := range e.sink.snapshot() {
		if b.Rows == nil {
			continue
		}
		ids := b.Rows.Column(0).(*array.String)
		for i := 0; i < ids.Len(); i++ {
			schemaOf[ids.Value(i)] = b.Rows.Schema().Equal(wideSchema)
		}
	}
	require.True(t, schemaOf["new"], "the record that asked is written with the new schema")
	require.True(t, schemaOf["b"])
	require.False(t, schemaOf["a"])
}
