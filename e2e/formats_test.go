//go:build e2e

package e2e

// The registry formats and Debezium change events, end to end: the
// scenario every registry format runs (two replicas, a newer schema that
// adds a field, a registry outage while a schema ID floe has not seen
// arrives, a SIGKILL, an incompatible writer schema's records
// dead-lettered; Avro's writer schemas are in avro_test.go), Protobuf and
// JSON Schema values through the real registry (with a schema that
// references another subject's), and Debezium events (snapshot reads, creates,
// updates, deletes and tombstones, two event forms, a SIGKILL). PyIceberg
// and DuckDB must find every offset in exactly one of the table and the
// dead-letter table, each row with the values produced at its offset.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/floe-dev/floe/e2e/faultproxy"
)

// registryScenario is what TestAvroRegistryExactlyOnce,
// TestProtobufRegistryExactlyOnce and TestJSONSchemaRegistryExactlyOnce do
// differently.
type registryScenario struct {
	format string        // the table's decoding lines (YAML, four spaces in)
	typ    sr.SchemaType // the writer schemas' type
	// subject is the subject of the topic's values, from which floe
	// creates the table.
	subject func(topic string) string
	// ref is the schema the writer schemas reference by the name refName
	// (registered under <topic>-customer); "" for none.
	refName, ref string
	// schema is the text of writer schema version (1–3; 4 is the
	// incompatible one), encoder its encoding of record i under ID id.
	schema  func(version int) string
	encoder func(t testing.TB, id, version int) func(i int) (key, value []byte, err error)
	// cols, timestamps and aggregates are the verdict's; row is record i
	// of version as the table holds it: its id and cols' values.
	cols, timestamps []string
	aggregates       bool
	row              func(i, version int) []any
	// keyed: the records' keys (their ids) are Avro records {id} framed by
	// the registry under <topic>-key (key-format avro), into the column
	// _key, whatever the values' format.
	keyed bool
}

// avroKey is the schema of the keyed scenarios' keys.
const avroKey = `{"type":"record","name":"OrderKey","namespace":"shop","fields":[{"name":"id","type":"string"}]}`

// avroKeyed frames the keys of enc as Avro records of avroKey under id.
func avroKeyed(enc func(i int) ([]byte, []byte, error), id int) func(i int) ([]byte, []byte, error) {
	return func(i int) ([]byte, []byte, error) {
		k, v, err := enc(i)
		if err != nil {
			return nil, nil, err
		}
		key := binary.BigEndian.AppendUint32([]byte{0}, uint32(id))
		key = binary.AppendVarint(key, int64(len(k))) // Avro's zigzag length
		return append(key, k...), v, nil
	}
}

// registryExactlyOnce is the scenario of the registry formats (Avro,
// Protobuf, JSON Schema): two replicas create the table from the subject,
// follow a v2 that adds a field, wait (unready) through a registry outage
// of at least 20 s for a v3 they have not seen, survive a SIGKILL, and
// dead-letter the records of a writer schema that changed a field's type
// (schema_incompatible); both readers check every offset.
func registryExactlyOnce(t *testing.T, sc registryScenario) {
	s := needServices(t)
	regURL := needSchemaRegistry(t)
	const partitions = 4
	rng := seededRand(t)
	start := time.Now()

	p := newPipeline(t, s, "rest-file", partitions)
	ap := &avroPipeline{pipeline: p, dlqTable: p.table + "_dlq", format: sc.format}
	if sc.keyed {
		ap.format += "    key-format: avro\n"
		ap.metadata = "      key: _key\n"
	}
	u, err := url.Parse(regURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := faultproxy.New(u.Scheme+"://"+u.Host, faultproxy.RESTCatalog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	proxy.Seed(rng.Uint64())
	ap.regURL = proxy.URL() + u.Path
	p.cfgPath, _ = ap.write("commits")

	reg, err := sr.NewClient(sr.URLs(regURL))
	if err != nil {
		t.Fatal(err)
	}
	subject, customer, legacy := sc.subject(p.topic), p.topic+"-customer", p.topic+"-legacy-value"
	subjects := []string{subject, legacy, p.topic + "-key"} // referrers first
	var refs []sr.SchemaReference
	if sc.ref != "" {
		subjects = append(subjects, customer)
		refs = []sr.SchemaReference{{Name: sc.refName, Subject: customer, Version: 1}}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, subj := range subjects {
			if _, err := reg.DeleteSubject(ctx, subj, sr.HardDelete); err != nil && !isStatus(err, 404) {
				t.Logf("delete subject %s: %v", subj, err)
			}
		}
	})
	// register registers writer schema version, the incompatible one (4)
	// under a subject of its own.
	var keyID int
	if sc.keyed {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ss, err := reg.CreateSchema(ctx, p.topic+"-key", sr.Schema{Schema: avroKey, Type: sr.TypeAvro})
		cancel()
		if err != nil {
			t.Fatalf("register the key schema under %s-key: %v", p.topic, err)
		}
		keyID = ss.ID
	}
	register := func(version int) *formatWriter {
		t.Helper()
		subj := subject
		if version == 4 {
			subj = legacy
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ss, err := reg.CreateSchema(ctx, subj, sr.Schema{Schema: sc.schema(version), Type: sc.typ, References: refs})
		if err != nil {
			t.Fatalf("register v%d under %s: %v", version, subj, err)
		}
		t.Logf("registered v%d under %s: schema ID %d, version %d", version, subj, ss.ID, ss.Version)
		enc := sc.encoder(t, ss.ID, version)
		if keyID != 0 {
			enc = avroKeyed(enc, keyID)
		}
		return &formatWriter{version: version, encode: enc}
	}
	if sc.ref != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := reg.CreateSchema(ctx, customer, sr.Schema{Schema: sc.ref, Type: sc.typ}); err != nil {
			t.Fatalf("register the customer schema under %s: %v", customer, err)
		}
	}

	// 1. v1; two replicas create the table from the subject and consume.
	v1 := register(1)
	prod := startFormatProducer(t, p.cl, p.topic, v1, 1000)
	a, b := ap.start("a"), ap.start("b")
	a.waitReady(t)
	b.waitReady(t)
	p.waitCommitted(3000, a, b)
	if !strings.Contains(a.log()+b.log(), "subject "+subject+" version 1") {
		t.Errorf("neither replica logged creating the table from subject %s version 1", subject)
	}

	// 2. v2 adds color: the table gains the column.
	v2 := register(2)
	prod.cur.Store(v2)
	atV2 := prod.produced()
	waitFor(t, "the table evolved for v2 (color)", 2*time.Minute, func() bool {
		return countLog(a.log()+b.log(), `"msg":"schema evolved"`) >= 1
	}, a, b)
	p.waitCommitted(atV2+2000, a, b)

	// 3. v3 (adds channel) is registered, then the registry is cut off
	// from floe, and records of v3 arrive: floe has never seen its ID.
	v3 := register(3)
	proxy.Add(faultproxy.Rule{Kind: faultproxy.KindOther, Action: faultproxy.Reset})
	outage := time.Now()
	prod.cur.Store(v3)
	atV3 := prod.produced()
	seen := map[string]string{}
	held, ok := holdUntil(t, holdFor{atLeast: 20 * time.Second, atMost: 2 * time.Minute}, func() bool {
		for _, proc := range []*floeProc{a, b} {
			if code, body := readyz(proc); code == http.StatusServiceUnavailable && strings.Contains(body, "schema registry") && seen[proc.name] == "" {
				seen[proc.name] = fmt.Sprintf("after %v: %s", time.Since(outage).Round(time.Millisecond), body)
			}
		}
		return len(seen) == 2
	}, a, b)
	if !ok {
		t.Fatalf("registry cut off for %v: /readyz 503 naming the registry only from %v", held.Round(time.Millisecond), seen)
	}
	for name, line := range seen {
		t.Logf("unready: %s %s", name, line)
	}
	proxy.Clear()
	t.Logf("registry unreachable for %v (%d requests refused by the proxy)", held.Round(time.Millisecond), proxy.Hits(faultproxy.KindOther))
	back := time.Now()
	waitFor(t, "both replicas ready again", 3*time.Minute, func() bool {
		ca, _ := readyz(a)
		cb, _ := readyz(b)
		return ca == http.StatusOK && cb == http.StatusOK
	}, a, b)
	t.Logf("ready again %v after the registry came back (at %s)", time.Since(back).Round(time.Millisecond), back.UTC().Format("15:04:05.000"))
	for _, proc := range []*floeProc{a, b} {
		for _, line := range strings.Split(proc.log(), "\n") {
			if strings.Contains(line, "cannot decode") || strings.Contains(line, `"msg":"decoding again`) {
				t.Logf("floe %s: %s", proc.name, line[:min(len(line), 700)])
			}
		}
	}
	p.waitCommitted(atV3+2000, a, b)
	t.Logf("the v3 records caught up %v after the registry came back", time.Since(back).Round(time.Millisecond))

	// 4. SIGKILL one replica mid-stream; a new one takes its place.
	time.Sleep(randUpTo(rng, time.Second)) // anywhere in the commit cycle
	b.kill(t)
	p.killedAt = time.Now()
	c := ap.start("c")
	c.waitReady(t)
	p.waitCommitted(prod.produced()+1000, a, c)

	// 5. A writer schema that changed n's type, registered under another
	// subject: its records are dead letters.
	prod.produceBad(t, register(4), 40)
	p.waitCommitted(prod.produced()+1000, a, c)

	// 6. The end: every offset committed, SIGTERM, the judgement.
	n, sent := prod.finish(t)
	ends := endOffsets(t, p.adm, p.topic)
	if total := sumOffsets(ends); total != int64(len(sent)) || len(sent) != n+prod.bad {
		t.Fatalf("the topic ends at %v (%d records); %d good and %d bad produced, %d offsets acknowledged", ends, total, n, prod.bad, len(sent))
	}
	p.waitUntil("caught up with the topic's end", 5*time.Minute,
		func(m map[int32]int64) bool { return maps.Equal(m, withoutEmpty(ends)) }, a, c)
	stopAll(t, a, c)
	t.Logf("produced %d good records (v1 %d, v2 %d, v3 %d) and %d of the incompatible schema; floe ran %v",
		n, prod.byVer[1], prod.byVer[2], prod.byVer[3], prod.bad, time.Since(start).Round(time.Millisecond))
	evolved := 0
	for _, proc := range p.procs {
		evolved += countLog(proc.log(), `"msg":"schema evolved"`)
		t.Logf("floe %s: %s; %d schema changes, %d dead-letter commits, %d retry waits", proc.name, proc.logSummary(),
			countLog(proc.log(), `"msg":"schema evolved"`), countLog(proc.log(), `"msg":"dead letters committed"`),
			countLog(proc.log(), "the partition waits and reads them again"))
	}
	if evolved < 2 {
		t.Errorf("%d schema changes logged; want at least 2 (color, channel)", evolved)
	}

	ids := make([]string, n)
	for i := range ids {
		ids[i], _ = record(i)
	}
	cols := sc.cols
	if sc.keyed {
		cols = append(slices.Clone(cols), "_key")
	}
	judgeRoute(t, ap, verdict{ids: ids, ends: ends, aggregates: sc.aggregates, cols: cols, timestamps: sc.timestamps,
		expect: func(k string) ([]any, string) {
			what, ok := sent[k]
			switch {
			case !ok:
				return nil, "(never produced)"
			case what.bad:
				return nil, "schema_incompatible"
			}
			row := sc.row(what.i, what.version)
			if sc.keyed {
				row = append(row, map[string]any{"id": row[0]})
			}
			return row, ""
		}})
}

// opt is an optional string as sameValue takes it.
func opt(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// tsText is a timestamp as check.py's timestamp_columns return it.
func tsText(ts time.Time) string { return ts.UTC().Format("2006-01-02T15:04:05.000000Z") }

// customerValue is record i's customer struct as sameValue takes it.
func customerValue(e avroExpected) map[string]any {
	return map[string]any{"id": e.customer.ID, "country": opt(e.customer.Country), "segment": opt(e.customer.Segment)}
}

// ordersScenario is the scenario of the orders as Avro and JSON Schema
// carry them: the topic subject name strategy, and rows of orderRow.
func ordersScenario(format string, typ sr.SchemaType, schema func(version int) string,
	encoder func(t testing.TB, id, version int) func(i int) ([]byte, []byte, error),
) registryScenario {
	return registryScenario{format: format, typ: typ, subject: func(topic string) string { return topic + "-value" },
		schema: schema, encoder: encoder, cols: []string{"n", "amount", "ts", "customer", "tags", "attrs", "color", "channel"},
		timestamps: []string{"ts"}, aggregates: true, row: orderRow}
}

// orderRow is record i of version as the tables of ordersScenario hold it.
func orderRow(i, version int) []any {
	e := avroRecord(i, version)
	return []any{e.id, e.n, e.amount, tsText(recordTS(i)), customerValue(e), e.tags, e.attrs, opt(e.color), opt(e.channel)}
}

// framed is payload behind the Confluent wire header: magic byte, schema
// ID id and, for Protobuf, the message index.
func framed(id int, index []int, payload []byte) ([]byte, error) {
	var h sr.ConfluentHeader
	b, err := h.AppendEncode(nil, id, index)
	if err != nil {
		return nil, err
	}
	return append(b, payload...), nil
}

// --------------------------------------------------------------- Protobuf

// The writer schemas: the e2e orders as the second message of a .proto
// file (the value's message index is [1]) that imports the Customer
// message's file — a schema reference, a subject of its own — and the
// well-known Timestamp (no reference). v2 adds an optional field (color),
// v3 another (channel); the incompatible one changes n from int64 to
// string.
const (
	protoCustomerPath = "floe/e2e/customer.proto"
	protoCustomer     = `syntax = "proto3";
package floe.e2e.pb;

message Customer {
  int64 id = 1;
  string country = 2;
  optional string segment = 3;
}
`
	protoOrderName = "floe.e2e.pb.Order"
	protoOrderHead = `syntax = "proto3";
package floe.e2e.pb;

import "google/protobuf/timestamp.proto";
import "floe/e2e/customer.proto";

message Heartbeat {
  google.protobuf.Timestamp at = 1;
}

message Order {
  enum Status {
    STATUS_UNSPECIFIED = 0;
    PLACED = 1;
    PAID = 2;
    SHIPPED = 3;
  }
  message Line {
    string sku = 1;
    int64 qty = 2;
  }
  string id = 1;
`
	protoOrderN    = "  int64 n = 2;\n"
	protoOrderNBad = "  string n = 2;\n"
	protoOrderRest = `  google.protobuf.Timestamp ts = 3;
  Customer customer = 4;
  Line line = 5;
  repeated string tags = 6;
  map<string, int64> attrs = 7;
  Status status = 8;
  optional string note = 9;
`
	protoOrderColor   = "  optional string color = 10;\n"
	protoOrderChannel = "  optional string channel = 11;\n"
)

func protoOrder(version int) string {
	switch version {
	case 1:
		return protoOrderHead + protoOrderN + protoOrderRest + "}\n"
	case 2:
		return protoOrderHead + protoOrderN + protoOrderRest + protoOrderColor + "}\n"
	case 3:
		return protoOrderHead + protoOrderN + protoOrderRest + protoOrderColor + protoOrderChannel + "}\n"
	}
	return protoOrderHead + protoOrderNBad + protoOrderRest + "}\n"
}

var protoStatuses = []string{"STATUS_UNSPECIFIED", "PLACED", "PAID", "SHIPPED"}

// protoExtras are the fields record i has in Protobuf beyond avroRecord's:
// a status (the default, unwritten, every fourth), a nested line (absent
// every fifth: null; qty 0, the unwritten default, now and then) and an
// optional note that is set to "" every third record, to text every
// third, and not set otherwise.
func protoExtras(i int) (status string, line map[string]any, note *string) {
	status = protoStatuses[i%len(protoStatuses)]
	if i%5 != 0 {
		line = map[string]any{"sku": fmt.Sprintf("sku%d", i%11), "qty": int64(i % 6)}
	}
	switch i % 3 {
	case 0:
		note = strPtr("")
	case 1:
		note = strPtr(fmt.Sprintf("note %d", i))
	}
	return status, line, note
}

// protoRow is record i of version as the table should hold it.
func protoRow(i, version int) []any {
	e := avroRecord(i, version)
	status, line, note := protoExtras(i)
	var l any
	if line != nil {
		l = line
	}
	return []any{e.id, e.n, tsText(recordTS(i)), customerValue(e), l, e.tags, e.attrs, status, opt(note), opt(e.color), opt(e.channel)}
}

// protoMessage compiles the order file of version with its import and
// returns the Order message.
func protoMessage(t testing.TB, version int) protoreflect.MessageDescriptor {
	t.Helper()
	const path = "floe/e2e/order.proto"
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{path: protoOrder(version), protoCustomerPath: protoCustomer}),
	})}
	files, err := c.Compile(context.Background(), path)
	if err != nil {
		t.Fatalf("compile the order file v%d: %v", version, err)
	}
	md := files[0].Messages().ByName("Order")
	if md == nil || md.Index() != 1 {
		t.Fatalf("the order file v%d has no Order as its second message", version)
	}
	return md
}

// protoEncode is record i (for the incompatible schema, bad record i, its
// n as text) of md, framed with schema ID id and Order's message index.
func protoEncode(md protoreflect.MessageDescriptor, id, version int) func(i int) ([]byte, []byte, error) {
	bad := version == 4
	return func(i int) ([]byte, []byte, error) {
		e := avroRecord(i, max(version, 1))
		m := dynamicpb.NewMessage(md)
		field := func(m protoreflect.Message, name string) protoreflect.FieldDescriptor {
			return m.Descriptor().Fields().ByName(protoreflect.Name(name))
		}
		str := func(m protoreflect.Message, name string, s *string) {
			if s != nil {
				m.Set(field(m, name), protoreflect.ValueOfString(*s))
			}
		}
		if bad {
			e.id = fmt.Sprintf("x%07d", i)
			m.Set(field(m, "n"), protoreflect.ValueOfString(strconv.FormatInt(e.n, 10)))
		} else {
			m.Set(field(m, "n"), protoreflect.ValueOfInt64(e.n))
		}
		str(m, "id", &e.id)
		ts := m.Mutable(field(m, "ts")).Message()
		at := recordTS(i)
		ts.Set(field(ts, "seconds"), protoreflect.ValueOfInt64(at.Unix()))
		ts.Set(field(ts, "nanos"), protoreflect.ValueOfInt32(int32(at.Nanosecond())))
		cust := m.Mutable(field(m, "customer")).Message()
		cust.Set(field(cust, "id"), protoreflect.ValueOfInt64(e.customer.ID))
		str(cust, "country", e.customer.Country)
		str(cust, "segment", e.customer.Segment)
		status, line, note := protoExtras(i)
		if line != nil {
			l := m.Mutable(field(m, "line")).Message()
			l.Set(field(l, "sku"), protoreflect.ValueOfString(line["sku"].(string)))
			l.Set(field(l, "qty"), protoreflect.ValueOfInt64(line["qty"].(int64)))
		}
		tags := m.Mutable(field(m, "tags")).List()
		for _, tag := range e.tags {
			tags.Append(protoreflect.ValueOfString(tag))
		}
		attrs := m.Mutable(field(m, "attrs")).Map()
		for k, n := range e.attrs {
			attrs.Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfInt64(n))
		}
		sf := field(m, "status")
		m.Set(sf, protoreflect.ValueOfEnum(sf.Enum().Values().ByName(protoreflect.Name(status)).Number()))
		str(m, "note", note)
		if version >= 2 && version <= 3 {
			str(m, "color", e.color)
		}
		if version == 3 {
			str(m, "channel", e.channel)
		}
		payload, err := proto.Marshal(m)
		if err != nil {
			return nil, nil, err
		}
		v, err := framed(id, []int{md.Index()}, payload)
		return []byte(e.id), v, err
	}
}

// TestProtobufRegistryExactlyOnce: Protobuf through the real registry with
// the topic-record subject name strategy — the subject is
// <topic>-floe.e2e.pb.Order, and record-name also picks Order, the file's
// second message, for the table floe creates — through
// registryExactlyOnce. Row by row: int64, Timestamp, the imported
// message, a nested message (null when absent), repeated string, map, the
// enum as its symbol (the unwritten default too), proto3 optional fields
// null when unset and "" when set to "".
func TestProtobufRegistryExactlyOnce(t *testing.T) {
	registryExactlyOnce(t, registryScenario{
		format:  "    format: protobuf\n    subject-name-strategy: topic-record\n    record-name: " + protoOrderName + "\n",
		typ:     sr.TypeProtobuf,
		subject: func(topic string) string { return topic + "-" + protoOrderName },
		refName: protoCustomerPath,
		ref:     protoCustomer,
		schema:  protoOrder,
		encoder: func(t testing.TB, id, version int) func(int) ([]byte, []byte, error) {
			return protoEncode(protoMessage(t, version), id, version)
		},
		keyed:      true, // Avro keys beside Protobuf values
		cols:       []string{"n", "ts", "customer", "line", "tags", "attrs", "status", "note", "color", "channel"},
		timestamps: []string{"ts"},
		row:        protoRow,
	})
}

// ------------------------------------------------------------ JSON Schema

// The writer schemas: the e2e orders as JSON Schema (draft-07) with a
// Kafka Connect decimal, a date-time, an array, a map (additionalProperties)
// and the customer as a $ref to another subject's document (a schema
// reference). v2 adds an optional property (color), v3 another (channel);
// the incompatible one changes n from integer to string.
const (
	jsonCustomerRef = "customer.json"
	jsonCustomer    = `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Customer","type":"object",` +
		`"properties":{"id":{"type":"integer"},"country":{"type":"string"},"segment":{"oneOf":[{"type":"null"},{"type":"string"}]}},` +
		`"required":["id"]}`
	jsonOrderHead = `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Order","type":"object","properties":{` +
		`"id":{"type":"string"},`
	jsonOrderN    = `"n":{"type":"integer"},`
	jsonOrderNBad = `"n":{"type":"string"},`
	jsonOrderRest = `"amount":{"type":"number","title":"org.apache.kafka.connect.data.Decimal","connect.version":1,` +
		`"connect.parameters":{"scale":"2","connect.decimal.precision":"12"}},` +
		`"ts":{"type":"string","format":"date-time"},` +
		`"customer":{"$ref":"customer.json"},` +
		`"tags":{"type":"array","items":{"type":"string"}},` +
		`"attrs":{"type":"object","additionalProperties":{"type":"integer"}}`
	jsonOrderColor   = `,"color":{"type":"string"}`
	jsonOrderChannel = `,"channel":{"oneOf":[{"type":"null"},{"type":"string"}]}`
	jsonOrderTail    = `},"required":["id","n","ts","customer","tags","attrs"]}`
)

func jsonOrder(version int) string {
	switch version {
	case 1:
		return jsonOrderHead + jsonOrderN + jsonOrderRest + jsonOrderTail
	case 2:
		return jsonOrderHead + jsonOrderN + jsonOrderRest + jsonOrderColor + jsonOrderTail
	case 3:
		return jsonOrderHead + jsonOrderN + jsonOrderRest + jsonOrderColor + jsonOrderChannel + jsonOrderTail
	}
	return jsonOrderHead + jsonOrderNBad + jsonOrderRest + jsonOrderTail
}

// jsonEncode is record i of version (for the incompatible schema, bad
// record i, its n as text) as JSON with the decimal a bare number (Kafka
// Connect's decimal.format NUMERIC), framed with schema ID id.
func jsonEncode(id, version int) func(i int) ([]byte, []byte, error) {
	bad := version == 4
	return func(i int) ([]byte, []byte, error) {
		e := avroRecord(i, max(version, 1))
		v := map[string]any{
			"id": e.id, "n": e.n, "amount": json.Number(e.amount),
			"ts":       recordTS(i).Format("2006-01-02T15:04:05.000000Z07:00"),
			"customer": map[string]any{"id": e.customer.ID, "country": e.customer.Country, "segment": e.customer.Segment},
			"tags":     e.tags, "attrs": e.attrs,
		}
		if bad {
			v["id"], v["n"] = fmt.Sprintf("x%07d", i), strconv.FormatInt(e.n, 10)
		}
		if version >= 2 && version <= 3 {
			v["color"] = e.color
		}
		if version == 3 {
			v["channel"] = e.channel
		}
		payload, err := json.Marshal(v)
		if err != nil {
			return nil, nil, err
		}
		b, err := framed(id, nil, payload)
		return []byte(fmt.Sprint(v["id"])), b, err
	}
}

// TestJSONSchemaRegistryExactlyOnce: JSON Schema through the real registry
// (topic subject name strategy) through registryExactlyOnce; row by row,
// the decimal included.
func TestJSONSchemaRegistryExactlyOnce(t *testing.T) {
	sc := ordersScenario("    format: json-schema\n", sr.TypeJSON, jsonOrder,
		func(_ testing.TB, id, version int) func(int) ([]byte, []byte, error) { return jsonEncode(id, version) })
	sc.refName, sc.ref = jsonCustomerRef, jsonCustomer
	registryExactlyOnce(t, sc)
}

// --------------------------------------------------------------- Debezium

// debeziumSchema is the table's: record(i)'s columns and the source
// table's primary key.
const debeziumSchema = `    format: json
    envelope: debezium
    deletes: dlq
    key-format: json
    key-schema: [{name: pk, type: long, required: true}]
    schema:
      - {name: id, type: string, required: true}
      - {name: pk, type: long, required: true}
      - {name: n, type: long, required: true}
      - {name: amount, type: "decimal(12, 2)"}
      - {name: ts, type: timestamptz, required: true}
      - name: customer
        type: struct
        fields:
          - {name: id, type: long, required: true}
          - {name: country, type: string}
          - {name: segment, type: string}
      - {name: tags, type: "list<string>"}
`

// debeziumEvent is change event i of a PostgreSQL table, in cycles of ten:
// eight changes with a row (row r = 8·(i/10) + i%10: record(r) and its
// primary key; snapshot reads for the first rows, then creates, and every
// fourth an update of the row before), then a delete of the cycle's third
// row and its tombstone. Every third event comes from a JSON converter
// with schemas.enable ({"schema", "payload"}); every second has ts_us
// beside ts_ms. row is -1 for a delete or a tombstone.
type debeziumEvent struct {
	row   int
	pk    int64
	op    string
	tsUS  int64 // the source's commit time, the most precise it gives
	lsn   int64
	key   []byte
	value []byte // nil: a tombstone
}

const debeziumSnapshotRows = 1200

func debeziumAt(i int) debeziumEvent {
	cycle, pos := i/10, i%10
	ev := debeziumEvent{row: -1, lsn: 24_000_000 + int64(i)*128}
	tsMS := tsBase.UnixMilli() + int64(i)*1000
	ev.tsUS = tsMS * 1000
	source := map[string]any{"version": "2.7.3.Final", "connector": "postgresql", "name": "pg", "ts_ms": tsMS,
		"snapshot": "false", "db": "shop", "schema": "public", "table": "orders", "txId": 7000 + i, "lsn": ev.lsn}
	if i%2 == 0 {
		ev.tsUS += int64(i % 1000)
		source["ts_us"] = ev.tsUS
	}
	event := map[string]any{"source": source, "ts_ms": tsMS + 250}
	switch pos {
	case 8, 9:
		ev.pk, ev.op = int64(cycle*8+2), "d"
		id, _ := record(cycle*8 + 2)
		event["before"], event["after"], event["op"] = map[string]any{"id": id, "pk": ev.pk}, nil, "d"
	default:
		ev.row = cycle*8 + pos
		ev.pk, ev.op = int64(ev.row), "c"
		switch {
		case ev.row < debeziumSnapshotRows:
			ev.op, source["snapshot"] = "r", "true"
		case ev.row%4 == 3:
			ev.pk, ev.op = ev.pk-1, "u"
		}
		_, after := record(ev.row)
		after = append(fmt.Appendf(nil, `{"pk":%d,`, ev.pk), after[1:]...)
		event["before"], event["after"], event["op"] = nil, json.RawMessage(after), ev.op
	}
	ev.key = fmt.Appendf(nil, `{"pk":%d}`, ev.pk)
	if i%3 == 0 { // as a JsonConverter with schemas.enable writes keys
		ev.key = fmt.Appendf(nil, `{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"pk"}],"optional":false},"payload":%s}`, ev.key)
	}
	if pos == 9 {
		return ev // the tombstone after the delete: a null value
	}
	var v any = event
	if i%3 == 0 {
		v = map[string]any{"schema": map[string]any{"type": "struct", "optional": false, "name": "pg.public.orders.Envelope"}, "payload": event}
	}
	ev.value = mustJSON(v)
	return ev
}

// TestDebeziumExactlyOnce: Debezium change events (envelope: debezium,
// deletes: dlq) from two replicas, one SIGKILLed mid-stream: every row
// event's after image is a row exactly once, with op, the source's commit
// time, LSN and JSON key (half of them in the schemas.enable form) in
// metadata columns; every delete and tombstone is a dead
// letter exactly once (cdc_delete, null_value); the offsets reach the
// topic's end.
func TestDebeziumExactlyOnce(t *testing.T) {
	s := needServices(t)
	const partitions = 4
	rng := seededRand(t)
	start := time.Now()
	p := newPipeline(t, s, "rest-file", partitions)
	ap := &avroPipeline{pipeline: p, dlqTable: p.table + "_dlq", format: debeziumSchema,
		metadata: "      key: _key\n      op: _op\n      source-timestamp: _source_ts\n      source-position: _lsn\n"}
	p.cfgPath, _ = ap.write("commits")

	w := &formatWriter{version: 1, encode: func(i int) ([]byte, []byte, error) {
		ev := debeziumAt(i)
		return ev.key, ev.value, nil
	}}
	prod := startFormatProducer(t, p.cl, p.topic, w, 1000)
	a, b := ap.start("a"), ap.start("b")
	a.waitReady(t)
	b.waitReady(t)
	p.waitCommitted(3000, a, b)

	time.Sleep(randUpTo(rng, time.Second)) // anywhere in the commit cycle
	b.kill(t)
	p.killedAt = time.Now()
	c := ap.start("c")
	c.waitReady(t)
	p.waitCommitted(prod.produced()+1000, a, c)

	n, sent := prod.finish(t)
	ends := endOffsets(t, p.adm, p.topic)
	if total := sumOffsets(ends); total != int64(len(sent)) || len(sent) != n {
		t.Fatalf("the topic ends at %v (%d records); %d events produced, %d offsets acknowledged", ends, total, n, len(sent))
	}
	p.waitUntil("caught up with the topic's end", 5*time.Minute,
		func(m map[int32]int64) bool { return maps.Equal(m, withoutEmpty(ends)) }, a, c)
	stopAll(t, a, c)
	var ids []string
	for i := range n {
		if ev := debeziumAt(i); ev.row >= 0 {
			id, _ := record(ev.row)
			ids = append(ids, id)
		}
	}
	t.Logf("produced %d change events (%d with a row); floe ran %v", n, len(ids), time.Since(start).Round(time.Millisecond))
	for _, proc := range p.procs {
		t.Logf("floe %s: %s; %d dead-letter commits", proc.name, proc.logSummary(), countLog(proc.log(), `"msg":"dead letters committed"`))
	}

	judgeRoute(t, ap, verdict{ids: ids, ends: ends, aggregates: true,
		cols:       []string{"pk", "n", "amount", "ts", "customer", "tags", "_op", "_source_ts", "_lsn", "_key"},
		timestamps: []string{"ts", "_source_ts"},
		expect: func(k string) ([]any, string) {
			what, ok := sent[k]
			if !ok {
				return nil, "(never produced)"
			}
			ev := debeziumAt(what.i)
			switch {
			case ev.value == nil:
				return nil, "null_value"
			case ev.row < 0:
				return nil, "cdc_delete"
			}
			e := avroRecord(ev.row, 1)
			return []any{e.id, ev.pk, e.n, e.amount, tsText(recordTS(ev.row)), customerValue(e), e.tags,
				ev.op, tsText(time.UnixMicro(ev.tsUS)), strconv.FormatInt(ev.lsn, 10), map[string]any{"pk": ev.pk}}, ""
		}})
}
