package jsonschema_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/codec/jsonschema"
	"github.com/floe-dev/floe/evolution"
)

const (
	draft07 = `"$schema": "http://json-schema.org/draft-07/schema#"`
	draft12 = `"$schema": "https://json-schema.org/draft/2020-12/schema"`
)

var dialects = []string{draft07, draft12}

func dialectName(d string) string {
	if d == draft07 {
		return "draft-07"
	}
	return "2020-12"
}

// columns renders a table schema compactly: "name: type", a "!" marking a
// required (non-nullable) column, element or map value.
func columns(fields []arrow.Field) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Name + ": " + typeString(f.Type, f.Nullable)
	}
	return strings.Join(parts, ", ")
}

func typeString(dt arrow.DataType, nullable bool) string {
	var s string
	switch t := dt.(type) {
	case *arrow.StructType:
		s = "struct<" + columns(t.Fields()) + ">"
	case *arrow.ListType:
		s = "list<" + typeString(t.Elem(), t.ElemField().Nullable) + ">"
	case *arrow.MapType:
		s = "map<" + typeString(t.KeyType(), true) + ", " + typeString(t.ItemType(), t.ItemField().Nullable) + ">"
	default:
		s = evolution.TypeName(dt)
	}
	if !nullable {
		s += "!"
	}
	return s
}

func mapSchema(t *testing.T, text string, refs map[string]string) string {
	t.Helper()
	s, err := jsonschema.ArrowSchema(text, refs)
	require.NoError(t, err)
	return columns(s.Fields())
}

// Each property schema maps to one column type, the same in draft-07 and
// 2020-12.
func TestPropertyTypes(t *testing.T) {
	for _, tc := range []struct{ name, schema, want string }{
		{"boolean", `{"type": "boolean"}`, "boolean"},
		{"integer", `{"type": "integer"}`, "long"},
		{"connect int8", `{"type": "integer", "connect.type": "int8"}`, "int"},
		{"connect int16", `{"type": "integer", "connect.type": "int16"}`, "int"},
		{"connect int32", `{"type": "integer", "connect.type": "int32"}`, "int"},
		{"connect int64", `{"type": "integer", "connect.type": "int64"}`, "long"},
		{"number", `{"type": "number"}`, "double"},
		{"connect float32", `{"type": "number", "connect.type": "float32"}`, "float"},
		{"connect float64", `{"type": "number", "connect.type": "float64"}`, "double"},
		{"integer or number", `{"type": ["integer", "number"]}`, "double"},
		{"string", `{"type": "string"}`, "string"},
		{"date-time", `{"type": "string", "format": "date-time"}`, "timestamptz"},
		{"date", `{"type": "string", "format": "date"}`, "date"},
		{"time stays text", `{"type": "string", "format": "time"}`, "string"},
		{"uuid", `{"type": "string", "format": "uuid"}`, "uuid"},
		{"email", `{"type": "string", "format": "email"}`, "string"},
		{"uri", `{"type": "string", "format": "uri"}`, "string"},
		{"base64", `{"type": "string", "contentEncoding": "base64"}`, "binary"},
		{"connect bytes", `{"type": "string", "connect.type": "bytes"}`, "binary"},
		{"other encoding", `{"type": "string", "contentEncoding": "quoted-printable"}`, "string"},
		{"constraints ignored", `{"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^a"}`, "string"},
		{"enum of strings", `{"enum": ["red", "green"]}`, "string"},
		{"typed enum", `{"type": "string", "enum": ["red", "green"]}`, "string"},
		{"enum of integers", `{"enum": [1, 2, 3.0]}`, "long"},
		{"enum of numbers", `{"enum": [1, 2.5]}`, "double"},
		{"enum with null", `{"enum": ["a", null]}`, "string"},
		{"const string", `{"const": "v1"}`, "string"},
		{"const integer", `{"const": 1e3}`, "long"},
		{"const number", `{"const": 1.5}`, "double"},
		{"const boolean", `{"const": true}`, "boolean"},
		{"decimal", `{"type": "number", "title": "org.apache.kafka.connect.data.Decimal", "connect.version": 1,
			"connect.type": "bytes", "connect.parameters": {"scale": "2", "connect.decimal.precision": "12"}}`, "decimal(12,2)"},
		{"decimal default precision", `{"type": "number", "title": "org.apache.kafka.connect.data.Decimal",
			"connect.parameters": {"scale": "4"}}`, "decimal(38,4)"},
		{"connect timestamp", `{"type": "integer", "title": "org.apache.kafka.connect.data.Timestamp", "connect.type": "int64"}`, "timestamptz"},
		{"connect date", `{"type": "integer", "title": "org.apache.kafka.connect.data.Date", "connect.type": "int32"}`, "date"},
		{"connect time stays int", `{"type": "integer", "title": "org.apache.kafka.connect.data.Time", "connect.type": "int32"}`, "int"},
		{"array", `{"type": "array", "items": {"type": "string"}}`, "list<string!>"},
		{"array of optional", `{"type": "array", "items": {"type": ["string", "null"]}}`, "list<string>"},
		{"array of objects", `{"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}},
			"required": ["sku"]}}`, "list<struct<sku: string!>!>"},
		{"map", `{"type": "object", "additionalProperties": {"type": "integer"}}`, "map<string, long!>"},
		{"map of optional", `{"type": "object", "additionalProperties": {"type": ["integer", "null"]}}`, "map<string, long>"},
		{"pattern map", `{"type": "object", "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}`,
			"map<string, string!>"},
		{"object", `{"type": "object", "properties": {"zip": {"type": "string"}, "city": {"type": "string"}}, "required": ["zip"]}`,
			"struct<zip: string!, city: string>"},
		{"object without type", `{"properties": {"zip": {"type": "string"}}}`, "struct<zip: string>"},
		{"array without type", `{"items": {"type": "boolean"}}`, "list<boolean!>"},
		{"extra properties not stored", `{"type": "object", "properties": {"a": {"type": "string"}},
			"additionalProperties": {"type": "integer"}}`, "struct<a: string>"},
		{"single oneOf", `{"oneOf": [{"type": "string"}]}`, "string"},
	} {
		for _, dialect := range dialects {
			t.Run(tc.name+"/"+dialectName(dialect), func(t *testing.T) {
				schema := `{` + dialect + `, "type": "object", "properties": {"p": ` + tc.schema + `}, "required": ["p"]}`
				got := mapSchema(t, schema, nil)
				// every case but the ones admitting null is required
				require.Equal(t, "p: "+tc.want, strings.TrimSuffix(got, "!"), schema)
			})
		}
	}
}

func TestNullability(t *testing.T) {
	for _, tc := range []struct{ name, schema, want string }{
		{"required", `{"properties": {"a": {"type": "string"}}, "required": ["a"]}`, "a: string!"},
		{"not required", `{"properties": {"a": {"type": "string"}}}`, "a: string"},
		{"required, admits null", `{"properties": {"a": {"type": ["string", "null"]}}, "required": ["a"]}`, "a: string"},
		{"null first", `{"properties": {"a": {"type": ["null", "string"]}}, "required": ["a"]}`, "a: string"},
		{"oneOf null first", `{"properties": {"a": {"oneOf": [{"type": "null"}, {"type": "integer"}]}}, "required": ["a"]}`, "a: long"},
		{"oneOf null last", `{"properties": {"a": {"oneOf": [{"type": "integer"}, {"type": "null"}]}}, "required": ["a"]}`, "a: long"},
		{"anyOf", `{"properties": {"a": {"anyOf": [{"type": "null"}, {"type": "string", "format": "date"}]}}, "required": ["a"]}`, "a: date"},
		{"oneOf null and object", `{"properties": {"a": {"oneOf": [{"type": "null"}, {"type": "object",
			"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]}}, "required": ["a"]}`, "a: struct<b: boolean!>"},
		{"enum with null", `{"properties": {"a": {"enum": ["x", null]}}, "required": ["a"]}`, "a: string"},
		{"required but not a property", `{"properties": {"a": {"type": "string"}}, "required": ["b"]}`, "a: string"},
		{"no type admits null", `{"properties": {"a": {"properties": {"b": {"type": "string"}}}}, "required": ["a"]}`,
			"a: struct<b: string>"},
		{"oneOf null beside a type", `{"properties": {"a": {"type": ["string", "null"], "oneOf": [{"type": "null"},
			{"maxLength": 3}]}}, "required": ["a"]}`, "a: string"},
		{"null schema by $ref", `{"definitions": {"nothing": {"type": "null"}}, "properties": {"a": {"oneOf": [
			{"$ref": "#/definitions/nothing"}, {"type": "string"}]}}, "required": ["a"]}`, "a: string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, mapSchema(t, tc.schema, nil))
		})
	}
}

func TestPropertyOrderIsKept(t *testing.T) {
	// Sorted, or in Go map order, these would come out differently.
	schema := `{"type": "object", "properties": {
		"zeta": {"type": "string"}, "alpha": {"type": "string"}, "mid": {"type": "object",
			"properties": {"z": {"type": "integer"}, "a": {"type": "integer"}, "k": {"type": "integer"}}},
		"beta": {"type": "string"}, "Alpha": {"type": "string"}, "1": {"type": "string"}}}`
	require.Equal(t, "zeta: string, alpha: string, mid: struct<z: long, a: long, k: long>, beta: string, Alpha: string, 1: string",
		mapSchema(t, schema, nil))
}

func TestNestedObjects(t *testing.T) {
	schema := `{` + draft12 + `, "type": "object", "required": ["order"], "properties": {
		"order": {"type": "object", "required": ["id", "lines"], "properties": {
			"id": {"type": "string", "format": "uuid"},
			"customer": {"type": "object", "properties": {
				"address": {"type": "object", "required": ["zip"], "properties": {"zip": {"type": "string"}}}}},
			"lines": {"type": "array", "items": {"type": "object", "required": ["qty"], "properties": {
				"qty": {"type": "integer"}, "attrs": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}}}`
	require.Equal(t, "order: struct<id: uuid!, customer: struct<address: struct<zip: string!>>, "+
		"lines: list<struct<qty: long!, attrs: map<string, string!>>!>!>!", mapSchema(t, schema, nil))
}

func TestRefs(t *testing.T) {
	customer := `{"$schema": "http://json-schema.org/draft-07/schema#", "$id": "https://acme.com/schemas/customer.json",
		"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"},
		"address": {"$ref": "#/definitions/Address"}},
		"definitions": {"Address": {"type": "object", "properties": {"zip": {"type": "string"}}}}}`
	for _, tc := range []struct {
		name, schema string
		refs         map[string]string
		want         string
	}{
		{"definitions", `{` + draft07 + `, "definitions": {"Money": {"type": "number"}},
			"properties": {"a": {"$ref": "#/definitions/Money"}, "b": {"$ref": "#/definitions/Money"}}, "required": ["a"]}`,
			nil, "a: double!, b: double"},
		{"$defs", `{` + draft12 + `, "$defs": {"Tag": {"type": "string"}},
			"properties": {"tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}}}}`, nil, "tags: list<string!>"},
		{"a property by pointer", `{"properties": {"a": {"type": "string", "format": "date"}, "b": {"$ref": "#/properties/a"}}}`,
			nil, "a: date, b: date"},
		{"escaped pointer", `{"definitions": {"a/b": {"type": "boolean"}, "c~d": {"type": "integer"}},
			"properties": {"x": {"$ref": "#/definitions/a~1b"}, "y": {"$ref": "#/definitions/c~0d"}}}`, nil, "x: boolean, y: long"},
		{"a chain of refs", `{"definitions": {"A": {"$ref": "#/definitions/B"}, "B": {"$ref": "#/definitions/C"}, "C": {"type": "integer"}},
			"properties": {"x": {"$ref": "#/definitions/A"}}}`, nil, "x: long"},
		{"the root by ref", `{"$ref": "#/definitions/Order", "definitions": {"Order": {"type": "object",
			"properties": {"id": {"type": "integer"}}}}}`, nil, "id: long"},
		{"anchor", `{` + draft12 + `, "$defs": {"x": {"$anchor": "money", "type": "number"}},
			"properties": {"a": {"$ref": "#money"}}}`, nil, "a: double"},
		{"draft-07 id anchor", `{` + draft07 + `, "definitions": {"x": {"$id": "#money", "type": "number"}},
			"properties": {"a": {"$ref": "#money"}}}`, nil, "a: double"},
		{"another document", `{"properties": {"customer": {"$ref": "customer.json"}}}`,
			map[string]string{"customer.json": customer},
			"customer: struct<id: long!, address: struct<zip: string>>"},
		{"another document's definition", `{"properties": {"addr": {"$ref": "customer.json#/definitions/Address"}}}`,
			map[string]string{"customer.json": customer}, "addr: struct<zip: string>"},
		{"by URL name", `{"properties": {"c": {"$ref": "https://acme.com/schemas/customer.json"}}}`,
			map[string]string{"https://acme.com/schemas/customer.json": customer}, "c: struct<id: long!, address: struct<zip: string>>"},
		{"by $id", `{"properties": {"c": {"$ref": "https://acme.com/schemas/customer.json#/properties/id"}}}`,
			map[string]string{"cust": customer}, "c: long"},
		{"relative to $id", `{"$id": "https://acme.com/schemas/order.json", "properties": {"c": {"$ref": "customer.json#/properties/id"}}}`,
			map[string]string{"unrelated-name": customer}, "c: long"},
		{"itself by $id", `{"$id": "https://acme.com/schemas/order.json", "definitions": {"n": {"type": "integer"}},
			"properties": {"c": {"$ref": "https://acme.com/schemas/order.json#/definitions/n"}}}`, nil, "c: long"},
		{"shared, not recursive", `{"definitions": {"Addr": {"type": "object", "properties": {"zip": {"type": "string"}}},
			"Person": {"type": "object", "properties": {"home": {"$ref": "#/definitions/Addr"}, "work": {"$ref": "#/definitions/Addr"}}}},
			"properties": {"a": {"$ref": "#/definitions/Person"}, "b": {"$ref": "#/definitions/Person"}}}`, nil,
			"a: struct<home: struct<zip: string>, work: struct<zip: string>>, b: struct<home: struct<zip: string>, work: struct<zip: string>>"},
		{"draft-07 ignores $ref siblings", `{` + draft07 + `, "definitions": {"S": {"type": "string"}},
			"properties": {"a": {"$ref": "#/definitions/S", "type": "integer", "format": "date"}}}`, nil, "a: string"},
		{"2020-12 applies $ref siblings", `{` + draft12 + `, "$defs": {"S": {"type": "string"}},
			"properties": {"a": {"$ref": "#/$defs/S", "format": "date"}}}`, nil, "a: date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, mapSchema(t, tc.schema, tc.refs))
		})
	}
}

func TestAllOf(t *testing.T) {
	for _, tc := range []struct{ name, schema, want string }{
		{"objects merge, referenced first", `{` + draft07 + `, "definitions": {"Base": {"type": "object",
			"properties": {"id": {"type": "integer"}, "at": {"type": "string"}}, "required": ["id"]}},
			"type": "object", "properties": {"note": {"type": "string"}},
			"allOf": [{"$ref": "#/definitions/Base"}, {"properties": {"at": {"format": "date-time"}}, "required": ["at"]}]}`,
			"id: long!, at: timestamptz!, note: string"},
		{"2020-12 $ref siblings merge", `{` + draft12 + `, "$defs": {"Base": {"type": "object", "properties": {"id": {"type": "integer"}}}},
			"$ref": "#/$defs/Base", "properties": {"extra": {"type": "boolean"}}, "required": ["id"]}`,
			"id: long!, extra: boolean"},
		{"diamond", `{"definitions": {"Base": {"properties": {"id": {"type": "integer"}}},
			"Mid": {"allOf": [{"$ref": "#/definitions/Base"}, {"properties": {"m": {"type": "string"}}}]}},
			"allOf": [{"$ref": "#/definitions/Base"}, {"$ref": "#/definitions/Mid"}], "type": "object"}`, "id: long, m: string"},
		{"a scalar and its constraints", `{"properties": {"a": {"allOf": [{"type": "string"}, {"maxLength": 4}, {"format": "uuid"}]}}}`,
			"a: uuid"},
		{"null only where every part admits it", `{"properties": {"a": {"allOf": [{"type": ["string", "null"]}, {"type": "string"}]},
			"b": {"allOf": [{"type": ["string", "null"]}, {"oneOf": [{"type": "null"}, {"type": "string"}]}]}}, "required": ["a", "b"]}`,
			"a: string!, b: string"},
		{"integer within number", `{"properties": {"a": {"allOf": [{"type": "number"}, {"type": "integer"}]}}}`, "a: long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, mapSchema(t, tc.schema, nil))
		})
	}
}

// A schema as Confluent's Kafka Connect JSON Schema converter writes it.
func TestKafkaConnectSchema(t *testing.T) {
	schema := `{"type": "object", "title": "Order", "properties": {
		"id": {"type": "integer", "connect.index": 0, "connect.type": "int64"},
		"qty": {"type": "integer", "connect.index": 1, "connect.type": "int16"},
		"price": {"connect.index": 2, "oneOf": [{"type": "null"}, {"type": "number", "title": "org.apache.kafka.connect.data.Decimal",
			"connect.version": 1, "connect.type": "bytes", "connect.parameters": {"scale": "2", "connect.decimal.precision": "10"}}]},
		"ratio": {"type": "number", "connect.index": 3, "connect.type": "float32"},
		"payload": {"type": "string", "connect.index": 4, "connect.type": "bytes"},
		"at": {"type": "integer", "connect.index": 5, "title": "org.apache.kafka.connect.data.Timestamp", "connect.version": 1, "connect.type": "int64"},
		"labels": {"type": "object", "connect.index": 6, "connect.type": "map", "additionalProperties": {"type": "string"}},
		"scores": {"type": "array", "connect.index": 7, "connect.type": "map", "items": {"type": "object", "properties": {
			"key": {"type": "integer", "connect.index": 0, "connect.type": "int32"},
			"value": {"type": "number", "connect.index": 1, "connect.type": "float64"}}}},
		"customer": {"connect.index": 8, "oneOf": [{"type": "null"}, {"type": "object", "title": "Customer",
			"properties": {"name": {"type": "string", "connect.index": 0}}}]}}}`
	require.Equal(t, "id: long, qty: int, price: decimal(10,2), ratio: float, payload: binary, at: timestamptz, "+
		"labels: map<string, string!>, scores: list<struct<key: int, value: double>!>, customer: struct<name: string>",
		mapSchema(t, schema, nil))
}

// Every refusal names the JSON pointer of the offending schema and why.
func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, schema string
		refs         map[string]string
		want         []string
	}{
		{"object without properties", `{"properties": {"o": {"type": "object"}}}`, nil,
			[]string{"#/properties/o: an object without properties has no column type; give it properties, or additionalProperties with a schema"}},
		{"object with additionalProperties true", `{"properties": {"o": {"type": "object", "additionalProperties": true}}}`, nil,
			[]string{"#/properties/o: an object without properties"}},
		{"empty properties", `{"properties": {"o": {"type": "object", "properties": {}}}}`, nil,
			[]string{"#/properties/o: an object without properties"}},
		{"any: true", `{"properties": {"ok": {"type": "string"}, "any": true}}`, nil,
			[]string{"#/properties/any: the schema admits any value and has no column type"}},
		{"any: {}", `{"properties": {"any": {"description": "whatever"}}}`, nil,
			[]string{"#/properties/any: the schema admits any value"}},
		{"any map value", `{"properties": {"m": {"additionalProperties": {}}}}`, nil,
			[]string{"#/properties/m/additionalProperties: the schema admits any value"}},
		{"any element", `{"properties": {"l": {"type": "array", "items": true}}}`, nil,
			[]string{"#/properties/l/items: the schema admits any value"}},
		{"false", `{"properties": {"never": false}}`, nil, []string{"#/properties/never: the schema false admits no value"}},
		{"tuple items", `{` + draft07 + `, "properties": {"t": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}}}`, nil,
			[]string{"#/properties/t/items: items as an array (a tuple) has no column type"}},
		{"prefixItems", `{` + draft12 + `, "properties": {"t": {"type": "array", "prefixItems": [{"type": "string"}]}}}`, nil,
			[]string{"#/properties/t/prefixItems: items as an array (a tuple)"}},
		{"array without items", `{"properties": {"a": {"type": "array"}}}`, nil,
			[]string{"#/properties/a: an array without items has no element type"}},
		{"oneOf of two types", `{"properties": {"u": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}}`, nil,
			[]string{"#/properties/u/oneOf: oneOf of 2 schemas has no column type"}},
		{"anyOf of three", `{"properties": {"u": {"anyOf": [{"type": "null"}, {"type": "string"}, {"type": "integer"}]}}}`, nil,
			[]string{"#/properties/u/anyOf: anyOf of 3 schemas has no column type"}},
		{"allOf conflict", `{"properties": {"c": {"allOf": [{"type": "string"}, {"type": "integer"}]}}}`, nil,
			[]string{"#/properties/c: no value is valid: the types its schemas allow do not meet"}},
		{"allOf property conflict", `{"allOf": [{"properties": {"a": {"type": "string"}}}, {"properties": {"a": {"type": "boolean"}}}]}`, nil,
			[]string{"#/allOf/0/properties/a: no value is valid"}},
		{"format conflict", `{"properties": {"c": {"allOf": [{"type": "string", "format": "date"}, {"format": "uuid"}]}}}`, nil,
			[]string{`#/properties/c/allOf/1: format "uuid" conflicts with format "date" at #/properties/c/allOf/0`}},
		{"not", `{"properties": {"n": {"type": "string", "not": {"const": "x"}}}}`, nil,
			[]string{"#/properties/n/not: not has no column type"}},
		{"if", `{"properties": {"n": {"type": "string", "if": {"const": "x"}, "then": {"maxLength": 1}}}}`, nil,
			[]string{"#/properties/n/if: if has no column type"}},
		{"schema dependency", `{"properties": {"n": {"type": "string"}}, "dependencies": {"n": {"required": ["m"]}}}`, nil,
			[]string{"#/dependencies/n: a schema dependency has no column type"}},
		{"two types", `{"properties": {"t": {"type": ["string", "integer", "null"]}}}`, nil,
			[]string{`#/properties/t: type ["string", "integer"] has no single column type`}},
		{"null only", `{"properties": {"n": {"type": "null"}}}`, nil,
			[]string{"#/properties/n: the schema admits only null"}},
		{"const null", `{"properties": {"n": {"const": null}}}`, nil, []string{"#/properties/n: the schema admits only null"}},
		{"unknown type", `{"properties": {"n": {"type": "text"}}}`, nil,
			[]string{"#/properties/n: type must be a JSON Schema type name"}},
		{"object and array keywords", `{"properties": {"n": {"properties": {"a": {"type": "string"}}, "items": {"type": "string"}}}}`, nil,
			[]string{"#/properties/n: object and array keywords without a type"}},
		{"recursive", `{` + draft07 + `, "definitions": {"Node": {"type": "object", "properties": {"v": {"type": "integer"},
			"next": {"$ref": "#/definitions/Node"}}}}, "properties": {"head": {"$ref": "#/definitions/Node"}}}`, nil,
			[]string{`#/definitions/Node/properties/next (column "head.next"): $ref "#/definitions/Node": #/definitions/Node contains itself`}},
		{"recursive through an optional", `{` + draft12 + `, "$defs": {"Tree": {"type": "object", "properties": {
			"kids": {"type": "array", "items": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/Tree"}]}}}}},
			"$ref": "#/$defs/Tree"}`, nil,
			[]string{`#/$defs/Tree/properties/kids/items/oneOf/1 (column "kids.element"): $ref "#/$defs/Tree": #/$defs/Tree contains itself`}},
		{"the root itself", `{"properties": {"self": {"$ref": "#"}}}`, nil,
			[]string{`#/properties/self: $ref "#": # contains itself`}},
		{"a ref loop", `{"definitions": {"A": {"allOf": [{"$ref": "#/definitions/B"}]}, "B": {"$ref": "#/definitions/A"}},
			"properties": {"x": {"$ref": "#/definitions/A"}}}`, nil,
			[]string{`#/definitions/B (column "x"): $ref "#/definitions/A": #/definitions/A contains itself`}},
		{"recursive across documents", `{"properties": {"p": {"$ref": "person.json"}}}`,
			map[string]string{"person.json": `{"type": "object", "properties": {"friend": {"$ref": "person.json"}}}`},
			[]string{`person.json#/properties/friend (column "p.friend"): $ref "person.json": person.json# contains itself`}},
		{"unknown reference", `{"properties": {"c": {"$ref": "customer.json"}}}`, map[string]string{"a.json": `{}`, "b.json": `{}`},
			[]string{`#/properties/c: $ref "customer.json": no schema reference of that name or $id (references: a.json, b.json)`}},
		{"missing pointer", `{"properties": {"c": {"$ref": "#/definitions/Nope"}}}`, nil,
			[]string{`#/properties/c: $ref "#/definitions/Nope": #/definitions/Nope does not exist`}},
		{"a reference's own error", `{"properties": {"c": {"$ref": "c.json"}}}`,
			map[string]string{"c.json": `{"type": "object", "properties": {"x": {"type": "object"}}}`},
			[]string{`c.json#/properties/x (column "c.x"): an object without properties`}},
		{"reference not JSON", `{"properties": {"c": {"$ref": "c.json"}}}`, map[string]string{"c.json": `{"type": `},
			[]string{`json schema reference "c.json": not valid JSON`}},
		{"decimal too wide", `{"properties": {"d": {"type": "number", "title": "org.apache.kafka.connect.data.Decimal",
			"connect.parameters": {"scale": "2", "connect.decimal.precision": "40"}}}}`, nil,
			[]string{"#/properties/d: decimal(40,2) has no column type"}},
		{"decimal without scale", `{"properties": {"d": {"type": "number", "title": "org.apache.kafka.connect.data.Decimal"}}}`, nil,
			[]string{"#/properties/d: org.apache.kafka.connect.data.Decimal needs connect.parameters.scale"}},
		{"decimal bad scale", `{"properties": {"d": {"type": "number", "title": "org.apache.kafka.connect.data.Decimal",
			"connect.parameters": {"scale": "two"}}}}`, nil, []string{"#/properties/d/connect.parameters/scale: not an integer"}},
		{"two patterns", `{"properties": {"m": {"type": "object", "patternProperties": {"^a": {"type": "string"}, "^b": {"type": "string"}}}}}`,
			nil, []string{"#/properties/m: patternProperties with 2 patterns has no column type"}},
		{"pattern beside additionalProperties", `{"properties": {"m": {"type": "object", "patternProperties": {"^a": {"type": "string"}},
			"additionalProperties": {"type": "integer"}}}}`, nil, []string{"#/properties/m: patternProperties beside an additionalProperties schema"}},
		{"empty property name", `{"properties": {"": {"type": "string"}}}`, nil,
			[]string{"#/properties/: a property with an empty name has no column name"}},
		{"duplicate property", `{"properties": {"a": {"type": "string"}, "a": {"type": "integer"}}}`, nil,
			[]string{`json schema #/properties: key "a" appears twice`}},
		{"nested duplicate", `{"properties": {"o": {"properties": {"a": {"type": "string"}, "a": {"type": "integer"}}}}}`, nil,
			[]string{`#/properties/o/properties: key "a" appears twice`}},
		{"root not an object schema", `{"type": "string"}`, nil, []string{"json schema #: the root must be an object with properties"}},
		{"root a map", `{"type": "object", "additionalProperties": {"type": "string"}}`, nil,
			[]string{"json schema #: the root must be an object with properties"}},
		{"root boolean", `true`, nil, []string{"json schema #: the root must be an object schema"}},
		{"root without properties", `{"type": "object"}`, nil, []string{"#: an object without properties"}},
		{"not JSON", `{"type": "object",}`, nil, []string{"json schema: not valid JSON"}},
		{"data after", `{"type": "object"} {}`, nil, []string{"json schema: not valid JSON: data after the schema"}},
		{"too deep", `{"properties": {"a": ` + strings.Repeat(`{"type": "array", "items": `, 1200) + `{"type": "string"}` +
			strings.Repeat(`}`, 1200) + `}}`, nil, []string{"nested more than 1000 levels deep"}},
		{"schema not an object", `{"properties": {"a": "string"}}`, nil,
			[]string{"#/properties/a: a schema must be an object or a boolean"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := jsonschema.ArrowSchema(tc.schema, tc.refs)
			require.Error(t, err)
			for _, want := range tc.want {
				require.ErrorContains(t, err, want)
			}
		})
	}
}

// Definitions that each use the next one twice would expand to 2^40
// subschemas; the mapping gives up with an error instead.
func TestExponentialSchemaRefused(t *testing.T) {
	var defs []string
	for i := range 40 {
		defs = append(defs, `"d`+strconv.Itoa(i)+`": {"allOf": [{"$ref": "#/definitions/d`+strconv.Itoa(i+1)+`"}, {"$ref": "#/definitions/d`+strconv.Itoa(i+1)+`"}]}`)
	}
	defs = append(defs, `"d40": {"type": "string"}`)
	schema := `{"definitions": {` + strings.Join(defs, ", ") + `}, "properties": {"a": {"$ref": "#/definitions/d0"}}}`
	_, err := jsonschema.ArrowSchema(schema, nil)
	require.ErrorContains(t, err, "expands to more than 100000 subschemas")
}
