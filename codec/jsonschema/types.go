package jsonschema

import (
	"fmt"
	"strconv"
	"strings"
)

// typeSet is a set of JSON types. Numbers are split into integral ones
// and the rest, so that "number" ∩ "integer" is "integer" and an enum of
// 1.5 does not meet "integer".
type typeSet uint8

const (
	tNull typeSet = 1 << iota
	tBool
	tObject
	tArray
	tString
	tInteger  // integral numbers (2, 2.0, 1e3)
	tFraction // numbers with a fraction
	tAll      = tNull | tBool | tObject | tArray | tString | tInteger | tFraction
)

var typeNames = map[string]typeSet{
	"null": tNull, "boolean": tBool, "object": tObject, "array": tArray,
	"string": tString, "integer": tInteger, "number": tInteger | tFraction,
}

func (t typeSet) String() string {
	var names []string
	for _, n := range []string{"null", "boolean", "object", "array", "string", "number", "integer"} {
		bits := typeNames[n]
		if t&bits == bits {
			names = append(names, strconv.Quote(n))
			t &^= bits
		}
	}
	if t&tFraction != 0 {
		names = append(names, `"number"`)
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// typesOf is the set of JSON types s admits by its type, enum and const,
// and whether any of these is present.
func typesOf(s *node) (typeSet, bool, error) {
	set, typed := tAll, false
	if t := s.get("type"); t != nil {
		names := []*node{t}
		if t.kind == kArray {
			names = t.vals
		}
		var ts typeSet
		for _, n := range names {
			bits, ok := typeNames[n.text]
			if n.kind != kString || !ok {
				return 0, false, fmt.Errorf("type must be a JSON Schema type name or an array of them")
			}
			ts |= bits
		}
		set, typed = set&ts, true
	}
	if e := s.get("enum"); e != nil {
		if e.kind != kArray {
			return 0, false, fmt.Errorf("enum must be an array")
		}
		var ts typeSet
		for _, v := range e.vals {
			ts |= valueType(v)
		}
		set, typed = set&ts, true
	}
	if k := s.get("const"); k != nil {
		set, typed = set&valueType(k), true
	}
	return set, typed, nil
}

func valueType(v *node) typeSet {
	switch v.kind {
	case kNull:
		return tNull
	case kBool:
		return tBool
	case kString:
		return tString
	case kArray:
		return tArray
	case kObject:
		return tObject
	}
	if integral(v.text) {
		return tInteger
	}
	return tFraction
}

// integral says whether the JSON number text has no fraction, from its
// digits and exponent (1.50e2 is 150; a big.Rat of 1e999999999 would not
// fit in memory).
func integral(text string) bool {
	mant, exp := text, 0
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		mant = text[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(text[i+1:], "+"))
		if err != nil { // out of int range
			e = 1 << 30
			if text[i+1] == '-' {
				e = -e
			}
		}
		exp = e
	}
	whole, frac, _ := strings.Cut(strings.TrimPrefix(mant, "-"), ".")
	digits := strings.TrimLeft(whole+frac, "0")
	if digits == "" {
		return true // zero
	}
	trimmed := strings.TrimRight(digits, "0")
	// value = trimmed × 10^(exp − len(frac) + trailing zeros)
	return exp-len(frac)+len(digits)-len(trimmed) >= 0
}
