package avro

import (
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/floe-dev/floe/codec"
)

// The tape: phase 1 of a plain value (not a change event) writes down,
// in the order the plan visits them, what phase 2 will append — integers
// already converted to the column's unit, float bits, the position of
// string and binary bytes in the datum, parsed uuids and decimals,
// optional values' presence, item counts — so that phase 2 appends from
// the tape without reading varints, union indexes and block headers
// again. Nothing is recorded for values that are read past.

// spanOf packs the position and length of bytes in the datum.
func spanOf(off, n int) int64 { return int64(off)<<32 | int64(uint32(n)) }

// countSlot reserves the tape entry of an array's or map's item count,
// known once its last block is read (-1: not recorded).
func (r *reader) countSlot(n *node) int {
	if !r.taping || !r.check || n.conv == cSkip {
		return -1
	}
	r.tape = append(r.tape, 0)
	return len(r.tape) - 1
}

func (r *reader) setCount(slot, count int) {
	if slot >= 0 {
		r.tape[slot] = int64(count)
	}
}

// column is the column value of integer v, or why it has none.
func (n *node) column(v int64) (int64, *codec.FieldError) {
	switch n.conv {
	case cTime:
		if v < 0 || v >= n.day {
			return 0, codec.NewFieldError(codec.KindOutOfRange, "time of day outside 00:00 to 24:00")
		}
		return v * n.mul, nil
	case cTimestamp:
		if n.div > 0 {
			return floorDiv(v, n.div), nil
		}
		t, ok := mulCheck(v, n.mul)
		if !ok {
			return 0, codec.NewFieldError(codec.KindOutOfRange, "outside the "+n.tname+" range")
		}
		return t, nil
	}
	return v, nil
}

// tapeReader is phase 2 from the tape: it cannot fail.
type tapeReader struct {
	tape []int64
	i    int
	buf  []byte
}

func (t *tapeReader) next() int64 {
	x := t.tape[t.i]
	t.i++
	return x
}

func (t *tapeReader) bytes() []byte {
	x := t.next()
	off, n := int(x>>32), int(uint32(x))
	return t.buf[off : off+n]
}

// fields appends a record's mapped fields to the columns of rb (the top
// level) or sb (a struct).
func (t *tapeReader) fields(n *node, rb codec.Row, sb *array.StructBuilder) {
	for i := range n.fields {
		f := &n.fields[i]
		if f.col < 0 {
			continue
		}
		if sb != nil {
			t.value(f.n, sb.FieldBuilder(f.col))
		} else {
			t.value(f.n, rb.Field(f.col))
		}
	}
}

func (t *tapeReader) value(n *node, b array.Builder) {
	switch n.op {
	case opNull:
		b.AppendNull()
	case opBool:
		b.(*array.BooleanBuilder).Append(t.next() == 1)
	case opInt, opLong:
		v := t.next()
		switch n.conv {
		case cInt32:
			b.(*array.Int32Builder).Append(int32(v))
		case cInt64:
			b.(*array.Int64Builder).Append(v)
		case cFloat64:
			b.(*array.Float64Builder).Append(float64(v))
		case cDate:
			b.(*array.Date32Builder).Append(arrow.Date32(v))
		case cTime:
			b.(*array.Time64Builder).Append(arrow.Time64(v))
		case cTimestamp:
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(v))
		}
	case opFloat:
		f := math.Float32frombits(uint32(t.next()))
		if n.conv == cFloat32 {
			b.(*array.Float32Builder).Append(f)
		} else {
			b.(*array.Float64Builder).Append(float64(f))
		}
	case opDouble:
		b.(*array.Float64Builder).Append(math.Float64frombits(uint64(t.next())))
	case opBytes, opString, opFixed:
		switch n.conv {
		case cString, cBinary:
			codec.AppendBytes(b, t.bytes())
		case cFixed:
			appendFixed(b, t.bytes())
		case cUUIDText:
			var u [16]byte
			binary.LittleEndian.PutUint64(u[:8], uint64(t.next()))
			binary.LittleEndian.PutUint64(u[8:], uint64(t.next()))
			appendFixed(b, u[:])
		case cDecimal:
			lo := uint64(t.next())
			b.(*array.Decimal128Builder).Append(decimal128.New(t.next(), lo))
		}
	case opEnum:
		codec.AppendBytes(b, n.symbols[t.next()])
	case opOptional:
		if t.next() == 1 {
			t.value(n.elem, b)
		} else {
			b.AppendNull()
		}
	case opRecord:
		sb := b.(*array.StructBuilder)
		sb.Append(true)
		for _, i := range n.missing {
			sb.FieldBuilder(i).AppendNull()
		}
		t.fields(n, nil, sb)
	case opArray:
		lb := b.(listBuilder)
		lb.Append(true)
		eb := lb.ValueBuilder()
		for range t.next() {
			t.value(n.elem, eb)
		}
	case opMap:
		mb := b.(*array.MapBuilder)
		mb.Append(true)
		kb, ib := mb.KeyBuilder(), mb.ItemBuilder()
		for range t.next() {
			codec.AppendBytes(kb, t.bytes())
			t.value(n.elem, ib)
		}
	}
}
