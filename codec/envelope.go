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
	// KindCDCDelete: a Debezium delete (op d), or the tombstone after it.
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

// unwrap finds the row in the decoded envelope value: the after of a
// create, update or snapshot read. It keeps the op and source values for
// the metadata columns in st.
func (st *state) unwrap(value int32) (int32, *fieldErr) {
	ev := st.kids[st.vals[value].first+1:]
	if p := st.kids[st.vals[value].first]; p >= 0 {
		ev = st.kids[st.vals[p].first:]
	}
	after, op, source := ev[evAfter], ev[evOp], ev[evSource]
	if op < 0 {
		return 0, newErr(KindInvalidValue, "not a Debezium change event: no op").in("op")
	}
	st.envOp, st.envSource = op, source
	switch o := st.bytes(&st.vals[op]); string(o) {
	case "c", "u", "r":
		if after < 0 {
			return 0, newErr(KindMissingRequired, "after is null in a change with op "+string(o)).in("after")
		}
		return after, nil
	case "d":
		return 0, newErr(KindCDCDelete, "delete (op d): no row to append")
	case "t":
		return 0, newErr(KindCDCTruncate, "truncate (op t): no row to append")
	default:
		detail := "op is not c, u, r, d or t"
		if len(o) <= 8 {
			detail = "op " + strconv.Quote(string(o)) + " is not c, u, r, d or t"
		}
		return 0, newErr(KindInvalidValue, detail).in("op")
	}
}

// source is the decoded source field i, or null.
func (st *state) source(i int) int32 {
	if st.envSource < 0 {
		return null
	}
	return st.kids[st.vals[st.envSource].first+int32(i)]
}

// checkEnvMeta finds what appendEnvMeta would reject: a required column
// without a value, a source time out of the column's range.
func (st *state) checkEnvMeta(n *node) *fieldErr {
	switch n.meta {
	case metaSourceTS:
		_, present, ok := st.sourceTime(n)
		switch {
		case !ok:
			return newErr(KindOutOfRange, "source time does not fit the column").in(n.name)
		case !present && !n.nullable:
			return newErr(KindMissingRequired, "the change event has no source.ts_ms").in(n.name)
		}
	case metaSourcePos:
		if !n.nullable && st.position(n) == nil {
			return newErr(KindMissingRequired, "the change event has no source position").in(n.name)
		}
	}
	return nil
}

// sourceTime is the source's commit time in the unit of column n, from
// the most precise of ts_ns, ts_us and ts_ms the event has. ok is false
// when it overflows.
func (st *state) sourceTime(n *node) (t int64, present, ok bool) {
	ms, us, ns := st.source(srcTsMs), st.source(srcTsUs), st.source(srcTsNs)
	scaled := func(v int32, by int64) (int64, bool, bool) {
		x := st.vals[v].i
		if x > math.MaxInt64/by || x < math.MinInt64/by {
			return 0, true, false
		}
		return x * by, true, true
	}
	switch {
	case n.nanos && ns >= 0:
		return st.vals[ns].i, true, true
	case n.nanos && us >= 0:
		return scaled(us, 1000)
	case n.nanos && ms >= 0:
		return scaled(ms, 1_000_000)
	case us >= 0:
		return st.vals[us].i, true, true
	case ns >= 0:
		return floorDiv(st.vals[ns].i, 1000), true, true
	case ms >= 0:
		return scaled(ms, 1000)
	}
	return 0, false, true
}

// position is the source log position for the column n, or nil: a long
// column takes PostgreSQL's lsn; a string column the lsn in decimal,
// SQL Server's change_lsn, Oracle's scn or MySQL's file:pos.
func (st *state) position(n *node) []byte {
	st.digits = st.digits[:0]
	if v := st.source(srcLSN); v >= 0 {
		return strconv.AppendInt(st.digits, st.vals[v].i, 10)
	}
	if n.long { // lsn only
		return nil
	}
	for _, i := range []int{srcChangeLSN, srcSCN} {
		if v := st.source(i); v >= 0 {
			return st.bytes(&st.vals[v])
		}
	}
	if v := st.source(srcFile); v >= 0 {
		st.digits = append(st.digits, st.bytes(&st.vals[v])...)
		if p := st.source(srcPos); p >= 0 {
			st.digits = strconv.AppendInt(append(st.digits, ':'), st.vals[p].i, 10)
		}
		return st.digits
	}
	return nil
}

// appendEnvMeta appends the metadata column n that comes from the
// envelope.
func (st *state) appendEnvMeta(n *node, b array.Builder) {
	switch n.meta {
	case metaOp:
		appendBytes(b, st.bytes(&st.vals[st.envOp]))
	case metaSourceTS:
		if t, present, _ := st.sourceTime(n); present {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(t))
		} else {
			b.AppendNull()
		}
	case metaSourcePos:
		p := st.position(n)
		switch {
		case p == nil:
			b.AppendNull()
		case n.long:
			b.(*array.Int64Builder).Append(st.vals[st.source(srcLSN)].i)
		default:
			appendBytes(b, p)
		}
	}
}
