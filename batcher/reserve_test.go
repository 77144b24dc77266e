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

// Unreserve gives back what a full seal reserved, and only while no row
// waits in the builder: the memory budget must not stay over on room for
// batches that have not come.
func TestUnreserveFreesTheRoomOfAnEmptyBuffer(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := NewBuffer("events", 0, 1, 0, nestedSchema, mem, Policy{MaxRecords: 3, MaxBytes: 1 << 30, MaxAge: time.Hour})
	defer b.Release()
	now := time.Unix(1_700_000_000, 0)
	add := func(offset int64) Reason {
		rb := b.Builder()
		rb.Field(0).(*array.StringBuilder).Append(strings.Repeat("y", 1000))
		rb.Field(1).(*array.ListBuilder).AppendNull()
		r, err := b.Add(offset, now, 1, true, now)
		require.NoError(t, err)
		return r
	}
	for i := range int64(3) {
		add(i)
	}
	full := b.Seal(ReasonRecords)
	held := mem.CurrentAlloc()
	full.Rows.Release()
	require.Positive(t, mem.CurrentAlloc(), "the builder holds room for the next batch")
	require.Less(t, mem.CurrentAlloc(), held)

	add(3)
	require.False(t, b.Unreserve(), "a row waits: nothing is freed")
	require.Equal(t, 1, b.Builder().Field(0).Len())
	one := b.Seal(ReasonAge)
	require.Equal(t, int64(1), one.Rows.NumRows())
	one.Rows.Release()

	for i := range int64(3) {
		add(4 + i)
	}
	b.Seal(ReasonRecords).Rows.Release()
	require.Positive(t, mem.CurrentAlloc())
	require.True(t, b.Unreserve())
	require.Zero(t, mem.CurrentAlloc(), "an empty buffer holds nothing after Unreserve")
	add(7)
	require.Equal(t, 1, b.Builder().Field(0).Len(), "the builder takes rows again")
	b.Seal(ReasonAge).Rows.Release()
}
