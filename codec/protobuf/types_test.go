package protobuf

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/evolution"
)

// allTypes declares a field of every kind the decoder maps.
const allTypes = `syntax = "proto3";
package acme.v1;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/empty.proto";

enum Color { RED = 0; GREEN = 1; BLUE = 2; }
message Address { string city = 1; optional string zip = 2; repeated double extra = 3; }
message Item { string sku = 1; int32 qty = 2; Color color = 3; }

message Event {
  bool b = 1;
  int32 i32 = 2;
  sint32 si32 = 3;
  sfixed32 sf32 = 4;
  uint32 u32 = 5;
  fixed32 f32 = 6;
  int64 i64 = 7;
  sint64 si64 = 8;
  sfixed64 sf64 = 9;
  uint64 u64 = 10;
  fixed64 f64 = 11;
  float fl = 12;
  double db = 13;
  string s = 14;
  bytes by = 15;
  Color color = 16;
  Address addr = 17;
  repeated string tags = 18;
  repeated int64 nums = 19;
  repeated Item items = 20;
  map<string, int64> attrs = 21;
  map<int32, Address> by_id = 22;
  optional string opt_s = 23;
  optional int64 opt_l = 24;
  oneof choice {
    string text = 25;
    int64 number = 26;
    Address place = 27;
  }
  google.protobuf.Timestamp ts = 28;
  google.protobuf.Duration dur = 29;
  google.protobuf.Int64Value w_i64 = 30;
  google.protobuf.StringValue w_s = 31;
  google.protobuf.BoolValue w_b = 32;
  google.protobuf.Int32Value w_i32 = 33;
  google.protobuf.UInt32Value w_u32 = 34;
  google.protobuf.UInt64Value w_u64 = 35;
  google.protobuf.FloatValue w_f = 36;
  google.protobuf.DoubleValue w_d = 37;
  google.protobuf.BytesValue w_by = 38;
  google.protobuf.Empty nothing = 39;
  repeated bool flags = 40;
  map<bool, string> bmap = 41;
  repeated google.protobuf.Timestamp times = 42;
}`

func allTypesMessage(t testing.TB) protoreflect.MessageDescriptor {
	return messageOf(t, allTypes, "acme.v1.Event", nil)
}

// describe renders an Arrow type in Iceberg's words, nested types in full,
// with "?" after optional fields.
func describe(dt arrow.DataType) string {
	field := func(f arrow.Field) string {
		s := describe(f.Type)
		if f.Nullable {
			s += "?"
		}
		return s
	}
	switch t := dt.(type) {
	case *arrow.StructType:
		parts := make([]string, t.NumFields())
		for i, f := range t.Fields() {
			parts[i] = f.Name + ": " + field(f)
		}
		return "struct<" + strings.Join(parts, ", ") + ">"
	case *arrow.ListType:
		return "list<" + field(t.ElemField()) + ">"
	case *arrow.MapType:
		return "map<" + field(t.KeyField()) + ", " + field(t.ItemField()) + ">"
	}
	return evolution.TypeName(dt)
}

func TestArrowSchema(t *testing.T) {
	s, err := ArrowSchema(allTypesMessage(t))
	require.NoError(t, err)
	addr := "struct<city: string?, zip: string?, extra: list<double>?>"
	want := []string{
		"b: boolean?", "i32: int?", "si32: int?", "sf32: int?", "u32: long?", "f32: long?",
		"i64: long?", "si64: long?", "sf64: long?", "u64: long?", "f64: long?",
		"fl: float?", "db: double?", "s: string?", "by: binary?", "color: string?",
		"addr: " + addr + "?",
		"tags: list<string>?", "nums: list<long>?",
		"items: list<struct<sku: string?, qty: int?, color: string?>>?",
		"attrs: map<string, long>?", "by_id: map<int, " + addr + ">?",
		"opt_s: string?", "opt_l: long?", "text: string?", "number: long?", "place: " + addr + "?",
		"ts: timestamptz?", "dur: long?",
		"w_i64: long?", "w_s: string?", "w_b: boolean?", "w_i32: int?", "w_u32: long?", "w_u64: long?",
		"w_f: float?", "w_d: double?", "w_by: binary?",
		// nothing: google.protobuf.Empty has no column
		"flags: list<boolean>?", "bmap: map<boolean, string>?", "times: list<timestamptz>?",
	}
	var got []string
	for _, f := range s.Fields() {
		got = append(got, f.Name+": "+describe(f.Type)+map[bool]string{true: "?"}[f.Nullable])
		require.Empty(t, f.Metadata.Keys(), "no field IDs")
	}
	require.Equal(t, want, got)

	// proto2: required fields are required columns.
	const p2 = `syntax = "proto2"; package p;
		message R { required int64 id = 1; optional string s = 2; repeated int32 xs = 3; required Inner in = 4; }
		message Inner { required string a = 1; }`
	s, err = ArrowSchema(messageOf(t, p2, "p.R", nil))
	require.NoError(t, err)
	got = nil
	for _, f := range s.Fields() {
		got = append(got, f.Name+": "+describe(f.Type)+map[bool]string{true: "?"}[f.Nullable])
	}
	require.Equal(t, []string{"id: long", "s: string?", "xs: list<int>?", "in: struct<a: string>"}, got)
}

func TestArrowSchemaRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, proto, want string
	}{
		{"recursive", `syntax = "proto3"; message R { int64 id = 1; Node n = 2; } message Node { Node next = 1; }`,
			`field "n.next": message Node refers to itself`},
		{"any", `syntax = "proto3"; import "google/protobuf/any.proto"; message R { google.protobuf.Any a = 1; }`,
			`field "a": google.protobuf.Any has no column type (not supported yet)`},
		{"struct", `syntax = "proto3"; import "google/protobuf/struct.proto"; message R { Inner i = 1; } message Inner { google.protobuf.Struct s = 1; }`,
			`field "i.s": google.protobuf.Struct has no column type`},
		{"value in list", `syntax = "proto3"; import "google/protobuf/struct.proto"; message R { repeated google.protobuf.Value v = 1; }`,
			`field "v.element": google.protobuf.Value has no column type`},
		{"list value in map", `syntax = "proto3"; import "google/protobuf/struct.proto"; message R { map<string, google.protobuf.ListValue> m = 1; }`,
			`field "m.value": google.protobuf.ListValue has no column type`},
		{"group", `syntax = "proto2"; message R { optional group G = 1 { optional int32 x = 2; } }`,
			`field "g": group R.G is not supported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.proto, nil)
			require.NoError(t, err)
			md, err := s.Message(nil)
			require.NoError(t, err)
			_, err = ArrowSchema(md)
			require.ErrorContains(t, err, tc.want)
		})
	}
	// Messages without content get no column.
	md := messageOf(t, `syntax = "proto3"; import "google/protobuf/empty.proto";
		message R { int64 id = 1; Marker m = 2; google.protobuf.Empty e = 3; map<string, Marker> ms = 4; repeated Marker ls = 5; Holder h = 6; }
		message Marker {} message Holder { Marker m = 1; }`, "R", nil)
	s, err := ArrowSchema(md)
	require.NoError(t, err)
	require.Equal(t, 1, s.NumFields())
	require.Equal(t, "id", s.Field(0).Name)
}

// tableOf is the table floe creates for md: its ArrowSchema as an Iceberg
// schema, in that schema's Arrow form, plus metadata columns.
func tableOf(t testing.TB, md protoreflect.MessageDescriptor, cfg codec.Config) *arrow.Schema {
	t.Helper()
	as, err := ArrowSchema(md)
	require.NoError(t, err)
	fields := append(as.Fields(), cfg.Metadata.Fields()...)
	sc, err := table.ArrowSchemaToIcebergWithFreshIDs(arrow.NewSchema(fields, nil), false)
	require.NoError(t, err)
	out, err := table.SchemaToArrowSchema(sc, nil, true, false)
	require.NoError(t, err)
	return out
}

// TestAllTypes decodes messages encoded by the protobuf module into the
// table created for their type and compares every column.
func TestAllTypes(t *testing.T) {
	md := allTypesMessage(t)
	cfg := metadataConfig()
	h := newHarnessArrow(t, md, cfg, tableOf(t, md, cfg))
	created := time.Date(2026, 11, 26, 10, 15, 30, 123456789, time.UTC)
	addr := fields{"city": "Berlin", "zip": "10115", "extra": []any{1.5, -2.25}}
	full := fields{
		"b": true, "i32": -5, "si32": -6, "sf32": -7, "u32": uint32(4_000_000_000), "f32": uint32(4_000_000_001),
		"i64": int64(-8_000_000_000), "si64": int64(math.MinInt64), "sf64": int64(-9), "u64": uint64(math.MaxInt64),
		"f64": uint64(12), "fl": float32(1.25), "db": -2.5e300, "s": "héllo €", "by": []byte{0, 1, 255},
		"color": "BLUE", "addr": addr, "tags": []any{"a", "", "c"}, "nums": []any{1, -2, 3},
		"items": []any{fields{"sku": "x", "qty": 2, "color": "GREEN"}, fields{}},
		"attrs": map[string]any{"env": 1, "": -1}, "by_id": map[int32]any{7: fields{"city": "Paris"}, -1: fields{}},
		"opt_s": "", "opt_l": 0, "text": "chosen",
		"ts": ts(created), "dur": fields{"seconds": -3, "nanos": -500_000_999},
		"w_i64": fields{"value": 0}, "w_s": fields{"value": "w"}, "w_b": fields{"value": true},
		"w_i32": fields{"value": -3}, "w_u32": fields{"value": uint32(math.MaxUint32)}, "w_u64": fields{"value": uint64(5)},
		"w_f": fields{"value": float32(0.5)}, "w_d": fields{"value": 0.25}, "w_by": fields{"value": []byte("b")},
		"nothing": fields{}, "flags": []any{true, false, true}, "bmap": map[bool]any{true: "yes", false: "no"},
		"times": []any{ts(created), fields{}},
	}
	require.NoError(t, h.append(encode(t, md, full)))
	require.NoError(t, h.append([]byte{})) // every field unset
	require.NoError(t, h.append(encode(t, md, fields{"place": fields{"city": "Rome"}, "w_s": fields{}, "color": 9})))

	meta := func(offset int64) map[string]any {
		return map[string]any{"kafka_topic": "events", "kafka_partition": int32(3), "kafka_offset": offset,
			"kafka_timestamp": testMessage(0, nil).Timestamp.UnixMicro(), "kafka_key": []byte("k1")}
	}
	row := func(offset int64, r map[string]any) map[string]any {
		for k, v := range meta(offset) {
			r[k] = v
		}
		return r
	}
	wantAddr := map[string]any{"city": "Berlin", "zip": "10115", "extra": []any{1.5, -2.25}}
	emptyAddr := map[string]any{"city": "", "zip": nil, "extra": []any{}}
	defaults := func() map[string]any {
		return map[string]any{
			"b": false, "i32": int32(0), "si32": int32(0), "sf32": int32(0), "u32": int64(0), "f32": int64(0),
			"i64": int64(0), "si64": int64(0), "sf64": int64(0), "u64": int64(0), "f64": int64(0),
			"fl": float32(0), "db": float64(0), "s": "", "by": []byte{}, "color": "RED",
			"addr": nil, "tags": []any{}, "nums": []any{}, "items": []any{}, "attrs": map[string]any{}, "by_id": map[string]any{},
			"opt_s": nil, "opt_l": nil, "text": nil, "number": nil, "place": nil, "ts": nil, "dur": nil,
			"w_i64": nil, "w_s": nil, "w_b": nil, "w_i32": nil, "w_u32": nil, "w_u64": nil, "w_f": nil, "w_d": nil, "w_by": nil,
			"flags": []any{}, "bmap": map[string]any{}, "times": []any{},
		}
	}
	third := defaults()
	third["place"] = map[string]any{"city": "Rome", "zip": nil, "extra": []any{}}
	third["w_s"] = "" // a wrapper that is set, to its default
	third["color"] = "9"
	require.Equal(t, []map[string]any{
		row(1, map[string]any{
			"b": true, "i32": int32(-5), "si32": int32(-6), "sf32": int32(-7), "u32": int64(4_000_000_000), "f32": int64(4_000_000_001),
			"i64": int64(-8_000_000_000), "si64": int64(math.MinInt64), "sf64": int64(-9), "u64": int64(math.MaxInt64),
			"f64": int64(12), "fl": float32(1.25), "db": -2.5e300, "s": "héllo €", "by": []byte{0, 1, 255},
			"color": "BLUE", "addr": wantAddr, "tags": []any{"a", "", "c"}, "nums": []any{int64(1), int64(-2), int64(3)},
			"items": []any{map[string]any{"sku": "x", "qty": int32(2), "color": "GREEN"}, map[string]any{"sku": "", "qty": int32(0), "color": "RED"}},
			"attrs": map[string]any{"env": int64(1), "": int64(-1)}, "by_id": map[string]any{"7": map[string]any{"city": "Paris", "zip": nil, "extra": []any{}}, "-1": emptyAddr},
			"opt_s": "", "opt_l": int64(0), "text": "chosen", "number": nil, "place": nil,
			"ts": created.UnixMicro(), "dur": int64(-3_500_000), // -3.500000999 s, truncated toward zero
			"w_i64": int64(0), "w_s": "w", "w_b": true, "w_i32": int32(-3), "w_u32": int64(math.MaxUint32), "w_u64": int64(5),
			"w_f": float32(0.5), "w_d": 0.25, "w_by": []byte("b"),
			"flags": []any{true, false, true}, "bmap": map[string]any{"true": "yes", "false": "no"},
			"times": []any{created.UnixMicro(), int64(0)},
		}),
		row(2, defaults()),
		row(3, third),
	}, h.rows())
}

// TestPairs covers every field type → column type pair New accepts, with
// a value each, in tables declared by hand.
func TestPairs(t *testing.T) {
	p := iceberg.PrimitiveTypes
	id := uuid.MustParse("123e4567-e89b-12d3-a456-426614174000")
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_007_008, time.UTC)
	for _, tc := range []struct {
		decl  string // the field's type in proto3
		col   iceberg.Type
		value any
		want  any
	}{
		{"bool", p.Bool, true, true},
		{"int32", p.Int32, -7, int32(-7)},
		{"int32", p.Int64, -7, int64(-7)},
		{"int32", p.Float64, -7, float64(-7)},
		{"sint32", p.Int32, math.MinInt32, int32(math.MinInt32)},
		{"sint32", p.Int64, -1, int64(-1)},
		{"sint32", p.Float64, 3, float64(3)},
		{"sfixed32", p.Int32, -9, int32(-9)},
		{"sfixed32", p.Int64, -9, int64(-9)},
		{"sfixed32", p.Float64, -9, float64(-9)},
		{"uint32", p.Int64, uint32(math.MaxUint32), int64(math.MaxUint32)},
		{"fixed32", p.Int64, uint32(math.MaxUint32), int64(math.MaxUint32)},
		{"int64", p.Int64, int64(math.MinInt64), int64(math.MinInt64)},
		{"sint64", p.Int64, int64(-123456789012), int64(-123456789012)},
		{"sfixed64", p.Int64, int64(math.MaxInt64), int64(math.MaxInt64)},
		{"uint64", p.Int64, uint64(math.MaxInt64), int64(math.MaxInt64)},
		{"fixed64", p.Int64, uint64(1 << 62), int64(1 << 62)},
		{"float", p.Float32, float32(-1.5), float32(-1.5)},
		{"float", p.Float64, float32(0.1), float64(float32(0.1))},
		{"double", p.Float64, 1e-300, 1e-300},
		{"string", p.String, "ü", "ü"},
		{"string", p.UUID, strings.ToUpper(id.String()), id.String()},
		{"string", p.Binary, "raw", []byte("raw")},
		{"bytes", p.Binary, []byte{9, 8}, []byte{9, 8}},
		{"bytes", iceberg.FixedTypeOf(3), []byte{1, 2, 3}, []byte{1, 2, 3}},
		{"bytes", p.UUID, id[:], id.String()},
		{"Color", p.String, "GREEN", "GREEN"},
		{"google.protobuf.Timestamp", p.TimestampTz, ts(at), at.UnixMicro()},
		{"google.protobuf.Timestamp", p.Timestamp, ts(at), at.UnixMicro()}, // UTC wall time
		{"google.protobuf.Timestamp", p.TimestampTzNs, ts(at), at.UnixNano()},
		{"google.protobuf.Timestamp", p.TimestampNs, ts(at), at.UnixNano()},
		{"google.protobuf.Timestamp", p.TimestampTz, fields{"seconds": -1, "nanos": 999_999_999}, int64(-1)}, // truncated toward the past
		{"google.protobuf.Duration", p.Int64, fields{"seconds": 90, "nanos": 1_999}, int64(90_000_001)},
		{"google.protobuf.BoolValue", p.Bool, fields{"value": true}, true},
		{"google.protobuf.Int32Value", p.Int32, fields{"value": -1}, int32(-1)},
		{"google.protobuf.Int32Value", p.Int64, fields{"value": -1}, int64(-1)},
		{"google.protobuf.Int32Value", p.Float64, fields{"value": -1}, float64(-1)},
		{"google.protobuf.Int64Value", p.Int64, fields{"value": 1 << 40}, int64(1 << 40)},
		{"google.protobuf.UInt32Value", p.Int64, fields{"value": uint32(7)}, int64(7)},
		{"google.protobuf.UInt64Value", p.Int64, fields{"value": uint64(7)}, int64(7)},
		{"google.protobuf.FloatValue", p.Float32, fields{"value": float32(2)}, float32(2)},
		{"google.protobuf.FloatValue", p.Float64, fields{"value": float32(2)}, float64(2)},
		{"google.protobuf.DoubleValue", p.Float64, fields{"value": 2.5}, 2.5},
		{"google.protobuf.StringValue", p.String, fields{"value": "s"}, "s"},
		{"google.protobuf.StringValue", p.UUID, fields{"value": id.String()}, id.String()},
		{"google.protobuf.StringValue", p.Binary, fields{"value": "s"}, []byte("s")},
		{"google.protobuf.BytesValue", p.Binary, fields{"value": []byte{1}}, []byte{1}},
		{"google.protobuf.BytesValue", iceberg.FixedTypeOf(1), fields{"value": []byte{1}}, []byte{1}},
		{"Inner", &iceberg.StructType{FieldList: []iceberg.NestedField{opt(2, "x", p.Int64), opt(3, "absent", p.String)}},
			fields{"x": 5}, map[string]any{"x": int64(5), "absent": nil}},
		{"repeated sint64", &iceberg.ListType{ElementID: 2, Element: p.Int64}, []any{-1, 2}, []any{int64(-1), int64(2)}},
		{"repeated Inner", &iceberg.ListType{ElementID: 2, Element: &iceberg.StructType{FieldList: []iceberg.NestedField{opt(3, "x", p.Int64)}}},
			[]any{fields{"x": 1}}, []any{map[string]any{"x": int64(1)}}},
		{"map<uint32, string>", &iceberg.MapType{KeyID: 2, KeyType: p.Int64, ValueID: 3, ValueType: p.String},
			map[uint32]any{4_000_000_000: "big"}, map[string]any{"4000000000": "big"}},
		{"map<sint32, bool>", &iceberg.MapType{KeyID: 2, KeyType: p.Int32, ValueID: 3, ValueType: p.Bool},
			map[int32]any{-2: true}, map[string]any{"-2": true}},
		{"map<string, Color>", &iceberg.MapType{KeyID: 2, KeyType: p.String, ValueID: 3, ValueType: p.String, ValueRequired: true},
			map[string]any{"k": "BLUE"}, map[string]any{"k": "BLUE"}},
	} {
		t.Run(tc.decl+" into "+tc.col.String(), func(t *testing.T) {
			text := `syntax = "proto3";
				import "google/protobuf/timestamp.proto"; import "google/protobuf/duration.proto"; import "google/protobuf/wrappers.proto";
				enum Color { RED = 0; GREEN = 1; BLUE = 2; }
				message Inner { int64 x = 1; }
				message R { ` + tc.decl + ` v = 1; }`
			md := messageOf(t, text, "R", nil)
			h := newHarness(t, md, protoConfig(), opt(1, "v", tc.col))
			require.NoError(t, h.append(encode(t, md, fields{"v": tc.value})))
			require.Equal(t, []map[string]any{{"v": tc.want}}, h.rows())
		})
	}
}

// TestLargeTypes covers columns of large Arrow types, which floe's tables
// do not use but New accepts, as the other decoders do.
func TestLargeTypes(t *testing.T) {
	md := messageOf(t, `syntax = "proto3"; message R { string s = 1; bytes b = 2; repeated string l = 3; string sb = 4; }`, "R", nil)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.LargeBinary, Nullable: true},
		{Name: "l", Type: arrow.LargeListOf(arrow.BinaryTypes.LargeString), Nullable: true},
		{Name: "sb", Type: arrow.BinaryTypes.LargeBinary, Nullable: true},
	}, nil)
	h := newHarnessArrow(t, md, protoConfig(), schema)
	require.NoError(t, h.append(encode(t, md, fields{"s": "x", "b": []byte{1}, "l": []any{"y", "z"}, "sb": "t"})))
	require.Equal(t, []map[string]any{{"s": "x", "b": []byte{1}, "l": []any{"y", "z"}, "sb": []byte("t")}}, h.rows())
}
