package codec

import (
	"bytes"
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
	// unknown collects keys of evolvable structs without a column when
	// collect is set (schema evolution add-columns).
	collect bool
	unknown []rawField
	// change is the last Debezium change event's op and source (envelope:
	// debezium).
	change Change
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
	st.unknown = st.unknown[:0]
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
			sp, err := sc.readKey()
			if err != nil {
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
			} else {
				start := sc.pos
				if err := sc.skipValue(); err != nil {
					return 0, err.in(string(key))
				}
				if st.collect && n.evolvable && i < 0 {
					st.unknown = append(st.unknown, rawField{parent: n.colPath, key: string(key), raw: sc.buf[start:sc.pos]})
				}
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
	var seen map[string]struct{} // keys of a large map; per map, as maps nest
	for count := 0; ; count++ {
		sp, err := sc.readKey()
		if err != nil {
			return 0, err
		}
		key := sc.bytes(sp)
		k, err := st.mapKey(n.key, sp)
		if err != nil {
			err.detail = "key: " + err.detail
			return 0, err.in(keySegment(key))
		}
		if st.duplicateKey(mark, count, k, &seen) {
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

// duplicateKey reports whether key value k equals one of the count map
// keys on the stack since mark (entries are key, value pairs). Small maps
// compare with every earlier key; large ones switch to the hash set *seen.
func (st *state) duplicateKey(mark, count int, k int32, seen *map[string]struct{}) bool {
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
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*count)
		for j := mark; j < mark+2*count; j += 2 {
			(*seen)[st.keyID(&st.vals[st.stack[j]])] = struct{}{}
		}
	}
	id := st.keyID(kv)
	if _, ok := (*seen)[id]; ok {
		return true
	}
	(*seen)[id] = struct{}{}
	return false
}

func (st *state) keyID(v *val) string {
	return strconv.FormatInt(v.i, 16) + "/" + strconv.FormatInt(v.hi, 16) + "/" + string(st.bytes(v))
}
