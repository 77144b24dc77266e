//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// Schemas of TestTestbedSchemaRegistry. avroV2 adds an optional field with a
// default (a BACKWARD-compatible change); avroBad adds a required field
// without one (not BACKWARD-compatible: a reader on it cannot read v1 data).
const (
	avroV1   = `{"type":"record","name":"Order","namespace":"floe.e2e","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"}]}`
	avroV2   = `{"type":"record","name":"Order","namespace":"floe.e2e","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"note","type":["null","string"],"default":null}]}`
	avroBad  = `{"type":"record","name":"Order","namespace":"floe.e2e","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"qty","type":"int"}]}`
	avroV1WS = `{ "type": "record", "name": "Order", "namespace": "floe.e2e", "fields": [ {"name": "id", "type": "long"}, {"name": "item", "type": "string"} ] }`

	protoV1 = `syntax = "proto3";
package floe.e2e;

message Order {
  int64 id = 1;
  string item = 2;
}

message Refund {
  int64 order_id = 1;
  int64 cents = 2;
}
`
	// protoV2 adds a field: compatible. protoBad changes a field's type.
	protoV2 = `syntax = "proto3";
package floe.e2e;

message Order {
  int64 id = 1;
  string item = 2;
  string note = 3;
}

message Refund {
  int64 order_id = 1;
  int64 cents = 2;
}
`
	protoBad = `syntax = "proto3";
package floe.e2e;

message Order {
  string id = 1;
  string item = 2;
}

message Refund {
  int64 order_id = 1;
  int64 cents = 2;
}
`
	jsonV1 = `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Order","type":"object","properties":{"id":{"type":"integer"},"item":{"type":"string"}},"required":["id"]}`

	avroInner = `{"type":"record","name":"Money","namespace":"floe.e2e","fields":[{"name":"cents","type":"long"},{"name":"currency","type":"string"}]}`
	avroOuter = `{"type":"record","name":"Payment","namespace":"floe.e2e","fields":[{"name":"id","type":"long"},{"name":"amount","type":"floe.e2e.Money"}]}`
)

// TestTestbedSchemaRegistry checks the test bed's schema registry (Apicurio
// Registry 2.4.2, Confluent-compatible API) with franz-go's pkg/sr, the
// client floe uses: Avro, Protobuf and JSON Schema registered under
// <unique>-value subjects and read back by ID and by subject/latest; a
// compatible Avro evolution gets version 2 and a new ID; under BACKWARD an
// incompatible change is refused (Avro and Protobuf); Avro references; the
// errors a client sees for unknown IDs, subjects and versions; and the
// Confluent wire format (magic byte, 4-byte ID, Protobuf message indexes)
// built around IDs this registry handed out. Where Apicurio answers
// differently from Confluent's registry, the subtest "apicurio differences"
// pins what e2e/testbed/README.md says.
func TestTestbedSchemaRegistry(t *testing.T) {
	url := needSchemaRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatalf("sr client: %v", err)
	}

	pfx := "e2e-sr-" + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(rand.IntN(1000))
	var subjects []string // deleted at the end, in reverse (referrers first)
	subject := func(name string) string {
		s := pfx + "-" + name
		subjects = append(subjects, s)
		return s
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, s := range slices.Backward(subjects) {
			// Soft first, as Confluent's registry wants; Apicurio needs
			// only the hard delete and refuses the soft one on a subject
			// whose latest version is soft-deleted already.
			_, _ = cl.DeleteSubject(ctx, s, sr.SoftDelete)
			if _, err := cl.DeleteSubject(ctx, s, sr.HardDelete); err != nil && !isStatus(err, 404) {
				t.Errorf("hard-delete subject %s: %v", s, err)
			}
		}
	})
	t.Logf("registry %s, subjects %s-*", url, pfx)

	types, err := cl.SupportedTypes(ctx)
	if err != nil {
		t.Fatalf("supported types: %v", err)
	}
	for _, want := range []sr.SchemaType{sr.TypeAvro, sr.TypeProtobuf, sr.TypeJSON} {
		if !slices.Contains(types, want) {
			t.Fatalf("supported types %v lack %v", types, want)
		}
	}

	avroSubj := subject("orders-avro-value")
	protoSubj := subject("orders-proto-value")
	jsonSubj := subject("orders-json-value")

	// register creates s under subj and checks it reads back the same by ID
	// and as the subject's latest version.
	register := func(t *testing.T, subj string, s sr.Schema, wantVersion int) sr.SubjectSchema {
		t.Helper()
		ss, err := cl.CreateSchema(ctx, subj, s)
		if err != nil {
			t.Fatalf("register %s schema under %s: %v", s.Type, subj, err)
		}
		if ss.ID <= 0 || ss.Subject != subj || ss.Version != wantVersion || ss.Type != s.Type || ss.Schema.Schema != s.Schema {
			t.Fatalf("registered under %s: got %+v, want version %d of the %s schema sent", subj, ss, wantVersion, s.Type)
		}
		byID, err := cl.SchemaByID(ctx, ss.ID)
		if err != nil {
			t.Fatalf("schema by id %d: %v", ss.ID, err)
		}
		if byID.Schema != s.Schema || byID.Type != s.Type {
			t.Fatalf("schema by id %d: got %s %q, want %s %q", ss.ID, byID.Type, byID.Schema, s.Type, s.Schema)
		}
		latest, err := cl.SchemaByVersion(ctx, subj, -1)
		if err != nil {
			t.Fatalf("latest of %s: %v", subj, err)
		}
		if latest.ID != ss.ID || latest.Version != wantVersion || latest.Subject != subj || latest.Schema.Schema != s.Schema || latest.Type != s.Type {
			t.Fatalf("latest of %s: got %+v, want id %d version %d", subj, latest, ss.ID, wantVersion)
		}
		return ss
	}

	var avro1, avro2, proto1 sr.SubjectSchema
	t.Run("register and read back", func(t *testing.T) {
		avro1 = register(t, avroSubj, sr.Schema{Schema: avroV1, Type: sr.TypeAvro}, 1)
		proto1 = register(t, protoSubj, sr.Schema{Schema: protoV1, Type: sr.TypeProtobuf}, 1)
		json1 := register(t, jsonSubj, sr.Schema{Schema: jsonV1, Type: sr.TypeJSON}, 1)
		if avro1.ID == proto1.ID || avro1.ID == json1.ID || proto1.ID == json1.ID {
			t.Fatalf("three schemas share an ID: avro %d, protobuf %d, json %d", avro1.ID, proto1.ID, json1.ID)
		}

		// The same schema again: the same ID, no new version.
		id, err := cl.RegisterSchema(ctx, avroSubj, sr.Schema{Schema: avroV1}, -1, -1)
		if err != nil || id != avro1.ID {
			t.Fatalf("register the same schema again: id %d, %v; want %d", id, err, avro1.ID)
		}
		if vs, err := cl.SubjectVersions(ctx, avroSubj); err != nil || !slices.Equal(vs, []int{1}) {
			t.Fatalf("versions of %s: %v, %v; want [1]", avroSubj, vs, err)
		}
		found, err := cl.LookupSchema(ctx, avroSubj, sr.Schema{Schema: avroV1})
		if err != nil || found.ID != avro1.ID || found.Version != 1 {
			t.Fatalf("look up v1 in %s: %+v, %v", avroSubj, found, err)
		}
		subs, err := cl.Subjects(ctx)
		if err != nil {
			t.Fatalf("subjects: %v", err)
		}
		for _, s := range []string{avroSubj, protoSubj, jsonSubj} {
			if !slices.Contains(subs, s) {
				t.Fatalf("subjects lack %s", s)
			}
		}
	})
	if t.Failed() {
		return
	}

	t.Run("compatible evolution", func(t *testing.T) {
		// A new optional field with a default: compatible, version 2 with an
		// ID of its own; version 1 keeps its ID and text.
		res, err := cl.CheckCompatibility(ctx, avroSubj, -1, sr.Schema{Schema: avroV2})
		if err != nil || !res.Is {
			t.Fatalf("check v2 against v1: %+v, %v; want compatible", res, err)
		}
		avro2 = register(t, avroSubj, sr.Schema{Schema: avroV2, Type: sr.TypeAvro}, 2)
		if avro2.ID == avro1.ID {
			t.Fatalf("v2 got v1's ID %d", avro1.ID)
		}
		if vs, err := cl.SubjectVersions(ctx, avroSubj); err != nil || !slices.Equal(vs, []int{1, 2}) {
			t.Fatalf("versions of %s: %v, %v; want [1 2]", avroSubj, vs, err)
		}
		v1, err := cl.SchemaByVersion(ctx, avroSubj, 1)
		if err != nil || v1.ID != avro1.ID || v1.Schema.Schema != avroV1 {
			t.Fatalf("version 1 of %s: %+v, %v", avroSubj, v1, err)
		}
		p2 := register(t, protoSubj, sr.Schema{Schema: protoV2, Type: sr.TypeProtobuf}, 2)
		if p2.ID == proto1.ID {
			t.Fatalf("protobuf v2 got v1's ID %d", proto1.ID)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("BACKWARD refuses an incompatible change", func(t *testing.T) {
		for _, c := range []struct {
			subj      string
			bad       sr.Schema
			versions  []int
			latestID  int
			latestTxt string
		}{
			{avroSubj, sr.Schema{Schema: avroBad, Type: sr.TypeAvro}, []int{1, 2}, avro2.ID, avroV2},
			{protoSubj, sr.Schema{Schema: protoBad, Type: sr.TypeProtobuf}, []int{1, 2}, 0, protoV2},
		} {
			set := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackward}, c.subj)
			if len(set) != 1 || set[0].Err != nil || set[0].Level != sr.CompatBackward {
				t.Fatalf("set BACKWARD on %s: %+v", c.subj, set)
			}
			got := cl.Compatibility(ctx, c.subj)
			if len(got) != 1 || got[0].Err != nil || got[0].Level != sr.CompatBackward {
				t.Fatalf("compatibility of %s: %+v; want BACKWARD", c.subj, got)
			}
			res, err := cl.CheckCompatibility(ctx, c.subj, -1, c.bad)
			if err != nil || res.Is {
				t.Fatalf("check the incompatible %s schema against %s: %+v, %v; want not compatible", c.bad.Type, c.subj, res, err)
			}
			_, err = cl.RegisterSchema(ctx, c.subj, c.bad, -1, -1)
			var re *sr.ResponseError
			if !errors.As(err, &re) || re.StatusCode != 409 {
				t.Fatalf("register the incompatible %s schema under %s: %v; want HTTP 409", c.bad.Type, c.subj, err)
			}
			t.Logf("%s: refused: HTTP %d, error_code %d: %s", c.subj, re.StatusCode, re.ErrorCode, re.Message)
			if vs, err := cl.SubjectVersions(ctx, c.subj); err != nil || !slices.Equal(vs, c.versions) {
				t.Fatalf("versions of %s after the refusal: %v, %v; want %v", c.subj, vs, err, c.versions)
			}
			latest, err := cl.SchemaByVersion(ctx, c.subj, -1)
			if err != nil || latest.Schema.Schema != c.latestTxt || (c.latestID != 0 && latest.ID != c.latestID) {
				t.Fatalf("latest of %s after the refusal: %+v, %v", c.subj, latest, err)
			}
		}
	})

	t.Run("references", func(t *testing.T) {
		inner := subject("money")
		outer := subject("payments-avro-value")
		in := register(t, inner, sr.Schema{Schema: avroInner, Type: sr.TypeAvro}, 1)
		refs := []sr.SchemaReference{{Name: "floe.e2e.Money", Subject: inner, Version: 1}}
		out, err := cl.CreateSchema(ctx, outer, sr.Schema{Schema: avroOuter, Type: sr.TypeAvro, References: refs})
		if err != nil {
			t.Fatalf("register %s referencing %s: %v", outer, inner, err)
		}
		byID, err := cl.SchemaByID(ctx, out.ID)
		if err != nil || byID.Schema != avroOuter || !slices.Equal(byID.References, refs) {
			t.Fatalf("schema by id %d: %+v, %v; want the outer schema with references %+v", out.ID, byID, err, refs)
		}
		users, err := cl.SchemaReferences(ctx, inner, 1)
		if err != nil || len(users) != 1 || users[0].ID != out.ID || users[0].Subject != outer {
			t.Fatalf("schemas referencing %s v1 (id %d): %+v, %v; want %s (id %d)", inner, in.ID, users, err, outer, out.ID)
		}
		// Without the reference, the outer schema names an unknown type.
		_, err = cl.RegisterSchema(ctx, subject("payments-noref-value"), sr.Schema{Schema: avroOuter, Type: sr.TypeAvro}, -1, -1)
		if !isStatus(err, 422) {
			t.Fatalf("register the outer schema without its reference: %v; want HTTP 422", err)
		}
		// A reference to a version that does not exist.
		bad := []sr.SchemaReference{{Name: "floe.e2e.Money", Subject: inner, Version: 9}}
		_, err = cl.RegisterSchema(ctx, subject("payments-badref-value"), sr.Schema{Schema: avroOuter, Type: sr.TypeAvro, References: bad}, -1, -1)
		if !isStatus(err, 404) {
			t.Fatalf("register with a reference to version 9 of %s: %v; want HTTP 404", inner, err)
		}
	})

	t.Run("not found and invalid", func(t *testing.T) {
		for _, c := range []struct {
			what   string
			err    error
			status int
			code   int
		}{
			{"unknown ID", second(cl.SchemaByID(ctx, 1<<30)), 404, sr.ErrSchemaNotFound.Code},
			{"unknown subject", second(cl.SubjectVersions(ctx, pfx+"-nosuch-value")), 404, sr.ErrSubjectNotFound.Code},
			{"unknown version", second(cl.SchemaByVersion(ctx, avroSubj, 99)), 404, sr.ErrVersionNotFound.Code},
			{"invalid Avro", second(cl.RegisterSchema(ctx, subject("invalid-value"), sr.Schema{Schema: `{"type":"record","name":"X","fields":[{"name":"a","type":"nosuch"}]}`}, -1, -1)), 422, sr.ErrInvalidSchema.Code},
		} {
			var re *sr.ResponseError
			if !errors.As(c.err, &re) || re.StatusCode != c.status || re.ErrorCode != c.code {
				t.Errorf("%s: %v; want HTTP %d, error_code %d", c.what, c.err, c.status, c.code)
				continue
			}
			if !errors.Is(re.SchemaError(), sr.ErrorForCode(c.code)) {
				t.Errorf("%s: SchemaError() = %v; want %v", c.what, re.SchemaError(), sr.ErrorForCode(c.code))
			}
		}
	})

	t.Run("wire format", func(t *testing.T) {
		h := new(sr.ConfluentHeader)
		payload := []byte("payload")

		// Avro/JSON: magic byte 0, the ID as a big-endian uint32, the payload.
		b, err := h.AppendEncode(nil, avro2.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, payload...)
		want := append([]byte{0, byte(avro2.ID >> 24), byte(avro2.ID >> 16), byte(avro2.ID >> 8), byte(avro2.ID)}, payload...)
		if !bytes.Equal(b, want) {
			t.Fatalf("header for id %d: % x; want % x", avro2.ID, b, want)
		}
		id, rest, err := h.DecodeID(b)
		if err != nil || id != avro2.ID || !bytes.Equal(rest, payload) {
			t.Fatalf("decode % x: id %d, rest %q, %v", b, id, rest, err)
		}
		// The ID in the frame names the schema in the registry.
		s, err := cl.SchemaByID(ctx, id)
		if err != nil || s.Schema != avroV2 {
			t.Fatalf("schema of the framed id %d: %q, %v", id, s.Schema, err)
		}
		if _, _, err := h.DecodeID([]byte{1, 0, 0, 0, 1}); !errors.Is(err, sr.ErrBadHeader) {
			t.Fatalf("decode a frame with magic byte 1: %v; want ErrBadHeader", err)
		}
		if _, _, err := h.DecodeID([]byte{0, 0, 0}); !errors.Is(err, sr.ErrBadHeader) {
			t.Fatalf("decode a 3-byte frame: %v; want ErrBadHeader", err)
		}

		// Protobuf: after the ID, the message indexes (zig-zag varints: a
		// count, then the path through nested messages); [0], the first
		// message, is the single byte 0.
		for _, c := range []struct {
			index []int
			wire  []byte
		}{
			{[]int{0}, []byte{0}},          // Order
			{[]int{1}, []byte{2, 2}},       // Refund: count 1, index 1
			{[]int{1, 0}, []byte{4, 2, 0}}, // a message nested in Refund (framing only)
		} {
			b, err := h.AppendEncode(nil, proto1.ID, c.index)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b[5:], c.wire) {
				t.Fatalf("index %v: % x after the ID; want % x", c.index, b[5:], c.wire)
			}
			b = append(b, payload...)
			id, rest, err := h.DecodeID(b)
			if err != nil || id != proto1.ID {
				t.Fatalf("index %v: decode id: %d, %v", c.index, id, err)
			}
			index, rest, err := h.DecodeIndex(rest, 0)
			if err != nil || !slices.Equal(index, c.index) || !bytes.Equal(rest, payload) {
				t.Fatalf("index %v: decoded %v, rest %q, %v", c.index, index, rest, err)
			}
		}

		// A Serde does both for registered IDs (JSON stands in for the
		// payload encoding: the framing is under test).
		type order struct {
			ID   int64  `json:"id"`
			Item string `json:"item"`
		}
		type refund struct {
			OrderID int64 `json:"order_id"`
			Cents   int64 `json:"cents"`
		}
		var serde sr.Serde
		jsonFns := []sr.EncodingOpt{sr.EncodeFn(json.Marshal), sr.DecodeFn(json.Unmarshal)}
		serde.Register(avro2.ID, order{}, jsonFns...)
		serde.Register(proto1.ID, refund{}, append(jsonFns, sr.Index(1))...)
		for _, v := range []any{order{7, "tea"}, refund{7, 250}} {
			b, err := serde.Encode(v)
			if err != nil {
				t.Fatalf("encode %+v: %v", v, err)
			}
			got, err := serde.DecodeNew(b)
			if err != nil {
				t.Fatalf("decode % x: %v", b, err)
			}
			switch v := v.(type) {
			case order:
				if *got.(*order) != v || b[0] != 0 || int(b[1])<<24|int(b[2])<<16|int(b[3])<<8|int(b[4]) != avro2.ID {
					t.Fatalf("order round trip: % x -> %+v", b, got)
				}
			case refund:
				if *got.(*refund) != v || !bytes.Equal(b[5:7], []byte{2, 2}) {
					t.Fatalf("refund round trip: % x -> %+v", b, got)
				}
			}
		}
	})

	t.Run("apicurio differences", func(t *testing.T) {
		// What e2e/testbed/README.md says Apicurio 2.4.2 does differently
		// from Confluent's registry; a registry that changes any of it
		// makes this fail, and the README needs updating.

		// IDs are content IDs: the same text in another subject gets the
		// same ID (as in Confluent's), listed under both.
		other := subject("orders-avro-copy-value")
		id, err := cl.RegisterSchema(ctx, other, sr.Schema{Schema: avroV1}, -1, -1)
		if err != nil || id != avro1.ID {
			t.Errorf("same text under another subject: id %d, %v; want %d", id, err, avro1.ID)
		}
		usages, err := cl.SchemaVersionsByID(ctx, avro1.ID)
		if err != nil || !slices.Contains(usages, sr.SubjectVersion{Subject: avroSubj, Version: 1}) || !slices.Contains(usages, sr.SubjectVersion{Subject: other, Version: 1}) {
			t.Errorf("usages of id %d: %+v, %v; want %s/1 and %s/1", avro1.ID, usages, err, avroSubj, other)
		}

		// But content is compared as text: the same schema with other
		// whitespace is a new version with a new ID (Confluent compares
		// parsed schemas and returns the existing ID)...
		ws := subject("orders-avro-ws-value")
		id1, err := cl.RegisterSchema(ctx, ws, sr.Schema{Schema: avroV1}, -1, -1)
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		id2, err := cl.RegisterSchema(ctx, ws, sr.Schema{Schema: avroV1WS}, -1, -1)
		if err != nil || id2 == id1 {
			t.Errorf("whitespace variant without normalize: id %d (first %d), %v; want a new ID", id2, id1, err)
		}
		if vs, err := cl.SubjectVersions(ctx, ws); err != nil || !slices.Equal(vs, []int{1, 2}) {
			t.Errorf("versions of %s: %v, %v; want [1 2]", ws, vs, err)
		}
		// ...unless normalize=true: then a canonically equal schema finds
		// the subject's existing version.
		norm := subject("orders-avro-norm-value")
		id1, err = cl.RegisterSchema(ctx, norm, sr.Schema{Schema: avroV1}, -1, -1)
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		id2, err = cl.RegisterSchema(sr.WithParams(ctx, sr.Normalize), norm, sr.Schema{Schema: avroV1WS}, -1, -1)
		if err != nil || id2 != id1 {
			t.Errorf("whitespace variant with normalize: id %d, %v; want %d", id2, err, id1)
		}
		if vs, err := cl.SubjectVersions(ctx, norm); err != nil || !slices.Equal(vs, []int{1}) {
			t.Errorf("versions of %s: %v, %v; want [1]", norm, vs, err)
		}

		// Refusals carry error_code 0, not Confluent's 409 (the HTTP
		// status is 409 all the same); the compatibility check puts its
		// reason in "reason", which pkg/sr does not read (Messages stays
		// empty, even with verbose=true).
		_, err = cl.RegisterSchema(ctx, avroSubj, sr.Schema{Schema: avroBad}, -1, -1)
		var re *sr.ResponseError
		if !errors.As(err, &re) || re.StatusCode != 409 || re.ErrorCode != 0 {
			t.Errorf("incompatible: %v; want HTTP 409 with error_code 0", err)
		}
		res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), avroSubj, -1, sr.Schema{Schema: avroBad})
		if err != nil || res.Is || len(res.Messages) != 0 {
			t.Errorf("check, verbose: %+v, %v; want not compatible, no messages", res, err)
		}

		// A subject without a level of its own reports the global level
		// (Confluent: 40408 unless defaultToGlobal=true).
		global := cl.Compatibility(ctx)
		own := cl.Compatibility(ctx, jsonSubj)
		if len(global) != 1 || global[0].Err != nil || len(own) != 1 || own[0].Err != nil || own[0].Level != global[0].Level {
			t.Errorf("compatibility: global %+v, %s %+v; want the global level for both", global, jsonSubj, own)
		}
		if len(global) == 1 {
			t.Logf("global compatibility: %v (Apicurio's default: NONE; Confluent's: BACKWARD)", global[0].Level)
		}

		// Looking up a schema a subject does not have answers "subject not
		// found" (40401), not Confluent's 40403.
		_, err = cl.LookupSchema(ctx, avroSubj, sr.Schema{Schema: avroInner})
		if !errors.As(err, &re) || re.StatusCode != 404 || re.ErrorCode != sr.ErrSubjectNotFound.Code {
			t.Errorf("look up a schema %s does not have: %v; want HTTP 404, error_code 40401", avroSubj, err)
		}

		// The latest version of a subject that does not exist: "version not
		// found" (40402), not Confluent's 40401.
		_, err = cl.SchemaByVersion(ctx, pfx+"-nosuch-value", -1)
		if !errors.As(err, &re) || re.StatusCode != 404 || re.ErrorCode != sr.ErrVersionNotFound.Code {
			t.Errorf("latest of an unknown subject: %v; want HTTP 404, error_code 40402", err)
		}

		// Endpoints the ccompat API lacks: 404 with error_code 0.
		if _, err := cl.SchemaTextByID(ctx, avro1.ID); !isStatus(err, 404) {
			t.Errorf("GET /schemas/ids/{id}/schema: %v; want HTTP 404", err)
		}
		if _, err := cl.SubjectsByID(ctx, avro1.ID); !isStatus(err, 404) {
			t.Errorf("GET /schemas/ids/{id}/subjects: %v; want HTTP 404", err)
		}
		if _, err := cl.AllSchemas(ctx); !isStatus(err, 404) {
			t.Errorf("GET /schemas: %v; want HTTP 404", err)
		}
		if m := cl.Mode(ctx); len(m) != 1 || m[0].Err == nil {
			t.Errorf("GET /mode: %+v; want an error", m)
		}

		// A soft-deleted version stays listed and readable; latest skips it.
		// Soft-deleting the latest version hides the whole subject from
		// GET /subjects (version 1 still active), and soft-deleting that
		// subject then fails with HTTP 400.
		del := subject("orders-avro-del-value")
		register(t, del, sr.Schema{Schema: avroV1, Type: sr.TypeAvro}, 1)
		register(t, del, sr.Schema{Schema: avroV2, Type: sr.TypeAvro}, 2)
		if err := cl.DeleteSchema(ctx, del, 2, sr.SoftDelete); err != nil {
			t.Fatalf("soft-delete %s v2: %v", del, err)
		}
		if vs, err := cl.SubjectVersions(ctx, del); err != nil || !slices.Equal(vs, []int{1, 2}) {
			t.Errorf("versions of %s after soft-deleting v2: %v, %v; want [1 2] (Confluent: [1])", del, vs, err)
		}
		if latest, err := cl.SchemaByVersion(ctx, del, -1); err != nil || latest.Version != 1 {
			t.Errorf("latest of %s after soft-deleting v2: %+v, %v; want version 1", del, latest, err)
		}
		if v2, err := cl.SchemaByVersion(ctx, del, 2); err != nil || v2.Version != 2 {
			t.Errorf("soft-deleted version 2 of %s: %+v, %v; want it readable (Confluent: 40402)", del, v2, err)
		}
		if subs, err := cl.Subjects(ctx); err != nil || slices.Contains(subs, del) {
			t.Errorf("subjects after soft-deleting the latest version of %s: %v, %v; want it hidden", del, subs, err)
		}
		if _, err := cl.DeleteSubject(ctx, del, sr.SoftDelete); !isStatus(err, 400) {
			t.Errorf("soft-delete %s after soft-deleting its latest version: %v; want HTTP 400", del, err)
		}
		if vs, err := cl.DeleteSubject(ctx, del, sr.HardDelete); err != nil || !slices.Equal(vs, []int{1, 2}) {
			t.Errorf("hard-delete %s without a soft delete first: %v, %v; want [1 2] (Confluent: 40405)", del, vs, err)
		}
	})
}

// second returns the error of a two-value call.
func second[T any](_ T, err error) error { return err }

// isStatus reports whether err is a registry answer with this HTTP status.
func isStatus(err error, status int) bool {
	var re *sr.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}
