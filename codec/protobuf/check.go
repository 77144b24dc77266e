package protobuf

import (
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/floe-dev/floe/codec"
)

// level reads and checks (phase 1) one nested message at depth d: the
// parts in the chain from head, merged (only the first if one).
func (s *state) level(m *message, d int, head int32, one bool) *codec.FieldError {
	if d > maxDepth {
		return codec.NewFieldError(codec.KindRecordTooLarge, "nested deeper than "+strconv.Itoa(maxDepth)+" levels")
	}
	mark := len(s.occs)
	fr := s.frameOf(m, d)
	var err *codec.FieldError
	for o := head; o >= 0; o = s.occs[o].next {
		off, n := unspan(s.occs[o].v)
		if err = s.scan(m, fr, off, off+n, d); err != nil || one {
			break
		}
	}
	if err == nil {
		err = s.finish(m, fr, d)
	}
	if m.static < 0 { // a static frame's chains serve phase 2
		s.occs = s.occs[:mark]
	}
	return err
}

// finish checks what can only be checked once all of a message is read:
// its nested messages, the fields it does not set, and the range of a
// Timestamp or Duration.
func (s *state) finish(m *message, fr []slot, d int) *codec.FieldError {
	for _, i := range m.post {
		f := &m.fields[i]
		sl := fr[f.slot]
		var err *codec.FieldError
		switch {
		case f.shape == shapeMap:
			err = s.checkMap(f, sl, d)
		case f.shape == shapeList:
			o := sl.head
			for j := range int(sl.n) {
				if err = s.level(f.v.msg, d+1, o, true); err != nil {
					err = err.InIndex(j)
					break
				}
				o = s.occs[o].next
			}
		case sl.n > 0:
			if f.v.msg != nil {
				err = s.level(f.v.msg, d+1, sl.head, false)
			}
		case f.absent == absEmpty:
			err = s.level(f.v.msg, d+1, -1, false)
		case f.absentErr != nil && s.mode == modeCheck:
			err = f.absentErr.new()
		}
		if err != nil {
			return m.in(err, f)
		}
	}
	if s.mode != modeCheck {
		return nil
	}
	switch m.wkt {
	case wktTimestamp:
		if _, ok := m.instant(fr); !ok {
			return codec.NewFieldError(codec.KindOutOfRange, "timestamp outside the column's range")
		}
	case wktDuration:
		if _, ok := duration(fr); !ok {
			return codec.NewFieldError(codec.KindOutOfRange, "duration beyond the long range of microseconds")
		}
	}
	return nil
}

// checkMap checks the entries of map f. Errors in an entry's value name
// its key, as in JSON; others its position.
func (s *state) checkMap(f *field, sl slot, d int) *codec.FieldError {
	o := sl.head
	for i := range int(sl.n) {
		if err := s.level(f.v.msg, d+1, o, true); err != nil {
			if err.Kind() != codec.KindMalformedProtobuf {
				if k, ok := s.entryKey(f.v.msg, o, d+1); ok {
					return err.InKey(k)
				}
			}
			return err.InIndex(i)
		}
		o = s.occs[o].next
	}
	return nil
}

// entryKey returns the key of map entry o as text, if it has a valid one.
// It runs only on failure.
func (s *state) entryKey(entry *message, o int32, d int) ([]byte, bool) {
	saved, mark := s.mode, len(s.occs)
	s.mode = modeEmit
	fr := s.frame(d, entry.nslots)
	off, n := unspan(s.occs[o].v)
	err := s.scan(entry, fr, off, off+n, d)
	s.mode, s.occs = saved, s.occs[:mark]
	if err != nil {
		return nil, false
	}
	kf := &entry.fields[0]
	if isBytes(kf.v.kind) {
		k := kf.defBytes
		if fr[0].n > 0 {
			k = s.data(fr[0].v)
		}
		return k, utf8.Valid(k)
	}
	raw := kf.def
	if fr[0].n > 0 {
		raw = fr[0].v
	}
	switch kf.v.kind {
	case protoreflect.BoolKind:
		return strconv.AppendBool(nil, raw != 0), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(nil, raw, 10), true
	}
	return strconv.AppendInt(nil, toInt(kf.v.kind, raw), 10), true
}

// toInt is the value of an integer, bool or enum from its wire form.
// Integers too wide for their type are truncated, as protobuf reads them
// (int32, int64, uint32, uint64 and bool are wire compatible).
func toInt(k protoreflect.Kind, raw uint64) int64 {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind, protoreflect.EnumKind:
		return int64(int32(raw))
	case protoreflect.Sint32Kind:
		u := uint32(raw)
		return int64(int32(u>>1) ^ -int32(u&1))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return int64(uint32(raw))
	case protoreflect.Sint64Kind:
		return int64(raw>>1) ^ -int64(raw&1)
	case protoreflect.BoolKind:
		if raw != 0 {
			return 1
		}
		return 0
	}
	return int64(raw)
}

// instant is a Timestamp in the column's unit, truncated toward the past.
func (m *message) instant(fr []slot) (int64, bool) {
	sec, nanos := int64(fr[0].v), int64(int32(fr[1].v))
	t, ok := mulCheck(sec, m.perSec)
	if !ok {
		return 0, false
	}
	return addCheck(t, floorDiv(nanos, m.nsDiv))
}

// duration is a Duration in microseconds, truncated toward zero.
func duration(fr []slot) (int64, bool) {
	sec, nanos := int64(fr[0].v), int64(int32(fr[1].v))
	t, ok := mulCheck(sec, 1_000_000)
	if !ok {
		return 0, false
	}
	q := floorDiv(nanos, 1_000)
	if t, ok = addCheck(t, q); ok && t < 0 && nanos != q*1_000 {
		t++
	}
	return t, ok
}

// mulCheck returns a×b and whether it did not overflow; b > 0.
func mulCheck(a, b int64) (int64, bool) {
	if a > math.MaxInt64/b || a < math.MinInt64/b {
		return 0, false
	}
	return a * b, true
}

func addCheck(a, b int64) (int64, bool) {
	c := a + b
	if (c > a) != (b > 0) {
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
