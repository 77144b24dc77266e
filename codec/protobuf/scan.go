package protobuf

import (
	"encoding/binary"
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/floe-dev/floe/codec"
)

// Protobuf fields come in any order and may repeat, but each column takes
// exactly one value per row, in one go. So a message is read in two steps:
// scan notes in the message's frame where each field's value is (the last
// one of a singular scalar; every occurrence of a repeated field, and of a
// singular message, whose occurrences protobuf merges), and the frame is
// then either checked (phase 1) or appended from (phase 2).
//
// The frames of the top-level message and of the messages reached from it
// through singular fields are kept from phase 1 for phase 2: there is at
// most one of each per record. The frames of the others (list elements,
// map entries and what they hold) are per nesting depth and reused, and
// phase 2 scans those messages again: that is cheap next to keeping a frame
// for each, and bounds the memory a record can make the decoder use by its
// depth, not by how many messages it holds.

// maxDepth bounds nesting, so a hostile value cannot exhaust the stack.
const maxDepth = 100

// mode is what a scan does besides finding values.
type mode uint8

const (
	modeCheck mode = iota // phase 1: check the wire format and every value
	modeWire              // the wire format only, to tell whether a record with a bad value is malformed as well
	modeEmit              // phase 2: the data passed phase 1; read past what has no column
)

// slot is where a field's value is in the message being read.
type slot struct {
	v    uint64 // singular scalar: the value (see occ.v)
	head int32  // chains: the first and last occurrence in state.occs
	tail int32
	n    int32 // 0: absent. Chains: elements (lists), occurrences (messages, map entries)
}

// occ is one occurrence of a chained field.
type occ struct {
	v      uint64 // varint or fixed value; span (offset<<32 | length) of bytes, a message or a packed run
	next   int32  // the next occurrence of the same field, or -1
	packed bool
}

func span(off, n int) uint64          { return uint64(off)<<32 | uint64(n) }
func unspan(v uint64) (int, int)      { return int(v >> 32), int(uint32(v)) }
func (s *state) data(v uint64) []byte { off, n := unspan(v); return s.buf[off : off+n] }

// scratch is what one Append reuses from the last.
type scratch struct {
	static []slot   // see message.static
	frames [][]slot // by depth, for the other messages
	occs   []occ    // chains of the messages on the current path, a stack
	keys   []mapKey // map keys being deduplicated, a stack
	drops  []bool
	num    []byte     // enum numbers as text
	uuids  [][16]byte // uuid text values, parsed once: cUUIDText values are indexes
	// A change event's op and source (envelope: debezium), and its after
	// message's occurrences merged when there are several.
	change codec.Change
	merged []byte
}

type state struct {
	buf  []byte
	mode mode
	*scratch
}

// frameOf returns the cleared frame of m at depth d.
func (s *state) frameOf(m *message, d int) []slot {
	if m.static >= 0 {
		fr := s.static[m.static : m.static+m.nslots]
		clear(fr)
		return fr
	}
	return s.frame(d, m.nslots)
}

// frame returns the cleared frame of n slots at depth d.
func (s *state) frame(d, n int) []slot {
	for len(s.frames) <= d {
		s.frames = append(s.frames, nil)
	}
	fr := s.frames[d]
	if cap(fr) < n {
		fr = make([]slot, n, max(n, 8))
		s.frames[d] = fr
	}
	fr = fr[:n]
	clear(fr)
	return fr
}

// add appends an occurrence to sl's chain.
func (s *state) add(sl *slot, v uint64, packed bool, count int32) {
	o := int32(len(s.occs))
	s.occs = append(s.occs, occ{v: v, next: -1, packed: packed})
	if sl.n == 0 {
		sl.head = o
	} else {
		s.occs[sl.tail].next = o
	}
	sl.tail = o
	sl.n += count
}

func (s *state) malformed(pos int, what string) *codec.FieldError {
	return codec.NewFieldError(codec.KindMalformedProtobuf, what+" at byte "+strconv.Itoa(pos))
}

// varint reads a varint that does not fit in one byte (or is cut).
func (s *state) varint(pos, end int) (uint64, int, *codec.FieldError) {
	start := pos
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if pos >= end {
			return 0, pos, s.malformed(start, "varint cut short")
		}
		c := s.buf[pos]
		pos++
		if shift == 63 && c > 1 {
			return 0, pos, s.malformed(start, "varint overflows 64 bits")
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, pos, nil
		}
	}
}

// length reads the length of a length-delimited value and returns the
// value's start.
func (s *state) length(pos, end int) (int, int, *codec.FieldError) {
	start := pos
	var l uint64
	if pos < end && s.buf[pos] < 0x80 {
		l, pos = uint64(s.buf[pos]), pos+1
	} else {
		var err *codec.FieldError
		if l, pos, err = s.varint(pos, end); err != nil {
			return 0, 0, err
		}
	}
	if l > uint64(end-pos) {
		return 0, 0, s.malformed(start, "length past the end of the message")
	}
	return int(l), pos, nil
}

// scan reads the fields of one message, or one part of a merged message,
// from buf[pos:end] into fr.
func (s *state) scan(m *message, fr []slot, pos, end, d int) *codec.FieldError {
	if d > maxDepth {
		return codec.NewFieldError(codec.KindRecordTooLarge, "nested deeper than "+strconv.Itoa(maxDepth)+" levels")
	}
	buf := s.buf
	check := s.mode == modeCheck
	var err *codec.FieldError
	for pos < end {
		start := pos
		var tag uint64
		if c := buf[pos]; c < 0x80 {
			tag, pos = uint64(c), pos+1
		} else if tag, pos, err = s.varint(pos, end); err != nil {
			return err
		}
		f := m.lookup(tag >> 3)
		if f == nil {
			if pos, err = s.unknown(tag, start, pos, end, d); err != nil {
				return err
			}
			continue
		}
		if f.oneof >= 0 {
			for _, o := range m.oneofs[f.oneof] {
				if o != f.slot {
					fr[o].n = 0
				}
			}
		}
		if wt := protowire.Type(tag & 7); wt != f.wt {
			if wt != protowire.BytesType || !f.packable {
				return m.in(s.malformed(start, "wire type "+strconv.Itoa(int(wt))+" for a field of type "+f.v.kind.String()), f)
			}
			if pos, err = s.packed(f, fr, pos, end); err != nil {
				return m.in(err, f)
			}
			continue
		}
		var v uint64
		var p, l int // a length-delimited value
		switch f.wt {
		case protowire.VarintType:
			if pos < end && buf[pos] < 0x80 {
				v, pos = uint64(buf[pos]), pos+1
			} else if v, pos, err = s.varint(pos, end); err != nil {
				return m.in(err, f)
			}
		case protowire.Fixed32Type:
			if end-pos < 4 {
				return m.in(s.malformed(pos, "fixed32 cut short"), f)
			}
			v, pos = uint64(binary.LittleEndian.Uint32(buf[pos:])), pos+4
		case protowire.Fixed64Type:
			if end-pos < 8 {
				return m.in(s.malformed(pos, "fixed64 cut short"), f)
			}
			v, pos = binary.LittleEndian.Uint64(buf[pos:]), pos+8
		case protowire.BytesType:
			if pos < end && buf[pos] < 0x80 && int(buf[pos]) < end-pos {
				l, p = int(buf[pos]), pos+1
			} else if l, p, err = s.length(pos, end); err != nil {
				return m.in(err, f)
			}
			v, pos = span(p, l), p+l
		case protowire.StartGroupType: // a group: never has a column
			if pos, err = s.group(f.num, pos, end, d+1); err != nil {
				return m.in(err, f)
			}
			continue
		}
		switch f.act {
		case actSet:
			fr[f.slot].v, fr[f.slot].n = v, 1
		case actString:
			if check && !utf8.Valid(buf[p:p+l]) {
				return m.in(errUTF8.new(), f)
			}
			fr[f.slot].v, fr[f.slot].n = v, 1
		case actChain:
			s.add(&fr[f.slot], v, false, 1)
		case actSkipMessage:
			if s.mode != modeEmit {
				if err = s.scan(f.v.msg, nil, p, p+l, d+1); err != nil {
					return m.in(err, f)
				}
			}
		case actCheck:
			if err = s.value(f, fr, v, p, l); err != nil {
				return m.in(err, f)
			}
		}
	}
	return nil
}

// in puts field f on err's path.
func (m *message) in(err *codec.FieldError, f *field) *codec.FieldError {
	if m.entry {
		return err // the map puts the key on the path
	}
	return err.In(f.name)
}

// value checks and keeps a value of a checked field: v, or for a length-
// delimited value buf[p:p+l].
func (s *state) value(f *field, fr []slot, v uint64, p, l int) *codec.FieldError {
	switch {
	case f.v.conv == cUUIDText:
		if s.mode == modeWire {
			break
		}
		var u [16]byte
		if _, ok := codec.AppendUUID(u[:0], s.buf[p:p+l]); !ok {
			return s.index(errUUID.new(), f, fr)
		}
		v = uint64(len(s.uuids))
		s.uuids = append(s.uuids, u)
	case s.mode != modeCheck:
	case f.wt == protowire.BytesType:
		if e := checkBytes(&f.v, s.buf[p:p+l]); e != nil {
			return s.index(e.new(), f, fr)
		}
	default:
		if e := checkScalar(&f.v, v); e != nil {
			return s.index(e.new(), f, fr)
		}
	}
	if f.chain() {
		s.add(&fr[f.slot], v, false, 1)
	} else {
		fr[f.slot].v, fr[f.slot].n = v, 1
	}
	return nil
}

// index puts the position of a list element on err's path.
func (s *state) index(err *codec.FieldError, f *field, fr []slot) *codec.FieldError {
	if f.shape == shapeList {
		return err.InIndex(int(fr[f.slot].n))
	}
	return err
}

// packed reads a packed run of repeated scalar f.
func (s *state) packed(f *field, fr []slot, pos, end int) (int, *codec.FieldError) {
	l, p, err := s.length(pos, end)
	if err != nil {
		return 0, err
	}
	pend := p + l
	count := 0
	switch f.wt {
	case protowire.VarintType:
		if s.mode == modeEmit {
			break
		}
		check := f.v.check && f.slot >= 0 && s.mode == modeCheck
		for q := p; q < pend; count++ {
			var v uint64
			if s.buf[q] < 0x80 {
				v, q = uint64(s.buf[q]), q+1
			} else if v, q, err = s.varint(q, pend); err != nil {
				return 0, err
			}
			if check {
				if e := checkScalar(&f.v, v); e != nil {
					return 0, e.new().InIndex(int(fr[f.slot].n) + count)
				}
			}
		}
	case protowire.Fixed32Type, protowire.Fixed64Type:
		size := 4
		if f.wt == protowire.Fixed64Type {
			size = 8
		}
		if l%size != 0 {
			return 0, s.malformed(pos, "packed run of "+strconv.Itoa(l)+" bytes, not a multiple of "+strconv.Itoa(size))
		}
		count = l / size
		if f.v.check && f.slot >= 0 && s.mode == modeCheck {
			for i := range count {
				raw := uint64(binary.LittleEndian.Uint32(s.buf[p+size*i:]))
				if size == 8 {
					raw = binary.LittleEndian.Uint64(s.buf[p+size*i:])
				}
				if e := checkScalar(&f.v, raw); e != nil {
					return 0, e.new().InIndex(int(fr[f.slot].n) + i)
				}
			}
		}
	}
	if f.slot >= 0 {
		s.add(&fr[f.slot], span(p, l), true, int32(count))
	}
	return pend, nil
}

// unknown reads past a field the message type does not declare.
func (s *state) unknown(tag uint64, start, pos, end, d int) (int, *codec.FieldError) {
	switch num := tag >> 3; {
	case num == 0:
		return 0, s.malformed(start, "field number 0")
	case num > uint64(protowire.MaxValidNumber):
		return 0, s.malformed(start, "field number beyond "+strconv.Itoa(int(protowire.MaxValidNumber)))
	}
	var err *codec.FieldError
	switch protowire.Type(tag & 7) {
	case protowire.VarintType:
		_, pos, err = s.varint(pos, end)
	case protowire.Fixed32Type:
		if pos += 4; pos > end {
			err = s.malformed(start, "fixed32 cut short")
		}
	case protowire.Fixed64Type:
		if pos += 8; pos > end {
			err = s.malformed(start, "fixed64 cut short")
		}
	case protowire.BytesType:
		var l int
		l, pos, err = s.length(pos, end)
		pos += l
	case protowire.StartGroupType:
		pos, err = s.group(protowire.Number(tag>>3), pos, end, d+1)
	case protowire.EndGroupType:
		err = s.malformed(start, "end-group tag without a start-group tag")
	default:
		err = s.malformed(start, "invalid wire type "+strconv.Itoa(int(tag&7)))
	}
	return pos, err
}

// group reads past a group (proto2's deprecated delimited encoding) up to
// its end-group tag.
func (s *state) group(num protowire.Number, pos, end, d int) (int, *codec.FieldError) {
	if d > maxDepth {
		return 0, codec.NewFieldError(codec.KindRecordTooLarge, "nested deeper than "+strconv.Itoa(maxDepth)+" levels")
	}
	for pos < end {
		start := pos
		tag, p, err := s.varint(pos, end)
		if err != nil {
			return 0, err
		}
		if protowire.Type(tag&7) == protowire.EndGroupType {
			if tag>>3 != uint64(num) {
				return 0, s.malformed(start, "end-group tag of another group")
			}
			return p, nil
		}
		if pos, err = s.unknown(tag, start, p, end, d); err != nil {
			return 0, err
		}
	}
	return 0, s.malformed(pos, "group without an end-group tag")
}

// checkScalar checks a numeric value against its column.
func checkScalar(v *value, raw uint64) *errSpec {
	if v.conv == cInt64 && raw > math.MaxInt64 && (v.kind == protoreflect.Uint64Kind || v.kind == protoreflect.Fixed64Kind) {
		return errUint64
	}
	return nil
}

// checkBytes checks a string or bytes value against its column.
func checkBytes(v *value, b []byte) *errSpec {
	switch v.conv {
	case cString:
		if !utf8.Valid(b) {
			return errUTF8
		}
	case cUUIDText:
		var buf [16]byte
		if _, ok := codec.AppendUUID(buf[:0], b); !ok {
			return errUUID
		}
	case cFixed:
		if len(b) != v.width {
			return &errSpec{codec.KindInvalidValue, strconv.Itoa(len(b)) + " bytes into " + v.tname}
		}
	}
	return nil
}
