package codec

import (
	"fmt"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// This file exports what the decoders of other formats (codec/avro) share
// with the JSON decoder, so that metadata columns, error paths and UUID
// text are handled by one piece of code whatever the format.

// KindMalformedAvro: the value is not a valid Avro binary datum of the
// writer schema (truncated, a varint too long, a negative length, a union
// or enum index out of range, bytes left after the datum). It takes
// precedence over every other kind, as malformed_json does for JSON.
const KindMalformedAvro Kind = "malformed_avro"

// KindMalformedProtobuf: the value is not a valid Protobuf encoding of its
// message (a truncated or overlong varint, a length past the end, a wire
// type that does not match the field's type, an invalid field number), or
// a registry-framed value whose message-index list is malformed or names
// no message. It takes precedence over every other kind.
const KindMalformedProtobuf Kind = "malformed_protobuf"

// ValidateFor reports the first invalid field of c for a decoder of the
// given format, which c.Format must name.
func (c Config) ValidateFor(format string) error {
	if c.Format != format {
		return fmt.Errorf("format: this decoder reads %s, got %q", format, c.Format)
	}
	return c.Validate()
}

// FieldError is a decode failure inside a value, built while the decoder
// unwinds: the innermost path segment is added first. It is allocated only
// on failure.
type FieldError struct{ e fieldErr }

// NewFieldError starts a FieldError. detail must not quote record values.
func NewFieldError(kind Kind, detail string) *FieldError {
	return &FieldError{e: fieldErr{kind: kind, detail: detail}}
}

// Kind returns the error's Kind.
func (e *FieldError) Kind() Kind { return e.e.kind }

// In prepends a field name to the path.
func (e *FieldError) In(name string) *FieldError {
	e.e.in(name)
	return e
}

// InIndex prepends a list position, "[3]".
func (e *FieldError) InIndex(i int) *FieldError {
	e.e.in(indexSegment(i))
	return e
}

// InKey prepends a map key, `["env"]`; the key must be valid UTF-8.
func (e *FieldError) InKey(k []byte) *FieldError {
	e.e.in(keySegment(k))
	return e
}

// DecodeError returns the error with m's coordinates.
func (e *FieldError) DecodeError(m *Message) *DecodeError { return e.e.decodeError(m) }

// Metadata fills a table's metadata columns from the Kafka record exactly
// as [Decoder] does, for the decoders of other formats.
type Metadata struct {
	cols  []*node
	index []int // position of cols[i] among the top-level columns
}

// Metadata checks that every column configured in m exists in schema with
// a compatible type. Errors name the column.
func (m MetadataColumns) Metadata(schema *arrow.Schema) (*Metadata, error) {
	return m.metadata(schema, false, KeyBinary)
}

// MetadataOf is c's metadata columns in schema. For a table of change
// events (envelope: debezium) the op, source-timestamp and
// source-position columns are filled from a Change (CheckChange,
// AppendChange); other tables cannot have them.
func (c Config) MetadataOf(schema *arrow.Schema) (*Metadata, error) {
	return c.Metadata.metadata(schema, c.Envelope == EnvelopeDebezium, c.KeyFormat)
}

func (m MetadataColumns) metadata(schema *arrow.Schema, change bool, keyFormat string) (*Metadata, error) {
	p := &Metadata{}
	for _, s := range m.specs() {
		if s.kind >= metaOp && !change {
			return nil, fmt.Errorf("metadata-columns.%s: comes from a Debezium envelope, which this format does not read yet", s.key)
		}
		idx := schema.FieldIndices(s.name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("metadata column %q: not in the table schema", s.name)
		}
		if len(idx) > 1 {
			return nil, fmt.Errorf("column %q: appears twice in the schema", s.name)
		}
		n, err := compileMeta(s.kind, schema.Field(idx[0]), keyFormat)
		if err != nil {
			return nil, err
		}
		p.cols = append(p.cols, n)
		p.index = append(p.index, idx[0])
	}
	return p, nil
}

// Has reports whether the top-level column at position i is a metadata
// column.
func (p *Metadata) Has(i int) bool {
	for _, j := range p.index {
		if i == j {
			return true
		}
	}
	return false
}

// Check returns what Append would reject in the record's metadata (a null
// key into a required column, a header key that is not UTF-8), or nil, so
// that it can be checked before anything is appended.
func (p *Metadata) Check(m *Message) *FieldError {
	for _, n := range p.cols {
		if err := checkMeta(n, m); err != nil {
			return &FieldError{e: *err}
		}
	}
	return nil
}

// Append appends the metadata columns of m to b. Check must have passed.
func (p *Metadata) Append(b Row, m *Message) { p.AppendChange(b, m, nil) }

// CheckChange returns what AppendChange would reject in the change event's
// columns (a required one it cannot fill, a time out of range), or nil.
func (p *Metadata) CheckChange(c *Change) *FieldError {
	for _, n := range p.cols {
		if n.meta >= metaOp {
			if err := c.checkChange(n); err != nil {
				return &FieldError{e: *err}
			}
		}
	}
	return nil
}

// AppendChange appends the metadata columns of m and of its change event
// c to b. Check and CheckChange must have passed.
func (p *Metadata) AppendChange(b Row, m *Message, c *Change) {
	for i, n := range p.cols {
		if n.meta >= metaOp {
			c.appendChange(n, b.Field(p.index[i]))
		} else {
			appendMeta(n, b.Field(p.index[i]), m)
		}
	}
}

// AppendUUID parses the canonical 36-character uuid form (either hex case)
// and appends its 16 bytes to dst.
func AppendUUID(dst, s []byte) ([]byte, bool) { return appendUUID(dst, s) }

// AppendBytes appends v to a string, large string or binary builder
// without converting it to a string.
func AppendBytes(b array.Builder, v []byte) { appendBytes(b, v) }

// Precheck is what every decoder checks before it reads a value: that the
// builder has the decoder's schema, max-record-bytes, and a tombstone. It
// is safe for concurrent use.
type Precheck struct {
	schema *arrow.Schema
	cfg    Config
	// equal caches the last builder schema found Equal to schema, so a
	// caller holding a distinct but equal *arrow.Schema pays the deep
	// comparison once.
	equal atomic.Pointer[arrow.Schema]
}

// NewPrecheck returns the checks of a decoder of cfg into schema.
func NewPrecheck(schema *arrow.Schema, cfg Config) *Precheck {
	return &Precheck{schema: schema, cfg: cfg}
}

// Check returns ErrSchemaMismatch when b has another schema, and a
// *DecodeError for a record over max-record-bytes (record_too_large) or a
// tombstone (null_value, under the table's deletes policy when it reads
// change events); else nil.
func (p *Precheck) Check(b Row, m *Message) error {
	if s := b.Schema(); s != p.schema && s != p.equal.Load() {
		if !s.Equal(p.schema) {
			return ErrSchemaMismatch
		}
		p.equal.Store(s)
	}
	if size := int64(len(m.Key) + len(m.Value)); size > p.cfg.MaxRecordBytes {
		return &DecodeError{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Kind: KindRecordTooLarge,
			Detail: fmt.Sprintf("key and value are %d bytes, over max-record-bytes %d", size, p.cfg.MaxRecordBytes)}
	}
	if m.Value == nil {
		return p.cfg.Tombstone(m)
	}
	return nil
}

// Tombstone is the error of m, a record with a null value: null_value,
// under the table's deletes policy when it reads change events.
func (c Config) Tombstone(m *Message) *DecodeError {
	return c.RowlessPolicy(&DecodeError{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Kind: KindNullValue,
		Detail: "tombstone (null Kafka value)"})
}
