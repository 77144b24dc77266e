package codec

import (
	"errors"
	"fmt"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"
)

func TestErrorMessage(t *testing.T) {
	h := newHarness(t, DefaultConfig(), opt(1, "amount", iceberg.DecimalTypeOf(10, 2)))
	err := h.appendMessage(&Message{Topic: "events", Partition: 3, Offset: 1234, Value: []byte(`{"amount": true}`)})
	require.EqualError(t, err, `decode events[3]@1234: field "amount": wrong_type: expected decimal(10,2), got JSON boolean`)

	de := requireDecodeError(t, err, KindWrongType, "amount")
	require.Equal(t, "events", de.Topic)
	require.Equal(t, int32(3), de.Partition)
	require.Equal(t, int64(1234), de.Offset)

	wrapped := fmt.Errorf("append: %w", err)
	kind, ok := KindOf(wrapped)
	require.True(t, ok)
	require.Equal(t, KindWrongType, kind)
	_, ok = KindOf(errors.New("other"))
	require.False(t, ok)

	err = h.appendMessage(&Message{Topic: "events", Partition: 0, Offset: 7, Value: []byte(`[]`)})
	require.EqualError(t, err, `decode events[0]@7: not_an_object: got JSON array`)
}

// TestDetails pins the wording of representative errors.
func TestDetails(t *testing.T) {
	p := iceberg.PrimitiveTypes
	tests := []struct {
		typ    iceberg.Type
		json   string
		detail string
	}{
		{p.Int32, `1.5`, "expected int, got JSON number with a fraction"},
		{p.Int32, `1e10`, "does not fit in int"},
		{p.Int64, `"1"`, "expected long, got JSON string"},
		{iceberg.DecimalTypeOf(10, 2), `1.234`, "decimal(10,2): more than 2 fractional digits (rounding is not done)"},
		{iceberg.DecimalTypeOf(4, 2), `100`, "decimal(4,2): more than 4 significant digits"},
		{p.TimestampTz, `"2026-01-01T00:00:00"`, "timestamptz needs a zone (Z or ±hh:mm)"},
		{iceberg.FixedTypeOf(2), `"AQID"`, "decodes to 3 bytes, fixed[2] needs 2"},
		{p.String, "\"\xff\"", "invalid UTF-8 in string"},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			h := newHarness(t, DefaultConfig(), opt(1, "v", tt.typ))
			var de *DecodeError
			require.ErrorAs(t, h.append(`{"v": `+tt.json+`}`), &de)
			require.Equal(t, tt.detail, de.Detail)
		})
	}
}

// TestTopLevelKinds covers errors about the value as a whole (Field "").
func TestTopLevelKinds(t *testing.T) {
	tests := []struct {
		name  string
		value []byte
		kind  Kind
	}{
		{"tombstone", nil, KindNullValue},
		{"JSON null", []byte(`null`), KindNullValue},
		{"JSON null with spaces", []byte(" \n null \t"), KindNullValue},
		{"array", []byte(`[1, 2]`), KindNotAnObject},
		{"string", []byte(`"x"`), KindNotAnObject},
		{"number", []byte(`12`), KindNotAnObject},
		{"boolean", []byte(`true`), KindNotAnObject},
		{"empty", []byte{}, KindMalformedJSON},
		{"whitespace", []byte("  \n"), KindMalformedJSON},
		{"unclosed object", []byte(`{"id": 1`), KindMalformedJSON},
		{"unclosed string", []byte(`{"id": "abc`), KindMalformedJSON},
		{"extra brace", []byte(`{"id": 1}}`), KindMalformedJSON},
		{"trailing garbage", []byte(`{"id": 1} x`), KindMalformedJSON},
		{"two objects", []byte(`{"id": 1}{"id": 2}`), KindMalformedJSON},
		{"unquoted key", []byte(`{id: 1}`), KindMalformedJSON},
		{"single quotes", []byte(`{'id': 1}`), KindMalformedJSON},
		{"leading zero", []byte(`{"id": 01}`), KindMalformedJSON},
		{"plus sign", []byte(`{"id": +1}`), KindMalformedJSON},
		{"bare dot", []byte(`{"id": 1.}`), KindMalformedJSON},
		{"bare exponent", []byte(`{"id": 1e}`), KindMalformedJSON},
		{"trailing comma", []byte(`{"id": 1,}`), KindMalformedJSON},
		{"missing colon", []byte(`{"id" 1}`), KindMalformedJSON},
		{"missing comma", []byte(`{"id": 1 "name": "x"}`), KindMalformedJSON},
		{"bad literal", []byte(`{"id": tru}`), KindMalformedJSON},
		{"literal with suffix", []byte(`{"ok": truex}`), KindMalformedJSON},
		{"NaN literal", []byte(`{"score": NaN}`), KindMalformedJSON},
		{"control character", []byte("{\"name\": \"a\x01b\"}"), KindMalformedJSON},
		{"bad escape", []byte(`{"name": "\q"}`), KindMalformedJSON},
		{"short unicode escape", []byte(`{"name": "\u12"}`), KindMalformedJSON},
		{"malformed in unknown field", []byte(`{"id": 1, "x": [1, 2}`), KindMalformedJSON},
		{"malformed unknown key", []byte(`{"id": 1, "x": {1: 2}}`), KindMalformedJSON},
		{"malformed array", []byte(`[1, 2`), KindMalformedJSON},
		{"null with suffix", []byte(`nullx`), KindMalformedJSON},
		{"wrong type then malformed", []byte(`{"id": "x", "name": }`), KindMalformedJSON},
		{"missing required then trailing data", []byte(`{} {}`), KindMalformedJSON},
		{"invalid UTF-8 in key", []byte("{\"\xff\": 1, \"id\": 1}"), KindInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, DefaultConfig(),
				req(1, "id", iceberg.PrimitiveTypes.Int64),
				opt(2, "name", iceberg.PrimitiveTypes.String),
				opt(3, "ok", iceberg.PrimitiveTypes.Bool),
				opt(4, "score", iceberg.PrimitiveTypes.Float64))
			err := h.appendMessage(&Message{Topic: "events", Partition: 1, Offset: 99, Value: tt.value})
			de := requireDecodeError(t, err, tt.kind, "")
			require.Equal(t, "events", de.Topic)
			require.Equal(t, int64(99), de.Offset)
			require.Contains(t, err.Error(), "decode events[1]@99: "+string(tt.kind))
		})
	}
}

func TestKinds(t *testing.T) {
	require.Len(t, Kinds(), 16)
	seen := map[Kind]bool{}
	for _, k := range Kinds() {
		require.False(t, seen[k])
		seen[k] = true
	}
}

func TestRecordTooLargeIsRefusedBeforeDecoding(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecordBytes = 18
	h := newHarness(t, cfg, req(1, "id", iceberg.PrimitiveTypes.Int64))
	// Exactly at the limit: decoded (key counts too).
	require.NoError(t, h.appendMessage(&Message{Topic: "events", Offset: 1, Key: []byte("k1234"), Value: []byte(`{"id":123456}`)}))
	// One byte over, and malformed too: the size refusal wins, nothing is parsed.
	err := h.appendMessage(&Message{Topic: "events", Partition: 2, Offset: 7, Key: []byte("k123456"), Value: []byte(`{"id":123456`)})
	de := requireDecodeError(t, err, KindRecordTooLarge, "")
	require.Equal(t, int64(7), de.Offset)
	require.Contains(t, err.Error(), "decode events[2]@7: record_too_large: key and value are 19 bytes, over max-record-bytes 18")
}
