package codec

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
)

// Scalar conversions: each JSON token kind (string, number) into each
// column type. The numeric and date/time parsing itself is in number.go and
// timeparse.go.

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
			err := newErr(k, "does not fit in "+n.tname)
			if _, k64 := parseInt(text, st.digits, 64); bitSize == 32 && k64 == "" {
				err.widen = arrow.PrimitiveTypes.Int64
			}
			return 0, err
		}
		return st.push(val{i: v}), nil
	case kFloat32, kFloat64:
		bitSize := 64
		if n.kind == kFloat32 {
			bitSize = 32
		}
		f, ok := parseFloat(text, bitSize)
		if !ok {
			err := newErr(KindOutOfRange, "does not fit in "+n.tname)
			if _, ok64 := parseFloat(text, 64); bitSize == 32 && ok64 {
				err.widen = arrow.PrimitiveTypes.Float64
			}
			return 0, err
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
