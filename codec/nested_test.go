package codec

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"
)

// nestedFields is a schema with every nested shape.
func nestedFields() []iceberg.NestedField {
	p := iceberg.PrimitiveTypes
	return []iceberg.NestedField{
		req(1, "id", p.Int64),
		opt(2, "user", &iceberg.StructType{FieldList: []iceberg.NestedField{
			req(3, "name", p.String),
			opt(4, "address", &iceberg.StructType{FieldList: []iceberg.NestedField{
				opt(5, "zip", p.String),
				opt(6, "city", p.String),
			}}),
		}}),
		opt(7, "items", &iceberg.ListType{ElementID: 8, ElementRequired: true, Element: &iceberg.StructType{
			FieldList: []iceberg.NestedField{
				req(9, "sku", p.String),
				req(10, "qty", p.Int32),
			},
		}}),
		opt(11, "attrs", &iceberg.MapType{KeyID: 12, KeyType: p.String, ValueID: 13, ValueType: p.String}),
		opt(14, "counts", &iceberg.MapType{KeyID: 15, KeyType: p.Int32, ValueID: 16, ValueType: p.Int64, ValueRequired: true}),
		opt(17, "matrix", &iceberg.ListType{ElementID: 18, Element: &iceberg.ListType{
			ElementID: 19, Element: p.Int32,
		}}),
		opt(20, "groups", &iceberg.MapType{KeyID: 21, KeyType: p.String, ValueID: 22, ValueType: &iceberg.ListType{
			ElementID: 23, Element: &iceberg.MapType{KeyID: 24, KeyType: p.String, ValueID: 25, ValueType: p.Bool},
		}}),
	}
}

func TestNested(t *testing.T) {
	h := newHarness(t, DefaultConfig(), nestedFields()...)
	require.NoError(t, h.append(`{
		"id": 1,
		"user": {"name": "ann", "address": {"zip": "75001", "unknown": [1, {"x": null}]}},
		"items": [{"sku": "a", "qty": 2}, {"qty": 3, "sku": "b"}],
		"attrs": {"env": "prod", "tier": null, "esc\u00e9": "x"},
		"counts": {"7": 70, "-1": 1e1},
		"matrix": [[1, 2], [], null, [null, 3]],
		"groups": {"g": [{"on": true}, {}], "h": []}
	}`))
	require.NoError(t, h.append(`{"id": 2, "user": null, "items": [], "attrs": {}, "matrix": [[]]}`))
	got := toJSON(t, h.record())
	lines := strings.Split(strings.TrimSpace(got), "\n")
	require.Len(t, lines, 2)
	require.JSONEq(t, `{
		"id": 1,
		"user": {"name": "ann", "address": {"zip": "75001", "city": null}},
		"items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 3}],
		"attrs": [{"key": "env", "value": "prod"}, {"key": "tier", "value": null}, {"key": "escé", "value": "x"}],
		"counts": [{"key": 7, "value": 70}, {"key": -1, "value": 10}],
		"matrix": [[1, 2], [], null, [null, 3]],
		"groups": [{"key": "g", "value": [[{"key": "on", "value": true}], []]}, {"key": "h", "value": []}]
	}`, lines[0])
	require.JSONEq(t, `{
		"id": 2, "user": null, "items": [], "attrs": [], "counts": null, "matrix": [[]], "groups": null
	}`, lines[1])
}

func TestNestedErrors(t *testing.T) {
	manyKeys := func(dup bool) string {
		var b strings.Builder
		b.WriteString(`{"id": 1, "attrs": {`)
		for i := range 40 {
			fmt.Fprintf(&b, `"k%d": "v",`, i)
		}
		if dup {
			b.WriteString(`"k5": "again"}}`)
		} else {
			b.WriteString(`"last": "v"}}`)
		}
		return b.String()
	}
	tests := []struct {
		name  string
		json  string
		kind  Kind
		field string
	}{
		{"deep struct", `{"id": 1, "user": {"name": "a", "address": {"zip": 75001}}}`, KindWrongType, "user.address.zip"},
		{"struct in list", `{"id": 1, "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 1e10}]}`, KindOutOfRange, "items[1].qty"},
		{"missing in list", `{"id": 1, "items": [{"sku": "a"}]}`, KindMissingRequired, "items[0].qty"},
		{"map value", `{"id": 1, "attrs": {"env": 1}}`, KindWrongType, `attrs["env"]`},
		{"map key", `{"id": 1, "counts": {"x": 1}}`, KindInvalidValue, `counts["x"]`},
		{"map key out of range", `{"id": 1, "counts": {"3000000000": 1}}`, KindOutOfRange, `counts["3000000000"]`},
		{"list in list", `{"id": 1, "matrix": [[1], [true]]}`, KindWrongType, "matrix[1][0]"},
		{"map in list in map", `{"id": 1, "groups": {"g": [{"on": "yes"}]}}`, KindWrongType, `groups["g"][0]["on"]`},
		{"object for list", `{"id": 1, "items": {}}`, KindWrongType, "items"},
		{"array for struct", `{"id": 1, "user": []}`, KindWrongType, "user"},
		{"array for map", `{"id": 1, "attrs": []}`, KindWrongType, "attrs"},
		{"duplicate field", `{"id": 1, "id": 2}`, KindInvalidValue, "id"},
		{"duplicate nested field", `{"id": 1, "user": {"name": "a", "name": "b"}}`, KindInvalidValue, "user.name"},
		{"duplicate map key", `{"id": 1, "attrs": {"a": "1", "a": "2"}}`, KindInvalidValue, `attrs["a"]`},
		{"duplicate int map key", `{"id": 1, "counts": {"1": 1, "1e0": 2}}`, KindInvalidValue, `counts["1e0"]`},
		{"duplicate key in a large map", manyKeys(true), KindInvalidValue, `attrs["k5"]`},
		{"invalid UTF-8 in an unknown field", "{\"id\": 1, \"extra\": {\"a\": \"\xff\"}}", KindInvalidValue, "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, DefaultConfig(), nestedFields()...)
			requireDecodeError(t, h.append(tt.json), tt.kind, tt.field)
		})
	}
	t.Run("large map without duplicates", func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), nestedFields()...)
		require.NoError(t, h.append(manyKeys(false)))
	})
	t.Run("map key detail", func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), nestedFields()...)
		err := h.append(`{"id": 1, "counts": {"x": 1}}`)
		require.EqualError(t, err, `decode events[3]@0: field "counts[\"x\"]": invalid_value: key: not a JSON number`)
	})
}

// TestMapKeyTypes checks keys decoded from their text for non-string key
// types.
func TestMapKeyTypes(t *testing.T) {
	p := iceberg.PrimitiveTypes
	tests := []struct {
		key  iceberg.Type
		json string
		want string
	}{
		{p.Int64, `{"-5": 1, "12": 2}`, `[{"key": -5, "value": 1}, {"key": 12, "value": 2}]`},
		{p.Bool, `{"true": 1, "false": 2}`, `[{"key": true, "value": 1}, {"key": false, "value": 2}]`},
		{p.Float64, `{"1.5": 1, "NaN": 2}`, `[{"key": 1.5, "value": 1}, {"key": "NaN", "value": 2}]`},
		{p.Date, `{"2026-11-26": 1}`, `[{"key": "2026-11-26", "value": 1}]`},
		{p.UUID, `{"123e4567-e89b-12d3-a456-426614174000": 1}`, `[{"key": "123e4567-e89b-12d3-a456-426614174000", "value": 1}]`},
	}
	for _, tt := range tests {
		t.Run(tt.key.String(), func(t *testing.T) {
			h := newHarness(t, DefaultConfig(),
				opt(1, "m", &iceberg.MapType{KeyID: 2, KeyType: tt.key, ValueID: 3, ValueType: p.Int32}))
			require.NoError(t, h.append(`{"m": `+tt.json+`}`))
			require.JSONEq(t, `{"m": `+tt.want+`}`, toJSON(t, h.record()))
		})
	}
}

// TestLargeNestedMaps: large maps inside large maps keep their own sets of
// seen keys.
func TestLargeNestedMaps(t *testing.T) {
	p := iceberg.PrimitiveTypes
	fields := []iceberg.NestedField{opt(1, "mm", &iceberg.MapType{KeyID: 2, KeyType: p.String, ValueID: 3,
		ValueType: &iceberg.MapType{KeyID: 4, KeyType: p.String, ValueID: 5, ValueType: p.Int32}})}
	object := func(n int, value func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`"k%d": %s`, i, value(i))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	inner := object(40, func(i int) string { return fmt.Sprint(i) })
	h := newHarness(t, DefaultConfig(), fields...)
	require.NoError(t, h.append(`{"mm": `+object(40, func(int) string { return inner })+`}`))

	dupOuter := `{"mm": ` + strings.TrimSuffix(object(40, func(int) string { return inner }), "}") + `, "k39": {}}}`
	requireDecodeError(t, h.append(dupOuter), KindInvalidValue, `mm["k39"]`)
}
