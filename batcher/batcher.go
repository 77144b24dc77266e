// Package batcher holds the per-partition micro-batch buffers and their flush
// policy. It is pure: no goroutines, no I/O and no clocks of its own. The
// caller passes "now" in, owns the timers (see [Buffer.UntilNext]) and decides
// what to do with a sealed [Batch].
//
// A buffer covers a contiguous range of Kafka offsets [Start, End). Start is
// the position the partition was consuming from when the buffer opened (not
// the first record's offset): Kafka offsets may skip (compaction, transaction
// markers), and the commit protocol compares Start with the next offset stored
// in the table to detect fenced (zombie) work. Records that produced no row
// (skipped bad input) still advance End, so every consumed offset is accounted
// for.
package batcher

import (
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Reason says why a buffer was sealed. Its string form is a metric label.
type Reason string

const (
	ReasonNone     Reason = ""
	ReasonRecords  Reason = "records"   // Policy.MaxRecords reached
	ReasonBytes    Reason = "bytes"     // Policy.MaxBytes reached
	ReasonAge      Reason = "age"       // Policy.MaxAge elapsed since the first record
	ReasonMemory   Reason = "memory"    // the global memory budget asked for room
	ReasonShutdown Reason = "shutdown"  // the process is stopping
	ReasonSchema   Reason = "schema"    // the table's schema changed (schema evolution)
	ReasonEnd      Reason = "end"       // a replay reached the end of its range
	ReasonCommit   Reason = "commit"    // the table's commit is starting: it takes what was read
	ReasonCaughtUp Reason = "caught_up" // a large buffer's partition read its last record: the end of a backlog
)

// Reasons lists every flush reason, for initialising metric labels.
var Reasons = []Reason{ReasonRecords, ReasonBytes, ReasonAge, ReasonMemory, ReasonShutdown, ReasonSchema, ReasonEnd, ReasonCommit, ReasonCaughtUp}

// Policy says when a partition's buffer is full. Zero fields are invalid;
// use [DefaultPolicy] as the base.
type Policy struct {
	// MaxRecords seals a buffer once it holds this many consumed records.
	MaxRecords int `koanf:"max-records"`
	// MaxBytes seals a buffer once the consumed record values reach this
	// many bytes. It is measured on the Kafka payload, not on Arrow memory:
	// the two track each other closely for JSON and the payload size is
	// known before decoding.
	MaxBytes int64 `koanf:"max-bytes"`
	// MaxAge seals a buffer this long after its first record arrived.
	MaxAge time.Duration `koanf:"max-age"`
}

// DefaultPolicy is the policy used when the configuration says nothing.
func DefaultPolicy() Policy {
	return Policy{MaxRecords: 500_000, MaxBytes: 64 << 20, MaxAge: 30 * time.Second}
}

// Validate reports the first field that is out of range.
func (p Policy) Validate() error {
	switch {
	case p.MaxRecords <= 0:
		return fmt.Errorf("max-records: must be > 0, got %d", p.MaxRecords)
	case p.MaxBytes <= 0:
		return fmt.Errorf("max-bytes: must be > 0, got %d", p.MaxBytes)
	case p.MaxAge <= 0:
		return fmt.Errorf("max-age: must be > 0, got %s", p.MaxAge)
	}
	return nil
}

// Batch is a sealed buffer: the rows of one partition for the offsets
// [Start, End). Rows may hold fewer rows than Records when some records were
// skipped; it is nil when no record produced a row.
type Batch struct {
	Topic     string
	Partition int32
	// Generation is copied from the buffer; the committer uses it to drop
	// batches that were sealed before the partition was re-seeked.
	Generation uint64
	Start      int64 // the first offset this batch accounts for
	End        int64 // one past the last consumed offset: the next offset to consume
	Records    int   // consumed records, rows and skipped ones
	Skipped    int   // consumed records that produced no row
	Bytes      int64 // consumed payload bytes
	// MaxTimestamp is the newest record timestamp in the batch (watermark input).
	MaxTimestamp time.Time
	// Stamps is the distribution of the batch's record timestamps (rows,
	// skipped records and dead letters): freshness input when it lands.
	Stamps Stamps
	// Opened is when the first record was added; used for lag in seconds.
	Opened time.Time
	Reason Reason
	Rows   arrow.RecordBatch
	// RowCount is the number of rows, still known once a sink released
	// Rows early (written ahead of the batch's commit). The sink sets it.
	RowCount int64
	// Letters are the records of the batch that went to the dead-letter
	// table instead of becoming rows (a subset of Skipped), in offset order.
	Letters []DeadLetter
	// FromTable says Start descends from an offset read from the table (the
	// partition was positioned by the table, or re-seeked to it). It is false
	// when Start came from kafka.start-from for a partition the table had no
	// offset for; the committer then re-seeks rather than report a gap if
	// another owner got there first. The consumer sets it.
	FromTable bool
	// Floor, for a batch of a topic routed by record content to several
	// tables (tables[].route-by), is an offset below which every record of
	// the partition is in its table once this batch is (see offsets.Topic's
	// Floor); the committer stores it beside End. 0: none. The consumer sets
	// it.
	Floor int64
	// Done, set by whoever sealed the batch (the consumer), is called once
	// when the batch leaves its sink: committed, fenced or dropped. The sink
	// calls it through [Batch.Finish]. It may be nil.
	Done func(b *Batch, o Outcome)
	// Written, set by whoever sealed the batch, is called once when the
	// sink has written the batch's rows ahead of its commit and released
	// them: its memory is free, its offsets not committed yet. It may be
	// nil. The sink calls it through [Batch.ReleaseWritten].
	Written func(b *Batch)
	written bool
}

// Outcome is what became of a batch a sink was handed.
type Outcome struct {
	Kind OutcomeKind
	// TableNext is, for Fenced, the table's next offset for the partition:
	// another owner committed past the batch's start, so its owner re-reads
	// the partition from there (if it still owns it at the batch's
	// generation).
	TableNext int64
}

// OutcomeKind says how a batch left its sink.
type OutcomeKind uint8

const (
	// Committed: the batch's offsets (rows and dead letters) are in the table.
	Committed OutcomeKind = iota + 1
	// Fenced: another owner already committed the batch's range.
	Fenced
	// Dropped: the partition was revoked or re-seeked before the batch was
	// committed; the next owner reads it again from the table.
	Dropped
)

// Finish frees the batch's memory and reports its outcome to Done, once.
func (b *Batch) Finish(o Outcome) {
	b.Release()
	if done := b.Done; done != nil {
		b.Done = nil
		done(b, o)
	}
}

// ReleaseWritten frees the rows of a batch whose rows the sink wrote ahead
// of its commit, and tells Written. The letters stay for the commit.
func (b *Batch) ReleaseWritten() {
	if b.Rows != nil {
		b.Rows.Release()
		b.Rows = nil
	}
	b.written = true
	if w := b.Written; w != nil {
		b.Written = nil
		w(b)
	}
}

// WrittenAhead reports whether ReleaseWritten was called: the batch's
// memory was handed back before its outcome.
func (b *Batch) WrittenAhead() bool { return b.written }

// Release frees the Arrow memory of the batch's rows and its dead letters.
func (b *Batch) Release() {
	if b.Rows != nil {
		b.Rows.Release()
		b.Rows = nil
	}
	b.Letters = nil
}

// Letters are the dead letters of one batch with its source partition and
// the end of its range: what a dead-letter destination writes, and how far
// its progress for that partition then goes.
type Letters struct {
	Topic     string
	Partition int32
	End       int64
	Letters   []DeadLetter
}

// DeadLetter is a consumed record that could not become a row, kept with
// its coordinates and reason for the dead-letter table.
type DeadLetter struct {
	Offset    int64
	Timestamp time.Time
	Key       []byte
	// Value holds the record value, cut to the dead-letter size limit when
	// ValueSize is larger.
	Value     []byte
	ValueSize int
	Headers   []Header
	// Reason is a stable machine-readable kind (malformed_json,
	// record_too_large, …); Error is the full message.
	Reason string
	Error  string
}

// Truncated reports whether Value holds less than the original value.
func (l *DeadLetter) Truncated() bool { return len(l.Value) < l.ValueSize }

// Header is one Kafka record header; a nil Value is a null header value.
type Header struct {
	Key   string
	Value []byte
}

// ErrOutOfOrder is returned when a record does not come after the buffer's
// last offset. It signals a consumer bug or a partition re-seek the caller
// did not handle; accepting the record would break the offset accounting.
var ErrOutOfOrder = errors.New("record offset is not after the buffer's last offset")

// Buffer collects the rows of one partition until its [Policy] says it is
// full. It is not safe for concurrent use.
type Buffer struct {
	topic      string
	partition  int32
	generation uint64
	policy     Policy
	schema     *arrow.Schema
	mem        memory.Allocator

	builder *array.RecordBuilder
	start   int64
	end     int64
	records int
	skipped int
	rows    int
	bytes   int64
	letters []DeadLetter
	maxTS   time.Time
	stamps  Stamps
	opened  time.Time
}

// NewBuffer returns an empty buffer whose first batch starts at offset start.
func NewBuffer(topic string, partition int32, generation uint64, start int64, schema *arrow.Schema, mem memory.Allocator, p Policy) *Buffer {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &Buffer{
		topic: topic, partition: partition, generation: generation,
		policy: p, schema: schema, mem: mem,
		start: start, end: start,
	}
}

// Builder returns the Arrow builder that the next row must be appended to.
// The caller appends exactly one row per [Buffer.Add] with row set to true.
func (b *Buffer) Builder() *array.RecordBuilder {
	if b.builder == nil {
		b.builder = array.NewRecordBuilder(b.mem, b.schema)
	}
	return b.builder
}

// Add accounts for one consumed record at offset, of size payload bytes,
// with timestamp ts. row says whether the caller appended a row for it to
// [Buffer.Builder] (false for a skipped record). It returns the reason the
// buffer is now full, or ReasonNone.
func (b *Buffer) Add(offset int64, ts time.Time, size int, row bool, now time.Time) (Reason, error) {
	if offset < b.end {
		return ReasonNone, fmt.Errorf("%w: %s[%d] offset %d, expected >= %d", ErrOutOfOrder, b.topic, b.partition, offset, b.end)
	}
	if b.records == 0 {
		b.opened = now
	}
	b.end = offset + 1
	b.records++
	b.bytes += int64(size)
	if row {
		b.rows++
	} else {
		b.skipped++
	}
	if ts.After(b.maxTS) {
		b.maxTS = ts
	}
	b.stamps.Add(ts)
	return b.full(now), nil
}

func (b *Buffer) full(now time.Time) Reason {
	switch {
	case b.records >= b.policy.MaxRecords:
		return ReasonRecords
	case b.bytes >= b.policy.MaxBytes:
		return ReasonBytes
	case b.records > 0 && now.Sub(b.opened) >= b.policy.MaxAge:
		return ReasonAge
	}
	return ReasonNone
}

// Due reports whether the buffer's age limit has passed at now.
func (b *Buffer) Due(now time.Time) bool { return b.full(now) == ReasonAge }

// UntilNext returns how long until the age limit seals the buffer, and false
// when the buffer is empty (no timer needed).
func (b *Buffer) UntilNext(now time.Time) (time.Duration, bool) {
	if b.records == 0 {
		return 0, false
	}
	d := b.policy.MaxAge - now.Sub(b.opened)
	if d < 0 {
		d = 0
	}
	return d, true
}

// AddLetter accounts for one consumed record that goes to the dead-letter
// table instead of becoming a row: it is [Buffer.Add] with row false, and
// the letter travels with the batch.
func (b *Buffer) AddLetter(l DeadLetter, size int, now time.Time) (Reason, error) {
	reason, err := b.Add(l.Offset, l.Timestamp, size, false, now)
	if err != nil {
		return reason, err
	}
	b.letters = append(b.letters, l)
	return reason, nil
}

// SkipTo accounts for offsets up to (not including) offset that hold no
// record for the caller: a transaction marker, or the end of a replay range
// whose last offsets were compacted away or are markers. It moves End
// without adding a record; an offset at or below End changes nothing.
func (b *Buffer) SkipTo(offset int64) {
	if offset > b.end {
		b.end = offset
	}
}

// Len is the number of consumed records in the buffer.
func (b *Buffer) Len() int { return b.records }

// Bytes is the consumed payload size held by the buffer.
func (b *Buffer) Bytes() int64 { return b.bytes }

// Policy is the buffer's flush policy.
func (b *Buffer) Policy() Policy { return b.policy }

// Start is the first offset the buffer's next batch accounts for.
func (b *Buffer) Start() int64 { return b.start }

// Next is the offset the buffer expects next (its End).
func (b *Buffer) Next() int64 { return b.end }

// Seal returns the buffered records as a Batch and resets the buffer to start
// where the batch ended. It returns nil when the buffer is empty and
// [Buffer.SkipTo] did not move its end: a batch of skipped offsets only has
// no record but still carries its range.
func (b *Buffer) Seal(reason Reason) *Batch {
	if b.records == 0 && b.end == b.start {
		return nil
	}
	batch := &Batch{
		Topic: b.topic, Partition: b.partition, Generation: b.generation,
		Start: b.start, End: b.end,
		Records: b.records, Skipped: b.skipped, Bytes: b.bytes,
		MaxTimestamp: b.maxTS, Stamps: b.stamps.clone(), Opened: b.opened, Reason: reason,
		Letters: b.letters,
	}
	if b.builder != nil && b.rows > 0 {
		batch.Rows = b.builder.NewRecordBatch()
		if reason == ReasonRecords || reason == ReasonBytes {
			// Full: the partition is behind, and the next batch will be
			// like this one. (After an age, memory or other seal the
			// builder starts empty: an idle partition holds nothing.)
			ReserveLike(b.builder, batch.Rows, maxReservedData)
		}
	}
	b.start = b.end
	b.records, b.skipped, b.rows, b.bytes = 0, 0, 0, 0
	b.letters = nil
	b.stamps.reset()
	b.maxTS, b.opened = time.Time{}, time.Time{}
	return batch
}

// maxReservedData bounds the bytes of each string or binary column a
// buffer reserves for its next batch after a full one.
const maxReservedData = 1 << 20

// Unreserve frees the room a full batch reserved in the builder for the
// next one (see [Buffer.Seal]) while the buffer holds no row yet; it
// reports false, freeing nothing, while a row waits. The memory budget calls it before it pauses:
// room reserved for batches that have not come must not hold fetching back.
func (b *Buffer) Unreserve() bool {
	if b.builder == nil || b.rows > 0 {
		return false
	}
	// An empty record hands the builders' buffers over and resets them.
	b.builder.NewRecordBatch().Release()
	return true
}

// Release frees the buffer's builder; the buffer must not be used afterwards.
func (b *Buffer) Release() {
	if b.builder != nil {
		b.builder.Release()
		b.builder = nil
	}
}
