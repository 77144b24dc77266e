package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

// steadyResult is what one steady-stream run measured.
type steadyResult struct {
	rate      int
	duration  time.Duration
	produced  int
	payload   int64
	snapshots int
	lat       []float64 // record → visible, seconds, sorted
	floe      *floebench.Hist
}

// target is the freshness the issue asks of p99: commit-interval + 1 s.
func (r steadyResult) target() time.Duration { return commitInterval + time.Second }

func (r steadyResult) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(r.lat)))) - 1
	return time.Duration(r.lat[min(max(i, 0), len(r.lat)-1)] * float64(time.Second))
}

func (r steadyResult) met() bool { return len(r.lat) > 0 && r.pct(99) <= r.target() }

// steady starts floe on a fresh topic, then produces o.rate records per
// second for o.duration (each record's Kafka timestamp is the moment it was
// produced) while a poller reads the table from the REST catalog every
// 100 ms and notes when each snapshot is first seen. Each record's
// freshness is the time its snapshot was first seen minus its produce time;
// `floe commits` says which offsets each snapshot added.
func steady(ctx context.Context, o *options, env map[string]string) (steadyResult, error) {
	res := steadyResult{rate: o.rate, duration: o.duration}
	topic, table, group, cl, err := newTopic(ctx, o, env, "steady")
	if err != nil {
		return res, err
	}
	defer cl.Close()
	f, err := startFloe(o, env, topic, table, group, o.budget)
	if err != nil {
		return res, err
	}
	defer f.cleanup(o.keep)
	if err := f.waitReady(2 * time.Minute); err != nil {
		return res, err
	}
	u, err := tableURL(catalogURI(env, o.catalog), table)
	if err != nil {
		return res, err
	}
	pctx, stopPolling := context.WithCancel(ctx)
	p := &poller{url: u, seen: map[int64]time.Time{}, polled: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.run(pctx) }()
	defer func() { stopPolling(); wg.Wait() }()

	fmt.Fprintf(os.Stderr, "floe ready; producing %d records/s of ~%d bytes to %s for %s...\n", o.rate, o.size, topic, o.duration)
	sent, err := producePaced(ctx, cl, o.rate, o.size, o.duration)
	if err != nil {
		return res, err
	}
	res.produced, res.payload = sent.n, sent.bytes
	fmt.Fprintf(os.Stderr, "produced %d records (%.1f MB); waiting for floe to commit them\n", sent.n, float64(sent.bytes)/1e6)
	if err := f.waitRows(sent.n, o.duration+5*time.Minute, nil); err != nil {
		return res, err
	}
	// A poll that started after the last commit landed has seen it: the
	// third poll to finish from now (the first may have finished before,
	// the second may have started before).
	for range 3 {
		select {
		case <-p.polled:
		case <-time.After(time.Minute):
			return res, fmt.Errorf("the catalog poller is stuck: %v", p.err())
		}
	}
	stopPolling()
	wg.Wait()
	fams, err := floebench.Scrape(f.addr)
	if err != nil {
		return res, err
	}
	res.floe = fams.Hist("floe_table_freshness_seconds", map[string]string{"table": table})
	if _, err := f.stop(); err != nil {
		return res, err
	}
	commits, err := f.commits(o.floe)
	if err != nil {
		return res, err
	}
	res.snapshots = len(commits)
	res.lat = make([]float64, 0, sent.n)
	for _, c := range commits {
		seen, ok := p.seen[c.SnapshotID]
		if !ok {
			return res, fmt.Errorf("snapshot %d was never seen by the poller", c.SnapshotID)
		}
		for _, r := range c.Ranges {
			for off := r.Start; off < r.End; off++ {
				at, ok := sent.at(r.Partition, off)
				if !ok {
					return res, fmt.Errorf("snapshot %d holds partition %d offset %d, which was not produced", c.SnapshotID, r.Partition, off)
				}
				res.lat = append(res.lat, seen.Sub(at).Seconds())
			}
		}
	}
	if len(res.lat) != sent.n {
		return res, fmt.Errorf("the snapshots hold %d records, %d were produced", len(res.lat), sent.n)
	}
	slices.Sort(res.lat)
	if err := judge(ctx, o, env, cl, topic, table, group, "s", sent.n); err != nil {
		return res, err
	}
	cleanupTable(ctx, o, env, cl, topic, table)
	return res, nil
}

// print writes the steady run's figures as a Markdown table.
func (r steadyResult) print(o *options) {
	fmt.Printf("| metric | value |\n|---|---|\n")
	fmt.Printf("| records | %d at %d/s for %s (%.1f MB of JSON, %d partitions) |\n", r.produced, r.rate, r.duration, float64(r.payload)/1e6, o.partitions)
	fmt.Printf("| catalog, commit-interval, batch max-age | %s, %s, 2s |\n", o.catalog, commitInterval)
	fmt.Printf("| snapshots | %d |\n", r.snapshots)
	fmt.Printf("| record → visible in the catalog p50 / p90 / p99 / max | %s / %s / %s / %s |\n",
		ms(r.pct(50)), ms(r.pct(90)), ms(r.pct(99)), ms(r.pct(100)))
	verdict := "met"
	if !r.met() {
		verdict = "NOT met"
	}
	fmt.Printf("| target: p99 ≤ commit-interval + 1 s = %s | %s |\n", r.target(), verdict)
	fmt.Printf("| floe's floe_table_freshness_seconds p50 / p99 (bucket interpolation) | %s / %s (%.0f records) |\n",
		secs(r.floe.Quantile(0.5)), secs(r.floe.Quantile(0.99)), r.floeCount())
	fmt.Printf("| exactly once | %s |\n", exactlyOnce(o))
}

func (r steadyResult) floeCount() float64 {
	if r.floe == nil {
		return 0
	}
	return r.floe.Count
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

func secs(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return ms(time.Duration(s * float64(time.Second)))
}

// sent is what producePaced produced: the produce time of every record
// by partition and offset, as Kafka acknowledged them.
type sent struct {
	mu    sync.Mutex
	times map[int32][]int64 // unix nanoseconds by offset; 0: not ours
	n     int
	bytes int64
}

func (s *sent) record(p int32, off int64, ts time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.times[p]
	for int64(len(t)) <= off {
		t = append(t, 0)
	}
	t[off] = ts.UnixNano()
	s.times[p] = t
}

func (s *sent) at(p int32, off int64) (time.Time, bool) {
	t := s.times[p]
	if off >= int64(len(t)) || t[off] == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, t[off]), true
}

// producePaced produces rate records per second for d, in 5 ms steps
// paced by elapsed time (a late step sends what the previous ones owed).
// Each record's timestamp (CreateTime) is the moment it is handed to the
// client.
func producePaced(ctx context.Context, cl *kgo.Client, rate, size int, d time.Duration) (*sent, error) {
	s := &sent{times: map[int32][]int64{}}
	rng := rand.New(rand.NewPCG(7, 7))
	pad := padding(size)
	errc := make(chan error, 1)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for last := false; !last; {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		elapsed := time.Since(start)
		if elapsed >= d {
			elapsed, last = d, true
		}
		for want := int(float64(rate) * elapsed.Seconds()); s.n < want; s.n++ {
			v := value(rng, "s", s.n, pad)
			s.bytes += int64(len(v))
			cl.Produce(ctx, &kgo.Record{Value: v, Timestamp: time.Now()}, func(r *kgo.Record, err error) {
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
				s.record(r.Partition, r.Offset, r.Timestamp)
			})
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
	return s, nil
}

// poller reads a table from the REST catalog every 100 ms and notes when
// each snapshot ID is first seen.
type poller struct {
	url    string
	seen   map[int64]time.Time // owned by run until it returns
	polled chan struct{}       // a token after each successful poll

	mu      sync.Mutex
	lastErr error
}

func (p *poller) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// run polls until ctx is done.
func (p *poller) run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := p.poll(ctx)
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		if err == nil {
			select {
			case p.polled <- struct{}{}:
			default:
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *poller) poll(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", p.url, resp.Status)
	}
	var t struct {
		Metadata struct {
			Snapshots []struct {
				ID int64 `json:"snapshot-id"`
			} `json:"snapshots"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return fmt.Errorf("GET %s: %w", p.url, err)
	}
	now := time.Now()
	for _, s := range t.Metadata.Snapshots {
		if _, ok := p.seen[s.ID]; !ok {
			p.seen[s.ID] = now
		}
	}
	return nil
}
