package avro

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/registry"
	"github.com/floe-dev/floe/evolution"
)

const (
	orderV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"long"},{"name":"sku","type":"string"}]}`
	orderV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"long"},{"name":"sku","type":"string"},
		{"name":"note","type":["null","string"],"default":null},
		{"name":"qty","type":"long","default":0}]}`
	orderBroken = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"string"},{"name":"sku","type":"string"}]}`
)

type order struct {
	ID  int64  `avro:"id"`
	Sku string `avro:"sku"`
}

type orderNote struct {
	ID   int64   `avro:"id"`
	Sku  string  `avro:"sku"`
	Note *string `avro:"note"`
	Qty  int64   `avro:"qty"`
}

// registryBed is a fake Confluent registry with the order subject, and a
// decoder of framed values into the table (id long, sku string).
type registryBed struct {
	fake  *srfake.Registry
	table *arrow.Schema
	reg   *registry.Client
	b     *array.RecordBuilder
}

func newRegistryBed(t *testing.T) *registryBed {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cfg := registry.DefaultConfig()
	cfg.URLs = []string{fake.URL()}
	reg, err := registry.New(cfg, prometheus.NewRegistry())
	require.NoError(t, err)
	table := arrowSchema(t, req(1, "id", iceberg.PrimitiveTypes.Int64), opt(2, "sku", iceberg.PrimitiveTypes.String))
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	b := array.NewRecordBuilder(mem, table)
	t.Cleanup(func() { b.Release(); mem.AssertSize(t, 0) })
	return &registryBed{fake: fake, table: table, reg: reg, b: b}
}

func (r *registryBed) register(t *testing.T, subject, schema string, typ sr.SchemaType) int {
	t.Helper()
	id, _, err := r.fake.RegisterSchema(subject, sr.Schema{Schema: schema, Type: typ})
	require.NoError(t, err)
	return id
}

// framed is v encoded with writer and framed for schema id.
func framed(t *testing.T, id int, writer string, v any) []byte {
	t.Helper()
	var h sr.ConfluentHeader
	out, err := h.AppendEncode(nil, id, nil)
	require.NoError(t, err)
	return append(out, encode(t, writer, v)...)
}

// decode appends value, waiting out the ErrRetry of a schema being
// fetched (the consumer's retry does that in production).
func decode(t *testing.T, d *registry.Decoder, b *array.RecordBuilder, value []byte) error {
	t.Helper()
	var err error
	require.Eventually(t, func() bool {
		err = d.Append(b, testMessage(7, value))
		return !errors.Is(err, codec.ErrRetry)
	}, 10*time.Second, 5*time.Millisecond)
	return err
}

func TestRegistryDecoderDecodesFramedValues(t *testing.T) {
	r := newRegistryBed(t)
	id := r.register(t, "orders-value", orderV1, sr.TypeAvro)
	d, err := NewRegistryDecoder(r.reg, r.table, avroConfig())
	require.NoError(t, err)
	require.NoError(t, decode(t, d, r.b, framed(t, id, orderV1, order{ID: 1, Sku: "a"})))
	require.NoError(t, d.Append(r.b, testMessage(8, framed(t, id, orderV1, order{ID: 2, Sku: "b"}))), "cached: no retry")
	rec := r.b.NewRecordBatch()
	defer rec.Release()
	require.Equal(t, []int64{1, 2}, rec.Column(0).(*array.Int64).Int64Values())
	require.Equal(t, "b", rec.Column(1).(*array.String).Value(1))

	// A newer schema that adds fields: without add-columns they are skipped.
	v2 := r.register(t, "orders-value", orderV2, sr.TypeAvro)
	note := "gift"
	require.NoError(t, decode(t, d, r.b, framed(t, v2, orderV2, orderNote{ID: 3, Sku: "c", Note: &note, Qty: 2})))
}

// Records the registry cannot vouch for are bad records with a kind, and
// never quote the value: not framed, an unknown ID, a schema of another
// type, one that cannot be written to the table.
func TestRegistryDecoderBadRecords(t *testing.T) {
	r := newRegistryBed(t)
	d, err := NewRegistryDecoder(r.reg, r.table, avroConfig())
	require.NoError(t, err)
	proto := r.register(t, "other-value", `syntax = "proto3"; message M { int64 id = 1; }`, sr.TypeProtobuf)
	broken := r.register(t, "broken-value", orderBroken, sr.TypeAvro)
	for _, tc := range []struct {
		value []byte
		kind  codec.Kind
		want  string
	}{
		{[]byte(`{"id":1}`), codec.KindMalformedAvro, "not in the Confluent wire format"},
		{framed(t, 99, orderV1, order{ID: 1}), codec.KindSchemaUnknown, "schema 99: unknown to the schema registry"},
		{framed(t, proto, orderV1, order{ID: 1}), codec.KindSchemaIncompatible, "is PROTOBUF, the table's format is avro"},
		{framed(t, broken, orderBroken, map[string]any{"id": "x", "sku": "y"}), codec.KindSchemaIncompatible, "cannot be written to the table"},
		{nil, codec.KindNullValue, "tombstone"},
	} {
		err := decode(t, d, r.b, tc.value)
		var de *codec.DecodeError
		require.ErrorAs(t, err, &de)
		require.Equal(t, tc.kind, de.Kind, err.Error())
		require.Equal(t, int64(7), de.Offset)
		require.ErrorContains(t, err, tc.want)
	}
	require.Zero(t, r.b.Field(0).Len(), "no row was appended")
}

// With add-columns, a newer writer schema's fields become a schema change
// for the table (optional columns, in name order); with widen, a long
// written into an int column widens it.
func TestRegistryDecoderAsksForTheNewColumns(t *testing.T) {
	r := newRegistryBed(t)
	v2 := r.register(t, "orders-value", orderV2, sr.TypeAvro)
	cfg := avroConfig()
	cfg.SchemaEvolution = []string{codec.EvolveAddColumns, codec.EvolveWiden}
	d, err := NewRegistryDecoder(r.reg, r.table, cfg)
	require.NoError(t, err)
	err = decode(t, d, r.b, framed(t, v2, orderV2, orderNote{ID: 1, Sku: "a", Qty: 1}))
	var ch *evolution.Change
	require.ErrorAs(t, err, &ch)
	require.Equal(t, int64(7), ch.Offset)
	require.Len(t, ch.Add, 2)
	require.Equal(t, "note", ch.Add[0].Name)
	require.Equal(t, "qty", ch.Add[1].Name)
	require.True(t, ch.Add[1].Nullable, "an added column is optional even when the writer's field is not")

	narrow := arrowSchema(t, req(1, "id", iceberg.PrimitiveTypes.Int32), opt(2, "sku", iceberg.PrimitiveTypes.String))
	dn, err := NewRegistryDecoder(r.reg, narrow, cfg)
	require.NoError(t, err)
	v1 := r.register(t, "orders2-value", orderV1, sr.TypeAvro)
	bn := array.NewRecordBuilder(memory.NewGoAllocator(), narrow)
	defer bn.Release()
	err = decode(t, dn, bn, framed(t, v1, orderV1, order{ID: 1, Sku: "a"}))
	require.ErrorAs(t, err, &ch)
	require.Equal(t, []string{"id"}, ch.Widen[0].Path)
	require.Equal(t, arrow.PrimitiveTypes.Int64, ch.Widen[0].To)
}

// A registry that is down makes records wait (codec.ErrRetry), never bad
// records; once it answers, they decode.
func TestRegistryDecoderWaitsForTheRegistry(t *testing.T) {
	r := newRegistryBed(t)
	id := r.register(t, "orders-value", orderV1, sr.TypeAvro)
	var down atomic.Bool
	down.Store(true)
	r.fake.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		if down.Load() {
			http.Error(w, `{"error_code":50001,"message":"unavailable"}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	d, err := NewRegistryDecoder(r.reg, r.table, avroConfig())
	require.NoError(t, err)
	value := framed(t, id, orderV1, order{ID: 1, Sku: "a"})
	require.Eventually(t, func() bool {
		err := d.Append(r.b, testMessage(7, value))
		return errors.Is(err, codec.ErrRetry) && !errors.Is(err, registry.ErrUnknownSchema) &&
			err.Error() != "" && errors.As(err, new(*registry.UnavailableError))
	}, 10*time.Second, 5*time.Millisecond, "the registry's failure comes back as a retry")
	down.Store(false)
	require.NoError(t, decode(t, d, r.b, value))
}

// A writer schema may use named types defined in the schemas it
// references (other subjects), which may reference each other.
func TestRegistryDecoderResolvesReferences(t *testing.T) {
	r := newRegistryBed(t)
	const (
		currency = `{"type":"enum","name":"Currency","namespace":"shop","symbols":["EUR","USD"]}`
		money    = `{"type":"record","name":"Money","namespace":"shop","fields":[
			{"name":"units","type":"long"},{"name":"currency","type":"shop.Currency"}]}`
		order = `{"type":"record","name":"Order","namespace":"shop","fields":[
			{"name":"id","type":"long"},{"name":"sku","type":"string"},{"name":"price","type":"shop.Money"}]}`
	)
	r.register(t, "currency", currency, sr.TypeAvro)
	_, _, err := r.fake.RegisterSchema("money", sr.Schema{Schema: money, Type: sr.TypeAvro,
		References: []sr.SchemaReference{{Name: "shop.Currency", Subject: "currency", Version: 1}}})
	require.NoError(t, err)
	id, _, err := r.fake.RegisterSchema("orders-value", sr.Schema{Schema: order, Type: sr.TypeAvro,
		References: []sr.SchemaReference{{Name: "shop.Money", Subject: "money", Version: 1}}})
	require.NoError(t, err)

	// The full schema, as a producer that resolved the references writes it.
	full := strings.Replace(order, `"shop.Money"`, strings.Replace(money, `"shop.Currency"`, currency, 1), 1)
	type price struct {
		Units    int64  `avro:"units"`
		Currency string `avro:"currency"`
	}
	type priced struct {
		ID    int64  `avro:"id"`
		Sku   string `avro:"sku"`
		Price price  `avro:"price"`
	}
	d, err := NewRegistryDecoder(r.reg, r.table, avroConfig())
	require.NoError(t, err)
	require.NoError(t, decode(t, d, r.b, framed(t, id, full, priced{ID: 1, Sku: "a", Price: price{Units: 5, Currency: "USD"}})))

	w, err := Format.Writer(order, map[string]string{"shop.Money": money, "shop.Currency": currency}, registry.Message{})
	require.NoError(t, err)
	as, err := w.Arrow()
	require.NoError(t, err)
	require.Equal(t, "struct<units: int64, currency: utf8>", as.Field(2).Type.String())

	_, err = Format.Writer(order, map[string]string{"shop.Money": money}, registry.Message{})
	require.ErrorContains(t, err, `referenced schema "shop.Money": field "currency": avro schema: unknown type "shop.Currency"`)
}
