package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/floe-dev/floe/codec/protobuf"
)

// registryConfig is the bed's config for a table of format without a
// declared schema, its writer schemas in the registry at url.
func (b *bed) registryConfig(name, url, format, extra string) string {
	b.t.Helper()
	path := b.config(name, "    format: "+format+"\n"+extra)
	cfg := readFile(b.t, path)
	i, j := strings.Index(cfg, "    schema:\n"), strings.Index(cfg, "    partition-by:")
	require.True(b.t, i > 0 && j > i)
	cfg = cfg[:i] + cfg[j:]
	cfg = "schema-registry:\n  urls: [\"" + url + "\"]\n  timeout: 2s\n" + cfg
	require.NoError(b.t, os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

// produceFramed writes n records r<next>…, each value encode(k) behind
// the Confluent header of schema id (and, for Protobuf, message indexes).
func (b *bed) produceFramed(n, id int, indexes []int, encode func(k int) []byte) {
	b.t.Helper()
	var h sr.ConfluentHeader
	recs := make([]*kgo.Record, n)
	for i := range recs {
		k := b.next + i
		v, err := h.AppendEncode(nil, id, indexes)
		require.NoError(b.t, err)
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprint(k)), Value: append(v, encode(k)...)}
	}
	b.next += n
	require.NoError(b.t, b.prod.ProduceSync(context.Background(), recs...).FirstErr())
}

const jsonEventSchema = `{"$schema": "http://json-schema.org/draft-07/schema#", "title": "Event", "type": "object",
	"properties": {
		"id": {"type": "string"},
		"n": {"type": "integer"},
		"amount": {"type": "number", "title": "org.apache.kafka.connect.data.Decimal", "connect.parameters": {"scale": "2", "connect.decimal.precision": "10"}},
		"ts": {"type": "string", "format": "date-time"},
		"tags": {"type": "array", "items": {"type": "string"}},
		"user": {"$ref": "#/definitions/User"}},
	"required": ["id", "n"],
	"definitions": {"User": {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "connect.type": "int32"}}}}}`

// JSON Schema through the registry: floe creates the table from the
// subject's latest schema (decimal, timestamptz, int from the schema's
// annotations), a newer schema's property becomes a column, and a SIGKILL
// loses and duplicates nothing.
func TestJSONSchemaThroughTheRegistry(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	v1, _, err := fake.RegisterSchema("events-value", sr.Schema{Schema: jsonEventSchema, Type: sr.TypeJSON})
	require.NoError(t, err)
	b := newBed(t, 3)
	cfg := b.registryConfig("jsonschema", fake.URL(), "json-schema", "    schema-evolution: [add-columns]\n")
	value := func(k int) []byte {
		return fmt.Appendf(nil, `{"id":"r%07d","n":%d,"amount":%d.%02d,"ts":"2026-11-26T10:%02d:%02dZ","tags":["a"],"user":{"name":"u%d","age":%d},"color":"c%d"}`,
			k, k, k%1000, k%100, k%60, k%60, k%97, k%90, k%3)
	}
	b.produceFramed(300, v1, nil, value)
	p := b.start(cfg)
	b.waitCommitted(300, p)
	require.Contains(t, p.out.String(), "subject events-value version 1")
	require.Equal(t, -1, p.stop(t, syscall.SIGKILL))

	v2Schema := strings.Replace(jsonEventSchema, `"id": {"type": "string"},`, `"id": {"type": "string"}, "color": {"type": "string"},`, 1)
	v2, _, err := fake.RegisterSchema("events-value", sr.Schema{Schema: v2Schema, Type: sr.TypeJSON})
	require.NoError(t, err)
	b.produceFramed(200, v2, nil, value)
	p = b.start(cfg)
	b.waitCommitted(500, p)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	b.requireExactlyOnce(500)

	s := b.loadTable().Schema()
	for name, typ := range map[string]iceberg.Type{
		"amount": iceberg.DecimalTypeOf(10, 2), "ts": iceberg.PrimitiveTypes.TimestampTz, "color": iceberg.PrimitiveTypes.String,
	} {
		f, ok := s.FindFieldByName(name)
		require.True(t, ok, name)
		require.True(t, f.Type.Equals(typ), "%s is %s", name, f.Type)
	}
	age, _ := s.FindFieldByName("user.age")
	require.True(t, age.Type.Equals(iceberg.PrimitiveTypes.Int32))
	require.Equal(t, 200, countColor(t, b))
}

// eachRow calls fn for every row of the table with k, the row's record
// number (its id is r%07d), and col, which finds a selected column.
func (b *bed) eachRow(columns []string, fn func(k int, col func(name string) arrow.Array, i int)) {
	b.t.Helper()
	_, recs, err := b.loadTable().Scan(table.WithSelectedFields(append([]string{"id"}, columns...)...)).ToArrowRecords(context.Background())
	require.NoError(b.t, err)
	for rec, err := range recs {
		require.NoError(b.t, err)
		col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
		ids := col("id").(*array.String)
		for i := 0; i < ids.Len(); i++ {
			var k int
			_, err := fmt.Sscanf(ids.Value(i), "r%07d", &k)
			require.NoError(b.t, err)
			fn(k, col, i)
		}
	}
}

// countColor counts the rows whose color column holds the produced value.
func countColor(t *testing.T, b *bed) int {
	n := 0
	b.eachRow([]string{"color"}, func(k int, col func(string) arrow.Array, i int) {
		if cs := col("color").(*array.String); cs.IsValid(i) {
			require.Equal(t, fmt.Sprintf("c%d", k%3), cs.Value(i))
			n++
		}
	})
	return n
}

const protoEvents = `syntax = "proto3";
package itest;
import "google/protobuf/timestamp.proto";
import "itest/user.proto";

message Heartbeat { int64 at = 1; }

message Event {
  string id = 1;
  int64 n = 2;
  google.protobuf.Timestamp ts = 3;
  repeated string tags = 4;
  User user = 5;
  optional string color = 6;
  map<string, int64> counts = 7;
}
`

const protoUser = `syntax = "proto3";
package itest;
message User { string name = 1; int32 age = 2; }
`

// Protobuf through the registry with the record name strategy: the table
// is created from the message record-name names (the second of its file),
// the file's import resolved through the schema's reference, values framed
// with their message index.
func TestProtobufThroughTheRegistry(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	_, _, err := fake.RegisterSchema("itest/user.proto", sr.Schema{Schema: protoUser, Type: sr.TypeProtobuf})
	require.NoError(t, err)
	id, _, err := fake.RegisterSchema("itest.Event", sr.Schema{Schema: protoEvents, Type: sr.TypeProtobuf,
		References: []sr.SchemaReference{{Name: "itest/user.proto", Subject: "itest/user.proto", Version: 1}}})
	require.NoError(t, err)

	s, err := protobuf.Parse(protoEvents, map[string]string{"itest/user.proto": protoUser})
	require.NoError(t, err)
	md, err := s.MessageByName("itest.Event")
	require.NoError(t, err)
	b := newBed(t, 3)
	cfg := b.registryConfig("protobuf", fake.URL(), "protobuf", "    subject-name-strategy: record\n    record-name: itest.Event\n")
	encode := func(k int) []byte {
		m := dynamicpb.NewMessage(md)
		set := func(name string, v protoreflect.Value) { m.Set(md.Fields().ByName(protoreflect.Name(name)), v) }
		set("id", protoreflect.ValueOfString(fmt.Sprintf("r%07d", k)))
		set("n", protoreflect.ValueOfInt64(int64(k)))
		set("ts", protoreflect.ValueOfMessage(timestamppb.New(time.UnixMicro(1_764_000_000_000_000+int64(k))).ProtoReflect()))
		tags := m.Mutable(md.Fields().ByName("tags")).List()
		tags.Append(protoreflect.ValueOfString("a"))
		user := m.Mutable(md.Fields().ByName("user")).Message()
		user.Set(user.Descriptor().Fields().ByName("name"), protoreflect.ValueOfString(fmt.Sprintf("u%d", k%97)))
		user.Set(user.Descriptor().Fields().ByName("age"), protoreflect.ValueOfInt32(int32(k%90)))
		if k%2 == 0 {
			set("color", protoreflect.ValueOfString(fmt.Sprintf("c%d", k%3)))
		}
		counts := m.Mutable(md.Fields().ByName("counts")).Map()
		counts.Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfInt64(int64(k)))
		out, err := proto.Marshal(m)
		require.NoError(t, err)
		return out
	}
	b.produceFramed(400, id, []int{1}, encode)
	p := b.start(cfg)
	b.waitCommitted(400, p)
	require.Contains(t, p.out.String(), "subject itest.Event version 1")
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	b.requireExactlyOnce(400)
	require.Equal(t, 200, countColor(t, b), "color is set on even rows only (proto3 optional: null when absent)")
	ts, ok := b.loadTable().Schema().FindFieldByName("ts")
	require.True(t, ok)
	require.True(t, ts.Type.Equals(iceberg.PrimitiveTypes.TimestampTz), "ts is %s", ts.Type)
}

// A table floe cannot create from the registry is refused at start,
// naming why: a record strategy without the record's name, a subject
// whose latest schema is of another format, a subject that is not there.
func TestRegistryTableCreationRefusals(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	_, _, err := fake.RegisterSchema("events-value", sr.Schema{Schema: protoUser, Type: sr.TypeProtobuf})
	require.NoError(t, err)
	b := newBed(t, 1)
	for _, tc := range []struct {
		format, extra, want string
	}{
		{"avro", "    subject-name-strategy: record\n",
			"subject-name-strategy record: needs the record's name: set record-name (the record the table is created from) or declare tables[].schema"},
		{"avro", "", "create the table from subject events-value: its latest schema is PROTOBUF, the table's format is avro"},
		{"json-schema", "    subject-name-strategy: topic-record\n    record-name: shop.Order\n",
			"create the table from subject events-shop.Order: subject events-shop.Order: unknown to the schema registry"},
		{"protobuf", "    record-name: itest.Nope\n", "itest.Nope"},
	} {
		p := b.start(b.registryConfig("refused", fake.URL(), tc.format, tc.extra))
		require.Equal(t, 1, p.wait(t), tc.want)
		require.Contains(t, p.out.String(), tc.want)
	}
	// Keys framed by the registry type the key column from <topic>-key.
	cfg := b.registryConfig("refused", fake.URL(), "protobuf", "    key-format: avro\n")
	addMetadata(t, cfg, "key: _key")
	p := b.start(cfg)
	require.Equal(t, 1, p.wait(t))
	require.Contains(t, p.out.String(), `key column "_key": create the table from subject events-key: subject events-key: unknown to the schema registry`)
	// A key schema that is not a record cannot type a struct column.
	_, _, err = fake.RegisterSchema("events-key", sr.Schema{Schema: `"string"`, Type: sr.TypeAvro})
	require.NoError(t, err)
	p = b.start(cfg)
	require.Equal(t, 1, p.wait(t))
	require.Contains(t, p.out.String(), `key column "_key" from subject events-key version 1 (schema 2): avro schema: the top level must be a record, got string`)

	// A table by pattern that matches no topic yet has no subject to take
	// its schema (or its key's) from.
	byPattern := func(path string) string {
		yaml := strings.Replace(readFile(t, path), "    topics: [events]\n", "    topics-pattern: 'later\\..+'\n", 1)
		require.NoError(t, os.WriteFile(path, []byte(yaml), 0o644))
		return path
	}
	p = b.start(byPattern(b.registryConfig("refused", fake.URL(), "protobuf", "")))
	require.Equal(t, 1, p.wait(t))
	require.Contains(t, p.out.String(), `table itest.events: no topic matches topics-pattern "later\\..+" yet, and the table's schema would come from the subject of its first topic`)
	_, _, err = fake.RegisterSchema("itest.User", sr.Schema{Schema: protoUser, Type: sr.TypeProtobuf})
	require.NoError(t, err)
	cfg = byPattern(b.registryConfig("refused", fake.URL(), "protobuf", "    subject-name-strategy: record\n    record-name: itest.User\n    key-format: avro\n"))
	addMetadata(t, cfg, "key: _key")
	p = b.start(cfg)
	require.Equal(t, 1, p.wait(t))
	require.Contains(t, p.out.String(), `key column "_key": no topic matches topics-pattern`)
}
