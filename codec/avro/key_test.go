package avro

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/registry"
)

const (
	orderKey = `{"type":"record","name":"OrderKey","namespace":"shop","fields":[
		{"name":"pk","type":"long"},{"name":"region","type":["null","string"],"default":null}]}`
	orderKeyBroken = `{"type":"record","name":"OrderKey","namespace":"shop","fields":[{"name":"pk","type":"string"}]}`
)

type keyOf struct {
	PK     int64   `avro:"pk"`
	Region *string `avro:"region"`
}

// keyedBed decodes framed Avro values and keys into the table (id long,
// sku string, _key struct<pk long, region string>).
type keyedBed struct {
	*registryBed
	d      *registry.Keyed
	b      *array.RecordBuilder
	key    int // the key schema's ID
	value  int
	offset int64
}

func newKeyedBed(t *testing.T) *keyedBed {
	t.Helper()
	r := newRegistryBed(t)
	table := arrowSchema(t, req(1, "id", iceberg.PrimitiveTypes.Int64), opt(2, "sku", iceberg.PrimitiveTypes.String),
		opt(3, "_key", &iceberg.StructType{FieldList: []iceberg.NestedField{
			req(4, "pk", iceberg.PrimitiveTypes.Int64), opt(5, "region", iceberg.PrimitiveTypes.String)}}))
	cfg := avroConfig()
	cfg.KeyFormat, cfg.Metadata.Key = "avro", "_key"
	value, err := NewRegistryDecoder(r.reg, table, cfg)
	require.NoError(t, err)
	d, err := registry.NewKeyed(value, r.reg, Format, table, cfg)
	require.NoError(t, err)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	b := array.NewRecordBuilder(mem, table)
	t.Cleanup(func() { b.Release(); mem.AssertSize(t, 0) })
	return &keyedBed{registryBed: r, d: d, b: b,
		key: r.register(t, "orders-key", orderKey, sr.TypeAvro), value: r.register(t, "orders-value", orderV1, sr.TypeAvro)}
}

// append decodes one record, waiting out the ErrRetry of schemas being
// fetched, and checks that it appended one whole row or nothing.
func (k *keyedBed) append(t *testing.T, key []byte, id int64) error {
	t.Helper()
	k.offset++
	m := testMessage(k.offset, framed(t, k.value, orderV1, order{ID: id, Sku: "s"}))
	m.Key = key
	before := k.lens()
	var err error
	require.Eventually(t, func() bool {
		err = k.d.Append(k.b, m)
		return !errors.Is(err, codec.ErrRetry)
	}, 10*time.Second, 5*time.Millisecond)
	for i, n := range k.lens() {
		want := before[i]
		if err == nil {
			want++
		}
		require.Equal(t, want, n, "column %d (err=%v)", i, err)
	}
	return err
}

func (k *keyedBed) lens() []int {
	var out []int
	for _, f := range k.b.Fields() {
		out = append(out, f.Len())
	}
	return out
}

// Keys framed by the registry (key-format avro) fill the key column, a
// struct of the key schema's fields; a key at fault is a bad record named
// by the key column, and nothing of its record is appended.
func TestRegistryKeys(t *testing.T) {
	k := newKeyedBed(t)
	eu := "eu"
	require.NoError(t, k.append(t, framed(t, k.key, orderKey, keyOf{PK: 7, Region: &eu}), 1))
	require.NoError(t, k.append(t, nil, 2))
	require.NoError(t, k.append(t, framed(t, k.key, orderKey, keyOf{PK: 9}), 3))

	for _, tc := range []struct {
		key   []byte
		kind  codec.Kind
		field string
	}{
		{[]byte("plain"), codec.KindMalformedAvro, "_key"},
		{framed(t, 999, orderKey, keyOf{PK: 1}), codec.KindSchemaUnknown, "_key"},
		{framed(t, k.register(t, "other-key", orderKeyBroken, sr.TypeAvro), orderKeyBroken, struct {
			PK string `avro:"pk"`
		}{"x"}), codec.KindSchemaIncompatible, "_key"},
	} {
		err := k.append(t, tc.key, 4)
		var de *codec.DecodeError
		require.ErrorAs(t, err, &de)
		require.Equal(t, tc.kind, de.Kind, "%v", err)
		require.Equal(t, tc.field, de.Field, "%v", err)
		require.Contains(t, de.Detail, "record key: ")
	}
	// A good key with a bad value: the value's error, nothing appended.
	k.offset++
	m := testMessage(k.offset, []byte("not framed"))
	m.Key = framed(t, k.key, orderKey, keyOf{PK: 5})
	var de *codec.DecodeError
	require.ErrorAs(t, k.d.Append(k.b, m), &de)
	require.Equal(t, codec.KindMalformedAvro, de.Kind)
	require.Empty(t, de.Field)

	rec := k.b.NewRecordBatch()
	defer rec.Release()
	require.EqualValues(t, 3, rec.NumRows())
	key := rec.Column(2).(*array.Struct)
	require.Equal(t, []bool{true, false, true}, []bool{key.IsValid(0), key.IsValid(1), key.IsValid(2)})
	require.Equal(t, int64(7), key.Field(0).(*array.Int64).Value(0))
	require.Equal(t, "eu", key.Field(1).(*array.String).Value(0))
	require.Equal(t, int64(9), key.Field(0).(*array.Int64).Value(2))
	require.True(t, key.Field(1).IsNull(2))
}

// A registry that is down while a new key schema is fetched makes the
// record wait (codec.ErrRetry) with nothing appended, never a bad record.
func TestRegistryKeysWaitForTheRegistry(t *testing.T) {
	k := newKeyedBed(t)
	require.NoError(t, k.append(t, framed(t, k.key, orderKey, keyOf{PK: 1}), 1)) // the value's schema is cached
	v2 := k.register(t, "orders-key", `{"type":"record","name":"OrderKey","namespace":"shop","fields":[{"name":"pk","type":"long"}]}`, sr.TypeAvro)
	var down atomic.Bool
	down.Store(true)
	k.fake.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		if down.Load() {
			http.Error(w, `{"error_code":50001,"message":"unavailable"}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	m := testMessage(50, framed(t, k.value, orderV1, order{ID: 2, Sku: "s"}))
	m.Key = framed(t, v2, `{"type":"record","name":"OrderKey","fields":[{"name":"pk","type":"long"}]}`, struct {
		PK int64 `avro:"pk"`
	}{2})
	require.Eventually(t, func() bool {
		err := k.d.Append(k.b, m)
		return errors.As(err, new(*registry.UnavailableError)) && errors.Is(err, codec.ErrRetry)
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, []int{1, 1, 1}, k.lens(), "nothing appended while the registry is down")
	down.Store(false)
	require.Eventually(t, func() bool { return k.d.Append(k.b, m) == nil }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, []int{2, 2, 2}, k.lens())
}

// The key column must be a struct.
func TestRegistryKeysNeedAStructColumn(t *testing.T) {
	r := newRegistryBed(t)
	table := arrowSchema(t, req(1, "id", iceberg.PrimitiveTypes.Int64), opt(2, "_key", iceberg.PrimitiveTypes.Binary))
	cfg := avroConfig()
	cfg.KeyFormat, cfg.Metadata.Key = "avro", "_key"
	_, err := NewRegistryDecoder(r.reg, table, cfg)
	require.EqualError(t, err, `metadata column "_key": must be a struct for key-format avro, got binary`)
	_, err = registry.NewKeyed(nil, r.reg, Format, arrow.NewSchema(table.Fields(), nil), cfg)
	require.EqualError(t, err, `metadata column "_key": must be a struct for key-format avro, got binary`)
}
