//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaClient connects to the testbed's broker; it is closed when t ends.
func kafkaClient(t testing.TB, s *services) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Kafka),
		kgo.ProducerLinger(5*time.Millisecond),
		// A broker that went away fails the test instead of hanging it; a
		// broker that restarts slowly on a busy machine (TestFaultBrokerRestart)
		// does not.
		kgo.RecordDeliveryTimeout(3*time.Minute),
		kgo.RetryTimeout(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// createTopic creates topic with the given partitions (replication factor
// 1): the broker does not create topics on its own.
func createTopic(t testing.TB, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	// The topic is usable once every partition has a leader.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			d := md.Topics[topic]
			ready := d.Err == nil && len(d.Partitions) == int(partitions)
			for _, p := range d.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0
			}
			if ready {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s has no leaders after 2m (%v)", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// endOffsets lists the topic's end offsets, partition → next offset.
func endOffsets(t testing.TB, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// topicIdentity is what floe stores beside the offsets to recognise the
// cluster and the topic: Kafka's cluster ID and topic ID.
func topicIdentity(t testing.TB, adm *kadm.Client, topic string) (clusterID, topicID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	return md.Cluster, md.Topics[topic].ID.String()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// record is record i of a scenario: a unique id and a value with every kind
// of column the table has (string, long, decimal, timestamptz, struct, list).
func record(i int) (id string, value []byte) {
	id = fmt.Sprintf("o%07d", i)
	var segment any = segments[i%len(segments)]
	if i%7 == 0 {
		segment = nil
	}
	tags := make([]string, i%4)
	for k := range tags {
		tags[k] = fmt.Sprintf("t%d", k)
	}
	v := map[string]any{
		"id":     id,
		"n":      recordN(i),
		"amount": recordAmount(i),
		"ts":     recordTS(i).Format("2006-01-02T15:04:05.000000Z07:00"),
		"customer": map[string]any{
			"id":      i % 5000,
			"country": countries[i%len(countries)],
			"segment": segment,
		},
		"tags": tags,
	}
	return id, mustJSON(v)
}

var (
	countries = []string{"DE", "FR", "NL", "PL", "US"}
	segments  = []string{"smb", "enterprise", "consumer"}
	tsBase    = time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
)

// recordN exceeds 32 bits, so a long stored as an int would show; the
// sum over a million records exceeds 64 bits, so it is compared exactly.
func recordN(i int) int64 { return int64(i) * 1_000_000_007 }

// recordAmount is a decimal string with cents, i in cents plus a spread.
func recordAmount(i int) string { return fmt.Sprintf("%d.%02d", i%100_000, i%100) }

// recordTS spreads the records over about two days (two or three day
// partitions) with microsecond digits.
func recordTS(i int) time.Time {
	return tsBase.Add(time.Duration(i)*5*time.Second + time.Duration(i%1000)*time.Microsecond)
}

// aggregates are column summaries both readers compute; they show the
// values, not only the ids, made it through.
type aggregates struct {
	SumN          json.Number `json:"sum_n"` // exact: past 2^63 for a million records
	SumAmount     string      `json:"sum_amount"`
	MinTS         string      `json:"min_ts"`
	MaxTS         string      `json:"max_ts"`
	Tags          int64       `json:"tags"`
	CustomerIDSum int64       `json:"customer_id_sum"`
}

// expectedAggregates summarises records 0..n-1 as the readers should.
func expectedAggregates(n int) aggregates { return aggregatesOf(0, n) }

// aggregatesOf summarises records first..first+n-1 as the readers should.
func aggregatesOf(first, n int) aggregates {
	return aggregatesOfRecords(func(yield func(int) bool) {
		for i := first; i < first+n; i++ {
			if !yield(i) {
				return
			}
		}
	})
}

// aggregatesOfRecords summarises the records numbered by nums (at least
// one, each once) as the readers should: a table holding some of a run's
// records, e.g. those routed to it.
func aggregatesOfRecords(nums iter.Seq[int]) aggregates {
	var cents, tags, cust int64
	sumN := new(big.Int)
	lo, hi := math.MaxInt, math.MinInt
	for i := range nums {
		sumN.Add(sumN, big.NewInt(recordN(i)))
		cents += int64(i%100_000)*100 + int64(i%100)
		tags += int64(i % 4)
		cust += int64(i % 5000)
		lo, hi = min(lo, i), max(hi, i)
	}
	// recordTS grows with the record number.
	ts := func(i int) string { return recordTS(i).UTC().Format("2006-01-02T15:04:05.000000Z") }
	return aggregates{
		SumN:          json.Number(sumN.String()),
		SumAmount:     fmt.Sprintf("%d.%02d", cents/100, cents%100),
		MinTS:         ts(lo),
		MaxTS:         ts(hi),
		Tags:          tags,
		CustomerIDSum: cust,
	}
}

// records are records first..first+n-1 for topic, keyed by id, and their ids.
func records(topic string, first, n int) ([]*kgo.Record, []string) {
	recs := make([]*kgo.Record, 0, n)
	ids := make([]string, 0, n)
	for k := first; k < first+n; k++ {
		id, v := record(k)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(id), Value: v})
		ids = append(ids, id)
	}
	return recs, ids
}

// producer writes a paced run of records in the background, so floe is
// stopped and killed while records arrive. more (and keepFlowing, once that
// paced run is over) adds records after them, for a stage that needs floe
// to have something left to commit.
type producer struct {
	cl    *kgo.Client
	topic string
	wg    sync.WaitGroup
	done  chan struct{} // closed when the paced run is over
	mu    sync.Mutex
	ids   []string // the paced run's, acknowledged so far
	extra []string // more's
	next  int      // the record more writes next: after the paced run's
	fed   time.Time
	err   error
	stop  context.CancelFunc
}

// pacedRun is what a producer writes in the background: records
// first..first+n-1 at about rate records per second.
type pacedRun struct {
	first int // the first record's number: 0, or past an earlier run's
	n     int // how many records
	rate  int // records per second, about
	// chunk is how many records go in each produce call (0: 250); a slow
	// run needs small ones to be a stream rather than a few bursts.
	chunk int
}

// startProducer writes run to topic in the background, until it is done or
// t ends.
func startProducer(t testing.TB, cl *kgo.Client, topic string, run pacedRun) *producer {
	t.Helper()
	first, n, rate, chunk := run.first, run.n, run.rate, run.chunk
	if chunk == 0 {
		chunk = 250
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &producer{cl: cl, topic: topic, done: make(chan struct{}), next: first + n, stop: cancel}
	interval := time.Duration(float64(time.Second) * float64(chunk) / float64(rate))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := first; i < first+n; i += chunk {
			end := min(i+chunk, first+n)
			recs, ids := records(topic, i, end-i)
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				p.mu.Lock()
				p.err = fmt.Errorf("produce records %d..%d: %w", i, end-1, err)
				p.mu.Unlock()
				return
			}
			p.mu.Lock()
			p.ids = append(p.ids, ids...)
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

// produced is the number of records of the paced run acknowledged so far.
func (p *producer) produced() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ids)
}

// finished says whether the paced run is over.
func (p *producer) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// keepFlowing writes 500 more records (more) if the paced run is over and
// it has not written any in the last two seconds. A stage that waits for
// floe to commit — a fault to take effect, a replica to have committed —
// calls it while it waits: on a busy machine floe may have caught up with
// the whole paced run before the stage began, and would then have nothing
// left to commit.
func (p *producer) keepFlowing(t testing.TB) {
	t.Helper()
	if !p.finished() {
		return
	}
	p.mu.Lock()
	idle := p.err == nil && time.Since(p.fed) >= 2*time.Second
	p.mu.Unlock()
	if idle {
		p.more(t, 500)
	}
}

// more writes k records now, numbered on from the paced run's and from
// earlier calls' (ids stay unique, and 0..N-1 in all for a run from 0), and
// waits for them; it may run beside the paced run. wait returns their ids
// too.
func (p *producer) more(t testing.TB, k int) {
	t.Helper()
	p.mu.Lock()
	first := p.next
	p.next += k
	p.mu.Unlock()
	recs, ids := records(p.topic, first, k)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce records %d..%d: %v", first, first+k-1, err)
	}
	p.mu.Lock()
	p.extra = append(p.extra, ids...)
	p.fed = time.Now()
	p.mu.Unlock()
}

// wait waits for the paced run to finish and returns the ids produced: the
// paced run's and more's so far.
func (p *producer) wait(t testing.TB) []string {
	t.Helper()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Fatal(p.err)
	}
	return append(append([]string(nil), p.ids...), p.extra...)
}
