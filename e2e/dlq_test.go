//go:build e2e

package e2e

// Dead letters on real services: good and bad records interleaved, floe
// killed twice, and PyIceberg and DuckDB must find every offset in exactly
// one of the table and the dead-letter table, each bad record with its
// reason.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// badValues are the kinds of bad input the e2e test interleaves, with the
// reason floe must give (the table is the e2e orders schema; records over
// 64 KiB are refused).
var badValues = []struct {
	value  []byte
	reason string
}{
	{[]byte(`{"id":"bad","n":1`), "malformed_json"},
	{nil, "null_value"},
	{[]byte(`[1,2,3]`), "not_an_object"},
	{[]byte(`{"n":1,"ts":"2026-11-25T20:00:00Z"}`), "missing_required"},
	{[]byte(`{"id":"bad","n":"one","ts":"2026-11-25T20:00:00Z"}`), "wrong_type"},
	{[]byte(`{"id":"bad","n":1e40,"ts":"2026-11-25T20:00:00Z"}`), "out_of_range"},
	{[]byte("{\"id\":\"\xff\xfe\",\"n\":1,\"ts\":\"2026-11-25T20:00:00Z\"}"), "invalid_value"},
	{append(append([]byte(`{"id":"big","n":1,"ts":"2026-11-25T20:00:00Z","pad":"`), bytes.Repeat([]byte("x"), 100<<10)...), '"', '}'), "record_too_large"},
}

// badProducer writes bad records to random partitions until stopped and
// remembers each one's reason by "partition/offset".
type badProducer struct {
	rng  *rand.Rand // its goroutine's own: which partition each record goes to
	mu   sync.Mutex
	want map[string]string
	err  error
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// startBadProducer writes every kind of bad value to topic every so often,
// each to a partition drawn from rng (a generator of the producer's own).
func startBadProducer(t testing.TB, cl *kgo.Client, topic string, partitions int32, every time.Duration, rng *rand.Rand) *badProducer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &badProducer{rng: rng, want: map[string]string{}, stop: cancel}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var recs []*kgo.Record
			reasons := map[*kgo.Record]string{}
			for _, bv := range badValues {
				r := &kgo.Record{Topic: topic, Partition: b.rng.Int32N(partitions), Value: bv.value}
				recs = append(recs, r)
				reasons[r] = bv.reason
			}
			res := cl.ProduceSync(ctx, recs...)
			b.mu.Lock()
			for _, r := range res {
				if r.Err != nil {
					if ctx.Err() == nil && b.err == nil {
						b.err = r.Err
					}
					continue
				}
				b.want[fmt.Sprintf("%d/%d", r.Record.Partition, r.Record.Offset)] = reasons[r.Record]
			}
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); b.wg.Wait() })
	return b
}

func (b *badProducer) finish(t testing.TB) map[string]string {
	t.Helper()
	b.stop()
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		t.Fatalf("produce bad records: %v", b.err)
	}
	return maps.Clone(b.want)
}

// readPairs has both readers list [partition, offset, label] of every row.
func readPairs(t testing.TB, p *pipeline, table, partCol, offCol, labelCol string) (py, duck [][3]any) {
	t.Helper()
	req := map[string]any{"mode": "pairs", "catalog": p.catalog, "table": table,
		"partition_column": partCol, "offset_column": offCol, "label_column": labelCol}
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
		Pairs [][3]any `json:"pairs"`
		Error string   `json:"error"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("readers/check.py: %v\n%s", err, stdout.String())
	}
	for name, r := range out {
		if r.Error != "" {
			t.Fatalf("reader %s could not read %s: %s", name, table, r.Error)
		}
	}
	return out["pyiceberg"].Pairs, out["duckdb"].Pairs
}

func pairKey(p [3]any) string { return fmt.Sprintf("%v/%v", p[0], p[1]) }

func TestDeadLettersExactlyOnce(t *testing.T) {
	s := needServices(t)
	const n, partitions = 12_000, 4
	rng := seededRand(t)
	p := newPipeline(t, s, "rest-s3", partitions)
	dlqTable, dlqTopic := p.table+"_dlq", p.topic+".dlq"
	createTopic(t, p.adm, dlqTopic, 2)
	p.conf.tableExtra = fmt.Sprintf("    on-error: dlq\n    max-record-bytes: 64KiB\n    dlq:\n      table: %s\n      topic: %s\n      max-value-bytes: 16KiB\n",
		dlqTable, dlqTopic)
	p.cfgPath, _ = p.conf.write(t, p.dir, "commits")

	prod := startProducer(t, p.cl, p.topic, pacedRun{n: n, rate: 2000})
	bad := startBadProducer(t, p.cl, p.topic, partitions, 250*time.Millisecond, forkRand(rng))

	first := p.start("run1")
	first.waitReady(t)
	p.waitCommitted(n*20/100, first)
	first.kill(t)
	second := p.start("run2")
	p.waitCommitted(n*50/100, second)
	time.Sleep(randUpTo(rng, time.Second)) // anywhere in the commit cycle, maybe between the two commits
	second.kill(t)
	third := p.start("run3")
	// The paced run ends early only on an error, which prod.wait reports.
	waitFor(t, "85% of the good records produced", 5*time.Minute,
		func() bool { return prod.produced() >= n*85/100 || prod.finished() }, third)
	want := bad.finish(t) // the last records of every partition are good ones
	ids := prod.wait(t)
	ends := endOffsets(t, p.adm, p.topic)
	total := sumOffsets(ends)
	if total != int64(len(ids)+len(want)) {
		t.Fatalf("the topic ends at %v (%d records); %d good and %d bad were produced", ends, total, len(ids), len(want))
	}
	p.waitUntil("caught up with the topic's end", 5*time.Minute,
		func(m map[int32]int64) bool { return maps.Equal(m, withoutEmpty(ends)) }, third)
	stopAll(t, third)
	letterLines := 0
	for _, proc := range []*floeProc{first, second, third} {
		letterLines += strings.Count(proc.log(), `"msg":"dead letters committed"`)
		t.Logf("floe %s: %s; %d dead-letter commits, %d found already there", proc.name, proc.logSummary(),
			strings.Count(proc.log(), `"msg":"dead letters committed"`), strings.Count(proc.log(), `"msg":"dead letters already in the dead-letter table"`))
	}
	if letterLines == 0 {
		t.Fatal("no dead-letter commit was logged")
	}

	rowsPy, rowsDuck := readPairs(t, p, p.table, "_kafka_partition", "_kafka_offset", "id")
	lettersPy, lettersDuck := readPairs(t, p, dlqTable, "source_partition", "source_offset", "reason")
	lettersTopic := readLetterTopic(t, p, dlqTopic)
	for _, reader := range []struct {
		name          string
		rows, letters [][3]any
	}{{"pyiceberg", rowsPy, lettersPy}, {"duckdb", rowsDuck, lettersDuck}, {"pyiceberg rows + the Kafka dead-letter topic", rowsPy, lettersTopic}} {
		inRows, inLetters := map[string]int{}, map[string]int{}
		reason := map[string]string{}
		goodIDs := map[string]int{}
		for _, r := range reader.rows {
			inRows[pairKey(r)]++
			goodIDs[fmt.Sprint(r[2])]++
		}
		for _, l := range reader.letters {
			inLetters[pairKey(l)]++
			reason[pairKey(l)] = fmt.Sprint(l[2])
		}
		var problems []string
		for part, end := range ends {
			for off := int64(0); off < end; off++ {
				k := fmt.Sprintf("%d/%d", part, off)
				r, l := inRows[k], inLetters[k]
				switch {
				case r+l == 0:
					problems = append(problems, k+" in neither table")
				case r+l > 1:
					problems = append(problems, fmt.Sprintf("%s %d× in the table, %d× in the dead-letter table", k, r, l))
				case l == 1 && reason[k] != want[k]:
					problems = append(problems, fmt.Sprintf("%s dead-lettered as %q, want %q", k, reason[k], want[k]))
				case r == 1 && want[k] != "":
					problems = append(problems, fmt.Sprintf("%s is a bad record (%s) but a row", k, want[k]))
				}
			}
		}
		for _, id := range ids {
			if goodIDs[id] != 1 {
				problems = append(problems, fmt.Sprintf("good record %s is %d× in the table", id, goodIDs[id]))
			}
		}
		if len(problems) > 0 {
			t.Errorf("%s: %d accounting problems, first: %v", reader.name, len(problems), problems[:min(10, len(problems))])
		}
		t.Logf("%s: %d rows + %d dead letters = %d offsets (topic ends at %d); %d good and %d bad produced",
			reader.name, len(reader.rows), len(reader.letters), len(reader.rows)+len(reader.letters), total, len(ids), len(want))
	}
}

// readLetterTopic reads the dead-letter topic read_committed as
// [source partition, source offset, reason] rows, up to the topic's last
// stable offsets. It stops when it has read past them on every partition,
// not when a poll comes back empty: on a busy machine an empty poll may only
// mean the broker was slow to answer. It keeps the control records (the
// transactions' markers) to know where it is: floe writes the topic in
// transactions under one transactional ID, one after the other, so the last
// offset below a partition's last stable offset is always a marker.
func readLetterTopic(t testing.TB, p *pipeline, topic string) [][3]any {
	t.Helper()
	const timeout = 3 * time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	listed, err := p.adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatalf("list the last stable offsets of %s: %v", topic, err)
	}
	stable := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { stable[o.Partition] = o.Offset })
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.svc.Kafka), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	next := map[int32]int64{} // by partition, the offset after the last record read
	behind := func() bool {
		for part, end := range stable {
			if next[part] < end {
				return true
			}
		}
		return false
	}
	var out [][3]any
	for behind() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the dead-letter topic %s not read to its last stable offsets %v within %v: read up to %v", topic, stable, timeout, next)
		}
		fs.EachError(func(_ string, part int32, err error) {
			t.Logf("the dead-letter topic %s, partition %d: %v (the client retries)", topic, part, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
			if r.Attrs.IsControl() {
				return
			}
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			part, _ := strconv.Atoi(h["floe.source.partition"])
			off, _ := strconv.ParseInt(h["floe.source.offset"], 10, 64)
			out = append(out, [3]any{float64(part), float64(off), h["floe.reason"]})
		})
	}
	t.Logf("the dead-letter topic %s holds %d letters (read_committed, to its last stable offsets %v)", topic, len(out), stable)
	return out
}
