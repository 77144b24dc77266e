package protobuf

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/internal/codectest"
)

// FuzzAppend checks on arbitrary input that Append never panics, appends
// exactly one row or nothing, leaks no Arrow memory, accepts only what the
// protobuf module can read too, and then appends what it reads.
func FuzzAppend(f *testing.F) {
	md := allTypesMessage(f)
	r := rand.New(rand.NewPCG(7, 8))
	for range 8 {
		f.Add(encode(f, md, randomEvent(r)))
		f.Add(mutate(r, encode(f, md, randomEvent(r)), encode(f, md, randomEvent(r))))
	}
	f.Add([]byte{})
	f.Add([]byte{0})
	schema := tableOf(f, md, protoConfig())
	d, err := New(md, schema, protoConfig())
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, value []byte) {
		b := codectest.Builder(t, schema)
		err := codectest.OneRowOrNone(t, b, func() error { return d.Append(b, testMessage(1, value)) })
		if _, ok := codec.KindOf(err); err != nil && !ok {
			t.Fatalf("not a DecodeError: %v", err)
		}
		if err != nil {
			return
		}
		ref := dynamicpb.NewMessage(md)
		if rerr := proto.Unmarshal(value, ref); rerr != nil {
			t.Fatalf("accepted a message the protobuf module refuses: %v", rerr)
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		got := map[string]any{}
		for j, fl := range rec.Schema().Fields() {
			got[fl.Name] = plain(t, rec.Column(j), 0)
		}
		require.Equal(t, nanFree(refRow(ref)), nanFree(got))
	})
}

// nanFree replaces NaNs, which are not equal to themselves, by a string.
func nanFree(v any) any {
	switch v := v.(type) {
	case float32:
		if v != v {
			return "NaN"
		}
	case float64:
		if math.IsNaN(v) {
			return "NaN"
		}
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = nanFree(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = nanFree(x)
		}
		return out
	}
	return v
}
