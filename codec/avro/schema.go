package avro

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// schema is one parsed Avro type. Named types (record, enum, fixed) are
// shared by every reference to them, so the graph may have cycles.
type schema struct {
	typ     string // a primitive name, or record, enum, fixed, array, map, union
	name    string // full name of a named type
	logical string // a valid logical type of typ, or ""

	precision, scale int      // decimal
	size             int      // fixed
	symbols          []string // enum
	fields           []field  // record
	items            *schema  // array items, map values
	branches         []*schema
}

type field struct {
	name string
	typ  *schema
}

// display names t in messages: "long", "long (timestamp-micros)",
// "record com.acme.Event", `union ["null", "string"]`.
func (t *schema) display() string {
	switch {
	case t.logical == "decimal":
		return t.typ + " (decimal(" + strconv.Itoa(t.precision) + "," + strconv.Itoa(t.scale) + "))"
	case t.logical != "":
		return t.typ + " (" + t.logical + ")"
	case t.name != "":
		return t.typ + " " + t.name
	case t.typ == "union":
		parts := make([]string, len(t.branches))
		for i, b := range t.branches {
			parts[i] = strconv.Quote(b.key())
		}
		return "union [" + strings.Join(parts, ", ") + "]"
	case t.typ == "array" || t.typ == "map":
		return t.typ + "<" + t.items.display() + ">"
	}
	return t.typ
}

// key identifies a union branch: its full name if named, else its type.
func (t *schema) key() string {
	if t.name != "" {
		return t.name
	}
	return t.typ
}

var primitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true,
}

// parser resolves names while it walks the schema JSON.
type parser struct {
	named map[string]*schema
}

// parseSchema parses Avro schema JSON text (the canonical form or any
// other valid form).
func parseSchema(text string) (*schema, error) {
	v, err := decodeJSON(text)
	if err != nil {
		return nil, err
	}
	p := &parser{named: map[string]*schema{}}
	return p.parse(v, "")
}

// parseWithRefs parses text whose named types may be defined in refs, the
// registry's referenced schemas (by reference name), which may refer to
// each other: each is parsed once the names it uses are known.
func parseWithRefs(text string, refs map[string]string) (*schema, error) {
	named := map[string]*schema{}
	pending := make([]string, 0, len(refs))
	for name := range refs {
		pending = append(pending, name)
	}
	sort.Strings(pending)
	for len(pending) > 0 {
		var (
			left    []string
			lastErr error
		)
		for _, name := range pending {
			p := &parser{named: maps.Clone(named)}
			v, err := decodeJSON(refs[name])
			if err == nil {
				_, err = p.parse(v, "")
			}
			if err != nil {
				left, lastErr = append(left, name), fmt.Errorf("referenced schema %q: %w", name, err)
				continue
			}
			named = p.named
		}
		if len(left) == len(pending) {
			return nil, lastErr
		}
		pending = left
	}
	v, err := decodeJSON(text)
	if err != nil {
		return nil, err
	}
	return (&parser{named: named}).parse(v, "")
}

func decodeJSON(text string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("avro schema is not JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("avro schema: data after the schema")
	}
	return v, nil
}

func (p *parser) parse(v any, ns string) (*schema, error) {
	switch v := v.(type) {
	case string:
		return p.ref(v, ns)
	case []any:
		return p.union(v, ns)
	case map[string]any:
		return p.object(v, ns)
	}
	return nil, fmt.Errorf("avro schema: a type must be a name, an object or an array, got %s", jsonType(v))
}

// ref resolves a type name: a primitive, or a named type defined earlier.
func (p *parser) ref(name, ns string) (*schema, error) {
	if primitives[name] {
		return &schema{typ: name}, nil
	}
	if !strings.Contains(name, ".") && ns != "" {
		if t, ok := p.named[ns+"."+name]; ok {
			return t, nil
		}
	}
	if t, ok := p.named[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("avro schema: unknown type %q", name)
}

func (p *parser) union(v []any, ns string) (*schema, error) {
	t := &schema{typ: "union"}
	seen := map[string]bool{}
	for _, b := range v {
		bt, err := p.parse(b, ns)
		if err != nil {
			return nil, err
		}
		if bt.typ == "union" {
			return nil, errors.New("avro schema: a union cannot contain a union directly")
		}
		if seen[bt.key()] {
			return nil, fmt.Errorf("avro schema: union has %q twice", bt.key())
		}
		seen[bt.key()] = true
		t.branches = append(t.branches, bt)
	}
	if len(t.branches) == 0 {
		return nil, errors.New("avro schema: empty union")
	}
	return t, nil
}

func (p *parser) object(o map[string]any, ns string) (*schema, error) {
	typ, ok := o["type"]
	if !ok {
		return nil, errors.New(`avro schema: object without "type"`)
	}
	name, isName := typ.(string)
	if !isName {
		// {"type": {"type": "string"}} and {"type": [...]}: a wrapped type.
		return p.parse(typ, ns)
	}
	var (
		t   *schema
		err error
	)
	switch name {
	case "record", "error":
		t, err = p.record(o, ns)
	case "enum":
		t, err = p.enum(o, ns)
	case "fixed":
		t, err = p.fixed(o, ns)
	case "array", "map":
		key := "items"
		if name == "map" {
			key = "values"
		}
		inner, found := o[key]
		if !found {
			return nil, fmt.Errorf("avro schema: %s without %q", name, key)
		}
		t = &schema{typ: name}
		t.items, err = p.parse(inner, ns)
	default:
		if !primitives[name] {
			// {"type": "com.acme.Money"}: a reference in object form.
			if t, err = p.ref(name, ns); err != nil {
				return nil, err
			}
			return t, nil
		}
		t = &schema{typ: name}
	}
	if err != nil {
		return nil, err
	}
	if lt, ok := o["logicalType"].(string); ok {
		setLogical(t, lt, o)
	}
	return t, nil
}

// define registers a named type under its full name and returns the
// namespace its members resolve names in.
func (p *parser) define(t *schema, o map[string]any, ns string) (string, error) {
	name, _ := o["name"].(string)
	if name == "" {
		return "", fmt.Errorf("avro schema: %s without a name", t.typ)
	}
	switch space, ok := o["namespace"].(string); {
	case strings.Contains(name, "."):
		ns = name[:strings.LastIndexByte(name, '.')]
	case ok:
		ns = space
		if ns != "" {
			name = ns + "." + name
		}
	case ns != "":
		name = ns + "." + name
	}
	for _, part := range strings.Split(name, ".") {
		if !validName(part) {
			return "", fmt.Errorf("avro schema: invalid name %q", name)
		}
	}
	if primitives[name] {
		return "", fmt.Errorf("avro schema: %q cannot be redefined", name)
	}
	if _, dup := p.named[name]; dup {
		return "", fmt.Errorf("avro schema: type %q is defined twice", name)
	}
	t.name = name
	p.named[name] = t
	return ns, nil
}

func (p *parser) record(o map[string]any, ns string) (*schema, error) {
	t := &schema{typ: "record"}
	ns, err := p.define(t, o, ns)
	if err != nil {
		return nil, err
	}
	list, ok := o["fields"].([]any)
	if !ok {
		return nil, fmt.Errorf("avro schema: record %s without a fields array", t.name)
	}
	seen := map[string]bool{}
	for _, f := range list {
		fo, ok := f.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("avro schema: record %s: a field must be an object", t.name)
		}
		name, _ := fo["name"].(string)
		if !validName(name) {
			return nil, fmt.Errorf("avro schema: record %s: invalid field name %q", t.name, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("avro schema: record %s: field %q appears twice", t.name, name)
		}
		seen[name] = true
		ft, found := fo["type"]
		if !found {
			return nil, fmt.Errorf("avro schema: record %s: field %q without a type", t.name, name)
		}
		typ, err := p.parse(ft, ns)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
		t.fields = append(t.fields, field{name: name, typ: typ})
	}
	return t, nil
}

func (p *parser) enum(o map[string]any, ns string) (*schema, error) {
	t := &schema{typ: "enum"}
	if _, err := p.define(t, o, ns); err != nil {
		return nil, err
	}
	list, ok := o["symbols"].([]any)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("avro schema: enum %s without symbols", t.name)
	}
	seen := map[string]bool{}
	for _, s := range list {
		sym, _ := s.(string)
		if !validName(sym) || seen[sym] {
			return nil, fmt.Errorf("avro schema: enum %s: invalid or repeated symbol %q", t.name, sym)
		}
		seen[sym] = true
		t.symbols = append(t.symbols, sym)
	}
	return t, nil
}

func (p *parser) fixed(o map[string]any, ns string) (*schema, error) {
	t := &schema{typ: "fixed"}
	if _, err := p.define(t, o, ns); err != nil {
		return nil, err
	}
	size, ok := intAttr(o, "size")
	if !ok || size < 0 || size > math.MaxInt32 {
		return nil, fmt.Errorf("avro schema: fixed %s needs a size >= 0", t.name)
	}
	t.size = size
	return t, nil
}

// setLogical records a logical type if it is valid for t. As the Avro
// specification asks, an unknown or invalid logical type is ignored and the
// underlying type used.
func setLogical(t *schema, lt string, o map[string]any) {
	valid := false
	switch lt {
	case "decimal":
		prec, okP := intAttr(o, "precision")
		scale, okS := intAttr(o, "scale")
		if _, has := o["scale"]; !has {
			scale, okS = 0, true
		}
		valid = okP && okS && prec >= 1 && scale >= 0 && scale <= prec &&
			(t.typ == "bytes" || t.typ == "fixed" && prec <= fixedDigits(t.size))
		t.precision, t.scale = prec, scale
	case "date", "time-millis":
		valid = t.typ == "int"
	case "time-micros", "timestamp-millis", "timestamp-micros", "timestamp-nanos",
		"local-timestamp-millis", "local-timestamp-micros", "local-timestamp-nanos":
		valid = t.typ == "long"
	case "uuid":
		valid = t.typ == "string" || t.typ == "fixed" && t.size == 16
	}
	if valid {
		t.logical = lt
	}
}

// fixedDigits is the largest decimal precision a fixed of size bytes can
// hold: floor(log10(2^(8·size−1) − 1)).
func fixedDigits(size int) int {
	if size == 0 {
		return 0
	}
	if size > 64 {
		return math.MaxInt32 // beyond any column; values are checked anyway
	}
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*size-1))
	return len(m.Sub(m, big.NewInt(1)).String()) - 1
}

func intAttr(o map[string]any, key string) (int, bool) {
	n, ok := o[key].(json.Number)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(n.String())
	return v, err == nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// field finds a record's field by name.
func (t *schema) field(name string) (field, bool) {
	for _, f := range t.fields {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}
