package committer

import (
	"encoding/json"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
)

func TestBuildSchemaPrimitiveTypes(t *testing.T) {
	tests := []struct {
		typ  string
		want iceberg.Type
	}{
		{"boolean", iceberg.PrimitiveTypes.Bool},
		{"int", iceberg.PrimitiveTypes.Int32},
		{"long", iceberg.PrimitiveTypes.Int64},
		{"float", iceberg.PrimitiveTypes.Float32},
		{"double", iceberg.PrimitiveTypes.Float64},
		{"decimal(10,2)", iceberg.DecimalTypeOf(10, 2)},
		{"decimal( 38 , 0 )", iceberg.DecimalTypeOf(38, 0)},
		{"decimal(1, 1)", iceberg.DecimalTypeOf(1, 1)},
		{"date", iceberg.PrimitiveTypes.Date},
		{"time", iceberg.PrimitiveTypes.Time},
		{"timestamp", iceberg.PrimitiveTypes.Timestamp},
		{"timestamptz", iceberg.PrimitiveTypes.TimestampTz},
		{"string", iceberg.PrimitiveTypes.String},
		{" String ", iceberg.PrimitiveTypes.String},
		{"uuid", iceberg.PrimitiveTypes.UUID},
		{"binary", iceberg.PrimitiveTypes.Binary},
		{"fixed[16]", iceberg.FixedTypeOf(16)},
		{"fixed[ 3 ]", iceberg.FixedTypeOf(3)},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			sc, err := BuildSchema([]Column{{Name: "c", Type: tt.typ, Required: true, Doc: "a column"}})
			require.NoError(t, err)
			f := sc.Field(0)
			require.Equal(t, 1, f.ID)
			require.Equal(t, "c", f.Name)
			require.True(t, f.Required)
			require.Equal(t, "a column", f.Doc)
			require.Truef(t, f.Type.Equals(tt.want), "got %s, want %s", f.Type, tt.want)
		})
	}
}

func TestBuildSchemaNested(t *testing.T) {
	cols := []Column{
		{Name: "id", Type: "long", Required: true},
		{Name: "user", Type: "struct", Fields: []Column{
			{Name: "name", Type: "string"},
			{Name: "address", Type: "struct", Required: true, Fields: []Column{
				{Name: "zip", Type: "string"},
			}},
		}},
		{Name: "tags", Type: "list<string>"},
		{Name: "attrs", Type: "map< string , long >"},
		{Name: "points", Type: "list", Element: &Column{Type: "struct", Required: true, Fields: []Column{
			{Name: "x", Type: "double", Required: true},
		}}},
		{Name: "index", Type: "map", Key: &Column{Name: "key", Type: "string"}, Value: &Column{Type: "list<int>", Required: true}},
		{Name: "deep", Type: "list<map<string, list<decimal(9, 3)>>>"},
	}
	sc, err := BuildSchema(cols)
	require.NoError(t, err)

	want := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		iceberg.NestedField{ID: 2, Name: "user", Type: &iceberg.StructType{FieldList: []iceberg.NestedField{
			{ID: 3, Name: "name", Type: iceberg.PrimitiveTypes.String},
			{ID: 4, Name: "address", Required: true, Type: &iceberg.StructType{FieldList: []iceberg.NestedField{
				{ID: 5, Name: "zip", Type: iceberg.PrimitiveTypes.String},
			}}},
		}}},
		iceberg.NestedField{ID: 6, Name: "tags", Type: &iceberg.ListType{ElementID: 7, Element: iceberg.PrimitiveTypes.String}},
		iceberg.NestedField{ID: 8, Name: "attrs", Type: &iceberg.MapType{
			KeyID: 9, KeyType: iceberg.PrimitiveTypes.String, ValueID: 10, ValueType: iceberg.PrimitiveTypes.Int64,
		}},
		iceberg.NestedField{ID: 11, Name: "points", Type: &iceberg.ListType{ElementID: 12, ElementRequired: true,
			Element: &iceberg.StructType{FieldList: []iceberg.NestedField{
				{ID: 13, Name: "x", Type: iceberg.PrimitiveTypes.Float64, Required: true},
			}}}},
		iceberg.NestedField{ID: 14, Name: "index", Type: &iceberg.MapType{
			KeyID: 15, KeyType: iceberg.PrimitiveTypes.String, ValueID: 16, ValueRequired: true,
			ValueType: &iceberg.ListType{ElementID: 17, Element: iceberg.PrimitiveTypes.Int32},
		}},
		iceberg.NestedField{ID: 18, Name: "deep", Type: &iceberg.ListType{ElementID: 19, Element: &iceberg.MapType{
			KeyID: 20, KeyType: iceberg.PrimitiveTypes.String, ValueID: 21,
			ValueType: &iceberg.ListType{ElementID: 22, Element: iceberg.DecimalTypeOf(9, 3)},
		}}},
	)
	require.Truef(t, sc.Equals(want), "got\n%s\nwant\n%s", sc, want)
	require.Equal(t, 22, sc.HighestFieldID())

	zip, ok := sc.FindFieldByName("user.address.zip")
	require.True(t, ok)
	require.Equal(t, 5, zip.ID)
}

// Creating a table reassigns field IDs with AssignFreshSchemaIDs; BuildSchema
// must already agree with it, so IDs seen before and after create match.
func TestBuildSchemaIDsMatchFreshAssignment(t *testing.T) {
	sc, err := BuildSchema([]Column{
		{Name: "a", Type: "map", Key: &Column{Type: "struct", Fields: []Column{{Name: "k1", Type: "int"}, {Name: "k2", Type: "string"}}},
			Value: &Column{Type: "struct", Fields: []Column{{Name: "v", Type: "list<map<int, string>>"}}}},
		{Name: "b", Type: "struct", Fields: []Column{
			{Name: "c", Type: "list", Element: &Column{Type: "struct", Fields: []Column{{Name: "d", Type: "long"}}}},
			{Name: "e", Type: "boolean"},
		}},
		{Name: "f", Type: "date"},
	})
	require.NoError(t, err)
	fresh, err := iceberg.AssignFreshSchemaIDs(sc, nil)
	require.NoError(t, err)
	require.Truef(t, sc.Equals(fresh), "got\n%s\nfresh\n%s", sc, fresh)
}

func TestBuildSchemaRoundTripUniqueIDs(t *testing.T) {
	sc, err := BuildSchema([]Column{
		{Name: "id", Type: "uuid", Required: true},
		{Name: "s", Type: "struct", Fields: []Column{
			{Name: "m", Type: "map<string, list<fixed[4]>>"},
			{Name: "l", Type: "list", Element: &Column{Type: "map", Key: &Column{Type: "long"}, Value: &Column{Type: "binary"}}},
		}},
		{Name: "ts", Type: "timestamptz"},
	})
	require.NoError(t, err)

	byID, err := iceberg.IndexByID(sc)
	require.NoError(t, err)
	require.Len(t, byID, sc.HighestFieldID(), "IDs must be 1..n without gaps or duplicates")
	for id := 1; id <= sc.HighestFieldID(); id++ {
		require.Contains(t, byID, id)
	}

	raw, err := json.Marshal(sc)
	require.NoError(t, err)
	var back iceberg.Schema
	require.NoError(t, json.Unmarshal(raw, &back))
	require.True(t, sc.Equals(&back), "JSON round trip changed the schema: %s", raw)
}

func TestBuildSchemaErrors(t *testing.T) {
	str := func(name string) Column { return Column{Name: name, Type: "string"} }
	tests := []struct {
		name    string
		cols    []Column
		wantErr string
	}{
		{"no columns", nil, "no columns"},
		{"unknown type", []Column{str("a"), {Name: "b", Type: "strng"}}, `column "b": unknown type "strng"`},
		{"unknown nested type", []Column{{Name: "user", Type: "struct", Fields: []Column{
			{Name: "address", Type: "struct", Fields: []Column{{Name: "zip", Type: "strng"}}},
		}}}, `column "user.address.zip": unknown type "strng"`},
		{"unknown inline type", []Column{{Name: "tags", Type: "list<strng>"}}, `column "tags": unknown type "strng" in "list<strng>"`},
		{"empty type", []Column{{Name: "a"}}, `column "a": type is empty`},
		{"empty name", []Column{str("a"), {Type: "int"}}, `column 1: name is empty`},
		{"empty nested name", []Column{{Name: "s", Type: "struct", Fields: []Column{{Type: "int"}}}}, `column "s": field 0: name is empty`},
		{"dotted name", []Column{str("a.b")}, `column "a.b": name must not contain "."`},
		{"spaced name", []Column{str(" a")}, `name has leading or trailing spaces`},
		{"duplicate", []Column{str("id"), str("ID")}, `column "ID": duplicate name`},
		{"duplicate nested", []Column{{Name: "s", Type: "struct", Fields: []Column{str("x"), str("X")}}}, `column "s.X": duplicate name`},
		{"struct without fields", []Column{{Name: "s", Type: "struct"}}, `column "s": struct needs fields`},
		{"fields on non-struct", []Column{{Name: "s", Type: "string", Fields: []Column{str("x")}}}, `column "s": fields are set but the type is string`},
		{"list without element", []Column{{Name: "l", Type: "list"}}, `column "l": list needs an element`},
		{"element on non-list", []Column{{Name: "l", Type: "string", Element: &Column{Type: "int"}}}, `column "l": element is set`},
		{"element and inline", []Column{{Name: "l", Type: "list<int>", Element: &Column{Type: "int"}}}, `column "l": element is set`},
		{"bad element", []Column{{Name: "l", Type: "list", Element: &Column{Type: "nope"}}}, `column "l.element": unknown type "nope"`},
		{"named element", []Column{{Name: "l", Type: "list", Element: &Column{Name: "item", Type: "int"}}}, `column "l.element": name must be empty or "element"`},
		{"map without value", []Column{{Name: "m", Type: "map", Key: &Column{Type: "string"}}}, `column "m": map needs a key and a value`},
		{"key on non-map", []Column{{Name: "m", Type: "list<int>", Key: &Column{Type: "string"}}}, `column "m": key/value are set`},
		{"bad map value", []Column{{Name: "m", Type: "map", Key: &Column{Type: "string"}, Value: &Column{Type: "struct"}}}, `column "m.value": struct needs fields`},
		{"nested plain list", []Column{{Name: "l", Type: "list<list>"}}, `column "l.element": a nested list needs its element type`},
		{"nested plain map", []Column{{Name: "m", Type: "list<map>"}}, `column "m.element": a nested map needs its key and value types`},
		{"inline struct", []Column{{Name: "l", Type: "list<struct>"}}, `column "l.element": struct cannot be written inline`},
		{"decimal precision", []Column{{Name: "d", Type: "decimal(39, 2)"}}, `decimal precision must be between 1 and 38, got 39`},
		{"decimal zero precision", []Column{{Name: "d", Type: "decimal(0, 0)"}}, `decimal precision must be between 1 and 38, got 0`},
		{"decimal scale", []Column{{Name: "d", Type: "decimal(5, 6)"}}, `decimal scale must be between 0 and the precision 5, got 6`},
		{"decimal no args", []Column{{Name: "d", Type: "decimal"}}, `decimal needs a precision and scale`},
		{"decimal bad number", []Column{{Name: "d", Type: "decimal(a, 2)"}}, `decimal precision must be a number, got "a"`},
		{"fixed zero", []Column{{Name: "f", Type: "fixed[0]"}}, `fixed length must be at least 1, got 0`},
		{"fixed no length", []Column{{Name: "f", Type: "fixed"}}, `fixed needs a length`},
		{"unclosed list", []Column{{Name: "l", Type: "list<int"}}, `expected '>' at the end`},
		{"map one arg", []Column{{Name: "m", Type: "map<int>"}}, `expected ','`},
		{"trailing junk", []Column{{Name: "a", Type: "int x"}}, `unexpected "x"`},
		{"timestamp_ns", []Column{{Name: "ts", Type: "timestamp_ns"}}, `column "ts": type timestamp_ns needs Iceberg format v3`},
		{"timestamptz_ns", []Column{{Name: "ts", Type: "list<timestamptz_ns>"}}, `column "ts.element": type timestamptz_ns needs Iceberg format v3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildSchema(tt.cols)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func partitionTestSchema(t testing.TB) *iceberg.Schema {
	t.Helper()
	sc, err := BuildSchema([]Column{
		{Name: "id", Type: "long", Required: true},
		{Name: "name", Type: "string"},
		{Name: "ts", Type: "timestamptz"},
		{Name: "local_ts", Type: "timestamp"},
		{Name: "d", Type: "date"},
		{Name: "amount", Type: "decimal(10, 2)"},
		{Name: "flag", Type: "boolean"},
		{Name: "ratio", Type: "double"},
		{Name: "user", Type: "struct", Fields: []Column{
			{Name: "country", Type: "string"},
			{Name: "geo", Type: "struct", Fields: []Column{{Name: "zip", Type: "int"}}},
		}},
		{Name: "tags", Type: "list<string>"},
		{Name: "attrs", Type: "map<string, string>"},
	})
	require.NoError(t, err)
	return sc
}

func TestBuildPartitionSpecTransforms(t *testing.T) {
	sc := partitionTestSchema(t)
	id := func(name string) int {
		f, ok := sc.FindFieldByName(name)
		require.True(t, ok, name)
		return f.ID
	}
	tests := []struct {
		entry     string
		wantName  string
		source    string
		transform iceberg.Transform
	}{
		{"name", "name", "name", iceberg.IdentityTransform{}},
		{" identity( name ) ", "name", "name", iceberg.IdentityTransform{}},
		{"flag", "flag", "flag", iceberg.IdentityTransform{}},
		{"user.country", "user.country", "user.country", iceberg.IdentityTransform{}},
		{"year(ts)", "ts_year", "ts", iceberg.YearTransform{}},
		{"month(d)", "d_month", "d", iceberg.MonthTransform{}},
		{"DAY(ts)", "ts_day", "ts", iceberg.DayTransform{}},
		{"day(d)", "d_day", "d", iceberg.DayTransform{}},
		{"hour(local_ts)", "local_ts_hour", "local_ts", iceberg.HourTransform{}},
		{"bucket(16, id)", "id_bucket_16", "id", iceberg.BucketTransform{NumBuckets: 16}},
		{"bucket(8,user.geo.zip)", "user.geo.zip_bucket_8", "user.geo.zip", iceberg.BucketTransform{NumBuckets: 8}},
		{"bucket(4, amount)", "amount_bucket_4", "amount", iceberg.BucketTransform{NumBuckets: 4}},
		{"truncate(4, name)", "name_trunc_4", "name", iceberg.TruncateTransform{Width: 4}},
		{"truncate(100, amount)", "amount_trunc_100", "amount", iceberg.TruncateTransform{Width: 100}},
		{"void(ratio)", "ratio_null", "ratio", iceberg.VoidTransform{}},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			spec, err := BuildPartitionSpec(sc, []string{tt.entry})
			require.NoError(t, err)
			require.Equal(t, 1, spec.NumFields())
			f := spec.Field(0)
			require.Equal(t, iceberg.PartitionDataIDStart, f.FieldID)
			require.Equal(t, tt.wantName, f.Name)
			require.Equal(t, id(tt.source), f.SourceID())
			require.Truef(t, f.Transform.Equals(tt.transform), "got %s, want %s", f.Transform, tt.transform)
		})
	}
}

func TestBuildPartitionSpecSeveralFields(t *testing.T) {
	sc := partitionTestSchema(t)
	spec, err := BuildPartitionSpec(sc, []string{"day(ts)", "bucket(16, id)", "user.country", "truncate(2, name)", "void(ts)"})
	require.NoError(t, err)
	require.Equal(t, 5, spec.NumFields())
	var names []string
	for i, f := range spec.Fields() {
		require.Equal(t, iceberg.PartitionDataIDStart+i, f.FieldID)
		names = append(names, f.Name)
	}
	require.Equal(t, []string{"ts_day", "id_bucket_16", "user.country", "name_trunc_2", "ts_null"}, names)
	require.Equal(t, iceberg.PartitionDataIDStart+4, spec.LastAssignedFieldID())

	empty, err := BuildPartitionSpec(sc, nil)
	require.NoError(t, err)
	require.True(t, empty.IsUnpartitioned())
}

func TestBuildPartitionSpecErrors(t *testing.T) {
	sc := partitionTestSchema(t)
	tests := []struct {
		fields  []string
		wantErr string
	}{
		{[]string{"day(name)"}, `partition-by[0] "day(name)": transform day cannot apply to string`},
		{[]string{"id", "hour(d)"}, `partition-by[1] "hour(d)": transform hour cannot apply to date`},
		{[]string{"year(id)"}, `transform year cannot apply to long`},
		{[]string{"truncate(4, ts)"}, `transform truncate cannot apply to timestamptz`},
		{[]string{"bucket(4, flag)"}, `transform bucket cannot apply to boolean`},
		{[]string{"bucket(4, ratio)"}, `transform bucket cannot apply to double`},
		{[]string{"user"}, `transform identity cannot apply to struct`},
		{[]string{"tags"}, `transform identity cannot apply to list`},
		{[]string{"tags.element"}, `partition-by[0] "tags.element": column tags is a list, not a struct`},
		{[]string{"attrs.key"}, `column attrs is a map, not a struct`},
		{[]string{"name.x"}, `column name is a string, not a struct`},
		{[]string{"nope"}, `partition-by[0] "nope": column nope not found`},
		{[]string{"user.nope"}, `column user.nope not found`},
		{[]string{"Name"}, `column Name not found`},
		{[]string{"bucket(0, id)"}, `bucket count must be a whole number > 0, got "0"`},
		{[]string{"bucket(-1, id)"}, `bucket count must be a whole number > 0, got "-1"`},
		{[]string{"truncate(x, name)"}, `truncate width must be a whole number > 0, got "x"`},
		{[]string{"bucket(id)"}, `bucket takes two arguments`},
		{[]string{"day(ts, d)"}, `day takes one column`},
		{[]string{"week(ts)"}, `unknown transform "week"`},
		{[]string{"day(ts"}, `missing ")"`},
		{[]string{"day()"}, `column is empty`},
		{[]string{""}, `partition-by[0] "": empty entry`},
		{[]string{"a,b"}, `want col or transform(col)`},
		{[]string{"id", "identity(id)"}, `partition-by[1] "identity(id)": duplicates partition-by[0] "id"`},
		{[]string{"bucket(4, id)", "bucket(4, id)"}, `duplicates partition-by[0]`},
		{[]string{"day(ts)", "hour(ts)"}, `partition-by[1] "hour(ts)": column ts already has a time transform in partition-by[0] "day(ts)"`},
	}
	for _, tt := range tests {
		t.Run(tt.wantErr, func(t *testing.T) {
			_, err := BuildPartitionSpec(sc, tt.fields)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// A bucket and a truncate of one column are different fields, and a
// partition field may not be named like an unrelated column.
func TestBuildPartitionSpecNameCollision(t *testing.T) {
	sc, err := BuildSchema([]Column{{Name: "ts", Type: "timestamp"}, {Name: "ts_day", Type: "int"}})
	require.NoError(t, err)
	_, err = BuildPartitionSpec(sc, []string{"day(ts)"})
	require.ErrorContains(t, err, `partition-by[0] "day(ts)": partition field name ts_day is taken by another column`)

	sc = partitionTestSchema(t)
	spec, err := BuildPartitionSpec(sc, []string{"bucket(4, name)", "truncate(4, name)", "name"})
	require.NoError(t, err)
	require.Equal(t, 3, spec.NumFields())
}

// ColumnsOf inverts the Arrow schema of a table floe creates: every column
// type, nested ones included, comes back as the columns it was built from.
func TestColumnsOfRoundTrip(t *testing.T) {
	cols := []Column{
		{Name: "b", Type: "boolean", Required: true}, {Name: "i", Type: "int"}, {Name: "l", Type: "long"},
		{Name: "f", Type: "float"}, {Name: "d", Type: "double"}, {Name: "dec", Type: "decimal(18, 4)"},
		{Name: "day", Type: "date"}, {Name: "t", Type: "time"}, {Name: "ts", Type: "timestamp"},
		{Name: "tz", Type: "timestamptz"}, {Name: "s", Type: "string"}, {Name: "u", Type: "uuid"},
		{Name: "bin", Type: "binary"}, {Name: "fx", Type: "fixed[16]"},
		{Name: "st", Type: "struct", Fields: []Column{{Name: "x", Type: "long", Required: true}, {Name: "y", Type: "string"}}},
		{Name: "li", Type: "list", Element: &Column{Name: "element", Type: "struct", Required: true,
			Fields: []Column{{Name: "sku", Type: "string"}}}},
		{Name: "m", Type: "map", Key: &Column{Name: "key", Type: "string", Required: true}, Value: &Column{Name: "value", Type: "decimal(10, 2)"}},
	}
	sc, err := BuildSchema(cols)
	require.NoError(t, err)
	as, err := table.SchemaToArrowSchema(sc, nil, true, false)
	require.NoError(t, err)
	got, err := ColumnsOf(as.Fields())
	require.NoError(t, err)
	require.Equal(t, cols, got)

	_, err = ColumnsOf([]arrow.Field{{Name: "ns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}}})
	require.ErrorContains(t, err, `column "ns": no table column type for Arrow type timestamp[ns] (floe's tables hold microseconds)`)
}
