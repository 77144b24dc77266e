package jsonschema

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/registry"
	"github.com/floe-dev/floe/evolution"
)

// Format is JSON Schema as a registry format: values are JSON documents
// behind the Confluent header, their writer schemas JSON Schemas. The JSON
// decoder of package codec decodes them; the writer schema decides which
// columns a table created for the topic gets, which columns a newer schema
// adds (schema-evolution), and whether its values can be written to the
// table at all.
var Format registry.Format = format{}

type format struct{}

func (format) Name() string          { return "json-schema" }
func (format) Type() sr.SchemaType   { return sr.TypeJSON }
func (format) Malformed() codec.Kind { return codec.KindMalformedJSON }
func (format) Indexed() bool         { return false }

func (format) Writer(text string, refs map[string]string, msg registry.Message) (registry.Writer, error) {
	s, err := ArrowSchema(text, refs)
	if err != nil {
		return nil, err
	}
	if msg.Envelope == codec.EnvelopeDebezium {
		// A change event: the row is its after object.
		i := s.FieldIndices("after")
		if len(i) != 1 || s.Field(i[0]).Type.ID() != arrow.STRUCT {
			return nil, fmt.Errorf("envelope debezium: the writer schema has no after object; is it a Debezium envelope?")
		}
		if len(s.FieldIndices("op")) != 1 {
			return nil, fmt.Errorf("envelope debezium: the writer schema has no op; is it a Debezium envelope?")
		}
		s = arrow.NewSchema(s.Field(i[0]).Type.(*arrow.StructType).Fields(), nil)
	}
	return writer{s}, nil
}

// writer is one JSON Schema, mapped.
type writer struct{ schema *arrow.Schema }

func (w writer) Arrow() (*arrow.Schema, error) { return w.schema, nil }

// Decoder is the JSON decoder of table, once the writer schema is found
// writable to it: each property the table has must be of a type whose
// values the decoder can put in its column, and each required column must
// be a property. Properties the table lacks are ignored: the registry's
// schema, not the values, says which columns to add.
func (w writer) Decoder(table *arrow.Schema, cfg codec.Config) (registry.Appender, error) {
	if err := writable(w.schema.Fields(), table.Fields(), "", cfg.Metadata); err != nil {
		return nil, err
	}
	cfg.Format, cfg.SchemaEvolution = "json", nil
	return codec.New(table, cfg)
}

// writable checks writer fields against the table's columns (path is the
// parent column's, "" at the top level, where metadata columns are not the
// writer's to fill).
func writable(writer, table []arrow.Field, path string, meta codec.MetadataColumns) error {
	have := make(map[string]arrow.Field, len(writer))
	for _, f := range writer {
		have[f.Name] = f
	}
	isMeta := map[string]bool{}
	if path == "" {
		for _, m := range meta.Named() {
			isMeta[m[1]] = true
		}
	}
	for _, col := range table {
		name := col.Name
		if path != "" {
			name = path + "." + col.Name
		}
		w, ok := have[col.Name]
		switch {
		case isMeta[col.Name]:
		case !ok && !col.Nullable:
			return fmt.Errorf("column %q is required and the writer schema has no such property", name)
		case ok:
			if err := writableType(w.Type, col.Type, name, meta); err != nil {
				return err
			}
		}
	}
	return nil
}

// writableType reports whether the JSON decoder can put the values of the
// writer type w into a column of type t.
func writableType(w, t arrow.DataType, name string, meta codec.MetadataColumns) error {
	refuse := func() error {
		return fmt.Errorf("column %q is %s, the writer schema's property is %s", name,
			evolution.TypeName(t), evolution.TypeName(w))
	}
	switch w := w.(type) {
	case *arrow.StructType:
		ts, ok := t.(*arrow.StructType)
		if !ok {
			return refuse()
		}
		return writable(w.Fields(), ts.Fields(), name, meta)
	case *arrow.ListType:
		tl, ok := t.(*arrow.ListType)
		if !ok {
			return refuse()
		}
		return writableType(w.Elem(), tl.Elem(), name+".element", meta)
	case *arrow.MapType:
		tm, ok := t.(*arrow.MapType)
		if !ok {
			return refuse()
		}
		if err := writableType(w.KeyType(), tm.KeyType(), name+".key", meta); err != nil {
			return err
		}
		return writableType(w.ItemType(), tm.ItemType(), name+".value", meta)
	}
	if accepts(t.ID(), w.ID(), w.Name(), t.Name()) {
		return nil
	}
	return refuse()
}

// accepts is the scalar pairs the JSON decoder fills: a type into itself;
// integers into any wider number or a decimal; a string into anything the
// decoder parses from text.
func accepts(col arrow.Type, w arrow.Type, wname, colName string) bool {
	if col == w {
		return wname == colName || col != arrow.EXTENSION
	}
	switch w {
	case arrow.INT32:
		return col == arrow.INT64 || col == arrow.FLOAT64 || col == arrow.DECIMAL128
	case arrow.INT64:
		return col == arrow.FLOAT64 || col == arrow.DECIMAL128
	case arrow.FLOAT32:
		return col == arrow.FLOAT64
	case arrow.STRING:
		switch col {
		case arrow.LARGE_STRING, arrow.EXTENSION, arrow.BINARY, arrow.LARGE_BINARY, arrow.FIXED_SIZE_BINARY,
			arrow.DATE32, arrow.TIME64, arrow.TIMESTAMP, arrow.DECIMAL128:
			return true
		}
	case arrow.EXTENSION: // uuid
		return col == arrow.STRING || col == arrow.LARGE_STRING
	case arrow.BINARY:
		return col == arrow.LARGE_BINARY || col == arrow.FIXED_SIZE_BINARY
	}
	return false
}
