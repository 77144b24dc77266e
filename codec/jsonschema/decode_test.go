package jsonschema_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/jsonschema"
	"github.com/floe-dev/floe/committer"
)

// tableFor creates the table schema floe would create from a JSON Schema
// (ArrowSchema → the table's columns → the Iceberg schema, with field IDs →
// its Arrow form) and a JSON decoder for it.
func tableFor(t *testing.T, schema string, refs map[string]string) (*codec.Decoder, *array.RecordBuilder) {
	t.Helper()
	as, err := jsonschema.ArrowSchema(schema, refs)
	require.NoError(t, err)
	cols, err := committer.ColumnsOf(as.Fields())
	require.NoError(t, err)
	sc, err := committer.BuildSchema(cols)
	require.NoError(t, err)
	tableArrow, err := table.SchemaToArrowSchema(sc, nil, true, false)
	require.NoError(t, err)
	d, err := codec.New(tableArrow, codec.DefaultConfig())
	require.NoError(t, err)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	b := array.NewRecordBuilder(mem, tableArrow)
	t.Cleanup(func() {
		b.Release()
		mem.AssertSize(t, 0)
	})
	return d, b
}

// decodeAll appends every value and renders the rows as JSON lines.
func decodeAll(t *testing.T, d *codec.Decoder, b *array.RecordBuilder, values ...string) []string {
	t.Helper()
	for i, v := range values {
		require.NoError(t, d.Append(b, &codec.Message{Topic: "t", Offset: int64(i), Value: []byte(v)}), "value %d: %s", i, v)
	}
	r := b.NewRecordBatch()
	defer r.Release()
	var buf bytes.Buffer
	require.NoError(t, array.RecordToJSON(r, &buf))
	return strings.Split(strings.TrimSpace(buf.String()), "\n")
}

// For every type of the mapping, the table created from the schema is
// filled by the JSON decoder from values valid for the schema, with the
// values they hold.
func TestTablesDecodeValidValues(t *testing.T) {
	prop := func(p string) string { return `{"type": "object", "properties": {"v": ` + p + `}, "required": ["v"]}` }
	for _, tc := range []struct {
		name, schema string
		values       []string // each {"v": …}
		want         []string // each row as JSON
	}{
		{"boolean", prop(`{"type": "boolean"}`), []string{`true`, `false`}, []string{`true`, `false`}},
		{"integer", prop(`{"type": "integer"}`), []string{`-9007199254740993`, `2.0`, `1e3`}, []string{`-9007199254740993`, `2`, `1000`}},
		{"int32", prop(`{"type": "integer", "connect.type": "int32"}`), []string{`2147483647`}, []string{`2147483647`}},
		{"number", prop(`{"type": "number"}`), []string{`1.5`, `7`, `-2e-3`}, []string{`1.5`, `7`, `-0.002`}},
		{"float32", prop(`{"type": "number", "connect.type": "float32"}`), []string{`0.25`}, []string{`0.25`}},
		{"integer or number", prop(`{"type": ["integer", "number"]}`), []string{`3`, `3.5`}, []string{`3`, `3.5`}},
		{"decimal", prop(`{"type": "number", "title": "org.apache.kafka.connect.data.Decimal",
			"connect.parameters": {"scale": "2", "connect.decimal.precision": "12"}}`),
			[]string{`1234567890.12`, `-0.5`, `7`}, []string{`"1234567890.12"`, `"-0.5"`, `"7"`}},
		{"connect timestamp", prop(`{"type": "integer", "title": "org.apache.kafka.connect.data.Timestamp", "connect.type": "int64"}`),
			[]string{`1700000000123`}, []string{`"2023-11-14T22:13:20.123Z"`}},
		{"connect date", prop(`{"type": "integer", "title": "org.apache.kafka.connect.data.Date", "connect.type": "int32"}`),
			[]string{`20000`}, []string{`"2024-10-04"`}},
		{"string", prop(`{"type": "string"}`), []string{`"héllo"`, `"a\"b"`}, []string{`"héllo"`, `"a\"b"`}},
		{"date-time", prop(`{"type": "string", "format": "date-time"}`),
			[]string{`"2026-11-26T10:00:00Z"`, `"2026-11-26T12:00:00.123456+02:00"`, `"2026-11-26t10:00:00.5z"`},
			[]string{`"2026-11-26T10:00:00Z"`, `"2026-11-26T10:00:00.123456Z"`, `"2026-11-26T10:00:00.5Z"`}},
		{"date", prop(`{"type": "string", "format": "date"}`), []string{`"2024-02-29"`}, []string{`"2024-02-29"`}},
		{"time", prop(`{"type": "string", "format": "time"}`), []string{`"10:00:00Z"`, `"23:59:59.5+02:00"`},
			[]string{`"10:00:00Z"`, `"23:59:59.5+02:00"`}},
		{"uuid", prop(`{"type": "string", "format": "uuid"}`), []string{`"123e4567-e89b-12d3-a456-426614174000"`},
			[]string{`"123e4567-e89b-12d3-a456-426614174000"`}},
		{"base64", prop(`{"type": "string", "contentEncoding": "base64"}`), []string{`"aGVsbG8="`}, []string{`"aGVsbG8="`}},
		{"connect bytes", prop(`{"type": "string", "connect.type": "bytes"}`), []string{`"AAE="`}, []string{`"AAE="`}},
		{"enum", prop(`{"enum": ["red", "green"]}`), []string{`"green"`}, []string{`"green"`}},
		{"const", prop(`{"const": 42}`), []string{`42`}, []string{`42`}},
		{"optional", prop(`{"oneOf": [{"type": "null"}, {"type": "string", "format": "date"}]}`),
			[]string{`"2026-01-02"`, `null`}, []string{`"2026-01-02"`, `null`}},
		{"list", prop(`{"type": "array", "items": {"type": "integer"}}`), []string{`[1, 2]`, `[]`}, []string{`[1,2]`, `[]`}},
		{"list of optional", prop(`{"type": "array", "items": {"type": ["string", "null"]}}`), []string{`["a", null]`},
			[]string{`["a",null]`}},
		{"map", prop(`{"type": "object", "additionalProperties": {"type": "number"}}`), []string{`{"a": 1.5, "b": 2}`},
			[]string{`[{"key":"a","value":1.5},{"key":"b","value":2}]`}},
		{"pattern map", prop(`{"type": "object", "patternProperties": {"^x-": {"type": "boolean"}}, "additionalProperties": false}`),
			[]string{`{"x-a": true}`}, []string{`[{"key":"x-a","value":true}]`}},
		{"struct", prop(`{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"},
			"tags": {"type": "array", "items": {"type": "string"}}, "at": {"type": ["string", "null"], "format": "date-time"}}}`),
			[]string{`{"id": 1, "tags": ["x"], "at": "2026-01-01T00:00:00Z"}`, `{"id": 2}`},
			[]string{`{"at":"2026-01-01T00:00:00Z","id":1,"tags":["x"]}`, `{"at":null,"id":2,"tags":null}`}},
		{"allOf", prop(`{"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}},
			{"properties": {"b": {"type": "integer"}}, "required": ["a", "b"]}]}`),
			[]string{`{"a": "x", "b": 2}`}, []string{`{"a":"x","b":2}`}},
	} {
		for _, dialect := range dialects {
			t.Run(tc.name+"/"+dialectName(dialect), func(t *testing.T) {
				schema := strings.Replace(tc.schema, `{`, `{`+dialect+`, `, 1)
				d, b := tableFor(t, schema, nil)
				values := make([]string, len(tc.values))
				want := make([]string, len(tc.want))
				for i, v := range tc.values {
					values[i] = `{"v": ` + v + `}`
					want[i] = `{"v":` + tc.want[i] + `}`
				}
				got := decodeAll(t, d, b, values...)
				require.Len(t, got, len(want))
				for i := range want {
					require.JSONEq(t, want[i], got[i], "row %d", i)
				}
			})
		}
	}
}

// A whole schema with references decodes a record into the columns it
// names, in order, required where it says.
func TestTableFromSchemaWithReferences(t *testing.T) {
	customer := `{"$id": "https://acme.com/schemas/customer.json", "type": "object", "required": ["id"],
		"properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}}}`
	schema := `{` + draft12 + `, "$id": "https://acme.com/schemas/order.json", "type": "object",
		"required": ["id", "customer", "lines"],
		"properties": {
			"id": {"type": "integer"},
			"customer": {"$ref": "customer.json"},
			"lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}},
			"placed": {"type": "string", "format": "date-time"}},
		"$defs": {"Line": {"type": "object", "required": ["sku", "qty"], "properties": {
			"sku": {"type": "string"}, "qty": {"type": "integer", "connect.type": "int32"},
			"price": {"type": "number", "title": "org.apache.kafka.connect.data.Decimal", "connect.parameters": {"scale": "2"}}}}}}`
	d, b := tableFor(t, schema, map[string]string{"customer.json": customer})
	require.Equal(t, "id: long!, customer: struct<id: uuid!, name: string>!, "+
		"lines: list<struct<sku: string!, qty: int!, price: decimal(38,2)>!>!, placed: timestamptz", columns(d.Schema().Fields()))
	got := decodeAll(t, d, b, `{"id": 7, "customer": {"id": "123e4567-e89b-12d3-a456-426614174000", "name": "Ada"},
		"lines": [{"sku": "a", "qty": 2, "price": 9.99}, {"sku": "b", "qty": 1}], "placed": "2026-11-26T10:00:00Z"}`)
	require.JSONEq(t, `{"id": 7, "customer": {"id": "123e4567-e89b-12d3-a456-426614174000", "name": "Ada"},
		"lines": [{"sku": "a", "qty": 2, "price": "9.99"}, {"sku": "b", "qty": 1, "price": null}],
		"placed": "2026-11-26T10:00:00Z"}`, got[0])
}
