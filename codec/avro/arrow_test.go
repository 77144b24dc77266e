package avro

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/committer"
)

// A table created from a writer schema (ArrowSchema → the table's
// columns → the Iceberg schema → its Arrow form, as floe creates tables)
// decodes every field of that schema, with the types the mapping names.
func TestArrowSchemaMakesATableThatDecodesEveryField(t *testing.T) {
	writer := allTypes[:strings.Index(allTypes, ",\n\t{\"name\": \"skipme\"")] + "\n]}"
	as, err := ArrowSchema(writer)
	require.NoError(t, err)
	cols, err := committer.ColumnsOf(as.Fields())
	require.NoError(t, err)
	types := map[string]string{}
	required := map[string]bool{}
	for _, c := range cols {
		types[c.Name], required[c.Name] = c.Type, c.Required
	}
	for name, want := range map[string]string{
		"b": "boolean", "i": "int", "l": "long", "f": "float", "d": "double", "s": "string", "by": "binary",
		"fx": "fixed[4]", "color": "string", "dec": "decimal(12, 2)", "decf": "decimal(18, 4)", "day": "date",
		"tms": "time", "tus": "time", "tsms": "timestamptz", "tsus": "timestamptz", "ltsms": "timestamp",
		"id": "uuid", "id_fixed": "uuid", "tags": "list", "attrs": "map", "addr": "struct", "items": "list", "opt_s": "string",
	} {
		require.Equal(t, want, types[name], "column %s", name)
	}
	require.True(t, required["b"], "a plain Avro field is required")
	require.False(t, required["opt_s"], "a union with null is optional")

	sc, err := committer.BuildSchema(cols)
	require.NoError(t, err)
	tableArrow, err := table.SchemaToArrowSchema(sc, nil, true, false)
	require.NoError(t, err)
	h := newHarnessArrow(t, writer, avroConfig(), tableArrow)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 50 {
		require.NoError(t, h.appendMessage(testMessage(int64(i), encode(t, writer, randomEvent(r)))), "event %d", i)
	}
	require.Len(t, h.rows(), 50)
}

func TestArrowSchemaRefusals(t *testing.T) {
	for _, tc := range []struct{ writer, want string }{
		{`{"type":"record","name":"R","fields":[{"name":"u","type":["int","string"]}]}`, `field "u": union ["int", "string"] has no column type`},
		{`{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}`, `field "next": record Node refers to itself`},
		{`{"type":"record","name":"R","fields":[{"name":"n","type":"null"}]}`, `field "n": null has no column type`},
		{`{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":40,"scale":2}}]}`, `field "d": bytes (decimal(40,2)): a table decimal holds at most 38 digits`},
		{`"string"`, "the top level must be a record"},
	} {
		_, err := ArrowSchema(tc.writer)
		require.ErrorContains(t, err, tc.want)
	}
}
