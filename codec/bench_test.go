package codec

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/internal/codectest"
)

// benchValue is a typical ~300-byte event with 10 fields.
const benchValue = `{"event_id":"7f3c2a9e-1b4d-4e8f-9a6b-2c5d8e1f0a3b","user_id":184467,` +
	`"event_type":"purchase","amount":"129.99","currency":"EUR",` +
	`"created_at":"2026-11-26T10:15:30.123456Z","country":"DE",` +
	`"device":{"os":"android","version":"14.2"},"tags":["promo","mobile"],"score":0.8734,` +
	`"session":"c1d2e3f4a5b6","referrer":"https://example.com/landing?utm=abc"}`

func benchFields() []iceberg.NestedField {
	p := iceberg.PrimitiveTypes
	return []iceberg.NestedField{
		req(1, "event_id", p.UUID),
		req(2, "user_id", p.Int64),
		req(3, "event_type", p.String),
		opt(4, "amount", iceberg.DecimalTypeOf(12, 2)),
		opt(5, "currency", p.String),
		req(6, "created_at", p.TimestampTz),
		opt(7, "country", p.String),
		opt(8, "device", &iceberg.StructType{FieldList: []iceberg.NestedField{
			opt(9, "os", p.String), opt(10, "version", p.String),
		}}),
		opt(11, "tags", &iceberg.ListType{ElementID: 12, Element: p.String, ElementRequired: true}),
		opt(13, "score", p.Float64),
		req(14, "kafka_topic", p.String),
		req(15, "kafka_partition", p.Int32),
		req(16, "kafka_offset", p.Int64),
		opt(17, "kafka_timestamp", p.TimestampTz),
	}
}

// BenchmarkAppend decodes benchValue into a realistic schema with metadata
// columns, finishing a batch every 10,000 rows as the batcher would.
func BenchmarkAppend(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Metadata = MetadataColumns{Topic: "kafka_topic", Partition: "kafka_partition",
		Offset: "kafka_offset", Timestamp: "kafka_timestamp"}
	schema := arrowSchema(b, benchFields()...)
	d, err := New(schema, cfg)
	require.NoError(b, err)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	m := &Message{Topic: "events", Partition: 3, Timestamp: time.Now(), Value: []byte(benchValue)}
	require.NoError(b, d.Append(rb, m))

	codectest.BenchAppend(b, rb, len(benchValue), func(i int) error {
		m.Offset = int64(i)
		return d.Append(rb, m)
	})
}
