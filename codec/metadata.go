package codec

import (
	"cmp"
	"fmt"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/floe-dev/floe/evolution"
)

// metaKind says which part of the Kafka record fills a metadata column.
type metaKind uint8

const (
	metaTopic metaKind = iota + 1
	metaPartition
	metaOffset
	metaTimestamp
	metaKey
	metaHeaders
	// From a Debezium envelope, not the Kafka record.
	metaOp
	metaSourceTS
	metaSourcePos
)

// metaField is the field of each metadata kind, unnamed.
func metaField(k metaKind) arrow.Field {
	switch k {
	case metaTopic:
		return arrow.Field{Type: arrow.BinaryTypes.String}
	case metaPartition:
		return arrow.Field{Type: arrow.PrimitiveTypes.Int32}
	case metaOffset:
		return arrow.Field{Type: arrow.PrimitiveTypes.Int64}
	case metaTimestamp:
		return arrow.Field{Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true}
	case metaKey:
		return arrow.Field{Type: arrow.BinaryTypes.Binary, Nullable: true}
	case metaOp:
		return arrow.Field{Type: arrow.BinaryTypes.String}
	case metaSourceTS:
		return arrow.Field{Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true}
	case metaSourcePos:
		return arrow.Field{Type: arrow.BinaryTypes.String, Nullable: true}
	default:
		return arrow.Field{Type: arrow.ListOfField(arrow.Field{Name: "element", Type: arrow.StructOf(
			arrow.Field{Name: "key", Type: arrow.BinaryTypes.String},
			arrow.Field{Name: "value", Type: arrow.BinaryTypes.Binary, Nullable: true},
		)})}
	}
}

type metaSpec struct {
	name string
	kind metaKind
	key  string // its key under metadata-columns
}

// specs lists the enabled metadata columns in a fixed order.
func (m MetadataColumns) specs() []metaSpec {
	all := []metaSpec{
		{m.Topic, metaTopic, "topic"}, {m.Partition, metaPartition, "partition"}, {m.Offset, metaOffset, "offset"},
		{m.Timestamp, metaTimestamp, "timestamp"}, {m.Key, metaKey, "key"}, {m.Headers, metaHeaders, "headers"},
		{m.Op, metaOp, "op"}, {m.SourceTimestamp, metaSourceTS, "source-timestamp"}, {m.SourcePosition, metaSourcePos, "source-position"},
	}
	out := all[:0]
	for _, s := range all {
		if s.name != "" {
			out = append(out, s)
		}
	}
	return out
}

// Named lists the enabled metadata columns as metadata-columns key and
// column name, in the order Fields gives them.
func (m MetadataColumns) Named() [][2]string {
	var out [][2]string
	for _, s := range m.specs() {
		out = append(out, [2]string{s.key, s.name})
	}
	return out
}

// Fields returns the enabled metadata columns as the fields a table floe
// creates gets, in the order topic, partition, offset, timestamp, key,
// headers. Key and header values are optional because Kafka allows nulls
// there; timestamp is optional so that a record without one (a zero
// Message.Timestamp) is stored, not rejected.
func (m MetadataColumns) Fields() []arrow.Field {
	specs := m.specs()
	out := make([]arrow.Field, len(specs))
	for i, s := range specs {
		out[i] = metaField(s.kind)
		out[i].Name = s.name
	}
	return out
}

// validate reports a name configured for two metadata columns.
func (m MetadataColumns) validate() error {
	seen := map[string]bool{}
	for _, s := range m.specs() {
		if seen[s.name] {
			return fmt.Errorf("metadata-columns: column %q is configured twice", s.name)
		}
		seen[s.name] = true
	}
	return nil
}

// headerPositions locates key and value in the headers element struct.
type headerPositions struct {
	key, value    int
	valueNullable bool
}

// compileMeta checks that field can hold the metadata column of kind k,
// the key column keys of keyFormat.
func compileMeta(k metaKind, f arrow.Field, keyFormat string) (*node, error) {
	n := &node{kind: kMeta, meta: k, name: f.Name, nullable: f.Nullable}
	ok := false
	switch k {
	case metaTopic:
		ok = isString(f.Type)
	case metaPartition:
		ok = f.Type.ID() == arrow.INT32
	case metaOffset:
		ok = f.Type.ID() == arrow.INT64
	case metaTimestamp:
		if t, isTS := f.Type.(*arrow.TimestampType); isTS && t.TimeZone != "" &&
			(t.Unit == arrow.Microsecond || t.Unit == arrow.Nanosecond) {
			ok, n.nanos = true, t.Unit == arrow.Nanosecond
		}
	case metaKey:
		var err error
		if n.keyPlan, ok, err = compileKey(keyFormat, f); err != nil {
			return nil, fmt.Errorf("metadata column %q (key-format %s): %w", f.Name, keyFormat, err)
		}
		if !ok {
			return nil, fmt.Errorf("metadata column %q: must be %s for key-format %s, got %s", f.Name,
				keyColumnType(keyFormat), cmp.Or(keyFormat, KeyBinary), evolution.TypeName(f.Type))
		}
	case metaHeaders:
		n.hdr, ok = headerStruct(f.Type)
	case metaOp:
		ok = isString(f.Type)
	case metaSourceTS:
		if t, isTS := f.Type.(*arrow.TimestampType); isTS && (t.Unit == arrow.Microsecond || t.Unit == arrow.Nanosecond) {
			ok, n.nanos = true, t.Unit == arrow.Nanosecond
		}
	case metaSourcePos:
		n.long = f.Type.ID() == arrow.INT64
		ok = isString(f.Type) || n.long
	}
	if !ok {
		return nil, fmt.Errorf("metadata column %q: must be %s, got %s", f.Name, evolution.TypeName(metaField(k).Type), f.Type)
	}
	return n, nil
}

func isString(t arrow.DataType) bool {
	return t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING
}

func isBinary(t arrow.DataType) bool {
	return t.ID() == arrow.BINARY || t.ID() == arrow.LARGE_BINARY
}

// headerStruct accepts list<struct<key: string, value: binary>> (either
// field order, large variants too).
func headerStruct(t arrow.DataType) (headerPositions, bool) {
	var elem arrow.DataType
	switch l := t.(type) {
	case *arrow.ListType:
		elem = l.Elem()
	case *arrow.LargeListType:
		elem = l.Elem()
	default:
		return headerPositions{}, false
	}
	st, ok := elem.(*arrow.StructType)
	if !ok || st.NumFields() != 2 {
		return headerPositions{}, false
	}
	k, okK := st.FieldIdx("key")
	v, okV := st.FieldIdx("value")
	if !okK || !okV || !isString(st.Field(k).Type) || !isBinary(st.Field(v).Type) {
		return headerPositions{}, false
	}
	return headerPositions{key: k, value: v, valueNullable: st.Field(v).Nullable}, true
}

// checkMeta finds what Append would reject in the record's metadata, so
// the check happens before anything is appended.
func checkMeta(n *node, m *Message) *fieldErr {
	switch n.meta {
	case metaKey:
		if m.Key == nil && !n.nullable {
			return newErr(KindMissingRequired, "record key is null").in(n.name)
		}
		if m.Key != nil && n.keyPlan != nil {
			if err := n.keyPlan.check(m.Key); err != nil {
				if err.kind == KindMalformedJSON {
					return err
				}
				return err.in(n.name)
			}
		}
	case metaTimestamp:
		if m.Timestamp.IsZero() && !n.nullable {
			return newErr(KindMissingRequired, "record has no timestamp").in(n.name)
		}
	case metaHeaders:
		for i, h := range m.Headers {
			// Kafka does not enforce UTF-8 header keys; Iceberg strings must be.
			if !utf8.ValidString(h.Key) {
				return newErr(KindInvalidValue, "header key is not valid UTF-8").in("key").in(indexSegment(i)).in(n.name)
			}
			if h.Value == nil && !n.hdr.valueNullable {
				return newErr(KindMissingRequired, "header value is null").in("value").in(indexSegment(i)).in(n.name)
			}
		}
	}
	return nil
}

// appendMeta appends the metadata column n of m to b.
func appendMeta(n *node, b array.Builder, m *Message) {
	switch n.meta {
	case metaTopic:
		appendString(b, m.Topic)
	case metaPartition:
		b.(*array.Int32Builder).Append(m.Partition)
	case metaOffset:
		b.(*array.Int64Builder).Append(m.Offset)
	case metaTimestamp:
		switch {
		case m.Timestamp.IsZero():
			b.AppendNull()
		case n.nanos:
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(m.Timestamp.UnixNano()))
		default:
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(m.Timestamp.UnixMicro()))
		}
	case metaKey:
		switch {
		case n.keyPlan != nil && n.keyPlan.external:
		case m.Key == nil:
			b.AppendNull()
		case n.keyPlan != nil:
			n.keyPlan.append(b, m.Key)
		default:
			appendBytes(b, m.Key)
		}
	case metaHeaders:
		lb := b.(listBuilder)
		lb.Append(true)
		sb := lb.ValueBuilder().(*array.StructBuilder)
		kb, vb := sb.FieldBuilder(n.hdr.key), sb.FieldBuilder(n.hdr.value)
		for _, h := range m.Headers {
			sb.Append(true)
			appendString(kb, h.Key)
			if h.Value == nil {
				vb.AppendNull()
			} else {
				appendBytes(vb, h.Value)
			}
		}
	}
}
