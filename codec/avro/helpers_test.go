package avro

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	hamba "github.com/hamba/avro/v2"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/internal/codectest"
)

func avroConfig() codec.Config {
	cfg := codec.DefaultConfig()
	cfg.Format = "avro"
	return cfg
}

// encode encodes v with hamba/avro, the independent implementation.
func encode(t testing.TB, schema string, v any) []byte {
	t.Helper()
	s, err := hamba.Parse(schema)
	require.NoError(t, err)
	b, err := hamba.Marshal(s, v)
	require.NoError(t, err)
	return b
}

// harness decodes into one record builder backed by a checked allocator.
type harness struct {
	t      testing.TB
	d      *Decoder
	b      *array.RecordBuilder
	offset int64
}

func newHarness(t testing.TB, writer string, cfg codec.Config, fields ...iceberg.NestedField) *harness {
	t.Helper()
	return newHarnessArrow(t, writer, cfg, arrowSchema(t, fields...))
}

// newHarnessArrow is newHarness for a table's Arrow schema.
func newHarnessArrow(t testing.TB, writer string, cfg codec.Config, schema *arrow.Schema) *harness {
	t.Helper()
	d, err := New(writer, schema, cfg)
	require.NoError(t, err)
	return &harness{t: t, d: d, b: codectest.Builder(t, schema)}
}

func testMessage(offset int64, value []byte) *codec.Message {
	return &codec.Message{
		Topic: "events", Partition: 3, Offset: offset,
		Timestamp: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC),
		Key:       []byte("k1"),
		Value:     value,
		Headers:   []codec.Header{{Key: "trace", Value: []byte("abc")}, {Key: "empty", Value: nil}},
	}
}

// append decodes value as the next record and checks that the builder grew
// by exactly one row on success and not at all on failure.
func (h *harness) append(value []byte) error {
	h.t.Helper()
	h.offset++
	return h.appendMessage(testMessage(h.offset, value))
}

func (h *harness) appendMessage(m *codec.Message) error {
	h.t.Helper()
	return codectest.OneRowOrNone(h.t, h.b, func() error { return h.d.Append(h.b, m) })
}

// rows finishes the batch and returns each row as column name → plain Go
// value (codectest.Plain).
func (h *harness) rows() []map[string]any {
	h.t.Helper()
	return codectest.Rows(h.t, h.b)
}

// The shared helpers, under the names the tests use.
var (
	arrowSchema = codectest.ArrowSchema
	opt         = codectest.Opt
	req         = codectest.Req
	plain       = codectest.Plain
	lens        = codectest.Lens
)

// requireDecodeError checks err is a *codec.DecodeError of kind on field.
func requireDecodeError(t testing.TB, err error, kind codec.Kind, field string) *codec.DecodeError {
	t.Helper()
	var de *codec.DecodeError
	require.ErrorAs(t, err, &de)
	require.Equal(t, kind, de.Kind, "error: %v", err)
	require.Equal(t, field, de.Field, "error: %v", err)
	return de
}
