package avro

import (
	"math/rand/v2"
	"testing"

	hamba "github.com/hamba/avro/v2"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/internal/codectest"
)

// FuzzAppend checks on arbitrary input that Append never panics, appends
// exactly one row or nothing, leaks no Arrow memory, and accepts only what
// hamba/avro can decode too.
func FuzzAppend(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 8 {
		f.Add(encode(f, allTypes, randomEvent(r)))
	}
	f.Add([]byte{})
	f.Add([]byte{0})
	schema := arrowSchema(f, allTypesTable()...)
	d, err := New(allTypes, schema, metadataConfig())
	require.NoError(f, err)
	ref := hamba.MustParse(allTypes)
	f.Fuzz(func(t *testing.T, value []byte) {
		b := codectest.Builder(t, schema)
		err := codectest.OneRowOrNone(t, b, func() error { return d.Append(b, testMessage(1, value)) })
		if _, ok := codec.KindOf(err); err != nil && !ok {
			t.Fatalf("not a DecodeError: %v", err)
		}
		if err == nil {
			var v map[string]any
			if herr := hamba.Unmarshal(ref, value, &v); herr != nil {
				t.Fatalf("accepted a datum hamba/avro refuses: %v", herr)
			}
			b.NewRecordBatch().Release()
		}
	})
}
