package batcher

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// ReserveLike makes room in rb for a batch like rec: as many rows and, for
// every string and binary column (nested ones too), as many bytes, at most
// maxData per column. A builder that a finished batch left empty otherwise
// grows again from nothing, doubling and copying each buffer a dozen times
// per batch: 13–17 % of decoding's time (docs/BENCHMARKS.md).
func ReserveLike(rb *array.RecordBuilder, rec arrow.RecordBatch, maxData int) {
	for i, f := range rb.Fields() {
		reserveLike(f, rec.Column(i), maxData)
	}
}

func reserveLike(b array.Builder, like arrow.Array, maxData int) {
	b.Reserve(like.Len())
	switch b := b.(type) {
	case *array.StringBuilder:
		if s, ok := like.(*array.String); ok {
			b.ReserveData(min(len(s.ValueBytes()), maxData))
		}
	case *array.BinaryBuilder:
		if s, ok := like.(*array.Binary); ok {
			b.ReserveData(min(len(s.ValueBytes()), maxData))
		}
	case *array.StructBuilder:
		if s, ok := like.(*array.Struct); ok {
			for i := range b.NumField() {
				reserveLike(b.FieldBuilder(i), s.Field(i), maxData)
			}
		}
	case *array.ListBuilder:
		if l, ok := like.(*array.List); ok {
			reserveLike(b.ValueBuilder(), l.ListValues(), maxData)
		}
	case *array.MapBuilder:
		if m, ok := like.(*array.Map); ok {
			reserveLike(b.KeyBuilder(), m.Keys(), maxData)
			reserveLike(b.ItemBuilder(), m.Items(), maxData)
		}
	}
}
