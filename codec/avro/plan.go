package avro

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"

	"github.com/floe-dev/floe/evolution"
)

// op is how a value is laid out on the wire.
type op uint8

const (
	opNull op = iota
	opBool
	opInt
	opLong
	opFloat
	opDouble
	opBytes
	opString
	opFixed
	opEnum
	opArray
	opMap
	opRecord
	opOptional // ["null", T] or [T, "null"]
	opUnion    // any other union: skipped only
)

// conv is what lands in the column; cSkip for a writer field the table
// does not have (and everything inside it).
type conv uint8

const (
	cSkip conv = iota
	cNull
	cBool
	cInt32
	cInt64
	cFloat32
	cFloat64
	cDate
	cTime      // time of day, scaled to the column's unit
	cTimestamp // scaled to the column's unit
	cString    // string, or an enum's symbol
	cBinary
	cFixed    // into fixed[N] or uuid
	cUUIDText // canonical uuid text into uuid or fixed[16]
	cDecimal
	cStruct
	cList
	cMap
)

// node is the decoding plan of one writer type into one column type,
// compiled once by New so that Append does no type inspection. Nodes of
// skipped types are shared and may form cycles (recursive records).
type node struct {
	op       op
	conv     conv
	nullable bool   // the column accepts null
	tname    string // the column type, for messages

	size    int      // opFixed
	symbols [][]byte // opEnum
	minSize int      // fewest bytes a value takes, to bound block counts

	// cTime, cTimestamp: the column value is v×mul, or ⌊v/div⌋ when div>0.
	mul, div int64
	day      int64 // cTime: one day in the writer's unit

	prec, shift int32 // cDecimal: column precision, column scale − writer scale

	nullIndex int64       // opOptional: the branch that is null
	elem      *node       // opOptional: the other branch; array items, map values
	fields    []fieldPlan // opRecord, in writer order
	missing   []int       // opRecord: column positions the writer lacks
	branches  []*node     // opUnion
}

// fieldPlan is one writer field of a record.
type fieldPlan struct {
	name string
	col  int // position among the struct's (or the table's) columns; -1: skipped
	n    *node
}

// compiler builds plans; skip memoises skipped types so recursive ones
// terminate.
type compiler struct {
	skipped map[*schema]*node
}

// skip returns the plan that reads past a value of t.
func (c *compiler) skip(t *schema) *node {
	if n, ok := c.skipped[t]; ok {
		return n
	}
	n := &node{op: wireOp(t)}
	c.skipped[t] = n
	switch t.typ {
	case "fixed":
		n.size = t.size
	case "enum":
		n.symbols = make([][]byte, len(t.symbols))
	case "array", "map":
		n.elem = c.skip(t.items)
	case "record":
		for _, f := range t.fields {
			n.fields = append(n.fields, fieldPlan{name: f.name, col: -1, n: c.skip(f.typ)})
		}
	case "union":
		if i, inner, ok := optional(t); ok {
			n.op, n.nullIndex, n.elem = opOptional, i, c.skip(inner)
			break
		}
		for _, b := range t.branches {
			n.branches = append(n.branches, c.skip(b))
		}
	}
	n.minSize = minSize(t, map[*schema]bool{})
	return n
}

func wireOp(t *schema) op {
	switch t.typ {
	case "null":
		return opNull
	case "boolean":
		return opBool
	case "int":
		return opInt
	case "long":
		return opLong
	case "float":
		return opFloat
	case "double":
		return opDouble
	case "bytes":
		return opBytes
	case "string":
		return opString
	case "fixed":
		return opFixed
	case "enum":
		return opEnum
	case "array":
		return opArray
	case "map":
		return opMap
	case "record":
		return opRecord
	}
	return opUnion
}

// minSize is the fewest bytes a value of t is encoded in. A record met
// again on its own path counts 0, which keeps the bound a lower one.
func minSize(t *schema, open map[*schema]bool) int {
	switch t.typ {
	case "null":
		return 0
	case "float":
		return 4
	case "double":
		return 8
	case "fixed":
		return t.size
	case "record":
		if open[t] {
			return 0
		}
		open[t] = true
		defer delete(open, t)
		sum := 0
		for _, f := range t.fields {
			sum += minSize(f.typ, open)
		}
		return sum
	}
	return 1 // a varint, a length or a block count
}

// optional recognises ["null", T] and [T, "null"].
func optional(t *schema) (nullIndex int64, inner *schema, ok bool) {
	if len(t.branches) != 2 {
		return 0, nil, false
	}
	switch {
	case t.branches[0].typ == "null" && t.branches[1].typ != "null":
		return 0, t.branches[1], true
	case t.branches[1].typ == "null" && t.branches[0].typ != "null":
		return 1, t.branches[0], true
	}
	return 0, nil, false
}

// record compiles writer record w onto cols. meta reports the top-level
// columns filled from the Kafka record (nil below the top).
func (c *compiler) record(w *schema, cols []arrow.Field, prefix string, meta func(int) bool) (*node, error) {
	n := &node{op: opRecord, conv: cStruct, tname: "struct", minSize: minSize(w, map[*schema]bool{})}
	byName := make(map[string]int, len(cols))
	for i, f := range cols {
		if meta == nil || !meta(i) {
			byName[f.Name] = i
		}
	}
	used := make([]bool, len(cols))
	for _, wf := range w.fields {
		i, ok := byName[wf.name]
		if !ok {
			n.fields = append(n.fields, fieldPlan{name: wf.name, col: -1, n: c.skip(wf.typ)})
			continue
		}
		fn, err := c.mapped(wf.typ, cols[i], prefix+wf.name)
		if err != nil {
			return nil, err
		}
		used[i] = true
		n.fields = append(n.fields, fieldPlan{name: wf.name, col: i, n: fn})
	}
	for i, f := range cols {
		if used[i] || meta != nil && meta(i) {
			continue
		}
		if !f.Nullable {
			return nil, fmt.Errorf("column %q: required, but the writer schema has no field %q", prefix+f.Name, f.Name)
		}
		n.missing = append(n.missing, i)
	}
	return n, nil
}

// mapped compiles writer type w onto column col; path names the column in
// errors, Iceberg style: "a.b", "tags.element", "attrs.value".
func (c *compiler) mapped(w *schema, col arrow.Field, path string) (*node, error) {
	if w.typ == "union" {
		i, inner, ok := optional(w)
		if !ok {
			return nil, fmt.Errorf("column %q: avro %s is not supported: only [\"null\", T] and [T, \"null\"] map onto a column",
				path, w.display())
		}
		e, err := c.mapped(inner, col, path)
		if err != nil {
			return nil, err
		}
		return &node{op: opOptional, conv: e.conv, nullable: col.Nullable, tname: e.tname,
			nullIndex: i, elem: e, minSize: 1}, nil
	}
	n := &node{op: wireOp(w), nullable: col.Nullable, tname: typeName(col.Type),
		size: w.size, minSize: minSize(w, map[*schema]bool{})}
	refuse := func(why string) error {
		msg := fmt.Sprintf("column %q: avro %s cannot go into %s", path, w.display(), n.tname)
		if why != "" {
			msg += ": " + why
		}
		return fmt.Errorf("%s", msg)
	}
	dt := col.Type
	id := dt.ID()
	_, uuidCol := dt.(*extensions.UUIDType)
	fixed16 := uuidCol || id == arrow.FIXED_SIZE_BINARY && dt.(*arrow.FixedSizeBinaryType).ByteWidth == 16
	switch {
	case w.typ == "null":
		if !col.Nullable {
			return nil, refuse("the column is required")
		}
		n.conv = cNull
	case w.typ == "boolean" && id == arrow.BOOL:
		n.conv = cBool
	case w.logical == "date":
		if id != arrow.DATE32 {
			return nil, refuse("")
		}
		n.conv = cDate
	case w.logical == "time-millis" || w.logical == "time-micros":
		t, ok := dt.(*arrow.Time64Type)
		if !ok {
			return nil, refuse("")
		}
		from := unitOf(w.logical)
		n.conv, n.day = cTime, 86_400*from
		n.mul, n.div = scale(from, perSecond(t.Unit))
	case strings.HasPrefix(w.logical, "timestamp-") || strings.HasPrefix(w.logical, "local-timestamp-"):
		// timestamp-* is an instant: it goes into timestamptz, or into
		// timestamp as UTC wall time (as a JSON string with a zone does).
		// local-timestamp-* is wall time without a zone: timestamp only.
		t, ok := dt.(*arrow.TimestampType)
		if !ok || t.Unit != arrow.Microsecond && t.Unit != arrow.Nanosecond {
			return nil, refuse("")
		}
		if t.TimeZone != "" && w.logical[0] == 'l' { // local-
			return nil, refuse("a local timestamp has no zone")
		}
		n.conv = cTimestamp
		n.mul, n.div = scale(unitOf(w.logical), perSecond(t.Unit))
	case w.logical == "decimal":
		if id != arrow.DECIMAL128 {
			return nil, refuse("")
		}
		t := dt.(*arrow.Decimal128Type)
		n.conv, n.prec, n.shift = cDecimal, t.Precision, t.Scale-int32(w.scale)
	case w.typ == "int" && id == arrow.INT32:
		n.conv = cInt32
	case (w.typ == "int" || w.typ == "long") && id == arrow.INT64:
		n.conv = cInt64
	case w.typ == "int" && id == arrow.FLOAT64:
		n.conv = cFloat64 // exact: every int is a double
	case w.typ == "float" && id == arrow.FLOAT32:
		n.conv = cFloat32
	case (w.typ == "float" || w.typ == "double") && id == arrow.FLOAT64:
		n.conv = cFloat64
	case (w.typ == "string" || w.typ == "enum") && (id == arrow.STRING || id == arrow.LARGE_STRING):
		n.conv = cString
		for _, s := range w.symbols {
			n.symbols = append(n.symbols, []byte(s))
		}
	case w.typ == "string" && fixed16:
		n.conv = cUUIDText
	case (w.typ == "bytes" || w.typ == "string" || w.typ == "fixed") && (id == arrow.BINARY || id == arrow.LARGE_BINARY):
		n.conv = cBinary
	case w.typ == "fixed" && uuidCol && w.size == 16:
		n.conv = cFixed
	case w.typ == "fixed" && id == arrow.FIXED_SIZE_BINARY:
		if width := dt.(*arrow.FixedSizeBinaryType).ByteWidth; width != w.size {
			return nil, refuse("the sizes differ")
		}
		n.conv = cFixed
	case w.typ == "array" && (id == arrow.LIST || id == arrow.LARGE_LIST):
		elem := dt.(arrow.ListLikeType).ElemField()
		e, err := c.mapped(w.items, elem, path+".element")
		if err != nil {
			return nil, err
		}
		n.conv, n.elem = cList, e
	case w.typ == "map" && id == arrow.MAP:
		t := dt.(*arrow.MapType)
		if k := t.KeyType().ID(); k != arrow.STRING && k != arrow.LARGE_STRING {
			return nil, refuse("avro map keys are strings")
		}
		e, err := c.mapped(w.items, t.ItemField(), path+".value")
		if err != nil {
			return nil, err
		}
		n.conv, n.elem = cMap, e
	case w.typ == "record" && id == arrow.STRUCT:
		r, err := c.record(w, dt.(*arrow.StructType).Fields(), path+".", nil)
		if err != nil {
			return nil, err
		}
		r.nullable = col.Nullable
		return r, nil
	default:
		return nil, refuse("")
	}
	return n, nil
}

// unitOf is the number of a logical type's units per second.
func unitOf(logical string) int64 {
	switch {
	case strings.HasSuffix(logical, "-millis"):
		return 1_000
	case strings.HasSuffix(logical, "-micros"):
		return 1_000_000
	}
	return 1_000_000_000
}

func perSecond(u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return 1
	case arrow.Millisecond:
		return 1_000
	case arrow.Microsecond:
		return 1_000_000
	}
	return 1_000_000_000
}

// scale converts from units per second into to units per second.
func scale(from, to int64) (mul, div int64) {
	if from > to {
		return 1, from / to
	}
	return to / from, 0
}

// typeName names an Arrow column type the Iceberg way, as the JSON decoder
// does in its messages: "decimal(12,2)", "timestamptz", "fixed[16]";
// nested types by their kind only.
func typeName(dt arrow.DataType) string {
	switch dt.(type) {
	case *arrow.StructType:
		return "struct"
	case *arrow.ListType, *arrow.LargeListType:
		return "list"
	case *arrow.MapType:
		return "map"
	}
	return evolution.TypeName(dt)
}
