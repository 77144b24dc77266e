package registry

import (
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/floe-dev/floe/codec"
)

// Keyed decodes records whose keys are framed by the registry
// (key-format avro, protobuf or json-schema): the value with the table's
// own decoder, the key with a Decoder of its own into the key column, a
// struct whose fields the key's writer schema fills as a value's fill a
// table. A row and its key land together or not at all: the key is decoded
// (and thrown away) first, so that a key at fault, or a registry that does
// not answer, stops the record before anything is appended; then the value
// is appended, and the key again, which cannot fail now. Keys are short,
// so decoding them twice costs little. Keys do not evolve the table: their
// fields the column lacks are skipped, and a key the column cannot take is
// a bad record (schema_incompatible) named by the key column.
type Keyed struct {
	value    Appender
	key      *Decoder
	col      int
	name     string
	fields   *arrow.Schema // the key column's fields
	nullable bool
	checks   sync.Pool // *keyCheck
}

// keyCheck is where phase 1 decodes keys: a builder of the key's fields,
// emptied every keyCheckRows rows.
type keyCheck struct {
	b    *array.RecordBuilder
	rows int
}

const keyCheckRows = 256

// NewKeyed wraps value, the decoder of table's rows, so that the key
// column cfg.Metadata.Key is filled from keys of format, framed by reg.
func NewKeyed(value Appender, reg *Client, format Format, table *arrow.Schema, cfg codec.Config) (*Keyed, error) {
	name := cfg.Metadata.Key
	idx := table.FieldIndices(name)
	if len(idx) != 1 {
		return nil, fmt.Errorf("metadata column %q: not in the table schema", name)
	}
	f := table.Field(idx[0])
	st, ok := f.Type.(*arrow.StructType)
	if !ok {
		return nil, fmt.Errorf("metadata column %q: must be a struct for key-format %s, got %s", name, format.Name(), f.Type)
	}
	fields := arrow.NewSchema(st.Fields(), nil)
	kcfg := codec.DefaultConfig()
	kcfg.Format, kcfg.MaxRecordBytes = format.Name(), cfg.MaxRecordBytes
	key, err := NewDecoder(reg, format, fields, kcfg)
	if err != nil {
		return nil, fmt.Errorf("key-format %s: %w", format.Name(), err)
	}
	k := &Keyed{value: value, key: key, col: idx[0], name: name, fields: fields, nullable: f.Nullable}
	k.checks.New = func() any { return &keyCheck{b: array.NewRecordBuilder(memory.DefaultAllocator, fields)} }
	return k, nil
}

// Append decodes m's key and value into one row of b, or appends nothing
// and returns an error: the key's own errors name the key column.
func (k *Keyed) Append(b codec.Row, m *codec.Message) error {
	km := *m
	km.Key, km.Value, km.Headers = nil, m.Key, nil
	if m.Key != nil {
		if err := k.check(&km); err != nil {
			return err
		}
	}
	if err := k.value.Append(b, m); err != nil {
		return err
	}
	sb := b.Field(k.col).(*array.StructBuilder)
	if m.Key == nil { // the column is nullable: the value's decoder refuses a null key otherwise
		sb.AppendNull()
		return nil
	}
	sb.Append(true)
	if err := k.key.Append(structRow{sb, k.fields}, &km); err != nil {
		// The same bytes were decoded with the same schema a moment ago.
		panic("registry: a key failed after it was checked: " + err.Error())
	}
	return nil
}

// check is phase 1 for a key: decoded into a builder that is thrown away.
func (k *Keyed) check(km *codec.Message) error {
	c := k.checks.Get().(*keyCheck)
	defer k.checks.Put(c)
	err := k.key.Append(c.b, km)
	if err == nil {
		if c.rows++; c.rows == keyCheckRows {
			c.b.NewRecordBatch().Release()
			c.rows = 0
		}
		return nil
	}
	var de *codec.DecodeError
	if errors.As(err, &de) {
		named := *de
		named.Field = k.name
		if de.Field != "" {
			named.Field += "." + de.Field
		}
		named.Detail = "record key: " + de.Detail
		return &named
	}
	return err // the registry did not answer: codec.ErrRetry
}

// structRow is the fields of a struct column as a Row.
type structRow struct {
	sb     *array.StructBuilder
	schema *arrow.Schema
}

func (r structRow) Schema() *arrow.Schema     { return r.schema }
func (r structRow) Field(i int) array.Builder { return r.sb.FieldBuilder(i) }
