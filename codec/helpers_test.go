package codec

import (
	"bytes"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/internal/codectest"
)

// The shared helpers, under the names the tests use.
var (
	arrowSchema = codectest.ArrowSchema
	opt         = codectest.Opt
	req         = codectest.Req
	cell        = codectest.Plain
)

// harness decodes into one record builder backed by a checked allocator.
type harness struct {
	t      testing.TB
	d      *Decoder
	b      *array.RecordBuilder
	offset int64
}

func newHarness(t testing.TB, cfg Config, fields ...iceberg.NestedField) *harness {
	t.Helper()
	schema := arrowSchema(t, fields...)
	d, err := New(schema, cfg)
	require.NoError(t, err)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	b := array.NewRecordBuilder(mem, schema)
	t.Cleanup(func() {
		b.Release()
		mem.AssertSize(t, 0)
	})
	return &harness{t: t, d: d, b: b}
}

func testMessage(offset int64, value []byte) *Message {
	return &Message{
		Topic: "events", Partition: 3, Offset: offset,
		Timestamp: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC),
		Key:       []byte("k1"),
		Value:     value,
		Headers:   []Header{{Key: "trace", Value: []byte("abc")}, {Key: "empty", Value: nil}},
	}
}

// append decodes value as the next record and checks the builder grew by
// exactly one row on success and not at all on failure.
func (h *harness) append(value string) error {
	h.t.Helper()
	return h.appendMessage(testMessage(h.offset, []byte(value)))
}

func (h *harness) appendMessage(m *Message) error {
	h.t.Helper()
	h.offset++
	before := h.lens()
	err := h.d.Append(h.b, m)
	after := h.lens()
	for i := range before {
		want := before[i]
		if err == nil {
			want++
		}
		require.Equal(h.t, want, after[i], "column %d length after Append (err=%v)", i, err)
	}
	return err
}

func (h *harness) lens() []int {
	out := make([]int, len(h.b.Fields()))
	for i, f := range h.b.Fields() {
		out[i] = f.Len()
	}
	return out
}

// record finishes the batch.
func (h *harness) record() arrow.RecordBatch {
	h.t.Helper()
	r := h.b.NewRecordBatch()
	h.t.Cleanup(r.Release)
	return r
}

// toJSON renders a finished batch as one JSON object per row.
func toJSON(t testing.TB, r arrow.RecordBatch) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, array.RecordToJSON(r, &buf))
	return buf.String()
}

// requireDecodeError checks err is a *DecodeError of kind on field.
func requireDecodeError(t testing.TB, err error, kind Kind, field string) *DecodeError {
	t.Helper()
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	require.Equal(t, kind, de.Kind, "error: %v", err)
	require.Equal(t, field, de.Field, "error: %v", err)
	return de
}
