package avro

import (
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/internal/codectest"
)

// Phase 2 from the tape appends exactly what reading the datum again
// appends, for random values of every type (nulls, unions, nested
// records, arrays and maps in blocks, logical types).
func TestTapeAppendsWhatTheDatumHolds(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	schema := arrowSchema(t, allTypesTable()...)
	d, err := New(allTypes, schema, metadataConfig())
	require.NoError(t, err)
	fromTape, reread := codectest.Builder(t, schema), codectest.Builder(t, schema)
	for i := range 3000 {
		value := encode(t, allTypes, randomEvent(rng))
		m := testMessage(int64(i), value)
		require.NoError(t, d.Append(fromTape, m))
		for _, j := range d.root.missing {
			reread.Field(j).AppendNull()
		}
		r := reader{buf: value}
		require.Nil(t, r.fields(d.root, reread, nil))
		d.meta.Append(reread, m)
	}
	a, b := fromTape.NewRecordBatch(), reread.NewRecordBatch()
	defer a.Release()
	defer b.Release()
	require.EqualValues(t, 3000, a.NumRows())
	require.True(t, array.RecordEqual(a, b), "the tape and the datum disagree")
}
