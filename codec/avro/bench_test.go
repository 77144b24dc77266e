package avro

import (
	"math/big"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/internal/codectest"
)

// benchSchema and benchRecord are the logical record of the JSON
// benchmark (codec.BenchmarkAppend's benchValue) in Avro: same fields,
// same values, optional where the table column is optional. session and
// referrer are not in the table and are read past, as the JSON decoder
// skips them.
const benchSchema = `{"type": "record", "name": "Event", "namespace": "com.acme", "fields": [
	{"name": "event_id", "type": {"type": "string", "logicalType": "uuid"}},
	{"name": "user_id", "type": "long"},
	{"name": "event_type", "type": "string"},
	{"name": "amount", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}]},
	{"name": "currency", "type": ["null", "string"]},
	{"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
	{"name": "country", "type": ["null", "string"]},
	{"name": "device", "type": ["null", {"type": "record", "name": "Device", "fields": [
		{"name": "os", "type": ["null", "string"]}, {"name": "version", "type": ["null", "string"]}]}]},
	{"name": "tags", "type": ["null", {"type": "array", "items": "string"}]},
	{"name": "score", "type": ["null", "double"]},
	{"name": "session", "type": "string"},
	{"name": "referrer", "type": "string"}]}`

type benchDevice struct {
	OS      *string `avro:"os"`
	Version *string `avro:"version"`
}

type benchEvent struct {
	EventID   string       `avro:"event_id"`
	UserID    int64        `avro:"user_id"`
	EventType string       `avro:"event_type"`
	Amount    *big.Rat     `avro:"amount"`
	Currency  *string      `avro:"currency"`
	CreatedAt time.Time    `avro:"created_at"`
	Country   *string      `avro:"country"`
	Device    *benchDevice `avro:"device"`
	Tags      []string     `avro:"tags"`
	Score     *float64     `avro:"score"`
	Session   string       `avro:"session"`
	Referrer  string       `avro:"referrer"`
}

func ptr[T any](v T) *T { return &v }

func benchRecord() benchEvent {
	return benchEvent{
		EventID: "7f3c2a9e-1b4d-4e8f-9a6b-2c5d8e1f0a3b", UserID: 184467, EventType: "purchase",
		Amount: big.NewRat(12999, 100), Currency: ptr("EUR"),
		CreatedAt: time.Date(2026, 11, 26, 10, 15, 30, 123456000, time.UTC), Country: ptr("DE"),
		Device: &benchDevice{OS: ptr("android"), Version: ptr("14.2")}, Tags: []string{"promo", "mobile"},
		Score: ptr(0.8734), Session: "c1d2e3f4a5b6", Referrer: "https://example.com/landing?utm=abc",
	}
}

// benchFields is codec's benchmark table.
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

// TestBenchRecord checks that the benchmark decodes what it should.
func TestBenchRecord(t *testing.T) {
	cfg := avroConfig()
	cfg.Metadata = codec.MetadataColumns{Topic: "kafka_topic", Partition: "kafka_partition",
		Offset: "kafka_offset", Timestamp: "kafka_timestamp"}
	h := newHarness(t, benchSchema, cfg, benchFields()...)
	m := testMessage(5, encode(t, benchSchema, benchRecord()))
	require.NoError(t, h.appendMessage(m))
	require.Equal(t, []map[string]any{{
		"event_id": "7f3c2a9e-1b4d-4e8f-9a6b-2c5d8e1f0a3b", "user_id": int64(184467), "event_type": "purchase",
		"amount": "129.99", "currency": "EUR", "created_at": benchRecord().CreatedAt.UnixMicro(), "country": "DE",
		"device": map[string]any{"os": "android", "version": "14.2"}, "tags": []any{"promo", "mobile"},
		"score": 0.8734, "kafka_topic": "events", "kafka_partition": int32(3), "kafka_offset": int64(5),
		"kafka_timestamp": m.Timestamp.UnixMicro(),
	}}, h.rows())
}

// BenchmarkAppend decodes the JSON benchmark's record in Avro into the same
// schema with metadata columns, finishing a batch every 10,000 rows as the
// batcher would.
func BenchmarkAppend(b *testing.B) {
	cfg := avroConfig()
	cfg.Metadata = codec.MetadataColumns{Topic: "kafka_topic", Partition: "kafka_partition",
		Offset: "kafka_offset", Timestamp: "kafka_timestamp"}
	schema := arrowSchema(b, benchFields()...)
	d, err := New(benchSchema, schema, cfg)
	require.NoError(b, err)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	value := encode(b, benchSchema, benchRecord())
	m := &codec.Message{Topic: "events", Partition: 3, Timestamp: time.Now(), Value: value}
	require.NoError(b, d.Append(rb, m))

	codectest.BenchAppend(b, rb, len(value), func(i int) error {
		m.Offset = int64(i)
		return d.Append(rb, m)
	})
}
