package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Schema evolution policies, the values of Config.SchemaEvolution.
const (
	// EvolveAddColumns: a top-level JSON field the table lacks becomes a new
	// optional column, its type inferred from the value (string, boolean,
	// long, double, struct, list).
	EvolveAddColumns = "add-columns"
	// EvolveWiden: a value too large for an int column widens it to long,
	// one too large for a float column widens it to double.
	EvolveWiden = "widen"
)

// SchemaChange is returned by [Decoder.Append], instead of appending a row,
// when the record needs the table's schema to change first and
// Config.SchemaEvolution allows the change. The caller changes the table,
// builds a Decoder for the new schema and appends the record again.
type SchemaChange struct {
	Topic     string
	Partition int32
	Offset    int64
	// Add are new optional top-level columns, in field name order.
	Add []Column
	// AddIn are new optional fields of existing structs (reached from the
	// top level through structs only).
	AddIn []NestedColumn
	// Widen are columns whose type must grow.
	Widen []Widening
}

// NestedColumn is a new field of the struct column at Parent.
type NestedColumn struct {
	Parent []string
	Column
}

// Widening promotes the column at Path to type To ("long" or "double").
type Widening struct {
	Path []string
	To   string
}

func (c *SchemaChange) Error() string {
	var parts []string
	for _, a := range c.Add {
		parts = append(parts, "add "+a.Name+" "+a.String())
	}
	for _, a := range c.AddIn {
		parts = append(parts, "add "+strings.Join(append(append([]string(nil), a.Parent...), a.Name), ".")+" "+a.String())
	}
	for _, w := range c.Widen {
		parts = append(parts, "widen "+strings.Join(w.Path, ".")+" to "+w.To)
	}
	return fmt.Sprintf("record %s[%d]@%d needs a schema change: %s", c.Topic, c.Partition, c.Offset, strings.Join(parts, ", "))
}

// rawField is a key of an evolvable struct (parent; nil: the top level)
// that the table has no column for, and its value.
type rawField struct {
	parent []string
	key    string
	raw    []byte
}

// markEvolvable marks the struct fields of n reached through structs only.
func markEvolvable(n *node) {
	for _, f := range n.fields {
		if f.kind == kStruct {
			f.evolvable = true
			f.colPath = append(append([]string(nil), n.colPath...), f.name)
			markEvolvable(f)
		}
	}
}

// change returns the schema change a decoded record asks for, or nil.
func (d *Decoder) change(st *state, m *Message, ferr *fieldErr) *SchemaChange {
	sc := &SchemaChange{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	if ferr != nil {
		if !d.widen || ferr.widen == "" || len(ferr.path) == 0 {
			return nil
		}
		for _, seg := range ferr.path {
			if strings.HasPrefix(seg, "[") {
				return nil // inside a list or map: not promoted here
			}
		}
		path := make([]string, len(ferr.path)) // collected innermost first
		for i, seg := range ferr.path {
			path[len(path)-1-i] = seg
		}
		sc.Widen = []Widening{{Path: path, To: ferr.widen}}
		return sc
	}
	if !d.addColumns || len(st.unknown) == 0 {
		return nil
	}
	for _, f := range st.unknown {
		c, ok := inferColumn(f.key, f.raw)
		switch {
		case !ok:
		case f.parent == nil:
			sc.Add = append(sc.Add, c)
		default:
			sc.AddIn = append(sc.AddIn, NestedColumn{Parent: f.parent, Column: c})
		}
	}
	if len(sc.Add) == 0 && len(sc.AddIn) == 0 {
		return nil
	}
	sort.Slice(sc.Add, func(i, j int) bool { return sc.Add[i].Name < sc.Add[j].Name })
	return sc
}

// inferColumn infers an optional column from a JSON value; false when the
// value says nothing about its type (null, [], {}) or mixes types.
func inferColumn(name string, raw []byte) (Column, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Column{}, false
	}
	c, ok := infer(v)
	c.Name = name
	return c, ok
}

func infer(v any) (Column, bool) {
	switch v := v.(type) {
	case string:
		return Column{Type: "string"}, true
	case bool:
		return Column{Type: "boolean"}, true
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return Column{Type: "long"}, true
		}
		if _, err := v.Float64(); err == nil {
			return Column{Type: "double"}, true
		}
		return Column{}, false
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var fields []Column
		for _, k := range keys {
			if f, ok := infer(v[k]); ok {
				f.Name = k
				fields = append(fields, f)
			}
		}
		if len(fields) == 0 {
			return Column{}, false
		}
		return Column{Type: "struct", Fields: fields}, true
	case []any:
		var elem *Column
		for _, e := range v {
			if e == nil {
				continue
			}
			c, ok := infer(e)
			if !ok {
				return Column{}, false
			}
			c.Name = "element"
			if elem == nil {
				elem = &c
			} else if elem.String() != c.String() {
				return Column{}, false // mixed element types
			}
		}
		if elem == nil {
			return Column{}, false
		}
		return Column{Type: "list", Element: elem}, true
	}
	return Column{}, false
}
