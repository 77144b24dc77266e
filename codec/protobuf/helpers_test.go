package protobuf

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/internal/codectest"
)

func protoConfig() codec.Config {
	cfg := codec.DefaultConfig()
	cfg.Format = "protobuf"
	return cfg
}

func metadataConfig() codec.Config {
	cfg := protoConfig()
	cfg.Metadata.Topic, cfg.Metadata.Partition, cfg.Metadata.Offset = "kafka_topic", "kafka_partition", "kafka_offset"
	cfg.Metadata.Timestamp, cfg.Metadata.Key = "kafka_timestamp", "kafka_key"
	return cfg
}

// messageOf parses a .proto file and returns its message of the given name.
func messageOf(t testing.TB, text, name string, refs map[string]string) protoreflect.MessageDescriptor {
	t.Helper()
	s, err := Parse(text, refs)
	require.NoError(t, err)
	md, err := s.MessageByName(name)
	require.NoError(t, err)
	return md
}

// fields sets the fields of a message by name, for build.
type fields map[string]any

// build makes a dynamic message of md from v: scalars as Go values (enums
// by name or number), messages as fields, repeated fields as []any, maps
// as map[K]any.
func build(t testing.TB, md protoreflect.MessageDescriptor, v fields) *dynamicpb.Message {
	t.Helper()
	m := dynamicpb.NewMessage(md)
	for name, x := range v {
		fd := md.Fields().ByName(protoreflect.Name(name))
		require.NotNil(t, fd, "no field %s in %s", name, md.FullName())
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			rv := reflect.ValueOf(x)
			for _, k := range rv.MapKeys() {
				mk := scalar(t, fd.MapKey(), k.Interface()).MapKey()
				mp.Set(mk, one(t, fd.MapValue(), rv.MapIndex(k).Interface()))
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for _, e := range x.([]any) {
				l.Append(one(t, fd, e))
			}
		default:
			m.Set(fd, one(t, fd, x))
		}
	}
	return m
}

// one converts one value of fd.
func one(t testing.TB, fd protoreflect.FieldDescriptor, x any) protoreflect.Value {
	t.Helper()
	if fd.Kind() == protoreflect.MessageKind {
		return protoreflect.ValueOfMessage(build(t, fd.Message(), x.(fields)))
	}
	return scalar(t, fd, x)
}

func scalar(t testing.TB, fd protoreflect.FieldDescriptor, x any) protoreflect.Value {
	t.Helper()
	rv := reflect.ValueOf(x)
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(x.(bool))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(rv.Int()))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(rv.Int())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(rv.Uint()))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(rv.Uint())
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(rv.Float()))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(rv.Float())
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(x.(string))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(x.([]byte))
	case protoreflect.EnumKind:
		if s, ok := x.(string); ok {
			ev := fd.Enum().Values().ByName(protoreflect.Name(s))
			require.NotNil(t, ev, "no enum value %s", s)
			return protoreflect.ValueOfEnum(ev.Number())
		}
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(rv.Int()))
	}
	t.Fatalf("scalar: kind %s", fd.Kind())
	return protoreflect.Value{}
}

// encode marshals v as a message of md with the protobuf module, the
// independent implementation.
func encode(t testing.TB, md protoreflect.MessageDescriptor, v fields) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true, AllowPartial: true}.Marshal(build(t, md, v))
	require.NoError(t, err)
	return b
}

// ts is a google.protobuf.Timestamp.
func ts(tm time.Time) fields {
	return fields{"seconds": tm.Unix(), "nanos": tm.Nanosecond()}
}

// harness decodes into one record builder backed by a checked allocator.
type harness struct {
	t      testing.TB
	d      *Decoder
	b      *array.RecordBuilder
	offset int64
}

func newHarness(t testing.TB, md protoreflect.MessageDescriptor, cfg codec.Config, fields ...iceberg.NestedField) *harness {
	t.Helper()
	return newHarnessArrow(t, md, cfg, arrowSchema(t, fields...))
}

func newHarnessArrow(t testing.TB, md protoreflect.MessageDescriptor, cfg codec.Config, schema *arrow.Schema) *harness {
	t.Helper()
	d, err := New(md, schema, cfg)
	require.NoError(t, err)
	return &harness{t: t, d: d, b: codectest.Builder(t, schema)}
}

func testMessage(offset int64, value []byte) *codec.Message {
	return &codec.Message{
		Topic: "events", Partition: 3, Offset: offset,
		Timestamp: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC),
		Key:       []byte("k1"),
		Value:     value,
		Headers:   []codec.Header{{Key: "trace", Value: []byte("abc")}},
	}
}

// append decodes value as the next record and checks that the builder grew
// by exactly one row on success and not at all on failure.
func (h *harness) append(value []byte) error {
	h.t.Helper()
	h.offset++
	return h.appendMessage(testMessage(h.offset, value))
}

func (h *harness) appendMessage(m *codec.Message) error {
	h.t.Helper()
	return codectest.OneRowOrNone(h.t, h.b, func() error { return h.d.Append(h.b, m) })
}

// rows finishes the batch and returns each row as column name → plain Go
// value (codectest.Plain).
func (h *harness) rows() []map[string]any {
	h.t.Helper()
	return codectest.Rows(h.t, h.b)
}

// The shared helpers, under the names the tests use.
var (
	arrowSchema = codectest.ArrowSchema
	opt         = codectest.Opt
	req         = codectest.Req
	plain       = codectest.Plain
	lens        = codectest.Lens
)

// mapKeys returns the keys of map column col in row i in their order.
func mapKeys(t testing.TB, r arrow.RecordBatch, col string, i int) []string {
	t.Helper()
	idx := r.Schema().FieldIndices(col)
	require.Len(t, idx, 1)
	a := r.Column(idx[0]).(*array.Map)
	start, end := a.ValueOffsets(i)
	var out []string
	for j := start; j < end; j++ {
		out = append(out, fmt.Sprint(plain(t, a.Keys(), int(j))))
	}
	return out
}

// requireDecodeError checks err is a *codec.DecodeError of kind on field.
func requireDecodeError(t testing.TB, err error, kind codec.Kind, field string) *codec.DecodeError {
	t.Helper()
	var de *codec.DecodeError
	require.ErrorAs(t, err, &de)
	require.Equal(t, kind, de.Kind, "error: %v", err)
	require.Equal(t, field, de.Field, "error: %v", err)
	return de
}
