package avro

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"

	"github.com/floe-dev/floe/codec"
)

// One walk over the datum serves three passes, chosen by the reader:
//
//   - check (b == nil, check set): reads everything and checks every value
//     against its column: phase 1, which may fail;
//   - emit (b != nil): reads again and appends: phase 2, which cannot fail
//     because phase 1 passed over the same bytes with the same plan (a
//     change event's after record; a plain value's phase 2 appends from
//     the tape phase 1 kept instead, tape.go);
//   - wire (b == nil, check unset): only the wire structure, to find out
//     whether a record that failed a value check is malformed as well.
//
// Keeping one walk keeps the two phases from ever disagreeing on where a
// value starts.

// maxDepth bounds nesting (records, arrays, maps, unions in skipped
// recursive types), so a hostile datum cannot exhaust the stack.
const maxDepth = 100

type reader struct {
	buf   []byte
	pos   int
	check bool
	depth int
	// zeroItems counts array and map items that take no bytes (null, empty
	// records): nothing else bounds them.
	zeroItems int
	keys      []span // map keys being checked for duplicates
	// tape, when set (phase 1 of a plain value), receives what phase 2
	// appends, in plan order, so that it need not read the datum again:
	// see tape.go.
	tape   []int64
	taping bool
}

// record puts x on the tape, if one is kept.
func (r *reader) record(x int64) {
	if r.taping {
		r.tape = append(r.tape, x)
	}
}

// span is a key's position in buf.
type span struct{ off, n int32 }

func (r *reader) malformed(what string) *codec.FieldError {
	return codec.NewFieldError(codec.KindMalformedAvro, what+" at byte "+strconv.Itoa(r.pos))
}

func (r *reader) truncated() *codec.FieldError { return r.malformed("datum ends early") }

// varint reads a zigzag-encoded long.
func (r *reader) varint() (int64, *codec.FieldError) {
	if r.pos < len(r.buf) && r.buf[r.pos] < 0x80 { // -64..63: lengths, indexes, counts
		u := uint64(r.buf[r.pos])
		r.pos++
		return int64(u>>1) ^ -int64(u&1), nil
	}
	var u uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if r.pos >= len(r.buf) {
			return 0, r.truncated()
		}
		c := r.buf[r.pos]
		r.pos++
		if shift == 63 && c > 1 {
			return 0, r.malformed("varint overflows 64 bits")
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, r.malformed("varint longer than 10 bytes")
}

func (r *reader) int32() (int64, *codec.FieldError) {
	v, err := r.varint()
	if err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
		err = r.malformed("int beyond 32 bits")
	}
	return v, err
}

// bytes reads a length-prefixed byte string.
func (r *reader) bytes() ([]byte, *codec.FieldError) {
	start := r.pos
	n, err := r.varint()
	switch {
	case err != nil:
		return nil, err
	case n < 0:
		r.pos = start
		return nil, r.malformed("negative length")
	case n > int64(len(r.buf)-r.pos):
		r.pos = start
		return nil, r.malformed("length beyond the end of the datum")
	}
	b := r.buf[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b, nil
}

func (r *reader) fixed(n int) ([]byte, *codec.FieldError) {
	if n > len(r.buf)-r.pos {
		return nil, r.truncated()
	}
	b := r.buf[r.pos : r.pos+n]
	r.pos += n
	return b, nil
}

// index reads a union branch or enum symbol index below n.
func (r *reader) index(n int, what string) (int, *codec.FieldError) {
	start := r.pos
	i, err := r.varint()
	if err == nil && (i < 0 || i >= int64(n)) {
		r.pos = start
		err = r.malformed(what + " index out of range")
	}
	return int(i), err
}

// blockCount reads the item count of the next array or map block (0 at
// the end), skipping the byte size that a negative count announces.
func (r *reader) blockCount(elem *node) (int, *codec.FieldError) {
	start := r.pos
	c, err := r.varint()
	if err != nil {
		return 0, err
	}
	if c < 0 {
		if c == math.MinInt64 {
			r.pos = start
			return 0, r.malformed("invalid block count")
		}
		c = -c
		if size, err := r.varint(); err != nil {
			return 0, err
		} else if size < 0 || size > int64(len(r.buf)-r.pos) {
			r.pos = start
			return 0, r.malformed("invalid block size")
		}
	}
	if elem.minSize > 0 {
		if c > int64((len(r.buf)-r.pos)/elem.minSize) {
			r.pos = start
			return 0, r.malformed("block count beyond the end of the datum")
		}
	} else if r.zeroItems += int(min(c, math.MaxInt32)); r.zeroItems > len(r.buf) {
		r.pos = start
		return 0, codec.NewFieldError(codec.KindRecordTooLarge,
			"more items of zero bytes than the datum has bytes")
	}
	return int(c), nil
}

// value reads one value of n and, when b is set, appends it to b.
func (r *reader) value(n *node, b array.Builder) *codec.FieldError {
	check := r.check && n.conv != cSkip
	switch n.op {
	case opNull:
		if b != nil {
			b.AppendNull()
		}
	case opBool:
		c, err := r.fixed(1)
		if err != nil {
			return err
		}
		if c[0] > 1 {
			r.pos--
			return r.malformed("boolean byte not 0 or 1")
		}
		if check {
			r.record(int64(c[0]))
		}
		if b != nil {
			b.(*array.BooleanBuilder).Append(c[0] == 1)
		}
	case opInt, opLong:
		var (
			v   int64
			err *codec.FieldError
		)
		if n.op == opInt {
			v, err = r.int32()
		} else {
			v, err = r.varint()
		}
		if err != nil {
			return err
		}
		if check || b != nil {
			return r.integer(n, v, b)
		}
	case opFloat:
		c, err := r.fixed(4)
		if err != nil {
			return err
		}
		if check {
			r.record(int64(binary.LittleEndian.Uint32(c)))
		}
		if b != nil {
			f := math.Float32frombits(binary.LittleEndian.Uint32(c))
			if n.conv == cFloat32 {
				b.(*array.Float32Builder).Append(f)
			} else {
				b.(*array.Float64Builder).Append(float64(f))
			}
		}
	case opDouble:
		c, err := r.fixed(8)
		if err != nil {
			return err
		}
		if check {
			r.record(int64(binary.LittleEndian.Uint64(c)))
		}
		if b != nil {
			b.(*array.Float64Builder).Append(math.Float64frombits(binary.LittleEndian.Uint64(c)))
		}
	case opBytes, opString, opFixed:
		var (
			c   []byte
			err *codec.FieldError
		)
		if n.op == opFixed {
			c, err = r.fixed(n.size)
		} else {
			c, err = r.bytes()
		}
		if err != nil {
			return err
		}
		if check || b != nil {
			return r.binary(n, c, check, b)
		}
	case opEnum:
		i, err := r.index(len(n.symbols), "enum symbol")
		if err != nil {
			return err
		}
		if check {
			r.record(int64(i))
		}
		if b != nil {
			codec.AppendBytes(b, n.symbols[i])
		}
	case opOptional:
		start := r.pos
		i, err := r.index(2, "union branch")
		if err != nil {
			return err
		}
		if int64(i) != n.nullIndex {
			if check {
				r.record(1)
			}
			return r.value(n.elem, b)
		}
		if check && !n.nullable {
			r.pos = start
			return codec.NewFieldError(codec.KindMissingRequired, "value is null")
		}
		if check {
			r.record(0)
		}
		if b != nil {
			b.AppendNull()
		}
	case opUnion:
		i, err := r.index(len(n.branches), "union branch")
		if err != nil {
			return err
		}
		return r.nested(n.branches[i], nil)
	case opRecord, opArray, opMap:
		return r.nested(n, b)
	}
	return nil
}

// nested reads a record, array or map (or a skipped union branch) one level
// deeper.
func (r *reader) nested(n *node, b array.Builder) *codec.FieldError {
	if r.depth++; r.depth > maxDepth {
		return codec.NewFieldError(codec.KindRecordTooLarge, "nested deeper than "+strconv.Itoa(maxDepth)+" levels")
	}
	var err *codec.FieldError
	switch n.op {
	case opRecord:
		var sb *array.StructBuilder
		if b != nil {
			sb = b.(*array.StructBuilder)
			sb.Append(true)
			for _, i := range n.missing {
				sb.FieldBuilder(i).AppendNull()
			}
		}
		err = r.fields(n, nil, sb)
	case opArray:
		err = r.array(n, b)
	case opMap:
		err = r.mapValue(n, b)
	default:
		err = r.value(n, b)
	}
	r.depth--
	return err
}

// fields reads a record's fields into the columns of rb (the top level) or
// sb (a struct), or into nothing.
func (r *reader) fields(n *node, rb codec.Row, sb *array.StructBuilder) *codec.FieldError {
	for i := range n.fields {
		f := &n.fields[i]
		var fb array.Builder
		if f.col >= 0 {
			switch {
			case sb != nil:
				fb = sb.FieldBuilder(f.col)
			case rb != nil:
				fb = rb.Field(f.col)
			}
		}
		if err := r.value(f.n, fb); err != nil {
			return err.In(f.name)
		}
	}
	return nil
}

// listBuilder is satisfied by *array.ListBuilder and *array.LargeListBuilder.
type listBuilder interface {
	array.Builder
	Append(bool)
	ValueBuilder() array.Builder
}

func (r *reader) array(n *node, b array.Builder) *codec.FieldError {
	var eb array.Builder
	if b != nil {
		lb := b.(listBuilder)
		lb.Append(true)
		eb = lb.ValueBuilder()
	}
	slot := r.countSlot(n)
	for i := 0; ; {
		count, err := r.blockCount(n.elem)
		if err != nil {
			return err
		}
		if count == 0 {
			r.setCount(slot, i)
			return nil
		}
		for range count {
			if err := r.value(n.elem, eb); err != nil {
				return err.InIndex(i)
			}
			i++
		}
	}
}

func (r *reader) mapValue(n *node, b array.Builder) *codec.FieldError {
	var kb, ib array.Builder
	if b != nil {
		mb := b.(*array.MapBuilder)
		mb.Append(true)
		kb, ib = mb.KeyBuilder(), mb.ItemBuilder()
	}
	check := r.check && n.conv != cSkip
	mark := len(r.keys)
	defer func() { r.keys = r.keys[:mark] }()
	slot := r.countSlot(n)
	for i := 0; ; {
		count, err := r.blockCount(n.elem)
		if err != nil {
			return err
		}
		if count == 0 {
			r.setCount(slot, i)
			break
		}
		for range count {
			start := r.pos
			k, err := r.bytes()
			if err != nil {
				return err.InIndex(i)
			}
			if check {
				if !utf8.Valid(k) {
					r.pos = start
					return codec.NewFieldError(codec.KindInvalidValue, "map key is not valid UTF-8").InIndex(i)
				}
				r.keys = append(r.keys, span{int32(r.pos - len(k)), int32(len(k))})
				r.record(spanOf(r.pos-len(k), len(k)))
			}
			if kb != nil {
				codec.AppendBytes(kb, k)
			}
			if err := r.value(n.elem, ib); err != nil {
				if check || utf8.Valid(k) {
					return err.InKey(k)
				}
				return err.InIndex(i)
			}
			i++
		}
	}
	if check {
		if k, dup := r.duplicate(r.keys[mark:]); dup {
			return codec.NewFieldError(codec.KindInvalidValue, "map key appears twice").InKey(k)
		}
	}
	return nil
}

// smallMap is the entry count up to which duplicate keys are found by
// comparing every pair rather than by sorting.
const smallMap = 16

// duplicate reports a key that appears twice among keys, which it may
// reorder.
func (r *reader) duplicate(keys []span) ([]byte, bool) {
	key := func(s span) []byte { return r.buf[s.off : s.off+s.n] }
	if len(keys) <= smallMap {
		for i := 1; i < len(keys); i++ {
			for j := range i {
				if string(key(keys[i])) == string(key(keys[j])) {
					return key(keys[i]), true
				}
			}
		}
		return nil, false
	}
	slices.SortFunc(keys, func(a, b span) int { return compareBytes(key(a), key(b)) })
	for i := 1; i < len(keys); i++ {
		if string(key(keys[i])) == string(key(keys[i-1])) {
			return key(keys[i]), true
		}
	}
	return nil, false
}

func compareBytes(a, b []byte) int {
	switch {
	case string(a) < string(b):
		return -1
	case string(a) > string(b):
		return 1
	}
	return 0
}

// integer converts an int or long v as n says and appends it to b.
func (r *reader) integer(n *node, v int64, b array.Builder) *codec.FieldError {
	if r.taping {
		x, err := n.column(v)
		if err != nil {
			return err
		}
		r.record(x)
		if b == nil {
			return nil
		}
	}
	switch n.conv {
	case cInt32:
		if b != nil {
			b.(*array.Int32Builder).Append(int32(v))
		}
	case cInt64:
		if b != nil {
			b.(*array.Int64Builder).Append(v)
		}
	case cFloat64:
		if b != nil {
			b.(*array.Float64Builder).Append(float64(v))
		}
	case cDate:
		if b != nil {
			b.(*array.Date32Builder).Append(arrow.Date32(v))
		}
	case cTime:
		if v < 0 || v >= n.day {
			return codec.NewFieldError(codec.KindOutOfRange, "time of day outside 00:00 to 24:00")
		}
		if b != nil {
			b.(*array.Time64Builder).Append(arrow.Time64(v * n.mul))
		}
	case cTimestamp:
		t, ok := v, true
		if n.div > 0 {
			t = floorDiv(v, n.div)
		} else {
			t, ok = mulCheck(v, n.mul)
		}
		if !ok {
			return codec.NewFieldError(codec.KindOutOfRange, "outside the "+n.tname+" range")
		}
		if b != nil {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(t))
		}
	}
	return nil
}

// binary converts bytes, a string or a fixed c as n says and appends it to
// b.
func (r *reader) binary(n *node, c []byte, check bool, b array.Builder) *codec.FieldError {
	switch n.conv {
	case cString:
		if check && !utf8.Valid(c) {
			return codec.NewFieldError(codec.KindInvalidValue, "string is not valid UTF-8")
		}
		if check {
			r.record(spanOf(r.pos-len(c), len(c)))
		}
		if b != nil {
			codec.AppendBytes(b, c)
		}
	case cBinary, cFixed:
		if check {
			r.record(spanOf(r.pos-len(c), len(c)))
		}
		if b == nil {
			break
		}
		if n.conv == cBinary {
			codec.AppendBytes(b, c)
		} else {
			appendFixed(b, c)
		}
	case cUUIDText:
		var buf [16]byte
		u, ok := codec.AppendUUID(buf[:0], c)
		if !ok {
			return codec.NewFieldError(codec.KindInvalidValue, "not a canonical uuid (8-4-4-4-12 hex digits)")
		}
		if check {
			r.record(int64(binary.LittleEndian.Uint64(u[:8])))
			r.record(int64(binary.LittleEndian.Uint64(u[8:])))
		}
		if b != nil {
			appendFixed(b, u)
		}
	case cDecimal:
		d, err := decimalOf(c, n.shift, n.prec, n.tname)
		if err != nil {
			return err
		}
		if check {
			r.record(int64(d.LowBits()))
			r.record(d.HighBits())
		}
		if b != nil {
			b.(*array.Decimal128Builder).Append(d)
		}
	}
	return nil
}

// appendFixed appends 16 or N bytes to a uuid or fixed[N] builder.
func appendFixed(b array.Builder, v []byte) {
	switch b := b.(type) {
	case *extensions.UUIDBuilder:
		b.AppendBytes([16]byte(v))
	case *array.FixedSizeBinaryBuilder:
		b.Append(v)
	}
}

// mulCheck returns a×b and whether it did not overflow.
func mulCheck(a, b int64) (int64, bool) {
	if a == 0 || b == 1 {
		return a, true
	}
	c := a * b
	if c/b != a || a == -1 && b == math.MinInt64 {
		return 0, false
	}
	return c, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
