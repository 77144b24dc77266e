package protobuf

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/floe-dev/floe/codec"
)

// Phase 2 appends from frames that phase 1 checked: nothing here can fail.

// emitFields appends one row of m's columns from frame fr at depth d to rb
// (the top level) or sb (a struct).
func (s *state) emitFields(m *message, fr []slot, d int, rb codec.Row, sb *array.StructBuilder) {
	for i := range m.cols {
		c := &m.cols[i]
		var b array.Builder
		if sb != nil {
			b = sb.FieldBuilder(c.col)
		} else {
			b = rb.Field(c.col)
		}
		if c.f == nil {
			b.AppendNull()
			continue
		}
		s.emitField(c.f, fr[c.f.slot], d, b)
	}
}

// emitField appends the value of f at depth d, found in sl.
func (s *state) emitField(f *field, sl slot, d int, b array.Builder) {
	switch {
	case f.shape == shapeList:
		s.emitList(f, sl, d, b)
	case f.shape == shapeMap:
		s.emitMap(f, sl, d, b)
	case sl.n == 0:
		switch f.absent {
		case absNull:
			b.AppendNull()
		case absDefault:
			if isBytes(f.v.kind) {
				s.emitBytes(&f.v, f.defBytes, b)
			} else {
				s.emitScalar(&f.v, f.def, b)
			}
		case absEmpty:
			s.emitMessage(&f.v, d+1, -1, false, b)
		}
	case f.v.msg != nil:
		s.emitMessage(&f.v, d+1, sl.head, false, b)
	case f.v.conv == cUUIDText:
		appendFixed(b, s.uuids[sl.v][:])
	case isBytes(f.v.kind):
		s.emitBytes(&f.v, s.data(sl.v), b)
	default:
		s.emitScalar(&f.v, sl.v, b)
	}
}

// load scans a nested message at depth d again, from the parts in the
// chain from head (only the first if one).
func (s *state) load(m *message, d int, head int32, one bool) []slot {
	fr := s.frame(d, m.nslots)
	for o := head; o >= 0; o = s.occs[o].next {
		off, n := unspan(s.occs[o].v)
		if err := s.scan(m, fr, off, off+n, d); err != nil {
			// Phase 1 read the same bytes with the same plan: a failure
			// here is a bug, and the row is already partly appended.
			panic("protobuf: append failed after validation: " + err.DecodeError(&codec.Message{}).Error())
		}
		if one {
			break
		}
	}
	return fr
}

// emitMessage appends a message-typed value v at depth d.
func (s *state) emitMessage(v *value, d int, head int32, one bool, b array.Builder) {
	mark := len(s.occs)
	m := v.msg
	var fr []slot
	if m.static >= 0 {
		fr = s.static[m.static : m.static+m.nslots] // phase 1 left it
	} else {
		fr = s.load(m, d, head, one)
	}
	switch v.conv {
	case cStruct:
		sb := b.(*array.StructBuilder)
		sb.Append(true)
		s.emitFields(m, fr, d, nil, sb)
	case cTimestamp:
		t, _ := m.instant(fr)
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(t))
	case cDuration:
		t, _ := duration(fr)
		b.(*array.Int64Builder).Append(t)
	case cWrapper:
		s.emitField(&m.fields[0], fr[0], d, b)
	}
	s.occs = s.occs[:mark]
}

// listBuilder is satisfied by *array.ListBuilder and *array.LargeListBuilder.
type listBuilder interface {
	array.Builder
	Append(bool)
	ValueBuilder() array.Builder
}

func (s *state) emitList(f *field, sl slot, d int, b array.Builder) {
	lb := b.(listBuilder)
	lb.Append(true)
	if sl.n == 0 {
		return
	}
	eb := lb.ValueBuilder()
	v := &f.v
	o := sl.head
	for o >= 0 {
		oc := s.occs[o]
		switch {
		case oc.packed:
			s.emitPacked(v, s.data(oc.v), eb)
		case v.msg != nil:
			s.emitMessage(v, d+1, o, true, eb)
		case v.conv == cUUIDText:
			appendFixed(eb, s.uuids[oc.v][:])
		case isBytes(v.kind):
			s.emitBytes(v, s.data(oc.v), eb)
		default:
			s.emitScalar(v, oc.v, eb)
		}
		o = oc.next
	}
}

// emitPacked appends the elements of a packed run.
func (s *state) emitPacked(v *value, run []byte, b array.Builder) {
	switch wireType(v.kind) {
	case protowire.VarintType:
		for len(run) > 0 {
			x, n := protowire.ConsumeVarint(run)
			s.emitScalar(v, x, b)
			run = run[n:]
		}
	case protowire.Fixed32Type:
		for ; len(run) >= 4; run = run[4:] {
			s.emitScalar(v, uint64(binary.LittleEndian.Uint32(run)), b)
		}
	case protowire.Fixed64Type:
		for ; len(run) >= 8; run = run[8:] {
			s.emitScalar(v, binary.LittleEndian.Uint64(run), b)
		}
	}
}

// emitMap appends map f. Of entries with equal keys, the last wins, as in
// protobuf; the others are left out.
func (s *state) emitMap(f *field, sl slot, d int, b array.Builder) {
	mb := b.(*array.MapBuilder)
	mb.Append(true)
	if sl.n == 0 {
		return
	}
	kb, ib := mb.KeyBuilder(), mb.ItemBuilder()
	entry := f.v.msg
	kf, vf := &entry.fields[0], &entry.fields[1]
	markDrops := len(s.drops)
	drops := s.duplicates(entry, sl, d+1)
	o := sl.head
	for i := range int(sl.n) {
		if drops == nil || !drops[i] {
			mark := len(s.occs)
			fr := s.load(entry, d+1, o, true)
			s.emitField(kf, fr[0], d+1, kb)
			s.emitField(vf, fr[1], d+1, ib)
			s.occs = s.occs[:mark]
		}
		o = s.occs[o].next
	}
	s.drops = s.drops[:markDrops]
}

// mapKey is a map entry's key: an integer, or the span of a string.
type mapKey struct {
	k   uint64
	pos int32 // the entry's position
}

// smallMap is the entry count up to which duplicate keys are found by
// comparing every pair rather than by sorting.
const smallMap = 16

// duplicates reports, for each entry of map sl, whether a later entry has
// the same key; nil if none has.
func (s *state) duplicates(entry *message, sl slot, d int) []bool {
	if sl.n < 2 {
		return nil
	}
	kf := &entry.fields[0]
	str := isBytes(kf.v.kind)
	markKeys := len(s.keys)
	o := sl.head
	for i := range int(sl.n) {
		mark := len(s.occs)
		fr := s.load(entry, d, o, true)
		k := kf.def
		switch {
		case fr[0].n == 0 && str:
			k = 0 // the empty string
		case fr[0].n == 0:
			k = uint64(toInt(kf.v.kind, k))
		case str:
			k = fr[0].v
		case kf.v.kind == protoreflect.Uint64Kind || kf.v.kind == protoreflect.Fixed64Kind:
			k = fr[0].v
		default:
			k = uint64(toInt(kf.v.kind, fr[0].v))
		}
		s.occs = s.occs[:mark]
		s.keys = append(s.keys, mapKey{k: k, pos: int32(i)})
		o = s.occs[o].next
	}
	keys := s.keys[markKeys:]
	defer func() { s.keys = s.keys[:markKeys] }()
	compare := func(a, b mapKey) int {
		if str {
			return bytes.Compare(s.data(a.k), s.data(b.k))
		}
		return cmp.Compare(a.k, b.k)
	}
	var drops []bool
	drop := func(i int32) {
		if drops == nil {
			start := len(s.drops)
			s.drops = append(s.drops, make([]bool, len(keys))...)
			drops = s.drops[start:]
		}
		drops[i] = true
	}
	if len(keys) <= smallMap {
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				if compare(keys[i], keys[j]) == 0 {
					drop(keys[i].pos)
					break
				}
			}
		}
		return drops
	}
	slices.SortFunc(keys, func(a, b mapKey) int {
		if c := compare(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	for i := 0; i+1 < len(keys); i++ {
		if compare(keys[i], keys[i+1]) == 0 {
			drop(keys[i].pos)
		}
	}
	return drops
}

// emitScalar appends a numeric, bool or enum value from its wire form.
func (s *state) emitScalar(v *value, raw uint64, b array.Builder) {
	switch v.conv {
	case cBool:
		b.(*array.BooleanBuilder).Append(raw != 0)
	case cInt32:
		b.(*array.Int32Builder).Append(int32(toInt(v.kind, raw)))
	case cInt64:
		b.(*array.Int64Builder).Append(toInt(v.kind, raw))
	case cIntDouble:
		b.(*array.Float64Builder).Append(float64(toInt(v.kind, raw)))
	case cFloat:
		b.(*array.Float32Builder).Append(math.Float32frombits(uint32(raw)))
	case cFloatDouble:
		b.(*array.Float64Builder).Append(float64(math.Float32frombits(uint32(raw))))
	case cDouble:
		b.(*array.Float64Builder).Append(math.Float64frombits(raw))
	case cEnum:
		n := int32(raw)
		if name, ok := v.names.name(n); ok {
			codec.AppendBytes(b, name)
			return
		}
		// An open enum's value this schema does not name.
		s.num = strconv.AppendInt(s.num[:0], int64(n), 10)
		codec.AppendBytes(b, s.num)
	}
}

// emitBytes appends a string or bytes value.
func (s *state) emitBytes(v *value, data []byte, b array.Builder) {
	switch v.conv {
	case cString, cBinary:
		codec.AppendBytes(b, data)
	case cFixed:
		appendFixed(b, data)
	case cUUIDText: // a default: values are parsed by scan
		var buf [16]byte
		u, _ := codec.AppendUUID(buf[:0], data)
		appendFixed(b, u)
	}
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
