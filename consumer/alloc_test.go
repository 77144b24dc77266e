package consumer

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/stretchr/testify/require"
)

func TestCountingAllocatorFollowsArrowMemory(t *testing.T) {
	a := newCountingAllocator()
	b := a.Allocate(100)
	require.Equal(t, int64(100), a.bytes.Load())
	b = a.Reallocate(300, b)
	require.Equal(t, int64(300), a.bytes.Load())
	a.Free(b)
	require.Zero(t, a.bytes.Load())

	rb := array.NewRecordBuilder(a, idSchema)
	for i := 0; i < 1000; i++ {
		rb.Field(0).(*array.StringBuilder).Append("some row value")
	}
	rec := rb.NewRecordBatch()
	rb.Release()
	require.Greater(t, a.bytes.Load(), int64(14_000), "a sealed batch's rows are counted")
	rec.Release()
	require.Zero(t, a.bytes.Load(), "and uncounted when the committer releases them")
}
