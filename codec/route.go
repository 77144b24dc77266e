package codec

// TopLevelString returns the value of the string field name at the top of
// the JSON object value, for routing records by a field
// (tables[].route-by: field:<name>); false when value is not a JSON object,
// has no such field, or holds something other than a string there. Only
// what precedes the field is scanned; the value is not validated beyond it
// (the table's decoder does that).
func TopLevelString(value []byte, name string) (string, bool) {
	var s scanner
	s.reset(value)
	if s.expect('{') != nil {
		return "", false
	}
	s.skipWS()
	if s.peek() == '}' {
		return "", false
	}
	for {
		key, err := s.readKey()
		if err != nil {
			return "", false
		}
		if string(s.bytes(key)) == name {
			s.skipWS()
			if s.peek() != '"' {
				return "", false
			}
			sp, err := s.readString()
			if err != nil {
				return "", false
			}
			return string(s.bytes(sp)), true
		}
		if s.skipValue() != nil {
			return "", false
		}
		s.skipWS()
		switch s.peek() {
		case ',':
			s.pos++
		default:
			return "", false
		}
	}
}
