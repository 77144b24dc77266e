//go:build e2e

package e2e

// Avro through a real schema registry (Apicurio, Confluent-compatible API):
// floe creates the table from the topic's subject, follows a newer writer
// schema that adds a field, waits unready while the registry is unreachable
// for a writer schema it has not seen, survives a SIGKILL, dead-letters the
// records of a writer schema that changed a field's type, and PyIceberg and
// DuckDB must find every offset in exactly one of the table and the
// dead-letter table, each row with the values produced.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	hamba "github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// The writer schemas: the e2e orders (record) as Avro, with a decimal, a
// timestamp-micros, a nested record, an array and a map. v2 adds an optional
// field (color), v3 another (channel); the incompatible one (4) changes n
// from long to string, which cannot be written to the table's long column.
const (
	avroOrderHead = `{"type":"record","name":"Order","namespace":"floe.e2e.avro","fields":[` +
		`{"name":"id","type":"string"},`
	avroOrderN    = `{"name":"n","type":"long"},`
	avroOrderNBad = `{"name":"n","type":"string"},`
	avroOrderRest = `{"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}],"default":null},` +
		`{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},` +
		`{"name":"customer","type":{"type":"record","name":"Customer","fields":[` +
		`{"name":"id","type":"long"},` +
		`{"name":"country","type":["null","string"],"default":null},` +
		`{"name":"segment","type":["null","string"],"default":null}]}},` +
		`{"name":"tags","type":{"type":"array","items":"string"}},` +
		`{"name":"attrs","type":{"type":"map","values":"long"}}`
	avroOrderColor   = `,{"name":"color","type":["null","string"],"default":null}`
	avroOrderChannel = `,{"name":"channel","type":["null","string"],"default":null}`
)

func avroOrder(version int) string {
	switch version {
	case 1:
		return avroOrderHead + avroOrderN + avroOrderRest + `]}`
	case 2:
		return avroOrderHead + avroOrderN + avroOrderRest + avroOrderColor + `]}`
	case 3:
		return avroOrderHead + avroOrderN + avroOrderRest + avroOrderColor + avroOrderChannel + `]}`
	}
	return avroOrderHead + avroOrderNBad + avroOrderRest + `]}`
}

type avroCustomerRec struct {
	ID      int64   `avro:"id"`
	Country *string `avro:"country"`
	Segment *string `avro:"segment"`
}

// avroOrderRec is record(i) of kafka_test.go in Avro; Color and Channel are
// written only by the schemas that have them.
type avroOrderRec struct {
	ID       string           `avro:"id"`
	N        int64            `avro:"n"`
	Amount   *big.Rat         `avro:"amount"`
	TS       time.Time        `avro:"ts"`
	Customer avroCustomerRec  `avro:"customer"`
	Tags     []string         `avro:"tags"`
	Attrs    map[string]int64 `avro:"attrs"`
	Color    *string          `avro:"color"`
	Channel  *string          `avro:"channel"`
}

// avroOrderBadRec is a record of the incompatible schema: n is text.
type avroOrderBadRec struct {
	ID       string           `avro:"id"`
	N        string           `avro:"n"`
	Amount   *big.Rat         `avro:"amount"`
	TS       time.Time        `avro:"ts"`
	Customer avroCustomerRec  `avro:"customer"`
	Tags     []string         `avro:"tags"`
	Attrs    map[string]int64 `avro:"attrs"`
}

func strPtr(s string) *string { return &s }

// avroExpected is what record i written with schema version v holds, as
// the readers should return it.
type avroExpected struct {
	id       string
	n        int64
	amount   string
	customer avroCustomerRec
	tags     []string
	attrs    map[string]int64
	color    *string // v2 and later
	channel  *string // v3
}

func avroRecord(i, version int) avroExpected {
	id, _ := record(i) // the same id as the JSON record
	e := avroExpected{
		id:     id,
		n:      recordN(i),
		amount: recordAmount(i),
		customer: avroCustomerRec{
			ID:      int64(i % 5000),
			Country: strPtr(countries[i%len(countries)]),
		},
		tags:  make([]string, i%4),
		attrs: map[string]int64{},
	}
	if i%7 != 0 {
		e.customer.Segment = strPtr(segments[i%len(segments)])
	}
	for k := range e.tags {
		e.tags[k] = fmt.Sprintf("t%d", k)
	}
	if i%5 != 0 {
		e.attrs["qty"] = int64(i % 9)
		e.attrs["rank"] = int64(i % 13)
	}
	if version >= 2 {
		e.color = strPtr(fmt.Sprintf("c%d", i%5))
	}
	if version >= 3 {
		e.channel = strPtr(fmt.Sprintf("ch%d", i%3))
	}
	return e
}

func (e avroExpected) value(i int) avroOrderRec {
	amount, ok := new(big.Rat).SetString(e.amount)
	if !ok {
		panic("amount " + e.amount)
	}
	return avroOrderRec{ID: e.id, N: e.n, Amount: amount, TS: recordTS(i), Customer: e.customer,
		Tags: e.tags, Attrs: e.attrs, Color: e.color, Channel: e.channel}
}

// avroPipeline is one topic → table route for Avro records, floe reaching
// the registry through a fault proxy. formats_test.go routes other formats
// through it: format replaces the table's "format: avro" line (YAML,
// indented four spaces), metadata adds metadata-columns lines (six), and
// without regURL the config has no schema-registry section.
type avroPipeline struct {
	*pipeline
	dlqTable string
	regURL   string // floe's: through the proxy
	format   string
	metadata string
}

func (ap *avroPipeline) write(name string) (path, addr string) {
	t := ap.t
	t.Helper()
	addr = freeAddr(t)
	registry, format := "", "    format: avro\n"
	if ap.regURL != "" {
		registry = fmt.Sprintf("schema-registry:\n  urls: [%s]\n  timeout: 2s\n", yamlStr(ap.regURL))
	}
	if ap.format != "" {
		format = ap.format
	}
	yaml := fmt.Sprintf(`# floe e2e: %s
kafka:
  brokers: [%s]
  group: %s
  client-id: floe-e2e-%s
  session-timeout: 6s
  lag-interval: 2s
  batch:
    max-records: 5000
    max-age: 500ms
%scatalog:
%s
commit:
  timeout: 60s
  retry-min: 100ms
  retry-max: 2s
http:
  addr: %s
log:
  level: info
  format: json
shutdown:
  timeout: 60s
tables:
  - name: %s
    topics: [%s]
%s    schema-evolution: [add-columns]
    on-error: dlq
    dlq:
      table: %s
    commit-interval: 1s
    metadata-columns:
      partition: _kafka_partition
      offset: _kafka_offset
%s`, name, ap.conf.brokers, ap.group, name, registry, ap.conf.catalog, addr, ap.table, ap.topic, format, ap.dlqTable, ap.metadata)
	path = filepath.Join(ap.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, addr
}

func (ap *avroPipeline) start(name string) *floeProc {
	ap.t.Helper()
	cfg, addr := ap.write(name)
	proc := startFloe(ap.t, name, cfg, addr)
	ap.procs = append(ap.procs, proc)
	return proc
}

// readyz is the process's /readyz status and body (0 when it did not answer).
func readyz(p *floeProc) (int, string) {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + p.addr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// readRows has both readers list [partition, offset, label, cols...] of
// every row (check.py's pairs mode with label_columns, and extra's options).
func readRows(t testing.TB, p *pipeline, table, partCol, offCol, labelCol string, cols []string, extra map[string]any) (py, duck [][]any) {
	t.Helper()
	req := map[string]any{"mode": "pairs", "catalog": p.catalog, "table": table,
		"partition_column": partCol, "offset_column": offCol, "label_column": labelCol, "label_columns": cols}
	maps.Copy(req, extra)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.svc.Python, "readers/check.py")
	cmd.Stdin = bytes.NewReader(mustJSON(req))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("readers/check.py: %v\n%s", err, stderr.String())
	}
	var out map[string]struct {
		Pairs [][]any `json:"pairs"`
		Error string  `json:"error"`
	}
	dec := json.NewDecoder(&stdout)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("readers/check.py: %v\n%s", err, stdout.String())
	}
	for name, r := range out {
		if r.Error != "" {
			t.Fatalf("reader %s could not read %s: %s", name, table, r.Error)
		}
	}
	return out["pyiceberg"].Pairs, out["duckdb"].Pairs
}

// readerMap reads a map column as a reader returns it: PyIceberg a list of
// [key, value] pairs, DuckDB an object (or {"key": [...], "value": [...]}).
func readerMap(v any) (map[string]int64, bool) {
	out := map[string]int64{}
	num := func(x any) (int64, bool) {
		n, err := strconv.ParseInt(fmt.Sprint(x), 10, 64)
		return n, err == nil
	}
	switch m := v.(type) {
	case []any:
		for _, kv := range m {
			pair, ok := kv.([]any)
			if !ok || len(pair) != 2 {
				return nil, false
			}
			n, ok := num(pair[1])
			if !ok {
				return nil, false
			}
			out[fmt.Sprint(pair[0])] = n
		}
	case map[string]any:
		ks, kok := m["key"].([]any)
		vs, vok := m["value"].([]any)
		if kok && vok && len(m) == 2 && len(ks) == len(vs) {
			for i := range ks {
				n, ok := num(vs[i])
				if !ok {
					return nil, false
				}
				out[fmt.Sprint(ks[i])] = n
			}
			return out, true
		}
		for k, x := range m {
			n, ok := num(x)
			if !ok {
				return nil, false
			}
			out[k] = n
		}
	default:
		return nil, false
	}
	return out, true
}

// avroEncode is record i of version (for the incompatible schema, bad
// record i, its n as text) in Avro, framed with schema ID id.
func avroEncode(t testing.TB, id, version int) func(i int) ([]byte, []byte, error) {
	t.Helper()
	schema, err := hamba.Parse(avroOrder(version))
	if err != nil {
		t.Fatalf("parse v%d: %v", version, err)
	}
	return func(i int) ([]byte, []byte, error) {
		e := avroRecord(i, version)
		var v any = e.value(i)
		if version == 4 {
			good := e.value(i)
			e.id = fmt.Sprintf("x%07d", i)
			v = avroOrderBadRec{ID: e.id, N: strconv.FormatInt(e.n, 10), Amount: good.Amount, TS: good.TS,
				Customer: good.Customer, Tags: good.Tags, Attrs: good.Attrs}
		}
		payload, err := hamba.Marshal(schema, v)
		if err != nil {
			return nil, nil, err
		}
		b, err := framed(id, nil, payload)
		return []byte(e.id), b, err
	}
}

// TestAvroRegistryExactlyOnce: Avro through the real registry (topic
// subject name strategy) through registryExactlyOnce; row by row, the
// decimal, the timestamp-micros, the nested record, the array and the map
// included.
func TestAvroRegistryExactlyOnce(t *testing.T) {
	registryExactlyOnce(t, ordersScenario("    format: avro\n", sr.TypeAvro, avroOrder, avroEncode))
}
