package config

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var durationType = reflect.TypeFor[time.Duration]()

// durationHook reads durations from strings with a unit. A bare number is
// refused: "max-age: 30" would otherwise mean 30 nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType || from == durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
		s := data.(string)
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q: want a number with a unit, like 500ms, 30s, 5m or 1h30m", s)
		}
		return d, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return nil, fmt.Errorf("duration %v has no unit: write it like \"30s\"", data)
	}
	return data, nil
}

// integerHook reads integer fields from integers, whole floats (YAML's 1e6)
// and strings, the latter through ParseSize so byte sizes may carry a unit.
// It refuses values that do not fit the field instead of letting them wrap.
func integerHook(from, to reflect.Type, data any) (any, error) {
	if to == durationType || !isInt(to.Kind()) {
		return data, nil
	}
	v := reflect.ValueOf(data)
	var n int64
	switch k := from.Kind(); {
	case k == reflect.String:
		var err error
		if n, err = ParseSize(v.String()); err != nil {
			return nil, err
		}
	case isInt(k):
		n = v.Int()
	case isUint(k):
		if v.Uint() > math.MaxInt64 {
			return nil, fmt.Errorf("%d is out of range", v.Uint())
		}
		n = int64(v.Uint())
	case k == reflect.Float32 || k == reflect.Float64:
		f := v.Float()
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return nil, fmt.Errorf("must be an integer, got %v", f)
		}
		n = int64(f)
	case k == reflect.Bool:
		return nil, fmt.Errorf("must be an integer, got %v", data)
	default:
		return data, nil
	}
	if reflect.New(to).Elem().OverflowInt(n) {
		return nil, fmt.Errorf("%d is out of range (at most %d)", n, int64(1)<<(to.Bits()-1)-1)
	}
	return n, nil
}

func isInt(k reflect.Kind) bool {
	return k == reflect.Int || k == reflect.Int8 || k == reflect.Int16 || k == reflect.Int32 || k == reflect.Int64
}

func isUint(k reflect.Kind) bool {
	return k == reflect.Uint || k == reflect.Uint8 || k == reflect.Uint16 || k == reflect.Uint32 || k == reflect.Uint64
}

// sizeUnits are the multipliers ParseSize knows, by lower-cased unit.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

var sizePattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`)

// ParseSize reads a byte size: a plain integer ("67108864") or a number with
// a unit ("64MiB", "512MB", "1.5GiB", "100 KB"). Decimal units are powers of
// 1000 (KB, MB, GB, TB), binary units powers of 1024 (KiB, MiB, GiB, TiB);
// B is bytes. Units are case-insensitive, so "mb" is MB. A fraction must come
// out as a whole number of bytes.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n, nil
	}
	m := sizePattern.FindStringSubmatch(t)
	if m == nil {
		return 0, fmt.Errorf("invalid size %q: want an integer or a number with a unit, like 64MiB or 512MB", s)
	}
	unit, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, m[2])
	}
	r, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(unit))
	if !r.IsInt() {
		return 0, fmt.Errorf("invalid size %q: not a whole number of bytes", s)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return r.Num().Int64(), nil
}
