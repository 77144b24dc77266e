package jsonschema_test

import (
	"errors"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/jsonschema"
	"github.com/floe-dev/floe/codec/registry"
	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/evolution"
)

const (
	orderV1 = `{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {
		"id": {"type": "integer"}, "sku": {"type": "string"}}, "required": ["id"]}`
	orderV2 = `{"type": "object", "properties": {
		"id": {"type": "integer"}, "sku": {"type": "string"},
		"placed": {"type": "string", "format": "date-time"}, "lines": {"type": "array", "items": {"$ref": "line.json"}}},
		"required": ["id"]}`
	line       = `{"type": "object", "properties": {"qty": {"type": "integer"}, "price": {"type": "number"}}}`
	orderWrong = `{"type": "object", "properties": {"id": {"type": "string"}, "sku": {"type": "string"}}}`
	orderNoID  = `{"type": "object", "properties": {"sku": {"type": "string"}}}`
)

type bed struct {
	fake *srfake.Registry
	reg  *registry.Client
	d    *registry.Decoder
	b    *array.RecordBuilder
}

// newBed is a fake registry, a table created from orderV1 as floe creates
// it, and a decoder of framed JSON values into it under cfg.
func newBed(t *testing.T, cfg codec.Config) *bed {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	rc := registry.DefaultConfig()
	rc.URLs = []string{fake.URL()}
	reg, err := registry.New(rc, prometheus.NewRegistry())
	require.NoError(t, err)
	w, err := jsonschema.Format.Writer(orderV1, nil, registry.Message{})
	require.NoError(t, err)
	as, err := w.Arrow()
	require.NoError(t, err)
	cols, err := committer.ColumnsOf(as.Fields())
	require.NoError(t, err)
	sc, err := committer.BuildSchema(cols)
	require.NoError(t, err)
	tableArrow, err := table.SchemaToArrowSchema(sc, nil, true, false)
	require.NoError(t, err)
	d, err := registry.NewDecoder(reg, jsonschema.Format, tableArrow, cfg)
	require.NoError(t, err)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	b := array.NewRecordBuilder(mem, tableArrow)
	t.Cleanup(func() { b.Release(); mem.AssertSize(t, 0) })
	return &bed{fake: fake, reg: reg, d: d, b: b}
}

func (b *bed) register(t *testing.T, subject, schema string, refs ...sr.SchemaReference) int {
	t.Helper()
	id, _, err := b.fake.RegisterSchema(subject, sr.Schema{Schema: schema, Type: sr.TypeJSON, References: refs})
	require.NoError(t, err)
	return id
}

func framed(t *testing.T, id int, doc string) []byte {
	t.Helper()
	var h sr.ConfluentHeader
	out, err := h.AppendEncode(nil, id, nil)
	require.NoError(t, err)
	return append(out, doc...)
}

// decode appends value, waiting out the ErrRetry of a schema being fetched.
func (b *bed) decode(t *testing.T, offset int64, value []byte) error {
	t.Helper()
	var err error
	require.Eventually(t, func() bool {
		err = b.d.Append(b.b, &codec.Message{Topic: "orders", Offset: offset, Value: value})
		return !errors.Is(err, codec.ErrRetry)
	}, 10*time.Second, 5*time.Millisecond)
	return err
}

func jsonConfig() codec.Config {
	cfg := codec.DefaultConfig()
	cfg.Format = "json-schema"
	return cfg
}

func TestFramedValuesDecode(t *testing.T) {
	b := newBed(t, jsonConfig())
	v1 := b.register(t, "orders-value", orderV1)
	require.NoError(t, b.decode(t, 1, framed(t, v1, `{"id": 1, "sku": "a"}`)))
	// A newer schema, its new properties ignored without add-columns.
	b.register(t, "line", line)
	v2 := b.register(t, "orders-value", orderV2, sr.SchemaReference{Name: "line.json", Subject: "line", Version: 1})
	require.NoError(t, b.decode(t, 2, framed(t, v2, `{"id": 2, "placed": "2026-12-07T10:00:00Z", "lines": [{"qty": 1}]}`)))
	r := b.b.NewRecordBatch()
	defer r.Release()
	require.Equal(t, []int64{1, 2}, r.Column(0).(*array.Int64).Int64Values())
	require.True(t, r.Column(1).IsNull(1))
}

// With add-columns, a newer schema's properties become columns with the
// schema's types (not guessed from a value), sorted, optional.
func TestNewSchemaAsksForItsColumns(t *testing.T) {
	cfg := jsonConfig()
	cfg.SchemaEvolution = []string{codec.EvolveAddColumns}
	b := newBed(t, cfg)
	b.register(t, "line", line)
	v2 := b.register(t, "orders-value", orderV2, sr.SchemaReference{Name: "line.json", Subject: "line", Version: 1})
	err := b.decode(t, 5, framed(t, v2, `{"id": 2}`))
	var ch *evolution.Change
	require.ErrorAs(t, err, &ch)
	require.Equal(t, int64(5), ch.Offset)
	require.Len(t, ch.Add, 2)
	require.Equal(t, "lines", ch.Add[0].Name)
	require.Equal(t, "list<struct<qty: long, price: double>>", evolution.TypeName(ch.Add[0].Type))
	require.Equal(t, "placed", ch.Add[1].Name)
	require.Equal(t, "timestamptz", evolution.TypeName(ch.Add[1].Type))
}

// A schema whose values cannot go into the table is schema_incompatible
// at its first record, before any value is looked at; a value that is not
// JSON is malformed_json; an unframed one likewise.
func TestIncompatibleSchemasAreBadRecords(t *testing.T) {
	b := newBed(t, jsonConfig())
	wrong := b.register(t, "orders-value", orderWrong)
	noID := b.register(t, "other-value", orderNoID)
	avro, _, err := b.fake.RegisterSchema("avro-value", sr.Schema{Schema: `{"type":"record","name":"R","fields":[]}`, Type: sr.TypeAvro})
	require.NoError(t, err)
	unmappable := b.register(t, "bad-value", `{"type": "object", "properties": {"x": {"not": {}}}}`)
	v1 := b.register(t, "v1-value", orderV1)
	for _, tc := range []struct {
		value []byte
		kind  codec.Kind
		want  string
	}{
		{framed(t, wrong, `{"id": "1"}`), codec.KindSchemaIncompatible, `column "id" is long, the writer schema's property is string`},
		{framed(t, noID, `{"sku": "a"}`), codec.KindSchemaIncompatible, `column "id" is required and the writer schema has no such property`},
		{framed(t, avro, `{}`), codec.KindSchemaIncompatible, "is AVRO, the table's format is json-schema"},
		{framed(t, unmappable, `{}`), codec.KindSchemaIncompatible, "#/properties/x"},
		{framed(t, v1, `{"id": 1`), codec.KindMalformedJSON, ""},
		{[]byte(`{"id": 1}`), codec.KindMalformedJSON, "not in the Confluent wire format"},
		{framed(t, 4242, `{}`), codec.KindSchemaUnknown, "schema 4242"},
	} {
		err := b.decode(t, 9, tc.value)
		var de *codec.DecodeError
		require.ErrorAs(t, err, &de)
		require.Equal(t, tc.kind, de.Kind, err.Error())
		require.ErrorContains(t, err, tc.want)
	}
	require.Zero(t, b.b.Field(0).Len())
}

// A Debezium change event's JSON Schema (Confluent's JSON Schema
// converter): the table is its after object's, the values go through the
// JSON decoder's envelope.
func TestDebeziumEnvelopeSchema(t *testing.T) {
	const envelope = `{"type": "object", "title": "pg.public.orders.Envelope", "properties": {
		"before": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/Value"}]},
		"after": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/Value"}]},
		"source": {"type": "object", "properties": {"ts_ms": {"type": "integer"}, "lsn": {"oneOf": [{"type": "null"}, {"type": "integer"}]}}},
		"op": {"type": "string"}, "ts_ms": {"oneOf": [{"type": "null"}, {"type": "integer"}]}},
		"required": ["source", "op"],
		"definitions": {"Value": {"type": "object", "properties": {"id": {"type": "integer"}, "sku": {"type": "string"}}, "required": ["id"]}}}`
	cfg := jsonConfig()
	cfg.Envelope = codec.EnvelopeDebezium
	cfg.Metadata = codec.MetadataColumns{Op: "_op"}
	msg := registry.Message{Envelope: codec.EnvelopeDebezium}
	w, err := jsonschema.Format.Writer(envelope, nil, msg)
	require.NoError(t, err)
	as, err := w.Arrow()
	require.NoError(t, err)
	require.Equal(t, "schema:\n  fields: 2\n    - id: type=int64\n    - sku: type=utf8, nullable", as.String())

	table := arrow.NewSchema(append(as.Fields(), arrow.Field{Name: "_op", Type: arrow.BinaryTypes.String}), nil)
	dec, err := w.Decoder(table, cfg)
	require.NoError(t, err)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), table)
	defer b.Release()
	require.NoError(t, dec.Append(b, &codec.Message{Value: []byte(`{"after": {"id": 7, "sku": "a"}, "source": {"ts_ms": 1}, "op": "c"}`)}))
	err = dec.Append(b, &codec.Message{Value: []byte(`{"before": {"id": 7}, "after": null, "source": {"ts_ms": 2}, "op": "d"}`)})
	var de *codec.DecodeError
	require.ErrorAs(t, err, &de)
	require.Equal(t, codec.KindCDCDelete, de.Kind)
	require.Equal(t, codec.OnErrorSkip, de.Policy)
	r := b.NewRecordBatch()
	defer r.Release()
	require.Equal(t, int64(1), r.NumRows())
	require.Equal(t, "c", r.Column(2).(*array.String).Value(0))

	_, err = jsonschema.Format.Writer(orderV1, nil, msg)
	require.EqualError(t, err, "envelope debezium: the writer schema has no after object; is it a Debezium envelope?")
}
