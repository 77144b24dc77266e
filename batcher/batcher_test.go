package batcher

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

var testSchema = arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)

func newTestBuffer(t testing.TB, start int64, p Policy) (*Buffer, *memory.CheckedAllocator) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	b := NewBuffer("events", 3, 1, start, testSchema, mem, p)
	t.Cleanup(func() { b.Release() })
	return b, mem
}

// add appends a row (when row is true) and accounts for the record.
func add(t testing.TB, b *Buffer, offset int64, size int, row bool, now time.Time) Reason {
	t.Helper()
	if row {
		b.Builder().Field(0).(*array.Int64Builder).Append(offset)
	}
	r, err := b.Add(offset, now, size, row, now)
	require.NoError(t, err)
	return r
}

func TestPolicyLimits(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name    string
		policy  Policy
		sizes   []int
		advance time.Duration // clock step per record
		want    []Reason      // reason returned by each Add
	}{
		{"records", Policy{MaxRecords: 3, MaxBytes: 1 << 20, MaxAge: time.Hour}, []int{1, 1, 1},
			0, []Reason{ReasonNone, ReasonNone, ReasonRecords}},
		{"bytes", Policy{MaxRecords: 100, MaxBytes: 10, MaxAge: time.Hour}, []int{4, 4, 4},
			0, []Reason{ReasonNone, ReasonNone, ReasonBytes}},
		{"bytes exactly at limit", Policy{MaxRecords: 100, MaxBytes: 8, MaxAge: time.Hour}, []int{4, 4},
			0, []Reason{ReasonNone, ReasonBytes}},
		{"age", Policy{MaxRecords: 100, MaxBytes: 1 << 20, MaxAge: 2 * time.Second}, []int{1, 1, 1},
			time.Second, []Reason{ReasonNone, ReasonNone, ReasonAge}},
		{"records win over bytes", Policy{MaxRecords: 2, MaxBytes: 2, MaxAge: time.Hour}, []int{1, 1},
			0, []Reason{ReasonNone, ReasonRecords}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newTestBuffer(t, 10, tt.policy)
			now := t0
			for i, size := range tt.sizes {
				got := add(t, b, int64(10+i), size, true, now)
				require.Equal(t, tt.want[i], got, "record %d", i)
				now = now.Add(tt.advance)
			}
		})
	}
}

func TestSealAccountsForOffsetsAndSkips(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b, mem := newTestBuffer(t, 100, DefaultPolicy())
	require.Nil(t, b.Seal(ReasonAge), "empty buffer seals to nil")

	add(t, b, 100, 10, true, t0)
	add(t, b, 101, 10, false, t0.Add(time.Second))  // skipped bad record
	add(t, b, 105, 10, true, t0.Add(2*time.Second)) // offsets may jump (compaction, txn markers)
	require.Equal(t, int64(106), b.Next())

	batch := b.Seal(ReasonRecords)
	require.NotNil(t, batch)
	require.Equal(t, int64(100), batch.Start, "start is where the buffer began, not the first record")
	require.Equal(t, int64(106), batch.End)
	require.Equal(t, 3, batch.Records)
	require.Equal(t, 1, batch.Skipped)
	require.Equal(t, int64(30), batch.Bytes)
	require.Equal(t, int64(2), batch.Rows.NumRows())
	require.Equal(t, t0.Add(2*time.Second), batch.MaxTimestamp)
	require.Equal(t, t0, batch.Opened)
	require.Equal(t, uint64(1), batch.Generation)
	require.Equal(t, ReasonRecords, batch.Reason)
	batch.Release()

	// The next batch starts where the sealed one ended.
	add(t, b, 106, 1, true, t0)
	next := b.Seal(ReasonShutdown)
	require.Equal(t, int64(106), next.Start)
	require.Equal(t, int64(107), next.End)
	next.Release()
	b.Release()
	mem.AssertSize(t, 0)
}

func TestAllSkippedBatchHasNoRows(t *testing.T) {
	b, _ := newTestBuffer(t, 0, DefaultPolicy())
	add(t, b, 0, 5, false, time.Now())
	batch := b.Seal(ReasonAge)
	require.Nil(t, batch.Rows)
	require.Equal(t, 1, batch.Skipped)
	require.Equal(t, int64(1), batch.End)
}

func TestOutOfOrderRecordIsRefused(t *testing.T) {
	b, _ := newTestBuffer(t, 50, DefaultPolicy())
	_, err := b.Add(49, time.Now(), 1, false, time.Now())
	require.ErrorIs(t, err, ErrOutOfOrder)
	add(t, b, 50, 1, true, time.Now())
	_, err = b.Add(50, time.Now(), 1, false, time.Now())
	require.ErrorIs(t, err, ErrOutOfOrder)
	require.Contains(t, err.Error(), "events[3] offset 50")
}

func TestUntilNext(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b, _ := newTestBuffer(t, 0, Policy{MaxRecords: 10, MaxBytes: 100, MaxAge: 5 * time.Second})
	_, ok := b.UntilNext(t0)
	require.False(t, ok, "empty buffer needs no timer")
	add(t, b, 0, 1, true, t0)
	d, ok := b.UntilNext(t0.Add(2 * time.Second))
	require.True(t, ok)
	require.Equal(t, 3*time.Second, d)
	require.False(t, b.Due(t0.Add(4*time.Second)))
	require.True(t, b.Due(t0.Add(5*time.Second)))
	d, _ = b.UntilNext(t0.Add(time.Minute))
	require.Zero(t, d)
}

func TestPolicyValidate(t *testing.T) {
	require.NoError(t, DefaultPolicy().Validate())
	for name, p := range map[string]Policy{
		"max-records": {MaxRecords: 0, MaxBytes: 1, MaxAge: time.Second},
		"max-bytes":   {MaxRecords: 1, MaxBytes: -1, MaxAge: time.Second},
		"max-age":     {MaxRecords: 1, MaxBytes: 1, MaxAge: 0},
	} {
		err := p.Validate()
		require.Error(t, err, name)
		require.Contains(t, err.Error(), name)
	}
}

func TestDeadLettersTravelWithTheirBatch(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b, _ := newTestBuffer(t, 10, DefaultPolicy())
	add(t, b, 10, 5, true, t0)
	_, err := b.AddLetter(DeadLetter{Offset: 11, Timestamp: t0, Value: []byte("{bad"), ValueSize: 4, Reason: "malformed_json"}, 4, t0)
	require.NoError(t, err)
	add(t, b, 12, 5, true, t0)
	_, err = b.AddLetter(DeadLetter{Offset: 12, Reason: "x"}, 1, t0)
	require.ErrorIs(t, err, ErrOutOfOrder, "a letter obeys the same offset order as rows")

	batch := b.Seal(ReasonAge)
	require.Equal(t, 3, batch.Records)
	require.Equal(t, 1, batch.Skipped, "a dead letter is a consumed record without a row")
	require.Len(t, batch.Letters, 1)
	require.Equal(t, int64(11), batch.Letters[0].Offset)
	require.False(t, batch.Letters[0].Truncated())
	require.Equal(t, int64(14), batch.Bytes)

	add(t, b, 13, 1, true, t0)
	next := b.Seal(ReasonAge)
	require.Empty(t, next.Letters, "letters belong to the batch they were added to")
	batch.Release()
	require.Nil(t, batch.Letters)
	next.Release()
	require.True(t, (&DeadLetter{Value: []byte("ab"), ValueSize: 3}).Truncated())
}

func TestSkipToMovesTheEndWithoutARecord(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b, _ := newTestBuffer(t, 10, DefaultPolicy())
	require.Nil(t, b.Seal(ReasonEnd), "empty and not moved: nothing to seal")

	add(t, b, 10, 5, true, t0)
	b.SkipTo(12) // offset 11 was a transaction marker
	b.SkipTo(11) // backwards: no effect
	require.Equal(t, int64(12), b.Next())
	_, err := b.Add(11, t0, 1, false, t0)
	require.ErrorIs(t, err, ErrOutOfOrder, "a skipped offset cannot be added afterwards")
	got := b.Seal(ReasonEnd)
	require.Equal(t, int64(10), got.Start)
	require.Equal(t, int64(12), got.End)
	require.Equal(t, 1, got.Records)
	got.Release()

	// Only skipped offsets: a batch without records that still carries its range.
	b.SkipTo(15)
	got = b.Seal(ReasonEnd)
	require.NotNil(t, got)
	require.Equal(t, [2]int64{12, 15}, [2]int64{got.Start, got.End})
	require.Zero(t, got.Records)
	require.Nil(t, got.Rows)
	require.Nil(t, b.Seal(ReasonEnd))
}
