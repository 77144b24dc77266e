package avro

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/codec"
)

// TestTruncated cuts valid datums at every byte: each prefix is
// malformed_avro, and nothing is appended.
func TestTruncated(t *testing.T) {
	h := newHarness(t, allTypes, metadataConfig(), allTypesTable()...)
	r := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		value := encode(t, allTypes, randomEvent(r))
		for n := range len(value) {
			err := h.append(value[:n])
			kind, _ := codec.KindOf(err)
			require.Equal(t, codec.KindMalformedAvro, kind, "prefix of %d/%d bytes: %v", n, len(value), err)
		}
		require.NoError(t, h.append(value))
	}
}

func TestTrailingBytes(t *testing.T) {
	h := newHarness(t, allTypes, metadataConfig(), allTypesTable()...)
	value := encode(t, allTypes, randomEvent(rand.New(rand.NewPCG(5, 6))))
	de := requireDecodeError(t, h.append(append(value, 0, 0)), codec.KindMalformedAvro, "")
	require.Contains(t, de.Detail, "2 bytes after the datum")
}

const simple = `{"type": "record", "name": "R", "fields": [
	{"name": "id", "type": "long"},
	{"name": "s", "type": ["null", "string"]},
	{"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
		{"name": "sku", "type": ["null", "string"]}]}}},
	{"name": "attrs", "type": {"type": "map", "values": "string"}},
	{"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
	{"name": "flag", "type": "boolean"},
	{"name": "n", "type": "int"},
	{"name": "t", "type": {"type": "int", "logicalType": "time-millis"}},
	{"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
	{"name": "u", "type": {"type": "string", "logicalType": "uuid"}}]}`

func simpleTable() []iceberg.NestedField {
	p := iceberg.PrimitiveTypes
	return []iceberg.NestedField{
		req(1, "id", p.Int64),
		req(2, "s", p.String),
		opt(3, "items", &iceberg.ListType{ElementID: 4, ElementRequired: true, Element: &iceberg.StructType{
			FieldList: []iceberg.NestedField{req(5, "sku", p.String)}}}),
		opt(6, "attrs", &iceberg.MapType{KeyID: 7, KeyType: p.String, ValueID: 8, ValueType: p.String}),
		opt(9, "color", p.String),
		opt(10, "flag", p.Bool),
		opt(11, "n", p.Int32),
		opt(12, "t", p.Time),
		opt(13, "ts", p.TimestampTz),
		opt(14, "u", p.UUID),
	}
}

// datum builds a datum of the simple schema by hand, so that tests can
// break it in ways no encoder would.
type datum struct {
	id    []byte // encoded fields, in order
	s     []byte
	items []byte
	attrs []byte
	color []byte
	flag  []byte
	n     []byte
	t     []byte
	ts    []byte
	u     []byte
}

func validDatum() datum {
	return datum{
		id: zz(1), s: cat(zz(1), str("hi")), items: cat(zz(2), zz(1), str("a"), zz(1), str("b"), zz(0)),
		attrs: cat(zz(1), str("k"), str("v"), zz(0)), color: zz(1), flag: []byte{1}, n: zz(-5),
		t: zz(1000), ts: zz(1_700_000_000_000), u: str("123e4567-e89b-12d3-a456-426614174000"),
	}
}

func (d datum) bytes() []byte {
	return cat(d.id, d.s, d.items, d.attrs, d.color, d.flag, d.n, d.t, d.ts, d.u)
}

// zz encodes a zigzag varint.
func zz(v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	var out []byte
	for u >= 0x80 {
		out = append(out, byte(u)|0x80)
		u >>= 7
	}
	return append(out, byte(u))
}

func str(s string) []byte { return cat(zz(int64(len(s))), []byte(s)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestValueErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(d *datum)
		kind   codec.Kind
		field  string
		detail string
	}{
		{"negative length", func(d *datum) { d.s = cat(zz(1), zz(-3), []byte("abc")) }, codec.KindMalformedAvro, "s", "negative length"},
		{"length beyond end", func(d *datum) { d.u = zz(100) }, codec.KindMalformedAvro, "u", "length beyond the end"},
		{"invalid UTF-8", func(d *datum) { d.s = cat(zz(1), str("a\xffb")) }, codec.KindInvalidValue, "s", "not valid UTF-8"},
		{"invalid UTF-8 in a list", func(d *datum) { d.items = cat(zz(2), zz(1), str("a"), zz(1), str("\xc3"), zz(0)) },
			codec.KindInvalidValue, "items[1].sku", "UTF-8"},
		{"invalid UTF-8 map key", func(d *datum) { d.attrs = cat(zz(1), str("\xff"), str("v"), zz(0)) },
			codec.KindInvalidValue, "attrs[0]", "map key"},
		{"invalid UTF-8 map value", func(d *datum) { d.attrs = cat(zz(1), str("env"), str("\xff"), zz(0)) },
			codec.KindInvalidValue, `attrs["env"]`, "UTF-8"},
		{"duplicate map key", func(d *datum) { d.attrs = cat(zz(2), str("k"), str("v"), str("k"), str("w"), zz(0)) },
			codec.KindInvalidValue, `attrs["k"]`, "twice"},
		{"duplicate key in a large map", func(d *datum) {
			var b []byte
			for i := range 40 {
				b = cat(b, str(strings.Repeat("x", i%39+1)), str("v"))
			}
			d.attrs = cat(zz(-40), zz(int64(len(b))), b, zz(0))
		}, codec.KindInvalidValue, `attrs["x"]`, "twice"},
		{"required null", func(d *datum) { d.s = zz(0) }, codec.KindMissingRequired, "s", "null"},
		{"required null in a list", func(d *datum) { d.items = cat(zz(2), zz(1), str("a"), zz(0), zz(0)) },
			codec.KindMissingRequired, "items[1].sku", "null"},
		{"union index", func(d *datum) { d.s = zz(2) }, codec.KindMalformedAvro, "s", "union branch index"},
		{"enum index", func(d *datum) { d.color = zz(2) }, codec.KindMalformedAvro, "color", "enum symbol index"},
		{"boolean byte", func(d *datum) { d.flag = []byte{2} }, codec.KindMalformedAvro, "flag", "boolean"},
		{"int beyond 32 bits", func(d *datum) { d.n = zz(math.MaxInt32 + 1) }, codec.KindMalformedAvro, "n", "32 bits"},
		{"varint too long", func(d *datum) { d.id = bytes.Repeat([]byte{0x80}, 11) }, codec.KindMalformedAvro, "id", "varint"},
		{"varint overflow", func(d *datum) { d.id = cat(bytes.Repeat([]byte{0xff}, 9), []byte{0x02}) }, codec.KindMalformedAvro, "id", "64 bits"},
		{"time of day", func(d *datum) { d.t = zz(86_400_000) }, codec.KindOutOfRange, "t", "time of day"},
		{"negative time of day", func(d *datum) { d.t = zz(-1) }, codec.KindOutOfRange, "t", "time of day"},
		{"timestamp overflow", func(d *datum) { d.ts = zz(math.MaxInt64 / 100) }, codec.KindOutOfRange, "ts", "timestamptz range"},
		{"uuid text", func(d *datum) { d.u = str("123e4567e89b12d3a456426614174000") }, codec.KindInvalidValue, "u", "canonical uuid"},
		{"block count beyond end", func(d *datum) { d.items = cat(zz(1000), zz(1), str("a")) }, codec.KindMalformedAvro, "items", "block count"},
		{"invalid block size", func(d *datum) { d.items = cat(zz(-1), zz(-1), zz(1), str("a"), zz(0)) }, codec.KindMalformedAvro, "items", "block size"},
		// A value error followed by a malformation: malformed wins.
		{"malformed wins", func(d *datum) { d.s = cat(zz(1), str("\xff")); d.u = zz(100) }, codec.KindMalformedAvro, "u", "length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, simple, avroConfig(), simpleTable()...)
			d := validDatum()
			require.NoError(t, h.append(d.bytes()))
			tc.edit(&d)
			de := requireDecodeError(t, h.append(d.bytes()), tc.kind, tc.field)
			require.Contains(t, de.Detail, tc.detail)
			require.Equal(t, "events", de.Topic)
			require.Equal(t, int32(3), de.Partition)
			require.Equal(t, int64(2), de.Offset)
			for _, secret := range []string{"hi", "abc", "\xff", "123e4567"} {
				require.NotContains(t, de.Error(), secret, "messages must not quote values")
			}
		})
	}
}

func TestRecordErrors(t *testing.T) {
	h := newHarness(t, simple, avroConfig(), simpleTable()...)
	m := testMessage(1, nil)
	requireDecodeError(t, h.appendMessage(m), codec.KindNullValue, "")

	m = testMessage(2, validDatum().bytes())
	m.Key = make([]byte, codec.DefaultMaxRecordBytes)
	requireDecodeError(t, h.appendMessage(m), codec.KindRecordTooLarge, "")

	requireDecodeError(t, h.append([]byte{}), codec.KindMalformedAvro, "id")
}

func TestMetadataErrors(t *testing.T) {
	p := iceberg.PrimitiveTypes
	cfg := avroConfig()
	cfg.Metadata.Key, cfg.Metadata.Headers = "key", "headers"
	h := newHarness(t, `{"type": "record", "name": "R", "fields": [{"name": "key", "type": "string"}]}`, cfg,
		req(1, "key", p.Binary), // required: a null key is refused
		req(2, "headers", &iceberg.ListType{ElementID: 3, ElementRequired: true, Element: &iceberg.StructType{
			FieldList: []iceberg.NestedField{req(4, "key", p.String), opt(5, "value", p.Binary)}}}))
	m := testMessage(1, str("ignored: key comes from Kafka"))
	require.NoError(t, h.appendMessage(m))
	m.Key = nil
	requireDecodeError(t, h.appendMessage(m), codec.KindMissingRequired, "key")
	m.Key = []byte("k")
	m.Headers = []codec.Header{{Key: "\xff"}}
	requireDecodeError(t, h.appendMessage(m), codec.KindInvalidValue, "headers[0].key")
	rows := h.rows()
	require.Len(t, rows, 1)
	require.Equal(t, []byte("k1"), rows[0]["key"])
	require.Equal(t, []any{
		map[string]any{"key": "trace", "value": []byte("abc")},
		map[string]any{"key": "empty", "value": nil},
	}, rows[0]["headers"])
}

// TestLimits covers hostile datums of skipped recursive types and of
// zero-byte items.
func TestLimits(t *testing.T) {
	const writer = `{"type": "record", "name": "Node", "fields": [
		{"name": "id", "type": "long"},
		{"name": "nulls", "type": {"type": "array", "items": "null"}},
		{"name": "next", "type": ["null", "Node"]}]}`
	h := newHarness(t, writer, avroConfig(), req(1, "id", iceberg.PrimitiveTypes.Int64))

	var deep []byte
	for range 150 {
		deep = cat(deep, zz(1), zz(0), zz(1)) // id, empty array, the Node branch
	}
	deep = cat(deep, zz(1), zz(0), zz(0))
	requireDecodeError(t, h.append(deep), codec.KindRecordTooLarge, strings.Repeat("next.", 100)+"nulls")

	shallow := cat(zz(1), zz(3), zz(0), zz(1), zz(2), zz(0), zz(0)) // 3 nulls; next: id 2, no nulls, no next
	require.NoError(t, h.append(shallow))

	huge := cat(zz(1), zz(math.MaxInt64), zz(0), zz(0))
	requireDecodeError(t, h.append(huge), codec.KindRecordTooLarge, "nulls")
	require.Equal(t, []map[string]any{{"id": int64(1)}}, h.rows())
}

func TestNewErrors(t *testing.T) {
	p := iceberg.PrimitiveTypes
	record := func(fields string) string {
		return `{"type": "record", "name": "R", "fields": [` + fields + `]}`
	}
	for _, tc := range []struct {
		name   string
		writer string
		table  []iceberg.NestedField
		cfg    func(*codec.Config)
		want   string
	}{
		{"unsupported union", record(`{"name": "v", "type": ["int", "string"]}`), []iceberg.NestedField{opt(1, "v", p.String)}, nil,
			`column "v": avro union ["int", "string"] is not supported`},
		{"unsupported union nested", record(`{"name": "a", "type": {"type": "record", "name": "A", "fields": [
			{"name": "v", "type": ["null", "int", "string"]}]}}`),
			[]iceberg.NestedField{opt(1, "a", &iceberg.StructType{FieldList: []iceberg.NestedField{opt(2, "v", p.String)}})}, nil,
			`column "a.v": avro union`},
		{"narrowing", record(`{"name": "v", "type": "long"}`), []iceberg.NestedField{opt(1, "v", p.Int32)}, nil,
			`column "v": avro long cannot go into int`},
		{"lossy", record(`{"name": "v", "type": "double"}`), []iceberg.NestedField{opt(1, "v", p.Float32)}, nil,
			`column "v": avro double cannot go into float`},
		{"unit unknown", record(`{"name": "v", "type": "long"}`), []iceberg.NestedField{opt(1, "v", p.TimestampTz)}, nil,
			`column "v": avro long cannot go into timestamptz`},
		{"local into timestamptz", record(`{"name": "v", "type": {"type": "long", "logicalType": "local-timestamp-micros"}}`),
			[]iceberg.NestedField{opt(1, "v", p.TimestampTz)}, nil,
			`column "v": avro long (local-timestamp-micros) cannot go into timestamptz: a local timestamp has no zone`},
		{"decimal into double", record(`{"name": "v", "type": {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}}`),
			[]iceberg.NestedField{opt(1, "v", p.Float64)}, nil,
			`column "v": avro bytes (decimal(4,2)) cannot go into double`},
		{"fixed size", record(`{"name": "v", "type": {"type": "fixed", "name": "F", "size": 3}}`),
			[]iceberg.NestedField{opt(1, "v", iceberg.FixedTypeOf(4))}, nil,
			`column "v": avro fixed F cannot go into fixed[4]: the sizes differ`},
		{"map key", record(`{"name": "v", "type": {"type": "map", "values": "string"}}`),
			[]iceberg.NestedField{opt(1, "v", &iceberg.MapType{KeyID: 2, KeyType: p.Int32, ValueID: 3, ValueType: p.String})}, nil,
			`column "v": avro map<string> cannot go into map: avro map keys are strings`},
		{"list element", record(`{"name": "v", "type": {"type": "array", "items": "string"}}`),
			[]iceberg.NestedField{opt(1, "v", &iceberg.ListType{ElementID: 2, Element: p.Int64})}, nil,
			`column "v.element": avro string cannot go into long`},
		{"null into required", record(`{"name": "v", "type": "null"}`), []iceberg.NestedField{req(1, "v", p.String)}, nil,
			`column "v": avro null cannot go into string: the column is required`},
		{"required column missing", record(`{"name": "v", "type": "string"}`),
			[]iceberg.NestedField{opt(1, "v", p.String), req(2, "w", p.String)}, nil,
			`column "w": required, but the writer schema has no field "w"`},
		{"required nested column missing", record(`{"name": "a", "type": {"type": "record", "name": "A", "fields": []}}`),
			[]iceberg.NestedField{opt(1, "a", &iceberg.StructType{FieldList: []iceberg.NestedField{req(2, "x", p.String)}})}, nil,
			`column "a.x": required, but the writer schema has no field "x"`},
		{"top level not a record", `"string"`, []iceberg.NestedField{opt(1, "v", p.String)}, nil,
			"the top level must be a record, got string"},
		{"not JSON", `{"type": `, nil, nil, "avro schema is not JSON"},
		{"unknown type", record(`{"name": "v", "type": "Money"}`), nil, nil, `field "v": avro schema: unknown type "Money"`},
		{"field twice", record(`{"name": "v", "type": "int"}, {"name": "v", "type": "int"}`), nil, nil, `field "v" appears twice`},
		{"type twice", record(`{"name": "a", "type": {"type": "fixed", "name": "R", "size": 1}}`), nil, nil, `type "R" is defined twice`},
		{"union in union", record(`{"name": "v", "type": ["null", ["int"]]}`), nil, nil, "a union cannot contain a union"},
		{"format", record(``), nil, func(c *codec.Config) { c.Format = "json" }, `format: this decoder reads avro, got "json"`},
		{"metadata column missing", record(``), nil, func(c *codec.Config) { c.Metadata.Offset = "off" },
			`metadata column "off": not in the table schema`},
		{"metadata column type", record(``), []iceberg.NestedField{req(1, "off", p.Int32)},
			func(c *codec.Config) { c.Metadata.Offset = "off" }, `metadata column "off": must be long`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := avroConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			_, err := New(tc.writer, arrowSchema(t, tc.table...), cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestNewAccepts covers what New must not refuse: unsupported unions and
// recursive types outside the table, named references across namespaces,
// and invalid logical types, which fall back to their underlying type.
func TestNewAccepts(t *testing.T) {
	p := iceberg.PrimitiveTypes
	const writer = `{"type": "record", "name": "R", "namespace": "a.b", "fields": [
		{"name": "junk", "type": ["int", "string", {"type": "array", "items": "R"}]},
		{"name": "m", "type": {"type": "fixed", "name": "x.Money", "size": 2}},
		{"name": "m2", "type": "x.Money"},
		{"name": "m3", "type": {"type": "record", "name": "Inner", "namespace": "x", "fields": [{"name": "v", "type": "Money"}]}},
		{"name": "bad_decimal", "type": {"type": "bytes", "logicalType": "decimal", "precision": 2, "scale": 3}},
		{"name": "odd", "type": {"type": "string", "logicalType": "something-new"}},
		{"name": "self", "type": {"type": "array", "items": "a.b.R"}}]}`
	h := newHarness(t, writer, avroConfig(),
		opt(1, "m", iceberg.FixedTypeOf(2)), opt(2, "m2", p.Binary),
		opt(3, "m3", &iceberg.StructType{FieldList: []iceberg.NestedField{opt(4, "v", iceberg.FixedTypeOf(2))}}),
		opt(5, "bad_decimal", p.Binary), opt(6, "odd", p.String))
	inner := cat(zz(0), zz(0), []byte("gh"), []byte("ij"), []byte("kl"), str(""), str(""), zz(0))
	value := cat(zz(1), str("junk"), []byte("ab"), []byte("cd"), []byte("ef"), str("\x01\x02"), str("new"),
		zz(1), inner, zz(0)) // self: a block of one R, then the end
	require.NoError(t, h.append(value))
	require.Equal(t, []map[string]any{{
		"m": []byte("ab"), "m2": []byte("cd"), "m3": map[string]any{"v": []byte("ef")},
		"bad_decimal": []byte{1, 2}, "odd": "new",
	}}, h.rows())
}
