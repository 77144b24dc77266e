//go:build e2e

package e2e

// The rig of formats_test.go and avro_test.go: a paced producer of any
// encoding that notes what went to each offset, and the judgement of a
// route whose offsets end up in exactly one of its table and its
// dead-letter table, offset by offset and value by value, by PyIceberg and
// DuckDB.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// formatWriter is one writer of a format test: a registered schema, or an
// event form. encode gives record i's key and value, framed as the topic's
// values are.
type formatWriter struct {
	version int // 1, 2, 3; 4 for the incompatible schema
	encode  func(i int) (key, value []byte, err error)
}

// sentRecord is what went to one offset: record i of writer version, or
// (bad) record i of the incompatible schema.
type sentRecord struct {
	i       int
	version int
	bad     bool
}

// formatProducer writes records 0, 1, 2, … at about rate records per second
// with the current writer until stopped, and remembers what went to each
// offset.
type formatProducer struct {
	cl    *kgo.Client
	topic string
	cur   atomic.Pointer[formatWriter]
	mu    sync.Mutex
	next  int
	sent  map[string]sentRecord // "partition/offset"
	byVer map[int]int
	bad   int
	err   error
	halt  atomic.Bool
	wg    sync.WaitGroup
}

func startFormatProducer(t testing.TB, cl *kgo.Client, topic string, w *formatWriter, rate int) *formatProducer {
	t.Helper()
	p := &formatProducer{cl: cl, topic: topic, sent: map[string]sentRecord{}, byVer: map[int]int{}}
	p.cur.Store(w)
	const chunk = 100 // a multiple of debeziumEvent's cycle
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

func (p *formatProducer) produce(k int) error {
	w := p.cur.Load()
	p.mu.Lock()
	first := p.next
	p.next += k
	p.mu.Unlock()
	if err := p.write(w, first, k, false); err != nil {
		return fmt.Errorf("produce records %d..%d with v%d: %w", first, first+k-1, w.version, err)
	}
	return nil
}

// write produces records first..first+k-1 encoded by w and notes their
// offsets.
func (p *formatProducer) write(w *formatWriter, first, k int, bad bool) error {
	recs := make([]*kgo.Record, 0, k)
	num := make(map[*kgo.Record]int, k) // the results come in no particular order
	for i := first; i < first+k; i++ {
		key, value, err := w.encode(i)
		if err != nil {
			return fmt.Errorf("encode record %d: %w", i, err)
		}
		r := &kgo.Record{Topic: p.topic, Key: key, Value: value}
		recs = append(recs, r)
		num[r] = i
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res := p.cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range res {
		p.sent[fmt.Sprintf("%d/%d", r.Record.Partition, r.Record.Offset)] = sentRecord{i: num[r.Record], version: w.version, bad: bad}
	}
	if bad {
		p.bad += k
	} else {
		p.byVer[w.version] += k
	}
	return nil
}

// produceBad writes k records of the incompatible writer schema w.
func (p *formatProducer) produceBad(t testing.TB, w *formatWriter, k int) {
	t.Helper()
	if err := p.write(w, 0, k, true); err != nil {
		t.Fatalf("produce bad records: %v", err)
	}
}

func (p *formatProducer) produced() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next
}

// finish stops the paced run and returns how many records it wrote and
// what went to each offset.
func (p *formatProducer) finish(t testing.TB) (int, map[string]sentRecord) {
	t.Helper()
	p.halt.Store(true)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p.next, maps.Clone(p.sent)
}

// verdict is what a route's table and dead-letter table must hold.
type verdict struct {
	ids  []string        // the ids of the table's rows, each once
	ends map[int32]int64 // the topic's end offsets
	// aggregates: the rows are record(i)'s, whose column aggregates both
	// readers compute.
	aggregates bool
	// cols are compared at every offset (after partition, offset and id);
	// timestamps are those of them that are timestamptz.
	cols, timestamps []string
	// expect says what offset "partition/offset" holds: a row (its id,
	// then cols' values as sameValue takes them), or a dead letter of this
	// reason.
	expect func(k string) (row []any, reason string)
}

// judgeRoute: both readers find every row once with its values, the
// offsets at the topic's end, floe's history tiling the topic, and every
// offset in exactly one of the table and the dead-letter table.
func judgeRoute(t *testing.T, ap *avroPipeline, v verdict) {
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
	want := expectation{topic: p.topic, ids: v.ids, ends: v.ends, clusterID: clusterID, topicID: topicID, commits: mine, killedAt: p.killedAt}

	py, duck := readTableWith(t, p.svc, p.catalog, p.table, p.group, v.ids, map[string]any{"aggregates": v.aggregates})
	for _, r := range []struct {
		name string
		res  readerResult
	}{{"pyiceberg", py}, {"duckdb", duck}} {
		if r.res.Error != "" {
			t.Errorf("%s could not read the table: %s\n%s", r.name, r.res.Error, r.res.Traceback)
			continue
		}
		n := len(v.ids)
		if r.res.Rows != n || r.res.DistinctIDs != n || r.res.DuplicateCount != 0 || r.res.MissingCount != 0 || r.res.UnexpectedCount != 0 {
			t.Errorf("%s: %d rows, %d distinct ids, %d duplicated (%v), %d missing (%v), %d unexpected (%v); produced %d",
				r.name, r.res.Rows, r.res.DistinctIDs, r.res.DuplicateCount, r.res.Duplicates, r.res.MissingCount, r.res.Missing,
				r.res.UnexpectedCount, r.res.Unexpected, n)
		}
		if agg := expectedAggregates(n); v.aggregates && r.res.aggregates != agg {
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

	// Offset by offset: in exactly one table, a row with the values
	// produced or a dead letter with its reason.
	rowsPy, rowsDuck := readRows(t, p, p.table, "_kafka_partition", "_kafka_offset", "id", v.cols,
		map[string]any{"timestamp_columns": v.timestamps})
	lettersPy, lettersDuck := readRows(t, p, ap.dlqTable, "source_partition", "source_offset", "reason", nil, nil)
	for _, reader := range []struct {
		name          string
		rows, letters [][]any
	}{{"pyiceberg", rowsPy, lettersPy}, {"duckdb", rowsDuck, lettersDuck}} {
		rows, letters := map[string][][]any{}, map[string][][]any{}
		for _, r := range reader.rows {
			k := fmt.Sprintf("%v/%v", r[0], r[1])
			rows[k] = append(rows[k], r)
		}
		reasons := map[string]int{}
		for _, l := range reader.letters {
			k := fmt.Sprintf("%v/%v", l[0], l[1])
			letters[k] = append(letters[k], l)
			reasons[fmt.Sprint(l[2])]++
		}
		var problems []string
		set := make([]int, len(v.cols)) // non-null values per column, for the log
		for part, end := range v.ends {
			for off := int64(0); off < end; off++ {
				k := fmt.Sprintf("%d/%d", part, off)
				row, reason := v.expect(k)
				rs, ls := rows[k], letters[k]
				switch {
				case len(rs)+len(ls) == 0:
					problems = append(problems, k+" in neither table")
				case len(rs)+len(ls) > 1:
					problems = append(problems, fmt.Sprintf("%s %d× in the table, %d× in the dead-letter table", k, len(rs), len(ls)))
				case reason != "" && len(ls) == 1 && fmt.Sprint(ls[0][2]) != reason:
					problems = append(problems, fmt.Sprintf("%s dead-lettered as %v, want %s", k, ls[0][2], reason))
				case reason != "" && len(rs) == 1:
					problems = append(problems, fmt.Sprintf("%s is a row, want a dead letter (%s)", k, reason))
				case reason == "" && len(ls) == 1:
					problems = append(problems, fmt.Sprintf("%s (%v) is dead-lettered as %v, want a row", k, row[0], ls[0][2]))
				case reason == "":
					if d := rowDiff(rs[0][2:], row, v.cols); d != "" {
						problems = append(problems, fmt.Sprintf("%s (%v): %s", k, row[0], d))
					}
					for j := range v.cols {
						if rs[0][3+j] != nil {
							set[j]++
						}
					}
				}
			}
		}
		for k := range rows {
			if !inTopic(k, v.ends) {
				problems = append(problems, k+" is a row but not an offset of the topic")
			}
		}
		for k := range letters {
			if !inTopic(k, v.ends) {
				problems = append(problems, k+" is a dead letter but not an offset of the topic")
			}
		}
		if len(problems) > 0 {
			t.Errorf("%s: %d problems, first: %v", reader.name, len(problems), problems[:min(10, len(problems))])
		}
		var filled []string
		for j, c := range v.cols {
			filled = append(filled, fmt.Sprintf("%s %d", c, set[j]))
		}
		t.Logf("%s: %d rows (non-null: %s) + %d dead letters %v = %d offsets (topic ends at %d)", reader.name,
			len(reader.rows), strings.Join(filled, ", "), len(reader.letters), reasons, len(reader.rows)+len(reader.letters), sumOffsets(v.ends))
	}
}

// inTopic says whether "partition/offset" is below the partition's end.
func inTopic(k string, ends map[int32]int64) bool {
	var part int32
	var off int64
	if _, err := fmt.Sscanf(k, "%d/%d", &part, &off); err != nil {
		return false
	}
	end, ok := ends[part]
	return ok && off >= 0 && off < end
}

// rowDiff compares a row's [id, cols...] as a reader returns it with
// want; "" when equal.
func rowDiff(got, want []any, cols []string) string {
	var d []string
	names := append([]string{"id"}, cols...)
	for j, name := range names {
		if !sameValue(got[j], want[j]) {
			d = append(d, fmt.Sprintf("%s %s, want %s", name, mustJSON(got[j]), mustJSON(want[j])))
		}
	}
	return strings.Join(d, "; ")
}

// sameValue says whether a reader's value (JSON with numbers as
// json.Number) is want: nil, a string (a string, decimal, timestamp as
// text or enum symbol), an int64, a []string (a list), a map[string]int64
// (a map column) or a map[string]any (a struct, field by field).
func sameValue(got, want any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case string:
		s, ok := got.(string)
		return ok && s == w
	case int64:
		n, ok := got.(json.Number)
		return ok && n.String() == strconv.FormatInt(w, 10)
	case []string:
		l, ok := got.([]any)
		if !ok || len(l) != len(w) {
			return false
		}
		for i := range l {
			if !sameValue(l[i], w[i]) {
				return false
			}
		}
		return true
	case map[string]int64:
		m, ok := readerMap(got)
		return ok && maps.Equal(m, w)
	case map[string]any:
		m, ok := got.(map[string]any)
		if !ok || len(m) != len(w) {
			return false
		}
		for k, x := range w {
			if !sameValue(m[k], x) {
				return false
			}
		}
		return true
	}
	panic(fmt.Sprintf("sameValue: want %T", want))
}
