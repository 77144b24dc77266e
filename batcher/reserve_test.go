package batcher

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// nestedSchema has a string column and a list of structs of strings.
var nestedSchema = arrow.NewSchema([]arrow.Field{
	{Name: "s", Type: arrow.BinaryTypes.String},
	{Name: "l", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "t", Type: arrow.BinaryTypes.String}))},
}, nil)

// A full batch (sealed on records or bytes) leaves its buffer's builder
// with room for the next one like it — rows, and string bytes down nested
// columns, at most maxReservedData each; a batch sealed on age leaves it
// empty, so an idle partition holds no memory.
func TestSealReservesAfterAFullBatch(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := NewBuffer("events", 3, 1, 0, nestedSchema, mem, Policy{MaxRecords: 100, MaxBytes: 1 << 30, MaxAge: time.Hour})
	defer b.Release()
	now := time.Unix(1_700_000_000, 0)
	long := strings.Repeat("x", 20_000)
	fill := func(n int, from int64) Reason {
		var r Reason
		for i := range n {
			rb := b.Builder()
			rb.Field(0).(*array.StringBuilder).Append(long)
			lb := rb.Field(1).(*array.ListBuilder)
			lb.Append(true)
			sb := lb.ValueBuilder().(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.StringBuilder).Append("abc")
			var err error
			r, err = b.Add(from+int64(i), now, 1, true, now)
			require.NoError(t, err)
		}
		return r
	}
	require.Equal(t, ReasonRecords, fill(100, 0))
	full := b.Seal(ReasonRecords)
	defer full.Rows.Release()
	s := b.Builder().Field(0).(*array.StringBuilder)
	require.Zero(t, s.Len())
	require.GreaterOrEqual(t, s.Cap(), 100)
	require.Equal(t, maxReservedData, s.DataCap(), "2 MB of strings before: the reservation is capped")
	inner := b.Builder().Field(1).(*array.ListBuilder).ValueBuilder().(*array.StructBuilder).FieldBuilder(0).(*array.StringBuilder)
	require.GreaterOrEqual(t, inner.Cap(), 100)
	require.GreaterOrEqual(t, inner.DataCap(), 300)

	fill(10, 100)
	aged := b.Seal(ReasonAge)
	defer aged.Rows.Release()
	require.Zero(t, b.Builder().Field(0).Cap(), "after an age seal the builder starts empty")
}
