package jsonschema

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"
)

// ArrowSchema maps a JSON Schema document whose root is an object schema to
// the Arrow schema of a table (no field IDs), in the types of an Iceberg
// table's Arrow schema, chosen so that the JSON decoder (package codec)
// fills every column from JSON valid for the schema. refs maps a reference
// name (the registry's schema reference name, which is what a "$ref" to
// another document says, e.g. "customer.json") to that document's text.
// The mapping is in the package documentation. Errors name the JSON
// pointer of the offending schema and why.
func ArrowSchema(text string, refs map[string]string) (*arrow.Schema, error) {
	main, err := parseDocument("", text, true)
	if err != nil {
		return nil, err
	}
	c := &converter{main: main, refs: refs, docs: map[string]*document{}, open: map[*node]bool{}, budget: maxExpansions}
	if main.root.kind != kObject {
		return nil, c.errorf(main.root, where{}, "the root must be an object schema")
	}
	dt, _, err := c.column([]*node{main.root}, where{})
	if err != nil {
		return nil, err
	}
	st, ok := dt.(*arrow.StructType)
	if !ok {
		return nil, c.errorf(main.root, where{}, "the root must be an object with properties (they are the table's columns), not %s", dt)
	}
	return arrow.NewSchema(st.Fields(), nil), nil
}

// maxExpansions bounds the subschemas read through $ref and allOf, which a
// schema can make exponential (each definition using the next one twice).
const maxExpansions = 100_000

// Kafka Connect's logical types, as its JSON Schema converter names them
// in "title".
const (
	connectDecimal   = "org.apache.kafka.connect.data.Decimal"
	connectTimestamp = "org.apache.kafka.connect.data.Timestamp"
	connectDate      = "org.apache.kafka.connect.data.Date"
)

type converter struct {
	main *document
	refs map[string]string
	docs map[string]*document // the references parsed so far, by name
	// open holds the $ref targets the column being read goes through: one
	// met again below it is a type that contains itself.
	open   map[*node]bool
	budget int
}

// where is the column a schema is read for, for errors.
type where struct {
	col    string // "a.b", "tags.element", "attrs.value"; "" for the root
	viaRef bool   // the schema was reached through a $ref: its pointer alone does not say which column
}

func (w where) child(name string) where {
	if w.col != "" {
		name = w.col + "." + name
	}
	return where{col: name, viaRef: w.viaRef}
}

func (c *converter) errorf(at *node, w where, format string, args ...any) error {
	col := ""
	if w.viaRef && w.col != "" {
		col = fmt.Sprintf(" (column %q)", w.col)
	}
	return fmt.Errorf("json schema %s%s: %s", at.loc(), col, fmt.Sprintf(format, args...))
}

// term is one conjunct of a schema once $ref and allOf are expanded: a
// schema object read for its own keywords, or (from oneOf/anyOf of null
// and one schema) null or a value valid for all of orNull.
type term struct {
	s      *node
	orNull []term
}

// flatten appends the terms of s to out and the $ref targets it follows to
// refs. stack holds the targets followed to reach s.
func (c *converter) flatten(s *node, w where, stack []*node, out *[]term, refs *[]*node) error {
	if c.budget--; c.budget < 0 {
		return c.errorf(s, w, "the schema expands to more than %d subschemas through $ref and allOf", maxExpansions)
	}
	switch s.kind {
	case kBool:
		if !s.b {
			return c.errorf(s, w, "the schema false admits no value")
		}
		return nil // true adds no constraint
	case kObject:
	default:
		return c.errorf(s, w, "a schema must be an object or a boolean")
	}
	if ref := s.get("$ref"); ref != nil {
		if ref.kind != kString {
			return c.errorf(ref, w, "$ref must be a string")
		}
		target, err := c.resolve(s, ref.text)
		if err != nil {
			return c.errorf(s, w, "%v", err)
		}
		if slices.Contains(stack, target) || c.open[target] {
			return c.errorf(s, w, "$ref %q: %s contains itself; a table column cannot", ref.text, target.loc())
		}
		*refs = append(*refs, target)
		inner := w
		inner.viaRef = true
		if err := c.flatten(target, inner, append(stack, target), out, refs); err != nil {
			return err
		}
		if s.doc.legacy {
			return nil // up to draft-07, $ref replaces its siblings
		}
	}
	if v := s.get("allOf"); v != nil {
		members, err := c.schemas(v, w)
		if err != nil {
			return err
		}
		for _, m := range members {
			if err := c.flatten(m, w, stack, out, refs); err != nil {
				return err
			}
		}
	}
	for _, kw := range []string{"oneOf", "anyOf"} {
		v := s.get(kw)
		if v == nil {
			continue
		}
		members, err := c.schemas(v, w)
		if err != nil {
			return err
		}
		switch {
		case len(members) == 1:
			if err := c.flatten(members[0], w, stack, out, refs); err != nil {
				return err
			}
			continue
		case len(members) == 2:
			other := -1
			if c.isNull(members[0]) {
				other = 1
			} else if c.isNull(members[1]) {
				other = 0
			}
			if other >= 0 {
				var inner []term
				if err := c.flatten(members[other], w, stack, &inner, refs); err != nil {
					return err
				}
				*out = append(*out, term{orNull: inner})
				continue
			}
		}
		return c.errorf(v, w, "%s of %d schemas has no column type (only a null schema and one other, an optional value, has)", kw, len(members))
	}
	for _, kw := range []string{"not", "if", "then", "else", "dependentSchemas"} {
		if v := s.get(kw); v != nil {
			return c.errorf(v, w, "%s has no column type (a column cannot depend on conditions)", kw)
		}
	}
	if deps := s.get("dependencies"); deps != nil && deps.kind == kObject {
		for _, v := range deps.vals {
			if v.kind != kArray {
				return c.errorf(v, w, "a schema dependency has no column type (a column cannot depend on conditions)")
			}
		}
	}
	*out = append(*out, term{s: s})
	return nil
}

// schemas checks that v, the value of an allOf, anyOf or oneOf, is a
// non-empty array, and returns its members.
func (c *converter) schemas(v *node, w where) ([]*node, error) {
	if v.kind != kArray || len(v.vals) == 0 {
		return nil, c.errorf(v, w, "must be a non-empty array of schemas")
	}
	return v.vals, nil
}

// isNull says whether s admits null only: {"type": "null"}, {"const":
// null}, {"enum": [null]}, or a $ref to one of these.
func (c *converter) isNull(s *node) bool {
	for range 8 {
		if s.kind != kObject {
			return false
		}
		ref := s.get("$ref")
		if ref == nil || ref.kind != kString {
			break
		}
		t, err := c.resolve(s, ref.text)
		if err != nil {
			return false
		}
		s = t
	}
	ts, typed, err := typesOf(s)
	return err == nil && typed && ts == tNull
}

// column reads the conjunction of schemas as one column: its type and
// whether it admits null.
func (c *converter) column(schemas []*node, w where) (arrow.DataType, bool, error) {
	var (
		terms []term
		refs  []*node
	)
	for _, s := range schemas {
		if err := c.flatten(s, w, nil, &terms, &refs); err != nil {
			return nil, false, err
		}
	}
	for _, r := range append(refs, schemas...) {
		if !c.open[r] {
			c.open[r] = true
			defer delete(c.open, r)
		}
	}
	if len(refs) > 0 {
		w.viaRef = true
	}
	m := &merged{at: schemas[0], types: tAll, propSchemas: map[string][]*node{}, required: map[string]bool{}, patternSchemas: map[string][]*node{}}
	for _, t := range terms {
		if err := c.add(m, t, w); err != nil {
			return nil, false, err
		}
	}
	return c.typeOf(m, w)
}

// merged is what a conjunction of terms says about a value's shape.
type merged struct {
	at             *node   // the first schema read, named in errors
	types          typeSet // the JSON types every term admits
	typed          bool    // some term constrains the type
	props          []string
	propSchemas    map[string][]*node
	required       map[string]bool
	addl           []*node // additionalProperties schemas
	patterns       []string
	patternSchemas map[string][]*node
	items          []*node
	tuple          *node // items as an array, or prefixItems
	objectKw       bool  // properties, additionalProperties or patternProperties
	arrayKw        bool  // items or prefixItems
	format         string
	formatAt       *node
	encoding       string
	connectType    string
	connect        *node // the term titled with a Kafka Connect logical type
}

func (c *converter) add(m *merged, t term, w where) error {
	if t.s == nil {
		saved := m.types
		m.types = tAll
		for _, it := range t.orNull {
			if err := c.add(m, it, w); err != nil {
				return err
			}
		}
		m.types = saved & (m.types | tNull)
		return nil
	}
	s := t.s
	ts, typed, err := typesOf(s)
	if err != nil {
		return c.errorf(s, w, "%v", err)
	}
	m.types &= ts
	m.typed = m.typed || typed
	if p := s.get("properties"); p != nil {
		if p.kind != kObject {
			return c.errorf(p, w, "properties must be an object")
		}
		m.objectKw = true
		for i, name := range p.keys {
			if _, seen := m.propSchemas[name]; !seen {
				m.props = append(m.props, name)
			}
			m.propSchemas[name] = append(m.propSchemas[name], p.vals[i])
		}
	}
	if r := s.get("required"); r != nil && r.kind == kArray {
		for _, v := range r.vals {
			if v.kind == kString {
				m.required[v.text] = true
			}
		}
	}
	if a := s.get("additionalProperties"); a != nil {
		m.objectKw = true
		if a.kind == kObject {
			m.addl = append(m.addl, a)
		}
	}
	if pp := s.get("patternProperties"); pp != nil && pp.kind == kObject {
		m.objectKw = true
		for i, pat := range pp.keys {
			if _, seen := m.patternSchemas[pat]; !seen {
				m.patterns = append(m.patterns, pat)
			}
			m.patternSchemas[pat] = append(m.patternSchemas[pat], pp.vals[i])
		}
	}
	if it := s.get("items"); it != nil {
		m.arrayKw = true
		if it.kind == kArray {
			m.tuple = it
		} else {
			m.items = append(m.items, it)
		}
	}
	if pi := s.get("prefixItems"); pi != nil {
		m.arrayKw, m.tuple = true, pi
	}
	if f := s.str("format"); f != "" {
		if m.format != "" && m.format != f {
			return c.errorf(s, w, "format %q conflicts with format %q at %s", f, m.format, m.formatAt.loc())
		}
		m.format, m.formatAt = f, s
	}
	if e := s.str("contentEncoding"); e != "" {
		m.encoding = e
	}
	if ct := s.str("connect.type"); ct != "" {
		m.connectType = ct
	}
	if title := s.str("title"); m.connect == nil && strings.HasPrefix(title, "org.apache.kafka.connect.data.") {
		m.connect = s
	}
	return nil
}

// typeOf is the column type of m and whether it admits null.
func (c *converter) typeOf(m *merged, w where) (arrow.DataType, bool, error) {
	nullable := m.types&tNull != 0
	t := m.types &^ tNull
	if !m.typed {
		switch {
		case m.objectKw && m.arrayKw:
			return nil, false, c.errorf(m.at, w, "object and array keywords without a type; declare its type")
		case m.objectKw:
			t = tObject
		case m.arrayKw:
			t = tArray
		default:
			return nil, false, c.errorf(m.at, w, "the schema admits any value and has no column type; give it a type")
		}
	}
	if t&tFraction != 0 {
		t &^= tInteger // number includes integer
	}
	var (
		dt  arrow.DataType
		err error
	)
	switch t {
	case 0:
		if nullable {
			return nil, false, c.errorf(m.at, w, "the schema admits only null; a column needs another type")
		}
		return nil, false, c.errorf(m.at, w, "no value is valid: the types its schemas allow do not meet")
	case tBool:
		dt = arrow.FixedWidthTypes.Boolean
	case tInteger:
		dt, err = c.integer(m, w)
	case tFraction:
		dt, err = c.number(m, w)
	case tString:
		dt = stringType(m)
	case tArray:
		dt, err = c.list(m, w)
	case tObject:
		dt, err = c.object(m, w)
	default:
		return nil, false, c.errorf(m.at, w, "type %s has no single column type (a column holds one JSON type, and null)", t)
	}
	return dt, nullable, err
}

func (c *converter) integer(m *merged, w where) (arrow.DataType, error) {
	if m.connect != nil {
		switch m.connect.str("title") {
		case connectDecimal:
			return c.decimal(m.connect, w)
		case connectTimestamp:
			return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil // epoch milliseconds
		case connectDate:
			return arrow.FixedWidthTypes.Date32, nil // days since the epoch
		}
	}
	switch m.connectType {
	case "int8", "int16", "int32":
		return arrow.PrimitiveTypes.Int32, nil
	}
	return arrow.PrimitiveTypes.Int64, nil
}

func (c *converter) number(m *merged, w where) (arrow.DataType, error) {
	if m.connect != nil && m.connect.str("title") == connectDecimal {
		return c.decimal(m.connect, w)
	}
	if m.connectType == "float32" {
		return arrow.PrimitiveTypes.Float32, nil
	}
	return arrow.PrimitiveTypes.Float64, nil
}

// decimal reads Kafka Connect's decimal parameters from s.
func (c *converter) decimal(s *node, w where) (arrow.DataType, error) {
	params := s.get("connect.parameters")
	if params == nil {
		params = &node{kind: kObject}
	}
	param := func(name string, def int) (int, error) {
		v := params.get(name)
		if v == nil {
			if def < 0 {
				return 0, c.errorf(s, w, "%s needs connect.parameters.%s", connectDecimal, name)
			}
			return def, nil
		}
		n, err := strconv.Atoi(v.text)
		if (v.kind != kString && v.kind != kNumber) || err != nil {
			return 0, c.errorf(v, w, "not an integer")
		}
		return n, nil
	}
	scale, err := param("scale", -1)
	if err != nil {
		return nil, err
	}
	precision, err := param("connect.decimal.precision", 38)
	if err != nil {
		return nil, err
	}
	if precision < 1 || precision > 38 || scale < 0 || scale > precision {
		return nil, c.errorf(s, w, "decimal(%d,%d) has no column type (a table decimal has 1 to 38 digits and a scale from 0 to its precision)", precision, scale)
	}
	return &arrow.Decimal128Type{Precision: int32(precision), Scale: int32(scale)}, nil
}

// stringType is the column of a string: a format or encoding the decoder
// reads from JSON strings, else the text. Format "time" stays text: RFC
// 3339 times carry a zone offset, which a table time cannot hold.
func stringType(m *merged) arrow.DataType {
	if m.encoding == "base64" || m.connectType == "bytes" {
		return arrow.BinaryTypes.Binary
	}
	switch m.format {
	case "date-time":
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	case "date":
		return arrow.FixedWidthTypes.Date32
	case "uuid":
		return extensions.NewUUIDType()
	}
	return arrow.BinaryTypes.String
}

func (c *converter) list(m *merged, w where) (arrow.DataType, error) {
	if m.tuple != nil {
		return nil, c.errorf(m.tuple, w, "items as an array (a tuple) has no column type; give items one schema")
	}
	if len(m.items) == 0 {
		return nil, c.errorf(m.at, w, "an array without items has no element type; give it items")
	}
	elem, nullable, err := c.column(m.items, w.child("element"))
	if err != nil {
		return nil, err
	}
	return arrow.ListOfField(arrow.Field{Name: "element", Type: elem, Nullable: nullable}), nil
}

func (c *converter) object(m *merged, w where) (arrow.DataType, error) {
	if len(m.props) == 0 {
		return c.mapType(m, w)
	}
	fields := make([]arrow.Field, 0, len(m.props))
	for _, name := range m.props {
		schemas := m.propSchemas[name]
		if name == "" {
			return nil, c.errorf(schemas[0], w, "a property with an empty name has no column name")
		}
		dt, nullable, err := c.column(schemas, w.child(name))
		if err != nil {
			return nil, err
		}
		fields = append(fields, arrow.Field{Name: name, Type: dt, Nullable: nullable || !m.required[name]})
	}
	return arrow.StructOf(fields...), nil
}

// mapType is the map<string, V> of an object without properties whose
// values all have one schema.
func (c *converter) mapType(m *merged, w where) (arrow.DataType, error) {
	var values []*node
	switch {
	case len(m.patterns) > 1:
		return nil, c.errorf(m.at, w, "patternProperties with %d patterns has no column type (a map has one value type)", len(m.patterns))
	case len(m.patterns) == 1 && len(m.addl) > 0:
		return nil, c.errorf(m.at, w, "patternProperties beside an additionalProperties schema has no column type (a map has one value type)")
	case len(m.patterns) == 1:
		values = m.patternSchemas[m.patterns[0]]
	case len(m.addl) > 0:
		values = m.addl
	default:
		return nil, c.errorf(m.at, w, "an object without properties has no column type; give it properties, or additionalProperties with a schema")
	}
	val, nullable, err := c.column(values, w.child("value"))
	if err != nil {
		return nil, err
	}
	mt := arrow.MapOfWithMetadata(arrow.BinaryTypes.String, arrow.Metadata{}, val, arrow.Metadata{})
	mt.SetItemNullable(nullable)
	return mt, nil
}
