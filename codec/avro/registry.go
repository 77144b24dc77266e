package avro

import (
	"errors"

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

func (format) Writer(text string, refs map[string]string, _ registry.Message) (registry.Writer, error) {
	if len(refs) > 0 {
		return nil, errors.New("it refers to other subjects' schemas, which floe does not resolve for Avro yet")
	}
	return writer(text), nil
}

// writer is one Avro writer schema's text.
type writer string

func (w writer) Arrow() (*arrow.Schema, error) { return ArrowSchema(string(w)) }

func (w writer) Decoder(table *arrow.Schema, cfg codec.Config) (registry.Appender, error) {
	return New(string(w), table, cfg)
}

// NewRegistryDecoder returns a decoder of Avro values in the Confluent
// wire format into table: see registry.Decoder.
func NewRegistryDecoder(reg *registry.Client, table *arrow.Schema, cfg codec.Config) (*registry.Decoder, error) {
	return registry.NewDecoder(reg, Format, table, cfg)
}
