package codec

import (
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"
)

// kind is how a column is decoded: one per supported Iceberg type, plus
// kMeta for columns filled from the Kafka record.
type kind uint8

const (
	kBool kind = iota
	kInt32
	kInt64
	kFloat32
	kFloat64
	kDecimal
	kDate
	kTime
	kTimestamp
	kString
	kBinary
	kFixed
	kUUID
	kStruct
	kList
	kMap
	kMeta
)

// node is the precomputed decoding plan for one column (or nested field),
// built once per schema by New so that Append does no type inspection.
type node struct {
	kind     kind
	name     string
	nullable bool
	tname    string // Iceberg type name for messages: "decimal(10,2)"

	prec, scale int32 // kDecimal
	width       int   // kFixed
	nanos       bool  // kTime, kTimestamp: nanosecond unit
	zoned       bool  // kTimestamp: timestamptz

	fields []*node        // kStruct
	index  map[string]int // kStruct: field name → position
	elem   *node          // kList element, kMap value
	key    *node          // kMap key
	meta   metaKind       // kMeta
	// evolvable: a struct reached from the top level through structs only,
	// whose unknown keys may become columns (add-columns); colPath is its
	// column path (nil for the top level).
	evolvable bool
	colPath   []string
	hdr       headerPositions // kMeta headers: positions in the element struct
	long      bool            // kMeta source-position: a long column (PostgreSQL's lsn)
	keyPlan   *keyPlan        // kMeta key: a key-format other than binary
}

// compile builds the plan for a field of type dt. path names the column in
// errors, Iceberg style: "a.b", "tags.element", "attrs.key".
func compile(path, name string, dt arrow.DataType, nullable bool) (*node, error) {
	n := &node{name: name, nullable: nullable}
	switch t := dt.(type) {
	case *arrow.BooleanType:
		n.kind, n.tname = kBool, "boolean"
	case *arrow.Int32Type:
		n.kind, n.tname = kInt32, "int"
	case *arrow.Int64Type:
		n.kind, n.tname = kInt64, "long"
	case *arrow.Float32Type:
		n.kind, n.tname = kFloat32, "float"
	case *arrow.Float64Type:
		n.kind, n.tname = kFloat64, "double"
	case *arrow.Decimal128Type:
		if t.Precision < 1 || t.Precision > 38 || t.Scale < 0 || t.Scale > t.Precision {
			return nil, fmt.Errorf("column %q: unsupported decimal(%d,%d)", path, t.Precision, t.Scale)
		}
		n.kind, n.prec, n.scale = kDecimal, t.Precision, t.Scale
		n.tname = "decimal(" + strconv.Itoa(int(t.Precision)) + "," + strconv.Itoa(int(t.Scale)) + ")"
	case *arrow.Date32Type:
		n.kind, n.tname = kDate, "date"
	case *arrow.Time64Type:
		n.kind, n.tname, n.nanos = kTime, "time", t.Unit == arrow.Nanosecond
	case *arrow.TimestampType:
		if t.Unit != arrow.Microsecond && t.Unit != arrow.Nanosecond {
			return nil, fmt.Errorf("column %q: unsupported timestamp unit %s", path, t.Unit)
		}
		n.kind, n.nanos, n.zoned = kTimestamp, t.Unit == arrow.Nanosecond, t.TimeZone != ""
		n.tname = "timestamp"
		if n.zoned {
			n.tname += "tz"
		}
		if n.nanos {
			n.tname += "_ns"
		}
	case *arrow.StringType, *arrow.LargeStringType:
		n.kind, n.tname = kString, "string"
	case *arrow.BinaryType, *arrow.LargeBinaryType:
		n.kind, n.tname = kBinary, "binary"
	case *arrow.FixedSizeBinaryType:
		n.kind, n.width = kFixed, t.ByteWidth
		n.tname = "fixed[" + strconv.Itoa(t.ByteWidth) + "]"
	case *extensions.UUIDType:
		n.kind, n.tname = kUUID, "uuid"
	case *arrow.StructType:
		n.kind, n.tname = kStruct, "struct"
		n.index = make(map[string]int, t.NumFields())
		for i, f := range t.Fields() {
			c, err := compile(path+"."+f.Name, f.Name, f.Type, f.Nullable)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, c)
			n.index[f.Name] = i
		}
	case *arrow.MapType:
		n.kind, n.tname = kMap, "map"
		k, err := compile(path+".key", "key", t.KeyType(), false)
		if err != nil {
			return nil, err
		}
		switch k.kind {
		case kStruct, kList, kMap:
			return nil, fmt.Errorf("column %q: map keys must be primitive, got %s", path+".key", k.tname)
		}
		v := t.ItemField()
		if n.elem, err = compile(path+".value", "value", v.Type, v.Nullable); err != nil {
			return nil, err
		}
		n.key = k
	case *arrow.ListType:
		return compileList(n, path, t.ElemField())
	case *arrow.LargeListType:
		return compileList(n, path, t.ElemField())
	default:
		return nil, fmt.Errorf("column %q: unsupported type %s", path, dt)
	}
	return n, nil
}

func compileList(n *node, path string, elem arrow.Field) (*node, error) {
	e, err := compile(path+".element", "element", elem.Type, elem.Nullable)
	if err != nil {
		return nil, err
	}
	n.kind, n.tname, n.elem = kList, "list", e
	return n, nil
}

// lookup finds the field named key, trying hint (the field after the last
// one seen) first because producers usually emit fields in schema order.
func (n *node) lookup(key []byte, hint int) int {
	if hint < len(n.fields) && string(key) == n.fields[hint].name {
		return hint
	}
	if i, ok := n.index[string(key)]; ok {
		return i
	}
	return -1
}
