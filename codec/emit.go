package codec

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// Phase 2: append the values validated by phase 1. Nothing here can fail,
// which is what makes a row all-or-nothing.

// listBuilder is satisfied by *array.ListBuilder and *array.LargeListBuilder.
type listBuilder interface {
	array.Builder
	Append(bool)
	ValueBuilder() array.Builder
}

// emitRow appends the row whose root struct value is root.
func (d *Decoder) emitRow(st *state, b Row, root int32, m *Message) {
	first := st.vals[root].first
	for i, f := range d.root.fields {
		if f.kind == kMeta {
			if f.meta >= metaOp {
				st.change.appendChange(f, b.Field(i))
			} else {
				appendMeta(f, b.Field(i), m)
			}
			continue
		}
		st.emit(f, b.Field(i), st.kids[first+int32(i)])
	}
}

// emit appends value vi (or null) of plan n to b.
func (st *state) emit(n *node, b array.Builder, vi int32) {
	if vi < 0 {
		b.AppendNull()
		return
	}
	v := &st.vals[vi]
	switch n.kind {
	case kBool:
		b.(*array.BooleanBuilder).Append(v.i != 0)
	case kInt32:
		b.(*array.Int32Builder).Append(int32(v.i))
	case kInt64:
		b.(*array.Int64Builder).Append(v.i)
	case kFloat32:
		b.(*array.Float32Builder).Append(math.Float32frombits(uint32(v.i)))
	case kFloat64:
		b.(*array.Float64Builder).Append(math.Float64frombits(uint64(v.i)))
	case kDecimal:
		b.(*array.Decimal128Builder).Append(decimal128.New(v.hi, uint64(v.i)))
	case kDate:
		b.(*array.Date32Builder).Append(arrow.Date32(v.i))
	case kTime:
		b.(*array.Time64Builder).Append(arrow.Time64(v.i))
	case kTimestamp:
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(v.i))
	case kString, kBinary:
		appendBytes(b, st.bytes(v))
	case kFixed:
		b.(*array.FixedSizeBinaryBuilder).Append(st.bytes(v))
	case kUUID:
		b.(interface{ StorageBuilder() array.Builder }).StorageBuilder().(*array.FixedSizeBinaryBuilder).Append(st.bytes(v))
	case kStruct:
		sb := b.(*array.StructBuilder)
		sb.Append(true)
		for i, f := range n.fields {
			st.emit(f, sb.FieldBuilder(i), st.kids[v.first+int32(i)])
		}
	case kList:
		lb := b.(listBuilder)
		lb.Append(true)
		eb := lb.ValueBuilder()
		for _, c := range st.kids[v.first : v.first+v.n] {
			st.emit(n.elem, eb, c)
		}
	case kMap:
		mb := b.(*array.MapBuilder)
		mb.Append(true)
		kb, ib := mb.KeyBuilder(), mb.ItemBuilder()
		for j := v.first; j < v.first+2*v.n; j += 2 {
			st.emit(n.key, kb, st.kids[j])
			st.emit(n.elem, ib, st.kids[j+1])
		}
	}
}

// appendBytes appends to any string or binary builder without converting
// to string.
func appendBytes(b array.Builder, v []byte) {
	switch b := b.(type) {
	case *array.StringBuilder:
		b.BinaryBuilder.Append(v)
	case *array.LargeStringBuilder:
		b.BinaryBuilder.Append(v)
	case *array.BinaryBuilder:
		b.Append(v)
	}
}

func appendString(b array.Builder, v string) {
	switch b := b.(type) {
	case *array.StringBuilder:
		b.Append(v)
	case *array.LargeStringBuilder:
		b.Append(v)
	case *array.BinaryBuilder:
		b.AppendString(v)
	}
}
