package avro

import (
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/floe-dev/floe/codec"
)

// Debezium change events in Avro (envelope: debezium): the writer schema
// is the connector's Envelope record — before and after (each ["null",
// Value]), source, op, ts_ms, transaction. The row is after's Value
// record, compiled onto the table like any writer record; op and the
// source's commit time and log position are captured for the metadata
// columns; everything else is read past.

// envelope is the plan of an Envelope writer record: its fields in writer
// order.
type envelope struct {
	fields []envField
	row    *node // the Value record onto the table
}

type envRole uint8

const (
	envSkip envRole = iota
	envAfter
	envOp
	envSource
)

type envField struct {
	name string
	role envRole
	skip *node // envSkip
	// envAfter, and an optional source: the union branch that is null.
	nullIndex int64
	optional  bool
	source    []sourceField // envSource
}

// sourceField is one field of the source block: captured when it is one
// floe reads with a type it expects, else read past.
type sourceField struct {
	name      string
	skip      *node // nil when captured
	text      bool  // a string (change_lsn, scn, file), else a long or int
	optional  bool
	nullIndex int64
	int32     bool
}

// afterRecord is the Value record of an Envelope writer schema.
func afterRecord(w *schema) (*schema, error) {
	if w.typ != "record" {
		return nil, fmt.Errorf("envelope debezium: the writer schema must be a Debezium Envelope record, got %s", w.display())
	}
	after, ok := w.field("after")
	if !ok {
		return nil, fmt.Errorf("envelope debezium: writer schema %s has no after field; is it a Debezium Envelope?", w.name)
	}
	if _, ok := w.field("op"); !ok {
		return nil, fmt.Errorf("envelope debezium: writer schema %s has no op field; is it a Debezium Envelope?", w.name)
	}
	t := after.typ
	if t.typ == "union" {
		_, inner, ok := optional(t)
		if !ok {
			return nil, fmt.Errorf("envelope debezium: after is %s, not [\"null\", record]", t.display())
		}
		t = inner
	}
	if t.typ != "record" {
		return nil, fmt.Errorf("envelope debezium: after is %s, not a record", t.display())
	}
	return t, nil
}

// envelope compiles an Envelope writer record w onto the table.
func (c *compiler) envelope(w *schema, table []arrow.Field, meta func(int) bool) (*envelope, error) {
	rec, err := afterRecord(w)
	if err != nil {
		return nil, err
	}
	row, err := c.record(rec, table, "", meta)
	if err != nil {
		return nil, err
	}
	e := &envelope{row: row}
	for _, f := range w.fields {
		ef := envField{name: f.name}
		switch f.name {
		case "after":
			ef.role = envAfter
			if f.typ.typ == "union" {
				ef.nullIndex, _, _ = optional(f.typ)
				ef.optional = true
			}
		case "op":
			if f.typ.typ != "string" {
				return nil, fmt.Errorf("envelope debezium: op is %s, not a string", f.typ.display())
			}
			ef.role = envOp
		case "source":
			src := f.typ
			if src.typ == "union" {
				if i, inner, ok := optional(src); ok {
					ef.optional, ef.nullIndex, src = true, i, inner
				}
			}
			if src.typ != "record" {
				ef.role, ef.skip = envSkip, c.skip(f.typ)
				break
			}
			ef.role = envSource
			for _, sf := range src.fields {
				ef.source = append(ef.source, c.sourceField(sf))
			}
		default:
			ef.role, ef.skip = envSkip, c.skip(f.typ)
		}
		e.fields = append(e.fields, ef)
	}
	return e, nil
}

// sourceField captures f when it is one of the source fields floe reads
// (ts_ms, ts_us, ts_ns, lsn, pos as int or long; change_lsn, scn, file as
// string; optional or not), and reads past it otherwise.
func (c *compiler) sourceField(f field) sourceField {
	sf := sourceField{name: f.name}
	t := f.typ
	if t.typ == "union" {
		if i, inner, ok := optional(t); ok {
			sf.optional, sf.nullIndex, t = true, i, inner
		}
	}
	switch f.name {
	case "ts_ms", "ts_us", "ts_ns", "lsn", "pos":
		if t.typ == "long" || t.typ == "int" {
			sf.int32 = t.typ == "int"
			return sf
		}
	case "change_lsn", "scn", "file":
		if t.typ == "string" {
			sf.text = true
			return sf
		}
	}
	return sourceField{name: f.name, skip: c.skip(f.typ)}
}

// envelope walks an Envelope datum: it checks (or, unchecked, only
// reads) the after record with the row plan, and fills ch. It returns
// where the after record starts, or -1 when after is null.
func (r *reader) envelope(e *envelope, ch *codec.Change) (int, *codec.FieldError) {
	after := -1
	hasOp := false
	for i := range e.fields {
		f := &e.fields[i]
		var err *codec.FieldError
		switch f.role {
		case envSkip:
			err = r.value(f.skip, nil)
		case envAfter:
			null := false
			if f.optional {
				var ix int
				if ix, err = r.index(2, "union"); err == nil {
					null = int64(ix) == f.nullIndex
				}
			}
			if err == nil && !null {
				after = r.pos
				err = r.fields(e.row, nil, nil)
			}
		case envOp:
			ch.Op, err = r.bytes()
			hasOp = err == nil
		case envSource:
			err = r.source(f, ch)
		}
		if err != nil {
			return 0, err.In(f.name)
		}
	}
	if !hasOp {
		ch.Op = nil
	}
	return after, nil
}

func (r *reader) source(f *envField, ch *codec.Change) *codec.FieldError {
	if f.optional {
		ix, err := r.index(2, "union")
		if err != nil || int64(ix) == f.nullIndex {
			return err
		}
	}
	for i := range f.source {
		sf := &f.source[i]
		if err := r.sourceValue(sf, ch); err != nil {
			return err.In(sf.name)
		}
	}
	return nil
}

func (r *reader) sourceValue(sf *sourceField, ch *codec.Change) *codec.FieldError {
	if sf.skip != nil {
		return r.value(sf.skip, nil)
	}
	if sf.optional {
		ix, err := r.index(2, "union")
		if err != nil || int64(ix) == sf.nullIndex {
			return err
		}
	}
	if sf.text {
		b, err := r.bytes()
		if err != nil {
			return err
		}
		switch sf.name {
		case "change_lsn":
			ch.ChangeLSN = b
		case "scn":
			ch.SCN = b
		default:
			ch.File = b
		}
		return nil
	}
	var (
		v   int64
		err *codec.FieldError
	)
	if sf.int32 {
		v, err = r.int32()
	} else {
		v, err = r.varint()
	}
	if err != nil {
		return err
	}
	switch sf.name {
	case "ts_ms":
		ch.TsMs, ch.HasMs = v, true
	case "ts_us":
		ch.TsUs, ch.HasUs = v, true
	case "ts_ns":
		ch.TsNs, ch.HasNs = v, true
	case "lsn":
		ch.LSN, ch.HasLSN = v, true
	default:
		ch.Pos, ch.HasPos = v, true
	}
	return nil
}

// appendChange is Append for a change event: phase 1 reads the whole
// envelope, checking the after record, and decides from op whether there
// is a row; phase 2 appends the after record from where it starts.
func (d *Decoder) appendChange(b codec.Row, m *codec.Message, s *scratch) error {
	ch := &s.change
	ch.Reset()
	r := reader{buf: m.Value, check: true, keys: s.keys[:0]}
	after, err := r.envelope(d.env, ch)
	s.keys = r.keys[:0]
	if err == nil && r.pos != len(r.buf) {
		err = r.malformed(strconv.Itoa(len(r.buf)-r.pos) + " bytes after the datum")
	}
	if err != nil && err.Kind() != codec.KindMalformedAvro {
		var wch codec.Change
		wire := reader{buf: m.Value}
		_, werr := wire.envelope(d.env, &wch)
		if werr == nil && wire.pos != len(wire.buf) {
			werr = wire.malformed(strconv.Itoa(len(wire.buf)-wire.pos) + " bytes after the datum")
		}
		if werr != nil && werr.Kind() == codec.KindMalformedAvro {
			err = werr
		}
	}
	if err == nil {
		err = codec.RowOp(ch.Op, ch.Op != nil, after >= 0)
	}
	if err == nil {
		err = d.meta.Check(m)
	}
	if err == nil {
		err = d.meta.CheckChange(ch)
	}
	if err != nil {
		return d.cfg.RowlessPolicy(err.DecodeError(m))
	}
	for _, i := range d.env.row.missing {
		b.Field(i).AppendNull()
	}
	w := reader{buf: m.Value, pos: after}
	if err := w.fields(d.env.row, b, nil); err != nil {
		panic("avro: append failed after validation: " + err.DecodeError(m).Error())
	}
	d.meta.AppendChange(b, m, ch)
	return nil
}
