package protobuf

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ArrowSchema is the Arrow form of the table md asks for, in the types of
// an Iceberg table's Arrow schema (without field IDs), so that the table
// floe creates from it decodes every field (see the package documentation
// for the mapping). A proto2 required field is a required column; every
// other field is optional, lists and maps included. Fields without content
// (google.protobuf.Empty, a message without fields) get no column. Recursive
// messages, groups and google.protobuf.Any, Struct, Value and ListValue have
// no column type and are refused, naming the field.
func ArrowSchema(md protoreflect.MessageDescriptor) (*arrow.Schema, error) {
	fields, err := arrowFields(md, "", map[protoreflect.FullName]bool{})
	if err != nil {
		return nil, err
	}
	return arrow.NewSchema(fields, nil), nil
}

func arrowFields(md protoreflect.MessageDescriptor, prefix string, open map[protoreflect.FullName]bool) ([]arrow.Field, error) {
	if open[md.FullName()] {
		return nil, fmt.Errorf("field %q: message %s refers to itself; a table column cannot", prefix, md.FullName())
	}
	open[md.FullName()] = true
	defer delete(open, md.FullName())
	fds := md.Fields()
	out := make([]arrow.Field, 0, fds.Len())
	for i := range fds.Len() {
		fd := fds.Get(i)
		path := string(fd.Name())
		if prefix != "" {
			path = prefix + "." + path
		}
		dt, ok, err := columnType(fd, path, open)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, arrow.Field{Name: string(fd.Name()), Type: dt, Nullable: fd.Cardinality() != protoreflect.Required})
		}
	}
	return out, nil
}

// columnType is the column type of field fd, repeated or map included, and
// false if fd has no content to store.
func columnType(fd protoreflect.FieldDescriptor, path string, open map[protoreflect.FullName]bool) (arrow.DataType, bool, error) {
	switch {
	case fd.IsMap():
		val, ok, err := valueType(fd.MapValue(), path+".value", open)
		if !ok || err != nil {
			return nil, false, err
		}
		key, _, _ := valueType(fd.MapKey(), path+".key", open)
		m := arrow.MapOfWithMetadata(key, arrow.Metadata{}, val, arrow.Metadata{})
		m.SetItemNullable(false) // a protobuf map value is never null
		return m, true, nil
	case fd.IsList():
		elem, ok, err := valueType(fd, path+".element", open)
		if !ok || err != nil {
			return nil, false, err
		}
		return arrow.ListOfField(arrow.Field{Name: "element", Type: elem}), true, nil
	}
	return valueType(fd, path, open)
}

// valueType is the column type of one value of fd, ignoring its
// cardinality.
func valueType(fd protoreflect.FieldDescriptor, path string, open map[protoreflect.FullName]bool) (arrow.DataType, bool, error) {
	switch fd.Kind() {
	case protoreflect.GroupKind:
		return nil, false, fmt.Errorf("field %q: %s is not supported", path, protoType(fd))
	case protoreflect.MessageKind:
	default:
		return scalarType(fd.Kind()), true, nil
	}
	md := fd.Message()
	switch w := wellKnown(md); w {
	case wktTimestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, true, nil
	case wktDuration:
		return arrow.PrimitiveTypes.Int64, true, nil
	case wktWrapper:
		return scalarType(md.Fields().ByNumber(1).Kind()), true, nil
	case wktEmpty:
		return nil, false, nil
	case wktUnsupported:
		return nil, false, fmt.Errorf("field %q: %s has no column type (not supported yet)", path, md.FullName())
	}
	fields, err := arrowFields(md, path, open)
	if err != nil || len(fields) == 0 {
		return nil, false, err
	}
	return arrow.StructOf(fields...), true, nil
}

// scalarType is the column type of a protobuf scalar kind. Unsigned 32-bit
// integers need a long to hold every value; unsigned 64-bit integers go
// into a long too, and values beyond its range are out_of_range.
func scalarType(k protoreflect.Kind) arrow.DataType {
	switch k {
	case protoreflect.BoolKind:
		return arrow.FixedWidthTypes.Boolean
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return arrow.PrimitiveTypes.Int32
	case protoreflect.FloatKind:
		return arrow.PrimitiveTypes.Float32
	case protoreflect.DoubleKind:
		return arrow.PrimitiveTypes.Float64
	case protoreflect.StringKind, protoreflect.EnumKind:
		return arrow.BinaryTypes.String
	case protoreflect.BytesKind:
		return arrow.BinaryTypes.Binary
	}
	return arrow.PrimitiveTypes.Int64
}

// wkt classifies the well-known message types that do not map as structs.
type wkt uint8

const (
	wktNone wkt = iota
	wktTimestamp
	wktDuration
	wktWrapper
	wktEmpty
	wktUnsupported
)

func wellKnown(md protoreflect.MessageDescriptor) wkt {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return wktTimestamp
	case "google.protobuf.Duration":
		return wktDuration
	case "google.protobuf.BoolValue", "google.protobuf.Int32Value", "google.protobuf.Int64Value",
		"google.protobuf.UInt32Value", "google.protobuf.UInt64Value", "google.protobuf.FloatValue",
		"google.protobuf.DoubleValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return wktWrapper
	case "google.protobuf.Empty":
		return wktEmpty
	case "google.protobuf.Any", "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue":
		return wktUnsupported
	}
	return wktNone
}

// protoType names fd's type for messages: "int64", "repeated string",
// "map<string, int64>", "enum acme.Color", "message acme.Address".
func protoType(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() {
		return "map<" + oneType(fd.MapKey()) + ", " + oneType(fd.MapValue()) + ">"
	}
	if fd.IsList() {
		return "repeated " + oneType(fd)
	}
	return oneType(fd)
}

func oneType(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		return "enum " + string(fd.Enum().FullName())
	case protoreflect.MessageKind:
		if wellKnown(fd.Message()) != wktNone {
			return string(fd.Message().FullName())
		}
		return "message " + string(fd.Message().FullName())
	case protoreflect.GroupKind:
		return "group " + string(fd.Message().FullName())
	}
	return fd.Kind().String()
}
