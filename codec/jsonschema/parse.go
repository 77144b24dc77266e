package jsonschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// node is a parsed JSON value that keeps the order of object keys, which
// encoding/json's maps lose and which gives the columns their order. Each
// node knows its document and JSON pointer, for errors and for resolving
// the $refs it holds.
type node struct {
	kind kind
	text string // a string's content, a number's text
	b    bool
	keys []string // object keys, in document order
	vals []*node  // object values (parallel to keys) or array elements
	doc  *document
	ptr  string // JSON pointer within doc, "" for its root
}

type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kArray
	kObject
)

// get is the value of an object's key, or nil.
func (n *node) get(key string) *node {
	if n.kind != kObject {
		return nil
	}
	if i := slices.Index(n.keys, key); i >= 0 {
		return n.vals[i]
	}
	return nil
}

// str is the value of an object's key if it is a string.
func (n *node) str(key string) string {
	if v := n.get(key); v != nil && v.kind == kString {
		return v.text
	}
	return ""
}

// loc names n in errors: "#/properties/a", or "customer.json#/definitions/A"
// inside the reference named customer.json.
func (n *node) loc() string { return n.doc.name + "#" + n.ptr }

// document is one schema document: the registered schema (name "") or a
// schema it references (name: the reference's name, as its $refs say).
type document struct {
	name    string
	root    *node
	base    *url.URL         // the root's $id, against which relative $refs resolve
	ids     map[string]*node // absolute $id (without fragment) → schema
	anchors map[string]*node // $anchor, or a draft-07 "$id": "#name" → schema
	// legacy: $ref replaces its sibling keywords (draft-04 to -07, and
	// Confluent's default), instead of applying beside them (2019-09 on).
	legacy bool
}

func parseDocument(name, text string, legacyDefault bool) (*document, error) {
	d := &document{name: name, ids: map[string]*node{}, anchors: map[string]*node{}}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	root, err := d.parseValue(dec, "", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, d.syntaxError(errors.New("data after the schema"))
	}
	d.root = root
	d.legacy = legacyDefault
	if s := root.str("$schema"); strings.Contains(s, "2019-09") || strings.Contains(s, "2020-12") {
		d.legacy = false
	} else if strings.Contains(s, "draft-0") {
		d.legacy = true
	}
	id := root.str("$id")
	if id == "" && d.legacy {
		id = root.str("id") // draft-04
	}
	if u, err := url.Parse(id); id != "" && err == nil && u.IsAbs() {
		u.Fragment = ""
		d.base = u
		d.ids[u.String()] = root
	}
	d.indexIDs(root)
	return d, nil
}

func (d *document) syntaxError(err error) error {
	if d.name == "" {
		return fmt.Errorf("json schema: not valid JSON: %w", err)
	}
	return fmt.Errorf("json schema reference %q: not valid JSON: %w", d.name, err)
}

// maxDepth bounds nesting, which the parser and the mapping follow by
// recursion.
const maxDepth = 1000

func (d *document) parseValue(dec *json.Decoder, ptr string, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("json schema %s#%s: nested more than %d levels deep", d.name, ptr, maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, d.syntaxError(err)
	}
	n := &node{doc: d, ptr: ptr}
	switch t := tok.(type) {
	case nil:
		n.kind = kNull
	case bool:
		n.kind, n.b = kBool, t
	case json.Number:
		n.kind, n.text = kNumber, t.String()
	case string:
		n.kind, n.text = kString, t
	case json.Delim:
		if t == '[' {
			n.kind = kArray
			for i := 0; dec.More(); i++ {
				v, err := d.parseValue(dec, ptr+"/"+strconv.Itoa(i), depth+1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
		} else {
			n.kind = kObject
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, d.syntaxError(err)
				}
				key := kt.(string)
				if seen[key] {
					// Go's encoding/json keeps the last copy, others the first:
					// which schema was meant is unknowable.
					return nil, fmt.Errorf("json schema %s#%s: key %q appears twice", d.name, ptr, key)
				}
				seen[key] = true
				v, err := d.parseValue(dec, ptr+"/"+escapeToken(key), depth+1)
				if err != nil {
					return nil, err
				}
				n.keys, n.vals = append(n.keys, key), append(n.vals, v)
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, d.syntaxError(err)
		}
	}
	return n, nil
}

// indexIDs records the $anchors and embedded $ids below n, so that $refs
// can name them. Embedded $ids resolve against the document's base only.
func (d *document) indexIDs(n *node) {
	if n.kind == kObject {
		if a := n.str("$anchor"); a != "" {
			d.anchors[a] = n
		}
		if id := n.str("$id"); strings.HasPrefix(id, "#") {
			d.anchors[id[1:]] = n
		} else if id != "" && n != d.root {
			if u, err := url.Parse(id); err == nil {
				if d.base != nil {
					u = d.base.ResolveReference(u)
				}
				if u.IsAbs() {
					u.Fragment = ""
					d.ids[u.String()] = n
				}
			}
		}
	}
	for _, v := range n.vals {
		d.indexIDs(v)
	}
}

// escapeToken escapes a key as a JSON pointer token (RFC 6901).
func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// pointer follows the JSON pointer p (RFC 6901) from root.
func pointer(root *node, p string) (*node, bool) {
	n := root
	for _, tok := range strings.Split(p, "/")[1:] {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n.kind {
		case kObject:
			if n = n.get(tok); n == nil {
				return nil, false
			}
		case kArray:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.vals) || tok != strconv.Itoa(i) {
				return nil, false
			}
			n = n.vals[i]
		default:
			return nil, false
		}
	}
	return n, true
}

// resolve finds the schema the $ref value ref, written in schema from,
// points to: a JSON pointer or anchor in from's document, or another
// document by reference name or $id with an optional fragment.
func (c *converter) resolve(from *node, ref string) (*node, error) {
	base, frag, _ := strings.Cut(ref, "#")
	target := from.doc.root
	if base != "" {
		var err error
		if target, err = c.lookup(from.doc, base); err != nil {
			return nil, err
		}
	}
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, fmt.Errorf("$ref %q: bad fragment: %w", ref, err)
	}
	switch {
	case frag == "":
		return target, nil
	case strings.HasPrefix(frag, "/"):
		if n, ok := pointer(target, frag); ok {
			return n, nil
		}
	default:
		if n := target.doc.anchors[frag]; n != nil {
			return n, nil
		}
	}
	return nil, fmt.Errorf("$ref %q: %s#%s does not exist", ref, target.doc.name, frag)
}

// lookup finds the document (or embedded resource) that base, a $ref
// without its fragment, names: a reference of that name, or of that name
// resolved against the referring document's $id; else a document or
// resource whose $id is one of those.
func (c *converter) lookup(from *document, base string) (*node, error) {
	cands := []string{base}
	if u, err := url.Parse(base); err == nil && from.base != nil {
		if abs := from.base.ResolveReference(u).String(); abs != base {
			cands = append(cands, abs)
		}
	}
	for _, cand := range cands {
		if _, ok := c.refs[cand]; ok {
			d, err := c.load(cand)
			if err != nil {
				return nil, err
			}
			return d.root, nil
		}
	}
	docs := []*document{c.main}
	for _, name := range c.refNames() {
		d, err := c.load(name)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	for _, cand := range cands {
		for _, d := range docs {
			if n := d.ids[strings.TrimSuffix(cand, "#")]; n != nil {
				return n, nil
			}
		}
	}
	return nil, fmt.Errorf("$ref %q: no schema reference of that name or $id (references: %s)",
		base, strings.Join(c.refNames(), ", "))
}

// load parses the reference named name once.
func (c *converter) load(name string) (*document, error) {
	if d := c.docs[name]; d != nil {
		return d, nil
	}
	d, err := parseDocument(name, c.refs[name], c.main.legacy)
	if err != nil {
		return nil, err
	}
	c.docs[name] = d
	return d, nil
}

func (c *converter) refNames() []string {
	names := make([]string, 0, len(c.refs))
	for name := range c.refs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
