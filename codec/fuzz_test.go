package codec

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/internal/codectest"
)

// FuzzAppend checks on arbitrary input that Append never panics, appends
// exactly one row or nothing, and agrees with encoding/json on what is
// well-formed JSON.
func FuzzAppend(f *testing.F) {
	for _, seed := range []string{
		benchValue,
		`{"id": 1, "user": {"name": "a\u00e9\ud83d\ude00", "address": {"zip": "1"}}, "items": [{"sku": "s", "qty": 2}]}`,
		`{"id": 1, "attrs": {"a": "b", "c": null}, "counts": {"1": 2}, "matrix": [[1], [], null]}`,
		`{"id": 1, "groups": {"g": [{"x": true}, {}]}, "extra": [1, {"y": [null, 1e5, "z"]}]}`,
		`{"id": 1.0e0}`, `{"id": -0}`, `{"id": 1}}`, `{"id": "x"`, `[1]`, `null`, ``, `{"id": 1, "id": 2}`,
		"{\"id\": 1, \"user\": {\"name\": \"\xff\"}}", `{"id": 1, "attrs": {"\ud800": "x"}}`,
	} {
		f.Add([]byte(seed))
	}
	schema := arrowSchema(f, nestedFields()...)
	d, err := New(schema, DefaultConfig())
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, value []byte) {
		b := codectest.Builder(t, schema)
		err := codectest.OneRowOrNone(t, b, func() error { return d.Append(b, &Message{Topic: "t", Value: value}) })
		kind, _ := KindOf(err)
		if value != nil && !json.Valid(value) && err == nil {
			t.Fatalf("accepted invalid JSON %q", value)
		}
		if json.Valid(value) && kind == KindMalformedJSON {
			t.Fatalf("valid JSON %q reported as malformed: %v", value, err)
		}
		if err == nil {
			r := b.NewRecordBatch()
			r.Release()
		}
	})
}
