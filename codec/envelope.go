package codec

import (
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Debezium change events (envelope: debezium). The value is
//
//	{"before": {...}, "after": {...}, "op": "c", "source": {...}, "ts_ms": ...}
//
// or, from a JSON converter with schemas.enable, that event under
// "payload" beside a "schema". The row is the event's after, decoded with
// the table's plan exactly as a plain value is; op, the source's commit
// time and its log position can fill metadata columns. A delete (op d), a
// truncate (op t) and a tombstone have no row: they are reported with
// their own kinds and the table's deletes policy, not on-error.

// Kinds of change events without a row to append.
const (
	// KindCDCDelete: a Debezium delete (op d). The tombstone after it is
	// null_value, under the same deletes policy.
	KindCDCDelete Kind = "cdc_delete"
	// KindCDCTruncate: a Debezium truncate (op t).
	KindCDCTruncate Kind = "cdc_truncate"
)

// Positions of the envelope's fields in its plan: the event's, and the
// value's, which has payload first and then the event's fields.
const (
	evAfter = iota
	evOp
	evSource
	evFields
)

// Positions of the source block's fields that floe reads.
const (
	srcTsMs = iota
	srcTsUs
	srcTsNs
	srcLSN       // PostgreSQL: a long
	srcChangeLSN // SQL Server
	srcSCN       // Oracle
	srcFile      // MySQL binlog file
	srcPos       // MySQL binlog position
)

// newEnvelope is the plan of a Debezium value whose after has the plan
// root.
func newEnvelope(root *node) *node {
	after := *root
	after.name, after.nullable = "after", true
	source := structNode("source",
		scalarNode("ts_ms", kInt64, "long"), scalarNode("ts_us", kInt64, "long"), scalarNode("ts_ns", kInt64, "long"),
		scalarNode("lsn", kInt64, "long"), scalarNode("change_lsn", kString, "string"), scalarNode("scn", kString, "string"),
		scalarNode("file", kString, "string"), scalarNode("pos", kInt64, "long"))
	event := structNode("payload", &after, scalarNode("op", kString, "string"), source)
	return structNode("", append([]*node{event}, event.fields...)...)
}

func scalarNode(name string, k kind, tname string) *node {
	return &node{kind: k, name: name, tname: tname, nullable: true}
}

func structNode(name string, fields ...*node) *node {
	n := &node{kind: kStruct, name: name, tname: "struct", nullable: true, fields: fields, index: map[string]int{}}
	for i, f := range fields {
		n.index[f.name] = i
	}
	return n
}

// Change is what a change event says about itself beside its row, for
// the metadata columns: the decoders of every format fill one.
type Change struct {
	Op []byte
	// The source block: its commit time in ms, µs and ns (Has* says which
	// the event carries), PostgreSQL's lsn, SQL Server's change_lsn,
	// Oracle's scn, MySQL's binlog file and position.
	TsMs, TsUs, TsNs    int64
	HasMs, HasUs, HasNs bool
	LSN                 int64
	HasLSN              bool
	ChangeLSN, SCN      []byte
	File                []byte
	Pos                 int64
	HasPos              bool

	digits []byte // scratch for a position's text
}

// Reset forgets the last event's values, keeping the scratch memory.
func (c *Change) Reset() { *c = Change{digits: c.digits[:0]} }

// RowOp checks a change event's op before its after image is used: nil
// for a create, update or snapshot read (c, u, r) that has one; else why
// the event has no row (cdc_delete, cdc_truncate) or is not a valid
// change (invalid_value, missing_required).
func RowOp(op []byte, hasOp, hasAfter bool) *FieldError {
	if err := rowOp(op, hasOp, hasAfter); err != nil {
		return &FieldError{e: *err}
	}
	return nil
}

func rowOp(op []byte, hasOp, hasAfter bool) *fieldErr {
	if !hasOp {
		return newErr(KindInvalidValue, "not a Debezium change event: no op").in("op")
	}
	switch string(op) {
	case "c", "u", "r":
		if !hasAfter {
			return newErr(KindMissingRequired, "after is null in a change with op "+string(op)).in("after")
		}
		return nil
	case "d":
		return newErr(KindCDCDelete, "delete (op d): no row to append")
	case "t":
		return newErr(KindCDCTruncate, "truncate (op t): no row to append")
	}
	detail := "op is not c, u, r, d or t"
	if len(op) <= 8 {
		detail = "op " + strconv.Quote(string(op)) + " is not c, u, r, d or t"
	}
	return newErr(KindInvalidValue, detail).in("op")
}

// RowlessPolicy applies the table's deletes policy to err when it is about
// a change event without a row (a delete, a truncate, a tombstone).
func (c Config) RowlessPolicy(err *DecodeError) *DecodeError {
	if c.Envelope == EnvelopeDebezium && (err.Kind == KindCDCDelete || err.Kind == KindCDCTruncate || err.Kind == KindNullValue) {
		err.Policy = c.Deletes
		if err.Policy == "" {
			err.Policy = OnErrorSkip
		}
	}
	return err
}

// unwrap finds the row in the decoded envelope value: the after of a
// create, update or snapshot read. It fills st.change for the metadata
// columns.
func (st *state) unwrap(value int32) (int32, *fieldErr) {
	ev := st.kids[st.vals[value].first+1:]
	if p := st.kids[st.vals[value].first]; p >= 0 {
		ev = st.kids[st.vals[p].first:]
	}
	after, op, source := ev[evAfter], ev[evOp], ev[evSource]
	c := &st.change
	c.Reset()
	if op >= 0 {
		c.Op = st.bytes(&st.vals[op])
	}
	if err := rowOp(c.Op, op >= 0, after >= 0); err != nil {
		return 0, err
	}
	if source >= 0 {
		kid := func(i int) (int32, bool) {
			v := st.kids[st.vals[source].first+int32(i)]
			return v, v >= 0
		}
		long := func(i int, dst *int64, has *bool) {
			if v, ok := kid(i); ok {
				*dst, *has = st.vals[v].i, true
			}
		}
		text := func(i int) []byte {
			if v, ok := kid(i); ok {
				return st.bytes(&st.vals[v])
			}
			return nil
		}
		long(srcTsMs, &c.TsMs, &c.HasMs)
		long(srcTsUs, &c.TsUs, &c.HasUs)
		long(srcTsNs, &c.TsNs, &c.HasNs)
		long(srcLSN, &c.LSN, &c.HasLSN)
		long(srcPos, &c.Pos, &c.HasPos)
		c.ChangeLSN, c.SCN, c.File = text(srcChangeLSN), text(srcSCN), text(srcFile)
	}
	return after, nil
}

// checkChange finds what appendChange would reject for the metadata
// column n: a required column without a value, a source time out of the
// column's range.
func (c *Change) checkChange(n *node) *fieldErr {
	switch n.meta {
	case metaSourceTS:
		_, present, ok := c.sourceTime(n.nanos)
		switch {
		case !ok:
			return newErr(KindOutOfRange, "source time does not fit the column").in(n.name)
		case !present && !n.nullable:
			return newErr(KindMissingRequired, "the change event has no source.ts_ms").in(n.name)
		}
	case metaSourcePos:
		if !n.nullable && c.position(n.long) == nil {
			return newErr(KindMissingRequired, "the change event has no source position").in(n.name)
		}
	}
	return nil
}

// sourceTime is the source's commit time in microseconds (or nanoseconds),
// from the most precise of ts_ns, ts_us and ts_ms the event has. ok is
// false when it overflows.
func (c *Change) sourceTime(nanos bool) (t int64, present, ok bool) {
	scaled := func(x, by int64) (int64, bool, bool) {
		if x > math.MaxInt64/by || x < math.MinInt64/by {
			return 0, true, false
		}
		return x * by, true, true
	}
	switch {
	case nanos && c.HasNs:
		return c.TsNs, true, true
	case nanos && c.HasUs:
		return scaled(c.TsUs, 1000)
	case nanos && c.HasMs:
		return scaled(c.TsMs, 1_000_000)
	case c.HasUs:
		return c.TsUs, true, true
	case c.HasNs:
		return floorDiv(c.TsNs, 1000), true, true
	case c.HasMs:
		return scaled(c.TsMs, 1000)
	}
	return 0, false, true
}

// position is the source log position as text, or nil: the lsn in
// decimal, change_lsn, scn, or file:pos. For a long column (long) only
// the lsn counts.
func (c *Change) position(long bool) []byte {
	c.digits = c.digits[:0]
	switch {
	case c.HasLSN:
		return strconv.AppendInt(c.digits, c.LSN, 10)
	case long:
		return nil
	case c.ChangeLSN != nil:
		return c.ChangeLSN
	case c.SCN != nil:
		return c.SCN
	case c.File != nil:
		c.digits = append(c.digits, c.File...)
		if c.HasPos {
			c.digits = strconv.AppendInt(append(c.digits, ':'), c.Pos, 10)
		}
		return c.digits
	}
	return nil
}

// appendChange appends the metadata column n that comes from the change.
func (c *Change) appendChange(n *node, b array.Builder) {
	switch n.meta {
	case metaOp:
		appendBytes(b, c.Op)
	case metaSourceTS:
		if t, present, _ := c.sourceTime(n.nanos); present {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(t))
		} else {
			b.AppendNull()
		}
	case metaSourcePos:
		switch p := c.position(n.long); {
		case p == nil:
			b.AppendNull()
		case n.long:
			b.(*array.Int64Builder).Append(c.LSN)
		default:
			appendBytes(b, p)
		}
	}
}
