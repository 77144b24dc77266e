package avro

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"
)

// ArrowSchema is the Arrow form of the table a writer schema (whose top
// level is a record) asks for, in the types of an Iceberg table's Arrow
// schema, so that the table floe creates from it decodes every field:
//
//	boolean, int, long, float, double  boolean, int, long, float, double
//	string, enum                        string
//	string (uuid), fixed(16) (uuid)     uuid
//	bytes                               binary
//	fixed(N)                            fixed[N]
//	decimal(P,S)                        decimal(P,S) (P at most 38)
//	date                                date
//	time-millis, time-micros            time
//	timestamp-*                         timestamptz
//	local-timestamp-*                   timestamp
//	array, map, record                  list, map<string, V>, struct
//
// A field is optional exactly when its type is a union with null
// (["null", T] or [T, "null"]); other unions, a field of type null and
// recursive records have no column type and are refused, naming the field.
func ArrowSchema(writerSchema string) (*arrow.Schema, error) {
	w, err := parseSchema(writerSchema)
	if err != nil {
		return nil, err
	}
	return arrowSchemaOf(w)
}

func arrowSchemaOf(w *schema) (*arrow.Schema, error) {
	if w.typ != "record" {
		return nil, fmt.Errorf("avro schema: the top level must be a record, got %s", w.display())
	}
	fields, err := arrowFields(w, "", map[*schema]bool{})
	if err != nil {
		return nil, err
	}
	return arrow.NewSchema(fields, nil), nil
}

func arrowFields(rec *schema, prefix string, open map[*schema]bool) ([]arrow.Field, error) {
	if open[rec] {
		return nil, fmt.Errorf("field %q: record %s refers to itself; a table column cannot", prefix, rec.name)
	}
	open[rec] = true
	defer delete(open, rec)
	out := make([]arrow.Field, 0, len(rec.fields))
	for _, f := range rec.fields {
		path := f.name
		if prefix != "" {
			path = prefix + "." + f.name
		}
		dt, nullable, err := arrowType(f.typ, path, open)
		if err != nil {
			return nil, err
		}
		out = append(out, arrow.Field{Name: f.name, Type: dt, Nullable: nullable})
	}
	return out, nil
}

// arrowType is t's column type and whether it is optional.
func arrowType(t *schema, path string, open map[*schema]bool) (arrow.DataType, bool, error) {
	if t.typ == "union" {
		_, inner, ok := optional(t)
		if !ok {
			return nil, false, fmt.Errorf("field %q: %s has no column type (only [\"null\", T] unions do)", path, t.display())
		}
		dt, _, err := arrowType(inner, path, open)
		return dt, true, err
	}
	switch t.logical {
	case "decimal":
		if t.precision > 38 {
			return nil, false, fmt.Errorf("field %q: %s: a table decimal holds at most 38 digits", path, t.display())
		}
		return &arrow.Decimal128Type{Precision: int32(t.precision), Scale: int32(t.scale)}, false, nil
	case "uuid":
		return extensions.NewUUIDType(), false, nil
	case "date":
		return arrow.FixedWidthTypes.Date32, false, nil
	case "time-millis", "time-micros":
		return arrow.FixedWidthTypes.Time64us, false, nil
	case "timestamp-millis", "timestamp-micros", "timestamp-nanos":
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, false, nil
	case "local-timestamp-millis", "local-timestamp-micros", "local-timestamp-nanos":
		return &arrow.TimestampType{Unit: arrow.Microsecond}, false, nil
	}
	switch t.typ {
	case "boolean":
		return arrow.FixedWidthTypes.Boolean, false, nil
	case "int":
		return arrow.PrimitiveTypes.Int32, false, nil
	case "long":
		return arrow.PrimitiveTypes.Int64, false, nil
	case "float":
		return arrow.PrimitiveTypes.Float32, false, nil
	case "double":
		return arrow.PrimitiveTypes.Float64, false, nil
	case "string", "enum":
		return arrow.BinaryTypes.String, false, nil
	case "bytes":
		return arrow.BinaryTypes.Binary, false, nil
	case "fixed":
		return &arrow.FixedSizeBinaryType{ByteWidth: t.size}, false, nil
	case "array":
		elem, nullable, err := arrowType(t.items, path+".element", open)
		if err != nil {
			return nil, false, err
		}
		return arrow.ListOfField(arrow.Field{Name: "element", Type: elem, Nullable: nullable}), false, nil
	case "map":
		val, nullable, err := arrowType(t.items, path+".value", open)
		if err != nil {
			return nil, false, err
		}
		m := arrow.MapOfWithMetadata(arrow.BinaryTypes.String, arrow.Metadata{}, val, arrow.Metadata{})
		m.SetItemNullable(nullable)
		return m, false, nil
	case "record":
		fields, err := arrowFields(t, path, open)
		if err != nil {
			return nil, false, err
		}
		return arrow.StructOf(fields...), false, nil
	}
	return nil, false, fmt.Errorf("field %q: %s has no column type", path, t.display())
}
