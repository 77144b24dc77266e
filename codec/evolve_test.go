package codec

import (
	"errors"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/evolution"
)

func evolving(policies ...string) Config {
	cfg := DefaultConfig()
	cfg.SchemaEvolution = policies
	return cfg
}

func requireChange(t testing.TB, err error) *evolution.Change {
	t.Helper()
	var sc *evolution.Change
	require.True(t, errors.As(err, &sc), "want a *evolution.Change, got %v", err)
	return sc
}

func TestAddColumnsInfersTypes(t *testing.T) {
	h := newHarness(t, evolving(EvolveAddColumns), req(1, "id", iceberg.PrimitiveTypes.Int64))
	require.NoError(t, h.append(`{"id":1}`))
	err := h.append(`{"id":2,"name":"x","ok":true,"n":7,"f":1.5,"big":1e400,"nothing":null,"empty":[],"tags":["a",null,"b"],` +
		`"mixed":[1,"a"],"user":{"age":3,"x":null},"nums":[1,2.5]}`)
	sc := requireChange(t, err)
	require.Equal(t, "events", sc.Topic)
	require.Equal(t, int64(1), sc.Offset)
	var got []string
	for _, c := range sc.Add {
		require.Empty(t, c.Parent)
		require.True(t, c.Nullable, "new columns are optional")
		got = append(got, c.Name+" "+evolution.TypeName(c.Type))
	}
	// 1e400 is no double, [1, 2.5] mixes long and double, [1,"a"] mixes
	// types, null and [] say nothing: those stay unknown (ignored).
	require.Equal(t, []string{"f double", "n long", "name string", "ok boolean", "tags list<string>", "user struct<age: long>"}, got)
	require.Contains(t, err.Error(), "record events[3]@1 needs a schema change: add f double, add n long")

	// Nothing new (a metadata-like or known key): a row as usual.
	require.NoError(t, h.append(`{"id":3,"nothing":null}`))
}

func TestUnknownFieldsIgnoredWithoutEvolution(t *testing.T) {
	h := newHarness(t, DefaultConfig(), req(1, "id", iceberg.PrimitiveTypes.Int64))
	require.NoError(t, h.append(`{"id":1,"name":"x"}`))
	h2 := newHarness(t, evolving(EvolveWiden), req(1, "id", iceberg.PrimitiveTypes.Int64))
	require.NoError(t, h2.append(`{"id":1,"name":"x"}`), "widen alone does not add columns")
}

func TestWiden(t *testing.T) {
	h := newHarness(t, evolving(EvolveWiden),
		req(1, "id", iceberg.PrimitiveTypes.Int32), opt(2, "score", iceberg.PrimitiveTypes.Float32),
		opt(3, "user", &iceberg.StructType{FieldList: []iceberg.NestedField{opt(4, "age", iceberg.PrimitiveTypes.Int32)}}),
		opt(5, "counts", &iceberg.ListType{ElementID: 6, Element: iceberg.PrimitiveTypes.Int32}))
	require.NoError(t, h.append(`{"id":2147483647,"score":1.5}`))

	sc := requireChange(t, h.append(`{"id":2147483648}`))
	require.Equal(t, []evolution.Widening{{Path: []string{"id"}, To: arrow.PrimitiveTypes.Int64}}, sc.Widen)
	sc = requireChange(t, h.append(`{"id":1,"score":1e300}`))
	require.Equal(t, []evolution.Widening{{Path: []string{"score"}, To: arrow.PrimitiveTypes.Float64}}, sc.Widen)
	sc = requireChange(t, h.append(`{"id":1,"user":{"age":9999999999}}`))
	require.Equal(t, []evolution.Widening{{Path: []string{"user", "age"}, To: arrow.PrimitiveTypes.Int64}}, sc.Widen)

	// Too large even for the wider type, or inside a list: a bad record.
	requireDecodeError(t, h.append(`{"id":99999999999999999999}`), KindOutOfRange, "id")
	requireDecodeError(t, h.append(`{"id":1,"counts":[9999999999]}`), KindOutOfRange, "counts[0]")

	// Without widen: out of range as before.
	h2 := newHarness(t, DefaultConfig(), req(1, "id", iceberg.PrimitiveTypes.Int32))
	requireDecodeError(t, h2.append(`{"id":2147483648}`), KindOutOfRange, "id")
}

func TestSchemaEvolutionConfig(t *testing.T) {
	cfg := evolving("none", "widen")
	require.ErrorContains(t, cfg.Validate(), "schema-evolution[0]: none cannot be combined with other changes")
	cfg = evolving("add-column")
	require.ErrorContains(t, cfg.Validate(), `schema-evolution[0]: must be none, add-columns or widen, got "add-column"`)
	require.NoError(t, evolving("none").Validate())
	require.NoError(t, evolving(EvolveAddColumns, EvolveWiden).Validate())
}

func TestAddColumnsInsideStructs(t *testing.T) {
	user := &iceberg.StructType{FieldList: []iceberg.NestedField{
		opt(3, "name", iceberg.PrimitiveTypes.String),
		opt(4, "address", &iceberg.StructType{FieldList: []iceberg.NestedField{opt(5, "city", iceberg.PrimitiveTypes.String)}}),
	}}
	items := &iceberg.ListType{ElementID: 7, Element: &iceberg.StructType{FieldList: []iceberg.NestedField{opt(8, "sku", iceberg.PrimitiveTypes.String)}}}
	h := newHarness(t, evolving(EvolveAddColumns), req(1, "id", iceberg.PrimitiveTypes.Int64), opt(2, "user", user), opt(6, "items", items))
	sc := requireChange(t, h.append(`{"id":1,"user":{"name":"a","nick":"x","address":{"city":"c","zip":12345}},"items":[{"sku":"s","qty":2}]}`))
	var got []string
	for _, c := range sc.Add {
		require.NotEmpty(t, c.Parent, "no new column")
		got = append(got, fmt.Sprint(c.Parent)+" "+c.Name+" "+evolution.TypeName(c.Type))
	}
	// Structs inside lists are not evolved: items[].qty stays unknown.
	require.ElementsMatch(t, []string{"[user] nick string", "[user address] zip long"}, got)
	require.Contains(t, sc.Error(), "add user.address.zip long")
	require.NoError(t, h.append(`{"id":2,"items":[{"sku":"s","qty":2}]}`), "nothing to add: a row")
}
