package protobuf

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/registry"
)

// Format is Protobuf as a registry format: writer schemas are .proto
// files (their imports the schema's references), and each value names
// its message by the Confluent message-index list after the schema ID.
var Format registry.Format = format{}

type format struct{}

func (format) Name() string          { return "protobuf" }
func (format) Type() sr.SchemaType   { return sr.TypeProtobuf }
func (format) Malformed() codec.Kind { return codec.KindMalformedProtobuf }
func (format) Indexed() bool         { return true }

// Writer parses the .proto file and picks the message: a value's index
// path, else the name (record-name), else the file's first message.
func (format) Writer(text string, refs map[string]string, msg registry.Message) (registry.Writer, error) {
	s, err := Parse(text, refs)
	if err != nil {
		return nil, err
	}
	var md protoreflect.MessageDescriptor
	switch {
	case msg.Indexes == nil && msg.Name != "":
		md, err = s.MessageByName(msg.Name)
	case msg.Indexes == nil && msg.Envelope == codec.EnvelopeDebezium:
		md, err = s.envelope()
	default:
		md, err = s.Message(msg.Indexes)
	}
	if err != nil {
		return nil, err
	}
	return writer{md, msg.Envelope == codec.EnvelopeDebezium}, nil
}

// writer is one message of a writer schema; change: a Debezium Envelope,
// whose after message is the row.
type writer struct {
	md     protoreflect.MessageDescriptor
	change bool
}

func (w writer) Arrow() (*arrow.Schema, error) {
	if w.change {
		after, _, err := afterMessage(w.md)
		if err != nil {
			return nil, err
		}
		return ArrowSchema(after)
	}
	return ArrowSchema(w.md)
}

func (w writer) Decoder(table *arrow.Schema, cfg codec.Config) (registry.Appender, error) {
	return New(w.md, table, cfg)
}
