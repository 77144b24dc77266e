package protobuf

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/floe-dev/floe/codec"
)

// The reference: what the protobuf module reads from the same bytes,
// mapped to plain values by the documented rules, field by field.

// refRow maps a message read by the protobuf module to the row the
// decoder must append for it, in the form plain returns.
func refRow(m protoreflect.Message) map[string]any {
	out := map[string]any{}
	fds := m.Descriptor().Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if fd.Kind() == protoreflect.MessageKind && !fd.IsMap() && wellKnown(fd.Message()) == wktEmpty {
			continue // no column
		}
		name := string(fd.Name())
		switch {
		case fd.IsMap():
			mp := map[string]any{}
			m.Get(fd).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				mp[fmt.Sprint(k.Interface())] = refValue(fd.MapValue(), v)
				return true
			})
			out[name] = mp
		case fd.IsList():
			l := []any{}
			list := m.Get(fd).List()
			for j := range list.Len() {
				l = append(l, refValue(fd, list.Get(j)))
			}
			out[name] = l
		case fd.HasPresence() && !m.Has(fd):
			out[name] = nil
		default:
			out[name] = refValue(fd, m.Get(fd))
		}
	}
	return out
}

func refValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return int32(v.Int())
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return int64(v.Uint())
	case protoreflect.FloatKind:
		return float32(v.Float())
	case protoreflect.DoubleKind:
		return v.Float()
	case protoreflect.StringKind:
		return v.String()
	case protoreflect.BytesKind:
		return append([]byte{}, v.Bytes()...)
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return fmt.Sprint(int32(v.Enum()))
	}
	msg := v.Message()
	md := msg.Descriptor()
	switch wellKnown(md) {
	case wktTimestamp:
		// time normalises nanos into [0, 1e9): UnixMicro truncates toward the past.
		return time.Unix(msg.Get(md.Fields().ByNumber(1)).Int(), msg.Get(md.Fields().ByNumber(2)).Int()).UnixMicro()
	case wktDuration:
		// Exactly, beyond time.Duration's ±292 years; Quo truncates toward zero.
		ns := new(big.Int).Mul(big.NewInt(msg.Get(md.Fields().ByNumber(1)).Int()), big.NewInt(1e9))
		ns.Add(ns, big.NewInt(msg.Get(md.Fields().ByNumber(2)).Int()))
		return ns.Quo(ns, big.NewInt(1e3)).Int64()
	case wktWrapper:
		inner := md.Fields().ByNumber(1)
		return refValue(inner, msg.Get(inner))
	}
	return refRow(msg)
}

// randomEvent draws a message of allTypes; about half of the fields are
// set. Unsigned 64-bit values stay within the long range.
func randomEvent(r *rand.Rand) fields {
	str := func() string {
		rs := []rune("abcdé€😀xyz")
		out := make([]rune, r.IntN(6))
		for i := range out {
			out[i] = rs[r.IntN(len(rs))]
		}
		return string(out)
	}
	maybe := func() bool { return r.IntN(2) == 0 }
	addr := func() fields {
		a := fields{}
		if maybe() {
			a["city"] = str()
		}
		if maybe() {
			a["zip"] = str()
		}
		if maybe() {
			a["extra"] = []any{r.NormFloat64(), r.Float64()}
		}
		return a
	}
	tsv := func() fields {
		return fields{"seconds": r.Int64N(8_000_000_000) - 4_000_000_000, "nanos": r.Int32N(1_000_000_000)}
	}
	v := fields{}
	set := func(name string, x func() any) {
		if maybe() {
			v[name] = x()
		}
	}
	set("b", func() any { return maybe() })
	set("i32", func() any { return r.Int32() - 1<<30 })
	set("si32", func() any { return -r.Int32() })
	set("sf32", func() any { return r.Int32() - 1<<30 })
	set("u32", func() any { return r.Uint32() })
	set("f32", func() any { return r.Uint32() })
	set("i64", func() any { return r.Int64() - 1<<62 })
	set("si64", func() any { return -r.Int64() })
	set("sf64", func() any { return r.Int64() - 1<<62 })
	set("u64", func() any { return uint64(r.Int64()) })
	set("f64", func() any { return uint64(r.Int64()) })
	set("fl", func() any { return r.Float32() * 1e10 })
	set("db", func() any { return r.NormFloat64() * 1e300 })
	set("s", func() any { return str() })
	set("by", func() any { return []byte(str()) })
	set("color", func() any { return r.IntN(5) }) // 3 and 4 are not named
	set("addr", func() any { return addr() })
	set("tags", func() any { return []any{str(), str()} })
	set("nums", func() any { return []any{r.Int64(), -r.Int64(), int64(r.IntN(100))} })
	set("items", func() any { return []any{fields{"sku": str(), "qty": r.Int32(), "color": r.IntN(3)}, fields{}} })
	set("attrs", func() any { return map[string]any{str(): r.Int64(), "k" + str(): -r.Int64()} })
	set("by_id", func() any { return map[int32]any{r.Int32(): addr(), -r.Int32(): fields{}} })
	set("opt_s", func() any { return str() })
	set("opt_l", func() any { return r.Int64() })
	switch r.IntN(4) {
	case 0:
		v["text"] = str()
	case 1:
		v["number"] = r.Int64()
	case 2:
		v["place"] = addr()
	}
	set("ts", func() any { return tsv() })
	set("dur", func() any {
		s := r.Int64N(1_000_000) - 500_000
		n := r.Int32N(1_000_000_000)
		if s < 0 {
			n = -n
		}
		return fields{"seconds": s, "nanos": n}
	})
	set("w_i64", func() any { return fields{"value": r.Int64()} })
	set("w_s", func() any { return fields{"value": str()} })
	set("w_b", func() any { return fields{"value": maybe()} })
	set("w_i32", func() any { return fields{"value": r.Int32()} })
	set("w_u32", func() any { return fields{"value": r.Uint32()} })
	set("w_u64", func() any { return fields{"value": uint64(r.Int64())} })
	set("w_f", func() any { return fields{"value": r.Float32()} })
	set("w_d", func() any { return fields{"value": r.Float64()} })
	set("w_by", func() any { return fields{"value": []byte(str())} })
	set("nothing", func() any { return fields{} })
	set("flags", func() any { return []any{maybe(), maybe(), true} })
	set("bmap", func() any { return map[bool]any{maybe(): str()} })
	set("times", func() any { return []any{tsv(), tsv()} })
	return v
}

// packedFields are allTypes' top-level packed fields and their element
// wire types.
var packedFields = map[protowire.Number]protowire.Type{19: protowire.VarintType, 40: protowire.VarintType}

// mutate rewrites a valid message into another valid encoding, or into a
// merge of two: fields reordered and repeated, packed runs unpacked or
// split, unknown fields of every wire type added, messages concatenated.
func mutate(r *rand.Rand, a, b []byte) []byte {
	type rec struct {
		num protowire.Number
		typ protowire.Type
		raw []byte
	}
	split := func(v []byte) []rec {
		var out []rec
		for len(v) > 0 {
			num, typ, n := protowire.ConsumeField(v)
			if n < 0 {
				panic(protowire.ParseError(n))
			}
			out = append(out, rec{num, typ, v[:n]})
			v = v[n:]
		}
		return out
	}
	recs := split(a)
	if r.IntN(3) == 0 {
		recs = append(recs, split(b)...) // a merge, in order
	}
	var out []rec
	for _, x := range recs {
		if _, ok := packedFields[x.num]; ok && x.typ == protowire.BytesType && r.IntN(2) == 0 {
			_, _, n := protowire.ConsumeTag(x.raw)
			run, _ := protowire.ConsumeBytes(x.raw[n:])
			var vals [][]byte
			for len(run) > 0 {
				_, m := protowire.ConsumeVarint(run)
				vals = append(vals, run[:m])
				run = run[m:]
			}
			cut := r.IntN(len(vals) + 1)
			if cut > 0 { // a shorter packed run first
				var p []byte
				for _, v := range vals[:cut] {
					p = append(p, v...)
				}
				out = append(out, rec{x.num, x.typ, protowire.AppendBytes(protowire.AppendTag(nil, x.num, protowire.BytesType), p)})
			}
			for _, v := range vals[cut:] { // then unpacked elements
				out = append(out, rec{x.num, protowire.VarintType, append(protowire.AppendTag(nil, x.num, protowire.VarintType), v...)})
			}
			continue
		}
		out = append(out, x)
		if r.IntN(8) == 0 {
			out = append(out, x) // a repeat: last wins, or one more element
		}
	}
	if r.IntN(2) == 0 {
		// Any order: both readers read the same bytes, and must agree on
		// what the last occurrence, the oneof member set, the list order is.
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	var v []byte
	for _, x := range out {
		if r.IntN(6) == 0 {
			v = append(v, unknownField(r)...)
		}
		v = append(v, x.raw...)
	}
	return v
}

// unknownField is a field of a number allTypes does not declare.
func unknownField(r *rand.Rand) []byte {
	num := protowire.Number(1000 + r.IntN(100_000))
	typ := protowire.Type([]int{0, 1, 2, 3, 5}[r.IntN(5)])
	b := protowire.AppendTag(nil, num, typ)
	switch typ {
	case protowire.VarintType:
		return protowire.AppendVarint(b, r.Uint64())
	case protowire.Fixed32Type:
		return protowire.AppendFixed32(b, r.Uint32())
	case protowire.Fixed64Type:
		return protowire.AppendFixed64(b, r.Uint64())
	case protowire.BytesType:
		return protowire.AppendBytes(b, []byte("\xff\x00opaque"))
	}
	b = append(b, vint(1, 5)...) // a group, with a nested group
	b = append(b, tag(2, protowire.StartGroupType)...)
	b = append(b, str(3, "g")...)
	b = append(b, tag(2, protowire.EndGroupType)...)
	return protowire.AppendTag(b, num, protowire.EndGroupType)
}

// TestReference decodes random messages of every field kind, re-encoded on
// the wire in many valid ways, and compares each row with what the
// protobuf module reads from the same bytes.
func TestReference(t *testing.T) {
	md := allTypesMessage(t)
	cfg := metadataConfig()
	h := newHarnessArrow(t, md, cfg, tableOf(t, md, cfg))
	r := rand.New(rand.NewPCG(1, 2))
	var want []map[string]any
	for i := range 400 {
		value := mutate(r, encode(t, md, randomEvent(r)), encode(t, md, randomEvent(r)))
		ref := dynamicpb.NewMessage(md)
		require.NoError(t, proto.Unmarshal(value, ref), "message %d", i)
		require.NoError(t, h.append(value), "message %d", i)
		row := refRow(ref)
		delete(row, "nothing")
		row["kafka_topic"], row["kafka_partition"], row["kafka_offset"] = "events", int32(3), int64(i+1)
		row["kafka_timestamp"], row["kafka_key"] = testMessage(0, nil).Timestamp.UnixMicro(), []byte("k1")
		want = append(want, row)
	}
	got := h.rows()
	for i := range want {
		require.Equal(t, want[i], got[i], "message %d", i)
	}
}

// TestTruncatedReference cuts valid messages at every byte: a prefix is
// malformed exactly when the protobuf module cannot read it either (a cut
// between two fields leaves a valid message), and nothing is appended then.
func TestTruncatedReference(t *testing.T) {
	md := allTypesMessage(t)
	cfg := metadataConfig()
	h := newHarnessArrow(t, md, cfg, tableOf(t, md, cfg))
	r := rand.New(rand.NewPCG(3, 4))
	for range 10 {
		value := mutate(r, encode(t, md, randomEvent(r)), nil)
		for n := range len(value) + 1 {
			refErr := proto.Unmarshal(value[:n], dynamicpb.NewMessage(md))
			err := h.append(value[:n])
			if refErr == nil {
				require.NoError(t, err, "prefix of %d/%d bytes", n, len(value))
				continue
			}
			kind, _ := codec.KindOf(err)
			require.Equal(t, codec.KindMalformedProtobuf, kind, "prefix of %d/%d bytes: %v", n, len(value), err)
		}
	}
}
