package codec

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/evolution"
)

func allMetadata() Config {
	cfg := DefaultConfig()
	cfg.Metadata = MetadataColumns{
		Topic: "kafka_topic", Partition: "kafka_partition", Offset: "kafka_offset",
		Timestamp: "kafka_timestamp", Key: "kafka_key", Headers: "kafka_headers",
	}
	return cfg
}

// icebergFields converts Columns the way the cmd layer is expected to.
func icebergFields(t testing.TB, fields []arrow.Field, nextID *int) []iceberg.NestedField {
	t.Helper()
	out := make([]iceberg.NestedField, len(fields))
	for i, f := range fields {
		*nextID++
		id := *nextID
		out[i] = iceberg.NestedField{ID: id, Name: f.Name, Required: !f.Nullable, Type: icebergType(t, f.Type, nextID)}
	}
	return out
}

func icebergType(t testing.TB, dt arrow.DataType, nextID *int) iceberg.Type {
	p := iceberg.PrimitiveTypes
	switch dt := dt.(type) {
	case *arrow.StringType:
		return p.String
	case *arrow.Int32Type:
		return p.Int32
	case *arrow.Int64Type:
		return p.Int64
	case *arrow.TimestampType:
		return p.TimestampTz
	case *arrow.BinaryType:
		return p.Binary
	case *arrow.StructType:
		return &iceberg.StructType{FieldList: icebergFields(t, dt.Fields(), nextID)}
	case *arrow.ListType:
		*nextID++
		id := *nextID
		return &iceberg.ListType{ElementID: id, Element: icebergType(t, dt.Elem(), nextID), ElementRequired: !dt.ElemField().Nullable}
	}
	t.Fatalf("unknown type %s", dt)
	return nil
}

func TestColumns(t *testing.T) {
	cols := allMetadata().Metadata.Fields()
	var got []string
	for _, c := range cols {
		got = append(got, c.Name+" "+evolution.TypeName(c.Type))
	}
	require.Equal(t, []string{
		"kafka_topic string",
		"kafka_partition int",
		"kafka_offset long",
		"kafka_timestamp timestamptz",
		"kafka_key binary",
		"kafka_headers list<struct<key: string, value: binary>>",
	}, got)
	require.False(t, cols[0].Nullable)
	require.True(t, cols[4].Nullable, "keys may be null")
	require.True(t, cols[5].Type.(*arrow.ListType).Elem().(*arrow.StructType).Field(1).Nullable, "header values may be null")

	require.Equal(t, []arrow.Field{{Name: "off", Type: arrow.PrimitiveTypes.Int64}},
		MetadataColumns{Offset: "off"}.Fields())
	require.Empty(t, MetadataColumns{}.Fields())
}

func TestMetadataColumns(t *testing.T) {
	cfg := allMetadata()
	id := 1
	fields := append([]iceberg.NestedField{opt(1, "v", iceberg.PrimitiveTypes.String)},
		icebergFields(t, cfg.Metadata.Fields(), &id)...)
	h := newHarness(t, cfg, fields...)

	// JSON keys naming metadata columns are ignored, whatever their type.
	require.NoError(t, h.appendMessage(&Message{
		Topic: "events", Partition: 3, Offset: 41,
		Timestamp: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC),
		Key:       []byte("k1"),
		Value:     []byte(`{"v": "a", "kafka_topic": "spoofed", "kafka_offset": {"x": 1}}`),
		Headers:   []Header{{Key: "trace", Value: []byte("abc")}, {Key: "empty", Value: nil}},
	}))
	require.NoError(t, h.appendMessage(&Message{
		Topic: "events", Partition: 4, Offset: 42, Value: []byte(`{}`),
	}))
	lines := strings.Split(strings.TrimSpace(toJSON(t, h.record())), "\n")
	require.Len(t, lines, 2)
	require.JSONEq(t, `{
		"v": "a", "kafka_topic": "events", "kafka_partition": 3, "kafka_offset": 41,
		"kafka_timestamp": "2026-11-26T10:00:00.123456Z", "kafka_key": "azE=",
		"kafka_headers": [{"key": "trace", "value": "YWJj"}, {"key": "empty", "value": null}]
	}`, lines[0])
	// Zero timestamp and nil key are null; no headers is an empty list.
	require.JSONEq(t, `{
		"v": null, "kafka_topic": "events", "kafka_partition": 4, "kafka_offset": 42,
		"kafka_timestamp": null, "kafka_key": null, "kafka_headers": []
	}`, lines[1])
}
