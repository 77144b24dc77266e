package protobuf

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/floe-dev/floe/codec"
)

// Hand-built wire data, to break it in ways no encoder would.

func tag(num int, wt protowire.Type) []byte {
	return protowire.AppendTag(nil, protowire.Number(num), wt)
}

func vint(num int, v uint64) []byte { return protowire.AppendVarint(tag(num, protowire.VarintType), v) }

func lenField(num int, b []byte) []byte {
	return protowire.AppendBytes(tag(num, protowire.BytesType), b)
}

func str(num int, s string) []byte { return lenField(num, []byte(s)) }

func varints(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = protowire.AppendVarint(b, v)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

const wireProto = `syntax = "proto3";
message R {
  int64 id = 1;
  string s = 2;
  repeated string tags = 3;
  map<string, string> attrs = 4;
  repeated uint64 big = 5;
  uint64 u = 6;
  Inner inner = 7;
  repeated fixed32 fx = 8;
  bytes raw = 9;
  string u_text = 10;
  map<int32, Inner> imap = 11;
  repeated Inner inners = 12;
}
message Inner { string a = 1; repeated int64 n = 2; Inner deeper = 3; }`

func wireTable() []iceberg.NestedField {
	p := iceberg.PrimitiveTypes
	inner := func(base int) *iceberg.StructType {
		return &iceberg.StructType{FieldList: []iceberg.NestedField{
			opt(base, "a", p.String), opt(base+1, "n", &iceberg.ListType{ElementID: base + 2, Element: p.Int64, ElementRequired: true}),
			opt(base+3, "deeper", &iceberg.StructType{FieldList: []iceberg.NestedField{opt(base+4, "a", p.String)}}),
		}}
	}
	return []iceberg.NestedField{
		req(1, "id", p.Int64),
		opt(2, "s", p.String),
		opt(3, "tags", &iceberg.ListType{ElementID: 4, Element: p.String, ElementRequired: true}),
		opt(5, "attrs", &iceberg.MapType{KeyID: 6, KeyType: p.String, ValueID: 7, ValueType: p.String, ValueRequired: true}),
		opt(8, "big", &iceberg.ListType{ElementID: 9, Element: p.Int64, ElementRequired: true}),
		opt(10, "u", p.Int64),
		opt(11, "inner", inner(12)),
		opt(17, "fx", &iceberg.ListType{ElementID: 18, Element: p.Int64, ElementRequired: true}),
		opt(19, "raw", iceberg.FixedTypeOf(4)),
		opt(20, "u_text", p.UUID),
		opt(21, "imap", &iceberg.MapType{KeyID: 22, KeyType: p.Int32, ValueID: 23, ValueType: inner(24), ValueRequired: true}),
		opt(29, "inners", &iceberg.ListType{ElementID: 30, Element: inner(31), ElementRequired: true}),
	}
}

const okUUID = "123e4567-e89b-12d3-a456-426614174000"

// wireBase is a valid message of wireProto: u_text and raw have no valid
// default, so they are set.
func wireBase() []byte {
	return cat(vint(1, 1), str(2, "hi"), str(10, okUUID), lenField(9, []byte("abcd")))
}

func TestWireErrors(t *testing.T) {
	bad := "\xff"
	for _, tc := range []struct {
		name   string
		value  []byte // appended to wireBase
		kind   codec.Kind
		field  string
		detail string
	}{
		{"truncated varint", cat(tag(1, protowire.VarintType), []byte{0x80}), codec.KindMalformedProtobuf, "id", "varint cut short at byte 51"},
		{"truncated tag", []byte{0x80}, codec.KindMalformedProtobuf, "", "varint cut short at byte 50"},
		{"length past the end", cat(tag(2, protowire.BytesType), []byte{5, 'a'}), codec.KindMalformedProtobuf, "s", "length past the end of the message"},
		{"length past the end of a nested message", lenField(7, cat(tag(1, protowire.BytesType), []byte{9})), codec.KindMalformedProtobuf, "inner.a", "length past the end"},
		{"wire type of a scalar", cat(tag(1, protowire.BytesType), []byte{0}), codec.KindMalformedProtobuf, "id", "wire type 2 for a field of type int64"},
		{"wire type of a string", vint(2, 1), codec.KindMalformedProtobuf, "s", "wire type 0 for a field of type string"},
		{"wire type of a message", vint(7, 1), codec.KindMalformedProtobuf, "inner", "wire type 0"},
		{"wire type in a nested message", lenField(7, vint(1, 1)), codec.KindMalformedProtobuf, "inner.a", "wire type 0"},
		{"packed singular", lenField(6, varints(1)), codec.KindMalformedProtobuf, "u", "wire type 2 for a field of type uint64"},
		{"wire type 6 of a known field", []byte{1<<3 | 6}, codec.KindMalformedProtobuf, "id", "wire type 6"},
		{"field number 0", []byte{0, 1}, codec.KindMalformedProtobuf, "", "field number 0"},
		{"field number too large", protowire.AppendVarint(nil, uint64(protowire.MaxValidNumber+1)<<3), codec.KindMalformedProtobuf, "", "field number beyond 536870911"},
		{"wire type 6", []byte{15<<3 | 6}, codec.KindMalformedProtobuf, "", "invalid wire type 6"},
		{"wire type 7", []byte{15<<3 | 7}, codec.KindMalformedProtobuf, "", "invalid wire type 7"},
		{"end group without start", tag(15, protowire.EndGroupType), codec.KindMalformedProtobuf, "", "end-group tag without a start-group tag"},
		{"group ended by another", cat(tag(15, protowire.StartGroupType), tag(16, protowire.EndGroupType)), codec.KindMalformedProtobuf, "", "end-group tag of another group"},
		{"group without end", cat(tag(15, protowire.StartGroupType), vint(1, 1)), codec.KindMalformedProtobuf, "", "group without an end-group tag"},
		{"unknown fixed64 cut", cat(tag(15, protowire.Fixed64Type), []byte{1, 2}), codec.KindMalformedProtobuf, "", "fixed64 cut short"},
		{"packed fixed32 length", lenField(8, []byte{1, 2, 3}), codec.KindMalformedProtobuf, "fx", "packed run of 3 bytes, not a multiple of 4"},
		{"packed varint cut", lenField(5, []byte{0x80}), codec.KindMalformedProtobuf, "big", "varint cut short"},
		{"varint overflow", cat(tag(1, protowire.VarintType), bytes.Repeat([]byte{0xff}, 9), []byte{0x02}), codec.KindMalformedProtobuf, "id", "varint overflows 64 bits"},
		{"varint too long", cat(tag(1, protowire.VarintType), bytes.Repeat([]byte{0x80}, 10), []byte{0}), codec.KindMalformedProtobuf, "id", "varint overflows 64 bits"},
		{"map entry", lenField(4, cat(tag(1, protowire.BytesType), []byte{3})), codec.KindMalformedProtobuf, "attrs[0]", "length past the end"},
		{"list element", cat(lenField(12, nil), lenField(12, vint(1, 1))), codec.KindMalformedProtobuf, "inners[1].a", "wire type 0"},

		{"invalid UTF-8", str(2, "a"+bad), codec.KindInvalidValue, "s", "string is not valid UTF-8"},
		{"invalid UTF-8 in a list", cat(str(3, "a"), str(3, bad)), codec.KindInvalidValue, "tags[1]", "UTF-8"},
		{"invalid UTF-8 in a map value", lenField(4, cat(str(1, "env"), str(2, bad))), codec.KindInvalidValue, `attrs["env"]`, "UTF-8"},
		{"invalid UTF-8 in a map value before its key", cat(lenField(4, nil), lenField(4, cat(str(2, bad), str(1, "env")))), codec.KindInvalidValue, `attrs["env"]`, "UTF-8"},
		{"invalid UTF-8 in a map key", lenField(4, cat(str(1, bad), str(2, "v"))), codec.KindInvalidValue, "attrs[0]", "UTF-8"},
		{"invalid UTF-8 in a map's message value", lenField(11, cat(vint(1, uint64(math.MaxUint64)), lenField(2, str(1, bad)))), codec.KindInvalidValue, `imap["-1"].a`, "UTF-8"},
		{"invalid UTF-8 nested", lenField(7, lenField(3, str(1, bad))), codec.KindInvalidValue, "inner.deeper.a", "UTF-8"},
		{"invalid UTF-8 in a list of messages", cat(lenField(12, nil), lenField(12, str(1, bad))), codec.KindInvalidValue, "inners[1].a", "UTF-8"},
		{"invalid UTF-8 overridden", cat(str(2, bad), str(2, "ok")), codec.KindInvalidValue, "s", "UTF-8"}, // every occurrence is checked
		{"uint64 beyond long", vint(6, 1<<63), codec.KindOutOfRange, "u", "uint64 beyond the long range"},
		{"uint64 beyond long, packed", lenField(5, varints(1, 1<<63)), codec.KindOutOfRange, "big[1]", "long range"},
		{"uint64 beyond long, unpacked", cat(vint(5, 1), vint(5, math.MaxUint64)), codec.KindOutOfRange, "big[1]", "long range"},
		{"uint64 beyond long, mixed", cat(lenField(5, varints(1, 2)), vint(5, math.MaxUint64)), codec.KindOutOfRange, "big[2]", "long range"},
		{"uuid text", str(10, strings.ReplaceAll(okUUID, "-", "")), codec.KindInvalidValue, "u_text", "not a canonical uuid"},
		{"fixed size", lenField(9, []byte("abc")), codec.KindInvalidValue, "raw", "3 bytes into fixed[4]"},
		// A value error followed by a malformation: malformed wins.
		{"malformed wins", cat(str(2, bad), tag(2, protowire.BytesType), []byte{9}), codec.KindMalformedProtobuf, "s", "length past the end"},
		{"malformed wins inside a message", cat(str(2, bad), lenField(7, []byte{0x80})), codec.KindMalformedProtobuf, "inner", "varint cut short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, messageOf(t, wireProto, "R", nil), protoConfig(), wireTable()...)
			require.NoError(t, h.append(wireBase()))
			de := requireDecodeError(t, h.append(cat(wireBase(), tc.value)), tc.kind, tc.field)
			require.Contains(t, de.Detail, tc.detail)
			require.Equal(t, "events", de.Topic)
			require.Equal(t, int32(3), de.Partition)
			require.Equal(t, int64(2), de.Offset)
			for _, secret := range []string{"hi", "\xff", "abc", "123e4567"} {
				require.NotContains(t, de.Error(), secret, "messages must not quote values")
			}
			require.Len(t, h.rows(), 1)
		})
	}
}

// TestDefaultsIntoColumns covers fields without presence whose default
// cannot go into their column: absent, they are refused like the value.
func TestDefaultsIntoColumns(t *testing.T) {
	h := newHarness(t, messageOf(t, wireProto, "R", nil), protoConfig(), wireTable()...)
	requireDecodeError(t, h.append(cat(vint(1, 1), lenField(9, []byte("abcd")))), codec.KindInvalidValue, "u_text")
	requireDecodeError(t, h.append(cat(vint(1, 1), str(10, okUUID))), codec.KindInvalidValue, "raw")
	require.NoError(t, h.append(wireBase()))
}

func TestRecordErrors(t *testing.T) {
	h := newHarness(t, messageOf(t, wireProto, "R", nil), protoConfig(), wireTable()...)
	requireDecodeError(t, h.appendMessage(testMessage(1, nil)), codec.KindNullValue, "")

	m := testMessage(2, wireBase())
	m.Key = make([]byte, codec.DefaultMaxRecordBytes)
	de := requireDecodeError(t, h.appendMessage(m), codec.KindRecordTooLarge, "")
	require.Contains(t, de.Detail, "max-record-bytes")

	b := arrowSchema(t, opt(1, "other", iceberg.PrimitiveTypes.String))
	require.ErrorIs(t, h.d.Append(newHarnessArrow(t, messageOf(t, wireProto, "R", nil), protoConfig(), b).b, testMessage(3, wireBase())),
		codec.ErrSchemaMismatch)
}

func TestMissingRequired(t *testing.T) {
	const p2 = `syntax = "proto2";
		import "google/protobuf/timestamp.proto";
		import "google/protobuf/wrappers.proto";
		message R {
		  required int64 id = 1;
		  required Inner in = 2;
		  optional string s = 3;
		  optional google.protobuf.Timestamp at = 4;
		  optional google.protobuf.StringValue w = 5;
		}
		message Inner { required string a = 1; optional int32 b = 2; }`
	md := messageOf(t, p2, "R", nil)
	p := iceberg.PrimitiveTypes
	h := newHarness(t, md, protoConfig(),
		req(1, "id", p.Int64),
		req(2, "in", &iceberg.StructType{FieldList: []iceberg.NestedField{req(3, "a", p.String), opt(4, "b", p.Int32)}}),
		req(5, "s", p.String), req(6, "at", p.TimestampTz), req(7, "w", p.String))
	full := fields{"id": 1, "in": fields{"a": "x"}, "s": "s", "at": fields{}, "w": fields{}}
	require.NoError(t, h.append(encode(t, md, full)))
	for _, name := range []string{"id", "in", "s", "at", "w"} {
		v := fields{}
		for k, x := range full {
			if k != name {
				v[k] = x
			}
		}
		de := requireDecodeError(t, h.append(encode(t, md, v)), codec.KindMissingRequired, name)
		require.Contains(t, de.Detail, "not set")
	}
	requireDecodeError(t, h.append(cat(vint(1, 1), str(3, "s"), lenField(4, nil), lenField(5, nil), lenField(2, vint(2, 1)))),
		codec.KindMissingRequired, "in.a")
	// Parts of a merged message complete each other.
	require.NoError(t, h.append(cat(vint(1, 1), str(3, "s"), lenField(4, nil), lenField(5, nil), lenField(2, vint(2, 1)), lenField(2, str(1, "a")))))
	rows := h.rows()
	require.Len(t, rows, 2)
	require.Equal(t, map[string]any{"a": "a", "b": int32(1)}, rows[1]["in"])
	require.Equal(t, "", rows[1]["w"]) // a wrapper set to its default
	require.Equal(t, int64(0), rows[1]["at"])
}

func TestRanges(t *testing.T) {
	md := messageOf(t, `syntax = "proto3";
		import "google/protobuf/timestamp.proto"; import "google/protobuf/duration.proto";
		message R { google.protobuf.Timestamp t = 1; google.protobuf.Duration d = 2; repeated google.protobuf.Timestamp ts = 3; }`, "R", nil)
	p := iceberg.PrimitiveTypes
	h := newHarness(t, md, protoConfig(), opt(1, "t", p.TimestampNs), opt(2, "d", p.Int64),
		opt(3, "ts", &iceberg.ListType{ElementID: 4, Element: p.TimestampTz, ElementRequired: true}))
	de := requireDecodeError(t, h.append(encode(t, md, fields{"t": fields{"seconds": int64(1) << 40}})), codec.KindOutOfRange, "t")
	require.Contains(t, de.Detail, "timestamp outside the column's range")
	requireDecodeError(t, h.append(encode(t, md, fields{"d": fields{"seconds": int64(math.MinInt64) / 1000}})), codec.KindOutOfRange, "d")
	requireDecodeError(t, h.append(encode(t, md, fields{"ts": []any{fields{}, fields{"seconds": int64(math.MaxInt64)}}})), codec.KindOutOfRange, "ts[1]")
	require.NoError(t, h.append(encode(t, md, fields{"t": fields{"seconds": -1, "nanos": 5}, "d": fields{"seconds": -1, "nanos": -1_999}})))
	require.Equal(t, []map[string]any{{"t": int64(-999_999_995), "d": int64(-1_000_001), "ts": []any{}}}, h.rows())
}

// TestLimits covers messages nested deeper than maxDepth, through fields
// without a column (messages and groups) and through list elements.
func TestLimits(t *testing.T) {
	md := messageOf(t, `syntax = "proto3"; message Node { int64 id = 1; Node next = 2; repeated Node kids = 3; }`, "Node", nil)
	p := iceberg.PrimitiveTypes
	h := newHarness(t, md, protoConfig(), req(1, "id", p.Int64),
		opt(2, "kids", &iceberg.ListType{ElementID: 3, ElementRequired: true, Element: &iceberg.StructType{
			FieldList: []iceberg.NestedField{opt(4, "id", p.Int64)}}}))
	nest := func(num, levels int) []byte {
		b := vint(1, 9)
		for range levels {
			b = cat(vint(1, 1), lenField(num, b))
		}
		return b
	}
	require.NoError(t, h.append(nest(2, maxDepth)))
	requireDecodeError(t, h.append(nest(2, maxDepth+1)), codec.KindRecordTooLarge, strings.Repeat("next.", maxDepth)+"next")
	requireDecodeError(t, h.append(lenField(3, nest(2, maxDepth))), codec.KindRecordTooLarge, "kids[0]"+strings.Repeat(".next", maxDepth))

	var group []byte
	for range maxDepth + 1 {
		group = cat(tag(9, protowire.StartGroupType), group, tag(9, protowire.EndGroupType))
	}
	requireDecodeError(t, h.append(group), codec.KindRecordTooLarge, "")
	require.NoError(t, h.append(group[2:len(group)-2])) // 100 levels
	require.Len(t, h.rows(), 2)
}

func TestNewErrors(t *testing.T) {
	p := iceberg.PrimitiveTypes
	const header = `syntax = "proto3"; package acme;
		import "google/protobuf/timestamp.proto"; import "google/protobuf/duration.proto";
		import "google/protobuf/wrappers.proto"; import "google/protobuf/any.proto"; import "google/protobuf/empty.proto";
		enum Color { RED = 0; }
		message Inner { string x = 1; }
		message R { `
	for _, tc := range []struct {
		name  string
		decl  string // fields of R
		table []iceberg.NestedField
		cfg   func(*codec.Config)
		want  string
	}{
		{"narrowing", "int64 v = 1;", []iceberg.NestedField{opt(1, "v", p.Int32)}, nil, `column "v": protobuf int64 cannot go into int`},
		{"unsigned", "uint32 v = 1;", []iceberg.NestedField{opt(1, "v", p.Int32)}, nil, `column "v": protobuf uint32 cannot go into int`},
		{"lossy", "double v = 1;", []iceberg.NestedField{opt(1, "v", p.Float32)}, nil, `column "v": protobuf double cannot go into float`},
		{"long into double", "int64 v = 1;", []iceberg.NestedField{opt(1, "v", p.Float64)}, nil, `protobuf int64 cannot go into double`},
		{"string into long", "string v = 1;", []iceberg.NestedField{opt(1, "v", p.Int64)}, nil, `protobuf string cannot go into long`},
		{"bytes into string", "bytes v = 1;", []iceberg.NestedField{opt(1, "v", p.String)}, nil, `protobuf bytes cannot go into string`},
		{"string into fixed", "string v = 1;", []iceberg.NestedField{opt(1, "v", iceberg.FixedTypeOf(16))}, nil, `protobuf string cannot go into fixed[16]`},
		{"enum into int", "Color v = 1;", []iceberg.NestedField{opt(1, "v", p.Int32)}, nil, `column "v": protobuf enum acme.Color cannot go into int`},
		{"bool into int", "bool v = 1;", []iceberg.NestedField{opt(1, "v", p.Int32)}, nil, `protobuf bool cannot go into int`},
		{"timestamp into long", "google.protobuf.Timestamp v = 1;", []iceberg.NestedField{opt(1, "v", p.Int64)}, nil,
			`column "v": protobuf google.protobuf.Timestamp cannot go into long`},
		{"timestamp into date", "google.protobuf.Timestamp v = 1;", []iceberg.NestedField{opt(1, "v", p.Date)}, nil, `cannot go into date`},
		{"duration into timestamp", "google.protobuf.Duration v = 1;", []iceberg.NestedField{opt(1, "v", p.TimestampTz)}, nil,
			`protobuf google.protobuf.Duration cannot go into timestamptz`},
		{"wrapper", "google.protobuf.Int64Value v = 1;", []iceberg.NestedField{opt(1, "v", p.Int32)}, nil,
			`column "v": protobuf google.protobuf.Int64Value cannot go into int`},
		{"any", "google.protobuf.Any v = 1;", []iceberg.NestedField{opt(1, "v", &iceberg.StructType{FieldList: []iceberg.NestedField{opt(2, "type_url", p.String)}})}, nil,
			`column "v": protobuf google.protobuf.Any cannot go into struct: it has no column type`},
		{"empty", "google.protobuf.Empty v = 1;", []iceberg.NestedField{opt(1, "v", p.String)}, nil, `google.protobuf.Empty cannot go into string`},
		{"message into string", "Inner v = 1;", []iceberg.NestedField{opt(1, "v", p.String)}, nil, `protobuf message acme.Inner cannot go into string`},
		{"nested", "Inner v = 1;", []iceberg.NestedField{opt(1, "v", &iceberg.StructType{FieldList: []iceberg.NestedField{opt(2, "x", p.Int64)}})}, nil,
			`column "v.x": protobuf string cannot go into long`},
		{"repeated into scalar", "repeated int64 v = 1;", []iceberg.NestedField{opt(1, "v", p.Int64)}, nil, `column "v": protobuf repeated int64 cannot go into long`},
		{"scalar into list", "int64 v = 1;", []iceberg.NestedField{opt(1, "v", &iceberg.ListType{ElementID: 2, Element: p.Int64})}, nil,
			`column "v": protobuf int64 cannot go into list`},
		{"list element", "repeated string v = 1;", []iceberg.NestedField{opt(1, "v", &iceberg.ListType{ElementID: 2, Element: p.Int64})}, nil,
			`column "v.element": protobuf string cannot go into long`},
		{"map into struct", "map<string, int64> v = 1;", []iceberg.NestedField{opt(1, "v", &iceberg.StructType{})}, nil,
			`column "v": protobuf map<string, int64> cannot go into struct`},
		{"map key", "map<string, int64> v = 1;", []iceberg.NestedField{opt(1, "v", &iceberg.MapType{KeyID: 2, KeyType: p.Int32, ValueID: 3, ValueType: p.Int64})}, nil,
			`column "v.key": protobuf string cannot go into int`},
		{"map value", "map<string, string> v = 1;", []iceberg.NestedField{opt(1, "v", &iceberg.MapType{KeyID: 2, KeyType: p.String, ValueID: 3, ValueType: p.Int64})}, nil,
			`column "v.value": protobuf string cannot go into long`},
		{"required column missing", "string v = 1;", []iceberg.NestedField{opt(1, "v", p.String), req(2, "w", p.String)}, nil,
			`column "w": required, but message acme.R has no field "w"`},
		{"required nested column missing", "Inner v = 1;", []iceberg.NestedField{opt(1, "v", &iceberg.StructType{FieldList: []iceberg.NestedField{req(2, "y", p.String)}})}, nil,
			`column "v.y": required, but message acme.Inner has no field "y"`},
		{"format", "", nil, func(c *codec.Config) { c.Format = "avro" }, `format: this decoder reads protobuf, got "avro"`},
		{"metadata column missing", "", nil, func(c *codec.Config) { c.Metadata.Offset = "off" }, `metadata column "off": not in the table schema`},
		{"metadata column type", "", []iceberg.NestedField{req(1, "off", p.Int32)}, func(c *codec.Config) { c.Metadata.Offset = "off" },
			`metadata column "off": must be long`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := protoConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			_, err := New(messageOf(t, header+tc.decl+" }", "acme.R", nil), arrowSchema(t, tc.table...), cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
	t.Run("group", func(t *testing.T) {
		md := messageOf(t, `syntax = "proto2"; message R { optional group G = 1 { optional int32 x = 2; } }`, "R", nil)
		_, err := New(md, arrowSchema(t, opt(1, "g", &iceberg.StructType{FieldList: []iceberg.NestedField{opt(2, "x", p.Int32)}})), protoConfig())
		require.ErrorContains(t, err, `column "g": protobuf group R.G cannot go into struct: groups are not supported`)
	})
	t.Run("column twice", func(t *testing.T) {
		md := messageOf(t, `syntax = "proto3"; message R { string v = 1; }`, "R", nil)
		s := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
		_, err := New(md, s, protoConfig())
		require.ErrorContains(t, err, `column "v": appears twice in the schema`)
	})
	t.Run("no message", func(t *testing.T) {
		_, err := New(nil, arrowSchema(t), protoConfig())
		require.ErrorContains(t, err, "no message type")
	})
}

func TestParseErrors(t *testing.T) {
	_, err := Parse("syntax = \"proto3\";\nmessage R {\n  int64 id = ;\n}", nil)
	require.ErrorContains(t, err, "schema.proto:3:")
	require.ErrorContains(t, err, "syntax error")

	_, err = Parse(`syntax = "proto3"; import "acme/missing.proto"; message R { int64 id = 1; }`, nil)
	require.ErrorContains(t, err, "acme/missing.proto")

	_, err = Parse("syntax = \"proto3\";\nmessage R { Unknown u = 1; }", nil)
	require.ErrorContains(t, err, "schema.proto:2:")
	require.ErrorContains(t, err, "Unknown")

	_, err = Parse(`syntax = "proto3"; import "a.proto"; message R { int64 id = 1; }`, map[string]string{"a.proto": "syntax = \"proto3\";\nmessage A {"})
	require.ErrorContains(t, err, "a.proto:2:")
}
