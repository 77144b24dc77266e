package avro

import (
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/registry"
)

// pgEnvelope is the Envelope a Debezium PostgreSQL connector registers
// with the Avro converter, trimmed to the fields that matter here (source
// has more; so does the transaction block).
const pgEnvelope = `{"type":"record","name":"Envelope","namespace":"pg.public.orders","fields":[
	{"name":"before","type":["null",{"type":"record","name":"Value","fields":[
		{"name":"id","type":"long"},{"name":"note","type":["null","string"],"default":null}]}],"default":null},
	{"name":"after","type":["null","Value"],"default":null},
	{"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[
		{"name":"version","type":"string"},{"name":"connector","type":"string"},
		{"name":"ts_ms","type":"long"},
		{"name":"snapshot","type":[{"type":"string","connect.default":"false"},"null"],"default":"false"},
		{"name":"db","type":"string"},
		{"name":"ts_us","type":["null","long"],"default":null},
		{"name":"lsn","type":["null","long"],"default":null},
		{"name":"xmin","type":["null","long"],"default":null}]}},
	{"name":"op","type":"string"},
	{"name":"ts_ms","type":["null","long"],"default":null},
	{"name":"transaction","type":["null",{"type":"record","name":"block","namespace":"event","fields":[
		{"name":"id","type":"string"},{"name":"total_order","type":"long"}]}],"default":null}]}`

type pgValue struct {
	ID   int64   `avro:"id"`
	Note *string `avro:"note"`
}

type pgSource struct {
	Version   string  `avro:"version"`
	Connector string  `avro:"connector"`
	TsMs      int64   `avro:"ts_ms"`
	Snapshot  *string `avro:"snapshot"`
	DB        string  `avro:"db"`
	TsUs      *int64  `avro:"ts_us"`
	LSN       *int64  `avro:"lsn"`
	Xmin      *int64  `avro:"xmin"`
}

type pgEvent struct {
	Before      *pgValue       `avro:"before"`
	After       *pgValue       `avro:"after"`
	Source      pgSource       `avro:"source"`
	Op          string         `avro:"op"`
	TsMs        *int64         `avro:"ts_ms"`
	Transaction map[string]any `avro:"transaction"`
}

func debeziumAvro() codec.Config {
	cfg := avroConfig()
	cfg.Envelope = codec.EnvelopeDebezium
	cfg.Metadata = codec.MetadataColumns{Op: "_op", SourceTimestamp: "_source_ts", SourcePosition: "_lsn", Offset: "_offset"}
	return cfg
}

func pgTable() []iceberg.NestedField {
	return []iceberg.NestedField{
		req(1, "id", iceberg.PrimitiveTypes.Int64), opt(2, "note", iceberg.PrimitiveTypes.String),
		req(3, "_op", iceberg.PrimitiveTypes.String), opt(4, "_source_ts", iceberg.PrimitiveTypes.TimestampTz),
		opt(5, "_lsn", iceberg.PrimitiveTypes.Int64), req(6, "_offset", iceberg.PrimitiveTypes.Int64),
	}
}

// The row is the after record; op, the source's commit time (ts_us over
// ts_ms) and its lsn fill the metadata columns; before, the transaction
// block and the rest of source are read past.
func TestDebeziumAvroAppendsTheAfterImage(t *testing.T) {
	h := newHarness(t, pgEnvelope, debeziumAvro(), pgTable()...)
	note := "gift"
	us, lsn := int64(1_700_000_000_123_456), int64(24_023_128)
	require.NoError(t, h.append(encode(t, pgEnvelope, pgEvent{After: &pgValue{ID: 1, Note: &note},
		Source: pgSource{Version: "2.7", Connector: "postgresql", TsMs: 1_700_000_000_123, DB: "shop", TsUs: &us, LSN: &lsn}, Op: "c"})))
	require.NoError(t, h.append(encode(t, pgEnvelope, pgEvent{Before: &pgValue{ID: 2}, After: &pgValue{ID: 2},
		Source: pgSource{Version: "2.7", Connector: "postgresql", TsMs: 1_700_000_000_200, DB: "shop"}, Op: "u",
		Transaction: map[string]any{"event.block": map[string]any{"id": "tx1", "total_order": int64(3)}}})))
	rows := h.rows()
	require.Equal(t, map[string]any{"id": int64(1), "note": "gift", "_op": "c", "_source_ts": us, "_lsn": lsn, "_offset": int64(1)}, rows[0])
	require.Equal(t, map[string]any{"id": int64(2), "note": nil, "_op": "u", "_source_ts": int64(1_700_000_000_200_000), "_lsn": nil, "_offset": int64(2)}, rows[1])
}

// Deletes, truncates and tombstones carry the deletes policy; a malformed
// envelope is malformed_avro, in preference to anything else.
func TestDebeziumAvroEventsWithoutARow(t *testing.T) {
	cfg := debeziumAvro()
	cfg.Deletes = codec.OnErrorDLQ
	h := newHarness(t, pgEnvelope, cfg, pgTable()...)
	src := pgSource{Version: "2.7", Connector: "postgresql", TsMs: 1, DB: "shop"}
	del := encode(t, pgEnvelope, pgEvent{Before: &pgValue{ID: 1}, Source: src, Op: "d"})
	de := requireDecodeError(t, h.append(del), codec.KindCDCDelete, "")
	require.Equal(t, codec.OnErrorDLQ, de.Policy)
	de = requireDecodeError(t, h.append(encode(t, pgEnvelope, pgEvent{Source: src, Op: "t"})), codec.KindCDCTruncate, "")
	require.Equal(t, codec.OnErrorDLQ, de.Policy)
	de = requireDecodeError(t, h.appendMessage(testMessage(9, nil)), codec.KindNullValue, "")
	require.Equal(t, codec.OnErrorDLQ, de.Policy)
	requireDecodeError(t, h.append(encode(t, pgEnvelope, pgEvent{Source: src, Op: "c"})), codec.KindMissingRequired, "after")
	requireDecodeError(t, h.append(encode(t, pgEnvelope, pgEvent{After: &pgValue{ID: 1}, Source: src, Op: "x"})), codec.KindInvalidValue, "op")
	de = requireDecodeError(t, h.append(del[:len(del)-3]), codec.KindMalformedAvro, "op")
	require.Empty(t, de.Policy, "a malformed value is a bad record, whatever it was")
}

// The table floe creates for a Debezium topic is the after record's; a
// writer schema that is not an Envelope is refused, naming what is missing.
func TestDebeziumAvroWriterSchemas(t *testing.T) {
	w, err := Format.Writer(pgEnvelope, nil, registry.Message{Envelope: codec.EnvelopeDebezium})
	require.NoError(t, err)
	as, err := w.Arrow()
	require.NoError(t, err)
	require.Equal(t, []string{"id", "note"}, []string{as.Field(0).Name, as.Field(1).Name})
	require.Equal(t, 2, as.NumFields())

	_, err = New(orderV1, arrowSchema(t, pgTable()...), debeziumAvro())
	require.EqualError(t, err, "envelope debezium: writer schema shop.Order has no after field; is it a Debezium Envelope?")
	_, err = Format.Writer(`{"type":"record","name":"E","fields":[{"name":"after","type":"long"},{"name":"op","type":"string"}]}`,
		nil, registry.Message{Envelope: codec.EnvelopeDebezium})
	require.EqualError(t, err, "envelope debezium: after is long, not a record")
	_, err = New(`{"type":"record","name":"E","fields":[{"name":"after","type":["null",{"type":"record","name":"V","fields":[{"name":"id","type":"long"}]}]},{"name":"op","type":"long"}]}`,
		arrowSchema(t, req(1, "id", iceberg.PrimitiveTypes.Int64)), func() codec.Config { c := avroConfig(); c.Envelope = codec.EnvelopeDebezium; return c }())
	require.EqualError(t, err, "envelope debezium: op is long, not a string")
}
