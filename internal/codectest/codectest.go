// Package codectest holds what the decoders' tests share: tables built as
// production builds them, builders on a checked allocator, the one-row-or-
// nothing check, rows as plain Go values, and the decode benchmark's loop.
// Only tests import it; it does not import codec, so codec's own tests can.
package codectest

import (
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/batcher"
)

// ArrowSchema converts an Iceberg schema exactly as production does.
func ArrowSchema(t testing.TB, fields ...iceberg.NestedField) *arrow.Schema {
	t.Helper()
	s, err := table.SchemaToArrowSchema(iceberg.NewSchema(0, fields...), nil, true, false)
	require.NoError(t, err)
	return s
}

// Opt is an optional field.
func Opt(id int, name string, typ iceberg.Type) iceberg.NestedField {
	return iceberg.NestedField{ID: id, Name: name, Type: typ}
}

// Req is a required field.
func Req(id int, name string, typ iceberg.Type) iceberg.NestedField {
	return iceberg.NestedField{ID: id, Name: name, Type: typ, Required: true}
}

// Builder is a record builder of schema on a checked allocator: the test
// fails if it leaks Arrow memory.
func Builder(t testing.TB, schema *arrow.Schema) *array.RecordBuilder {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	b := array.NewRecordBuilder(mem, schema)
	t.Cleanup(func() {
		b.Release()
		mem.AssertSize(t, 0)
	})
	return b
}

// Lens is the length of each column builder of b.
func Lens(b *array.RecordBuilder) []int {
	out := make([]int, len(b.Fields()))
	for i, f := range b.Fields() {
		out[i] = f.Len()
	}
	return out
}

// OneRowOrNone runs appendOne and checks that every column of b grew by
// exactly one row when it returned nil and not at all otherwise.
func OneRowOrNone(t testing.TB, b *array.RecordBuilder, appendOne func() error) error {
	t.Helper()
	before := Lens(b)
	err := appendOne()
	after := Lens(b)
	for i := range before {
		want := before[i]
		if err == nil {
			want++
		}
		require.Equal(t, want, after[i], "column %d length after Append (err=%v)", i, err)
	}
	return err
}

// Rows finishes b's batch and returns each row as column name → Plain
// value.
func Rows(t testing.TB, b *array.RecordBuilder) []map[string]any {
	t.Helper()
	r := b.NewRecordBatch()
	defer r.Release()
	out := make([]map[string]any, r.NumRows())
	for i := range out {
		row := map[string]any{}
		for j, f := range r.Schema().Fields() {
			row[f.Name] = Plain(t, r.Column(j), i)
		}
		out[i] = row
	}
	return out
}

// Plain returns row i of a as a plain Go value: decimals as strings at the
// column's scale, dates as "2006-01-02", times and timestamps as int64 in
// the column's unit, uuids in canonical text, structs as map[string]any,
// maps as map[string]any keyed by fmt.Sprint of the key, lists as []any.
func Plain(t testing.TB, a arrow.Array, i int) any {
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
	case *array.LargeString:
		return a.Value(i)
	case *array.Binary:
		return append([]byte{}, a.Value(i)...)
	case *array.LargeBinary:
		return append([]byte{}, a.Value(i)...)
	case *array.FixedSizeBinary:
		return append([]byte{}, a.Value(i)...)
	case *extensions.UUIDArray:
		return a.Value(i).String()
	case *array.Struct:
		out := map[string]any{}
		for j, f := range a.DataType().(*arrow.StructType).Fields() {
			out[f.Name] = Plain(t, a.Field(j), i)
		}
		return out
	case *array.Map:
		start, end := a.ValueOffsets(i)
		out := map[string]any{}
		for j := start; j < end; j++ {
			k := fmt.Sprint(Plain(t, a.Keys(), int(j)))
			_, dup := out[k]
			require.False(t, dup, "map key %s twice", k)
			out[k] = Plain(t, a.Items(), int(j))
		}
		return out
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		out := []any{}
		for j := start; j < end; j++ {
			out = append(out, Plain(t, a.ListValues(), int(j)))
		}
		return out
	}
	t.Fatalf("plain: unhandled array %T", a)
	return nil
}

// BenchAppend is the decode benchmark's loop: appendOne(i) appends record
// i to rb, a batch is finished every 10,000 rows as the batcher finishes a
// full one (reserving room for the next: batcher.ReserveLike), and
// records/s is reported beside ns/op. size is one record's bytes.
func BenchAppend(b *testing.B, rb *array.RecordBuilder, size int, appendOne func(i int) error) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := appendOne(i); err != nil {
			b.Fatal(err)
		}
		if i%10_000 == 9_999 {
			rec := rb.NewRecordBatch()
			batcher.ReserveLike(rb, rec, 1<<20) // as a full batch does (batcher.Seal)
			rec.Release()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
