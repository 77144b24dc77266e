package consumer

import (
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// countingAllocator counts the Arrow memory held by buffers and by sealed
// batches until the committer releases them: what the rows really cost, as
// opposed to the Kafka payload bytes the memory budget counts.
type countingAllocator struct {
	memory.Allocator
	bytes atomic.Int64
}

func newCountingAllocator() *countingAllocator {
	return &countingAllocator{Allocator: memory.NewGoAllocator()}
}

func (a *countingAllocator) Allocate(size int) []byte {
	a.bytes.Add(int64(size))
	return a.Allocator.Allocate(size)
}

func (a *countingAllocator) Reallocate(size int, b []byte) []byte {
	a.bytes.Add(int64(size - len(b)))
	return a.Allocator.Reallocate(size, b)
}

func (a *countingAllocator) Free(b []byte) {
	a.bytes.Add(-int64(len(b)))
	a.Allocator.Free(b)
}
