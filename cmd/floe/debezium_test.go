package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	hamba "github.com/hamba/avro/v2"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/floe-dev/floe/codec/protobuf"
)

// produceChanges writes n Debezium change events for rows r0…r(n-1) (a
// snapshot read, then creates and updates, every third — value and key —
// under a JSON converter's schema/payload), each followed every tenth by a delete of
// an earlier row and its tombstone. It returns how many events have no row.
func (b *bed) produceChanges(n int) int {
	b.t.Helper()
	var recs []*kgo.Record
	rowless := 0
	for i := range n {
		k := b.next + i
		op := []string{"r", "c", "u"}[min(k/max(n/3, 1), 2)]
		row := fmt.Sprintf(`{"id":"r%07d","n":%d,"amount":"%d.%02d","ts":"2026-11-26T10:%02d:%02dZ","tags":["a"],"user":{"name":"u%d","age":%d}}`,
			k, k, k%1000, k%100, k%60, k%60, k%97, k%90)
		event := fmt.Sprintf(`{"before":null,"after":%s,"source":{"connector":"postgresql","ts_ms":%d,"lsn":%d},"op":"%s","ts_ms":%d}`,
			row, 1_764_000_000_000+int64(k), 1000+k, op, 1_764_000_001_000+int64(k))
		if k%3 == 0 {
			event = `{"schema":{"type":"struct","optional":false,"name":"db.public.events.Envelope"},"payload":` + event + `}`
		}
		key := []byte(fmt.Sprintf(`{"id":"r%07d"}`, k))
		if k%3 == 0 {
			key = []byte(`{"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"id"}]},"payload":` + string(key) + `}`)
		}
		recs = append(recs, &kgo.Record{Key: key, Value: []byte(event)})
		if k%10 == 9 {
			del := fmt.Sprintf(`{"before":{"id":"r%07d"},"after":null,"source":{"ts_ms":1,"lsn":%d},"op":"d"}`, k-5, 5000+k)
			recs = append(recs, &kgo.Record{Key: key, Value: []byte(del)}, &kgo.Record{Key: key})
			rowless += 2
		}
	}
	b.next += n
	require.NoError(b.t, b.prod.ProduceSync(context.Background(), recs...).FirstErr())
	return rowless
}

// addMetadata adds metadata columns ("key: _key") to the bed's config
// file cfg, beside its partition and offset columns.
func addMetadata(t testing.TB, cfg string, cols ...string) {
	t.Helper()
	var extra strings.Builder
	for _, c := range cols {
		extra.WriteString("      " + c + "\n")
	}
	raw := strings.Replace(readFile(t, cfg), "      offset: _offset\n", "      offset: _offset\n"+extra.String(), 1)
	require.NoError(t, writeFile(cfg, raw))
}

// Debezium change events (envelope: debezium): every insert, update and
// snapshot read lands as a row of its after image with op, commit time,
// LSN and its JSON key (key-format json, a struct of key-schema's columns);
// deletes and tombstones are counted and skipped, on-error: fail
// notwithstanding; a SIGKILL between runs loses and duplicates nothing.
func TestDebeziumChangeEvents(t *testing.T) {
	b := newBed(t, 3)
	cfg := b.config("cdc", `    envelope: debezium
    on-error: fail
    key-format: json
    key-schema:
      - {name: id, type: string, required: true}
`)
	// The change-event metadata columns beside the bed's.
	addMetadata(t, cfg, "key: _key", "op: _op", "source-timestamp: _source_ts", "source-position: _lsn")

	rowless := b.produceChanges(600)
	p := b.start(cfg)
	b.waitCommitted(int64(600+rowless), p)
	require.Equal(t, -1, p.stop(t, syscall.SIGKILL))
	rowless += b.produceChanges(300)
	p = b.start(cfg)
	b.waitCommitted(int64(900+rowless), p)
	_, metrics := p.get(t, "/metrics")
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	b.requireExactlyOnce(900)
	require.Contains(t, metrics, `floe_consumer_change_events_without_row_total{outcome="skipped",reason="cdc_delete",topic="events"}`)

	rows := 0
	b.eachRow([]string{"_op", "_source_ts", "_lsn", "_key"}, func(k int, col func(string) arrow.Array, i int) {
		key := col("_key").(*array.Struct)
		require.True(t, key.IsValid(i))
		require.Equal(t, fmt.Sprintf("r%07d", k), key.Field(0).(*array.String).Value(i))
		require.Contains(t, []string{"r", "c", "u"}, col("_op").(*array.String).Value(i))
		require.Equal(t, (1_764_000_000_000+int64(k))*1000, int64(col("_source_ts").(*array.Timestamp).Value(i)), "row %d", k)
		require.Equal(t, fmt.Sprint(1000+k), col("_lsn").(*array.String).Value(i))
		rows++
	})
	require.Equal(t, 900, rows)
}

// A table floe would create with key-format json but without key-schema
// is refused at start, naming what to declare; nothing is consumed.
func TestJSONKeysWithoutKeySchemaAreRefused(t *testing.T) {
	b := newBed(t, 1)
	cfg := b.config("keys", "    key-format: json\n")
	addMetadata(t, cfg, "key: _key")
	p := b.start(cfg)
	require.Equal(t, 1, p.wait(t))
	require.Contains(t, p.out.String(), `create table itest.events: key-format json: floe does not know the type of the key column "_key"; `+
		"declare the key's fields in key-schema, or create the table with that column")
}

const avroEnvelope = `{"type":"record","name":"Envelope","namespace":"pg.public.events","fields":[
	{"name":"before","type":["null",{"type":"record","name":"Value","fields":[
		{"name":"id","type":"string"},{"name":"n","type":"long"},
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}}]}],"default":null},
	{"name":"after","type":["null","Value"],"default":null},
	{"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[
		{"name":"connector","type":"string"},{"name":"ts_ms","type":"long"},{"name":"lsn","type":["null","long"],"default":null}]}},
	{"name":"op","type":"string"},
	{"name":"ts_ms","type":["null","long"],"default":null}]}`

// avroCDCKey is the key schema Debezium's Avro converter registers
// under <topic>-key: the table's primary key.
const avroCDCKey = `{"type":"record","name":"Key","namespace":"pg.public.events","fields":[{"name":"id","type":"string"}]}`

type avroCDCKeyOf struct {
	ID string `avro:"id"`
}

type avroCDCValue struct {
	ID string    `avro:"id"`
	N  int64     `avro:"n"`
	TS time.Time `avro:"ts"`
}

type avroCDCSource struct {
	Connector string `avro:"connector"`
	TsMs      int64  `avro:"ts_ms"`
	LSN       *int64 `avro:"lsn"`
}

type avroCDCEvent struct {
	Before *avroCDCValue `avro:"before"`
	After  *avroCDCValue `avro:"after"`
	Source avroCDCSource `avro:"source"`
	Op     string        `avro:"op"`
	TsMs   *int64        `avro:"ts_ms"`
}

// Debezium change events in Avro through the registry, keys too
// (key-format avro): the table is created from the Envelope's after record
// and its key column from the events-key subject, deletes and tombstones
// are skipped, and every offset is accounted for.
func TestDebeziumAvroThroughTheRegistry(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	id, _, err := fake.RegisterSchema("events-value", sr.Schema{Schema: avroEnvelope, Type: sr.TypeAvro})
	require.NoError(t, err)
	keyID, _, err := fake.RegisterSchema("events-key", sr.Schema{Schema: avroCDCKey, Type: sr.TypeAvro})
	require.NoError(t, err)
	ks, err := hamba.Parse(avroCDCKey)
	require.NoError(t, err)
	s, err := hamba.Parse(avroEnvelope)
	require.NoError(t, err)
	b := newBed(t, 3)
	cfg := b.registryConfig("cdc-avro", fake.URL(), "avro", "    envelope: debezium\n    key-format: avro\n")
	addMetadata(t, cfg, "key: _key", "op: _op", "source-position: _lsn")
	require.NoError(t, writeFile(cfg, strings.Replace(readFile(t, cfg), `    partition-by: ["bucket(4, id)"]`+"\n", "", 1)))

	var h sr.ConfluentHeader
	var recs []*kgo.Record
	for k := range 500 {
		lsn := int64(7000 + k)
		ev := avroCDCEvent{After: &avroCDCValue{ID: fmt.Sprintf("r%07d", k), N: int64(k), TS: time.UnixMicro(int64(k)).UTC()},
			Source: avroCDCSource{Connector: "postgresql", TsMs: int64(k), LSN: &lsn}, Op: "c"}
		payload, err := hamba.Marshal(s, ev)
		require.NoError(t, err)
		v, err := h.AppendEncode(nil, id, nil)
		require.NoError(t, err)
		kp, err := hamba.Marshal(ks, avroCDCKeyOf{ID: ev.After.ID})
		require.NoError(t, err)
		key, err := h.AppendEncode(nil, keyID, nil)
		require.NoError(t, err)
		key = append(key, kp...)
		recs = append(recs, &kgo.Record{Key: key, Value: append(v, payload...)})
		if k%50 == 49 {
			del, err := hamba.Marshal(s, avroCDCEvent{Before: ev.After, Source: ev.Source, Op: "d"})
			require.NoError(t, err)
			v, err := h.AppendEncode(nil, id, nil)
			require.NoError(t, err)
			recs = append(recs, &kgo.Record{Key: key, Value: append(v, del...)}, &kgo.Record{Key: key})
		}
	}
	require.NoError(t, b.prod.ProduceSync(context.Background(), recs...).FirstErr())
	p := b.start(cfg)
	b.waitCommitted(int64(len(recs)), p)
	require.Contains(t, p.out.String(), "subject events-value version 1")
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	b.requireExactlyOnce(500)
	tbl := b.loadTable()
	require.Len(t, tbl.Schema().Fields(), 8, "id, n, ts from the after record, then _partition, _offset, _key (from events-key), _op, _lsn")
	require.Equal(t, "struct<7: id: required string>", tbl.Schema().Fields()[5].Type.String())
	b.eachRow([]string{"_lsn", "_key"}, func(k int, col func(string) arrow.Array, i int) {
		require.Equal(t, fmt.Sprint(7000+k), col("_lsn").(*array.String).Value(i))
		require.Equal(t, fmt.Sprintf("r%07d", k), col("_key").(*array.Struct).Field(0).(*array.String).Value(i))
	})
}

const protoCDC = `syntax = "proto3";
package pg.public.events;
import "google/protobuf/wrappers.proto";

message Value { string id = 1; int64 n = 2; }
message Source { string connector = 1; int64 ts_ms = 2; google.protobuf.Int64Value lsn = 3; }
message Envelope { Value before = 1; Value after = 2; Source source = 3; string op = 4; }
`

// Debezium change events in Protobuf through the registry: the table is
// created from the file's Envelope message (no record-name), its after
// message the row; deletes and tombstones are skipped.
func TestDebeziumProtobufThroughTheRegistry(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	id, _, err := fake.RegisterSchema("events-value", sr.Schema{Schema: protoCDC, Type: sr.TypeProtobuf})
	require.NoError(t, err)
	s, err := protobuf.Parse(protoCDC, nil)
	require.NoError(t, err)
	env, err := s.MessageByName("pg.public.events.Envelope")
	require.NoError(t, err)
	b := newBed(t, 3)
	cfg := b.registryConfig("cdc-protobuf", fake.URL(), "protobuf", "    envelope: debezium\n")
	addMetadata(t, cfg, "op: _op", "source-position: _lsn")

	event := func(k int, op string) []byte {
		m := dynamicpb.NewMessage(env)
		f := env.Fields()
		row := m.Mutable(f.ByName("after")).Message()
		if op == "d" {
			m.Clear(f.ByName("after"))
			row = m.Mutable(f.ByName("before")).Message()
		}
		row.Set(row.Descriptor().Fields().ByName("id"), protoreflect.ValueOfString(fmt.Sprintf("r%07d", k)))
		row.Set(row.Descriptor().Fields().ByName("n"), protoreflect.ValueOfInt64(int64(k)))
		src := m.Mutable(f.ByName("source")).Message()
		src.Set(src.Descriptor().Fields().ByName("ts_ms"), protoreflect.ValueOfInt64(int64(k)))
		lsn := src.Mutable(src.Descriptor().Fields().ByName("lsn")).Message()
		lsn.Set(lsn.Descriptor().Fields().ByName("value"), protoreflect.ValueOfInt64(int64(7000+k)))
		m.Set(f.ByName("op"), protoreflect.ValueOfString(op))
		out, err := proto.Marshal(m)
		require.NoError(t, err)
		var h sr.ConfluentHeader
		framed, err := h.AppendEncode(nil, id, []int{2})
		require.NoError(t, err)
		return append(framed, out...)
	}
	var recs []*kgo.Record
	for k := range 300 {
		recs = append(recs, &kgo.Record{Value: event(k, []string{"c", "u", "r"}[k%3])})
		if k%50 == 49 {
			recs = append(recs, &kgo.Record{Value: event(k, "d")}, &kgo.Record{})
		}
	}
	require.NoError(t, b.prod.ProduceSync(context.Background(), recs...).FirstErr())
	p := b.start(cfg)
	b.waitCommitted(int64(len(recs)), p)
	_, metrics := p.get(t, "/metrics")
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	b.requireExactlyOnce(300)
	require.Contains(t, metrics, `floe_consumer_change_events_without_row_total{outcome="skipped",reason="cdc_delete",topic="events"} 6`)
	b.eachRow([]string{"_op", "_lsn"}, func(k int, col func(string) arrow.Array, i int) {
		require.Equal(t, []string{"c", "u", "r"}[k%3], col("_op").(*array.String).Value(i))
		require.Equal(t, fmt.Sprint(7000+k), col("_lsn").(*array.String).Value(i))
	})
}
