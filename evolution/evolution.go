// Package evolution is the one vocabulary of schema changes in floe: what a
// record needs from its table's schema (new optional fields, wider types),
// in Arrow terms. The decoder (package codec) says what a record needs; the
// committer changes the table; nothing converts between them.
package evolution

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"
)

// Change is returned by a decoder, instead of appending a row, when a record
// needs the table's schema to change first and the table's
// schema-evolution policy allows the change. The caller changes the table,
// builds a decoder for the new schema and decodes the record again.
type Change struct {
	// Topic, Partition and Offset name the record that asked.
	Topic     string
	Partition int32
	Offset    int64
	// Add are new optional fields: at the top level (Parent empty), in
	// name order, or in existing struct columns reached from the top level
	// through structs only.
	Add []Field
	// Widen are columns whose type must grow.
	Widen []Widening
}

// Field is a new field of the struct at Parent (empty: a new column).
type Field struct {
	Parent []string
	arrow.Field
}

// Path is the field's full path.
func (f Field) Path() []string { return append(append([]string(nil), f.Parent...), f.Name) }

// Widening promotes the column at Path to To: arrow.PrimitiveTypes.Int64
// (from int) or arrow.PrimitiveTypes.Float64 (from float).
type Widening struct {
	Path []string
	To   arrow.DataType
}

func (c *Change) Error() string {
	var parts []string
	for _, a := range c.Add {
		parts = append(parts, "add "+strings.Join(a.Path(), ".")+" "+TypeName(a.Type))
	}
	for _, w := range c.Widen {
		parts = append(parts, "widen "+strings.Join(w.Path, ".")+" to "+TypeName(w.To))
	}
	return fmt.Sprintf("record %s[%d]@%d needs a schema change: %s", c.Topic, c.Partition, c.Offset, strings.Join(parts, ", "))
}

// TypeName names an Arrow type the way Iceberg prints the type it maps to,
// e.g. "long" or "list<struct<key: string, value: binary>>".
func TypeName(t arrow.DataType) string {
	switch t := t.(type) {
	case *arrow.StringType, *arrow.LargeStringType:
		return "string"
	case *arrow.BooleanType:
		return "boolean"
	case *arrow.Int32Type:
		return "int"
	case *arrow.Int64Type:
		return "long"
	case *arrow.Float32Type:
		return "float"
	case *arrow.Float64Type:
		return "double"
	case *arrow.BinaryType, *arrow.LargeBinaryType:
		return "binary"
	case *arrow.Date32Type:
		return "date"
	case *arrow.TimestampType:
		name := "timestamp"
		if t.TimeZone != "" {
			name += "tz"
		}
		if t.Unit == arrow.Nanosecond {
			name += "_ns"
		}
		return name
	case *arrow.Decimal128Type:
		return "decimal(" + strconv.Itoa(int(t.Precision)) + "," + strconv.Itoa(int(t.Scale)) + ")"
	case *arrow.Time64Type:
		return "time"
	case *arrow.FixedSizeBinaryType:
		return "fixed[" + strconv.Itoa(t.ByteWidth) + "]"
	case *extensions.UUIDType:
		return "uuid"
	case *arrow.StructType:
		parts := make([]string, t.NumFields())
		for i, f := range t.Fields() {
			parts[i] = f.Name + ": " + TypeName(f.Type)
		}
		return "struct<" + strings.Join(parts, ", ") + ">"
	case *arrow.ListType:
		return "list<" + TypeName(t.Elem()) + ">"
	}
	return t.String()
}
