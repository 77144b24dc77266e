package avro

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	hamba "github.com/hamba/avro/v2"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/codec"
)

// arrowSchema converts an Iceberg schema exactly as production does.
func arrowSchema(t testing.TB, fields ...iceberg.NestedField) *arrow.Schema {
	t.Helper()
	s, err := table.SchemaToArrowSchema(iceberg.NewSchema(0, fields...), nil, true, false)
	require.NoError(t, err)
	return s
}

func opt(id int, name string, typ iceberg.Type) iceberg.NestedField {
	return iceberg.NestedField{ID: id, Name: name, Type: typ}
}

func req(id int, name string, typ iceberg.Type) iceberg.NestedField {
	return iceberg.NestedField{ID: id, Name: name, Type: typ, Required: true}
}

func avroConfig() codec.Config {
	cfg := codec.DefaultConfig()
	cfg.Format = "avro"
	return cfg
}

// encode encodes v with hamba/avro, the independent implementation.
func encode(t testing.TB, schema string, v any) []byte {
	t.Helper()
	s, err := hamba.Parse(schema)
	require.NoError(t, err)
	b, err := hamba.Marshal(s, v)
	require.NoError(t, err)
	return b
}

// harness decodes into one record builder backed by a checked allocator.
type harness struct {
	t      testing.TB
	d      *Decoder
	b      *array.RecordBuilder
	offset int64
}

func newHarness(t testing.TB, writer string, cfg codec.Config, fields ...iceberg.NestedField) *harness {
	t.Helper()
	return newHarnessArrow(t, writer, cfg, arrowSchema(t, fields...))
}

// newHarnessArrow is newHarness for a table's Arrow schema.
func newHarnessArrow(t testing.TB, writer string, cfg codec.Config, schema *arrow.Schema) *harness {
	t.Helper()
	d, err := New(writer, schema, cfg)
	require.NoError(t, err)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	b := array.NewRecordBuilder(mem, schema)
	t.Cleanup(func() {
		b.Release()
		mem.AssertSize(t, 0)
	})
	return &harness{t: t, d: d, b: b}
}

func testMessage(offset int64, value []byte) *codec.Message {
	return &codec.Message{
		Topic: "events", Partition: 3, Offset: offset,
		Timestamp: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC),
		Key:       []byte("k1"),
		Value:     value,
		Headers:   []codec.Header{{Key: "trace", Value: []byte("abc")}, {Key: "empty", Value: nil}},
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
	before := lens(h.b)
	err := h.d.Append(h.b, m)
	after := lens(h.b)
	for i := range before {
		want := before[i]
		if err == nil {
			want++
		}
		require.Equal(h.t, want, after[i], "column %d length after Append (err=%v)", i, err)
	}
	return err
}

func lens(b *array.RecordBuilder) []int {
	out := make([]int, len(b.Fields()))
	for i, f := range b.Fields() {
		out[i] = f.Len()
	}
	return out
}

// rows finishes the batch and returns each row as column name → plain Go
// value (see plain).
func (h *harness) rows() []map[string]any {
	h.t.Helper()
	r := h.b.NewRecordBatch()
	defer r.Release()
	out := make([]map[string]any, r.NumRows())
	for i := range out {
		row := map[string]any{}
		for j, f := range r.Schema().Fields() {
			row[f.Name] = plain(h.t, r.Column(j), i)
		}
		out[i] = row
	}
	return out
}

// plain returns row i of a as a plain Go value: decimals as strings at the
// column's scale, dates as "2006-01-02", times and timestamps as int64 in
// the column's unit, uuids in canonical text, structs and maps as
// map[string]any, lists as []any.
func plain(t testing.TB, a arrow.Array, i int) any {
	t.Helper()
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.Boolean:
		return a.Value(i)
	case *array.Int32:
		return a.Value(i)
	case *array.Int64:
		return a.Value(i)
	case *array.Float32:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Date32:
		return a.Value(i).ToTime().Format(time.DateOnly)
	case *array.Time64:
		return int64(a.Value(i))
	case *array.Timestamp:
		return int64(a.Value(i))
	case *array.String:
		return a.Value(i)
	case *array.Binary:
		return append([]byte{}, a.Value(i)...)
	case *array.FixedSizeBinary:
		return append([]byte{}, a.Value(i)...)
	case *extensions.UUIDArray:
		return a.Value(i).String()
	case *array.Struct:
		out := map[string]any{}
		for j, f := range a.DataType().(*arrow.StructType).Fields() {
			out[f.Name] = plain(t, a.Field(j), i)
		}
		return out
	case *array.Map:
		start, end := a.ValueOffsets(i)
		out := map[string]any{}
		for j := start; j < end; j++ {
			out[plain(t, a.Keys(), int(j)).(string)] = plain(t, a.Items(), int(j))
		}
		return out
	case *array.List:
		start, end := a.ValueOffsets(i)
		out := []any{}
		for j := start; j < end; j++ {
			out = append(out, plain(t, a.ListValues(), int(j)))
		}
		return out
	}
	t.Fatalf("plain: unhandled array %T", a)
	return nil
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
