// Package codec decodes the JSON value of a Kafka record into one row of an
// Arrow record builder whose schema comes from the Iceberg table
// (table.SchemaToArrowSchema). User-facing rules: docs/DECODING.md.
//
// # Guarantee
//
// [Decoder.Append] appends exactly one row or nothing. The value is parsed
// and validated completely into an intermediate form first; only then are
// the column builders touched, by code that cannot fail. The batcher counts
// rows, so a half-appended row would corrupt the batch.
//
// # Coercions
//
// The top level must be a JSON object. Its keys are matched to column names
// exactly (case-sensitive). Unknown keys are ignored, after their value is
// checked to be valid JSON; keys that name a metadata column are ignored
// too, because metadata columns are filled from the Kafka record. A key
// that appears twice in an object is invalid_value. An absent field or JSON
// null gives null, or missing_required if the field is required.
//
//	boolean          true or false
//	int, long        an integral JSON number: 42, -7, 1e3, 2.0; 1.5 is
//	                 wrong_type; out of range (however large) is out_of_range
//	float, double    any JSON number (overflow is out_of_range, underflow
//	                 rounds to 0), or the strings "NaN", "Infinity", "-Infinity"
//	decimal(P,S)     a JSON number or a string holding one, from its text:
//	                 fractional digits beyond S are accepted only if they are
//	                 zeros ("12.300" into decimal(10,2)); otherwise the value
//	                 would need rounding and is out_of_range, as is one with
//	                 more than P digits
//	date             "2026-11-26", or an integer: days since 1970-01-01
//	time             "15:04:05" with an optional fraction of up to 9 digits
//	timestamp        an RFC 3339 string: without a zone it is wall time as
//	                 is, with "Z" or ±hh:mm it is converted to UTC; or an
//	                 integer: milliseconds since the epoch
//	timestamptz      the same, but a string must carry a zone
//	timestamp_ns,    as timestamp and timestamptz, in nanoseconds; values
//	timestamptz_ns   outside 1677..2262 are out_of_range
//	string           a JSON string only (a number is wrong_type)
//	uuid             the canonical 36-character form, either hex case
//	binary           standard base64 with padding
//	fixed[N]         standard base64 decoding to exactly N bytes
//	struct           a JSON object, recursively by the rules above
//	list             a JSON array
//	map              a JSON object; keys are decoded from their text as the
//	                 key type ({"7": …} fills map<int, …>)
//
// Fractions finer than the column's unit (nanoseconds into a microsecond
// column) are truncated toward the past: producers commonly emit nanosecond
// timestamps, and failing on them would stop the pipeline for no gain.
// Strings must be valid UTF-8 (invalid_value otherwise).
//
// # Errors
//
// Failures are *DecodeError values carrying the record's coordinates, the
// path of the offending field ("items[2].sku", `labels["env"]`) and a Kind
// usable as a metric label. malformed_json takes precedence: a record that
// is both malformed and mistyped is reported as malformed. Messages never
// quote record content other than object keys on the path, since values
// may be personal data that must not reach logs.
//
// # Performance
//
// New compiles the schema into a plan, so Append does no reflection and no
// map lookups per value beyond the field-name lookup. JSON is read by a
// small validating scanner; strings alias the input unless they contain
// escapes, and numbers are converted from their text. A Decoder is safe for
// concurrent use: each call borrows pooled working memory.
package codec
