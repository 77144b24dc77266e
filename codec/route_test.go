package codec

import "testing"

func TestTopLevelString(t *testing.T) {
	for _, tc := range []struct {
		value, name, want string
		ok                bool
	}{
		{`{"type":"orders","x":1}`, "type", "orders", true},
		{` { "a" : {"type":"nested"}, "b":[1,"type"], "type" : "pay\u006dents" } `, "type", "payments", true},
		{`{"type":"a","type":"b"}`, "type", "a", true}, // the first one, as the scan meets it
		{`{"type":7}`, "type", "", false},
		{`{"type":null}`, "type", "", false},
		{`{"other":"x"}`, "type", "", false},
		{`{}`, "type", "", false},
		{`["type","orders"]`, "type", "", false},
		{`{"a":1 "type":"x"}`, "type", "", false},
		{`{"type":"unterminated`, "type", "", false},
		{``, "type", "", false},
	} {
		got, ok := TopLevelString([]byte(tc.value), tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("TopLevelString(%s, %q) = %q, %v; want %q, %v", tc.value, tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
