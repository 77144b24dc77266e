package protobuf

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/floe-dev/floe/codec"
)

// refHarness decodes into the table created for md, checking each row
// against what the protobuf module reads from the same bytes.
type refHarness struct {
	*harness
	md   protoreflect.MessageDescriptor
	want []map[string]any
}

func newRefHarness(t testing.TB, md protoreflect.MessageDescriptor) *refHarness {
	return &refHarness{harness: newHarnessArrow(t, md, protoConfig(), tableOf(t, md, protoConfig())), md: md}
}

func (h *refHarness) add(value []byte) {
	h.t.Helper()
	ref := dynamicpb.NewMessage(h.md)
	require.NoError(h.t, proto.Unmarshal(value, ref))
	require.NoError(h.t, h.append(value))
	h.want = append(h.want, refRow(ref))
}

// check compares every row so far with the reference and returns them.
func (h *refHarness) check() []map[string]any {
	h.t.Helper()
	got := h.rows()
	require.Equal(h.t, h.want, got)
	h.want = nil
	return got
}

func TestPackedAndUnpacked(t *testing.T) {
	md := messageOf(t, `syntax = "proto3"; enum E { Z = 0; A = 1; }
		message R { repeated int64 n = 1; repeated fixed32 f = 2; repeated double d = 3; repeated bool b = 4;
		            repeated E e = 5; repeated sint32 s = 6; repeated sfixed64 x = 7; }`, "R", nil)
	h := newRefHarness(t, md)
	fixed32s := func(vs ...uint32) []byte {
		var b []byte
		for _, v := range vs {
			b = protowire.AppendFixed32(b, v)
		}
		return b
	}
	fixed64s := func(vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			b = protowire.AppendFixed64(b, v)
		}
		return b
	}
	h.add(cat(
		lenField(1, varints(1, 2)), vint(1, 3), lenField(1, varints(4)), lenField(1, nil), vint(1, math.MaxUint64), // packed, unpacked, mixed, empty run
		lenField(2, fixed32s(7, 8)), tag(2, protowire.Fixed32Type), fixed32s(9),
		tag(3, protowire.Fixed64Type), fixed64s(math.Float64bits(0.5)), lenField(3, fixed64s(math.Float64bits(-1))),
		lenField(4, varints(1, 0, 5)), vint(4, 0),
		vint(5, 1), lenField(5, varints(7, 0)),
		lenField(6, varints(protowire.EncodeZigZag(-3), protowire.EncodeZigZag(3))),
		tag(7, protowire.Fixed64Type), fixed64s(uint64(1<<63)),
	))
	// The same values encoded by the protobuf module, packed (proto3's default).
	h.add(encode(t, md, fields{"n": []any{1, 2, 3}, "e": []any{1, 7}}))
	rows := h.check()
	require.Equal(t, []any{int64(1), int64(2), int64(3), int64(4), int64(-1)}, rows[0]["n"])
	require.Equal(t, []any{int64(7), int64(8), int64(9)}, rows[0]["f"])
	require.Equal(t, []any{0.5, -1.0}, rows[0]["d"])
	require.Equal(t, []any{true, false, true, false}, rows[0]["b"])
	require.Equal(t, []any{"A", "7", "Z"}, rows[0]["e"])
	require.Equal(t, []any{int32(-3), int32(3)}, rows[0]["s"])
	require.Equal(t, []any{int64(math.MinInt64)}, rows[0]["x"])

	// proto2 repeated fields are unpacked by default; both read the same.
	md2 := messageOf(t, `syntax = "proto2"; message R { repeated int64 n = 1; repeated int64 p = 2 [packed = true]; }`, "R", nil)
	h2 := newRefHarness(t, md2)
	v := encode(t, md2, fields{"n": []any{1, 2}, "p": []any{3, 4}})
	require.Equal(t, cat(vint(1, 1), vint(1, 2), lenField(2, varints(3, 4))), v)
	h2.add(v)
	h2.add(cat(lenField(1, varints(1, 2)), vint(2, 3), vint(2, 4)))
	rows = h2.check()
	require.Equal(t, rows[0], rows[1])
}

const mergeProto = `syntax = "proto3";
message R {
  int64 id = 1;
  string s = 2;
  Inner in = 3;
  repeated Inner list = 4;
  map<string, Inner> m = 5;
  oneof choice { string text = 6; int64 number = 7; Inner place = 8; }
}
message Inner { string a = 1; repeated int64 n = 2; Deep deep = 3; optional int64 o = 4; }
message Deep { string x = 1; string y = 2; }`

// TestLastWinsAndMerge covers fields that occur more than once: the last
// value of a singular scalar wins, a singular message's occurrences are
// merged (at every depth, in list elements and map values too), repeated
// fields append.
func TestLastWinsAndMerge(t *testing.T) {
	md := messageOf(t, mergeProto, "R", nil)
	h := newRefHarness(t, md)
	in1 := cat(str(1, "first"), vint(2, 1), lenField(3, str(1, "x1")), vint(4, 9))
	in2 := cat(vint(2, 2), lenField(3, str(2, "y2")))
	in3 := cat(str(1, "third"), lenField(3, str(1, "x3")))
	h.add(cat(vint(1, 5), str(2, "a"), vint(1, 7), str(2, "b"), // last wins
		lenField(3, in1), lenField(3, in2), lenField(3, in3), // merged
		lenField(4, cat(in1, in2)), lenField(4, in2), // a list element that is a concatenation is merged too
		lenField(5, cat(str(1, "k"), lenField(2, in1), lenField(2, in3))), // a map value occurring twice in its entry
	))
	rows := h.check()
	merged := map[string]any{"a": "third", "n": []any{int64(1), int64(2)}, "deep": map[string]any{"x": "x3", "y": "y2"}, "o": int64(9)}
	require.Equal(t, int64(7), rows[0]["id"])
	require.Equal(t, "b", rows[0]["s"])
	require.Equal(t, merged, rows[0]["in"])
	require.Equal(t, []any{
		map[string]any{"a": "first", "n": []any{int64(1), int64(2)}, "deep": map[string]any{"x": "x1", "y": "y2"}, "o": int64(9)},
		map[string]any{"a": "", "n": []any{int64(2)}, "deep": map[string]any{"x": "", "y": "y2"}, "o": nil},
	}, rows[0]["list"])
	require.Equal(t, map[string]any{"k": map[string]any{"a": "third", "n": []any{int64(1)}, "deep": map[string]any{"x": "x3", "y": ""}, "o": int64(9)}}, rows[0]["m"])
}

func TestOneof(t *testing.T) {
	md := messageOf(t, mergeProto, "R", nil)
	h := newRefHarness(t, md)
	h.add(cat(str(6, "t"), vint(7, 1)))                                       // number
	h.add(cat(vint(7, 1), str(6, "t")))                                       // text
	h.add(cat(lenField(8, str(1, "p")), lenField(8, vint(2, 3))))             // place, merged
	h.add(cat(lenField(8, str(1, "p")), vint(7, 1), lenField(8, vint(2, 3)))) // place, anew
	h.add(cat(str(6, "t"), vint(7, 1), str(6, "")))                           // text, empty but set
	rows := h.check()
	choice := func(r map[string]any) []any { return []any{r["text"], r["number"], r["place"]} }
	require.Equal(t, []any{nil, int64(1), nil}, choice(rows[0]))
	require.Equal(t, []any{"t", nil, nil}, choice(rows[1]))
	require.Equal(t, []any{nil, nil, map[string]any{"a": "p", "n": []any{int64(3)}, "deep": nil, "o": nil}}, choice(rows[2]))
	require.Equal(t, []any{nil, nil, map[string]any{"a": "", "n": []any{int64(3)}, "deep": nil, "o": nil}}, choice(rows[3]))
	require.Equal(t, []any{"", nil, nil}, choice(rows[4]))
}

func TestUnknownFields(t *testing.T) {
	md := messageOf(t, mergeProto, "R", nil)
	h := newRefHarness(t, md)
	unknown := cat(vint(100, 1), tag(101, protowire.Fixed32Type), []byte{1, 2, 3, 4}, tag(102, protowire.Fixed64Type), make([]byte, 8),
		str(103, "\xff not even UTF-8"), tag(104, protowire.StartGroupType), vint(1, 1), tag(5, protowire.StartGroupType),
		tag(5, protowire.EndGroupType), tag(104, protowire.EndGroupType), vint(int(protowire.MaxValidNumber), 1))
	h.add(cat(unknown, vint(1, 3), unknown, lenField(3, cat(unknown, str(1, "a"), unknown)), unknown))
	rows := h.check()
	require.Equal(t, int64(3), rows[0]["id"])
	require.Equal(t, "a", rows[0]["in"].(map[string]any)["a"])
}

func TestMaps(t *testing.T) {
	md := messageOf(t, `syntax = "proto3";
		message R { map<string, string> s = 1; map<int64, int64> i = 2; map<bool, Inner> b = 3; map<sint32, string> z = 4; }
		message Inner { string a = 1; }`, "R", nil)
	h := newRefHarness(t, md)
	entry := func(num int, k, v []byte) []byte { return lenField(num, cat(k, v)) }
	var big []byte
	for i := range 40 {
		big = cat(big, entry(1, str(1, fmt.Sprint(i%17)), str(2, fmt.Sprint("v", i))))
	}
	h.add(cat(
		entry(1, str(1, "a"), str(2, "1")), entry(1, str(1, "b"), str(2, "2")), entry(1, str(1, "a"), str(2, "3")), // a: last wins
		entry(1, nil, str(2, "no key")), entry(1, str(1, "no value"), nil), entry(1, str(2, "value first"), str(1, "c")),
		entry(1, cat(str(1, "d"), vint(9, 1)), str(2, "unknown field in the entry")),
		entry(2, vint(1, 5), vint(2, 1)), entry(2, cat(tag(1, protowire.VarintType), []byte{0x85, 0x00}), vint(2, 2)), // 5 again, not minimally encoded
		entry(3, vint(1, 1), nil), entry(3, vint(1, 0), lenField(2, str(1, "x"))),
		entry(4, vint(1, protowire.EncodeZigZag(-1)), str(2, "m")),
	))
	h.add(big)
	rows := h.check()
	require.Equal(t, map[string]any{"a": "3", "b": "2", "": "no key", "no value": "", "c": "value first", "d": "unknown field in the entry"}, rows[0]["s"])
	require.Equal(t, map[string]any{"5": int64(2)}, rows[0]["i"])
	require.Equal(t, map[string]any{"true": map[string]any{"a": ""}, "false": map[string]any{"a": "x"}}, rows[0]["b"])
	require.Len(t, rows[1]["s"], 17)
	require.Equal(t, "v38", rows[1]["s"].(map[string]any)["4"]) // of 4, 21 and 38

	// Entries keep their order; of equal keys, the last one's place.
	h.add(cat(entry(1, str(1, "x"), nil), entry(1, str(1, "y"), nil), entry(1, str(1, "x"), nil), entry(1, str(1, "z"), nil)))
	h.want = nil
	r := h.b.NewRecordBatch()
	defer r.Release()
	require.Equal(t, []string{"y", "x", "z"}, mapKeys(t, r, "s", 0))
}

func TestProto2(t *testing.T) {
	const p2 = `syntax = "proto2";
		enum Color { GREEN = 1; RED = 2; }
		message R {
		  required int64 id = 1;
		  optional int32 n = 2 [default = 42];
		  optional string s = 3 [default = "dflt"];
		  optional Color c = 4;
		  optional Color c2 = 5 [default = RED];
		  optional bytes by = 6 [default = "\001\002"];
		  optional string plain = 7;
		  optional group G = 8 { optional int32 x = 9; }
		  optional double d = 10 [default = -inf];
		  optional bool flag = 11 [default = true];
		}`
	md := messageOf(t, p2, "R", nil)
	p := iceberg.PrimitiveTypes
	h := newHarness(t, md, protoConfig(), req(1, "id", p.Int64), opt(2, "n", p.Int32), opt(3, "s", p.String), opt(4, "c", p.String),
		opt(5, "c2", p.String), opt(6, "by", p.Binary), opt(7, "plain", p.String), opt(8, "d", p.Float64), opt(9, "flag", p.Bool))
	require.NoError(t, h.append(vint(1, 1)))
	require.NoError(t, h.append(cat(vint(1, 2), vint(2, 7), str(3, ""), vint(4, 1), vint(5, 9), // 9: a closed enum's unknown number
		tag(8, protowire.StartGroupType), vint(9, 1), tag(8, protowire.EndGroupType), str(7, "p"))))
	require.Equal(t, []map[string]any{
		{"id": int64(1), "n": int32(42), "s": "dflt", "c": nil, "c2": "RED", "by": []byte{1, 2}, "plain": nil, "d": math.Inf(-1), "flag": true},
		{"id": int64(2), "n": int32(7), "s": "", "c": "GREEN", "c2": "9", "by": []byte{1, 2}, "plain": "p", "d": math.Inf(-1), "flag": true},
	}, h.rows())
	// A group field's wire type must be a group's.
	requireDecodeError(t, h.append(cat(vint(1, 1), str(8, "x"))), codec.KindMalformedProtobuf, "g")
}

func TestSchemaLookups(t *testing.T) {
	refs := map[string]string{
		"acme/common.proto": `syntax = "proto3"; package acme.common; import "acme/base.proto";
			message Money { string currency = 1; acme.base.Units units = 2; }`,
		"acme/base.proto": `syntax = "proto3"; package acme.base; message Units { int64 n = 1; }`,
	}
	s, err := Parse(`syntax = "proto3"; package acme.v1;
		import "acme/common.proto";
		import "google/protobuf/timestamp.proto";
		message Order { acme.common.Money total = 1; google.protobuf.Timestamp at = 2; }
		message Shipment {
		  message Parcel { int64 weight = 1; message Label { string text = 1; } }
		  message Money { int64 cents = 1; }
		  repeated Parcel parcels = 1;
		}`, refs)
	require.NoError(t, err)
	for _, tc := range []struct {
		path []int
		want protoreflect.FullName
	}{
		{nil, "acme.v1.Order"}, {[]int{0}, "acme.v1.Order"}, {[]int{1}, "acme.v1.Shipment"},
		{[]int{1, 0}, "acme.v1.Shipment.Parcel"}, {[]int{1, 1}, "acme.v1.Shipment.Money"}, {[]int{1, 0, 0}, "acme.v1.Shipment.Parcel.Label"},
	} {
		md, err := s.Message(tc.path)
		require.NoError(t, err)
		require.Equal(t, tc.want, md.FullName())
	}
	_, err = s.Message([]int{2})
	require.ErrorContains(t, err, "message index path [2]: the file has 2 messages, no message 2")
	_, err = s.Message([]int{1, 0, 1})
	require.ErrorContains(t, err, "message index path [1 0 1]: message acme.v1.Shipment.Parcel has 1 messages, no message 1")
	_, err = s.Message([]int{-1})
	require.ErrorContains(t, err, "no message -1")

	for name, want := range map[string]protoreflect.FullName{
		"acme.v1.Order": "acme.v1.Order", ".acme.v1.Order": "acme.v1.Order", "Order": "acme.v1.Order",
		"Parcel": "acme.v1.Shipment.Parcel", "acme.common.Money": "acme.common.Money",
	} {
		md, err := s.MessageByName(name)
		require.NoError(t, err, name)
		require.Equal(t, want, md.FullName())
	}
	_, err = s.MessageByName("Nope")
	require.ErrorContains(t, err, "no message Nope")
	_, err = s.MessageByName("Money") // acme.common.Money is not in this file
	require.NoError(t, err)
	s2, err := Parse(`syntax = "proto3"; message A { message X {} } message B { message X {} }`, nil)
	require.NoError(t, err)
	_, err = s2.MessageByName("X")
	require.ErrorContains(t, err, "message name X is ambiguous: A.X, B.X")

	// A message of an imported type decodes.
	md, err := s.Message(nil)
	require.NoError(t, err)
	h := newRefHarness(t, md)
	h.add(cat(lenField(1, cat(str(1, "EUR"), lenField(2, vint(1, 12999)))), lenField(2, vint(1, 1))))
	rows := h.check()
	require.Equal(t, map[string]any{"currency": "EUR", "units": map[string]any{"n": int64(12999)}}, rows[0]["total"])

	// The nested message [1, 0] decodes as a top-level one.
	parcel, err := s.Message([]int{1, 0})
	require.NoError(t, err)
	hp := newRefHarness(t, parcel)
	hp.add(vint(1, 250))
	require.Equal(t, []map[string]any{{"weight": int64(250)}}, hp.check())
}

// TestReadPast covers fields the table lacks (checked on the wire, not for
// their values), fields named like metadata columns, and columns the
// message lacks.
func TestReadPast(t *testing.T) {
	md := messageOf(t, `syntax = "proto3";
		message R { int64 id = 1; string gone = 2; Inner skipped = 3; string kafka_offset = 4; repeated Inner many = 5; }
		message Inner { string a = 1; Inner next = 2; }`, "R", nil)
	cfg := protoConfig()
	cfg.Metadata.Offset = "kafka_offset"
	p := iceberg.PrimitiveTypes
	h := newHarness(t, md, cfg, req(1, "id", p.Int64), opt(2, "extra", p.String), req(3, "kafka_offset", p.Int64))
	require.NoError(t, h.append(cat(vint(1, 1), str(2, "\xff"), lenField(3, lenField(2, str(1, "\xff"))), str(4, "not the offset"),
		lenField(5, str(1, "x")))))
	requireDecodeError(t, h.append(cat(vint(1, 1), lenField(3, lenField(2, vint(1, 1))))), codec.KindMalformedProtobuf, "skipped.next.a")
	requireDecodeError(t, h.append(cat(vint(1, 1), lenField(5, []byte{0x80}))), codec.KindMalformedProtobuf, "many")
	require.Equal(t, []map[string]any{{"id": int64(1), "extra": nil, "kafka_offset": int64(1)}}, h.rows())
}

// TestConcurrent shares one Decoder between goroutines, each with its own
// builder (run with -race).
func TestConcurrent(t *testing.T) {
	md := messageOf(t, mergeProto, "R", nil)
	schema := tableOf(t, md, protoConfig())
	d, err := New(md, schema, protoConfig())
	require.NoError(t, err)
	value := cat(vint(1, 5), lenField(3, str(1, "a")), lenField(4, str(1, "b")), lenField(5, cat(str(1, "k"), lenField(2, str(1, "v")))))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
			defer b.Release()
			for i := range 500 {
				if err := d.Append(b, testMessage(int64(i), value)); err != nil {
					t.Error(err)
					return
				}
				if i%7 == 0 {
					_ = d.Append(b, testMessage(int64(i), []byte{0x80}))
				}
			}
			r := b.NewRecordBatch()
			defer r.Release()
			if r.NumRows() != 500 {
				t.Errorf("%d rows", r.NumRows())
			}
		})
	}
	wg.Wait()
}

// TestNoAllocations checks the steady state of Append allocates nothing,
// maps with duplicate keys and nested lists included.
func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	md := messageOf(t, mergeProto, "R", nil)
	schema := tableOf(t, md, protoConfig())
	d, err := New(md, schema, protoConfig())
	require.NoError(t, err)
	var entries []byte
	for i := range 20 {
		entries = cat(entries, lenField(5, cat(str(1, fmt.Sprint(i%5)), lenField(2, cat(str(1, "v"), vint(2, 1))))))
	}
	value := cat(vint(1, 5), lenField(3, str(1, "a")), lenField(3, vint(2, 1)), lenField(4, cat(str(1, "b"), lenField(3, str(1, "x")))),
		entries, lenField(5, str(1, "k")), lenField(5, str(1, "k")))
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer b.Release()
	m := testMessage(1, value)
	b.Reserve(10_000)
	require.NoError(t, d.Append(b, m))
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.Append(b, m); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}
