package protobuf

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/internal/codectest"
)

// benchProto and benchRecord are the logical record of the JSON benchmark
// (codec.BenchmarkAppend's benchValue) in Protobuf: same fields, same
// values; session and referrer are not in the table and are read past.
// One difference, for want of a decimal in Protobuf: amount is the string
// "129.99" into a string column, where JSON and Avro parse and rescale a
// decimal(12,2). The wire bytes are the same as in JSON; the column costs
// less (a copy, not a decimal parse).
const benchProto = `syntax = "proto3";
package com.acme;
import "google/protobuf/timestamp.proto";
message Event {
  string event_id = 1;
  int64 user_id = 2;
  string event_type = 3;
  optional string amount = 4;
  optional string currency = 5;
  google.protobuf.Timestamp created_at = 6;
  optional string country = 7;
  Device device = 8;
  repeated string tags = 9;
  optional double score = 10;
  string session = 11;
  string referrer = 12;
  message Device {
    optional string os = 1;
    optional string version = 2;
  }
}`

var benchCreated = time.Date(2026, 11, 26, 10, 15, 30, 123456000, time.UTC)

func benchRecord() fields {
	return fields{
		"event_id": "7f3c2a9e-1b4d-4e8f-9a6b-2c5d8e1f0a3b", "user_id": 184467, "event_type": "purchase",
		"amount": "129.99", "currency": "EUR", "created_at": ts(benchCreated), "country": "DE",
		"device": fields{"os": "android", "version": "14.2"}, "tags": []any{"promo", "mobile"},
		"score": 0.8734, "session": "c1d2e3f4a5b6", "referrer": "https://example.com/landing?utm=abc",
	}
}

// benchFields is codec's benchmark table, but for amount (see benchProto).
func benchFields() []iceberg.NestedField {
	p := iceberg.PrimitiveTypes
	return []iceberg.NestedField{
		req(1, "event_id", p.UUID),
		req(2, "user_id", p.Int64),
		req(3, "event_type", p.String),
		opt(4, "amount", p.String),
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

func benchConfig() codec.Config {
	cfg := protoConfig()
	cfg.Metadata = codec.MetadataColumns{Topic: "kafka_topic", Partition: "kafka_partition",
		Offset: "kafka_offset", Timestamp: "kafka_timestamp"}
	return cfg
}

// TestBenchRecord checks that the benchmark decodes what it should.
func TestBenchRecord(t *testing.T) {
	md := messageOf(t, benchProto, "com.acme.Event", nil)
	h := newHarness(t, md, benchConfig(), benchFields()...)
	m := testMessage(5, encode(t, md, benchRecord()))
	require.NoError(t, h.appendMessage(m))
	require.Equal(t, []map[string]any{{
		"event_id": "7f3c2a9e-1b4d-4e8f-9a6b-2c5d8e1f0a3b", "user_id": int64(184467), "event_type": "purchase",
		"amount": "129.99", "currency": "EUR", "created_at": benchCreated.UnixMicro(), "country": "DE",
		"device": map[string]any{"os": "android", "version": "14.2"}, "tags": []any{"promo", "mobile"},
		"score": 0.8734, "kafka_topic": "events", "kafka_partition": int32(3), "kafka_offset": int64(5),
		"kafka_timestamp": m.Timestamp.UnixMicro(),
	}}, h.rows())
}

// BenchmarkAppend decodes the JSON benchmark's record in Protobuf into the
// same schema with metadata columns, finishing a batch every 10,000 rows as
// the batcher would.
func BenchmarkAppend(b *testing.B) {
	md := messageOf(b, benchProto, "com.acme.Event", nil)
	schema := arrowSchema(b, benchFields()...)
	d, err := New(md, schema, benchConfig())
	require.NoError(b, err)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	value := encode(b, md, benchRecord())
	m := &codec.Message{Topic: "events", Partition: 3, Timestamp: time.Now(), Value: value}
	require.NoError(b, d.Append(rb, m))

	codectest.BenchAppend(b, rb, len(value), func(i int) error {
		m.Offset = int64(i)
		return d.Append(rb, m)
	})
}
