package avro

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/codec"
)

// allTypes exercises every Avro type and logical type the decoder maps,
// nested records, arrays of records, maps, optional fields and fields the
// table does not have (skipme, and extra inside addr).
const allTypes = `{"type": "record", "name": "Event", "namespace": "com.acme", "fields": [
	{"name": "b", "type": "boolean"},
	{"name": "i", "type": "int"},
	{"name": "i2l", "type": "int"},
	{"name": "i2d", "type": "int"},
	{"name": "l", "type": "long"},
	{"name": "f", "type": "float"},
	{"name": "f2d", "type": "float"},
	{"name": "d", "type": "double"},
	{"name": "s", "type": "string"},
	{"name": "by", "type": "bytes"},
	{"name": "fx", "type": {"type": "fixed", "name": "F4", "size": 4}},
	{"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}},
	{"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
	{"name": "decf", "type": {"type": "fixed", "name": "D8", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 4}},
	{"name": "day", "type": {"type": "int", "logicalType": "date"}},
	{"name": "tms", "type": {"type": "int", "logicalType": "time-millis"}},
	{"name": "tus", "type": {"type": "long", "logicalType": "time-micros"}},
	{"name": "tsms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
	{"name": "tsus", "type": {"type": "long", "logicalType": "timestamp-micros"}},
	{"name": "ltsms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
	{"name": "ltsus", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
	{"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
	{"name": "id_text", "type": {"type": "string", "logicalType": "uuid"}},
	{"name": "id_fixed", "type": {"type": "fixed", "name": "U16", "size": 16, "logicalType": "uuid"}},
	{"name": "tags", "type": {"type": "array", "items": "string"}},
	{"name": "attrs", "type": {"type": "map", "values": ["null", "long"]}},
	{"name": "addr", "type": {"type": "record", "name": "Addr", "fields": [
		{"name": "city", "type": "string"},
		{"name": "extra", "type": {"type": "array", "items": "double"}},
		{"name": "zip", "type": ["null", "string"]}]}},
	{"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
		{"name": "sku", "type": "string"},
		{"name": "qty", "type": "int"},
		{"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}}]}}},
	{"name": "opt_s", "type": ["null", "string"]},
	{"name": "opt_l", "type": ["long", "null"]},
	{"name": "opt_addr", "type": ["null", "Addr"]},
	{"name": "opt_tags", "type": ["null", {"type": "array", "items": ["null", "string"]}]},
	{"name": "skipme", "type": ["int", "string", {"type": "record", "name": "Junk", "fields": [
		{"name": "x", "type": {"type": "map", "values": "bytes"}}]}]}
]}`

type addr struct {
	City  string    `avro:"city"`
	Extra []float64 `avro:"extra"`
	Zip   *string   `avro:"zip"`
}

type item struct {
	Sku   string   `avro:"sku"`
	Qty   int32    `avro:"qty"`
	Price *big.Rat `avro:"price"`
}

type event struct {
	B       bool              `avro:"b"`
	I       int32             `avro:"i"`
	I2l     int32             `avro:"i2l"`
	I2d     int32             `avro:"i2d"`
	L       int64             `avro:"l"`
	F       float32           `avro:"f"`
	F2d     float32           `avro:"f2d"`
	D       float64           `avro:"d"`
	S       string            `avro:"s"`
	By      []byte            `avro:"by"`
	Fx      [4]byte           `avro:"fx"`
	Color   string            `avro:"color"`
	Dec     *big.Rat          `avro:"dec"`
	Decf    *big.Rat          `avro:"decf"`
	Day     time.Time         `avro:"day"`
	Tms     time.Duration     `avro:"tms"`
	Tus     time.Duration     `avro:"tus"`
	Tsms    time.Time         `avro:"tsms"`
	Tsus    time.Time         `avro:"tsus"`
	Ltsms   time.Time         `avro:"ltsms"`
	Ltsus   time.Time         `avro:"ltsus"`
	ID      string            `avro:"id"`
	IDText  string            `avro:"id_text"`
	IDFixed [16]byte          `avro:"id_fixed"`
	Tags    []string          `avro:"tags"`
	Attrs   map[string]*int64 `avro:"attrs"`
	Addr    addr              `avro:"addr"`
	Items   []item            `avro:"items"`
	OptS    *string           `avro:"opt_s"`
	OptL    *int64            `avro:"opt_l"`
	OptAddr *addr             `avro:"opt_addr"`
	OptTags []*string         `avro:"opt_tags"`
	Skipme  any               `avro:"skipme"`
}

func allTypesTable() []iceberg.NestedField {
	p := iceberg.PrimitiveTypes
	addrType := func(base int) *iceberg.StructType {
		return &iceberg.StructType{FieldList: []iceberg.NestedField{
			req(base, "city", p.String), opt(base+1, "zip", p.String), opt(base+2, "country", p.String),
		}}
	}
	return []iceberg.NestedField{
		req(1, "b", p.Bool),
		req(2, "i", p.Int32),
		req(3, "i2l", p.Int64),
		req(4, "i2d", p.Float64),
		req(5, "l", p.Int64),
		req(6, "f", p.Float32),
		req(7, "f2d", p.Float64),
		req(8, "d", p.Float64),
		req(9, "s", p.String),
		req(10, "by", p.Binary),
		req(11, "fx", iceberg.FixedTypeOf(4)),
		req(12, "color", p.String),
		req(13, "dec", iceberg.DecimalTypeOf(12, 2)),
		req(14, "decf", iceberg.DecimalTypeOf(20, 6)), // rescaled from scale 4
		req(15, "day", p.Date),
		req(16, "tms", p.Time),
		req(17, "tus", p.Time),
		req(18, "tsms", p.TimestampTz),
		req(19, "tsus", p.Timestamp), // an instant as UTC wall time
		req(20, "ltsms", p.Timestamp),
		req(21, "ltsus", p.Timestamp),
		req(22, "id", p.UUID),
		req(23, "id_text", p.String),
		req(24, "id_fixed", p.UUID),
		opt(25, "tags", &iceberg.ListType{ElementID: 26, Element: p.String, ElementRequired: true}),
		opt(27, "attrs", &iceberg.MapType{KeyID: 28, KeyType: p.String, ValueID: 29, ValueType: p.Int64}),
		req(30, "addr", addrType(31)),
		opt(34, "items", &iceberg.ListType{ElementID: 35, ElementRequired: true, Element: &iceberg.StructType{FieldList: []iceberg.NestedField{
			req(36, "sku", p.String), req(37, "qty", p.Int64), opt(38, "price", iceberg.DecimalTypeOf(10, 2)),
		}}}),
		opt(39, "opt_s", p.String),
		opt(40, "opt_l", p.Int64),
		opt(41, "opt_addr", addrType(42)),
		opt(45, "opt_tags", &iceberg.ListType{ElementID: 46, Element: p.String}),
		opt(47, "absent", p.String),
		req(48, "kafka_topic", p.String),
		req(49, "kafka_partition", p.Int32),
		req(50, "kafka_offset", p.Int64),
		opt(51, "kafka_timestamp", p.TimestampTz),
		opt(52, "kafka_key", p.Binary),
	}
}

func metadataConfig() codec.Config {
	cfg := avroConfig()
	cfg.Metadata.Topic, cfg.Metadata.Partition, cfg.Metadata.Offset = "kafka_topic", "kafka_partition", "kafka_offset"
	cfg.Metadata.Timestamp, cfg.Metadata.Key = "kafka_timestamp", "kafka_key"
	return cfg
}

// randomEvent draws an event; about half of the optional values are null.
func randomEvent(r *rand.Rand) event {
	str := func() string {
		const letters = "abcdé€😀xyz"
		rs := []rune(letters)
		out := make([]rune, r.IntN(8))
		for i := range out {
			out[i] = rs[r.IntN(len(rs))]
		}
		return string(out)
	}
	ptr := func(s string) *string {
		if r.IntN(2) == 0 {
			return nil
		}
		return &s
	}
	rat := func(max int64, scale int64) *big.Rat {
		return big.NewRat(r.Int64N(2*max)-max, scale)
	}
	instant := time.UnixMicro(r.Int64N(4_000_000_000_000_000) - 1_000_000_000_000_000).UTC()
	mkAddr := func() addr {
		a := addr{City: str(), Zip: ptr(str())}
		for range r.IntN(3) {
			a.Extra = append(a.Extra, r.Float64())
		}
		return a
	}
	e := event{
		B: r.IntN(2) == 1, I: r.Int32() - 1<<30, I2l: -r.Int32(), I2d: r.Int32(),
		L: r.Int64() - 1<<62, F: r.Float32() * 1e10, F2d: -r.Float32(), D: r.NormFloat64() * 1e300,
		S: str(), By: []byte(str()), Color: []string{"RED", "GREEN", "BLUE"}[r.IntN(3)],
		Dec:  rat(999_999_999_999, 100),
		Decf: rat(999_999_999_999_999_999, 10_000),
		Day:  time.Date(1900+r.IntN(300), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC),
		Tms:  time.Duration(r.Int64N(86_400_000)) * time.Millisecond,
		Tus:  time.Duration(r.Int64N(86_400_000_000)) * time.Microsecond,
		Tsms: instant.Truncate(time.Millisecond), Tsus: instant,
		Ltsms: instant.Truncate(time.Millisecond), Ltsus: instant,
		ID: uuid.NewString(), IDText: uuid.NewString(), IDFixed: uuid.New(),
		Addr:   mkAddr(),
		Skipme: []any{int32(7), "junk"}[r.IntN(2)],
	}
	copy(e.Fx[:], str()+"    ")
	for range r.IntN(4) {
		e.Tags = append(e.Tags, str())
	}
	if r.IntN(2) == 0 {
		e.Attrs = map[string]*int64{}
		for range r.IntN(4) {
			v := r.Int64()
			if r.IntN(3) == 0 {
				e.Attrs[str()+"k"] = nil
			} else {
				e.Attrs[str()+"k"] = &v
			}
		}
	}
	for range r.IntN(3) {
		e.Items = append(e.Items, item{Sku: str(), Qty: r.Int32(), Price: rat(99_999_999, 100)})
	}
	e.OptS = ptr(str())
	if r.IntN(2) == 0 {
		v := r.Int64()
		e.OptL = &v
	}
	if r.IntN(2) == 0 {
		a := mkAddr()
		e.OptAddr = &a
	}
	if r.IntN(2) == 0 {
		e.OptTags = []*string{ptr(str()), ptr(str())}
	}
	return e
}

// expected is what the table must hold for e, in the form plain returns.
func expected(e event, m *codec.Message) map[string]any {
	fmtAddr := func(a *addr) any {
		if a == nil {
			return nil
		}
		out := map[string]any{"city": a.City, "zip": nil, "country": nil}
		if a.Zip != nil {
			out["zip"] = *a.Zip
		}
		return out
	}
	opt := func(s *string) any {
		if s == nil {
			return nil
		}
		return *s
	}
	row := map[string]any{
		"b": e.B, "i": e.I, "i2l": int64(e.I2l), "i2d": float64(e.I2d), "l": e.L,
		"f": e.F, "f2d": float64(e.F2d), "d": e.D, "s": e.S, "by": e.By, "fx": e.Fx[:], "color": e.Color,
		"dec":  e.Dec.FloatString(2),
		"decf": e.Decf.FloatString(6),
		"day":  e.Day.Format(time.DateOnly),
		"tms":  e.Tms.Microseconds(), "tus": e.Tus.Microseconds(),
		"tsms": e.Tsms.UnixMicro(), "tsus": e.Tsus.UnixMicro(),
		"ltsms": e.Ltsms.UnixMicro(), "ltsus": e.Ltsus.UnixMicro(),
		"id": e.ID, "id_text": e.IDText, "id_fixed": uuid.UUID(e.IDFixed).String(),
		"tags": []any{}, "addr": fmtAddr(&e.Addr), "items": []any{},
		"opt_s": opt(e.OptS), "opt_l": nil, "opt_addr": fmtAddr(e.OptAddr), "opt_tags": nil,
		"absent":      nil,
		"kafka_topic": m.Topic, "kafka_partition": m.Partition, "kafka_offset": m.Offset,
		"kafka_timestamp": m.Timestamp.UnixMicro(), "kafka_key": m.Key,
	}
	for _, s := range e.Tags {
		row["tags"] = append(row["tags"].([]any), s)
	}
	attrs := map[string]any{} // an Avro map is never null: nil encodes as empty
	for k, v := range e.Attrs {
		if v == nil {
			attrs[k] = nil
		} else {
			attrs[k] = *v
		}
	}
	row["attrs"] = attrs
	for _, it := range e.Items {
		row["items"] = append(row["items"].([]any), map[string]any{
			"sku": it.Sku, "qty": int64(it.Qty), "price": it.Price.FloatString(2)})
	}
	if e.OptL != nil {
		row["opt_l"] = *e.OptL
	}
	if e.OptTags != nil {
		row["opt_tags"] = []any{opt(e.OptTags[0]), opt(e.OptTags[1])}
	}
	return row
}

// TestAllTypes encodes random events with hamba/avro and compares what
// lands in Arrow field by field.
func TestAllTypes(t *testing.T) {
	h := newHarness(t, allTypes, metadataConfig(), allTypesTable()...)
	r := rand.New(rand.NewPCG(1, 2))
	var want []map[string]any
	for i := range 200 {
		e := randomEvent(r)
		m := testMessage(int64(i), encode(t, allTypes, e))
		require.NoError(t, h.appendMessage(m), "event %d", i)
		want = append(want, expected(e, m))
	}
	got := h.rows()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i], got[i], "row %d", i)
	}
}

// TestUnits covers the conversions the all-types table does not: nanosecond
// timestamps, nanosecond columns, micro- to nanosecond rescaling, and
// fixed[16] filled from uuid text.
func TestUnits(t *testing.T) {
	const writer = `{"type": "record", "name": "R", "fields": [
		{"name": "ns_us", "type": {"type": "long", "logicalType": "timestamp-nanos"}},
		{"name": "ns_ns", "type": {"type": "long", "logicalType": "timestamp-nanos"}},
		{"name": "us_ns", "type": {"type": "long", "logicalType": "timestamp-micros"}},
		{"name": "lns", "type": {"type": "long", "logicalType": "local-timestamp-nanos"}},
		{"name": "u", "type": {"type": "string", "logicalType": "uuid"}},
		{"name": "plain_uuid", "type": "string"}]}`
	// hamba has no nanosecond logical types; the wire form is a long.
	const plainWriter = `{"type": "record", "name": "R", "fields": [
		{"name": "ns_us", "type": "long"}, {"name": "ns_ns", "type": "long"},
		{"name": "us_ns", "type": "long"}, {"name": "lns", "type": "long"},
		{"name": "u", "type": "string"}, {"name": "plain_uuid", "type": "string"}]}`
	type rec struct {
		NsUs      int64  `avro:"ns_us"`
		NsNs      int64  `avro:"ns_ns"`
		UsNs      int64  `avro:"us_ns"`
		Lns       int64  `avro:"lns"`
		U         string `avro:"u"`
		PlainUUID string `avro:"plain_uuid"`
	}
	p := iceberg.PrimitiveTypes
	h := newHarness(t, writer, avroConfig(),
		req(1, "ns_us", p.TimestampTz), req(2, "ns_ns", p.TimestampTzNs), req(3, "us_ns", p.TimestampNs),
		req(4, "lns", p.TimestampNs), req(5, "u", iceberg.FixedTypeOf(16)), req(6, "plain_uuid", p.UUID))
	id := uuid.MustParse("123e4567-e89b-12d3-a456-426614174000")
	require.NoError(t, h.append(encode(t, plainWriter, rec{
		NsUs: -1_500, NsNs: 1_700_000_000_123_456_789, UsNs: 1_700_000_000_123_456, Lns: 42,
		U: "123E4567-E89B-12D3-A456-426614174000", PlainUUID: id.String(),
	})))
	require.Equal(t, []map[string]any{{
		"ns_us": int64(-2), // truncated toward the past
		"ns_ns": int64(1_700_000_000_123_456_789), "us_ns": int64(1_700_000_000_123_456_000),
		"lns": int64(42), "u": id[:], "plain_uuid": id.String(),
	}}, h.rows())
}

// TestDecimalRescale covers scales up and down, exactly or not, and
// values needing more than 16 bytes of two's complement.
func TestDecimalRescale(t *testing.T) {
	writer := func(scale int) string {
		return fmt.Sprintf(`{"type": "record", "name": "R", "fields": [
			{"name": "v", "type": {"type": "bytes", "logicalType": "decimal", "precision": 50, "scale": %d}}]}`, scale)
	}
	type rec struct {
		V *big.Rat `avro:"v"`
	}
	for _, tc := range []struct {
		name        string
		scale       int // writer scale; the column is decimal(10,3)
		value       string
		want        string // "" means out_of_range
		wantMessage string
	}{
		{"same scale", 3, "-1234567.891", "-1234567.891", ""},
		{"scale up", 1, "12.5", "12.500", ""},
		{"scale down exact", 6, "-0.250000", "-0.250", ""},
		{"scale down needs rounding", 6, "0.2505", "", "floe does not round"},
		{"too many digits", 3, "12345678.901", "", "more digits than decimal(10,3)"},
		{"too many digits after scale up", 0, "10000000", "", "more digits"},
		{"smallest step", 3, "0.001", "0.001", ""},
		{"beyond 128 bits", 3, "1e38", "", "more digits"},
		{"beyond 128 bits negative", 3, "-1e38", "", "more digits"},
		{"zero with big scale down", 30, "0", "0.000", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, writer(tc.scale), avroConfig(), opt(1, "v", iceberg.DecimalTypeOf(10, 3)))
			v, ok := new(big.Rat).SetString(tc.value)
			require.True(t, ok)
			err := h.append(encode(t, writer(tc.scale), rec{V: v}))
			if tc.want == "" {
				de := requireDecodeError(t, err, "out_of_range", "v")
				require.Contains(t, de.Detail, tc.wantMessage)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []map[string]any{{"v": tc.want}}, h.rows())
		})
	}
	t.Run("sign extension beyond 16 bytes", func(t *testing.T) {
		h := newHarness(t, writer(3), avroConfig(), opt(1, "v", iceberg.DecimalTypeOf(10, 3)))
		// -5 in 20 bytes of two's complement, then 5.
		neg := append(bytesOf(0xff, 19), 0xfb)
		pos := append(bytesOf(0x00, 19), 0x05)
		require.NoError(t, h.append(append([]byte{40}, neg...)))
		require.NoError(t, h.append(append([]byte{40}, pos...)))
		require.Equal(t, []map[string]any{{"v": "-0.005"}, {"v": "0.005"}}, h.rows())
	})
}

func bytesOf(c byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = c
	}
	return out
}
