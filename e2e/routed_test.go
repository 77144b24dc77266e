//go:build e2e

package e2e

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The route values of TestRoutedTopicThreeTables: three the allow-list
// takes, with uneven shares of the routed records (so one table's lane
// lags the others: what the floors protect), and one it does not.
var (
	routedValues = []string{"orders", "payments", "refunds"}
	routedShares = []float64{0.6, 0.3, 0.1}
)

const (
	routeHeader     = "x-table"
	routeDisallowed = "secrets"
)

// TestRoutedTopicThreeTables: a routed topic feeding three tables, with a
// record routed outside the allow-list. One topic of three partitions,
// table <ns>.ev_{route}, route-by header:x-table, allowed-tables naming
// ev_orders, ev_payments and ev_refunds, on-error: dlq into
// <ns>.ev_dead_letters. Paced records mostly name one of the three (60, 30
// and 10 % of them); some name "secrets", some have no header (or an empty
// one), and a few routed to an allowed table are not JSON. floe is
// SIGKILLed once each table has committed part of its records, restarted,
// and stopped with SIGTERM (exit 0) once everything is in.
//
// Judged by PyIceberg and DuckDB: each table holds exactly the records
// routed to it — the same ids at the same partitions and offsets — once,
// and no other; the dead-letter table holds each unroutable record once
// (target_table the router's name, route_not_allowed or route_missing) and
// each malformed one once (target_table its table, malformed_json); the
// namespace holds the three tables and the dead-letter table, no
// ev_secrets. Offsets: each table's stored next offsets lie between its
// last record and the topic's end, its commits tile each partition from
// its first to its next offset and add exactly the rows routed to their
// ranges, and every partition has a floor at most the topic's end. And the
// floors never lied: at every commit of every table (the dead-letter
// table's own included), each record below that commit's floor was
// already in its table, by the commits' times — so a restart from the
// highest floor skips nothing any table still needed.
func TestRoutedTopicThreeTables(t *testing.T) {
	s := needServices(t)
	const (
		n, partitions = 6000, 3
		// About 20s of records, in produce calls of 15: a stream across
		// the SIGKILL.
		rate, chunk = 300, 15
	)
	rng := seededRand(t)
	rt := newRoutedPipeline(t, s, partitions)
	p := rt.p
	plan := planRouted(rng, rt, n)
	prod := startRoutedProducer(t, p.cl, p.topic, plan, rate, chunk)

	run1 := p.start("run1")
	run1.waitReady(t)
	rt.waitRows(t, plan, 20, run1)
	if prod.finished() {
		t.Logf("the producer finished before the SIGKILL: a slow machine; the kill still loses what floe had not committed")
	}
	run1.kill(t) // mid-stream: whatever any table had not committed is read again
	killed := time.Now()

	run2 := p.start("run2")
	prod.wait(t)
	rt.waitRows(t, plan, 100, run2)
	stopAll(t, run2)
	hist := p.history()
	rt.judge(t, plan, hist)
	rt.judgeRestart(t, run2, killed)
}

// routedPipeline is a rest-file pipeline whose table is a router,
// <ns>.ev_{route}, in a namespace of its own (floe commits lists its
// tables), with its dead-letter table <ns>.ev_dead_letters.
type routedPipeline struct {
	p      *pipeline
	snaps  map[string][]snapshotInfo // each table's, as judge's PyIceberg read them
	ns     string
	tables []string // the allowed tables, in routedValues' order
	dlq    string
	uri    string // the REST catalog's
}

func newRoutedPipeline(t testing.TB, s *services, partitions int32) *routedPipeline {
	t.Helper()
	p := newPipeline(t, s, "rest-file", partitions)
	rt := &routedPipeline{p: p, ns: strings.ReplaceAll(p.table, ".", "_"), uri: s.RESTFileURI, snaps: map[string][]snapshotInfo{}}
	p.table = rt.ns + ".ev_{route}"
	rt.dlq = rt.ns + ".ev_dead_letters"
	for _, v := range routedValues {
		rt.tables = append(rt.tables, rt.tableFor(v))
	}
	allowed := regexp.QuoteMeta(rt.ns) + `\.ev_(` + strings.Join(routedValues, "|") + `)`
	p.conf.table = p.table
	p.conf.tableExtra = fmt.Sprintf("    route-by: header:%s\n    allowed-tables: %s\n    on-error: dlq\n    dlq:\n      table: %s\n",
		routeHeader, yamlStr(allowed), rt.dlq)
	p.cfgPath, _ = p.conf.write(t, p.dir, "commits")
	t.Logf("router %s, allowed-tables %s, dead letters in %s", p.table, allowed, rt.dlq)
	return rt
}

// tableFor is the table a route value names (the values used here need no
// sanitising).
func (rt *routedPipeline) tableFor(value string) string {
	return strings.Replace(rt.p.table, "{route}", value, 1)
}

// routedRecord is one record of the run: what it is, where it must end up,
// and where Kafka put it.
type routedRecord struct {
	num    int     // record(num) is its value, unless malformed
	id     string  // its key, and its id column
	header *string // its x-table header, if any
	table  string  // the table it is routed to; "" if none takes it
	// reason is its dead letter's reason; "" for a row of table.
	reason    string
	partition int32
	offset    int64
}

// target is the target_table of its dead letter: its table, or for a
// record no table takes, the router.
func (r *routedRecord) target(router string) string {
	if r.table == "" {
		return router
	}
	return r.table
}

func (r *routedRecord) at() string { return fmt.Sprintf("%d/%d", r.partition, r.offset) }

// planRouted draws what each of n records is: 88 % routed to an allowed
// table by routedShares (2 % of those not JSON), 6 % naming the disallowed
// value, 6 % without a route value (half without the header, half with it
// empty).
func planRouted(rng *rand.Rand, rt *routedPipeline, n int) []*routedRecord {
	plan := make([]*routedRecord, n)
	for i := range plan {
		id, _ := record(i)
		r := &routedRecord{num: i, id: id}
		switch x := rng.Float64(); {
		case x < 0.06:
			v := routeDisallowed
			r.header, r.reason = &v, "route_not_allowed"
		case x < 0.09:
			r.reason = "route_missing"
		case x < 0.12:
			v := ""
			r.header, r.reason = &v, "route_missing"
		default:
			k, y := 0, rng.Float64()
			for ; k < len(routedShares)-1 && y >= routedShares[k]; k++ {
				y -= routedShares[k]
			}
			v := routedValues[k]
			r.header, r.table = &v, rt.tables[k]
			if rng.Float64() < 0.02 {
				r.reason = "malformed_json"
			}
		}
		plan[i] = r
	}
	return plan
}

// routedProducer writes a plan's records in the background, paced, and
// records where each landed.
type routedProducer struct {
	wg   sync.WaitGroup
	done chan struct{}
	mu   sync.Mutex
	err  error
}

func startRoutedProducer(t testing.TB, cl *kgo.Client, topic string, plan []*routedRecord, rate, chunk int) *routedProducer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &routedProducer{done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.done)
		tick := time.NewTicker(time.Duration(float64(time.Second) * float64(chunk) / float64(rate)))
		defer tick.Stop()
		for i := 0; i < len(plan); i += chunk {
			part := plan[i:min(i+chunk, len(plan))]
			recs := make([]*kgo.Record, len(part))
			of := make(map[*kgo.Record]*routedRecord, len(part))
			for k, r := range part {
				_, value := record(r.num)
				if r.reason == "malformed_json" {
					value = value[:len(value)/2]
				}
				recs[k] = &kgo.Record{Topic: topic, Key: []byte(r.id), Value: value}
				if r.header != nil {
					recs[k].Headers = []kgo.RecordHeader{{Key: routeHeader, Value: []byte(*r.header)}}
				}
				of[recs[k]] = r
			}
			res := cl.ProduceSync(ctx, recs...)
			if err := res.FirstErr(); err != nil {
				p.mu.Lock()
				p.err = fmt.Errorf("produce records %d..%d: %w", part[0].num, part[len(part)-1].num, err)
				p.mu.Unlock()
				return
			}
			// The results come in the order the partitions answered.
			p.mu.Lock()
			for _, pr := range res {
				r := of[pr.Record]
				r.partition, r.offset = pr.Record.Partition, pr.Record.Offset
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); p.wg.Wait() })
	return p
}

func (p *routedProducer) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits until every record of the plan is written; each then knows
// its partition and offset.
func (p *routedProducer) wait(t testing.TB) {
	t.Helper()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Fatal(p.err)
	}
}

// planned counts the plan's rows per table and its dead letters.
func (rt *routedPipeline) planned(plan []*routedRecord) (rows map[string]int64, letters int64) {
	rows = map[string]int64{}
	for _, r := range plan {
		if r.reason != "" {
			letters++
		} else {
			rows[r.table]++
		}
	}
	return rows, letters
}

// waitRows waits until each allowed table and the dead-letter table hold
// at least pct % of the rows the plan gives them, as the REST catalog
// reports their current snapshots (total-records): the tables are judged
// by the readers afterwards, this only says how far floe got.
func (rt *routedPipeline) waitRows(t testing.TB, plan []*routedRecord, pct int64, procs ...*floeProc) {
	t.Helper()
	rows, letters := rt.planned(plan)
	want := maps.Clone(rows)
	want[rt.dlq] = letters
	start := time.Now()
	var last map[string]int64
	var lastErr error
	_, ok := holdUntil(t, holdFor{atMost: 5 * time.Minute}, func() bool {
		got := map[string]int64{}
		for table, n := range want {
			have, _, err := restTableRecords(rt.uri, table)
			if err != nil {
				lastErr = err
				return false
			}
			got[table] = have
			if have*100 < n*pct {
				last = got
				return false
			}
		}
		last = got
		return true
	}, procs...)
	if !ok {
		t.Fatalf("waited 5m in vain for %d%% of each table's rows: the tables hold %v of %v (last error: %v)", pct, last, want, lastErr)
	}
	t.Logf("%d%% of each table's rows committed after %v: %v of %v", pct, time.Since(start).Round(time.Millisecond), last, want)
}

// routedLanes is what the plan puts in each table's lane: per table (the
// dead-letter table's for the records no table takes), per partition, the
// offsets of its records, ascending, and whether each is a row.
type routedLanes map[string]map[int32][]laneRecord

type laneRecord struct {
	offset int64
	row    bool
}

func (rt *routedPipeline) lanes(plan []*routedRecord) routedLanes {
	out := routedLanes{}
	for _, r := range plan {
		lane := cmp.Or(r.table, rt.dlq)
		if out[lane] == nil {
			out[lane] = map[int32][]laneRecord{}
		}
		out[lane][r.partition] = append(out[lane][r.partition], laneRecord{r.offset, r.reason == ""})
	}
	for _, parts := range out {
		for _, recs := range parts {
			slices.SortFunc(recs, func(a, b laneRecord) int { return int(a.offset - b.offset) })
		}
	}
	return out
}

// judge has the readers check every table after the run (see
// TestRoutedTopicThreeTables).
func (rt *routedPipeline) judge(t *testing.T, plan []*routedRecord, hist []commitInfo) {
	t.Helper()
	p := rt.p
	ends := endOffsets(t, p.adm, p.topic)
	if sumOffsets(ends) != int64(len(plan)) {
		t.Fatalf("the topic ends at %v (%d records); %d were produced", ends, sumOffsets(ends), len(plan))
	}
	clusterID, topicID := topicIdentity(t, p.adm, p.topic)
	lanes := rt.lanes(plan)
	rows := map[string]map[string]string{} // table → "partition/offset" → id
	nums := map[string][]int{}
	letters := map[string]*routedRecord{} // "partition/offset" → its record
	for _, r := range plan {
		if r.reason != "" {
			letters[r.at()] = r
			continue
		}
		if rows[r.table] == nil {
			rows[r.table] = map[string]string{}
		}
		rows[r.table][r.at()], nums[r.table] = r.id, append(nums[r.table], r.num)
	}

	// The namespace holds the three tables and the dead-letter table: no
	// table was made for the value outside the allow-list, nor any other.
	want := append(slices.Clone(rt.tables), rt.dlq)
	slices.Sort(want)
	if got, err := restTables(rt.uri, rt.ns); err != nil {
		t.Errorf("list the tables of %s: %v", rt.ns, err)
	} else if !slices.Equal(got, want) {
		t.Errorf("namespace %s holds tables %v; want only %v (no %s)", rt.ns, got, want, rt.tableFor(routeDisallowed))
	}
	byTable := map[string][]commitInfo{}
	for _, c := range hist {
		byTable[c.Table] = append(byTable[c.Table], c)
	}
	if got := slices.Sorted(maps.Keys(byTable)); !slices.Equal(got, rt.tables) {
		t.Errorf("floe commits lists the tables %v; want the router's %v", got, rt.tables)
	}

	// Both readers, every table.
	var reads []tableRead
	for _, table := range rt.tables {
		var ids []string
		for _, id := range rows[table] {
			ids = append(ids, id)
		}
		reads = append(reads, tableRead{table: table, ids: ids})
	}
	read := readTables(t, p.svc, p.catalog, p.group, reads, p.readerOptions())
	dlqPy, dlqDuck := readTableWith(t, p.svc, p.catalog, rt.dlq, p.group, nil, map[string]any{"id_column": "reason",
		"aggregates": false, "partition_column": "source_partition", "offset_column": "source_offset"})
	for name, r := range map[string]readerResult{"pyiceberg": dlqPy, "duckdb": dlqDuck} {
		if r.Error != "" {
			t.Fatalf("%s could not read %s: %s\n%s", name, rt.dlq, r.Error, r.Traceback)
		}
	}

	snaps := rt.snaps
	snaps[rt.dlq] = dlqPy.Snapshots       // each table's snapshots, as PyIceberg lists them
	stored := map[string]*storedOffsets{} // each table's newest offsets
	for k, table := range rt.tables {
		r := read[k]
		t.Run(strings.TrimPrefix(table, rt.ns+"."), func(t *testing.T) {
			agg := aggregatesOfRecords(slices.Values(nums[table]))
			for name, res := range map[string]readerResult{"pyiceberg": r.PyIceberg, "duckdb": r.DuckDB} {
				checkIDs(t, name, res, len(rows[table]), agg)
			}
			if t.Failed() {
				return
			}
			sameSnapshots(t, r.PyIceberg, r.DuckDB)
			pyRows, duckRows := readRows(t, p, table, "_kafka_partition", "_kafka_offset", "id", nil, nil)
			for name, got := range map[string][][]any{"pyiceberg": pyRows, "duckdb": duckRows} {
				checkRoutedRows(t, name, got, rows[table])
			}
			if r.PyIceberg.Offsets == nil || r.PyIceberg.OffsetsTag == nil {
				t.Fatalf("%s has no tagged snapshot with floe.offsets.%s", table, p.group)
			}
			stored[table] = r.PyIceberg.Offsets
			checkRoutedHistory(t, table, byTable[table], lanes[table], r.PyIceberg.Offsets.Topics[p.topic].Partitions, p.topic)
		})
		snaps[table] = r.PyIceberg.Snapshots
	}
	t.Run("ev_dead_letters", func(t *testing.T) {
		sameSnapshots(t, dlqPy, dlqDuck)
		pyRows, duckRows := readRows(t, p, rt.dlq, "source_partition", "source_offset", "reason", []string{"target_table"}, nil)
		for name, got := range map[string][][]any{"pyiceberg": pyRows, "duckdb": duckRows} {
			checkLetters(t, name, got, letters, p.table)
		}
		// The letters of records no table takes are the lane of the
		// router's dead-letter table: its offsets are the newest snapshot
		// carrying them (the tables' dead-letter commits, which carry
		// none, may come after it).
		newest := newestOffsets(dlqPy.Snapshots)
		if newest == nil {
			t.Fatalf("%s has no snapshot with floe.offsets.%s", rt.dlq, p.group)
		}
		if dlqPy.OffsetsTag != nil && *dlqPy.OffsetsTag != newest.SnapshotID {
			t.Errorf("%s: the offsets tag names snapshot %d; the newest with offsets is %d", rt.dlq, *dlqPy.OffsetsTag, newest.SnapshotID)
		}
		stored[rt.dlq] = newest.Offsets
		checkLetterCommits(t, rt.dlq, dlqPy.Snapshots, lanes[rt.dlq], p.topic)
	})

	// Offsets: each table's next offsets lie between its last record and
	// the topic's end; floors never pass the end, and every partition has
	// one.
	floors := map[int32]int64{}
	for table, so := range stored {
		if so == nil {
			continue // reported above
		}
		checkRoutedOffsets(t, table, so, p.topic, clusterID, topicID, ends, lanes[table])
		for ps, f := range so.Topics[p.topic].Floors {
			part, _ := strconv.Atoi(ps)
			floors[int32(part)] = max(floors[int32(part)], f)
		}
	}
	for part := range ends {
		if _, ok := floors[part]; !ok {
			t.Errorf("partition %d has a floor in none of the tables", part)
		}
	}
	// The group's Kafka offsets, floe's mirror for lag tools, follow the
	// floors: only bounded by the end here (floe never reads them back).
	mirror := fetchGroupOffsets(t, p.adm, p.group, p.topic)
	for part, end := range ends {
		if mirror[part] > end {
			t.Errorf("the group's Kafka offset of partition %d is %d, past the topic's end %d", part, mirror[part], end)
		}
	}
	t.Logf("highest floors %v, the group's Kafka offsets %v, the topic's ends %v", floors, mirror, ends)
	checkFloorsHeld(t, snaps, lanes, p.topic)
	counts := []string{}
	for _, table := range append(slices.Clone(rt.tables), rt.dlq) {
		counts = append(counts, fmt.Sprintf("%s %d snapshots", strings.TrimPrefix(table, rt.ns+"."), len(snaps[table])))
	}
	t.Logf("%d records: %d rows in 3 tables, %d dead letters; %s", len(plan), len(plan)-len(letters), len(letters), strings.Join(counts, ", "))
}

// rowAt is a reader's row [partition, offset, ...] (numbers as
// json.Number) as "partition/offset".
func rowAt(row []any) string { return fmt.Sprintf("%v/%v", row[0], row[1]) }

// checkRoutedRows: the table holds a row at each partition/offset of want,
// once, with its id, and no other.
func checkRoutedRows(t testing.TB, reader string, got [][]any, want map[string]string) {
	t.Helper()
	seen := map[string]int{}
	var problems []string
	for _, row := range got {
		at := rowAt(row)
		seen[at]++
		switch id, ok := want[at]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("a row at %s (id %v), a record not routed to this table", at, row[2]))
		case fmt.Sprint(row[2]) != id:
			problems = append(problems, fmt.Sprintf("the row at %s has id %v; the record there is %s", at, row[2], id))
		}
	}
	for at := range want {
		if seen[at] != 1 {
			problems = append(problems, fmt.Sprintf("the record at %s is %d× in the table", at, seen[at]))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Errorf("%s: %d problems, first: %v", reader, len(problems), problems[:min(10, len(problems))])
	}
}

// checkLetters: the dead-letter table holds a letter for each bad record of
// want, once, with its reason and target table (router for those no table
// takes), and no other.
func checkLetters(t testing.TB, reader string, got [][]any, want map[string]*routedRecord, router string) {
	t.Helper()
	seen := map[string]int{}
	var problems []string
	reasons := map[string]int{}
	for _, row := range got {
		at := rowAt(row)
		seen[at]++
		r, ok := want[at]
		if !ok {
			problems = append(problems, fmt.Sprintf("a letter for %s (%v), not a bad record", at, row[2]))
			continue
		}
		reasons[r.reason]++
		if row[2] != r.reason || row[3] != r.target(router) {
			problems = append(problems, fmt.Sprintf("the letter for %s says %v for %v; want %s for %s", at, row[2], row[3], r.reason, r.target(router)))
		}
	}
	for at := range want {
		if seen[at] != 1 {
			problems = append(problems, fmt.Sprintf("the bad record at %s (%s) has %d letters", at, want[at].reason, seen[at]))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Errorf("%s: %d problems, first: %v", reader, len(problems), problems[:min(10, len(problems))])
	}
	t.Logf("%s: %d letters %v", reader, len(got), reasons)
}

// newestOffsets is the newest snapshot carrying the group's offsets.
func newestOffsets(snaps []snapshotInfo) *snapshotInfo {
	var out *snapshotInfo
	for i, s := range snaps {
		if s.Offsets != nil && (out == nil || s.TimestampMs >= out.TimestampMs) {
			out = &snaps[i]
		}
	}
	return out
}

// checkRoutedOffsets: the table's stored offsets name Kafka's cluster and
// topic, and each partition's next offset lies past the table's last
// record there and at most at the topic's end (it may stop below: the
// records after it went to other tables); each floor is at most the end.
func checkRoutedOffsets(t testing.TB, table string, so *storedOffsets, topic, clusterID, topicID string, ends map[int32]int64, lane map[int32][]laneRecord) {
	t.Helper()
	if so.ClusterID != clusterID {
		t.Errorf("%s: stored cluster_id %q, Kafka's is %q", table, so.ClusterID, clusterID)
	}
	if got := keys(so.Topics); !slices.Equal(got, []string{topic}) {
		t.Errorf("%s: stored offsets name topics %v, want only %s", table, got, topic)
	}
	st := so.Topics[topic]
	if st.TopicID != topicID {
		t.Errorf("%s: stored topic_id %q, Kafka's is %q", table, st.TopicID, topicID)
	}
	for ps, next := range st.Partitions {
		part, err := strconv.Atoi(ps)
		end, ok := ends[int32(part)]
		if err != nil || !ok {
			t.Errorf("%s: stored offsets name partition %s, which the topic does not have", table, ps)
			continue
		}
		if next > end {
			t.Errorf("%s: stored offset of partition %d is %d, past the topic's end %d", table, part, next, end)
		}
	}
	for part, recs := range lane {
		last := recs[len(recs)-1].offset
		if next, ok := st.Partitions[strconv.Itoa(int(part))]; !ok || next <= last {
			t.Errorf("%s: stored offset of partition %d is %d (present %v); its last record there is at %d", table, part, next, ok, last)
		}
	}
	for ps, f := range st.Floors {
		part, _ := strconv.Atoi(ps)
		if end, ok := ends[int32(part)]; !ok || f > end {
			t.Errorf("%s: floor of partition %s is %d; the topic ends at %d (present %v)", table, ps, f, end, ok)
		}
	}
	t.Logf("%s: next %v, floors %v, ends %v", table, st.Partitions, st.Floors, ends)
}

// countRows is how many of lane's records in [start, end) are rows.
func countRows(recs []laneRecord, start, end int64) int64 {
	var n int64
	for _, r := range recs {
		if r.row && r.offset >= start && r.offset < end {
			n++
		}
	}
	return n
}

// checkRoutedHistory: a routed table's commits tile each partition
// contiguously from at most its first record to its stored next offset
// (not every offset in between is a row of it: the others are other
// tables'; a commit that only stores an idle partition's floor has an
// empty range), and each commit added exactly the rows routed to its ranges.
func checkRoutedHistory(t testing.TB, table string, hist []commitInfo, lane map[int32][]laneRecord, next map[string]int64, topic string) {
	t.Helper()
	type span struct{ start, end int64 }
	spans := map[int32][]span{}
	for _, c := range hist {
		var rows int64
		for _, r := range c.Ranges {
			if r.Topic != topic {
				t.Errorf("%s: commit %d covers topic %s", table, c.SnapshotID, r.Topic)
				continue
			}
			spans[r.Partition] = append(spans[r.Partition], span{r.Start, r.End})
			rows += countRows(lane[r.Partition], r.Start, r.End)
		}
		if rows != c.Records {
			t.Errorf("%s: commit %d (ranges %+v) added %d rows; %d records routed to it lie in its ranges", table, c.SnapshotID, c.Ranges, c.Records, rows)
		}
	}
	for part, recs := range lane {
		ss := spans[part]
		slices.SortFunc(ss, func(a, b span) int { return int(a.start - b.start) })
		if len(ss) == 0 || ss[0].start > recs[0].offset {
			t.Errorf("%s: partition %d: commit ranges %v do not start at or before its first record %d", table, part, ss, recs[0].offset)
			continue
		}
		at := ss[0].start
		for _, s := range ss {
			// An empty range is a commit that only raises the floor of an
			// idle partition: it must still start where the lane stands.
			if s.start != at || s.end < s.start {
				t.Errorf("%s: partition %d: commit ranges %v do not tile [%d, %d)", table, part, ss, ss[0].start, next[strconv.Itoa(int(part))])
				break
			}
			at = s.end
		}
		if want := next[strconv.Itoa(int(part))]; at != want {
			t.Errorf("%s: partition %d: commit ranges reach %d; its stored next offset is %d", table, part, at, want)
		}
	}
	t.Logf("%s: %d commits", table, len(hist))
}

// checkLetterCommits: each commit of the router's letters lane (the
// dead-letter table's snapshots carrying the group's offsets) added
// exactly the letters of records no table takes between the previous such
// commit's offsets and its own.
func checkLetterCommits(t testing.TB, table string, snaps []snapshotInfo, lane map[int32][]laneRecord, topic string) {
	t.Helper()
	byID := map[int64]snapshotInfo{}
	for _, s := range snaps {
		byID[s.SnapshotID] = s
	}
	var n int
	for _, s := range snaps {
		if s.Offsets == nil {
			continue
		}
		n++
		prev := map[string]int64{}
		for at := s.ParentID; at != nil; {
			ps, ok := byID[*at]
			if !ok {
				break
			}
			if ps.Offsets != nil {
				prev = ps.Offsets.Topics[topic].Partitions
				break
			}
			at = ps.ParentID
		}
		var letters int64
		for part, recs := range lane {
			next, ok := s.Offsets.Topics[topic].Partitions[strconv.Itoa(int(part))]
			if !ok {
				continue
			}
			for _, r := range recs {
				if r.offset >= prev[strconv.Itoa(int(part))] && r.offset < next {
					letters++
				}
			}
		}
		if letters != s.AddedRecords {
			t.Errorf("%s: snapshot %d added %d letters; %d unroutable records lie between its offsets %v and the previous ones %v",
				table, s.SnapshotID, s.AddedRecords, letters, s.Offsets.Topics[topic].Partitions, prev)
		}
	}
	t.Logf("%s: %d commits of the letters lane, %d snapshots in all", table, n, len(snaps))
}

// checkFloorsHeld: no floor ever lied. At each commit of each table, every
// record of the partition below that commit's floor was already in its
// table: below the next offset of the newest commit of its table made at
// or before that time (the commits' own times, one clock: floe's). A
// table's batch is sealed with its floor only after the other tables'
// batches below it landed, so the ordering holds whichever table commits
// first; a floor that passed a record another table had not committed
// would let a restart (from the highest floor) skip it.
func checkFloorsHeld(t testing.TB, snaps map[string][]snapshotInfo, lanes routedLanes, topic string) {
	t.Helper()
	type state struct {
		ms   int64
		next map[string]int64
	}
	history := map[string][]state{}
	for table, ss := range snaps {
		for _, s := range ss {
			if s.Offsets != nil {
				history[table] = append(history[table], state{s.TimestampMs, s.Offsets.Topics[topic].Partitions})
			}
		}
		slices.SortFunc(history[table], func(a, b state) int { return int(a.ms - b.ms) })
	}
	nextAt := func(table string, ms int64, part string) int64 {
		var n int64
		for _, st := range history[table] {
			if st.ms > ms {
				break
			}
			n = max(n, st.next[part])
		}
		return n
	}
	var problems []string
	var checked int
	for table, ss := range snaps {
		for _, s := range ss {
			if s.Offsets == nil {
				continue
			}
			for ps, floor := range s.Offsets.Topics[topic].Floors {
				part, _ := strconv.Atoi(ps)
				checked++
				for other, parts := range lanes {
					next := nextAt(other, s.TimestampMs, ps)
					for _, r := range parts[int32(part)] {
						if r.offset >= floor {
							break
						}
						if r.offset >= next {
							problems = append(problems, fmt.Sprintf("%s snapshot %d (at %d ms) stores floor %d for partition %d, but %s held only up to %d then: its record at %d was not in it",
								table, s.SnapshotID, s.TimestampMs, floor, part, other, next, r.offset))
							break
						}
					}
				}
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Errorf("%d floors passed records not yet in their tables, first: %v", len(problems), problems[:min(10, len(problems))])
	}
	t.Logf("floors: %d (snapshot, partition) floors checked against every table's commits at their time", checked)
}

// judgeRestart: the restart read each partition from the highest floor
// the tables held when it started (the commits older than the SIGKILL;
// from the first offset where none had one), as its "partition assigned"
// lines say.
func (rt *routedPipeline) judgeRestart(t testing.TB, run2 *floeProc, killed time.Time) {
	t.Helper()
	want := map[int32]int64{}
	for _, ss := range rt.snaps {
		for _, s := range ss {
			if s.Offsets == nil || s.TimestampMs > killed.UnixMilli() {
				continue
			}
			for ps, f := range s.Offsets.Topics[rt.p.topic].Floors {
				part, _ := strconv.Atoi(ps)
				want[int32(part)] = max(want[int32(part)], f)
			}
		}
	}
	got := map[int32]int64{}
	for _, l := range run2.logLines() {
		if l.str("msg") != "partition assigned" || l.str("topic") != rt.p.topic {
			continue
		}
		part, _ := l["partition"].(float64)
		if _, seen := got[int32(part)]; !seen {
			start, _ := l["start_offset"].(float64)
			got[int32(part)] = int64(start)
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("floe run2 started the partitions at %v; the highest floors stored before the SIGKILL are %v", got, want)
	}
	t.Logf("floe run2 started the partitions at the highest floors stored before the SIGKILL: %v", got)
}

// TestRoutedTopicLagReachesZero: once every record of a routed topic is in
// its table and no more arrive, floe_consumer_lag_records reaches 0 (an
// idle routed partition stores its position as its floor).
func TestRoutedTopicLagReachesZero(t *testing.T) {
	s := needServices(t)
	rt := newRoutedPipeline(t, s, 3)
	p := rt.p
	plan := planRouted(seededRand(t), rt, 1500)
	prod := startRoutedProducer(t, p.cl, p.topic, plan, 300, 15)
	run := p.start("run")
	run.waitReady(t)
	prod.wait(t)
	rt.waitRows(t, plan, 100, run)
	ends := endOffsets(t, p.adm, p.topic)
	var last string
	if held, ok := holdUntil(t, holdFor{atMost: time.Minute}, func() bool {
		text, err := run.metrics()
		if err != nil {
			last = err.Error()
			return false
		}
		lag, found := metricSum(text, "floe_consumer_lag_records", map[string]string{"topic": p.topic})
		last = fmt.Sprintf("%v (reported: %v)", lag, found)
		return found && lag == 0
	}, run); !ok {
		t.Errorf("floe_consumer_lag_records of %s is still %s %v after every record was committed; the topic ends at %v",
			p.topic, last, held.Round(time.Second), ends)
	}
	stopAll(t, run)
}
