package main

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/floe-dev/floe/config"
)

// demoFormat is how `floe demo --format X` writes the demo orders for a
// registry format: the writer schema floe creates the table from (subject
// orders-value in an in-process registry) and the payload of one order.
type demoFormat struct {
	name    string // the --format and table format
	label   string // for the demo's output
	typ     sr.SchemaType
	schema  string
	indexes []int // Protobuf: the message's index in the file
	encode  func(rng *rand.Rand, i, customer int) []byte
}

// demoFormats are the registry formats the demo can show.
var demoFormats = map[string]demoFormat{
	"avro":        {name: "avro", label: "Avro", typ: sr.TypeAvro, schema: demoAvroSchema, encode: sampleOrderAvro},
	"protobuf":    {name: "protobuf", label: "Protobuf", typ: sr.TypeProtobuf, schema: demoProtoSchema, indexes: []int{0}, encode: sampleOrderProto},
	"json-schema": {name: "json-schema", label: "JSON Schema", typ: sr.TypeJSON, schema: demoJSONSchema, encode: sampleOrderJSONSchema},
}

// demoAvroSchema is the demo orders as Avro: the same fields as the JSON
// demo's table.
const demoAvroSchema = `{"type":"record","name":"Order","namespace":"demo","fields":[
	{"name":"order_id","type":{"type":"string","logicalType":"uuid"}},
	{"name":"customer_id","type":"long"},
	{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
	{"name":"currency","type":"string"},
	{"name":"status","type":["null","string"]},
	{"name":"created_at","type":{"type":"long","logicalType":"timestamp-micros"}},
	{"name":"shipping","type":["null",{"type":"record","name":"Shipping","fields":[
		{"name":"country","type":["null","string"]},{"name":"city","type":["null","string"]},{"name":"zip","type":["null","string"]}]}]},
	{"name":"items","type":["null",{"type":"array","items":{"type":"record","name":"Item","fields":[
		{"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}]}]}`

// demoProtoSchema is the demo orders as Protobuf; Protobuf has no decimal,
// so the amount is in cents.
const demoProtoSchema = `syntax = "proto3";
package demo;
import "google/protobuf/timestamp.proto";

message Order {
  string order_id = 1;
  int64 customer_id = 2;
  int64 amount_cents = 3;
  string currency = 4;
  optional string status = 5;
  google.protobuf.Timestamp created_at = 6;
  Shipping shipping = 7;
  repeated Item items = 8;

  message Shipping {
    string country = 1;
    string city = 2;
    string zip = 3;
  }
  message Item {
    string sku = 1;
    int32 qty = 2;
  }
}
`

// demoJSONSchema is the demo orders as a JSON Schema, its amount a Kafka
// Connect decimal.
const demoJSONSchema = `{"$schema": "http://json-schema.org/draft-07/schema#", "title": "Order", "type": "object",
	"properties": {
		"order_id": {"type": "string", "format": "uuid"},
		"customer_id": {"type": "integer"},
		"amount": {"type": "number", "title": "org.apache.kafka.connect.data.Decimal",
			"connect.parameters": {"scale": "2", "connect.decimal.precision": "12"}},
		"currency": {"type": "string"},
		"status": {"type": ["string", "null"]},
		"created_at": {"type": "string", "format": "date-time"},
		"shipping": {"type": "object", "properties": {
			"country": {"type": "string"}, "city": {"type": "string"}, "zip": {"type": "string"}}},
		"items": {"type": "array", "items": {"type": "object", "properties": {
			"sku": {"type": "string"}, "qty": {"type": "integer", "connect.type": "int32"}},
			"required": ["sku", "qty"]}}},
	"required": ["order_id", "customer_id", "amount", "currency", "created_at"]}`

// demoRegistry is an in-process Confluent-compatible registry (franz-go's
// srfake, for the demo only) holding f's schema as subject orders-value;
// it returns the schema's ID and a stop function.
func demoRegistry(f demoFormat) (url string, id int, stop func(), err error) {
	reg := srfake.New()
	id, _, err = reg.RegisterSchema(demoTopic+"-value", sr.Schema{Schema: f.schema, Type: f.typ})
	if err != nil {
		reg.Close()
		return "", 0, nil, fmt.Errorf("register the demo schema: %w", err)
	}
	return reg.URL(), id, reg.Close, nil
}

// demoRegistryConfig turns the demo config into one whose table reads
// format through the registry at url and is created from the subject's
// schema.
func demoRegistryConfig(cfg config.Config, format, url string) config.Config {
	cfg.SchemaRegistry.URLs = []string{url}
	t := &cfg.Tables[0]
	t.Codec.Format = format
	t.Schema = nil // from the registry
	return cfg
}

// frame puts the Confluent header of schema id (and message indexes)
// before payload.
func (f demoFormat) frame(id int, payload []byte) []byte {
	var h sr.ConfluentHeader
	b, err := h.AppendEncode(make([]byte, 0, len(payload)+8), id, f.indexes)
	if err != nil {
		panic(err) // a valid ID and indexes always encode
	}
	return append(b, payload...)
}

// sampleOrderAvro is sampleOrder's order as an Avro datum of
// demoAvroSchema.
func sampleOrderAvro(rng *rand.Rand, i, customer int) []byte {
	orderID := demoOrderID(rng)
	c := rng.IntN(len(demoCountries))
	created := demoCreatedAt(i)
	b := avroString(nil, orderID)
	b = avroLong(b, int64(customer))
	cents := int64(5+rng.IntN(500))*100 + int64(rng.IntN(100))
	b = avroBytes(b, twosComplement(cents))
	b = avroString(b, demoCurrency[rng.IntN(len(demoCurrency))])
	b = avroString(avroLong(b, 1), demoStatuses[rng.IntN(len(demoStatuses))])
	b = avroLong(b, created.UnixMicro())
	b = avroLong(b, 1) // shipping: the record branch
	b = avroString(avroLong(b, 1), demoCountries[c])
	b = avroString(avroLong(b, 1), demoCities[c])
	b = avroString(avroLong(b, 1), fmt.Sprintf("%05d", rng.IntN(99999)))
	items := 1 + rng.IntN(3)
	b = avroLong(avroLong(b, 1), int64(items)) // items: the array branch, one block
	for range items {
		b = avroString(b, fmt.Sprintf("SKU-%04d", rng.IntN(5000)))
		b = avroLong(b, int64(1+rng.IntN(4)))
	}
	return avroLong(b, 0) // end of the array
}

// Avro binary encoding: zig-zag varints, length-prefixed bytes.
func avroLong(b []byte, v int64) []byte { return binary.AppendUvarint(b, uint64(v<<1^v>>63)) }

func avroBytes(b, v []byte) []byte { return append(avroLong(b, int64(len(v))), v...) }

func avroString(b []byte, s string) []byte { return append(avroLong(b, int64(len(s))), s...) }

// twosComplement is v as Avro's decimal bytes: big-endian two's complement.
func twosComplement(v int64) []byte {
	out := big.NewInt(v).Bytes()
	if len(out) == 0 || out[0]&0x80 != 0 {
		out = append([]byte{0}, out...)
	}
	return out
}

// sampleOrderProto is sampleOrder's order as a Protobuf demo.Order.
func sampleOrderProto(rng *rand.Rand, i, customer int) []byte {
	str := func(b []byte, num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
	}
	varint := func(b []byte, num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
	}
	message := func(b []byte, num protowire.Number, m []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), m)
	}
	c := rng.IntN(len(demoCountries))
	created := demoCreatedAt(i)
	b := str(nil, 1, demoOrderID(rng))
	b = varint(b, 2, uint64(customer))
	b = varint(b, 3, uint64(int64(5+rng.IntN(500))*100+int64(rng.IntN(100))))
	b = str(b, 4, demoCurrency[rng.IntN(len(demoCurrency))])
	b = str(b, 5, demoStatuses[rng.IntN(len(demoStatuses))])
	b = message(b, 6, varint(varint(nil, 1, uint64(created.Unix())), 2, uint64(created.Nanosecond())))
	b = message(b, 7, str(str(str(nil, 1, demoCountries[c]), 2, demoCities[c]), 3, fmt.Sprintf("%05d", rng.IntN(99999))))
	for range 1 + rng.IntN(3) {
		b = message(b, 8, varint(str(nil, 1, fmt.Sprintf("SKU-%04d", rng.IntN(5000))), 2, uint64(1+rng.IntN(4))))
	}
	return b
}

// sampleOrderJSONSchema is sampleOrder's order as JSON valid for
// demoJSONSchema (the amount a number).
func sampleOrderJSONSchema(rng *rand.Rand, i, customer int) []byte {
	id := demoOrderID(rng)
	c := rng.IntN(len(demoCountries))
	b := fmt.Appendf(nil, `{"order_id":%q,"customer_id":%d,"amount":%d.%02d,"currency":%q,"status":%q,"created_at":%q,"shipping":{"country":%q,"city":%q,"zip":"%05d"},"items":[`,
		id, customer, 5+rng.IntN(500), rng.IntN(100),
		demoCurrency[rng.IntN(len(demoCurrency))], demoStatuses[rng.IntN(len(demoStatuses))],
		demoCreatedAt(i).Format(time.RFC3339Nano), demoCountries[c], demoCities[c], rng.IntN(99999))
	for k := range 1 + rng.IntN(3) {
		if k > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"sku":"SKU-%04d","qty":%d}`, rng.IntN(5000), 1+rng.IntN(4))
	}
	return append(b, "]}"...)
}
