package main

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand/v2"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/floe-dev/floe/config"
)

// demoAvroSchema is the demo orders as Avro: the same fields as the JSON
// demo's table, which floe creates from this schema (subject orders-value).
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

// demoRegistry is an in-process Confluent-compatible registry (franz-go's
// srfake, for the demo only) holding the demo schema; it returns the
// schema's ID and a stop function.
func demoRegistry() (url string, id int, stop func(), err error) {
	reg := srfake.New()
	id, _, err = reg.RegisterSchema(demoTopic+"-value", sr.Schema{Schema: demoAvroSchema, Type: sr.TypeAvro})
	if err != nil {
		reg.Close()
		return "", 0, nil, fmt.Errorf("register the demo schema: %w", err)
	}
	return reg.URL(), id, reg.Close, nil
}

// demoAvroConfig turns the demo config into one whose table reads Avro
// through the registry at url and is created from the subject's schema.
func demoAvroConfig(cfg config.Config, url string) config.Config {
	cfg.SchemaRegistry.URLs = []string{url}
	t := &cfg.Tables[0]
	t.Codec.Format = "avro"
	t.Schema = nil // from the registry
	return cfg
}

// sampleOrderAvro is sampleOrder's order as an Avro datum of
// demoAvroSchema, framed for schema id (Confluent wire format).
func sampleOrderAvro(rng *rand.Rand, i, customer, id int) []byte {
	orderID := demoOrderID(rng)
	c := rng.IntN(len(demoCountries))
	created := demoCreatedAt(i)
	b := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	b = avroString(b, orderID)
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
