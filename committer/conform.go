package committer

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/floe-dev/floe/catalog"
)

// conformRecord returns rec as a record of schema to, a later schema of the
// same table: columns to has and rec lacks are null, int columns widened to
// long and float to double are cast, struct fields are matched by name.
func conformRecord(rec arrow.RecordBatch, to *arrow.Schema) (arrow.RecordBatch, error) {
	for _, f := range rec.Schema().Fields() {
		if !to.HasField(f.Name) {
			// Rows decoded with a newer schema than the table this attempt
			// read: never drop a column; the next attempt reads it anew.
			return nil, catalog.WriteFailed(fmt.Errorf("write data files: rows have column %q that the table read for this commit lacks (its schema changed meanwhile)", f.Name))
		}
	}
	n := rec.NumRows()
	cols := make([]arrow.Array, 0, to.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, f := range to.Fields() {
		var col arrow.Array
		if idx := rec.Schema().FieldIndices(f.Name); len(idx) > 0 {
			var err error
			if col, err = conformArray(rec.Column(idx[0]), f.Type); err != nil {
				return nil, fmt.Errorf("column %q: %w", f.Name, err)
			}
		} else {
			col = nulls(f.Type, int(n))
		}
		cols = append(cols, col)
	}
	return array.NewRecordBatch(to, cols, n), nil
}

func conformArray(arr arrow.Array, to arrow.DataType) (arrow.Array, error) {
	if arrow.TypeEqual(arr.DataType(), to, arrow.CheckMetadata()) {
		arr.Retain()
		return arr, nil
	}
	mem := memory.DefaultAllocator
	switch src := arr.(type) {
	case *array.Int32:
		if to.ID() == arrow.INT64 {
			return widen[int32, int64](src, array.NewInt64Builder(mem)), nil
		}
	case *array.Float32:
		if to.ID() == arrow.FLOAT64 {
			return widen[float32, float64](src, array.NewFloat64Builder(mem)), nil
		}
	case *array.Struct:
		st, ok := to.(*arrow.StructType)
		if !ok || src.Data().Offset() != 0 {
			break
		}
		srcType := src.DataType().(*arrow.StructType)
		for _, f := range srcType.Fields() {
			if _, ok := st.FieldIdx(f.Name); !ok {
				return nil, fmt.Errorf("field %q is not in the table's schema read for this commit (it changed meanwhile)", f.Name)
			}
		}
		children := make([]arrow.ArrayData, 0, st.NumFields())
		defer func() {
			for _, c := range children {
				c.Release()
			}
		}()
		for _, f := range st.Fields() {
			var child arrow.Array
			if i, ok := srcType.FieldIdx(f.Name); ok {
				var err error
				if child, err = conformArray(src.Field(i), f.Type); err != nil {
					return nil, fmt.Errorf("field %q: %w", f.Name, err)
				}
			} else {
				child = nulls(f.Type, src.Len())
			}
			children = append(children, child.Data())
			child.Data().Retain()
			child.Release()
		}
		data := array.NewData(to, src.Len(), []*memory.Buffer{src.Data().Buffers()[0]}, children, src.NullN(), 0)
		defer data.Release()
		return array.MakeFromData(data), nil
	default:
		if arrow.TypeEqual(arr.DataType(), to) {
			arr.Retain() // equal but for field metadata: the target's IDs win below
			data := array.NewData(to, arr.Len(), arr.Data().Buffers(), arr.Data().Children(), arr.NullN(), arr.Data().Offset())
			arr.Release()
			defer data.Release()
			return array.MakeFromData(data), nil
		}
	}
	return nil, fmt.Errorf("cannot write %s as %s", arr.DataType(), to)
}

// widen copies src into b, converting every value to the wider type.
func widen[S int32 | float32, D int64 | float64](src interface {
	Len() int
	IsNull(int) bool
	Value(int) S
}, b interface {
	array.Builder
	Append(D)
}) arrow.Array {
	defer b.Release()
	b.Reserve(src.Len())
	for i := 0; i < src.Len(); i++ {
		if src.IsNull(i) {
			b.AppendNull()
		} else {
			b.Append(D(src.Value(i)))
		}
	}
	return b.NewArray()
}

// nulls is an array of n nulls of type dt, with buffers of its own.
func nulls(dt arrow.DataType, n int) arrow.Array {
	b := array.NewBuilder(memory.DefaultAllocator, dt)
	defer b.Release()
	b.AppendNulls(n)
	return b.NewArray()
}
