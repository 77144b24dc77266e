package committer

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/apache/iceberg-go"
)

// BuildSchema turns declared columns into an Iceberg schema.
//
// Field IDs run from 1 in the order iceberg-go's AssignFreshSchemaIDs uses
// (depth first: a field, then what it contains; a map's key and value IDs
// before their contents). Creating a table reassigns IDs that way, so the
// schema BuildSchema returns has the same IDs as the table created from it.
//
// Names are compared case-insensitively for duplicates, since engines that
// resolve columns case-insensitively could not tell such columns apart. A
// name may not contain ".", which would make dotted paths (partition-by,
// error messages) ambiguous.
func BuildSchema(cols []Column) (*iceberg.Schema, error) {
	if len(cols) == 0 {
		return nil, errors.New("no columns")
	}
	var b schemaBuilder
	fields, err := b.structFields("", cols)
	if err != nil {
		return nil, err
	}
	return iceberg.NewSchema(0, fields...), nil
}

// schemaBuilder hands out field IDs while the column tree is walked.
type schemaBuilder struct{ lastID int }

func (b *schemaBuilder) nextID() int {
	b.lastID++
	return b.lastID
}

func (b *schemaBuilder) structFields(parent string, cols []Column) ([]iceberg.NestedField, error) {
	seen := make(map[string]string, len(cols))
	fields := make([]iceberg.NestedField, 0, len(cols))
	for i, c := range cols {
		if c.Name == "" {
			if parent == "" {
				return nil, fmt.Errorf("column %d: name is empty", i)
			}
			return nil, fmt.Errorf("column %q: field %d: name is empty", parent, i)
		}
		path := joinPath(parent, c.Name)
		if strings.Contains(c.Name, ".") {
			return nil, fmt.Errorf("column %q: name must not contain \".\"", path)
		}
		if c.Name != strings.TrimSpace(c.Name) {
			return nil, fmt.Errorf("column %q: name has leading or trailing spaces", path)
		}
		key := strings.ToLower(c.Name)
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("column %q: duplicate name (names are compared case-insensitively; see %q)",
				path, joinPath(parent, prev))
		}
		seen[key] = c.Name

		id := b.nextID()
		typ, err := b.columnType(path, c)
		if err != nil {
			return nil, err
		}
		fields = append(fields, iceberg.NestedField{ID: id, Name: c.Name, Type: typ, Required: c.Required, Doc: c.Doc})
	}
	return fields, nil
}

// columnType builds the type of column c, found at path.
func (b *schemaBuilder) columnType(path string, c Column) (iceberg.Type, error) {
	if strings.TrimSpace(c.Type) == "" {
		return nil, fmt.Errorf("column %q: type is empty", path)
	}
	spec, err := parseTypeSpec(c.Type)
	if err != nil {
		return nil, fmt.Errorf("column %q: %w", path, err)
	}
	inline := spec.elem != nil || spec.key != nil

	if len(c.Fields) > 0 && spec.kind != "struct" {
		return nil, fmt.Errorf("column %q: fields are set but the type is %s (only struct has fields)", path, c.Type)
	}
	if c.Element != nil && (spec.kind != "list" || inline) {
		return nil, fmt.Errorf("column %q: element is set but the type is %s (only a plain \"list\" takes an element)", path, c.Type)
	}
	if (c.Key != nil || c.Value != nil) && (spec.kind != "map" || inline) {
		return nil, fmt.Errorf("column %q: key/value are set but the type is %s (only a plain \"map\" takes key and value)", path, c.Type)
	}

	switch {
	case spec.kind == "struct":
		if len(c.Fields) == 0 {
			return nil, fmt.Errorf("column %q: struct needs fields", path)
		}
		fields, err := b.structFields(path, c.Fields)
		if err != nil {
			return nil, err
		}
		return &iceberg.StructType{FieldList: fields}, nil

	case spec.kind == "list" && !inline:
		if c.Element == nil {
			return nil, fmt.Errorf("column %q: list needs an element (or write the type as list<T>)", path)
		}
		elemPath := path + ".element"
		if err := checkChildName(elemPath, *c.Element, "element"); err != nil {
			return nil, err
		}
		id := b.nextID()
		elem, err := b.columnType(elemPath, *c.Element)
		if err != nil {
			return nil, err
		}
		return &iceberg.ListType{ElementID: id, Element: elem, ElementRequired: c.Element.Required}, nil

	case spec.kind == "map" && !inline:
		if c.Key == nil || c.Value == nil {
			return nil, fmt.Errorf("column %q: map needs a key and a value (or write the type as map<K, V>)", path)
		}
		keyPath, valuePath := path+".key", path+".value"
		if err := checkChildName(keyPath, *c.Key, "key"); err != nil {
			return nil, err
		}
		if err := checkChildName(valuePath, *c.Value, "value"); err != nil {
			return nil, err
		}
		keyID, valueID := b.nextID(), b.nextID()
		key, err := b.columnType(keyPath, *c.Key)
		if err != nil {
			return nil, err
		}
		value, err := b.columnType(valuePath, *c.Value)
		if err != nil {
			return nil, err
		}
		// Iceberg map keys are always required.
		return &iceberg.MapType{KeyID: keyID, KeyType: key, ValueID: valueID, ValueType: value, ValueRequired: c.Value.Required}, nil
	}
	return b.specType(path, spec)
}

// checkChildName accepts an element, key or value column with no name or
// with its canonical one: any other name suggests a misplaced column.
func checkChildName(path string, c Column, want string) error {
	if c.Name != "" && c.Name != want {
		return fmt.Errorf("column %q: name must be empty or %q, got %q", path, want, c.Name)
	}
	return nil
}

// specType builds a type written entirely in the type string. Elements and
// map values of inline types are optional.
func (b *schemaBuilder) specType(path string, s *typeSpec) (iceberg.Type, error) {
	switch s.kind {
	case "list":
		if s.elem == nil {
			return nil, fmt.Errorf("column %q: a nested list needs its element type, as in list<string>", path)
		}
		id := b.nextID()
		elem, err := b.specType(path+".element", s.elem)
		if err != nil {
			return nil, err
		}
		return &iceberg.ListType{ElementID: id, Element: elem}, nil
	case "map":
		if s.key == nil {
			return nil, fmt.Errorf("column %q: a nested map needs its key and value types, as in map<string, long>", path)
		}
		keyID, valueID := b.nextID(), b.nextID()
		key, err := b.specType(path+".key", s.key)
		if err != nil {
			return nil, err
		}
		value, err := b.specType(path+".value", s.value)
		if err != nil {
			return nil, err
		}
		return &iceberg.MapType{KeyID: keyID, KeyType: key, ValueID: valueID, ValueType: value}, nil
	case "struct":
		return nil, fmt.Errorf("column %q: struct cannot be written inline; declare it as a column with fields", path)
	case "decimal":
		return iceberg.DecimalTypeOf(s.precision, s.scale), nil
	case "fixed":
		return iceberg.FixedTypeOf(s.length), nil
	case "timestamp_ns", "timestamptz_ns":
		return nil, fmt.Errorf("column %q: type %s needs Iceberg format v3, but floe creates v2 tables "+
			"(iceberg-go cannot append data files to v3 tables); use %s", path, s.kind, strings.TrimSuffix(s.kind, "_ns"))
	}
	if t, ok := primitiveTypes[s.kind]; ok {
		return t, nil
	}
	// parseTypeSpec admits only known names.
	return nil, fmt.Errorf("column %q: unknown type %q", path, s.kind)
}

var primitiveTypes = map[string]iceberg.Type{
	"boolean":     iceberg.PrimitiveTypes.Bool,
	"int":         iceberg.PrimitiveTypes.Int32,
	"long":        iceberg.PrimitiveTypes.Int64,
	"float":       iceberg.PrimitiveTypes.Float32,
	"double":      iceberg.PrimitiveTypes.Float64,
	"date":        iceberg.PrimitiveTypes.Date,
	"time":        iceberg.PrimitiveTypes.Time,
	"timestamp":   iceberg.PrimitiveTypes.Timestamp,
	"timestamptz": iceberg.PrimitiveTypes.TimestampTz,
	"string":      iceberg.PrimitiveTypes.String,
	"uuid":        iceberg.PrimitiveTypes.UUID,
	"binary":      iceberg.PrimitiveTypes.Binary,
}

// knownTypeNames are the names parseTypeSpec accepts; the nested ones and
// the parameterised ones are handled by specType and columnType.
var knownTypeNames = func() map[string]bool {
	m := map[string]bool{
		"struct": true, "list": true, "map": true, "decimal": true, "fixed": true,
		"timestamp_ns": true, "timestamptz_ns": true,
	}
	for k := range primitiveTypes {
		m[k] = true
	}
	return m
}()

// typeSpec is a parsed type string: a name, its parameters, and for inline
// list<T> and map<K, V> the parsed element, key and value.
type typeSpec struct {
	kind             string
	precision, scale int
	length           int
	elem, key, value *typeSpec
}

// parseTypeSpec parses a column's type string, such as "long",
// "decimal(10, 2)", "fixed[16]", "list<string>" or
// "map<string, list<long>>". Names are case-insensitive and spaces between
// tokens are ignored.
func parseTypeSpec(s string) (*typeSpec, error) {
	p := typeParser{src: s}
	spec, err := p.parse()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.src) {
		return nil, p.errorf("unexpected %q", p.src[p.pos:])
	}
	return spec, nil
}

type typeParser struct {
	src string
	pos int
}

func (p *typeParser) errorf(format string, args ...any) error {
	return fmt.Errorf("type %q: %s", p.src, fmt.Sprintf(format, args...))
}

func (p *typeParser) skipSpace() {
	for p.pos < len(p.src) && unicode.IsSpace(rune(p.src[p.pos])) {
		p.pos++
	}
}

// accept consumes c if it comes next.
func (p *typeParser) accept(c byte) bool {
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *typeParser) expect(c byte) error {
	if !p.accept(c) {
		if p.pos >= len(p.src) {
			return p.errorf("expected %q at the end", c)
		}
		return p.errorf("expected %q at %q", c, p.src[p.pos:])
	}
	return nil
}

func (p *typeParser) word() string {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c != '_' && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && !('0' <= c && c <= '9') {
			break
		}
		p.pos++
	}
	return p.src[start:p.pos]
}

func (p *typeParser) number(what string) (int, error) {
	w := p.word()
	n, err := strconv.Atoi(w)
	if err != nil {
		return 0, p.errorf("%s must be a number, got %q", what, w)
	}
	return n, nil
}

func (p *typeParser) parse() (*typeSpec, error) {
	name := strings.ToLower(p.word())
	if name == "" {
		if p.pos >= len(p.src) {
			return nil, p.errorf("missing a type name")
		}
		return nil, p.errorf("expected a type name at %q", p.src[p.pos:])
	}
	if !knownTypeNames[name] {
		if p.src == name || strings.EqualFold(strings.TrimSpace(p.src), name) {
			return nil, fmt.Errorf("unknown type %q", name)
		}
		return nil, fmt.Errorf("unknown type %q in %q", name, p.src)
	}
	spec := &typeSpec{kind: name}
	var err error
	switch name {
	case "decimal":
		err = p.parseDecimal(spec)
	case "fixed":
		err = p.parseFixed(spec)
	case "list":
		if p.accept('<') {
			if spec.elem, err = p.parse(); err == nil {
				err = p.expect('>')
			}
		}
	case "map":
		if p.accept('<') {
			if spec.key, err = p.parse(); err == nil {
				if err = p.expect(','); err == nil {
					if spec.value, err = p.parse(); err == nil {
						err = p.expect('>')
					}
				}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return spec, nil
}

func (p *typeParser) parseDecimal(spec *typeSpec) error {
	if err := p.expect('('); err != nil {
		return p.errorf("decimal needs a precision and scale, as in decimal(10, 2)")
	}
	var err error
	if spec.precision, err = p.number("decimal precision"); err != nil {
		return err
	}
	if err := p.expect(','); err != nil {
		return err
	}
	if spec.scale, err = p.number("decimal scale"); err != nil {
		return err
	}
	if err := p.expect(')'); err != nil {
		return err
	}
	switch {
	case spec.precision < 1 || spec.precision > 38:
		return p.errorf("decimal precision must be between 1 and 38, got %d", spec.precision)
	case spec.scale < 0 || spec.scale > spec.precision:
		return p.errorf("decimal scale must be between 0 and the precision %d, got %d", spec.precision, spec.scale)
	}
	return nil
}

func (p *typeParser) parseFixed(spec *typeSpec) error {
	if err := p.expect('['); err != nil {
		return p.errorf("fixed needs a length, as in fixed[16]")
	}
	var err error
	if spec.length, err = p.number("fixed length"); err != nil {
		return err
	}
	if err := p.expect(']'); err != nil {
		return err
	}
	if spec.length < 1 || spec.length > math.MaxInt32 {
		return p.errorf("fixed length must be at least 1, got %d", spec.length)
	}
	return nil
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// BuildPartitionSpec turns partition-by entries into a partition spec over
// sc. An entry is a column ("country", "user.country") or a transform of one:
// identity(col), year(col), month(col), day(col), hour(col),
// bucket(N, col), truncate(W, col), void(col). Partition field IDs start at
// 1000 and names follow Iceberg's defaults (ts_day, id_bucket_16,
// name_trunc_4, col for identity, col_null for void).
func BuildPartitionSpec(sc *iceberg.Schema, fields []string) (iceberg.PartitionSpec, error) {
	type added struct {
		entry     string
		sourceID  int
		transform iceberg.Transform
	}
	var (
		opts []iceberg.PartitionOption
		prev []added
	)
	for i, entry := range fields {
		fail := func(format string, args ...any) (iceberg.PartitionSpec, error) {
			return iceberg.PartitionSpec{}, fmt.Errorf("partition-by[%d] %q: %s", i, entry, fmt.Sprintf(format, args...))
		}
		transform, col, err := parsePartitionEntry(entry)
		if err != nil {
			return fail("%v", err)
		}
		field, err := partitionSource(sc, col)
		if err != nil {
			return fail("%v", err)
		}
		if !transform.CanTransform(field.Type) {
			return fail("transform %s cannot apply to %s", transformName(transform), field.Type.Type())
		}
		for j, p := range prev {
			if p.sourceID != field.ID {
				continue
			}
			if p.transform.Equals(transform) {
				return fail("duplicates partition-by[%d] %q", j, p.entry)
			}
			_, pTime := p.transform.(iceberg.TimeTransform)
			_, tTime := transform.(iceberg.TimeTransform)
			if pTime && tTime {
				return fail("column %s already has a time transform in partition-by[%d] %q (one per column)", col, j, p.entry)
			}
		}
		name, err := iceberg.GeneratePartitionFieldName(sc, iceberg.PartitionField{SourceIDs: []int{field.ID}, Transform: transform})
		if err != nil {
			return fail("%v", err)
		}
		if other, ok := sc.FindFieldByName(name); ok && other.ID != field.ID {
			return fail("partition field name %s is taken by another column", name)
		}
		fieldID := iceberg.PartitionDataIDStart + i
		opts = append(opts, iceberg.AddPartitionFieldBySourceID(field.ID, name, transform, sc, &fieldID))
		prev = append(prev, added{entry: entry, sourceID: field.ID, transform: transform})
	}
	spec, err := iceberg.NewPartitionSpecOpts(opts...)
	if err != nil {
		return iceberg.PartitionSpec{}, fmt.Errorf("partition-by %q: %w", fields, err)
	}
	return spec, nil
}

// parsePartitionEntry splits "bucket(16, id)" into its transform and column.
func parsePartitionEntry(entry string) (iceberg.Transform, string, error) {
	s := strings.TrimSpace(entry)
	open := strings.IndexByte(s, '(')
	if open < 0 {
		if s == "" {
			return nil, "", errors.New("empty entry")
		}
		if strings.ContainsAny(s, "),") {
			return nil, "", errors.New("want col or transform(col)")
		}
		return iceberg.IdentityTransform{}, s, nil
	}
	if !strings.HasSuffix(s, ")") {
		return nil, "", errors.New("missing \")\"")
	}
	name := strings.ToLower(strings.TrimSpace(s[:open]))
	args := strings.Split(s[open+1:len(s)-1], ",")
	for i := range args {
		args[i] = strings.TrimSpace(args[i])
	}

	arity := 1
	if name == "bucket" || name == "truncate" {
		arity = 2
	}
	if len(args) != arity {
		if arity == 2 {
			return nil, "", fmt.Errorf("%s takes two arguments, as in %s(16, col)", name, name)
		}
		return nil, "", fmt.Errorf("%s takes one column", name)
	}
	col := args[arity-1]
	if col == "" {
		return nil, "", errors.New("column is empty")
	}

	switch name {
	case "identity":
		return iceberg.IdentityTransform{}, col, nil
	case "year":
		return iceberg.YearTransform{}, col, nil
	case "month":
		return iceberg.MonthTransform{}, col, nil
	case "day":
		return iceberg.DayTransform{}, col, nil
	case "hour":
		return iceberg.HourTransform{}, col, nil
	case "void":
		return iceberg.VoidTransform{}, col, nil
	case "bucket", "truncate":
		n, err := strconv.Atoi(args[0])
		if err != nil || n <= 0 || n > math.MaxInt32 {
			what := "bucket count"
			if name == "truncate" {
				what = "truncate width"
			}
			return nil, "", fmt.Errorf("%s must be a whole number > 0, got %q", what, args[0])
		}
		if name == "bucket" {
			return iceberg.BucketTransform{NumBuckets: n}, col, nil
		}
		return iceberg.TruncateTransform{Width: n}, col, nil
	}
	return nil, "", fmt.Errorf("unknown transform %q (want identity, year, month, day, hour, bucket, truncate or void)", name)
}

// partitionSource resolves a dotted column path through structs only:
// Iceberg does not partition by fields inside lists or maps.
func partitionSource(sc *iceberg.Schema, path string) (iceberg.NestedField, error) {
	var (
		field  iceberg.NestedField
		fields = sc.Fields()
	)
	parts := strings.Split(path, ".")
	for i, name := range parts {
		if fields == nil {
			return iceberg.NestedField{}, fmt.Errorf("column %s is a %s, not a struct (partition sources are top-level columns or struct fields)",
				strings.Join(parts[:i], "."), field.Type.Type())
		}
		found := false
		for _, f := range fields {
			if f.Name == name {
				field, found = f, true
				break
			}
		}
		if !found {
			return iceberg.NestedField{}, fmt.Errorf("column %s not found", strings.Join(parts[:i+1], "."))
		}
		fields = nil
		if st, ok := field.Type.(*iceberg.StructType); ok {
			fields = st.FieldList
		}
	}
	return field, nil
}

// transformName is the transform as partition-by spells it.
func transformName(t iceberg.Transform) string {
	switch t.(type) {
	case iceberg.BucketTransform:
		return "bucket"
	case iceberg.TruncateTransform:
		return "truncate"
	}
	return t.String()
}
