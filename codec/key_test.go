package codec

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"
)

func keyConfig(format string) Config {
	cfg := DefaultConfig()
	cfg.KeyFormat = format
	cfg.Metadata = MetadataColumns{Key: "_key"}
	return cfg
}

// keyStruct is the key column struct<id: long (required), region: string>.
func keyStruct(required bool) iceberg.NestedField {
	st := &iceberg.StructType{FieldList: []iceberg.NestedField{
		req(11, "id", iceberg.PrimitiveTypes.Int64), opt(12, "region", iceberg.PrimitiveTypes.String),
	}}
	if required {
		return req(10, "_key", st)
	}
	return opt(10, "_key", st)
}

// key appends a record with value {"v": "x"} and the given key.
func (h *harness) key(key []byte) error {
	h.t.Helper()
	m := testMessage(h.offset, []byte(`{"v": "x"}`))
	m.Key = key
	return h.appendMessage(m)
}

func rows(t *testing.T, h *harness) []string {
	return strings.Split(strings.TrimSpace(toJSON(t, h.record())), "\n")
}

// key-format string: the key as text, a key that is not UTF-8 a bad
// record naming the column.
func TestStringKeys(t *testing.T) {
	h := newHarness(t, keyConfig(KeyString), opt(1, "v", iceberg.PrimitiveTypes.String), opt(2, "_key", iceberg.PrimitiveTypes.String))
	require.NoError(t, h.key([]byte("order-1")))
	require.NoError(t, h.key(nil))
	err := h.key([]byte{0xff, 'a'})
	de := requireDecodeError(t, err, KindInvalidValue, "_key")
	require.Contains(t, de.Detail, "not valid UTF-8")
	got := rows(t, h)
	require.JSONEq(t, `{"v": "x", "_key": "order-1"}`, got[0])
	require.JSONEq(t, `{"v": "x", "_key": null}`, got[1])
}

// key-format json: the key decoded into the column's type like a value —
// plain, in the Connect converter's schemas.enable form, or null — and
// each way a key can be bad named with the key column in its path.
func TestJSONKeys(t *testing.T) {
	h := newHarness(t, keyConfig(KeyJSON), opt(1, "v", iceberg.PrimitiveTypes.String), keyStruct(false))
	for _, k := range []string{
		`{"id": 7, "region": "eu"}`,
		` {"schema": {"type": "struct", "fields": []}, "payload": {"region": "us", "id": 8}}`,
		`{"id": 9}`,
		`null`,
	} {
		require.NoError(t, h.key([]byte(k)), k)
	}
	require.NoError(t, h.key(nil))
	for _, tc := range []struct {
		key, field string
		kind       Kind
	}{
		{`{"id": "seven"}`, "_key.id", KindWrongType},
		{`{"region": "eu"}`, "_key.id", KindMissingRequired},
		{`{"id": 7`, "", KindMalformedJSON},
		{`{"id": 7} x`, "", KindMalformedJSON},
		{``, "", KindMalformedJSON},
		{`[1]`, "_key", KindWrongType},
		{`{"schema": {}, "payload": {"id": true}}`, "_key.payload.id", KindWrongType},
	} {
		de := requireDecodeError(t, h.key([]byte(tc.key)), tc.kind, tc.field)
		if tc.kind == KindMalformedJSON {
			require.Contains(t, de.Detail, "record key", tc.key)
		}
	}
	got := rows(t, h)
	require.Len(t, got, 5)
	require.JSONEq(t, `{"v": "x", "_key": {"id": 7, "region": "eu"}}`, got[0])
	require.JSONEq(t, `{"v": "x", "_key": {"id": 8, "region": "us"}}`, got[1])
	require.JSONEq(t, `{"v": "x", "_key": {"id": 9, "region": null}}`, got[2])
	require.JSONEq(t, `{"v": "x", "_key": null}`, got[3])
	require.JSONEq(t, `{"v": "x", "_key": null}`, got[4])
}

// A scalar key column takes a JSON scalar; a required one refuses a null
// key and a schemas.enable key whose payload is null.
func TestJSONScalarKeys(t *testing.T) {
	h := newHarness(t, keyConfig(KeyJSON), opt(1, "v", iceberg.PrimitiveTypes.String), req(2, "_key", iceberg.PrimitiveTypes.Int64))
	require.NoError(t, h.key([]byte(`42`)))
	require.NoError(t, h.key([]byte(`{"schema": {"type": "int64"}, "payload": 43}`)))
	requireDecodeError(t, h.key(nil), KindMissingRequired, "_key")
	requireDecodeError(t, h.key([]byte(`null`)), KindMissingRequired, "_key")
	requireDecodeError(t, h.key([]byte(`{"schema": {"type": "int64"}, "payload": null}`)), KindMissingRequired, "_key.payload")
	got := rows(t, h)
	require.Len(t, got, 2)
	require.JSONEq(t, `{"v": "x", "_key": 42}`, got[0])
	require.JSONEq(t, `{"v": "x", "_key": 43}`, got[1])
}

// A key struct with a field named schema is never taken for the
// schemas.enable form.
func TestJSONKeyWithASchemaField(t *testing.T) {
	st := &iceberg.StructType{FieldList: []iceberg.NestedField{opt(11, "schema", iceberg.PrimitiveTypes.String), opt(12, "payload", iceberg.PrimitiveTypes.String)}}
	h := newHarness(t, keyConfig(KeyJSON), opt(1, "v", iceberg.PrimitiveTypes.String), opt(2, "_key", st))
	require.NoError(t, h.key([]byte(`{"schema": "s", "payload": "p"}`)))
	require.JSONEq(t, `{"v": "x", "_key": {"schema": "s", "payload": "p"}}`, rows(t, h)[0])
}

// The decoders of other formats fill the key column through Metadata,
// with the same checks.
func TestMetadataDecodesKeys(t *testing.T) {
	cfg := keyConfig(KeyJSON)
	cfg.Format = "avro"
	schema := arrowSchema(t, opt(1, "v", iceberg.PrimitiveTypes.String), keyStruct(true))
	meta, err := cfg.MetadataOf(schema)
	require.NoError(t, err)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer b.Release()
	m := testMessage(1, []byte("x"))
	m.Key = []byte(`{"id": "x"}`)
	ferr := meta.Check(m)
	require.NotNil(t, ferr)
	require.Equal(t, "_key.id", ferr.DecodeError(m).Field)
	m.Key = []byte(`{"id": 5}`)
	require.Nil(t, meta.Check(m))
	b.Field(0).AppendNull()
	meta.Append(b, m)
	r := b.NewRecordBatch()
	defer r.Release()
	require.JSONEq(t, `{"v": null, "_key": {"id": 5, "region": null}}`, strings.TrimSpace(toJSON(t, r)))
}

func TestKeyFormatRefusals(t *testing.T) {
	for _, tc := range []struct {
		format, want string
		noColumn     bool
	}{
		{format: "xml", want: `key-format: must be binary, string, json, avro, protobuf or json-schema, got "xml"`},
		{format: "json", noColumn: true, want: "key-format: json is set but no column receives the key; set metadata-columns.key"},
	} {
		cfg := keyConfig(tc.format)
		if tc.noColumn {
			cfg.Metadata.Key = ""
		}
		require.EqualError(t, cfg.Validate(), tc.want)
	}
	require.NoError(t, keyConfig(KeyBinary).Validate())

	// The column's type must take the format's keys.
	for _, tc := range []struct {
		format string
		col    iceberg.Type
		want   string
	}{
		{KeyString, iceberg.PrimitiveTypes.Binary, `metadata column "_key": must be string for key-format string, got binary`},
		{"avro", iceberg.PrimitiveTypes.Binary, `metadata column "_key": must be a struct for key-format avro, got binary`},
		{KeyBinary, iceberg.PrimitiveTypes.String, `metadata column "_key": must be binary for key-format binary, got string`},
		{"", iceberg.PrimitiveTypes.String, `metadata column "_key": must be binary for key-format binary, got string`},
	} {
		cfg := keyConfig(tc.format)
		_, err := New(arrowSchema(t, opt(1, "v", iceberg.PrimitiveTypes.String), opt(2, "_key", tc.col)), cfg)
		require.EqualError(t, err, tc.want)
	}
}
