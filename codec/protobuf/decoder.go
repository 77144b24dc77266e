package protobuf

import (
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/floe-dev/floe/codec"
)

// Decoder turns Protobuf binary messages of one message type into rows of
// one Arrow schema. It is safe for concurrent use.
type Decoder struct {
	schema  *arrow.Schema
	root    *message
	meta    *codec.Metadata
	scratch sync.Pool // *scratch
	pre     *codec.Precheck
	cfg     codec.Config
	env     *envelope // a Debezium Envelope around root (envelope: debezium), else nil
}

// New compiles message type md onto table, the Arrow form of the Iceberg
// table schema, matching fields to columns by their protobuf field name,
// in nested messages too. cfg.Format must be "protobuf". It fails, naming
// the column and both types, when a field's type cannot go into its
// column, when a required column has no field, and when a metadata column
// is missing or mistyped. cfg.SchemaEvolution is not applied by this
// decoder: schema changes come from the registry.
func New(md protoreflect.MessageDescriptor, table *arrow.Schema, cfg codec.Config) (*Decoder, error) {
	if err := cfg.ValidateFor("protobuf"); err != nil {
		return nil, err
	}
	if md == nil {
		return nil, errors.New("protobuf: no message type")
	}
	var env *envelope
	if cfg.Envelope == codec.EnvelopeDebezium {
		var err error
		if md, env, err = afterMessage(md); err != nil {
			return nil, err
		}
	}
	meta, err := cfg.MetadataOf(table)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, table.NumFields())
	for _, f := range table.Fields() {
		if seen[f.Name] {
			return nil, fmt.Errorf("column %q: appears twice in the schema", f.Name)
		}
		seen[f.Name] = true
	}
	c := &compiler{skipped: map[protoreflect.FullName]*message{}}
	root, err := c.message(md, table.Fields(), "", meta.Has)
	if err != nil {
		return nil, err
	}
	nstatic := root.assignStatic(0)
	d := &Decoder{schema: table, root: root, meta: meta, pre: codec.NewPrecheck(table, cfg), cfg: cfg, env: env}
	d.scratch.New = func() any { return &scratch{static: make([]slot, nstatic)} }
	return d, nil
}

// Schema returns the schema the Decoder appends to.
func (d *Decoder) Schema() *arrow.Schema { return d.schema }

// Append decodes m.Value, a bare Protobuf message of the Decoder's type
// (registry framing and message indexes already removed), and appends
// exactly one row to b, or appends nothing and returns an error: a
// *codec.DecodeError if the record is at fault, codec.ErrSchemaMismatch if
// b has another schema. The whole message is read and checked before the
// first column is appended. An empty value is a message with every field
// unset; a nil value is a tombstone. b must not be used concurrently.
func (d *Decoder) Append(b codec.Row, m *codec.Message) error {
	if err := d.pre.Check(b, m); err != nil {
		return err
	}
	sc := d.scratch.Get().(*scratch)
	defer d.scratch.Put(sc)
	if d.env != nil {
		return d.appendChange(b, m, sc)
	}
	s := state{buf: m.Value, scratch: sc}
	if err := d.validate(&s, m); err != nil {
		return err.DecodeError(m)
	}
	// validate left the static frames and their chains in place.
	s.mode = modeEmit
	s.emitFields(d.root, s.static[:d.root.nslots], 0, b, nil)
	d.meta.Append(b, m)
	return nil
}

// validate is phase 1: it reads the whole message and checks every value.
// A message that is malformed is reported as such even if a value before
// the malformation was already at fault.
func (d *Decoder) validate(s *state, m *codec.Message) *codec.FieldError {
	err := d.read(s, modeCheck)
	if err != nil && err.Kind() != codec.KindMalformedProtobuf {
		if werr := d.read(s, modeWire); werr != nil && werr.Kind() == codec.KindMalformedProtobuf {
			err = werr
		}
	}
	if err != nil {
		return err
	}
	return d.meta.Check(m)
}

// read scans the top-level message into frame 0 and finishes it.
func (d *Decoder) read(s *state, mode mode) *codec.FieldError {
	s.mode = mode
	s.occs, s.uuids = s.occs[:0], s.uuids[:0]
	fr := s.frameOf(d.root, 0)
	if err := s.scan(d.root, fr, 0, len(s.buf), 0); err != nil {
		return err
	}
	return s.finish(d.root, fr, 0)
}
