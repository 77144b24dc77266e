package protobuf

import (
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/registry"
)

// debeziumProto is a Debezium Envelope as a Protobuf converter writes it
// for a PostgreSQL table: nullable source fields in wrapper messages.
const debeziumProto = `syntax = "proto3";
package pg.public.orders;
import "google/protobuf/wrappers.proto";

message Value { int64 id = 1; string sku = 2; }
message Source {
  string connector = 1;
  int64 ts_ms = 2;
  google.protobuf.Int64Value ts_us = 3;
  google.protobuf.Int64Value lsn = 4;
  string db = 5;
}
message Envelope {
  Value before = 1;
  Value after = 2;
  Source source = 3;
  string op = 4;
  google.protobuf.Int64Value ts_ms = 5;
}
`

func debeziumConfig() codec.Config {
	cfg := protoConfig()
	cfg.Envelope = codec.EnvelopeDebezium
	cfg.Metadata = codec.MetadataColumns{Offset: "_offset", Op: "_op", SourceTimestamp: "_source_ts", SourcePosition: "_lsn"}
	return cfg
}

func debeziumHarness(t *testing.T, cfg codec.Config) *harness {
	t.Helper()
	p := iceberg.PrimitiveTypes
	return newHarness(t, messageOf(t, debeziumProto, "pg.public.orders.Envelope", nil), cfg,
		req(1, "id", p.Int64), opt(2, "sku", p.String),
		req(3, "_offset", p.Int64), req(4, "_op", p.String), opt(5, "_source_ts", p.TimestampTz), opt(6, "_lsn", p.Int64))
}

// Change events in Protobuf: the after message is the row with op, the
// source's most precise commit time and its lsn; deletes and truncates go
// by the deletes policy, and an event that cannot be a row is a bad
// record.
func TestDebeziumEnvelope(t *testing.T) {
	h := debeziumHarness(t, debeziumConfig())
	env := messageOf(t, debeziumProto, "pg.public.orders.Envelope", nil)
	ev := func(op string, after fields, source fields) []byte {
		v := fields{"source": source}
		if op != "" {
			v["op"] = op
		}
		if after != nil {
			v["after"] = after
		}
		return encode(t, env, v)
	}
	src := fields{"connector": "postgresql", "ts_ms": int64(1_764_000_000_123), "lsn": fields{"value": int64(24_000_128)}, "db": "shop"}
	require.NoError(t, h.append(ev("c", fields{"id": int64(1), "sku": "a"}, src)))
	srcUs := fields{"ts_ms": int64(1_764_000_000_123), "ts_us": fields{"value": int64(1_764_000_000_123_456)}}
	require.NoError(t, h.append(ev("u", fields{"id": int64(2)}, srcUs)))
	// after given twice: merged, as Protobuf merges a message field.
	twice := append(ev("r", fields{"id": int64(3)}, src), protowire.AppendTag(nil, 2, protowire.BytesType)...)
	twice = protowire.AppendBytes(twice, encode(t, messageOf(t, debeziumProto, "pg.public.orders.Value", nil), fields{"sku": "merged"}))
	require.NoError(t, h.append(twice))

	for _, tc := range []struct {
		value []byte
		kind  codec.Kind
		skip  bool
	}{
		{ev("d", nil, src), codec.KindCDCDelete, true},
		{ev("t", nil, src), codec.KindCDCTruncate, true},
		{ev("", fields{"id": int64(4)}, src), codec.KindInvalidValue, false},
		{ev("x", fields{"id": int64(4)}, src), codec.KindInvalidValue, false},
		{ev("c", nil, src), codec.KindMissingRequired, false},
		{[]byte{0x12, 0x05, 0x08}, codec.KindMalformedProtobuf, false},
	} {
		err := h.append(tc.value)
		var de *codec.DecodeError
		require.ErrorAs(t, err, &de, "%x", tc.value)
		require.Equal(t, tc.kind, de.Kind, "%v", err)
		if tc.skip {
			require.Equal(t, codec.OnErrorSkip, de.Policy, "deletes: skip by default")
		}
	}
	rows := h.rows()
	require.Len(t, rows, 3)
	require.Equal(t, map[string]any{"id": int64(1), "sku": "a", "_offset": int64(1), "_op": "c",
		"_source_ts": int64(1_764_000_000_123_000), "_lsn": int64(24_000_128)}, rows[0])
	require.Equal(t, "u", rows[1]["_op"])
	require.Equal(t, int64(1_764_000_000_123_456), rows[1]["_source_ts"], "ts_us wins over ts_ms")
	require.Nil(t, rows[1]["_lsn"])
	require.Equal(t, int64(3), rows[2]["id"])
	require.Equal(t, "merged", rows[2]["sku"])
}

func registryMessage(name string) registry.Message {
	return registry.Message{Name: name, Envelope: codec.EnvelopeDebezium}
}

// The table floe creates from an Envelope has the after message's
// columns; a message that is not an Envelope is refused, naming it.
func TestDebeziumEnvelopeSchema(t *testing.T) {
	w, err := Format.Writer(debeziumProto, nil, registryMessage("pg.public.orders.Envelope"))
	require.NoError(t, err)
	as, err := w.Arrow()
	require.NoError(t, err)
	require.Equal(t, []string{"id", "sku"}, []string{as.Field(0).Name, as.Field(1).Name})
	require.Equal(t, 2, as.NumFields())

	// Without record-name, the file's Envelope message (not its first).
	w, err = Format.Writer(debeziumProto, nil, registryMessage(""))
	require.NoError(t, err)
	as, err = w.Arrow()
	require.NoError(t, err)
	require.Equal(t, 2, as.NumFields())

	w, err = Format.Writer(debeziumProto, nil, registryMessage("pg.public.orders.Value"))
	require.NoError(t, err)
	_, err = w.Arrow()
	require.EqualError(t, err, "envelope debezium: message pg.public.orders.Value is not a Debezium Envelope (a message field after and a string op)")
	_, err = New(messageOf(t, debeziumProto, "pg.public.orders.Source", nil), arrowSchema(t), debeziumConfig())
	require.ErrorContains(t, err, "message pg.public.orders.Source is not a Debezium Envelope")
}

// The text positions of other connectors: MySQL's binlog file and pos,
// SQL Server's change_lsn, Oracle's scn; a source field of an unexpected
// wire type is read past.
func TestDebeziumEnvelopeTextPositions(t *testing.T) {
	const text = `syntax = "proto3";
package src;
message Value { int64 id = 1; }
message Source { string file = 1; int64 pos = 2; string change_lsn = 3; string scn = 4; string ts_ms = 5; }
message Envelope { Value after = 1; Source source = 2; string op = 3; }
`
	env := messageOf(t, text, "src.Envelope", nil)
	cfg := protoConfig()
	cfg.Envelope = codec.EnvelopeDebezium
	cfg.Metadata = codec.MetadataColumns{SourcePosition: "_pos", SourceTimestamp: "_ts"}
	p := iceberg.PrimitiveTypes
	h := newHarness(t, env, cfg, req(1, "id", p.Int64), opt(2, "_pos", p.String), opt(3, "_ts", p.TimestampTz))
	for _, src := range []fields{
		{"file": "binlog.000003", "pos": int64(154), "ts_ms": "not a number"},
		{"change_lsn": "00000027:00000758:0003"},
		{"scn": "2250384"},
	} {
		require.NoError(t, h.append(encode(t, env, fields{"op": "c", "after": fields{"id": int64(1)}, "source": src})))
	}
	rows := h.rows()
	require.Equal(t, []any{"binlog.000003:154", "00000027:00000758:0003", "2250384"},
		[]any{rows[0]["_pos"], rows[1]["_pos"], rows[2]["_pos"]})
	require.Nil(t, rows[0]["_ts"], "a ts_ms that is not an integer is read past")
}
