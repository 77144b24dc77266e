package codec

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
)

func TestNewErrors(t *testing.T) {
	p := iceberg.PrimitiveTypes
	base := []iceberg.NestedField{req(1, "id", p.Int64), opt(2, "topic", p.String)}
	withMeta := func(m MetadataColumns) Config {
		cfg := DefaultConfig()
		cfg.Metadata = m
		return cfg
	}
	arrowOnly := func(fields ...arrow.Field) *arrow.Schema { return arrow.NewSchema(fields, nil) }
	tests := []struct {
		name   string
		schema *arrow.Schema
		cfg    Config
		err    string
	}{
		{"bad config", arrowSchema(t, base...), Config{Format: "avro", OnError: OnErrorFail}, `format: this decoder reads json, got "avro"`},
		{"bad on-error", arrowSchema(t, base...), Config{Format: "json", OnError: "drop", MaxRecordBytes: 1}, `on-error: must be fail, skip or dlq, got "drop"`},
		{"no record limit", arrowSchema(t, base...), Config{Format: "json", OnError: OnErrorDLQ}, `max-record-bytes: must be > 0, got 0`},
		{"metadata column not in schema", arrowSchema(t, base...), withMeta(MetadataColumns{Offset: "kafka_offset"}),
			`metadata column "kafka_offset": not in the table schema`},
		{"metadata column of wrong type", arrowSchema(t, base...), withMeta(MetadataColumns{Partition: "id"}),
			`metadata column "id": must be int, got int64`},
		{"metadata timestamp without zone", arrowSchema(t, opt(1, "ts", p.Timestamp)), withMeta(MetadataColumns{Timestamp: "ts"}),
			`metadata column "ts": must be timestamptz, got timestamp[us]`},
		{"metadata headers of wrong shape", arrowSchema(t, opt(1, "h", &iceberg.ListType{ElementID: 2, Element: p.String})),
			withMeta(MetadataColumns{Headers: "h"}), `metadata column "h": must be list<struct<key: string, value: binary>>`},
		{"metadata name used twice", arrowSchema(t, base...), withMeta(MetadataColumns{Topic: "topic", Key: "topic"}),
			`metadata-columns: column "topic" is configured twice`},
		{"iceberg unknown type", arrowSchema(t, opt(1, "u", p.Unknown)), DefaultConfig(), `column "u": unsupported type null`},
		{"unsupported arrow type", arrowOnly(arrow.Field{Name: "i8", Type: arrow.PrimitiveTypes.Int8}), DefaultConfig(),
			`column "i8": unsupported type int8`},
		{"unsupported nested type", arrowOnly(arrow.Field{Name: "s", Type: arrow.StructOf(
			arrow.Field{Name: "inner", Type: arrow.ListOf(arrow.PrimitiveTypes.Uint16)})}), DefaultConfig(),
			`column "s.inner.element": unsupported type uint16`},
		{"struct map key", arrowOnly(arrow.Field{Name: "m", Type: arrow.MapOf(
			arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32}), arrow.PrimitiveTypes.Int32)}), DefaultConfig(),
			`column "m.key": map keys must be primitive, got struct`},
		{"second unit timestamp", arrowOnly(arrow.Field{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_s}), DefaultConfig(),
			`column "ts": unsupported timestamp unit s`},
		{"duplicate column", arrowOnly(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32},
			arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32}), DefaultConfig(), `column "a": appears twice in the schema`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.schema, tt.cfg)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.err)
		})
	}
}

func TestLargeTypes(t *testing.T) {
	p := iceberg.PrimitiveTypes
	s, err := table.SchemaToArrowSchema(iceberg.NewSchema(0, opt(1, "s", p.String), opt(2, "b", p.Binary),
		opt(3, "l", &iceberg.ListType{ElementID: 4, Element: p.String})), nil, true, true /* large types */)
	require.NoError(t, err)
	require.Equal(t, arrow.LARGE_STRING, s.Field(0).Type.ID())
	d, err := New(s, DefaultConfig())
	require.NoError(t, err)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	require.NoError(t, d.Append(b, testMessage(0, []byte(`{"s": "x", "b": "AQ==", "l": ["y"]}`))))
	r := b.NewRecordBatch()
	defer r.Release()
	require.JSONEq(t, `{"s": "x", "b": "AQ==", "l": ["y"]}`, toJSON(t, r))
}

// TestExactlyOneRowOrNothing fails records at their very last value, after
// every other column (nested ones included) was parsed, and checks that the
// batch holds exactly the good records.
func TestExactlyOneRowOrNothing(t *testing.T) {
	good := func(id int) string {
		return fmt.Sprintf(`{"id": %d, "user": {"name": "u%d"}, "items": [{"sku": "s", "qty": 1}], `+
			`"attrs": {"a": "b"}, "matrix": [[%d]], "groups": {"g": [{"x": true}]}, "counts": {"1": %d}}`, id, id, id, id)
	}
	bad := []string{
		// wrong type in the last column
		`{"id": 9, "user": {"name": "x"}, "items": [{"sku": "s", "qty": 1}], "attrs": {"a": "b"}, "matrix": [[1]], "counts": {"1": "x"}}`,
		// failure deep inside the last element of a nested list
		`{"id": 9, "user": {"name": "x"}, "matrix": [[1], [2], [3, 4, "x"]]}`,
		// missing required column detected only after the object ends
		`{"user": {"name": "x"}, "items": [{"sku": "s", "qty": 1}], "attrs": {"a": "b"}}`,
		// valid content, then trailing garbage
		good(9) + ` x`,
		// required nested field missing in the last list element
		`{"id": 9, "items": [{"sku": "s", "qty": 1}, {"sku": "t"}]}`,
	}
	h := newHarness(t, DefaultConfig(), nestedFields()...)
	require.NoError(t, h.append(good(1)))
	for i, b := range bad {
		require.Error(t, h.append(b), "bad record %d", i)
	}
	require.NoError(t, h.append(good(2)))

	lines := strings.Split(strings.TrimSpace(toJSON(t, h.record())), "\n")
	require.Len(t, lines, 2)
	for i, id := range []int{1, 2} {
		require.JSONEq(t, fmt.Sprintf(`{"id": %d, "user": {"name": "u%d", "address": null},
			"items": [{"sku": "s", "qty": 1}], "attrs": [{"key": "a", "value": "b"}],
			"counts": [{"key": 1, "value": %d}], "matrix": [[%d]],
			"groups": [{"key": "g", "value": [[{"key": "x", "value": true}]]}]}`, id, id, id, id), lines[i])
	}
}

func TestRequiredMetadata(t *testing.T) {
	p := iceberg.PrimitiveTypes
	cfg := DefaultConfig()
	cfg.Metadata = MetadataColumns{Key: "k", Headers: "h", Timestamp: "ts"}
	fields := []iceberg.NestedField{
		req(1, "k", p.Binary),
		req(2, "h", &iceberg.ListType{ElementID: 3, ElementRequired: true, Element: &iceberg.StructType{
			FieldList: []iceberg.NestedField{req(4, "key", p.String), req(5, "value", p.Binary)},
		}}),
		req(6, "ts", p.TimestampTz),
	}
	tests := []struct {
		name  string
		edit  func(*Message)
		field string
	}{
		{"nil key", func(m *Message) { m.Key = nil }, "k"},
		{"nil header value", func(m *Message) {}, "h[1].value"},
		{"zero timestamp", func(m *Message) { m.Headers = nil; m.Timestamp = time.Time{} }, "ts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, cfg, fields...)
			m := testMessage(5, []byte(`{}`))
			tt.edit(m)
			requireDecodeError(t, h.appendMessage(m), KindMissingRequired, tt.field)
		})
	}
	t.Run("invalid UTF-8 header key", func(t *testing.T) {
		h := newHarness(t, cfg, fields...)
		m := testMessage(5, []byte(`{}`))
		m.Headers = []Header{{Key: "a\xffb", Value: []byte{}}}
		requireDecodeError(t, h.appendMessage(m), KindInvalidValue, "h[0].key")
	})
}

func TestSchemaMismatch(t *testing.T) {
	p := iceberg.PrimitiveTypes
	s := arrowSchema(t, opt(1, "a", p.Int64))
	d, err := New(s, DefaultConfig())
	require.NoError(t, err)

	other := array.NewRecordBuilder(memory.DefaultAllocator, arrowSchema(t, opt(1, "a", p.String)))
	defer other.Release()
	require.ErrorIs(t, d.Append(other, testMessage(0, []byte(`{"a": 1}`))), ErrSchemaMismatch)
	require.Equal(t, 0, other.Field(0).Len())

	// An equal schema behind another pointer is fine.
	same := array.NewRecordBuilder(memory.DefaultAllocator, arrowSchema(t, opt(1, "a", p.Int64)))
	defer same.Release()
	require.NoError(t, d.Append(same, testMessage(0, []byte(`{"a": 1}`))))
	require.NoError(t, d.Append(same, testMessage(1, []byte(`{"a": 2}`))))
	require.Equal(t, 2, same.Field(0).Len())
}

// TestConcurrentUse shares one Decoder between goroutines, each with its
// own builder (run with -race).
func TestConcurrentUse(t *testing.T) {
	s := arrowSchema(t, nestedFields()...)
	d, err := New(s, DefaultConfig())
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			b := array.NewRecordBuilder(memory.DefaultAllocator, s)
			defer b.Release()
			for i := range 200 {
				v := fmt.Sprintf(`{"id": %d, "user": {"name": "esc\n%d"}, "attrs": {"k": "v%d"}}`, g, i, i)
				if err := d.Append(b, testMessage(int64(i), []byte(v))); err != nil {
					t.Error(err)
					return
				}
			}
			r := b.NewRecordBatch()
			defer r.Release()
			if r.NumRows() != 200 || r.Column(0).(*array.Int64).Value(199) != int64(g) {
				t.Errorf("goroutine %d: unexpected batch", g)
			}
		})
	}
	wg.Wait()
}
