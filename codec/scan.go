package codec

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// scanner is a minimal JSON tokenizer over one record value. It validates
// as it goes (RFC 8259 grammar, UTF-8) and does not allocate once scratch
// has grown: strings without escapes are located in the input, escaped ones
// are unescaped into scratch. Spans and slices stay valid until reset.
type scanner struct {
	buf     []byte
	pos     int
	scratch []byte
	stack   []byte // closing brackets while skipping
}

func (s *scanner) reset(buf []byte) {
	s.buf, s.pos = buf, 0
	s.scratch = s.scratch[:0]
	s.stack = s.stack[:0]
}

// isSpace marks JSON whitespace.
var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// plainStr marks bytes that a string's fast path copies as is: printable
// ASCII other than '"' and '\\'.
var plainStr = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *scanner) skipWS() {
	for s.pos < len(s.buf) && isSpace[s.buf[s.pos]] {
		s.pos++
	}
}

// peek returns the next byte without consuming it, 0 at the end.
func (s *scanner) peek() byte {
	if s.pos < len(s.buf) {
		return s.buf[s.pos]
	}
	return 0
}

func (s *scanner) syntaxErr() *fieldErr {
	if s.pos >= len(s.buf) {
		return newErr(KindMalformedJSON, "unexpected end of input")
	}
	return newErr(KindMalformedJSON, "invalid character "+strconv.QuoteRune(rune(s.buf[s.pos]))+
		" at byte "+strconv.Itoa(s.pos))
}

// expect consumes c after optional whitespace.
func (s *scanner) expect(c byte) *fieldErr {
	s.skipWS()
	if s.peek() != c {
		return s.syntaxErr()
	}
	s.pos++
	return nil
}

// span locates a decoded string: in the input, or in scratch when it had
// to be unescaped or decoded. Offsets (not slices) keep values free of
// pointers, so the intermediate form costs the garbage collector nothing,
// and stay valid when scratch grows.
type span struct {
	off, n  int32
	scratch bool
}

func (s *scanner) bytes(sp span) []byte {
	if sp.scratch {
		return s.scratch[sp.off : sp.off+sp.n]
	}
	return s.buf[sp.off : sp.off+sp.n]
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plainWord reports whether the 8 bytes of w need no attention in a
// string: no '"', no '\\', no control character, nothing beyond ASCII.
func plainWord(w uint64) bool {
	// Classic SWAR tests (Hacker's Delight): (x - lsb*n) &^ x has a high
	// bit set iff some byte of x is below n; a zero byte of w^(lsb*c) is a c.
	q := w ^ lsb*'"'
	b := w ^ lsb*'\\'
	ctl := (w - lsb*0x20) &^ w
	quote := (q - lsb) &^ q
	bslash := (b - lsb) &^ b
	return (ctl|quote|bslash|w)&msb == 0
}

// readString reads the string starting at s.pos (which is '"') and returns
// where its unescaped content is. Inputs beyond 2 GiB are not supported
// (Kafka's own limits are far lower).
// readKey reads an object key and the colon after it.
func (s *scanner) readKey() (span, *fieldErr) {
	s.skipWS()
	if s.peek() != '"' {
		return span{}, s.syntaxErr()
	}
	sp, err := s.readString()
	if err != nil {
		return span{}, err
	}
	if err := s.expect(':'); err != nil {
		return span{}, err
	}
	return sp, nil
}

func (s *scanner) readString() (span, *fieldErr) {
	start := s.pos + 1
	buf := s.buf
	i := start
	for i+8 <= len(buf) && plainWord(binary.LittleEndian.Uint64(buf[i:])) {
		i += 8
	}
	for i < len(buf) {
		c := buf[i]
		if plainStr[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.pos = i + 1
			return span{off: int32(start), n: int32(i - start)}, nil
		case c == '\\':
			return s.readEscaped(start, i)
		case c < 0x20:
			s.pos = i
			return span{}, s.controlErr()
		default:
			r, size := utf8.DecodeRune(buf[i:])
			if r == utf8.RuneError && size == 1 {
				return span{}, newErr(KindInvalidValue, "invalid UTF-8 in string")
			}
			i += size
		}
	}
	s.pos = len(buf)
	return span{}, s.syntaxErr()
}

func (s *scanner) controlErr() *fieldErr {
	return newErr(KindMalformedJSON, "control character in string at byte "+strconv.Itoa(s.pos))
}

// readEscaped continues readString from the first backslash at i, building
// the content in scratch.
func (s *scanner) readEscaped(start, i int) (span, *fieldErr) {
	buf := s.buf
	mark := len(s.scratch)
	out := append(s.scratch, buf[start:i]...)
	for i < len(buf) {
		c := buf[i]
		switch {
		case plainStr[c]:
			out = append(out, c)
			i++
		case c == '"':
			s.pos = i + 1
			s.scratch = out
			return span{off: int32(mark), n: int32(len(out) - mark), scratch: true}, nil
		case c == '\\':
			if i+1 >= len(buf) {
				s.pos = len(buf)
				return span{}, s.syntaxErr()
			}
			e := buf[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, n, err := s.unicodeEscape(i)
				if err != nil {
					return span{}, err
				}
				i = n
				out = utf8.AppendRune(out, r)
			default:
				s.pos = i - 1
				return span{}, s.syntaxErr()
			}
		case c < 0x20:
			s.pos = i
			return span{}, s.controlErr()
		default:
			r, size := utf8.DecodeRune(buf[i:])
			if r == utf8.RuneError && size == 1 {
				return span{}, newErr(KindInvalidValue, "invalid UTF-8 in string")
			}
			out = append(out, buf[i:i+size]...)
			i += size
		}
	}
	s.pos = len(buf)
	return span{}, s.syntaxErr()
}

// unicodeEscape decodes the hex digits of a \u escape at i (just after the
// "u"), joining a surrogate pair. It returns the rune and the index after it.
func (s *scanner) unicodeEscape(i int) (rune, int, *fieldErr) {
	r, ok := hex4(s.buf, i)
	if !ok {
		s.pos = i
		return 0, 0, newErr(KindMalformedJSON, "invalid \\u escape at byte "+strconv.Itoa(i))
	}
	i += 4
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, 0, newErr(KindInvalidValue, "unpaired UTF-16 surrogate in string")
	case r >= 0xD800 && r <= 0xDBFF:
		if i+1 >= len(s.buf) || s.buf[i] != '\\' || s.buf[i+1] != 'u' {
			return 0, 0, newErr(KindInvalidValue, "unpaired UTF-16 surrogate in string")
		}
		lo, ok := hex4(s.buf, i+2)
		if !ok {
			return 0, 0, newErr(KindMalformedJSON, "invalid \\u escape at byte "+strconv.Itoa(i+2))
		}
		if lo < 0xDC00 || lo > 0xDFFF {
			return 0, 0, newErr(KindInvalidValue, "unpaired UTF-16 surrogate in string")
		}
		return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), i + 6, nil
	}
	return r, i, nil
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		v := hexValue[c]
		if v > 0x0f {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// readNumber reads a number with JSON grammar at s.pos and returns its text.
func (s *scanner) readNumber() ([]byte, *fieldErr) {
	start := s.pos
	n := numberLen(s.buf[start:])
	if n == 0 {
		return nil, s.syntaxErr()
	}
	s.pos += n
	return s.buf[start:s.pos], nil
}

// numberLen returns the length of the JSON number at the start of b, or 0
// if b does not start with one. A number must be followed by a delimiter,
// which the caller checks.
func numberLen(b []byte) int {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return 0
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		if i == d {
			return 0
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		if i == d {
			return 0
		}
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// readLiteral consumes true, false or null at s.pos.
func (s *scanner) readLiteral(lit string) *fieldErr {
	if len(s.buf)-s.pos < len(lit) || string(s.buf[s.pos:s.pos+len(lit)]) != lit {
		return s.syntaxErr()
	}
	s.pos += len(lit)
	return nil
}

// readBool consumes true or false at s.pos.
func (s *scanner) readBool() (bool, *fieldErr) {
	if s.peek() == 't' {
		return true, s.readLiteral("true")
	}
	return false, s.readLiteral("false")
}

// skipValue consumes one JSON value of any shape, validating it. It is
// iterative so hostile nesting cannot exhaust the stack.
func (s *scanner) skipValue() *fieldErr {
	base := len(s.stack)
	for {
		s.skipWS()
		switch c := s.peek(); {
		case c == '{' || c == '[':
			s.pos++
			s.skipWS()
			if s.peek() == c+2 { // '}' and ']' are '{'+2 and '['+2
				s.pos++
				break
			}
			s.stack = append(s.stack, c+2)
			if c == '{' {
				if err := s.skipKey(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if _, err := s.readString(); err != nil {
				return err
			}
		case c == 't' || c == 'f':
			if _, err := s.readBool(); err != nil {
				return err
			}
		case c == 'n':
			if err := s.readLiteral("null"); err != nil {
				return err
			}
		default:
			if _, err := s.readNumber(); err != nil {
				return err
			}
		}
		// After a value: close containers or move to the next element.
		for {
			if len(s.stack) == base {
				return nil
			}
			s.skipWS()
			c := s.peek()
			top := s.stack[len(s.stack)-1]
			if c == top {
				s.pos++
				s.stack = s.stack[:len(s.stack)-1]
				continue
			}
			if c != ',' {
				return s.syntaxErr()
			}
			s.pos++
			if top == '}' {
				if err := s.skipKey(); err != nil {
					return err
				}
			}
			break
		}
	}
}

// skipKey consumes an object key and its colon.
func (s *scanner) skipKey() *fieldErr {
	s.skipWS()
	if s.peek() != '"' {
		return s.syntaxErr()
	}
	if _, err := s.readString(); err != nil {
		return err
	}
	return s.expect(':')
}

// validate reports whether buf is one well-formed JSON value, returning the
// syntax error if not. It is used only on the error path, to let
// malformed_json take precedence over errors found earlier in the value.
func validate(buf []byte) *fieldErr {
	var s scanner
	s.reset(buf)
	if err := s.skipValue(); err != nil {
		return err
	}
	s.skipWS()
	if s.pos != len(s.buf) {
		return newErr(KindMalformedJSON, "trailing data at byte "+strconv.Itoa(s.pos))
	}
	return nil
}
