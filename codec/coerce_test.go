package codec

import (
	"math"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"
)

func micros(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMicro()
}

func nanos(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

// TestCoercions decodes {"v": <json>} into an optional column v of each
// type and checks the stored value or the error kind.
func TestCoercions(t *testing.T) {
	p := iceberg.PrimitiveTypes
	dec := iceberg.DecimalTypeOf(10, 2)
	nines38 := "99999999999999999999999999999999999999"
	tests := []struct {
		name string
		typ  iceberg.Type
		json string
		want any
		kind Kind
	}{
		{"bool true", p.Bool, `true`, true, ""},
		{"bool false", p.Bool, `false`, false, ""},
		{"bool from string", p.Bool, `"true"`, nil, KindWrongType},
		{"bool from number", p.Bool, `1`, nil, KindWrongType},

		{"int", p.Int32, `42`, int32(42), ""},
		{"int min", p.Int32, `-2147483648`, int32(math.MinInt32), ""},
		{"int max", p.Int32, `2147483647`, int32(math.MaxInt32), ""},
		{"int above max", p.Int32, `2147483648`, nil, KindOutOfRange},
		{"int below min", p.Int32, `-2147483649`, nil, KindOutOfRange},
		{"int exponent", p.Int32, `1e3`, int32(1000), ""},
		{"int integral fraction", p.Int32, `2.0`, int32(2), ""},
		{"int fraction with exponent", p.Int32, `1.5e1`, int32(15), ""},
		{"int zero huge exponent", p.Int32, `0e999999999999`, int32(0), ""},
		{"int negative zero", p.Int32, `-0`, int32(0), ""},
		{"int fraction", p.Int32, `1.5`, nil, KindWrongType},
		{"int negative exponent", p.Int32, `15e-1`, nil, KindWrongType},
		{"int tiny", p.Int32, `1e-999999999`, nil, KindWrongType},
		{"int from string", p.Int32, `"42"`, nil, KindWrongType},
		{"int from bool", p.Int32, `true`, nil, KindWrongType},
		{"int from object", p.Int32, `{"a":1}`, nil, KindWrongType},
		{"int from array", p.Int32, `[1]`, nil, KindWrongType},

		{"long", p.Int64, `1234567890123`, int64(1234567890123), ""},
		{"long max", p.Int64, `9223372036854775807`, int64(math.MaxInt64), ""},
		{"long min", p.Int64, `-9223372036854775808`, int64(math.MinInt64), ""},
		{"long max as exponent", p.Int64, `9.223372036854775807e18`, int64(math.MaxInt64), ""},
		{"long above max", p.Int64, `9223372036854775808`, nil, KindOutOfRange},
		{"long below min", p.Int64, `-9223372036854775809`, nil, KindOutOfRange},
		{"long 20 digits", p.Int64, `18446744073709551616`, nil, KindOutOfRange},
		{"long big", p.Int64, `123456789012345678901234567890`, nil, KindOutOfRange},
		{"long huge exponent", p.Int64, `1e400`, nil, KindOutOfRange},
		{"long 1e18", p.Int64, `1E+18`, int64(1e18), ""},
		{"long long fraction of zeros", p.Int64, `7.000000000000000000000000`, int64(7), ""},
		{"long leading zero fraction", p.Int64, `0.0000`, int64(0), ""},

		{"double", p.Float64, `1.5`, 1.5, ""},
		{"double integer", p.Float64, `3`, 3.0, ""},
		{"double exponent", p.Float64, `-2.5E-3`, -0.0025, ""},
		{"double precise text", p.Float64, `0.1`, 0.1, ""},
		{"double NaN", p.Float64, `"NaN"`, math.NaN(), ""},
		{"double Infinity", p.Float64, `"Infinity"`, math.Inf(1), ""},
		{"double -Infinity", p.Float64, `"-Infinity"`, math.Inf(-1), ""},
		{"double numeric string", p.Float64, `"1.5"`, nil, KindWrongType},
		{"double lowercase nan", p.Float64, `"nan"`, nil, KindWrongType},
		{"double overflow", p.Float64, `1e400`, nil, KindOutOfRange},
		{"double underflow", p.Float64, `1e-400`, 0.0, ""},
		{"double from bool", p.Float64, `false`, nil, KindWrongType},
		{"float", p.Float32, `1.5`, float32(1.5), ""},
		{"float rounds", p.Float32, `0.1`, float32(0.1), ""},
		{"float overflow", p.Float32, `1e39`, nil, KindOutOfRange},
		{"float Infinity", p.Float32, `"Infinity"`, float32(math.Inf(1)), ""},

		{"decimal number", dec, `12.3`, "12.30", ""},
		{"decimal string", dec, `"12.30"`, "12.30", ""},
		{"decimal integer", dec, `12`, "12.00", ""},
		{"decimal negative", dec, `"-0.05"`, "-0.05", ""},
		{"decimal no float rounding", dec, `0.1`, "0.10", ""},
		{"decimal exponent", dec, `1.5e2`, "150.00", ""},
		{"decimal negative exponent", dec, `"125e-2"`, "1.25", ""},
		{"decimal zero fraction digits", dec, `"12.300"`, "12.30", ""},
		{"decimal max", dec, `99999999.99`, "99999999.99", ""},
		{"decimal min", dec, `-99999999.99`, "-99999999.99", ""},
		{"decimal zero", dec, `0.000000`, "0.00", ""},
		{"decimal too many fractional digits", dec, `12.345`, nil, KindOutOfRange},
		{"decimal too many digits", dec, `123456789.1`, nil, KindOutOfRange},
		{"decimal too many digits via exponent", dec, `1e8`, nil, KindOutOfRange},
		{"decimal string not a number", dec, `"12,3"`, nil, KindInvalidValue},
		{"decimal string with spaces", dec, `" 12.3"`, nil, KindInvalidValue},
		{"decimal empty string", dec, `""`, nil, KindInvalidValue},
		{"decimal from bool", dec, `true`, nil, KindWrongType},
		{"decimal 38 digits", iceberg.DecimalTypeOf(38, 0), `"` + nines38 + `"`, nines38, ""},
		{"decimal -38 digits", iceberg.DecimalTypeOf(38, 0), `-` + nines38, "-" + nines38, ""},
		{"decimal 39 digits", iceberg.DecimalTypeOf(38, 0), `"9` + nines38 + `"`, nil, KindOutOfRange},
		{"decimal 38,10", iceberg.DecimalTypeOf(38, 10), `"1234567890123456789012345678.0123456789"`,
			"1234567890123456789012345678.0123456789", ""},

		{"date", p.Date, `"2026-11-26"`, "2026-11-26", ""},
		{"date leap day", p.Date, `"2024-02-29"`, "2024-02-29", ""},
		{"date days", p.Date, `20000`, "2024-10-04", ""},
		{"date negative days", p.Date, `-1`, "1969-12-31", ""},
		{"date before epoch", p.Date, `"1900-03-01"`, "1900-03-01", ""},
		{"date year 0001", p.Date, `"0001-01-01"`, "0001-01-01", ""},
		{"date days out of range", p.Date, `3000000000`, nil, KindOutOfRange},
		{"date days fraction", p.Date, `1.5`, nil, KindWrongType},
		{"date bad month", p.Date, `"2026-13-01"`, nil, KindInvalidValue},
		{"date not a leap year", p.Date, `"2025-02-29"`, nil, KindInvalidValue},
		{"date with time", p.Date, `"2026-11-26T00:00:00Z"`, nil, KindInvalidValue},
		{"date short", p.Date, `"2026-1-26"`, nil, KindInvalidValue},
		{"date from bool", p.Date, `true`, nil, KindWrongType},

		{"time", p.Time, `"15:04:05"`, int64(54245000000), ""},
		{"time fraction", p.Time, `"15:04:05.123456"`, int64(54245123456), ""},
		{"time short fraction", p.Time, `"15:04:05.5"`, int64(54245500000), ""},
		{"time nanoseconds truncated", p.Time, `"15:04:05.1234569"`, int64(54245123456), ""},
		{"time midnight", p.Time, `"00:00:00"`, int64(0), ""},
		{"time hour 24", p.Time, `"24:00:00"`, nil, KindInvalidValue},
		{"time leap second", p.Time, `"23:59:60"`, nil, KindInvalidValue},
		{"time without seconds", p.Time, `"15:04"`, nil, KindInvalidValue},
		{"time with zone", p.Time, `"15:04:05Z"`, nil, KindInvalidValue},
		{"time empty fraction", p.Time, `"15:04:05."`, nil, KindInvalidValue},
		{"time ten fraction digits", p.Time, `"15:04:05.1234567891"`, nil, KindInvalidValue},
		{"time from number", p.Time, `1`, nil, KindWrongType},

		{"timestamp wall time", p.Timestamp, `"2026-11-26T10:00:00"`, micros("2026-11-26T10:00:00Z"), ""},
		{"timestamp Z", p.Timestamp, `"2026-11-26T10:00:00Z"`, micros("2026-11-26T10:00:00Z"), ""},
		{"timestamp offset to UTC", p.Timestamp, `"2026-11-26T12:30:00+02:30"`, micros("2026-11-26T10:00:00Z"), ""},
		{"timestamp fraction", p.Timestamp, `"2026-11-26T10:00:00.5"`, micros("2026-11-26T10:00:00.5Z"), ""},
		{"timestamp space and lowercase", p.Timestamp, `"2026-11-26 10:00:00.25z"`, micros("2026-11-26T10:00:00.25Z"), ""},
		{"timestamp nanoseconds truncated", p.Timestamp, `"2026-11-26T10:00:00.123456789Z"`, micros("2026-11-26T10:00:00.123456Z"), ""},
		{"timestamp before epoch truncated to the past", p.Timestamp, `"1969-12-31T23:59:59.9999999Z"`, int64(-1), ""},
		{"timestamp epoch millis", p.Timestamp, `1700000000123`, int64(1700000000123000), ""},
		{"timestamp negative millis", p.Timestamp, `-1`, int64(-1000), ""},
		{"timestamp millis overflow", p.Timestamp, `9223372036854775807`, nil, KindOutOfRange},
		{"timestamp millis fraction", p.Timestamp, `1.5`, nil, KindWrongType},
		{"timestamp date only", p.Timestamp, `"2026-11-26"`, nil, KindInvalidValue},
		{"timestamp offset without colon", p.Timestamp, `"2026-11-26T10:00:00+0200"`, nil, KindInvalidValue},
		{"timestamp bad day", p.Timestamp, `"2026-11-31T10:00:00Z"`, nil, KindInvalidValue},
		{"timestamp from bool", p.Timestamp, `true`, nil, KindWrongType},
		{"timestamptz Z", p.TimestampTz, `"2026-11-26T10:00:00Z"`, micros("2026-11-26T10:00:00Z"), ""},
		{"timestamptz offset", p.TimestampTz, `"2026-11-26T04:30:00.000001-05:30"`, micros("2026-11-26T10:00:00.000001Z"), ""},
		{"timestamptz without zone", p.TimestampTz, `"2026-11-26T10:00:00"`, nil, KindInvalidValue},
		{"timestamptz millis", p.TimestampTz, `0`, int64(0), ""},
		{"timestamp_ns", p.TimestampNs, `"2026-11-26T10:00:00.123456789"`, nanos("2026-11-26T10:00:00.123456789Z"), ""},
		{"timestamp_ns millis", p.TimestampNs, `-1500`, int64(-1500000000), ""},
		{"timestamp_ns too late", p.TimestampNs, `"2300-01-01T00:00:00"`, nil, KindOutOfRange},
		{"timestamp_ns millis too large", p.TimestampNs, `9300000000000`, nil, KindOutOfRange},
		{"timestamptz_ns", p.TimestampTzNs, `"2026-11-26T11:00:00.000000001+01:00"`, nanos("2026-11-26T10:00:00.000000001Z"), ""},
		{"timestamptz_ns without zone", p.TimestampTzNs, `"2026-11-26T11:00:00"`, nil, KindInvalidValue},

		{"string", p.String, `"héllo"`, "héllo", ""},
		{"string empty", p.String, `""`, "", ""},
		{"string escapes", p.String, `"a\"b\\c\/\n\t\r\b\f\u00e9\ud83d\ude00x"`, "a\"b\\c/\n\t\r\b\fé😀x", ""},
		{"string NUL escape", p.String, `"\u0000"`, "\x00", ""},
		{"string from number", p.String, `1`, nil, KindWrongType},
		{"string from object", p.String, `{}`, nil, KindWrongType},
		{"string lone high surrogate", p.String, `"\ud83d"`, nil, KindInvalidValue},
		{"string lone low surrogate", p.String, `"\ude00"`, nil, KindInvalidValue},
		{"string invalid UTF-8", p.String, "\"a\xffb\"", nil, KindInvalidValue},
		{"string invalid UTF-8 after escape", p.String, "\"\\n\xc3\x28\"", nil, KindInvalidValue},

		{"uuid", p.UUID, `"123e4567-e89b-12d3-a456-426614174000"`, "123e4567-e89b-12d3-a456-426614174000", ""},
		{"uuid upper case", p.UUID, `"123E4567-E89B-12D3-A456-426614174000"`, "123e4567-e89b-12d3-a456-426614174000", ""},
		{"uuid without dashes", p.UUID, `"123e4567e89b12d3a456426614174000"`, nil, KindInvalidValue},
		{"uuid braces", p.UUID, `"{123e4567-e89b-12d3-a456-426614174000}"`, nil, KindInvalidValue},
		{"uuid bad hex", p.UUID, `"123e4567-e89b-12d3-a456-42661417400g"`, nil, KindInvalidValue},
		{"uuid from number", p.UUID, `1`, nil, KindWrongType},

		{"binary", p.Binary, `"aGVsbG8="`, []byte("hello"), ""},
		{"binary empty", p.Binary, `""`, []byte{}, ""},
		{"binary escaped", p.Binary, `"aGVsbG8\u003d"`, []byte("hello"), ""},
		{"binary not base64", p.Binary, `"!!!!"`, nil, KindInvalidValue},
		{"binary unpadded", p.Binary, `"aGVsbG8"`, nil, KindInvalidValue},
		{"binary url alphabet", p.Binary, `"-_-_"`, nil, KindInvalidValue},
		{"binary from array", p.Binary, `[1,2]`, nil, KindWrongType},
		{"fixed", iceberg.FixedTypeOf(4), `"AQIDBA=="`, []byte{1, 2, 3, 4}, ""},
		{"fixed too short", iceberg.FixedTypeOf(4), `"AQID"`, nil, KindInvalidValue},
		{"fixed too long", iceberg.FixedTypeOf(4), `"AQIDBAU="`, nil, KindInvalidValue},

		{"null", p.Int64, `null`, nil, ""},
		{"null string", p.String, `null`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, DefaultConfig(), opt(1, "v", tt.typ))
			err := h.append(`{"v": ` + tt.json + `}`)
			if tt.kind != "" {
				requireDecodeError(t, err, tt.kind, "v")
				return
			}
			require.NoError(t, err)
			got := cell(t, h.record().Column(0), 0)
			if f, ok := tt.want.(float64); ok && math.IsNaN(f) {
				require.True(t, math.IsNaN(got.(float64)), "got %v", got)
				return
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// TestAbsentOptional checks that absent optional fields of every kind are
// null.
func TestAbsentOptional(t *testing.T) {
	p := iceberg.PrimitiveTypes
	h := newHarness(t, DefaultConfig(),
		opt(1, "a", p.Int64), opt(2, "b", p.String), opt(3, "c", p.UUID),
		opt(4, "d", &iceberg.StructType{FieldList: []iceberg.NestedField{req(5, "x", p.Int32)}}),
		opt(6, "e", &iceberg.ListType{ElementID: 7, Element: p.Int32, ElementRequired: true}),
		opt(8, "f", &iceberg.MapType{KeyID: 9, KeyType: p.String, ValueID: 10, ValueType: p.Int32, ValueRequired: true}),
	)
	require.NoError(t, h.append(`{}`))
	r := h.record()
	for i := range int(r.NumCols()) {
		require.True(t, r.Column(i).IsNull(0), "column %d", i)
	}
}

// TestRequired checks absent and null required values at every level.
func TestRequired(t *testing.T) {
	p := iceberg.PrimitiveTypes
	fields := []iceberg.NestedField{
		req(1, "id", p.Int64),
		opt(2, "user", &iceberg.StructType{FieldList: []iceberg.NestedField{
			req(3, "name", p.String),
		}}),
		opt(4, "tags", &iceberg.ListType{ElementID: 5, Element: p.String, ElementRequired: true}),
		opt(6, "attrs", &iceberg.MapType{KeyID: 7, KeyType: p.String, ValueID: 8, ValueType: p.String, ValueRequired: true}),
	}
	tests := []struct {
		json  string
		field string
	}{
		{`{}`, "id"},
		{`{"id": null}`, "id"},
		{`{"id": 1, "user": {}}`, "user.name"},
		{`{"id": 1, "user": {"name": null}}`, "user.name"},
		{`{"id": 1, "tags": ["a", null]}`, "tags[1]"},
		{`{"id": 1, "attrs": {"a": "x", "b": null}}`, `attrs["b"]`},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			h := newHarness(t, DefaultConfig(), fields...)
			requireDecodeError(t, h.append(tt.json), KindMissingRequired, tt.field)
		})
	}
}
