package codec

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/floe-dev/floe/evolution"
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
func (d *Decoder) change(st *state, m *Message, ferr *fieldErr) *evolution.Change {
	sc := &evolution.Change{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	if ferr != nil {
		if !d.widen || ferr.widen == nil || len(ferr.path) == 0 {
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
		if d.env != nil {
			// The column's path within the change event's after.
			if len(path) > 0 && path[0] == "payload" {
				path = path[1:]
			}
			if len(path) < 2 || path[0] != "after" {
				return nil
			}
			path = path[1:]
		}
		sc.Widen = []evolution.Widening{{Path: path, To: ferr.widen}}
		return sc
	}
	if !d.addColumns || len(st.unknown) == 0 {
		return nil
	}
	for _, f := range st.unknown {
		if t, ok := inferJSON(f.raw); ok {
			sc.Add = append(sc.Add, evolution.Field{Parent: f.parent, Field: arrow.Field{Name: f.key, Type: t, Nullable: true}})
		}
	}
	if len(sc.Add) == 0 {
		return nil
	}
	sort.SliceStable(sc.Add, func(i, j int) bool {
		a, b := sc.Add[i], sc.Add[j]
		if (len(a.Parent) == 0) != (len(b.Parent) == 0) {
			return len(a.Parent) == 0 // new columns first
		}
		return len(a.Parent) == 0 && a.Name < b.Name
	})
	return sc
}

// inferJSON infers the type of an optional field from a JSON value; false
// when the value says nothing about its type (null, [], {}) or mixes types.
func inferJSON(raw []byte) (arrow.DataType, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return infer(v)
}

func infer(v any) (arrow.DataType, bool) {
	switch v := v.(type) {
	case string:
		return arrow.BinaryTypes.String, true
	case bool:
		return arrow.FixedWidthTypes.Boolean, true
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return arrow.PrimitiveTypes.Int64, true
		}
		if _, err := v.Float64(); err == nil {
			return arrow.PrimitiveTypes.Float64, true
		}
		return nil, false
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var fields []arrow.Field
		for _, k := range keys {
			if t, ok := infer(v[k]); ok {
				fields = append(fields, arrow.Field{Name: k, Type: t, Nullable: true})
			}
		}
		if len(fields) == 0 {
			return nil, false
		}
		return arrow.StructOf(fields...), true
	case []any:
		var elem arrow.DataType
		for _, e := range v {
			if e == nil {
				continue
			}
			t, ok := infer(e)
			if !ok {
				return nil, false
			}
			if elem == nil {
				elem = t
			} else if !arrow.TypeEqual(elem, t) {
				return nil, false // mixed element types
			}
		}
		if elem == nil {
			return nil, false
		}
		return arrow.ListOfField(arrow.Field{Name: "element", Type: elem, Nullable: true}), true
	}
	return nil, false
}
