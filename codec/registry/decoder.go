package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/evolution"
)

// Format is a schema type of the registry that floe decodes (Avro,
// Protobuf, JSON Schema): how its writer schemas are read. Each format's
// package has one.
type Format interface {
	// Name is the table's format, as codec.Config.Format says it.
	Name() string
	// Type is the registry's schema type of the format.
	Type() sr.SchemaType
	// Malformed is the kind of a value whose framing is broken.
	Malformed() codec.Kind
	// Indexed formats (Protobuf) carry a message-index list after the
	// schema ID: which message of the schema the value is.
	Indexed() bool
	// Writer parses a writer schema. refs holds the text of every schema
	// it references, by reference name (transitively); msg picks the
	// message of a schema that has several (Protobuf).
	Writer(text string, refs map[string]string, msg Message) (Writer, error)
}

// Message picks one message of a schema that defines several: by its
// Confluent message-index path (a value's), else by name (the config's),
// else the first. Envelope (the table's envelope) says the message is a
// change event whose after record is the row.
type Message struct {
	Indexes  []int
	Name     string
	Envelope string
}

// Writer is one parsed writer schema (one message of it).
type Writer interface {
	// Arrow is the writer schema as the Arrow schema of a table floe
	// would create for it: what table creation and schema evolution
	// compare.
	Arrow() (*arrow.Schema, error)
	// Decoder compiles the writer schema onto table; it fails, naming the
	// column and both types, when its values cannot be written there.
	Decoder(table *arrow.Schema, cfg codec.Config) (Appender, error)
}

// Appender decodes one bare (unframed) value into one row.
type Appender interface {
	Append(b codec.Row, m *codec.Message) error
}

// Decoder decodes values in the Confluent wire format: each value's
// header names its writer schema by ID (and, for Protobuf, its message by
// index). The first value of an ID starts fetching that schema and its
// references from the registry (once; the Client caches them for the
// process) and waits for it briefly, else is answered codec.ErrRetry, so
// the consumer reads it again shortly; a registry that is down is likewise
// codec.ErrRetry, never a bad record. Each writer schema is compiled onto
// the table's schema once.
//
// A writer schema with fields the table lacks asks for them as an
// *evolution.Change when the table's schema-evolution has add-columns
// (else they are skipped); a long or double written into an int or float
// column asks to widen it when it has widen. A writer schema that cannot
// be written to the table otherwise (a type change, a required column it
// lacks, another schema type) makes its records bad records of kind
// schema_incompatible, and an ID the registry does not know,
// schema_unknown.
type Decoder struct {
	reg               *Client
	format            Format
	table             *arrow.Schema
	cfg               codec.Config
	addColumns, widen bool

	mu          sync.Mutex
	byKey       map[string]*compiled // by the header: schema ID and message indexes
	failedUntil atomic.Int64         // unix ns: the registry failed, do not wait on fetches until then
	lastFailure atomic.Pointer[error]
	last        atomic.Pointer[compiled] // the last header decoded, with its decoder
}

// freshFetchWait is how long Append waits for a new schema ID's fetch
// before it hands the record back to retry; failedQuiet is how long after
// a failed fetch it does not wait at all (the consumer's backoff paces the
// retries, and the poll loop is not held).
const (
	freshFetchWait = 500 * time.Millisecond
	failedQuiet    = 5 * time.Second
)

// maxIndexes bounds a value's message-index list: deeper nesting of
// Protobuf message declarations than this is not a real schema.
const maxIndexes = 64

// compiled is one header's outcome: a decoder, a change the table needs,
// or why its records are bad. ready is closed once it is known.
type compiled struct {
	header []byte // schema ID and message indexes, as on the wire
	id     int
	ready  chan struct{}
	dec    Appender
	change *evolution.Change // Add and Widen only; the record's coordinates are filled per record
	bad    *codec.DecodeError
	retry  error // the registry did not answer: asked again at the next record
}

// NewDecoder returns a decoder of framed values of format into table.
func NewDecoder(reg *Client, format Format, table *arrow.Schema, cfg codec.Config) (*Decoder, error) {
	if reg == nil {
		return nil, fmt.Errorf("format: %s without a schema in the config needs schema-registry.urls", format.Name())
	}
	if err := cfg.ValidateFor(format.Name()); err != nil {
		return nil, err
	}
	if _, err := cfg.MetadataOf(table); err != nil {
		return nil, err
	}
	d := &Decoder{reg: reg, format: format, table: table, cfg: cfg, byKey: map[string]*compiled{}}
	for _, e := range cfg.SchemaEvolution {
		d.addColumns = d.addColumns || e == codec.EvolveAddColumns
		d.widen = d.widen || e == codec.EvolveWiden
	}
	return d, nil
}

// Schema returns the schema the decoder appends to.
func (d *Decoder) Schema() *arrow.Schema { return d.table }

// Append decodes one framed value; see Decoder.
func (d *Decoder) Append(b codec.Row, m *codec.Message) error {
	if m.Value == nil {
		return d.cfg.Tombstone(m)
	}
	header, payload, err := d.split(m.Value)
	if err != nil {
		return &codec.DecodeError{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Kind: d.format.Malformed(),
			Detail: err.Error()}
	}
	if c := d.last.Load(); c != nil && bytes.Equal(c.header, header) {
		// The common case, a run of one schema: no lock, no lookup.
		return c.append(b, m, payload)
	}
	c, started := d.lookup(header)
	if isReady(c) && c.retry != nil {
		// An earlier record's fetch failed: ask the registry again.
		d.forget(c)
		c, started = d.lookup(header)
	}
	if !isReady(c) {
		// A registry that answers does so in milliseconds: the record
		// that started the fetch waits that long. Others wait too,
		// unless the registry failed just now: then they say so at once,
		// so that an outage never holds the poll loop once per partition.
		if !started && time.Now().UnixNano() < d.failedUntil.Load() {
			return d.retryErr(c.id)
		}
		wait := time.NewTimer(freshFetchWait)
		select {
		case <-c.ready:
			wait.Stop()
		case <-wait.C:
			return d.retryErr(c.id)
		}
	}
	switch {
	case c.retry != nil:
		d.lastFailure.Store(&c.retry)
		d.failedUntil.Store(time.Now().Add(failedQuiet).UnixNano())
		return fmt.Errorf("%w: %w", codec.ErrRetry, c.retry)
	case c.bad != nil:
		bad := *c.bad
		bad.Topic, bad.Partition, bad.Offset = m.Topic, m.Partition, m.Offset
		return &bad
	case c.change != nil:
		ch := *c.change
		ch.Topic, ch.Partition, ch.Offset = m.Topic, m.Partition, m.Offset
		return &ch
	}
	d.last.Store(c)
	return c.append(b, m, payload)
}

// split cuts a framed value into its header (the schema ID, and the
// message-index list of an indexed format) and the bare payload, both
// aliasing v.
func (d *Decoder) split(v []byte) (header, payload []byte, err error) {
	if _, _, err := Unframe(v); err != nil {
		return nil, nil, err
	}
	if !d.format.Indexed() {
		return v[1:5], v[5:], nil
	}
	n, err := indexList(v[5:], nil)
	if err != nil {
		return nil, nil, err
	}
	return v[1 : 5+n], v[5+n:], nil
}

// indexList reads a Confluent message-index list at the start of b: a
// zigzag varint count, then that many zigzag varint indexes; a count of 0
// is the list [0], the first message. It returns the bytes it took, and
// appends the indexes to dst when dst is not nil.
func indexList(b []byte, dst *[]int) (int, error) {
	count, pos, err := zigzag(b, 0)
	if err != nil {
		return 0, fmt.Errorf("message indexes: %w", err)
	}
	switch {
	case count < 0 || count > maxIndexes:
		return 0, fmt.Errorf("message indexes: a list of %d indexes", count)
	case count == 0 && dst != nil:
		*dst = append(*dst, 0)
	}
	for i := int64(0); i < count; i++ {
		var ix int64
		if ix, pos, err = zigzag(b, pos); err != nil {
			return 0, fmt.Errorf("message indexes: %w", err)
		}
		if ix < 0 || ix > 1<<20 {
			return 0, fmt.Errorf("message indexes: index %d", ix)
		}
		if dst != nil {
			*dst = append(*dst, int(ix))
		}
	}
	return pos, nil
}

// zigzag reads one zigzag-encoded varint of at most 64 bits at b[pos:].
func zigzag(b []byte, pos int) (int64, int, error) {
	var u uint64
	for shift := uint(0); ; shift += 7 {
		if pos >= len(b) {
			return 0, 0, errors.New("truncated varint")
		}
		if shift >= 64 {
			return 0, 0, errors.New("varint longer than 10 bytes")
		}
		c := b[pos]
		pos++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	return int64(u>>1) ^ -int64(u&1), pos, nil
}

// append decodes payload, the bare value of m's framed value, with c's
// decoder.
func (c *compiled) append(b codec.Row, m *codec.Message, payload []byte) error {
	framed := m.Value
	m.Value = payload
	err := c.dec.Append(b, m)
	m.Value = framed
	return err
}

// retryErr is the codec.ErrRetry of a record whose schema is not known
// yet: the registry's last failure, or that it is being fetched.
func (d *Decoder) retryErr(id int) error {
	if last := d.lastFailure.Load(); last != nil && time.Now().UnixNano() < d.failedUntil.Load() {
		return fmt.Errorf("%w: %w", codec.ErrRetry, *last)
	}
	return fmt.Errorf("%w: fetching writer schema %d from the schema registry", codec.ErrRetry, id)
}

func isReady(c *compiled) bool {
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// lookup is header's entry, starting its fetch when there is none
// (started).
func (d *Decoder) lookup(header []byte) (_ *compiled, started bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.byKey[string(header)]; ok {
		return c, false
	}
	c := &compiled{header: bytes.Clone(header), ready: make(chan struct{})}
	c.id = int(uint32(header[0])<<24 | uint32(header[1])<<16 | uint32(header[2])<<8 | uint32(header[3]))
	d.byKey[string(c.header)] = c
	go func() {
		defer close(c.ready)
		d.compile(c)
	}()
	return c, true
}

// forget drops a failed fetch so that the next record starts another.
func (d *Decoder) forget(c *compiled) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byKey[string(c.header)] == c {
		delete(d.byKey, string(c.header))
	}
}

func (d *Decoder) compile(c *compiled) {
	msg := Message{Envelope: d.cfg.Envelope}
	if d.format.Indexed() {
		if _, err := indexList(c.header[4:], &msg.Indexes); err != nil {
			c.bad = &codec.DecodeError{Kind: d.format.Malformed(), Detail: err.Error()} // split checked it
			return
		}
	}
	ctx := context.Background()
	s, err := d.reg.SchemaByID(ctx, c.id)
	if err == nil && s.Type != d.format.Type() {
		c.bad = &codec.DecodeError{Kind: codec.KindSchemaIncompatible,
			Detail: fmt.Sprintf("writer schema %d is %s, the table's format is %s", c.id, s.Type, d.format.Name())}
		return
	}
	var refs map[string]string
	if err == nil {
		refs, err = d.reg.References(ctx, s)
	}
	switch {
	case errors.Is(err, ErrUnknownSchema):
		c.bad = &codec.DecodeError{Kind: codec.KindSchemaUnknown, Detail: err.Error()}
		return
	case err != nil:
		c.retry = err
		return
	}
	w, err := d.format.Writer(s.Schema, refs, msg)
	if err != nil {
		c.bad = &codec.DecodeError{Kind: codec.KindSchemaIncompatible,
			Detail: fmt.Sprintf("writer schema %d: %v", c.id, err)}
		return
	}
	if ch := d.changeFor(w); ch != nil {
		c.change = ch
		return
	}
	dec, err := w.Decoder(d.table, d.cfg)
	if err != nil {
		c.bad = &codec.DecodeError{Kind: codec.KindSchemaIncompatible,
			Detail: fmt.Sprintf("writer schema %d cannot be written to the table: %v", c.id, err)}
		return
	}
	c.dec = dec
}

// changeFor is the table change writer asks for under the table's policy,
// or nil: its fields the table lacks (top level, and inside struct
// columns), and ints or floats of the table it writes as longs or doubles.
func (d *Decoder) changeFor(w Writer) *evolution.Change {
	if !d.addColumns && !d.widen {
		return nil
	}
	ws, err := w.Arrow()
	if err != nil {
		// A field without a column type: Decoder tells whether it matters.
		return nil
	}
	var ch evolution.Change
	d.diff(&ch, nil, ws.Fields(), d.table.Fields())
	if len(ch.Add) == 0 && len(ch.Widen) == 0 {
		return nil
	}
	// Every replica meeting this schema asks for the same change.
	sort.SliceStable(ch.Add, func(i, j int) bool {
		return strings.Join(ch.Add[i].Path(), "\x00") < strings.Join(ch.Add[j].Path(), "\x00")
	})
	return &ch
}

func (d *Decoder) diff(ch *evolution.Change, parent []string, writer, table []arrow.Field) {
	have := make(map[string]arrow.Field, len(table))
	for _, f := range table {
		have[f.Name] = f
	}
	for _, w := range writer {
		t, ok := have[w.Name]
		switch {
		case !ok:
			if d.addColumns {
				f := w
				f.Nullable = true // a column added to a table with rows is optional
				ch.Add = append(ch.Add, evolution.Field{Parent: parent, Field: f})
			}
		case d.widen && w.Type.ID() == arrow.INT64 && t.Type.ID() == arrow.INT32:
			ch.Widen = append(ch.Widen, evolution.Widening{Path: append(append([]string(nil), parent...), w.Name), To: arrow.PrimitiveTypes.Int64})
		case d.widen && w.Type.ID() == arrow.FLOAT64 && t.Type.ID() == arrow.FLOAT32:
			ch.Widen = append(ch.Widen, evolution.Widening{Path: append(append([]string(nil), parent...), w.Name), To: arrow.PrimitiveTypes.Float64})
		case w.Type.ID() == arrow.STRUCT && t.Type.ID() == arrow.STRUCT:
			d.diff(ch, append(append([]string(nil), parent...), w.Name), w.Type.(*arrow.StructType).Fields(), t.Type.(*arrow.StructType).Fields())
		}
	}
}

// WriterOf is the writer schema of format that a table floe creates for
// subject takes its columns from: the subject's latest schema (and, for a
// schema of several messages, the message msg names, else the first).
// from says which version it was, for the log.
func WriterOf(ctx context.Context, reg *Client, format Format, subject string, msg Message) (w Writer, from string, err error) {
	latest, err := reg.Latest(ctx, subject)
	if err != nil {
		return nil, "", fmt.Errorf("create the table from subject %s: %w", subject, err)
	}
	from = fmt.Sprintf("subject %s version %d (schema %d)", subject, latest.Version, latest.ID)
	if latest.Type != format.Type() {
		return nil, from, fmt.Errorf("create the table from subject %s: its latest schema is %s, the table's format is %s",
			subject, latest.Type, format.Name())
	}
	refs, err := reg.References(ctx, latest.Schema)
	if err != nil {
		return nil, from, fmt.Errorf("create the table from subject %s: %w", subject, err)
	}
	w, err = format.Writer(latest.Schema.Schema, refs, msg)
	if err != nil {
		return nil, from, fmt.Errorf("writer schema from %s: %w", from, err)
	}
	return w, from, nil
}
