package committer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/internal/catalogtest"
	"github.com/floe-dev/floe/internal/promtest"
	"github.com/floe-dev/floe/offsets"
)

type protoEnv struct {
	t        testing.TB
	dir      string // the warehouse
	cat      *catalogtest.Faults
	tc       TableConfig
	reg      *prometheus.Registry
	fenced   []string
	outcomes []string
	released int64
	mu       sync.Mutex
}

const protoGroup = "g1"

func newProtoEnv(t testing.TB) *protoEnv { t.Helper(); return newProtoEnvWith(t, nil) }

// newBubbleEnv is newProtoEnv for a test inside a synctest bubble. Its
// tables write Snappy, not zstd: arrow-go pools zstd encoders and decoders
// process-wide, and one made inside a bubble holds channels of that bubble,
// which the next test outside it would then receive from (a fatal error).
func newBubbleEnv(t testing.TB) *protoEnv {
	t.Helper()
	return newProtoEnvWith(t, map[string]string{propCompression: "snappy"})
}

func newProtoEnvWith(t testing.TB, props map[string]string) *protoEnv {
	t.Helper()
	dir := t.TempDir()
	raw := catalogtest.OpenConfig(t, catalog.Local("test", dir))
	tc := DefaultTableConfig()
	tc.Name = "db.events"
	tc.Schema = []Column{{Name: "id", Type: "string", Required: true}, {Name: "n", Type: "long"}}
	tc.Properties = props
	_, _, err := LoadOrCreateTable(context.Background(), raw, tc, nil)
	require.NoError(t, err)
	return &protoEnv{t: t, dir: dir, cat: catalogtest.Wrap(raw), tc: tc, reg: prometheus.NewRegistry()}
}

func (e *protoEnv) committer(instance string) *Committer {
	e.t.Helper()
	return e.committerLogging(instance, io.Discard)
}

// committerLogging is committer with its JSON log written to w.
func (e *protoEnv) committerLogging(instance string, w io.Writer) *Committer {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(e.t, err)
	cfg := DefaultConfig()
	cfg.RetryMin, cfg.RetryMax, cfg.CommitTimeout = time.Millisecond, 5*time.Millisecond, time.Minute
	c, err := New(cfg, e.tc, Deps{
		Catalog: e.cat, Table: tbl, Group: protoGroup,
		Identity: offsets.Writer{Instance: instance, Host: "test", Version: "t"},
	}, slog.New(slog.NewJSONHandler(w, nil)), e.reg)
	require.NoError(e.t, err)
	c.SetSource(offsets.Source{ClusterID: "cluster-A", TopicIDs: map[string]string{"events": "topic-1"}})
	return c
}

// batch builds a batch of partition p covering [start, end) with one row per
// offset, id "p/offset".
func (e *protoEnv) batch(c *Committer, p int32, gen uint64, start, end int64) *batcher.Batch {
	e.t.Helper()
	sc, err := c.ArrowSchema()
	require.NoError(e.t, err)
	buf := batcher.NewBuffer("events", p, gen, start, sc, memory.NewGoAllocator(), batcher.DefaultPolicy())
	now := time.Unix(1_700_000_000, 0)
	for o := start; o < end; o++ {
		rb := buf.Builder()
		rb.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("%d/%d", p, o))
		rb.Field(1).(*array.Int64Builder).Append(o)
		_, err := buf.Add(o, now.Add(time.Duration(o)*time.Millisecond), 10, true, now)
		require.NoError(e.t, err)
	}
	b := buf.Seal(batcher.ReasonRecords)
	b.FromTable = true
	b.Done = e.done
	return b
}

// done records what the committer did with a batch, as the consumer's side
// of Batch.Done sees it: every outcome, the bytes released, and the re-seek
// instructions of fenced batches (a set: the consumer ignores a repeat).
func (e *protoEnv) done(b *batcher.Batch, o batcher.Outcome) {
	e.mu.Lock()
	defer e.mu.Unlock()
	kind := map[batcher.OutcomeKind]string{batcher.Committed: "committed", batcher.Fenced: "fenced", batcher.Dropped: "dropped"}[o.Kind]
	e.outcomes = append(e.outcomes, fmt.Sprintf("%s[%d][%d,%d) %s", b.Topic, b.Partition, b.Start, b.End, kind))
	e.released += b.Bytes
	if o.Kind == batcher.Fenced {
		f := fmt.Sprintf("%s[%d]@gen%d->%d", b.Topic, b.Partition, b.Generation, o.TableNext)
		if !slices.Contains(e.fenced, f) {
			e.fenced = append(e.fenced, f)
		}
	}
}

func (e *protoEnv) releasedBytes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.released
}

// rows scans the table and returns how often each id occurs.
func (e *protoEnv) rows() map[string]int {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(e.t, err)
	out := map[string]int{}
	if tbl.CurrentSnapshot() == nil {
		return out
	}
	_, recs, err := tbl.Scan(table.WithSelectedFields("id")).ToArrowRecords(context.Background())
	require.NoError(e.t, err)
	for rec, err := range recs {
		require.NoError(e.t, err)
		col := rec.Column(0).(*array.String)
		for i := 0; i < col.Len(); i++ {
			out[col.Value(i)]++
		}
		rec.Release()
	}
	return out
}

func (e *protoEnv) offsets() offsets.Map {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(e.t, err)
	m, _, err := offsets.Read(tbl.Metadata(), protoGroup, "")
	require.NoError(e.t, err)
	return m
}

func requireNoDuplicates(t testing.TB, rows map[string]int, want int) {
	t.Helper()
	for id, n := range rows {
		require.Equal(t, 1, n, "row %s appears %d times", id, n)
	}
	require.Len(t, rows, want)
}

func commitsWith(t testing.TB, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "floe_committer_commits_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestCommitPlain(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	c.Submit(e.batch(c, 0, 1, 0, 10))
	c.Submit(e.batch(c, 0, 1, 10, 15)) // contiguous: merged into one range
	c.Submit(e.batch(c, 1, 1, 0, 7))
	require.NoError(t, c.Commit(context.Background()))
	require.NoError(t, c.Commit(context.Background()), "nothing pending is not an error")

	requireNoDuplicates(t, e.rows(), 22)
	m := e.offsets()
	require.Equal(t, "cluster-A", m.ClusterID)
	require.Equal(t, "topic-1", m.Topics["events"].TopicID)
	require.Equal(t, map[int32]int64{0: 15, 1: 7}, m.Topics["events"].Next)

	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(t, err)
	props := tbl.CurrentSnapshot().Summary.Properties
	require.NotEmpty(t, props[offsets.SummaryCommitID])
	require.JSONEq(t, `{"instance":"a","host":"test","version":"t"}`, props[offsets.SummaryWriter])
	require.Equal(t, "2023-11-14T22:13:20.006Z", props[offsets.SummaryWatermark], "min over partitions of the newest timestamp")
	require.Equal(t, "1", props["added-data-files"], "one file holds rows of both partitions")

	hist, err := offsets.History(tbl.Metadata(), protoGroup, "")
	require.NoError(t, err)
	require.Len(t, hist, 1)
	require.Equal(t, []offsets.Range{{Topic: "events", Partition: 0, Start: 0, End: 15}, {Topic: "events", Partition: 1, Start: 0, End: 7}}, hist[0].Ranges)
	require.Equal(t, tbl.CurrentSnapshot().SnapshotID, hist[0].SnapshotID)
	require.Equal(t, 1.0, commitsWith(t, e.reg, outcomeCommitted))

	// A second commit extends the map and keeps partitions it does not touch.
	c.Submit(e.batch(c, 1, 1, 7, 9))
	require.NoError(t, c.Commit(context.Background()))
	require.Equal(t, map[int32]int64{0: 15, 1: 9}, e.offsets().Topics["events"].Next)
	requireNoDuplicates(t, e.rows(), 24)
}

// A new commit first asks the consumer to seal the table's buffers
// (OnCommit), and takes what that submits.
func TestCommitSealsFirst(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	calls := 0
	c.OnCommit(func() {
		calls++
		if calls == 1 {
			c.Submit(e.batch(c, 0, 1, 0, 10))
		}
	})
	require.NoError(t, c.Commit(context.Background()))
	require.Equal(t, 1, calls)
	require.Equal(t, map[int32]int64{0: 10}, e.offsets().Topics["events"].Next)
	requireNoDuplicates(t, e.rows(), 10)
}

// A commit over many partitions logs the ranges of the first 32 and how
// many more there were (floe commits lists them all): a commit's log line
// stays small at 1,000 partitions.
func TestCommitLogLineStaysSmall(t *testing.T) {
	e := newProtoEnv(t)
	var log bytes.Buffer
	c := e.committerLogging("a", &log)
	for p := int32(0); p < 40; p++ {
		c.Submit(e.batch(c, p, 1, 0, 1))
	}
	require.NoError(t, c.Commit(context.Background()))
	var line struct {
		Msg        string          `json:"msg"`
		Offsets    []offsets.Range `json:"offsets"`
		Partitions int             `json:"partitions"`
		Omitted    int             `json:"offsets_omitted"`
	}
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, `"msg":"commit"`) {
			require.NoError(t, json.Unmarshal([]byte(l), &line))
		}
	}
	require.Equal(t, "commit", line.Msg)
	require.Len(t, line.Offsets, 32)
	require.Equal(t, 40, line.Partitions)
	require.Equal(t, 8, line.Omitted)
	requireNoDuplicates(t, e.rows(), 40)
}

func TestCommitRetriesAfterConflictWithAnotherWriter(t *testing.T) {
	e := newProtoEnv(t)
	ours, theirs := e.committer("ours"), e.committer("theirs")
	ours.Submit(e.batch(ours, 0, 1, 0, 10))
	theirs.Submit(e.batch(theirs, 1, 1, 0, 5))
	e.cat.SetBefore(func(n int) error {
		if n == 1 { // another replica (other partition) lands first
			e.cat.SetBefore(nil)
			return theirs.Commit(context.Background())
		}
		return nil
	})
	require.NoError(t, ours.Commit(context.Background()))
	requireNoDuplicates(t, e.rows(), 15)
	require.Equal(t, map[int32]int64{0: 10, 1: 5}, e.offsets().Topics["events"].Next, "both writers' offsets survive")
	require.Equal(t, 1.0, commitsWith(t, e.reg, outcomeConflictRetried))
}

func TestCommitFencesZombieBatch(t *testing.T) {
	e := newProtoEnv(t)
	owner, zombie := e.committer("owner"), e.committer("zombie")
	// The new owner of partition 0 committed [0,15) while the zombie still
	// holds [0,10) and [10,20) from before it lost the partition.
	owner.Submit(e.batch(owner, 0, 1, 0, 15))
	require.NoError(t, owner.Commit(context.Background()))
	zombie.Submit(e.batch(zombie, 0, 4, 0, 10))
	zombie.Submit(e.batch(zombie, 0, 4, 10, 20))
	zombie.Submit(e.batch(zombie, 1, 1, 0, 3)) // its other partition is fine
	require.NoError(t, zombie.Commit(context.Background()))

	requireNoDuplicates(t, e.rows(), 18)
	require.Equal(t, map[int32]int64{0: 15, 1: 3}, e.offsets().Topics["events"].Next)
	require.Equal(t, []string{"events[0]@gen4->15"}, e.fenced, "the consumer is told to re-seek to the table's offset")
	require.Equal(t, []string{"events[0][0,15) committed", "events[0][0,10) fenced", "events[0][10,20) fenced", "events[1][0,3) committed"},
		e.outcomes, "every batch is finished, each with its outcome")

	// A batch of the fenced generation that arrives later is dropped too.
	zombie.Submit(e.batch(zombie, 0, 4, 20, 25))
	require.NoError(t, zombie.Commit(context.Background()))
	requireNoDuplicates(t, e.rows(), 18)
	require.NoError(t, testutil.GatherAndCompare(e.reg, strings.NewReader(`
# HELP floe_committer_dropped_batches_total Batches not committed because another owner committed their range (fenced) or the partition moved (stale).
# TYPE floe_committer_dropped_batches_total counter
floe_committer_dropped_batches_total{reason="fenced",table="db.events"} 1
floe_committer_dropped_batches_total{reason="stale",table="db.events"} 1
`), "floe_committer_dropped_batches_total"))
}

func TestCommitOutcomeUnknownButLanded(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	c.Submit(e.batch(c, 0, 1, 0, 10))
	e.cat.SetAfter(func(n int, err error) error {
		if n == 1 && err == nil {
			return errors.New("read tcp: connection reset by peer") // the catalog applied it; the response is lost
		}
		return nil
	})
	require.NoError(t, c.Commit(context.Background()))
	requireNoDuplicates(t, e.rows(), 10)
	require.Equal(t, 1, e.cat.Calls(), "no second commit was sent")
	require.Equal(t, 1.0, commitsWith(t, e.reg, outcomeLandedAfterUnknown))

	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(t, err)
	require.Len(t, tbl.Metadata().Snapshots(), 1)
}

func TestCommitUnknownOutcomeThatFailedIsRetried(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	c.Submit(e.batch(c, 0, 1, 0, 10))
	e.cat.SetBefore(func(n int) error {
		if n == 1 {
			return errors.New("503 service unavailable") // never reached the table
		}
		return nil
	})
	require.NoError(t, c.Commit(context.Background()))
	requireNoDuplicates(t, e.rows(), 10)
	require.Equal(t, 2, e.cat.Calls())
	require.Equal(t, 1.0, commitsWith(t, e.reg, outcomeRetried), "retried, but not after a conflict")
	require.Zero(t, commitsWith(t, e.reg, outcomeConflictRetried))
}

func TestErrorReason(t *testing.T) {
	for want, err := range map[string]error{
		"conflict":      fmt.Errorf("commit table: %w", table.ErrCommitFailed),
		"access_denied": fmt.Errorf("load table: %w", rest.ErrForbidden),
		"timeout":       fmt.Errorf("x: %w", context.DeadlineExceeded),
		"write":         catalog.StorageError("stage data files", errors.New("blob PutObject: StatusCode: 500")),
		"load":          catalog.LoadFailed(fmt.Errorf("load table db.t: %w", errors.New("connection refused"))),
		"unknown":       errors.New("something else"),
	} {
		require.Equal(t, want, catalog.Reason(err), err.Error())
	}
	// The reason is the error's type, not its words: floe's own messages
	// can be reworded without changing a metric.
	require.Equal(t, "unknown", catalog.Reason(errors.New("load table db.t: write data files")))
	require.Equal(t, "write", catalog.Reason(fmt.Errorf("commit: %w", catalog.WriteFailed(errors.New("anything")))))
	require.Equal(t, "conflict", catalog.Reason(errors.New("commit table db.t: requirement failed: branch main has changed")),
		"a SQL catalog's lost compare-and-swap")
}

func TestCommitGapStops(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	c.Submit(e.batch(c, 0, 1, 0, 5))
	require.NoError(t, c.Commit(context.Background()))
	c.Submit(e.batch(c, 0, 1, 8, 10)) // offsets 5..7 were never buffered
	err := c.Commit(context.Background())
	require.ErrorIs(t, err, ErrGap)
	require.Contains(t, err.Error(), "table is at 5 but the batch starts at 8")
	require.Equal(t, map[int32]int64{0: 5}, e.offsets().Topics["events"].Next, "offsets did not move")
	require.False(t, c.Healthy())
}

func TestCommitReseeksUnanchoredStartInsteadOfGap(t *testing.T) {
	// Replica A started partition 0 at the log end (no table offset yet) and
	// committed [0,5); replica B, assigned the partition before that commit
	// landed, listed the end offset 8 and buffered [8,10). B is not at fault:
	// it must re-read from 5, not stop with a gap.
	e := newProtoEnv(t)
	a, b := e.committer("a"), e.committer("b")
	a.Submit(e.batch(a, 0, 1, 0, 5))
	require.NoError(t, a.Commit(context.Background()))
	late := e.batch(b, 0, 2, 8, 10)
	late.FromTable = false
	b.Submit(late)
	require.NoError(t, b.Commit(context.Background()))
	require.Equal(t, []string{"events[0]@gen2->5"}, e.fenced)
	require.Equal(t, map[int32]int64{0: 5}, e.offsets().Topics["events"].Next)
	requireNoDuplicates(t, e.rows(), 5)
}

// In a synctest bubble: commit.timeout runs out in fake time, after the
// backoff alone, however slowly this machine runs the attempts.
func TestCommitAfterTimeoutAlsoCommitsNewBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t)
		c := e.committer("a")
		c.cfg.CommitTimeout = 50 * time.Millisecond
		c.Submit(e.batch(c, 0, 1, 0, 5))
		e.cat.SetBefore(func(int) error { return errors.New("503 service unavailable") })
		require.ErrorIs(t, c.Commit(context.Background()), ErrCommitTimeout)

		// Sealed at shutdown, after the timed-out commit: the final Commit must
		// finish the old commit and then commit these too.
		e.cat.SetBefore(nil)
		c.cfg.CommitTimeout = time.Minute
		c.Submit(e.batch(c, 0, 1, 5, 8))
		c.Submit(e.batch(c, 1, 1, 0, 2))
		require.NoError(t, c.Commit(context.Background()))
		require.Equal(t, map[int32]int64{0: 8, 1: 2}, e.offsets().Topics["events"].Next)
		requireNoDuplicates(t, e.rows(), 10)
	})
}

func TestRunWaitsTheIntervalEvenWhenIdle(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	c.tc.CommitInterval = time.Minute
	require.Equal(t, time.Minute, c.untilNext(0), "an idle table waits a whole interval, it does not spin")
	require.Equal(t, 40*time.Second, c.untilNext(20*time.Second), "intervals run start to start")
	require.Equal(t, c.cfg.RetryMin, c.untilNext(2*time.Minute), "a commit longer than the interval still yields")
	c.setHealthy(false)
	require.Equal(t, c.cfg.RetryMax, c.untilNext(0), "a failing table retries sooner")
}

// In a synctest bubble (fake time): a table that caught up commits a
// quarter interval after its last commit rather than at the interval, once
// between two interval commits, and the interval restarts from it.
func TestCaughtUpCommitsBeforeTheInterval(t *testing.T) {
	run := func(t *testing.T, enabled bool, script func(c *Committer, e *protoEnv)) []time.Duration {
		e := newBubbleEnv(t)
		c := e.committer("a")
		c.tc.CommitInterval, c.tc.CommitOnCatchUp = time.Minute, enabled
		var (
			mu sync.Mutex
			at []time.Duration
		)
		start := time.Now()
		c.OnCommit(func() {
			mu.Lock()
			at = append(at, time.Since(start))
			mu.Unlock()
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		script(c, e)
		cancel()
		require.NoError(t, <-done)
		mu.Lock()
		defer mu.Unlock()
		return at
	}
	synctest.Test(t, func(t *testing.T) {
		var e0 *protoEnv
		at := run(t, true, func(c *Committer, e *protoEnv) {
			e0 = e
			c.Submit(e.batch(c, 0, 1, 0, 5))
			c.CaughtUp() // at 0 s: the commit waits for a quarter interval
			time.Sleep(20 * time.Second)
			c.CaughtUp() // at 20 s: one catch-up commit since the last interval commit already
			time.Sleep(60 * time.Second)
			c.Submit(e.batch(c, 0, 1, 5, 8))
			c.CaughtUp() // at 80 s: after the interval commit at 75 s, so at 90 s
			time.Sleep(75 * time.Second)
		})
		require.Equal(t, []time.Duration{15 * time.Second, 75 * time.Second, 90 * time.Second, 150 * time.Second}, at)
		require.Equal(t, 2.0, promtest.Value(t, e0.reg, "floe_committer_catch_up_commits_total", map[string]string{"table": "db.events"}))
		require.Equal(t, map[int32]int64{0: 8}, e0.offsets().Topics["events"].Next)
		requireNoDuplicates(t, e0.rows(), 8)
	})
	synctest.Test(t, func(t *testing.T) {
		at := run(t, false, func(c *Committer, e *protoEnv) {
			c.Submit(e.batch(c, 0, 1, 0, 5))
			c.CaughtUp()
			time.Sleep(90 * time.Second)
		})
		require.Equal(t, []time.Duration{60 * time.Second}, at, "commit-on-catch-up: false commits on the interval only")
	})
}

func TestCommitRefusesRecreatedTopic(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	c.Submit(e.batch(c, 0, 1, 0, 5))
	require.NoError(t, c.Commit(context.Background()))

	c.SetSource(offsets.Source{ClusterID: "cluster-A", TopicIDs: map[string]string{"events": "topic-2"}})
	c.Submit(e.batch(c, 0, 1, 0, 3))
	err := c.Commit(context.Background())
	require.ErrorIs(t, err, offsets.ErrSourceMismatch)
	require.Contains(t, err.Error(), `topic "events" has ID topic-1 in table db.events but topic-2 in Kafka`)

	// With the operator's override the old incarnation's offsets are replaced.
	c.SetSource(offsets.Source{ClusterID: "cluster-A", TopicIDs: map[string]string{"events": "topic-2"}, ResetMismatched: true})
	c.Submit(e.batch(c, 0, 1, 0, 3))
	require.NoError(t, c.Commit(context.Background()))
	m := e.offsets()
	require.Equal(t, "topic-2", m.Topics["events"].TopicID)
	require.Equal(t, map[int32]int64{0: 3}, m.Topics["events"].Next)
}

func TestDropDiscardsStaleBatches(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	c.Submit(e.batch(c, 0, 1, 0, 5))
	c.Submit(e.batch(c, 1, 1, 0, 5))
	c.Drop("events", 0, 1) // partition 0 revoked
	require.Equal(t, int64(50), e.releasedBytes())
	require.Equal(t, []string{"events[0][0,5) dropped"}, e.outcomes)
	require.Equal(t, 1.0, promtest.Value(t, e.reg, "floe_committer_dropped_batches_total", map[string]string{"table": "db.events", "reason": "stale"}),
		"counted per batch")
	require.NoError(t, c.Commit(context.Background()))
	require.Equal(t, map[int32]int64{1: 5}, e.offsets().Topics["events"].Next)
	requireNoDuplicates(t, e.rows(), 5)
}

func TestCommitRowlessBatchesRecordTheirOffsets(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	sc, err := c.ArrowSchema()
	require.NoError(t, err)
	buf := batcher.NewBuffer("events", 0, 1, 0, sc, memory.NewGoAllocator(), batcher.DefaultPolicy())
	_, err = buf.Add(0, time.Now(), 3, false, time.Now()) // a skipped record
	require.NoError(t, err)
	b := buf.Seal(batcher.ReasonAge)
	b.Done = e.done
	c.Submit(b)
	require.NoError(t, c.Commit(context.Background()))
	require.Equal(t, map[int32]int64{0: 1}, e.offsets().Topics["events"].Next,
		"a partition whose newest records are all bad does not lag")
	require.Equal(t, int64(3), e.releasedBytes())
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(t, err)
	require.Equal(t, "0", tbl.CurrentSnapshot().Summary.Properties["total-data-files"], "the snapshot adds no file")

	c.Submit(e.batch(c, 0, 1, 1, 4))
	require.NoError(t, c.Commit(context.Background()))
	require.Equal(t, map[int32]int64{0: 4}, e.offsets().Topics["events"].Next)
	requireNoDuplicates(t, e.rows(), 3)
	hist, err := offsets.History(e.reload().Metadata(), protoGroup, "")
	require.NoError(t, err)
	require.Len(t, hist, 2)
	require.Equal(t, []offsets.Range{{Topic: "events", Partition: 0, Start: 0, End: 1}}, hist[1].Ranges, "floe commits lists the offsets-only commit too")
}

func (e *protoEnv) reload() *table.Table {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(e.t, err)
	return tbl
}

// In a synctest bubble: commit.timeout runs out in fake time, after the
// backoff alone, however slowly this machine runs the attempts.
func TestCommitTimeoutKeepsBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t)
		c := e.committer("a")
		c.cfg.CommitTimeout = 50 * time.Millisecond
		c.Submit(e.batch(c, 0, 1, 0, 5))
		e.cat.SetBefore(func(int) error { return errors.New("503 service unavailable") })
		err := c.Commit(context.Background())
		require.ErrorIs(t, err, ErrCommitTimeout)
		require.False(t, c.Healthy())

		e.cat.SetBefore(nil)
		c.cfg.CommitTimeout = time.Minute
		require.NoError(t, c.Commit(context.Background()))
		require.True(t, c.Healthy())
		requireNoDuplicates(t, e.rows(), 5)
	})
}

// logCounter counts log records by message.
type logCounter struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs[r.Message]++
	l.mu.Unlock()
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }
func (l *logCounter) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msgs[msg]
}

// TestFailingTableIsLoudNotLossyAndGivesUp runs in a synctest bubble: time
// is fake and moves only while every goroutine waits, so the attempts that
// fit into commit.timeout and give-up-after depend on the backoff alone,
// never on how fast this machine runs the attempts themselves.
func TestFailingTableIsLoudNotLossyAndGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t)
		c := e.committer("a")
		logs := &logCounter{msgs: map[string]int{}}
		c.log = slog.New(logs)
		var health []bool
		c.OnHealth(func(table string, ok bool) {
			require.Equal(t, "db.events", table)
			health = append(health, ok)
		})
		// Backoff is at most RetryMax (5 ms) of fake time, so each commit
		// timeout (100 ms) holds at least 20 attempts and give-up-after
		// (300 ms) at least three timed-out commits.
		c.cfg.CommitTimeout, c.cfg.GiveUpAfter = 100*time.Millisecond, 300*time.Millisecond
		c.tc.CommitInterval = 10 * time.Millisecond
		e.cat.SetBefore(func(int) error { return errors.New("503 service unavailable") })
		c.Submit(e.batch(c, 0, 1, 0, 5))

		start := time.Now()
		err := c.Run(context.Background())
		require.ErrorIs(t, err, ErrGaveUp)
		require.ErrorContains(t, err, "503 service unavailable", "the reason is in the error")
		require.Greater(t, time.Since(start), c.cfg.GiveUpAfter, "gave up only after give-up-after (fake time)")
		require.Equal(t, []bool{false}, health, "the consumer was told once")
		require.False(t, c.Healthy())
		require.GreaterOrEqual(t, promtest.Value(t, e.reg, "floe_committer_commits_total", map[string]string{"table": "db.events", "outcome": outcomeFailed}), 3.0)
		require.GreaterOrEqual(t, e.cat.Calls(), 60, "attempts went on with backoff")
		require.Equal(t, 1, logs.count("commit attempt failed; retrying"), "attempt warnings are rate-limited")
		require.GreaterOrEqual(t, logs.count("commit did not land before commit.timeout; batches and offsets kept for the next try"), 3)

		// The catalog comes back: the kept batch lands, health is restored.
		e.cat.SetBefore(nil)
		c.cfg.CommitTimeout = time.Minute
		require.NoError(t, c.Commit(context.Background()))
		require.Equal(t, []bool{false, true}, health)
		requireNoDuplicates(t, e.rows(), 5)
	})
}

func TestAccessDeniedIsNamedAndRetried(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	c.deps.Endpoint = "https://catalog.example"
	c.Submit(e.batch(c, 0, 1, 0, 5))
	var lastErr error
	e.cat.SetBefore(func(n int) error {
		if n <= 2 {
			lastErr = fmt.Errorf("%w: token expired", rest.ErrUnauthorized)
			return lastErr
		}
		return nil
	})
	require.NoError(t, c.Commit(context.Background()))
	require.Equal(t, 2.0, promtest.Value(t, e.reg, "floe_committer_attempt_errors_total", map[string]string{"table": "db.events", "reason": "access_denied"}))
	requireNoDuplicates(t, e.rows(), 5)

	err := c.catalogError("commit table", lastErr)
	require.ErrorIs(t, err, rest.ErrUnauthorized)
	require.Contains(t, err.Error(), "commit table db.events at https://catalog.example: access denied by the catalog")
}
