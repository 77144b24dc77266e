package main

// The dead-letter accounting on a bad-input corpus: every consumed offset
// ends up in exactly one of the table and the dead-letter table, across a
// hard kill and a restart.

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/committer"
)

// badInput is one record of the corpus and the reason floe must give.
type badInput struct {
	name   string
	value  []byte
	reason string
}

func nested(depth int, leaf string) string {
	return strings.Repeat(`{"a":`, depth) + leaf + strings.Repeat("}", depth)
}

// badCorpus is the bad-input corpus: every class of bad record floe meets.
func badCorpus() []badInput {
	huge := bytes.Repeat([]byte("x"), 10<<20)
	copy(huge, `{"id":"huge","n":1,"pad":"`)
	huge[len(huge)-2], huge[len(huge)-1] = '"', '}'
	return []badInput{
		{"malformed JSON", []byte(`{"id":"m","n":1`), "malformed_json"},
		{"trailing garbage", []byte(`{"id":"m","n":1} x`), "malformed_json"},
		{"empty value", []byte{}, "malformed_json"},
		{"tombstone", nil, "null_value"},
		{"JSON null", []byte(`null`), "null_value"},
		{"not an object", []byte(`["id","n"]`), "not_an_object"},
		{"empty object", []byte(`{}`), "missing_required"},
		{"null required", []byte(`{"id":null,"n":1}`), "missing_required"},
		{"wrong type", []byte(`{"id":"w","n":"seven"}`), "wrong_type"},
		{"wrong nested type", []byte(`{"id":"w","n":1,"user":{"name":"u","age":"old"}}`), "wrong_type"},
		{"huge integer", []byte(`{"id":"h","n":123456789012345678901234567890}`), "out_of_range"},
		{"huge decimal", []byte(`{"id":"h","n":1,"amount":"123456789012.50"}`), "out_of_range"},
		{"invalid UTF-8", []byte("{\"id\":\"\xc3\x28\",\"n\":1}"), "invalid_value"},
		{"bad timestamp", []byte(`{"id":"t","n":1,"ts":"yesterday"}`), "invalid_value"},
		{"deep nesting into a column", []byte(`{"id":"d","n":1,"tags":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`), "wrong_type"},
		{"deep nesting unparsable", []byte(nested(100000, `{`)), "malformed_json"},
		{"10 MB record", huge, "record_too_large"},
	}
}

// produceCorpus writes the corpus spread over the partitions (one record of
// each kind per partition) and returns the expected reason per record,
// keyed "partition/offset".
func (b *bed) produceCorpus(partitions int32) map[string]string {
	b.t.Helper()
	var recs []*kgo.Record
	for p := range partitions {
		for _, in := range badCorpus() {
			recs = append(recs, &kgo.Record{Topic: b.topic, Partition: p, Value: in.value,
				Headers: []kgo.RecordHeader{{Key: "case", Value: []byte(in.name)}}})
		}
	}
	want := map[string]string{}
	for _, r := range b.prod.ProduceSync(context.Background(), recs...) {
		require.NoError(b.t, r.Err)
		var reason string
		for _, in := range badCorpus() {
			if string(r.Record.Headers[0].Value) == in.name {
				reason = in.reason
			}
		}
		want[fmt.Sprintf("%d/%d", r.Record.Partition, r.Record.Offset)] = reason
	}
	return want
}

type letterRow struct {
	reason    string
	size      int64
	truncated bool
	value     int
	header    string
}

// deadLetters reads the dead-letter table: "partition/offset" → letters.
func (b *bed) deadLetters(name string) map[string][]letterRow {
	b.t.Helper()
	cat, err := catalog.Open(context.Background(), catalog.Config{
		Type: "sql", Name: "itest", Warehouse: "file://" + b.dir + "/warehouse",
		SQL: catalog.SQLConfig{Driver: "sqlite", DSN: b.dir + "/catalog.db"},
	}, nil)
	require.NoError(b.t, err)
	defer closeCatalog(cat)
	ident, err := committer.ParseIdentifier(name)
	require.NoError(b.t, err)
	tbl, err := cat.LoadTable(context.Background(), ident)
	require.NoError(b.t, err)
	out := map[string][]letterRow{}
	if tbl.CurrentSnapshot() == nil {
		return out
	}
	_, recs, err := tbl.Scan(table.WithSelectedFields("target_table", "source_topic", "source_partition", "source_offset",
		"reason", "value_size", "value_truncated", "value", "headers")).ToArrowRecords(context.Background())
	require.NoError(b.t, err)
	for rec, err := range recs {
		require.NoError(b.t, err)
		col := func(n string) int { return rec.Schema().FieldIndices(n)[0] }
		for i := 0; i < int(rec.NumRows()); i++ {
			require.Equal(b.t, "itest.events", rec.Column(col("target_table")).(*array.String).Value(i))
			require.Equal(b.t, "events", rec.Column(col("source_topic")).(*array.String).Value(i))
			key := fmt.Sprintf("%d/%d", rec.Column(col("source_partition")).(*array.Int32).Value(i),
				rec.Column(col("source_offset")).(*array.Int64).Value(i))
			out[key] = append(out[key], letterRow{
				reason:    rec.Column(col("reason")).(*array.String).Value(i),
				size:      rec.Column(col("value_size")).(*array.Int64).Value(i),
				truncated: rec.Column(col("value_truncated")).(*array.Boolean).Value(i),
				value:     len(rec.Column(col("value")).(*array.Binary).Value(i)),
				header:    fmt.Sprintf("%s", rec.Column(col("headers")).GetOneForMarshal(i)),
			})
		}
		rec.Release()
	}
	return out
}

// tableOffsets reads the table's rows: "partition/offset" → occurrences.
func (b *bed) tableOffsets() map[string]int {
	b.t.Helper()
	tbl := b.loadTable()
	require.NotNil(b.t, tbl)
	_, recs, err := tbl.Scan(table.WithSelectedFields("_partition", "_offset")).ToArrowRecords(context.Background())
	require.NoError(b.t, err)
	out := map[string]int{}
	for rec, err := range recs {
		require.NoError(b.t, err)
		ps := rec.Column(rec.Schema().FieldIndices("_partition")[0]).(*array.Int32)
		os := rec.Column(rec.Schema().FieldIndices("_offset")[0]).(*array.Int64)
		for i := 0; i < ps.Len(); i++ {
			out[fmt.Sprintf("%d/%d", ps.Value(i), os.Value(i))]++
		}
		rec.Release()
	}
	return out
}

func TestDeadLetterCorpusExactlyOnce(t *testing.T) {
	for _, dest := range []string{"table", "topic", "both"} {
		t.Run(dest, func(t *testing.T) { corpusExactlyOnce(t, dest) })
	}
}

// corpusExactlyOnce runs the bad-input corpus through floe with a SIGKILL
// and a restart and checks the accounting for each dead-letter
// destination: every offset in exactly one of the table and each
// destination, with the expected reason.
func corpusExactlyOnce(t testing.TB, dest string) {
	const partitions = 3
	b := newBed(t, partitions, kfake.BrokerConfigs(map[string]string{"message.max.bytes": fmt.Sprint(32 << 20)}),
		kfake.SeedTopics(1, "events.dlq"))
	dlq := "    dlq:\n      max-value-bytes: 64KiB\n"
	if dest != "topic" {
		dlq += "      table: itest.events_dlq\n"
	}
	if dest != "table" {
		dlq += "      topic: events.dlq\n"
	}
	cfg := b.config("floe", "    on-error: dlq\n    max-record-bytes: 1MiB\n"+dlq)
	b.produce(600)
	want := b.produceCorpus(partitions)
	b.produce(600)

	p := b.start(cfg)
	b.waitCommitted(300, p)
	require.Equal(t, -1, p.stop(t, syscall.SIGKILL))

	// After the kill, another corpus while a new process runs.
	p = b.start(cfg)
	for k, v := range b.produceCorpus(partitions) {
		want[k] = v
	}
	b.produce(600)
	total := int64(1800 + 2*partitions*len(badCorpus()))
	b.waitCommitted(total, p)
	_, metrics := p.get(t, "/metrics")
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))

	rows := b.tableOffsets()
	var dests []map[string][]letterRow
	if dest != "topic" {
		require.Contains(t, p.out.String(), `"msg":"dead letters committed"`)
		dests = append(dests, b.deadLetters("itest.events_dlq"))
	}
	if dest != "table" {
		require.Contains(t, p.out.String(), `"msg":"dead letters written to topic"`)
		dests = append(dests, b.topicLetters("events.dlq"))
	}
	for _, letters := range dests {
		b.requireAccounted(rows, letters, want, total)
	}
	for _, in := range badCorpus() {
		require.Contains(t, metrics, fmt.Sprintf(`floe_consumer_bad_records_total{outcome="dead_lettered",reason=%q,topic="events"}`, in.reason))
	}
	require.Contains(t, metrics, `floe_committer_dead_letters_total{destination="topic",table="itest.events"}`)
}

// requireAccounted: every offset of the topic is in exactly one of rows and
// letters, each letter with its expected reason and its value cut as
// configured.
func (b *bed) requireAccounted(rows map[string]int, letters map[string][]letterRow, want map[string]string, total int64) {
	t := b.t
	t.Helper()
	adm := kadm.NewClient(b.prod)
	ends, err := adm.ListEndOffsets(context.Background(), b.topic)
	require.NoError(t, err)
	var accounted int64
	ends.Each(func(o kadm.ListedOffset) {
		for off := int64(0); off < o.Offset; off++ {
			k := fmt.Sprintf("%d/%d", o.Partition, off)
			n, l := rows[k], len(letters[k])
			switch {
			case n+l == 0:
				t.Errorf("offset %s is in neither the table nor the dead letters", k)
			case n+l > 1:
				t.Errorf("offset %s is %d times in the table and %d times in the dead letters", k, n, l)
			case l == 1 && want[k] == "":
				t.Errorf("offset %s is a good record but is a dead letter (%s)", k, letters[k][0].reason)
			case l == 1 && letters[k][0].reason != want[k]:
				t.Errorf("offset %s: dead-letter reason %s, want %s", k, letters[k][0].reason, want[k])
			case n == 1 && want[k] != "":
				t.Errorf("offset %s is a bad record (%s) but is a row of the table", k, want[k])
			}
			accounted++
		}
	})
	require.Equal(t, total, accounted)
	require.Len(t, letters, len(want))
	for k, ls := range letters {
		l := ls[0]
		require.Contains(t, l.header, "case", k)
		if l.reason == "record_too_large" {
			require.Equal(t, int64(10<<20), l.size)
		}
		if l.size > 64<<10 {
			require.True(t, l.truncated, k)
			require.Equal(t, 64<<10, l.value, "the value is cut to dlq.max-value-bytes")
		} else {
			require.False(t, l.truncated, k)
			require.Equal(t, int(l.size), l.value, k)
		}
	}
}

// topicLetters reads the dead-letter topic read_committed: "partition/offset"
// of the source record → letters. It reads up to the topic's last stable
// offsets, listed first: control records are kept so that the position is
// known even where a transaction marker ends the log.
func (b *bed) topicLetters(topic string) map[string][]letterRow {
	b.t.Helper()
	ends, err := kadm.NewClient(b.prod).ListCommittedOffsets(context.Background(), topic)
	require.NoError(b.t, err)
	require.NoError(b.t, ends.Error())
	left := map[int32]int64{} // partition → last stable offset not yet reached
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64<<20), kgo.KeepControlRecords())
	require.NoError(b.t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := map[string][]letterRow{}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			b.t.Fatalf("dead-letter topic %s: offsets %v not reached", topic, left)
		}
		fs.EachError(func(t string, p int32, err error) { b.t.Fatalf("fetch %s[%d]: %v", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			h := map[string]string{}
			var names []string
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
				names = append(names, x.Key+"="+string(x.Value))
			}
			require.Equal(b.t, "itest.events", h["floe.table"])
			require.Equal(b.t, "events", h["floe.source.topic"])
			size, _ := strconv.ParseInt(h["floe.value.size"], 10, 64)
			k := h["floe.source.partition"] + "/" + h["floe.source.offset"]
			out[k] = append(out[k], letterRow{reason: h["floe.reason"], size: size, truncated: h["floe.value.truncated"] == "true",
				value: len(r.Value), header: strings.Join(names, ",")})
		})
	}
	return out
}
