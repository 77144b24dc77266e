package avro

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/registry"
	"github.com/floe-dev/floe/evolution"
)

// RegistryDecoder decodes Avro values in the Confluent wire format: each
// value's header names its writer schema by ID. The first value of an ID
// starts fetching that schema from the registry (once; the registry client
// caches it for the process) and is answered codec.ErrRetry, so the
// consumer reads it again shortly; a registry that is down is likewise
// codec.ErrRetry, never a bad record. Each writer schema is compiled onto
// the table's schema once.
//
// A writer schema with fields the table lacks asks for them as an
// *evolution.Change when the table's schema-evolution has add-columns
// (else they are skipped); a long or double written into an int or float
// column asks to widen it when it has widen. A writer schema that cannot
// be written to the table otherwise (a type change, a required column it
// lacks) makes its records bad records of kind schema_incompatible, and an
// ID the registry does not know, schema_unknown.
type RegistryDecoder struct {
	reg               *registry.Client
	table             *arrow.Schema
	cfg               codec.Config
	addColumns, widen bool

	mu          sync.Mutex
	byID        map[int]*compiled
	failedUntil atomic.Int64 // unix ns: the registry failed, do not wait on fetches until then
	lastFailure atomic.Pointer[error]
	last        atomic.Pointer[compiled] // the last ID decoded, with its decoder
}

// freshFetchWait is how long Append waits for a new schema ID's fetch
// before it hands the record back to retry; failedQuiet is how long after
// a failed fetch it does not wait at all (the consumer's backoff paces the
// retries, and the poll loop is not held).
const (
	freshFetchWait = 500 * time.Millisecond
	failedQuiet    = 5 * time.Second
)

// compiled is one schema ID's outcome: a decoder, a change the table
// needs, or why its records are bad. ready is closed once it is known.
type compiled struct {
	id     int
	ready  chan struct{}
	dec    *Decoder
	change *evolution.Change // Add and Widen only; the record's coordinates are filled per record
	bad    *codec.DecodeError
	retry  error // the registry did not answer: asked again at the next record
}

// NewRegistryDecoder returns a decoder of framed Avro values into table.
func NewRegistryDecoder(reg *registry.Client, table *arrow.Schema, cfg codec.Config) (*RegistryDecoder, error) {
	if err := cfg.ValidateFor("avro"); err != nil {
		return nil, err
	}
	if _, err := cfg.Metadata.Metadata(table); err != nil {
		return nil, err
	}
	d := &RegistryDecoder{reg: reg, table: table, cfg: cfg, byID: map[int]*compiled{}}
	for _, e := range cfg.SchemaEvolution {
		d.addColumns = d.addColumns || e == codec.EvolveAddColumns
		d.widen = d.widen || e == codec.EvolveWiden
	}
	return d, nil
}

// Schema returns the schema the decoder appends to.
func (d *RegistryDecoder) Schema() *arrow.Schema { return d.table }

// Append decodes one framed value; see RegistryDecoder.
func (d *RegistryDecoder) Append(b *array.RecordBuilder, m *codec.Message) error {
	if m.Value == nil {
		return &codec.DecodeError{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Kind: codec.KindNullValue,
			Detail: "tombstone (null Kafka value)"}
	}
	id, payload, err := registry.Unframe(m.Value)
	if err != nil {
		return &codec.DecodeError{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Kind: codec.KindMalformedAvro,
			Detail: err.Error()}
	}
	if c := d.last.Load(); c != nil && c.id == id {
		// The common case, a run of one schema: no lock, no lookup.
		return c.append(b, m, payload)
	}
	c, started := d.lookup(id)
	if isReady(c) && c.retry != nil {
		// An earlier record's fetch failed: ask the registry again.
		d.forget(id, c)
		c, started = d.lookup(id)
	}
	if !isReady(c) {
		// A registry that answers does so in milliseconds: the record
		// that started the fetch waits that long. Others wait too,
		// unless the registry failed just now: then they say so at once,
		// so that an outage never holds the poll loop once per partition.
		if !started && time.Now().UnixNano() < d.failedUntil.Load() {
			return d.retryErr(id)
		}
		wait := time.NewTimer(freshFetchWait)
		select {
		case <-c.ready:
			wait.Stop()
		case <-wait.C:
			return d.retryErr(id)
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

// append decodes payload, the datum of m's framed value, with c's decoder.
func (c *compiled) append(b *array.RecordBuilder, m *codec.Message, payload []byte) error {
	framed := m.Value
	m.Value = payload
	err := c.dec.Append(b, m)
	m.Value = framed
	return err
}

// retryErr is the codec.ErrRetry of a record whose schema is not known
// yet: the registry's last failure, or that it is being fetched.
func (d *RegistryDecoder) retryErr(id int) error {
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

// lookup is id's entry, starting its fetch when there is none (started).
func (d *RegistryDecoder) lookup(id int) (_ *compiled, started bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.byID[id]; ok {
		return c, false
	}
	c := &compiled{id: id, ready: make(chan struct{})}
	d.byID[id] = c
	go func() {
		defer close(c.ready)
		d.compile(id, c)
	}()
	return c, true
}

// forget drops id's failed fetch so that the next record starts another.
func (d *RegistryDecoder) forget(id int, c *compiled) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byID[id] == c {
		delete(d.byID, id)
	}
}

func (d *RegistryDecoder) compile(id int, c *compiled) {
	s, err := d.reg.SchemaByID(context.Background(), id)
	switch {
	case errors.Is(err, registry.ErrUnknownSchema):
		c.bad = &codec.DecodeError{Kind: codec.KindSchemaUnknown, Detail: err.Error()}
		return
	case err != nil:
		c.retry = err
		return
	case s.Type != sr.TypeAvro:
		c.bad = &codec.DecodeError{Kind: codec.KindSchemaIncompatible,
			Detail: fmt.Sprintf("writer schema %d is %s, the table's format is avro", id, s.Type)}
		return
	case len(s.References) > 0:
		c.bad = &codec.DecodeError{Kind: codec.KindSchemaIncompatible,
			Detail: fmt.Sprintf("writer schema %d refers to other subjects' schemas, which floe does not resolve yet", id)}
		return
	}
	if ch := d.changeFor(s.Schema); ch != nil {
		c.change = ch
		return
	}
	dec, err := New(s.Schema, d.table, d.cfg)
	if err != nil {
		c.bad = &codec.DecodeError{Kind: codec.KindSchemaIncompatible,
			Detail: fmt.Sprintf("writer schema %d cannot be written to the table: %v", id, err)}
		return
	}
	c.dec = dec
}

// changeFor is the table change writer asks for under the table's policy,
// or nil: its fields the table lacks (top level, and inside struct
// columns), and ints or floats of the table it writes as longs or doubles.
func (d *RegistryDecoder) changeFor(writer string) *evolution.Change {
	if !d.addColumns && !d.widen {
		return nil
	}
	ws, err := ArrowSchema(writer)
	if err != nil {
		// A field without a column type: New tells whether it matters.
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

func (d *RegistryDecoder) diff(ch *evolution.Change, parent []string, writer, table []arrow.Field) {
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
