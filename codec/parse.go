package codec

import (
	"bytes"
	"encoding/base64"
	"math"
	"slices"
	"strconv"
)

// Decoding is two-phase so that Append adds exactly one row or nothing:
// this file parses and validates the whole value into vals (phase 1), and
// emit.go appends vals to the builders (phase 2), which cannot fail.

// val is one decoded value. Nested values refer to their children by index
// into state.kids: a struct has one slot per field, a list one per element,
// a map two per entry (key, value). A child index of null means JSON null or
// an absent field. val holds no pointers, so filling it costs no write
// barriers.
type val struct {
	i  int64 // boolean, integers, date, time, timestamp, float bits, decimal low word
	hi int64 // decimal high word
	// Nested values: kids[first:first+n] (2n for maps). String, binary,
	// fixed, uuid: the bytes at span{first, n, scratch}.
	first   int32
	n       int32
	scratch bool
}

func bytesVal(sp span) val { return val{first: sp.off, n: sp.n, scratch: sp.scratch} }

// bytes returns the content of a string, binary, fixed or uuid value.
func (st *state) bytes(v *val) []byte {
	return st.sc.bytes(span{off: v.first, n: v.n, scratch: v.scratch})
}

const (
	null   int32 = -1
	absent int32 = -2 // struct slot not seen yet
)

// smallMap is the entry count up to which duplicate map keys are found by
// comparing with every earlier key rather than through a hash set.
const smallMap = 32

// state is the reusable per-call working memory of a Decoder.
type state struct {
	sc     scanner
	vals   []val
	kids   []int32
	stack  []int32 // list elements and map entries until their container ends
	digits []byte
	seen   map[string]struct{} // keys of large maps
}

func newState() *state {
	return &state{
		vals:   make([]val, 0, 64),
		kids:   make([]int32, 0, 64),
		stack:  make([]int32, 0, 32),
		digits: make([]byte, 0, 64),
	}
}

func (st *state) reset(buf []byte) {
	st.sc.reset(buf)
	st.vals = st.vals[:0]
	st.kids = st.kids[:0]
	st.stack = st.stack[:0]
}

func (st *state) push(v val) int32 {
	st.vals = append(st.vals, v)
	return int32(len(st.vals) - 1)
}

// value decodes the JSON value at the cursor into a value of n.
func (st *state) value(n *node) (int32, *fieldErr) {
	sc := &st.sc
	sc.skipWS()
	c := sc.peek()
	switch c {
	case 'n':
		if err := sc.readLiteral("null"); err != nil {
			return 0, err
		}
		if !n.nullable {
			return 0, newErr(KindMissingRequired, "value is null")
		}
		return null, nil
	case '{':
		switch n.kind {
		case kStruct:
			return st.object(n)
		case kMap:
			return st.mapObject(n)
		}
	case '[':
		if n.kind == kList {
			return st.list(n)
		}
	case '"':
		sp, err := sc.readString()
		if err != nil {
			return 0, err
		}
		return st.fromString(n, sp)
	case 't', 'f':
		b, err := sc.readBool()
		if err != nil {
			return 0, err
		}
		if n.kind == kBool {
			if b {
				return st.push(val{i: 1}), nil
			}
			return st.push(val{}), nil
		}
	default:
		text, err := sc.readNumber()
		if err != nil {
			return 0, err
		}
		return st.fromNumber(n, text)
	}
	return 0, wrongType(n, c)
}

// object decodes a JSON object into the struct n. Unknown keys are skipped
// (after validation); so are keys naming metadata columns, which are filled
// from the Kafka record.
func (st *state) object(n *node) (int32, *fieldErr) {
	sc := &st.sc
	sc.pos++ // '{'
	first := int32(len(st.kids))
	for range n.fields {
		st.kids = append(st.kids, absent)
	}
	sc.skipWS()
	if sc.peek() == '}' {
		sc.pos++
	} else {
		for hint := 0; ; {
			sc.skipWS()
			if sc.peek() != '"' {
				return 0, sc.syntaxErr()
			}
			sp, err := sc.readString()
			if err != nil {
				return 0, err
			}
			if err := sc.expect(':'); err != nil {
				return 0, err
			}
			key := sc.bytes(sp)
			if i := n.lookup(key, hint); i >= 0 && n.fields[i].kind != kMeta {
				f := n.fields[i]
				slot := first + int32(i)
				if st.kids[slot] != absent {
					return 0, newErr(KindInvalidValue, "duplicate key").in(f.name)
				}
				v, err := st.value(f)
				if err != nil {
					return 0, err.in(f.name)
				}
				st.kids[slot] = v
				hint = i + 1
			} else if err := sc.skipValue(); err != nil {
				return 0, err.in(string(key))
			}
			sc.skipWS()
			c := sc.peek()
			sc.pos++
			if c == '}' {
				break
			}
			if c != ',' {
				sc.pos--
				return 0, sc.syntaxErr()
			}
		}
	}
	for i, f := range n.fields {
		slot := first + int32(i)
		if st.kids[slot] != absent {
			continue
		}
		if !f.nullable && f.kind != kMeta {
			return 0, newErr(KindMissingRequired, "field is absent").in(f.name)
		}
		st.kids[slot] = null
	}
	return st.push(val{first: first, n: int32(len(n.fields))}), nil
}

// list decodes a JSON array into the list n.
func (st *state) list(n *node) (int32, *fieldErr) {
	sc := &st.sc
	sc.pos++ // '['
	mark := len(st.stack)
	sc.skipWS()
	if sc.peek() == ']' {
		sc.pos++
	} else {
		for i := 0; ; i++ {
			v, err := st.value(n.elem)
			if err != nil {
				return 0, err.in(indexSegment(i))
			}
			st.stack = append(st.stack, v)
			if err := st.endOfElement(']'); err != nil {
				if err == errDone {
					break
				}
				return 0, err
			}
		}
	}
	return st.popChildren(mark, len(st.stack)-mark), nil
}

// errDone signals the closing bracket to endOfElement's caller.
var errDone = &fieldErr{}

// endOfElement consumes the ',' after a container element, or the closing
// bracket (returning errDone).
func (st *state) endOfElement(closing byte) *fieldErr {
	sc := &st.sc
	sc.skipWS()
	switch sc.peek() {
	case ',':
		sc.pos++
		return nil
	case closing:
		sc.pos++
		return errDone
	}
	return sc.syntaxErr()
}

// popChildren moves the children collected on the stack since mark into
// kids and returns the container value.
func (st *state) popChildren(mark, count int) int32 {
	first := int32(len(st.kids))
	st.kids = append(st.kids, st.stack[mark:]...)
	st.stack = st.stack[:mark]
	return st.push(val{first: first, n: int32(count)})
}

// mapObject decodes a JSON object into the map n: keys are decoded from
// their text as the key type, values as the value type.
func (st *state) mapObject(n *node) (int32, *fieldErr) {
	sc := &st.sc
	sc.pos++ // '{'
	mark := len(st.stack)
	sc.skipWS()
	if sc.peek() == '}' {
		sc.pos++
		return st.popChildren(mark, 0), nil
	}
	for count := 0; ; count++ {
		sc.skipWS()
		if sc.peek() != '"' {
			return 0, sc.syntaxErr()
		}
		sp, err := sc.readString()
		if err != nil {
			return 0, err
		}
		if err := sc.expect(':'); err != nil {
			return 0, err
		}
		key := sc.bytes(sp)
		k, err := st.mapKey(n.key, sp)
		if err != nil {
			err.detail = "key: " + err.detail
			return 0, err.in(keySegment(key))
		}
		if st.duplicateKey(mark, count, k) {
			return 0, newErr(KindInvalidValue, "duplicate key").in(keySegment(key))
		}
		v, err := st.value(n.elem)
		if err != nil {
			return 0, err.in(keySegment(key))
		}
		st.stack = append(st.stack, k, v)
		if err := st.endOfElement('}'); err != nil {
			if err == errDone {
				return st.popChildren(mark, count+1), nil
			}
			return 0, err
		}
	}
}

// mapKey decodes an object key as a map key: strings as is, numbers and
// booleans from their JSON text (so {"1": …} fills map<int, …>).
func (st *state) mapKey(n *node, sp span) (int32, *fieldErr) {
	key := st.sc.bytes(sp)
	switch n.kind {
	case kBool:
		switch string(key) {
		case "true":
			return st.push(val{i: 1}), nil
		case "false":
			return st.push(val{}), nil
		}
		return 0, newErr(KindInvalidValue, "not true or false")
	case kInt32, kInt64, kFloat32, kFloat64:
		if len(key) > 0 && numberLen(key) == len(key) {
			return st.fromNumber(n, key)
		}
		if n.kind == kFloat32 || n.kind == kFloat64 {
			return st.fromString(n, sp)
		}
		return 0, newErr(KindInvalidValue, "not a JSON number")
	}
	return st.fromString(n, sp)
}

// duplicateKey reports whether key value k equals one of the count map
// keys on the stack since mark (entries are key, value pairs).
func (st *state) duplicateKey(mark, count int, k int32) bool {
	kv := &st.vals[k]
	if count < smallMap {
		for j := mark; j < mark+2*count; j += 2 {
			o := &st.vals[st.stack[j]]
			if o.i == kv.i && o.hi == kv.hi && bytes.Equal(st.bytes(o), st.bytes(kv)) {
				return true
			}
		}
		return false
	}
	if count == smallMap {
		if st.seen == nil {
			st.seen = make(map[string]struct{})
		}
		clear(st.seen)
		for j := mark; j < mark+2*count; j += 2 {
			st.seen[st.keyID(&st.vals[st.stack[j]])] = struct{}{}
		}
	}
	id := st.keyID(kv)
	if _, ok := st.seen[id]; ok {
		return true
	}
	st.seen[id] = struct{}{}
	return false
}

func (st *state) keyID(v *val) string {
	return strconv.FormatInt(v.i, 16) + "/" + strconv.FormatInt(v.hi, 16) + "/" + string(st.bytes(v))
}

// fromString decodes a JSON string's content into n.
func (st *state) fromString(n *node, sp span) (int32, *fieldErr) {
	if n.kind == kString {
		return st.push(bytesVal(sp)), nil
	}
	s := st.sc.bytes(sp)
	switch n.kind {
	case kDecimal:
		if len(s) == 0 || numberLen(s) != len(s) {
			return 0, newErr(KindInvalidValue, "string is not a decimal number")
		}
		return st.decimal(n, s)
	case kFloat32, kFloat64:
		f, ok := floatWord(s)
		if !ok {
			return 0, newErr(KindWrongType, "expected "+n.tname+
				`, got JSON string (only "NaN", "Infinity" and "-Infinity" are accepted)`)
		}
		return st.float(n, f), nil
	case kDate:
		days, ok := parseDate(s)
		if !ok {
			return 0, newErr(KindInvalidValue, "not a date (YYYY-MM-DD)")
		}
		return st.push(val{i: days}), nil
	case kTime:
		ns, ok := parseTime(s)
		if !ok {
			return 0, newErr(KindInvalidValue, "not a time of day (HH:MM:SS[.ffffff])")
		}
		if !n.nanos {
			ns /= 1000
		}
		return st.push(val{i: ns}), nil
	case kTimestamp:
		sec, nsec, zoned, ok := parseTimestamp(s)
		if !ok {
			return 0, newErr(KindInvalidValue, "not an RFC 3339 timestamp")
		}
		if n.zoned && !zoned {
			return 0, newErr(KindInvalidValue, "timestamptz needs a zone (Z or ±hh:mm)")
		}
		return st.timestamp(n, sec, nsec)
	case kUUID:
		start := len(st.sc.scratch)
		out, ok := appendUUID(st.sc.scratch, s)
		if !ok {
			return 0, newErr(KindInvalidValue, "not a canonical uuid (8-4-4-4-12 hex digits)")
		}
		st.sc.scratch = out
		return st.push(bytesVal(span{off: int32(start), n: 16, scratch: true})), nil
	case kBinary, kFixed:
		return st.base64(n, s)
	}
	return 0, wrongType(n, '"')
}

// fromNumber decodes a JSON number's text into n.
func (st *state) fromNumber(n *node, text []byte) (int32, *fieldErr) {
	switch n.kind {
	case kInt32, kInt64:
		bitSize := 64
		if n.kind == kInt32 {
			bitSize = 32
		}
		v, k := parseInt(text, st.digits, bitSize)
		switch k {
		case KindWrongType:
			return 0, newErr(k, "expected "+n.tname+", got JSON number with a fraction")
		case KindOutOfRange:
			return 0, newErr(k, "does not fit in "+n.tname)
		}
		return st.push(val{i: v}), nil
	case kFloat32, kFloat64:
		bitSize := 64
		if n.kind == kFloat32 {
			bitSize = 32
		}
		f, ok := parseFloat(text, bitSize)
		if !ok {
			return 0, newErr(KindOutOfRange, "does not fit in "+n.tname)
		}
		return st.float(n, f), nil
	case kDecimal:
		return st.decimal(n, text)
	case kDate:
		days, k := parseInt(text, st.digits, 32)
		if k != "" {
			return 0, newErr(k, "not a whole number of days since 1970-01-01 within int range")
		}
		return st.push(val{i: days}), nil
	case kTimestamp:
		ms, k := parseInt(text, st.digits, 64)
		if k != "" {
			return 0, newErr(k, "not a whole number of milliseconds since the epoch within long range")
		}
		return st.timestamp(n, ms/1000, ms%1000*1_000_000)
	}
	return 0, wrongType(n, text[0])
}

func (st *state) decimal(n *node, text []byte) (int32, *fieldErr) {
	d, err := parseDecimal(text, st.digits, n.prec, n.scale)
	if err != nil {
		err.detail = n.tname + ": " + err.detail
		return 0, err
	}
	return st.push(val{i: int64(d.LowBits()), hi: d.HighBits()}), nil
}

func (st *state) float(n *node, f float64) int32 {
	if n.kind == kFloat32 {
		return st.push(val{i: int64(math.Float32bits(float32(f)))})
	}
	return st.push(val{i: int64(math.Float64bits(f))})
}

// timestamp stores sec+nsec (nsec may be negative) in n's unit. Sub-unit
// digits are truncated toward the past.
func (st *state) timestamp(n *node, sec, nsec int64) (int32, *fieldErr) {
	if n.nanos {
		v, ok := mulCheck(sec, nanosPerSec)
		if ok && (nsec >= 0 && v <= math.MaxInt64-nsec || nsec < 0 && v >= math.MinInt64-nsec) {
			return st.push(val{i: v + nsec}), nil
		}
		return 0, newErr(KindOutOfRange, "outside the "+n.tname+" range (years 1677 to 2262)")
	}
	v, ok := mulCheck(sec, 1_000_000)
	us := floorDiv(nsec, 1000)
	if ok && (us >= 0 && v <= math.MaxInt64-us || us < 0 && v >= math.MinInt64-us) {
		return st.push(val{i: v + us}), nil
	}
	return 0, newErr(KindOutOfRange, "outside the "+n.tname+" range")
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// base64 decodes standard base64 (with padding) into scratch.
func (st *state) base64(n *node, s []byte) (int32, *fieldErr) {
	enc := base64.StdEncoding
	start := len(st.sc.scratch)
	out := slices.Grow(st.sc.scratch, enc.DecodedLen(len(s)))
	m, err := enc.Decode(out[start:start+enc.DecodedLen(len(s))], s)
	if err != nil {
		return 0, newErr(KindInvalidValue, "not standard base64")
	}
	st.sc.scratch = out[:start+m]
	if n.kind == kFixed && m != n.width {
		return 0, newErr(KindInvalidValue, "decodes to "+strconv.Itoa(m)+" bytes, "+n.tname+" needs "+strconv.Itoa(n.width))
	}
	return st.push(bytesVal(span{off: int32(start), n: int32(m), scratch: true})), nil
}
