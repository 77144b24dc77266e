package avro

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/registry"
)

// Format is Avro as a registry format: writer schemas are Avro schema
// JSON, values carry no message index.
var Format registry.Format = format{}

type format struct{}

func (format) Name() string          { return "avro" }
func (format) Type() sr.SchemaType   { return sr.TypeAvro }
func (format) Malformed() codec.Kind { return codec.KindMalformedAvro }
func (format) Indexed() bool         { return false }

// Writer parses the writer schema; the named types it uses may be defined
// in the schemas it references.
func (format) Writer(text string, refs map[string]string, msg registry.Message) (registry.Writer, error) {
	w, err := parseWithRefs(text, refs)
	if err != nil {
		return nil, err
	}
	row := w
	if msg.Envelope == codec.EnvelopeDebezium {
		if row, err = afterRecord(w); err != nil {
			return nil, err
		}
	}
	return writer{w, row}, nil
}

// writer is one parsed Avro writer schema, and the record that is the row
// (itself, or a change event's after record).
type writer struct{ s, row *schema }

func (w writer) Arrow() (*arrow.Schema, error) { return arrowSchemaOf(w.row) }

func (w writer) Decoder(table *arrow.Schema, cfg codec.Config) (registry.Appender, error) {
	return compileDecoder(w.s, table, cfg)
}

// NewRegistryDecoder returns a decoder of Avro values in the Confluent
// wire format into table: see registry.Decoder.
func NewRegistryDecoder(reg *registry.Client, table *arrow.Schema, cfg codec.Config) (*registry.Decoder, error) {
	return registry.NewDecoder(reg, Format, table, cfg)
}
