package avro

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/floe-dev/floe/codec"
)

// Decoder turns Avro binary data of one writer schema into rows of one
// Arrow schema. It is safe for concurrent use.
type Decoder struct {
	schema  *arrow.Schema
	root    *node
	meta    *codec.Metadata
	scratch sync.Pool // *scratch
	// env is the plan of a Debezium Envelope writer record (envelope:
	// debezium), root then unused.
	env *envelope
	cfg codec.Config
	pre *codec.Precheck
}

// New parses writerSchema (Avro schema JSON; the top level must be a
// record) and compiles it onto table, the Arrow form of the Iceberg table
// schema. cfg.Format must be "avro". It fails, naming the column and both
// types, when a writer type cannot go into its column, when a required
// column has no writer field, when a mapped union is not ["null", T] or
// [T, "null"], and when a metadata column is missing or mistyped.
// cfg.SchemaEvolution is not applied by this decoder: for Avro, schema
// changes come from the registry.
func New(writerSchema string, table *arrow.Schema, cfg codec.Config) (*Decoder, error) {
	if err := cfg.ValidateFor("avro"); err != nil {
		return nil, err
	}
	w, err := parseSchema(writerSchema)
	if err != nil {
		return nil, err
	}
	return compileDecoder(w, table, cfg)
}

// compileDecoder is New for a parsed writer schema; cfg is validated.
func compileDecoder(w *schema, table *arrow.Schema, cfg codec.Config) (*Decoder, error) {
	if w.typ != "record" {
		return nil, fmt.Errorf("avro schema: the top level must be a record, got %s", w.display())
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
	c := &compiler{skipped: map[*schema]*node{}}
	d := &Decoder{schema: table, meta: meta, pre: codec.NewPrecheck(table, cfg), cfg: cfg}
	if cfg.Envelope == codec.EnvelopeDebezium {
		d.env, err = c.envelope(w, table.Fields(), meta.Has)
	} else {
		d.root, err = c.record(w, table.Fields(), "", meta.Has)
	}
	if err != nil {
		return nil, err
	}
	d.scratch.New = func() any { return new(scratch) }
	return d, nil
}

// scratch is the per-call working memory of Append.
type scratch struct {
	keys   []span // map keys being checked for duplicates
	change codec.Change
	tape   []int64 // phase 1's record for phase 2 (tape.go)
}

// Schema returns the schema the Decoder appends to.
func (d *Decoder) Schema() *arrow.Schema { return d.schema }

// Append decodes m.Value, a bare Avro binary datum of the writer schema
// (without registry framing: see [StripConfluent]), and appends exactly one
// row to b, or appends nothing and returns an error: a *codec.DecodeError
// if the record is at fault, codec.ErrSchemaMismatch if b has another
// schema. The whole datum is read and checked before the first column is
// appended. b must not be used concurrently.
func (d *Decoder) Append(b codec.Row, m *codec.Message) error {
	if err := d.pre.Check(b, m); err != nil {
		return err
	}
	s := d.scratch.Get().(*scratch)
	defer d.scratch.Put(s)
	if d.env != nil {
		return d.appendChange(b, m, s)
	}
	s.tape = s.tape[:0]
	if err := d.validate(m, &s.keys, &s.tape); err != nil {
		return err.DecodeError(m)
	}
	for _, i := range d.root.missing {
		b.Field(i).AppendNull()
	}
	t := tapeReader{tape: s.tape, buf: m.Value}
	t.fields(d.root, b, nil)
	d.meta.Append(b, m)
	if cap(s.tape) > maxTape {
		s.tape = nil
	}
	return nil
}

// maxTape bounds the tape a pooled scratch keeps after a large datum.
const maxTape = 1 << 16

// validate is phase 1: it reads the whole datum and checks every value. A
// datum that is malformed is reported as such even if a value before the
// malformation was already at fault.
func (d *Decoder) validate(m *codec.Message, keys *[]span, tape *[]int64) *codec.FieldError {
	r := reader{buf: m.Value, check: true, keys: (*keys)[:0], tape: (*tape)[:0], taping: true}
	err := r.fields(d.root, nil, nil)
	*keys, *tape = r.keys[:0], r.tape
	if err == nil && r.pos != len(r.buf) {
		err = r.malformed(strconv.Itoa(len(r.buf)-r.pos) + " bytes after the datum")
	}
	if err != nil && err.Kind() != codec.KindMalformedAvro {
		wire := reader{buf: m.Value}
		werr := wire.fields(d.root, nil, nil)
		if werr == nil && wire.pos != len(wire.buf) {
			werr = wire.malformed(strconv.Itoa(len(wire.buf)-wire.pos) + " bytes after the datum")
		}
		if werr != nil && werr.Kind() == codec.KindMalformedAvro {
			err = werr
		}
	}
	if err != nil {
		return err
	}
	return d.meta.Check(m)
}
