package codec

import (
	"bytes"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/floe-dev/floe/evolution"
)

// Key formats: how a record key fills the key metadata column.
const (
	// KeyBinary stores the key's bytes as they are (a binary column).
	KeyBinary = "binary"
	// KeyString stores the key as text (a string column); a key that is
	// not valid UTF-8 is a bad record (invalid_value).
	KeyString = "string"
	// KeyJSON decodes the key as a JSON value into the column's type,
	// exactly as values are decoded into columns: a struct of the key's
	// fields, a string, a long. A key in the Kafka Connect JsonConverter's
	// schemas.enable form ({"schema": ..., "payload": ...}) is its payload.
	KeyJSON = "json"
)

// RegistryKey reports whether format names keys framed by a Schema
// Registry (avro, protobuf, json-schema): decoded by the registry package
// around the value's decoder, which leaves the key column to it.
func RegistryKey(format string) bool {
	return format == "avro" || format == "protobuf" || format == "json-schema"
}

// keyPlan decodes record keys into the key column (key-format string or
// json); nil is key-format binary.
type keyPlan struct {
	format string
	// external: a registry format, appended by the registry package's
	// Keyed after the value: nothing here.
	external bool
	// json: the column's plan, and that plan under a schemas.enable
	// wrapper (nil when the column is a struct with a field "schema",
	// where the wrapper would be ambiguous).
	plan, wrapped *node
	states        sync.Pool
}

// compileKey checks that f can take keys of format and returns their
// plan, or nil for binary keys into a binary column.
func compileKey(format string, f arrow.Field) (*keyPlan, bool, error) {
	switch format {
	case "", KeyBinary:
		return nil, isBinary(f.Type), nil
	case KeyString:
		return &keyPlan{format: format}, isString(f.Type), nil
	}
	if RegistryKey(format) {
		return &keyPlan{format: format, external: true}, f.Type.ID() == arrow.STRUCT, nil
	}
	plan, err := compile(f.Name, f.Name, f.Type, f.Nullable)
	if err != nil {
		return nil, false, err
	}
	k := &keyPlan{format: format, plan: plan}
	if _, ambiguous := plan.index["schema"]; !ambiguous || plan.kind != kStruct {
		payload := *plan
		payload.name = "payload"
		k.wrapped = structNode("", &payload)
	}
	k.states.New = func() any { return newState() }
	return k, true, nil
}

// keyColumnType is the key column's type as metaField's messages name it.
func keyColumnType(format string) string {
	switch format {
	case KeyString:
		return "string"
	case KeyJSON:
		return "any type a JSON value decodes into"
	}
	if RegistryKey(format) {
		return "a struct"
	}
	return evolution.TypeName(arrow.BinaryTypes.Binary)
}

// schemasEnable reports whether a JSON key is in the Connect converter's
// schemas.enable form, which always writes "schema" first.
func schemasEnable(key []byte) bool {
	key = bytes.TrimLeft(key, " \t\r\n")
	if len(key) == 0 || key[0] != '{' {
		return false
	}
	key = bytes.TrimLeft(key[1:], " \t\r\n")
	return bytes.HasPrefix(key, []byte(`"schema"`))
}

// parse is phase 1 for a non-null JSON key: the index of its value in st.
func (k *keyPlan) parse(st *state, key []byte) (int32, *fieldErr) {
	st.reset(key)
	sc := &st.sc
	sc.skipWS()
	if sc.pos == len(sc.buf) {
		return 0, newErr(KindMalformedJSON, "record key is empty")
	}
	wrapped := k.wrapped != nil && schemasEnable(key)
	plan := k.plan
	if wrapped {
		plan = k.wrapped
	}
	vi, err := st.value(plan)
	if err == nil {
		if sc.skipWS(); sc.pos != len(sc.buf) {
			err = newErr(KindMalformedJSON, "trailing data at byte "+strconv.Itoa(sc.pos))
		}
	}
	if err != nil {
		if err.kind != KindMalformedJSON {
			if v := validate(key); v != nil && v.kind == KindMalformedJSON {
				err = v
			}
		}
		if err.kind == KindMalformedJSON {
			err.path = nil
			err.detail = "record key: " + err.detail
		}
		return 0, err
	}
	if wrapped && vi >= 0 {
		vi = st.kids[st.vals[vi].first] // the payload
		if vi < 0 && !k.plan.nullable {
			return 0, newErr(KindMissingRequired, "record key's payload is null")
		}
	}
	return vi, nil
}

// check finds what append would reject in a non-null key.
func (k *keyPlan) check(key []byte) *fieldErr {
	if k.external {
		return nil
	}
	if k.format == KeyString {
		if !utf8.Valid(key) {
			return newErr(KindInvalidValue, "record key is not valid UTF-8")
		}
		return nil
	}
	st := k.states.Get().(*state)
	_, err := k.parse(st, key)
	st.release()
	k.states.Put(st)
	return err
}

// append appends a non-null key that check accepted: a JSON key is parsed
// again (keys are short; holding the first parse between the two phases
// would tie a state to every row in flight).
func (k *keyPlan) append(b array.Builder, key []byte) {
	if k.external {
		return
	}
	if k.format == KeyString {
		appendBytes(b, key)
		return
	}
	st := k.states.Get().(*state)
	vi, _ := k.parse(st, key)
	st.emit(k.plan, b, vi)
	st.release()
	k.states.Put(st)
}
