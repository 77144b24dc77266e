package avro

import (
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/floe-dev/floe/codec"
)

// u128 is an unsigned 128-bit magnitude. decimal128's own rescaling goes
// through math/big and allocates; these few operations do not.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) neg() u128 {
	lo, borrow := bits.Sub64(0, a.lo, 0)
	hi, _ := bits.Sub64(0, a.hi, borrow)
	return u128{hi, lo}
}

func (a u128) zero() bool { return a.hi == 0 && a.lo == 0 }

// times10 assumes a < 10^37, so the result is below 2^128.
func (a u128) times10() u128 {
	hi, lo := bits.Mul64(a.lo, 10)
	return u128{a.hi*10 + hi, lo}
}

func (a u128) div10() (u128, uint64) {
	qhi, r := a.hi/10, a.hi%10
	qlo, r := bits.Div64(r, a.lo, 10)
	return u128{qhi, qlo}, r
}

func pow10(n int32) u128 {
	m := decimal128.GetScaleMultiplier(int(n))
	return u128{uint64(m.HighBits()), m.LowBits()}
}

// decimalOf reads an Avro decimal — the unscaled value as big-endian
// two's complement — and rescales it by shift digits into a decimal128 of
// precision prec. It never rounds: a value that would need rounding, or
// that has more than prec digits, is out_of_range.
func decimalOf(b []byte, shift, prec int32, tname string) (decimal128.Num, *codec.FieldError) {
	if len(b) == 0 {
		return decimal128.Num{}, codec.NewFieldError(codec.KindInvalidValue, "decimal of zero bytes")
	}
	neg := b[0]&0x80 != 0
	var sign byte
	if neg {
		sign = 0xff
	}
	if len(b) > 16 {
		// More bytes than decimal128 holds: fine if they only extend the sign.
		for _, c := range b[:len(b)-16] {
			if c != sign {
				return decimal128.Num{}, tooLarge(tname)
			}
		}
		b = b[len(b)-16:]
		if b[0]&0x80 != sign&0x80 {
			return decimal128.Num{}, tooLarge(tname)
		}
	}
	v := u128{uint64(int64(int8(sign))), uint64(int64(int8(sign)))}
	for _, c := range b {
		v = u128{v.hi<<8 | v.lo>>56, v.lo<<8 | uint64(c)}
	}
	if neg {
		v = v.neg()
		if v.hi>>63 != 0 { // −2^127 has no positive counterpart
			return decimal128.Num{}, tooLarge(tname)
		}
	}
	switch {
	case shift > 0:
		limit := pow10(37)
		for range shift {
			if v.zero() {
				break
			}
			if !v.less(limit) {
				return decimal128.Num{}, tooLarge(tname)
			}
			v = v.times10()
		}
	case shift < 0:
		for range -shift {
			if v.zero() {
				break
			}
			var r uint64
			if v, r = v.div10(); r != 0 {
				return decimal128.Num{}, codec.NewFieldError(codec.KindOutOfRange,
					"has more fractional digits than "+tname+" holds; floe does not round")
			}
		}
	}
	if !v.less(pow10(prec)) {
		return decimal128.Num{}, tooLarge(tname)
	}
	if neg {
		v = v.neg()
	}
	return decimal128.New(int64(v.hi), v.lo), nil
}

func tooLarge(tname string) *codec.FieldError {
	return codec.NewFieldError(codec.KindOutOfRange, "has more digits than "+tname+" holds")
}
