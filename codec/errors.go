package codec

import (
	"errors"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Kind classifies why a record could not be decoded. The values are stable:
// they appear in logs and double as the "reason" label of metrics.
type Kind string

const (
	// KindMalformedJSON: the value is not valid JSON (syntax error, trailing
	// data after the top-level object, empty value). It takes precedence over
	// every other kind: a record that is both malformed and mistyped is
	// reported as malformed.
	KindMalformedJSON Kind = "malformed_json"
	// KindNullValue: the value is JSON null or a Kafka tombstone (nil value).
	KindNullValue Kind = "null_value"
	// KindNotAnObject: the top-level value is valid JSON but not an object.
	KindNotAnObject Kind = "not_an_object"
	// KindMissingRequired: a required column is absent or null.
	KindMissingRequired Kind = "missing_required"
	// KindWrongType: the JSON type cannot be coerced to the column type, e.g.
	// a string into a long or 1.5 into an int.
	KindWrongType Kind = "wrong_type"
	// KindOutOfRange: the value has the right shape but does not fit: an
	// integer beyond the column's width, a decimal with too many digits, a
	// timestamp outside the representable span.
	KindOutOfRange Kind = "out_of_range"
	// KindInvalidValue: the JSON type fits but the content does not parse
	// (a malformed date, uuid or base64, invalid UTF-8, a duplicate key).
	KindInvalidValue Kind = "invalid_value"
	// KindRecordTooLarge: the record's key plus value exceeds
	// max-record-bytes; it was refused before decoding.
	KindRecordTooLarge Kind = "record_too_large"
)

// Kinds returns every Kind, e.g. to initialise metric label values to 0.
func Kinds() []Kind {
	return []Kind{
		KindMalformedJSON, KindNullValue, KindNotAnObject, KindMissingRequired,
		KindWrongType, KindOutOfRange, KindInvalidValue, KindRecordTooLarge,
		KindMalformedAvro, KindMalformedProtobuf, KindSchemaUnknown, KindSchemaIncompatible,
		KindCDCDelete, KindCDCTruncate, KindRouteMissing, KindRouteNotAllowed,
	}
}

// Kinds of records a table routed by content (tables[].route-by) cannot
// route: no route value (header or field absent), or a value naming a
// table outside the allow-list.
const (
	KindRouteMissing    Kind = "route_missing"
	KindRouteNotAllowed Kind = "route_not_allowed"
)

// Kinds of the registry formats: a value whose schema ID the registry does
// not know, and one whose writer schema cannot be written to the table
// (a type change, a removed required field) under its schema-evolution.
const (
	KindSchemaUnknown      Kind = "schema_unknown"
	KindSchemaIncompatible Kind = "schema_incompatible"
)

// ErrRetry marks a record that cannot be decoded now for a reason outside
// the record — the schema registry that holds its writer schema is
// unreachable. It is never a bad record: the consumer stops the partition
// at that record and reads it again after a backoff.
var ErrRetry = errors.New("cannot be decoded now; retried")

// DecodeError is returned by [Decoder.Append] when a record cannot be
// decoded. It names the record's coordinates so an operator can fetch it,
// and never quotes record content other than object keys on the field path.
type DecodeError struct {
	Topic     string
	Partition int32
	Offset    int64
	// Field is the path of the offending value, like "user.address.zip",
	// "items[2].sku" or `labels["env"]`; "" means the whole value.
	Field  string
	Kind   Kind
	Detail string
	// Policy, when set, is what becomes of the record instead of the
	// table's on-error: a Debezium delete goes by the table's deletes.
	Policy OnError
}

// Error reads like
// `decode events[3]@1234: field "amount": wrong_type: expected decimal(10,2), got JSON boolean`.
func (e *DecodeError) Error() string {
	var b strings.Builder
	b.Grow(64 + len(e.Topic) + len(e.Field) + len(e.Detail))
	b.WriteString("decode ")
	b.WriteString(e.Topic)
	b.WriteByte('[')
	b.WriteString(strconv.FormatInt(int64(e.Partition), 10))
	b.WriteString("]@")
	b.WriteString(strconv.FormatInt(e.Offset, 10))
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString("field ")
		b.WriteString(strconv.Quote(e.Field))
		b.WriteString(": ")
	}
	b.WriteString(string(e.Kind))
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// KindOf returns the Kind of the first *DecodeError in err's chain, and
// false if there is none (the error is not about the record's content).
func KindOf(err error) (Kind, bool) {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Kind, true
	}
	return "", false
}

// fieldErr is the decoder's internal error. It is a pointer type allocated
// only on failure, so the success path stays allocation-free; the path is
// collected innermost first while the error unwinds.
type fieldErr struct {
	kind   Kind
	detail string
	path   []string
	widen  arrow.DataType // out_of_range that fits this wider type (long, double)
}

func newErr(kind Kind, detail string) *fieldErr { return &fieldErr{kind: kind, detail: detail} }

// in prepends a path segment: a field name, "[3]" or `["key"]`.
func (e *fieldErr) in(segment string) *fieldErr {
	e.path = append(e.path, segment)
	return e
}

func (e *fieldErr) field() string {
	var b strings.Builder
	for i := len(e.path) - 1; i >= 0; i-- {
		s := e.path[i]
		if b.Len() > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func (e *fieldErr) decodeError(m *Message) *DecodeError {
	return &DecodeError{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		Field: e.field(), Kind: e.kind, Detail: e.detail,
	}
}

func indexSegment(i int) string { return "[" + strconv.Itoa(i) + "]" }

func keySegment(k []byte) string { return "[" + strconv.Quote(string(k)) + "]" }

// jsonKindName names the JSON type starting with c, for wrong_type details.
func jsonKindName(c byte) string {
	switch c {
	case '{':
		return "JSON object"
	case '[':
		return "JSON array"
	case '"':
		return "JSON string"
	case 't', 'f':
		return "JSON boolean"
	case 'n':
		return "JSON null"
	default:
		return "JSON number"
	}
}

func wrongType(n *node, c byte) *fieldErr {
	return newErr(KindWrongType, "expected "+n.tname+", got "+jsonKindName(c))
}
