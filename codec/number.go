package codec

import (
	"errors"
	"math"
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// Numbers are converted from their JSON text, never through float64, so
// integers and decimals are exact: a value either fits or is rejected.

// splitNumber normalises the text of a JSON number to ±d × 10^e where d is
// its significant digits without leading or trailing zeros (empty for
// zero). d is built in buf. Exponents are clamped to ±1e6, far beyond any
// representable value, so absurd exponents cannot overflow.
func splitNumber(text, buf []byte) (neg bool, d []byte, e int) {
	i := 0
	if text[0] == '-' {
		neg, i = true, 1
	}
	d = buf[:0]
	for ; i < len(text) && isDigit(text[i]); i++ {
		if len(d) > 0 || text[i] != '0' {
			d = append(d, text[i])
		}
	}
	if i < len(text) && text[i] == '.' {
		for i++; i < len(text) && isDigit(text[i]); i++ {
			if len(d) > 0 || text[i] != '0' {
				d = append(d, text[i])
			}
			e--
		}
	}
	if i < len(text) { // exponent: the grammar was checked by numberLen
		i++
		eneg := text[i] == '-'
		if text[i] == '+' || text[i] == '-' {
			i++
		}
		x := 0
		for ; i < len(text); i++ {
			if x < 1e6 {
				x = x*10 + int(text[i]-'0')
			}
		}
		if eneg {
			x = -x
		}
		e += x
	}
	for len(d) > 0 && d[len(d)-1] == '0' {
		d = d[:len(d)-1]
		e++
	}
	if len(d) == 0 {
		e = 0
	}
	return neg, d, e
}

// parseInt converts a JSON number to an integer of the given bit size.
// 1e3 and 2.0 are integers; 1.5 is wrong_type; anything beyond the range,
// however large, is out_of_range.
func parseInt(text, buf []byte, bitSize int) (int64, Kind) {
	// Fast path: a plain integer of at most 18 digits cannot overflow int64.
	if len(text) <= 18 {
		neg, i := text[0] == '-', 0
		if neg {
			i = 1
		}
		var v int64
		for ; i < len(text) && isDigit(text[i]); i++ {
			v = v*10 + int64(text[i]-'0')
		}
		if i == len(text) {
			if neg {
				v = -v
			}
			return v, checkBits(v, bitSize)
		}
	}
	neg, d, e := splitNumber(text, buf)
	if e < 0 {
		return 0, KindWrongType
	}
	if len(d)+e > 19 {
		return 0, KindOutOfRange
	}
	var u uint64
	for _, c := range d {
		u = u*10 + uint64(c-'0')
	}
	for ; e > 0; e-- {
		hi, lo := bits.Mul64(u, 10)
		if hi != 0 {
			return 0, KindOutOfRange
		}
		u = lo
	}
	switch {
	case neg && u <= 1<<63:
		return int64(-u), checkBits(int64(-u), bitSize)
	case !neg && u < 1<<63:
		return int64(u), checkBits(int64(u), bitSize)
	}
	return 0, KindOutOfRange
}

func checkBits(v int64, bitSize int) Kind {
	if bitSize == 32 && (v < math.MinInt32 || v > math.MaxInt32) {
		return KindOutOfRange
	}
	return ""
}

// parseDecimal converts a JSON number's text to the unscaled value of a
// decimal(prec, scale). Extra fractional digits are accepted only if they
// are zeros ("12.300" into decimal(10,2)); otherwise the value would have to
// be rounded and is out_of_range, as is a value with too many digits.
func parseDecimal(text, buf []byte, prec, scale int32) (decimal128.Num, *fieldErr) {
	neg, d, e := splitNumber(text, buf)
	if len(d) == 0 {
		return decimal128.Num{}, nil
	}
	shift := e + int(scale)
	if shift < 0 {
		return decimal128.Num{}, newErr(KindOutOfRange,
			"more than "+strconv.Itoa(int(scale))+" fractional digits (rounding is not done)")
	}
	if len(d)+shift > int(prec) {
		return decimal128.Num{}, newErr(KindOutOfRange,
			"more than "+strconv.Itoa(int(prec))+" significant digits")
	}
	// At most 38 digits: fits in 127 bits.
	var hi, lo uint64
	mul10 := func() {
		h, l := bits.Mul64(lo, 10)
		hi, lo = hi*10+h, l
	}
	for _, c := range d {
		mul10()
		var carry uint64
		lo, carry = bits.Add64(lo, uint64(c-'0'), 0)
		hi += carry
	}
	for ; shift > 0; shift-- {
		mul10()
	}
	n := decimal128.New(int64(hi), lo)
	if neg {
		n = n.Negate()
	}
	return n, nil
}

// parseFloat converts a JSON number's text; only overflow fails (underflow
// rounds to zero as in IEEE 754).
func parseFloat(text []byte, bitSize int) (float64, bool) {
	// The unsafe string does not outlive the call: the error, which may
	// hold it, is dropped. The text is valid JSON, so only range errors occur.
	f, err := strconv.ParseFloat(unsafe.String(&text[0], len(text)), bitSize)
	if err != nil && errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// floatWord converts the strings a float column accepts.
func floatWord(s []byte) (float64, bool) {
	switch string(s) {
	case "NaN":
		return math.NaN(), true
	case "Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	return 0, false
}

// mulCheck returns a×b and whether it did not overflow.
func mulCheck(a, b int64) (int64, bool) {
	if a == 0 {
		return 0, true
	}
	c := a * b
	if c/b != a || (a == -1 && b == math.MinInt64) {
		return 0, false
	}
	return c, true
}
