package protobuf

import (
	"errors"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/registry"
	"github.com/floe-dev/floe/evolution"
	"github.com/floe-dev/floe/internal/codectest"
)

const ordersProto = `syntax = "proto3";
package shop;
message Ping { int64 at = 1; }
message Order {
  int64 id = 1;
  string sku = 2;
  message Line { int64 qty = 1; }
}
`

// Framed Protobuf values name their message by index: [1] is Order, the
// file's second message. The header's list, not the config, picks it;
// a list that is malformed or names no message is the value's fault.
func TestRegistryDecoderReadsMessageIndexes(t *testing.T) {
	fake := srfake.New()
	defer fake.Close()
	rc := registry.DefaultConfig()
	rc.URLs = []string{fake.URL()}
	reg, err := registry.New(rc, prometheus.NewRegistry())
	require.NoError(t, err)
	id, _, err := fake.RegisterSchema("orders-value", sr.Schema{Schema: ordersProto, Type: sr.TypeProtobuf})
	require.NoError(t, err)
	avro, _, err := fake.RegisterSchema("other-value", sr.Schema{Schema: `{"type":"record","name":"R","fields":[]}`, Type: sr.TypeAvro})
	require.NoError(t, err)

	table := codectest.ArrowSchema(t, codectest.Req(1, "id", iceberg.PrimitiveTypes.Int64), codectest.Opt(2, "sku", iceberg.PrimitiveTypes.String))
	cfg := protoConfig()
	cfg.SchemaEvolution = []string{codec.EvolveAddColumns}
	d, err := registry.NewDecoder(reg, Format, table, cfg)
	require.NoError(t, err)
	b := codectest.Builder(t, table)
	order := messageOf(t, ordersProto, "shop.Order", nil)
	frame := func(id int, indexes []int, payload []byte) []byte {
		var h sr.ConfluentHeader
		out, err := h.AppendEncode(nil, id, indexes)
		require.NoError(t, err)
		return append(out, payload...)
	}
	decode := func(value []byte) error {
		var err error
		require.Eventually(t, func() bool {
			err = codectest.OneRowOrNone(t, b, func() error { return d.Append(b, &codec.Message{Topic: "orders", Offset: 3, Value: value}) })
			return !errors.Is(err, codec.ErrRetry)
		}, 10*time.Second, 5*time.Millisecond)
		return err
	}
	require.NoError(t, decode(frame(id, []int{1}, encode(t, order, fields{"id": int64(7), "sku": "a"}))))
	require.Equal(t, []map[string]any{{"id": int64(7), "sku": "a"}}, codectest.Rows(t, b))

	// [0] is Ping: its field at is not a column; with add-columns it asks
	// for one, and its missing id makes nothing of the required column yet.
	err = decode(frame(id, []int{0}, []byte{0x08, 0x01}))
	var ch *evolution.Change
	require.ErrorAs(t, err, &ch)
	require.Equal(t, "at", ch.Add[0].Name)

	for _, tc := range []struct {
		value []byte
		kind  codec.Kind
		want  string
	}{
		{append(frame(id, nil, nil)[:5], 0x04, 0x02), codec.KindMalformedProtobuf, "message indexes: truncated varint"},
		{append(frame(id, nil, nil)[:5], 0x01), codec.KindMalformedProtobuf, "message indexes: a list of -1 indexes"},
		{frame(id, []int{5}, nil), codec.KindSchemaIncompatible, "writer schema"},
		{frame(avro, []int{0}, nil), codec.KindSchemaIncompatible, "is AVRO, the table's format is protobuf"},
		{[]byte{1, 2}, codec.KindMalformedProtobuf, "not in the Confluent wire format"},
	} {
		err := decode(tc.value)
		var de *codec.DecodeError
		require.ErrorAs(t, err, &de, "%x", tc.value)
		require.Equal(t, tc.kind, de.Kind, err.Error())
		require.ErrorContains(t, err, tc.want)
	}
}
