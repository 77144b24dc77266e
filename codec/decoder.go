package codec

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/floe-dev/floe/evolution"
)

// Message is one Kafka record as the codec sees it.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte // nil for a tombstone
	Headers   []Header
}

// Header is one Kafka record header; a nil Value is a null header value.
type Header struct {
	Key   string
	Value []byte
}

// Row is where a decoder appends a row: an *array.RecordBuilder for a
// table's rows, or the fields of a struct column (a decoded record key).
type Row interface {
	// Schema is the row's schema, the one the decoder was made for.
	Schema() *arrow.Schema
	// Field is the builder of the i-th field.
	Field(i int) array.Builder
}

// ErrSchemaMismatch is returned by Append when the record builder's schema
// is not the one the Decoder was made for: a programming error, not a bad
// record.
var ErrSchemaMismatch = errors.New("record builder schema differs from the decoder schema")

// Decoder turns JSON record values into rows of one Arrow schema. It is safe
// for concurrent use; each call borrows its own working memory.
type Decoder struct {
	schema *arrow.Schema
	root   *node   // the top-level columns as a struct
	meta   []*node // the metadata columns among root.fields
	states sync.Pool
	pre    *Precheck
	// addColumns and widen are Config.SchemaEvolution.
	addColumns, widen bool
	// env is the plan of a Debezium change event around root (envelope:
	// debezium), else nil.
	env *node
	cfg Config
}

// New validates cfg, checks that every column of schema can be decoded into
// and that the metadata columns of cfg exist with a compatible type, and
// returns a Decoder. Errors name the column. schema is expected to come from
// the Iceberg table (table.SchemaToArrowSchema); large string, binary and
// list variants are accepted too.
func New(schema *arrow.Schema, cfg Config) (*Decoder, error) {
	if err := cfg.ValidateFor("json"); err != nil {
		return nil, err
	}
	metaByName := map[string]metaKind{}
	for _, s := range cfg.Metadata.specs() {
		metaByName[s.name] = s.kind
	}
	d := &Decoder{schema: schema, pre: NewPrecheck(schema, cfg), cfg: cfg}
	for _, e := range cfg.SchemaEvolution {
		d.addColumns = d.addColumns || e == EvolveAddColumns
		d.widen = d.widen || e == EvolveWiden
	}
	d.root = &node{kind: kStruct, tname: "struct", index: make(map[string]int, schema.NumFields())}
	for i, f := range schema.Fields() {
		if _, dup := d.root.index[f.Name]; dup {
			return nil, fmt.Errorf("column %q: appears twice in the schema", f.Name)
		}
		var (
			n   *node
			err error
		)
		if k, ok := metaByName[f.Name]; ok {
			n, err = compileMeta(k, f, cfg.KeyFormat)
			d.meta = append(d.meta, n)
		} else {
			n, err = compile(f.Name, f.Name, f.Type, f.Nullable)
		}
		if err != nil {
			return nil, err
		}
		d.root.fields = append(d.root.fields, n)
		d.root.index[f.Name] = i
	}
	for _, s := range cfg.Metadata.specs() {
		if _, ok := d.root.index[s.name]; !ok {
			return nil, fmt.Errorf("metadata column %q: not in the table schema", s.name)
		}
	}
	d.root.evolvable = true
	markEvolvable(d.root)
	if cfg.Envelope == EnvelopeDebezium {
		d.env = newEnvelope(d.root)
	}
	d.states.New = func() any {
		st := newState()
		st.collect = d.addColumns
		return st
	}
	return d, nil
}

// Schema returns the schema the Decoder appends to.
func (d *Decoder) Schema() *arrow.Schema { return d.schema }

// Append decodes m.Value and appends exactly one row to b, or appends
// nothing and returns an error: a *DecodeError if the record is at fault,
// ErrSchemaMismatch if b has another schema. The value is fully parsed and
// validated before the first column is appended, so a failure never leaves
// a partial row behind. b must not be used concurrently.
func (d *Decoder) Append(b Row, m *Message) error {
	if err := d.pre.Check(b, m); err != nil {
		return err
	}
	st := d.states.Get().(*state)
	root, ferr := d.decode(st, m)
	var change *evolution.Change
	if d.addColumns || d.widen {
		change = d.change(st, m, ferr)
	}
	if ferr == nil && change == nil {
		d.emitRow(st, b, root, m)
	}
	st.release()
	d.states.Put(st)
	if change != nil {
		return change
	}
	if ferr != nil {
		return d.cfg.RowlessPolicy(ferr.decodeError(m))
	}
	return nil
}

// decode is phase 1: it parses and validates the whole record and returns
// the index of the root value.
func (d *Decoder) decode(st *state, m *Message) (int32, *fieldErr) {
	st.reset(m.Value)
	sc := &st.sc
	sc.skipWS()
	var (
		root int32
		err  *fieldErr
	)
	plan := d.root
	if d.env != nil {
		plan = d.env
	}
	switch c := sc.peek(); {
	case c == '{':
		if root, err = st.object(plan); err == nil {
			if sc.skipWS(); sc.pos != len(sc.buf) {
				err = newErr(KindMalformedJSON, "trailing data at byte "+strconv.Itoa(sc.pos))
			}
		}
	case sc.pos == len(sc.buf):
		err = newErr(KindMalformedJSON, "empty value")
	case c == 'n':
		err = newErr(KindNullValue, "JSON null")
	default:
		err = newErr(KindNotAnObject, "got "+jsonKindName(c))
	}
	if err != nil {
		// Whatever went wrong first, a malformed value is reported as such,
		// about the whole value: the byte position locates the fault.
		if err.kind != KindMalformedJSON {
			if v := validate(m.Value); v != nil && v.kind == KindMalformedJSON {
				err = v
			}
		}
		if err.kind == KindMalformedJSON {
			err.path = nil
		}
		return 0, err
	}
	if d.env != nil {
		if root, err = st.unwrap(root); err != nil {
			return 0, err
		}
	}
	for _, n := range d.meta {
		if n.meta >= metaOp {
			err = st.change.checkChange(n)
		} else {
			err = checkMeta(n, m)
		}
		if err != nil {
			return 0, err
		}
	}
	return root, nil
}

// maxRetained bounds the scratch memory a pooled state keeps after a
// record with huge strings.
const maxRetained = 1 << 20

// release drops the reference to the record so pooled states do not pin
// message buffers, and forgets oversized scratch memory.
func (st *state) release() {
	st.sc.buf = nil
	clear(st.unknown) // they point into the record's value
	st.unknown = st.unknown[:0]
	if cap(st.sc.scratch) > maxRetained {
		st.sc.scratch = nil
	}
}
