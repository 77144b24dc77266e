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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hamba "github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/floe-dev/floe/e2e/faultproxy"
)

// The writer schemas: the e2e orders (record) as Avro, with a decimal, a
// timestamp-micros, a nested record, an array and a map. v2 adds an optional
// field (color), v3 another (channel); avroOrderBad changes n from long to
// string, which cannot be written to the table's long column.
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

	avroOrderV1  = avroOrderHead + avroOrderN + avroOrderRest + `]}`
	avroOrderV2  = avroOrderHead + avroOrderN + avroOrderRest + avroOrderColor + `]}`
	avroOrderV3  = avroOrderHead + avroOrderN + avroOrderRest + avroOrderColor + avroOrderChannel + `]}`
	avroOrderBad = avroOrderHead + avroOrderNBad + avroOrderRest + `]}`
)

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

// avroOrderBadRec is avroOrderBad's record: n is text.
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

// avroWriter is a registered writer schema.
type avroWriter struct {
	version int
	id      int
	schema  hamba.Schema
}

func registerAvro(t testing.TB, cl *sr.Client, subject, text string, version int) *avroWriter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ss, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: text, Type: sr.TypeAvro})
	if err != nil {
		t.Fatalf("register v%d under %s: %v", version, subject, err)
	}
	s, err := hamba.Parse(text)
	if err != nil {
		t.Fatalf("parse v%d: %v", version, err)
	}
	t.Logf("registered v%d under %s: schema ID %d, version %d", version, subject, ss.ID, ss.Version)
	return &avroWriter{version: version, id: ss.ID, schema: s}
}

// avroSent is what went to one offset: good record i with schema version,
// or (bad) a record of the incompatible schema.
type avroSent struct {
	i       int
	version int
	bad     bool
}

// avroProducer writes framed Avro records 0, 1, 2, … (record(i)'s ids) at
// about rate records per second with the current writer schema, until
// stopped, and remembers what went to each offset.
type avroProducer struct {
	cl    *kgo.Client
	topic string
	cur   atomic.Pointer[avroWriter]
	mu    sync.Mutex
	next  int
	sent  map[string]avroSent // "partition/offset"
	byVer map[int]int
	bad   int
	err   error
	halt  atomic.Bool
	wg    sync.WaitGroup
}

func startAvroProducer(t testing.TB, cl *kgo.Client, topic string, w *avroWriter, rate int) *avroProducer {
	t.Helper()
	p := &avroProducer{cl: cl, topic: topic, sent: map[string]avroSent{}, byVer: map[int]int{}}
	p.cur.Store(w)
	const chunk = 100
	interval := time.Duration(float64(time.Second) * chunk / float64(rate))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for !p.halt.Load() {
			if err := p.produce(chunk); err != nil {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
				return
			}
			<-tick.C
		}
	}()
	t.Cleanup(func() { p.halt.Store(true); p.wg.Wait() })
	return p
}

func frame(w *avroWriter, v any) ([]byte, error) {
	payload, err := hamba.Marshal(w.schema, v)
	if err != nil {
		return nil, err
	}
	var h sr.ConfluentHeader
	b, err := h.AppendEncode(nil, w.id, nil)
	if err != nil {
		return nil, err
	}
	return append(b, payload...), nil
}

func (p *avroProducer) produce(k int) error {
	w := p.cur.Load()
	p.mu.Lock()
	first := p.next
	p.next += k
	p.mu.Unlock()
	recs := make([]*kgo.Record, 0, k)
	num := make(map[*kgo.Record]int, k) // the results come in no particular order
	for i := first; i < first+k; i++ {
		e := avroRecord(i, w.version)
		v, err := frame(w, e.value(i))
		if err != nil {
			return fmt.Errorf("encode record %d with v%d: %w", i, w.version, err)
		}
		r := &kgo.Record{Topic: p.topic, Key: []byte(e.id), Value: v}
		recs = append(recs, r)
		num[r] = i
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res := p.cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("produce records %d..%d: %w", first, first+k-1, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range res {
		p.sent[fmt.Sprintf("%d/%d", r.Record.Partition, r.Record.Offset)] = avroSent{i: num[r.Record], version: w.version}
	}
	p.byVer[w.version] += k
	return nil
}

// produceBad writes k records with the incompatible writer schema, one
// partition after the other.
func (p *avroProducer) produceBad(t testing.TB, w *avroWriter, k int, partitions int32) {
	t.Helper()
	var recs []*kgo.Record
	for j := range k {
		e := avroRecord(j, 1)
		amount, _ := new(big.Rat).SetString(e.amount)
		v, err := frame(w, avroOrderBadRec{ID: fmt.Sprintf("x%07d", j), N: strconv.FormatInt(e.n, 10), Amount: amount,
			TS: recordTS(j), Customer: e.customer, Tags: e.tags, Attrs: e.attrs})
		if err != nil {
			t.Fatalf("encode bad record %d: %v", j, err)
		}
		recs = append(recs, &kgo.Record{Topic: p.topic, Partition: int32(j) % partitions, Value: v})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res := p.cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce bad records: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range res {
		p.sent[fmt.Sprintf("%d/%d", r.Record.Partition, r.Record.Offset)] = avroSent{i: -1, bad: true}
	}
	p.bad += k
}

func (p *avroProducer) produced() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next
}

// finish stops the paced run and returns the good ids (0..n-1) and what
// went to each offset.
func (p *avroProducer) finish(t testing.TB) ([]string, map[string]avroSent) {
	t.Helper()
	p.halt.Store(true)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Fatal(p.err)
	}
	ids := make([]string, p.next)
	for i := range ids {
		ids[i], _ = record(i)
	}
	return ids, maps.Clone(p.sent)
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

func TestAvroRegistryExactlyOnce(t *testing.T) {
	s := needServices(t)
	regURL := needSchemaRegistry(t)
	const partitions = 4
	rng := seededRand(t)
	start := time.Now()

	p := newPipeline(t, s, "rest-file", partitions)
	ap := &avroPipeline{pipeline: p, dlqTable: p.table + "_dlq"}

	// floe reaches the registry through a proxy the test can cut off; the
	// test registers schemas with the registry itself.
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
	subject := p.topic + "-value"
	legacy := p.topic + "-legacy-value"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, subj := range []string{subject, legacy} {
			if _, err := reg.DeleteSubject(ctx, subj, sr.HardDelete); err != nil && !isStatus(err, 404) {
				t.Logf("delete subject %s: %v", subj, err)
			}
		}
	})

	// 1. v1; two replicas create the table from the subject and consume.
	v1 := registerAvro(t, reg, subject, avroOrderV1, 1)
	prod := startAvroProducer(t, p.cl, p.topic, v1, 1000)
	a, b := ap.start("a"), ap.start("b")
	a.waitReady(t)
	b.waitReady(t)
	p.waitCommitted(3000, a, b)
	created := 0
	for _, proc := range []*floeProc{a, b} {
		if strings.Contains(proc.log(), "subject "+subject+" version 1") {
			created++
		}
	}
	if created == 0 {
		t.Errorf("neither replica logged creating the table from subject %s version 1", subject)
	}

	// 2. v2 adds color: the table gains the column.
	v2 := registerAvro(t, reg, subject, avroOrderV2, 2)
	prod.cur.Store(v2)
	atV2 := prod.produced()
	waitFor(t, "the table evolved for v2 (color)", 2*time.Minute, func() bool {
		return countLog(a.log()+b.log(), `"msg":"schema evolved"`) >= 1
	}, a, b)
	p.waitCommitted(atV2+2000, a, b)

	// 3. v3 (adds channel) is registered, then the registry is cut off
	// from floe, and records of v3 arrive: floe has never seen its ID.
	v3 := registerAvro(t, reg, subject, avroOrderV3, 3)
	proxy.Add(faultproxy.Rule{Kind: faultproxy.KindOther, Action: faultproxy.Reset})
	outage := time.Now()
	prod.cur.Store(v3)
	atV3 := prod.produced()
	var unready []string
	seen := map[string]bool{}
	held, ok := holdUntil(t, holdFor{atLeast: 20 * time.Second, atMost: 2 * time.Minute}, func() bool {
		for _, proc := range []*floeProc{a, b} {
			if code, body := readyz(proc); code == http.StatusServiceUnavailable && strings.Contains(body, "schema registry") && !seen[proc.name] {
				seen[proc.name] = true
				unready = append(unready, fmt.Sprintf("%s after %v: %s", proc.name, time.Since(outage).Round(time.Millisecond), body))
			}
		}
		return len(seen) == 2
	}, a, b)
	if !ok {
		t.Fatalf("registry cut off for %v: /readyz 503 naming the registry only from %v", held.Round(time.Millisecond), unready)
	}
	for _, line := range unready {
		t.Logf("unready: %s", line)
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

	// 5. A writer schema that changed n from long to string, registered
	// under another subject: its records are dead letters.
	bad := registerAvro(t, reg, legacy, avroOrderBad, 4)
	prod.produceBad(t, bad, 40, partitions)
	p.waitCommitted(prod.produced()+1000, a, c)

	// 6. The end: every offset committed, SIGTERM, the judgement.
	ids, sent := prod.finish(t)
	ends := endOffsets(t, p.adm, p.topic)
	total := sumOffsets(ends)
	if total != int64(len(sent)) || len(sent) != len(ids)+prod.bad {
		t.Fatalf("the topic ends at %v (%d records); %d good and %d bad produced, %d offsets acknowledged", ends, total, len(ids), prod.bad, len(sent))
	}
	p.waitUntil("caught up with the topic's end", 5*time.Minute,
		func(m map[int32]int64) bool { return maps.Equal(m, withoutEmpty(ends)) }, a, c)
	stopAll(t, a, c)
	t.Logf("produced %d good records (v1 %d, v2 %d, v3 %d) and %d of the incompatible schema; floe ran %v",
		len(ids), prod.byVer[1], prod.byVer[2], prod.byVer[3], prod.bad, time.Since(start).Round(time.Millisecond))

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
	avroJudge(t, ap, ids, sent, ends)
}

// avroJudge: both readers find every good record once with its values, the
// offsets at the topic's end, floe's history tiling the topic, and every
// offset in exactly one of the table and the dead-letter table.
func avroJudge(t *testing.T, ap *avroPipeline, ids []string, sent map[string]avroSent, ends map[int32]int64) {
	p := ap.pipeline
	hist, err := floeCommits(p.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var mine []commitInfo
	tables := map[string]int{}
	for _, c := range hist {
		tables[c.Table]++
		if c.Table == p.table {
			mine = append(mine, c)
		}
	}
	t.Logf("floe commits: %s; by table %v", describe(hist), tables)
	clusterID, topicID := topicIdentity(t, p.adm, p.topic)
	want := expectation{topic: p.topic, ids: ids, ends: ends, clusterID: clusterID, topicID: topicID, commits: mine, killedAt: p.killedAt}

	py, duck := readTable(t, p.svc, p.catalog, p.table, p.group, ids)
	agg := expectedAggregates(len(ids))
	for _, r := range []struct {
		name string
		res  readerResult
	}{{"pyiceberg", py}, {"duckdb", duck}} {
		if r.res.Error != "" {
			t.Errorf("%s could not read the table: %s\n%s", r.name, r.res.Error, r.res.Traceback)
			continue
		}
		if r.res.Rows != len(ids) || r.res.DistinctIDs != len(ids) || r.res.DuplicateCount != 0 || r.res.MissingCount != 0 || r.res.UnexpectedCount != 0 {
			t.Errorf("%s: %d rows, %d distinct ids, %d duplicated (%v), %d missing (%v), %d unexpected (%v); produced %d",
				r.name, r.res.Rows, r.res.DistinctIDs, r.res.DuplicateCount, r.res.Duplicates, r.res.MissingCount, r.res.Missing,
				r.res.UnexpectedCount, r.res.Unexpected, len(ids))
		}
		if r.res.aggregates != agg {
			t.Errorf("%s: column aggregates differ\n got: %+v\nwant: %+v", r.name, r.res.aggregates, agg)
		}
	}
	if py.Error == "" {
		if py.OffsetsTag == nil {
			t.Errorf("the table has no tag floe.offsets.<group>")
		}
		checkOffsets(t, py.Offsets, want)
		checkSnapshots(t, py, want)
		if duck.Error == "" {
			var pyIDs []int64
			for _, s := range py.Snapshots {
				pyIDs = append(pyIDs, s.SnapshotID)
			}
			slices.Sort(pyIDs)
			if !slices.Equal(pyIDs, duck.SnapshotIDs) {
				t.Errorf("DuckDB sees snapshots %v; PyIceberg sees %v", duck.SnapshotIDs, pyIDs)
			}
		}
	}
	checkHistory(t, want)

	// Row by row: each offset in exactly one table, each row's values as
	// produced, each dead letter schema_incompatible.
	cols := []string{"n", "amount", "customer", "tags", "attrs", "color", "channel"}
	rowsPy, rowsDuck := readRows(t, p, p.table, "_kafka_partition", "_kafka_offset", "id", cols, nil)
	lettersPy, lettersDuck := readRows(t, p, ap.dlqTable, "source_partition", "source_offset", "reason", nil, nil)
	for _, reader := range []struct {
		name          string
		rows, letters [][]any
	}{{"pyiceberg", rowsPy, lettersPy}, {"duckdb", rowsDuck, lettersDuck}} {
		inRows, inLetters := map[string]int{}, map[string]int{}
		var problems []string
		withColor, withChannel := 0, 0
		for _, r := range reader.rows {
			k := fmt.Sprintf("%v/%v", r[0], r[1])
			inRows[k]++
			what, ok := sent[k]
			if !ok || what.bad {
				continue // reported below
			}
			if d := avroRowDiff(r, avroRecord(what.i, what.version)); d != "" {
				problems = append(problems, fmt.Sprintf("%s (record %d, v%d): %s", k, what.i, what.version, d))
			}
			if r[8] != nil {
				withColor++
			}
			if r[9] != nil {
				withChannel++
			}
		}
		reasons := map[string]int{}
		for _, l := range reader.letters {
			k := fmt.Sprintf("%v/%v", l[0], l[1])
			inLetters[k]++
			reasons[fmt.Sprint(l[2])]++
			if sent[k].bad && fmt.Sprint(l[2]) != "schema_incompatible" {
				problems = append(problems, fmt.Sprintf("%s dead-lettered as %v, want schema_incompatible", k, l[2]))
			}
		}
		for part, end := range ends {
			for off := int64(0); off < end; off++ {
				k := fmt.Sprintf("%d/%d", part, off)
				r, l := inRows[k], inLetters[k]
				switch {
				case r+l == 0:
					problems = append(problems, k+" in neither table")
				case r+l > 1:
					problems = append(problems, fmt.Sprintf("%s %d× in the table, %d× in the dead-letter table", k, r, l))
				case l == 1 && !sent[k].bad:
					problems = append(problems, fmt.Sprintf("%s (record %d, v%d) is a good record but dead-lettered", k, sent[k].i, sent[k].version))
				case r == 1 && sent[k].bad:
					problems = append(problems, k+" is a record of the incompatible schema but a row")
				}
			}
		}
		if len(problems) > 0 {
			t.Errorf("%s: %d problems, first: %v", reader.name, len(problems), problems[:min(10, len(problems))])
		}
		t.Logf("%s: %d rows (%d with color, %d with channel) + %d dead letters %v = %d offsets (topic ends at %d)",
			reader.name, len(reader.rows), withColor, withChannel, len(reader.letters), reasons,
			len(reader.rows)+len(reader.letters), sumOffsets(ends))
	}
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

// avroRowDiff compares a row [p, o, id, n, amount, customer, tags, attrs,
// color, channel] with what was produced; "" when equal.
func avroRowDiff(r []any, e avroExpected) string {
	var d []string
	str := func(v any) string { return fmt.Sprint(v) }
	optStr := func(v any) *string {
		if v == nil {
			return nil
		}
		s := fmt.Sprint(v)
		return &s
	}
	eqOpt := func(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	show := func(s *string) string {
		if s == nil {
			return "null"
		}
		return *s
	}
	if str(r[2]) != e.id {
		d = append(d, fmt.Sprintf("id %v, want %s", r[2], e.id))
	}
	if str(r[3]) != strconv.FormatInt(e.n, 10) {
		d = append(d, fmt.Sprintf("n %v, want %d", r[3], e.n))
	}
	if str(r[4]) != e.amount {
		d = append(d, fmt.Sprintf("amount %v, want %s", r[4], e.amount))
	}
	cust, _ := r[5].(map[string]any)
	if cust == nil || str(cust["id"]) != strconv.FormatInt(e.customer.ID, 10) ||
		!eqOpt(optStr(cust["country"]), e.customer.Country) || !eqOpt(optStr(cust["segment"]), e.customer.Segment) {
		d = append(d, fmt.Sprintf("customer %v, want {%d %s %s}", r[5], e.customer.ID, show(e.customer.Country), show(e.customer.Segment)))
	}
	var tags []string
	if l, ok := r[6].([]any); ok {
		for _, x := range l {
			tags = append(tags, str(x))
		}
	}
	if r[6] == nil || !slices.Equal(tags, e.tags) && !(len(tags) == 0 && len(e.tags) == 0) {
		d = append(d, fmt.Sprintf("tags %v, want %v", r[6], e.tags))
	}
	if m, ok := readerMap(r[7]); !ok || !maps.Equal(m, e.attrs) {
		d = append(d, fmt.Sprintf("attrs %v, want %v", r[7], e.attrs))
	}
	if !eqOpt(optStr(r[8]), e.color) {
		d = append(d, fmt.Sprintf("color %v, want %s", r[8], show(e.color)))
	}
	if !eqOpt(optStr(r[9]), e.channel) {
		d = append(d, fmt.Sprintf("channel %v, want %s", r[9], show(e.channel)))
	}
	return strings.Join(d, "; ")
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
