package codec

// Dates, times, timestamps and uuids are parsed by hand from fixed layouts:
// time.Parse wants a string (an allocation per value) and is several times
// slower than these.

const (
	secondsPerDay = 86400
	nanosPerSec   = 1_000_000_000
)

// digitsN parses exactly len(b) decimal digits.
func digitsN(b []byte) (int64, bool) {
	var v int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// parseDate parses "YYYY-MM-DD" into days since 1970-01-01.
func parseDate(b []byte) (int64, bool) {
	if len(b) != 10 {
		return 0, false
	}
	return parseDatePrefix(b)
}

func parseDatePrefix(b []byte) (int64, bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y, ok1 := digitsN(b[0:4])
	m, ok2 := digitsN(b[5:7])
	d, ok3 := digitsN(b[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil converts a proleptic Gregorian date to days since
// 1970-01-01 (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// parseClock parses "HH:MM:SS" with an optional fraction of 1 to 9 digits
// at the start of b. It returns nanoseconds since midnight and the bytes used.
func parseClock(b []byte) (int64, int, bool) {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return 0, 0, false
	}
	h, ok1 := digitsN(b[0:2])
	mi, ok2 := digitsN(b[3:5])
	s, ok3 := digitsN(b[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || s > 59 {
		return 0, 0, false
	}
	n := 8
	var frac int64
	if n < len(b) && b[n] == '.' {
		n++
		start := n
		for n < len(b) && isDigit(b[n]) {
			frac = frac*10 + int64(b[n]-'0')
			n++
			if n-start > 9 {
				return 0, 0, false
			}
		}
		digits := n - start
		if digits == 0 {
			return 0, 0, false
		}
		for ; digits < 9; digits++ {
			frac *= 10
		}
	}
	return ((h*60+mi)*60+s)*nanosPerSec + frac, n, true
}

// parseTime parses a whole time-of-day string.
func parseTime(b []byte) (int64, bool) {
	ns, n, ok := parseClock(b)
	return ns, ok && n == len(b)
}

// parseTimestamp parses an RFC 3339 date-time ("T", "t" or a space between
// date and time) with an optional zone ("Z" or ±hh:mm). It returns UTC
// seconds and nanoseconds since the epoch, and whether a zone was given;
// without one the wall time is taken as is.
func parseTimestamp(b []byte) (sec, nsec int64, zoned, ok bool) {
	if len(b) < 19 || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') {
		return 0, 0, false, false
	}
	days, ok := parseDatePrefix(b)
	if !ok {
		return 0, 0, false, false
	}
	clk, n, ok := parseClock(b[11:])
	if !ok {
		return 0, 0, false, false
	}
	var off int64
	switch rest := b[11+n:]; {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
		zoned = true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		hh, ok1 := digitsN(rest[1:3])
		mm, ok2 := digitsN(rest[4:6])
		if !ok1 || !ok2 || hh > 23 || mm > 59 {
			return 0, 0, false, false
		}
		off = (hh*60 + mm) * 60
		if rest[0] == '-' {
			off = -off
		}
		zoned = true
	default:
		return 0, 0, false, false
	}
	return days*secondsPerDay + clk/nanosPerSec - off, clk % nanosPerSec, zoned, true
}

// appendUUID parses the canonical 36-character form (any hex case) and
// appends the 16 bytes to dst.
func appendUUID(dst, s []byte) ([]byte, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return dst, false
	}
	var out [16]byte
	var bad byte
	for i, p := range uuidDigits {
		hi, lo := hexValue[s[p]], hexValue[s[p+1]]
		bad |= hi | lo
		out[i] = hi<<4 | lo
	}
	if bad > 0x0f {
		return dst, false
	}
	return append(dst, out[:]...), true
}

// uuidDigits is where each byte's two hex digits start in the 36-character
// form.
var uuidDigits = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// hexValue is each byte's value as a hex digit (either case), 0xff if it
// is not one.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := byte(0); c < 10; c++ {
		t['0'+c] = c
	}
	for c := byte(0); c < 6; c++ {
		t['a'+c], t['A'+c] = 10+c, 10+c
	}
	return t
}()
