package main

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	hamba "github.com/hamba/avro/v2"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

const (
	avroEventV1 = `{"type":"record","name":"Event","namespace":"itest","fields":[
		{"name":"id","type":"string"},
		{"name":"n","type":"long"},
		{"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}]},
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
		{"name":"tags","type":{"type":"array","items":"string"}},
		{"name":"user","type":{"type":"record","name":"User","fields":[
			{"name":"name","type":"string"},{"name":"age","type":"int"}]}}]}`
	// V2 adds an optional field.
	avroEventV2 = `{"type":"record","name":"Event","namespace":"itest","fields":[
		{"name":"id","type":"string"},
		{"name":"n","type":"long"},
		{"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}]},
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
		{"name":"tags","type":{"type":"array","items":"string"}},
		{"name":"user","type":{"type":"record","name":"User","fields":[
			{"name":"name","type":"string"},{"name":"age","type":"int"}]}},
		{"name":"color","type":["null","string"],"default":null}]}`
)

type avroUser struct {
	Name string `avro:"name"`
	Age  int32  `avro:"age"`
}

type avroEvent struct {
	ID     string    `avro:"id"`
	N      int64     `avro:"n"`
	Amount *big.Rat  `avro:"amount"`
	TS     time.Time `avro:"ts"`
	Tags   []string  `avro:"tags"`
	User   avroUser  `avro:"user"`
	Color  *string   `avro:"color"`
}

// produceAvro writes n records with unique ids (r%07d, as produce does),
// encoded with writer and framed for schema id.
func (b *bed) produceAvro(n, id int, writer string) {
	b.t.Helper()
	s, err := hamba.Parse(writer)
	require.NoError(b.t, err)
	var h sr.ConfluentHeader
	recs := make([]*kgo.Record, n)
	for i := range recs {
		k := b.next + i
		color := fmt.Sprintf("c%d", k%3)
		payload, err := hamba.Marshal(s, avroEvent{ID: fmt.Sprintf("r%07d", k), N: int64(k), Amount: big.NewRat(int64(k), 100),
			TS: time.UnixMicro(1_764_000_000_000_000 + int64(k)).UTC(), Tags: []string{"a", "b"},
			User: avroUser{Name: fmt.Sprintf("u%d", k%97), Age: int32(k % 90)}, Color: &color})
		require.NoError(b.t, err)
		v, err := h.AppendEncode(nil, id, nil)
		require.NoError(b.t, err)
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprint(k)), Value: append(v, payload...)}
	}
	b.next += n
	require.NoError(b.t, b.prod.ProduceSync(context.Background(), recs...).FirstErr())
}

// avroConfig is the bed's config for an Avro table without a declared
// schema, its writer schemas in the registry at url.
func (b *bed) avroConfig(name, url, extra string) string {
	b.t.Helper()
	path := b.config(name, "    format: avro\n"+extra)
	raw, err := os.ReadFile(path)
	require.NoError(b.t, err)
	cfg := string(raw)
	i, j := strings.Index(cfg, "    schema:\n"), strings.Index(cfg, "    partition-by:")
	require.True(b.t, i > 0 && j > i)
	cfg = cfg[:i] + cfg[j:]
	cfg = "schema-registry:\n  urls: [\"" + url + "\"]\n  timeout: 2s\n" + cfg
	require.NoError(b.t, os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

// Avro in the Confluent wire format, its schemas from a registry: floe
// creates the table from the subject's latest schema, follows a newer
// schema that adds a field (add-columns), and waits, unready, while the
// registry is down for a schema it has not seen, losing nothing.
func TestAvroThroughTheRegistry(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	var down atomic.Bool
	fake.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		if down.Load() {
			http.Error(w, `{"error_code":50001,"message":"unavailable"}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	v1, _, err := fake.RegisterSchema("events-value", sr.Schema{Schema: avroEventV1, Type: sr.TypeAvro})
	require.NoError(t, err)

	b := newBed(t, 4)
	cfg := b.avroConfig("avro", fake.URL(), "    schema-evolution: [add-columns]\n")
	b.produceAvro(300, v1, avroEventV1)
	p := b.start(cfg)
	b.waitCommitted(300, p)
	require.Contains(t, p.out.String(), `"msg":"table schema from the writer schema"`)
	require.Contains(t, p.out.String(), "subject events-value version 1")

	v2, _, err := fake.RegisterSchema("events-value", sr.Schema{Schema: avroEventV2, Type: sr.TypeAvro})
	require.NoError(t, err)
	b.produceAvro(100, v2, avroEventV2)
	b.waitCommitted(400, p)

	// The registry goes down before floe has seen the next schema.
	down.Store(true)
	v3Schema := strings.Replace(avroEventV1, `"namespace":"itest"`, `"namespace":"itest.v3"`, 1) // a new ID
	v3, _, err := fake.RegisterSchema("other-value", sr.Schema{Schema: v3Schema, Type: sr.TypeAvro})
	require.NoError(t, err)
	require.NotEqual(t, v1, v3)
	b.produceAvro(50, v3, v3Schema)
	require.Eventually(t, func() bool {
		code, body := p.get(t, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "schema registry unavailable")
	}, 60*time.Second, 50*time.Millisecond, "floe stays ready while the registry is down:\n%s", tail(p.out.String(), 20))
	down.Store(false)
	b.waitCommitted(450, p)
	p.waitReady(t)
	_, metrics := p.get(t, "/metrics")
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	b.requireExactlyOnce(450)
	require.Contains(t, metrics, `floe_schema_registry_requests_total{operation="schema_by_id",outcome="error"}`)
	require.NotContains(t, metrics, `floe_consumer_bad_records_total{outcome="skipped",reason="malformed_avro"`)

	// The table: created from v1, the v2 field added; values landed.
	tbl := b.loadTable()
	f, ok := tbl.Schema().FindFieldByName("color")
	require.True(t, ok, "color was added")
	require.True(t, f.Type.Equals(iceberg.PrimitiveTypes.String))
	amount, _ := tbl.Schema().FindFieldByName("amount")
	require.True(t, amount.Type.Equals(iceberg.DecimalTypeOf(10, 2)), "amount is %s", amount.Type)
	colors := 0
	b.eachRow([]string{"color"}, func(k int, col func(string) arrow.Array, i int) {
		cs := col("color").(*array.String)
		if k >= 300 && k < 400 {
			require.True(t, cs.IsValid(i), "a v2 record has its color")
			require.Equal(t, fmt.Sprintf("c%d", k%3), cs.Value(i))
			colors++
		} else {
			require.False(t, cs.IsValid(i), "a v1 record has no color")
		}
	})
	require.Equal(t, 100, colors)
}
