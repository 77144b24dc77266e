package floebench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Schema is the tables[].schema (and partition-by) of the benchmarks that
// produce Record: every column kind the independent readers summarise. It
// is indented for a table entry of a tables: list.
const Schema = `    metadata-columns: {partition: _kafka_partition, offset: _kafka_offset}
    schema:
      - {name: id, type: string, required: true}
      - {name: n, type: long, required: true}
      - {name: amount, type: "decimal(12, 2)"}
      - {name: ts, type: timestamptz, required: true}
      - {name: customer, type: struct, fields: [{name: id, type: long, required: true}, {name: country, type: string}, {name: segment, type: string}]}
      - {name: tags, type: "list<string>"}
    partition-by: ["day(ts)"]
`

var (
	countries = []string{"DE", "FR", "NL", "PL", "US"}
	segments  = []string{`"smb"`, `"enterprise"`, `null`}
	tsBase    = time.Date(2026, 11, 27, 22, 0, 0, 0, time.UTC)
)

// RecordID is the id of record i of table t: unique across a run.
func RecordID(t, i int) string { return fmt.Sprintf("t%02d-%07d", t, i) }

// Record is record i of table t, a JSON object of about 200 bytes that
// matches Schema; ts advances 3 s per record, so a day(ts) partition
// changes every 28,800 records.
func Record(t, i int) []byte {
	tags := []string{`[]`, `["a"]`, `["a","b"]`}[i%3]
	ts := tsBase.Add(time.Duration(i) * 3 * time.Second).Add(time.Duration(rand.IntN(1000)) * time.Microsecond)
	return fmt.Appendf(nil, `{"id":%q,"n":%d,"amount":"%d.%02d","ts":%q,"customer":{"id":%d,"country":%q,"segment":%s},"tags":%s}`,
		RecordID(t, i), int64(i)*1_000_003, i%10_000, i%100, ts.Format(time.RFC3339Nano),
		i%1000, countries[i%len(countries)], segments[i%len(segments)], tags)
}

// Pace produces rate Records per second to every topic (topic t gets
// Record(t, ·)), in 100 ms steps, until limit has passed (0: no limit) or
// stop is closed (nil: never), then flushes and returns how many records
// each topic received. Pacing by elapsed time keeps the rate steady on a
// busy machine: a late step sends what the previous ones owed.
func Pace(ctx context.Context, cl *kgo.Client, topics []string, rate int, limit time.Duration, stop <-chan struct{}) ([]int, error) {
	n := make([]int, len(topics))
	errc := make(chan error, 1)
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for last := false; !last; {
		select {
		case <-tick.C:
		case <-stop:
			last = true
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		elapsed := time.Since(start)
		if limit > 0 && elapsed >= limit {
			elapsed, last = limit, true
		}
		want := int(float64(rate) * elapsed.Seconds())
		for t, topic := range topics {
			for ; n[t] < want; n[t]++ {
				cl.Produce(ctx, &kgo.Record{Topic: topic, Value: Record(t, n[t])}, func(_ *kgo.Record, err error) {
					if err != nil {
						select {
						case errc <- err:
						default:
						}
					}
				})
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, err
	}
	select {
	case err := <-errc:
		return nil, fmt.Errorf("produce: %w", err)
	default:
	}
	return n, nil
}

// WaitTopics waits until the broker's metadata lists every topic with all
// of its partitions led: floe refuses to start on a topic it cannot see,
// and a topic created a moment ago may not be visible yet.
func WaitTopics(ctx context.Context, adm *kadm.Client, partitions int, topics ...string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		td, err := adm.ListTopics(ctx, topics...)
		ready := err == nil && len(td) == len(topics)
		for _, t := range td {
			ready = ready && t.Err == nil && len(t.Partitions) == partitions
			for _, p := range t.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topics %v not ready after 30s (%v)", topics, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
