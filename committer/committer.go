// Package committer writes sealed batches to an Iceberg table as Parquet data
// files and commits them together with the Kafka offsets they cover, so the
// table alone says how far floe got. One Committer serves one table.
//
// The commit protocol (see DESIGN.md) makes every batch land at most once:
// each commit pins the table head it read its offsets from, so two writers
// can never both extend the same offset range; a commit whose outcome is
// unknown is resolved by looking for its commit ID in the table history
// rather than by trying again blindly; and a batch whose range another owner
// already committed is dropped (fenced) instead of written twice.
package committer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/offsets"
)

// Errors callers branch on.
var (
	// ErrGap means the table's offset for a partition is behind the start of
	// a batch: records between them would be lost. It is an internal error;
	// floe stops rather than commit a hole.
	ErrGap = errors.New("offset gap between the table and the batch")
	// ErrCommitTimeout means a commit could not land before its deadline.
	// The batches and offsets are kept and tried again; nothing is lost.
	ErrCommitTimeout = errors.New("commit did not land before its deadline")
	// ErrGaveUp means a table could not commit for longer than
	// commit.give-up-after: floe exits so that its orchestrator restarts it
	// (and alerts), rather than hold data in memory indefinitely.
	ErrGaveUp = errors.New("the table could not commit for longer than commit.give-up-after")
	// ErrRefused means floe refused work over a configured limit
	// (tables[].max-files-per-commit); the message names the limit.
	ErrRefused = errors.New("refused: over a configured limit")
)

// Hooks tell the consumer what happened to its batches. Any may be nil.
type Hooks struct {
	// Released is called with the payload bytes of batches that left the
	// committer (committed, fenced or stale); the memory budget uses it.
	Released func(bytes int64)
	// Committed is called after a commit landed with the next offset of
	// every partition it covered and the newest record timestamp committed
	// for it, for the Kafka mirror and the lag metrics.
	Committed func(next map[string]map[int32]int64, newest map[string]map[int32]time.Time)
	// Fenced is called when another owner already committed past the start
	// of a partition's batches: the consumer must re-seek the partition to
	// next if it still owns it and its generation is still generation.
	Fenced func(topic string, partition int32, generation uint64, next int64)
	// Health is called when the table starts or stops being able to commit;
	// the consumer pauses the table's topics while it cannot.
	Health func(table string, healthy bool)
	// Landed is called after each commit landed with what it holds (for
	// reports such as the end of `floe replay`).
	Landed func(Landed)
}

// Landed describes one landed commit.
type Landed struct {
	SnapshotID  int64
	CommitID    string
	Outcome     string
	Ranges      []offsets.Range
	Records     int // consumed records, rows and bad ones
	Rows        int64
	DeadLetters int
	Files       int
}

// Deps are the Committer's collaborators.
type Deps struct {
	Catalog catalog.Catalog
	// Endpoint names the catalog in error messages (its URI, or the SQL
	// driver): an operator must see which service refused what.
	Endpoint string
	Table    *table.Table // loaded (or created) by the caller
	// DLQ is the dead-letter table (TableConfig.DLQ.Table), loaded or
	// created by the caller; nil without one.
	DLQ *table.Table
	// LetterTopic writes dead letters to a Kafka topic
	// (TableConfig.DLQ.Topic); nil without one.
	LetterTopic LetterWriter
	Group       string
	// Branch is the Iceberg branch commits go to; "" means main. A branch
	// that does not exist is created by the first commit, forked from
	// main's head. Offsets are read from the branch's own history. Dead
	// letters always go to the dead-letter table's main branch.
	Branch   string
	Identity offsets.Writer
	Hooks    Hooks
}

type topicPartition struct {
	topic     string
	partition int32
}

// Committer commits one table. Submit and Drop may be called from any
// goroutine; Commit and Run serialize on an internal lock.
type Committer struct {
	cfg   Config
	tc    TableConfig
	deps  Deps
	ident table.Identifier
	log   *slog.Logger
	m     *metrics

	dlq      *dlqTarget    // nil without a dead-letter table
	commitMu sync.Mutex    // one commit at a time
	inflight *attemptGroup // a commit that timed out; owned under commitMu

	mu           sync.Mutex
	tbl          *table.Table
	source       offsets.Source
	pending      []*batcher.Batch
	stale        map[topicPartition]uint64 // batches with Generation <= this are dropped
	watermarks   map[topicPartition]time.Time
	lastCommit   time.Time
	healthy      bool
	failingSince time.Time // when the table stopped being able to commit
	lastWarn     time.Time // rate limit for attempt warnings
	suppressed   int       // attempt warnings not logged since lastWarn
}

// New returns a Committer for deps.Table.
func New(cfg Config, tc TableConfig, deps Deps, logger *slog.Logger, reg prometheus.Registerer) (*Committer, error) {
	ident, err := ParseIdentifier(tc.Name)
	if err != nil {
		return nil, fmt.Errorf("table name: %w", err)
	}
	if deps.Catalog == nil || deps.Table == nil {
		return nil, errors.New("committer needs a catalog and a loaded table")
	}
	if deps.Group == "" {
		return nil, errors.New("committer needs a consumer group name")
	}
	var dlq *dlqTarget
	if deps.DLQ != nil {
		di, err := ParseIdentifier(tc.DLQ.Table)
		if err != nil {
			return nil, fmt.Errorf("dlq.table: %w", err)
		}
		if err := CheckDLQSchema(tc.DLQ.Table, deps.DLQ.Schema()); err != nil {
			return nil, err
		}
		dlq = &dlqTarget{name: tc.DLQ.Table, ident: di, tbl: deps.DLQ}
	}
	return &Committer{
		cfg: cfg, tc: tc, deps: deps, ident: ident, dlq: dlq,
		log:        logger.With("table", tc.Name),
		m:          newMetrics(reg, tc.Name),
		tbl:        deps.Table,
		stale:      map[topicPartition]uint64{},
		watermarks: map[topicPartition]time.Time{},
		healthy:    true,
	}, nil
}

// Table returns the table name as configured.
func (c *Committer) Table() string { return c.tc.Name }

// ArrowSchema returns the Arrow schema (with Iceberg field IDs) that batch
// rows must have: the table's current schema.
func (c *Committer) ArrowSchema() (*arrow.Schema, error) {
	c.mu.Lock()
	sc := c.tbl.Schema()
	c.mu.Unlock()
	return table.SchemaToArrowSchema(sc, nil, true, false)
}

// SetSource records the live cluster and topic IDs written with offsets.
func (c *Committer) SetSource(s offsets.Source) {
	c.mu.Lock()
	c.source = s
	c.mu.Unlock()
}

// Healthy reports whether the last commit attempt group landed in time.
func (c *Committer) Healthy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.healthy
}

// Offsets refreshes the table and returns the group's committed offsets.
func (c *Committer) Offsets(ctx context.Context) (offsets.Map, error) {
	tbl, err := c.load(ctx)
	if err != nil {
		return offsets.Map{}, err
	}
	m, _, err := offsets.Read(tbl.Metadata(), c.deps.Group, c.branch())
	return m, err
}

// branch is the branch commits go to.
func (c *Committer) branch() string {
	if c.deps.Branch == "" {
		return table.MainBranch
	}
	return c.deps.Branch
}

// Submit hands a sealed batch to the committer. It is committed by the next
// commit; the committer owns (and releases) the batch from now on.
func (c *Committer) Submit(b *batcher.Batch) {
	c.mu.Lock()
	c.pending = append(c.pending, b)
	c.m.pendingBytes.Add(float64(b.Bytes))
	c.mu.Unlock()
}

// Drop discards every batch of a partition with a generation up to
// generation, pending or in a later retry: the consumer lost or re-seeked the
// partition. A commit already on the wire is unaffected; the fencing check
// keeps it correct.
func (c *Committer) Drop(topic string, partition int32, generation uint64) {
	tp := topicPartition{topic, partition}
	c.mu.Lock()
	if generation > c.stale[tp] {
		c.stale[tp] = generation
	}
	keep := c.pending[:0]
	var (
		released int64
		dropped  int
	)
	for _, b := range c.pending {
		if b.Topic == topic && b.Partition == partition && b.Generation <= generation {
			released += b.Bytes
			dropped++
			b.Release()
			continue
		}
		keep = append(keep, b)
	}
	clear(c.pending[len(keep):])
	c.pending = keep
	c.mu.Unlock()
	if dropped > 0 {
		c.log.Info("uncommitted batches dropped: the partition was revoked or re-seeked; its next owner reads them again from the table",
			"topic", topic, "partition", partition, "generation", generation, "batches", dropped, "bytes", released)
		c.m.dropped.WithLabelValues("stale").Add(float64(dropped))
	}
	c.release(released)
}

func (c *Committer) release(bytes int64) {
	if bytes == 0 {
		return
	}
	c.m.pendingBytes.Sub(float64(bytes))
	if c.deps.Hooks.Released != nil {
		c.deps.Hooks.Released(bytes)
	}
}

// Run commits pending batches until ctx is done, starting a commit at most
// once per commit interval (start to start), so the snapshot rate is bounded
// whatever the partition count. A commit in progress runs under ctx too:
// cancel ctx only when in-flight work may be abandoned (its batches are then
// read again after a restart). Run returns nil on cancellation and an error
// only for conditions that retrying cannot fix (a gap, a source mismatch).
// Commit may be called concurrently, e.g. for the final commit on shutdown.
func (c *Committer) Run(ctx context.Context) error {
	timer := time.NewTimer(c.tc.CommitInterval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		started := time.Now()
		err := c.Commit(ctx)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrCommitTimeout):
			if since := c.failingFor(); c.cfg.GiveUpAfter > 0 && since > c.cfg.GiveUpAfter {
				return fmt.Errorf("%w: table %s has not committed for %s: %w",
					ErrGaveUp, c.tc.Name, since.Round(time.Millisecond), err)
			}
		default:
			return err
		}
		timer.Reset(c.untilNext(time.Since(started)))
	}
}

// untilNext is the wait before the next commit, given how long the last one
// took: the rest of the interval, or sooner while the table is failing.
func (c *Committer) untilNext(took time.Duration) time.Duration {
	d := c.tc.CommitInterval - took
	if !c.Healthy() {
		// Retry a failing table sooner than a full interval, never in a loop.
		d = min(d, c.cfg.RetryMax)
	}
	return max(d, c.cfg.RetryMin)
}

// attemptGroup is one logical commit: a fixed set of batches and one commit
// ID, tried until it lands, is fenced, or times out (then resumed later).
type attemptGroup struct {
	id        string
	batches   []*batcher.Batch
	files     []iceberg.DataFile
	filesFor  string   // the include set the files hold rows of
	unknown   bool     // an attempt's outcome was unknown: its files may be live
	based     bool     // base is set
	base      *int64   // head pinned by the first attempt; FindCommit stops there
	orphans   []string // files of definitely failed attempts, to delete
	attempts  int
	started   time.Time
	lastErr   error           // of the latest failed attempt
	conflicts int             // attempts that failed on a concurrent commit
	requests  *requestCounter // catalog HTTP requests made for this commit
	dlq       dlqState        // the dead letters' commit, before the table's
	// dlqTopicDone: the letters are in the dead-letter topic.
	dlqTopicDone bool
}

// Commit commits everything pending: first a commit that an earlier call
// left unfinished (timed out), then the batches submitted since. Each
// logical commit gets the commit timeout. It returns nil when there was
// nothing to do.
func (c *Committer) Commit(ctx context.Context) error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	for {
		resumed := c.inflight != nil
		if err := c.commitOnce(ctx); err != nil || !resumed {
			return err
		}
	}
}

// commitOnce runs one logical commit. commitMu held.
func (c *Committer) commitOnce(ctx context.Context) error {
	ag := c.inflight
	if ag == nil {
		c.mu.Lock()
		batches := c.pending
		c.pending = nil
		c.mu.Unlock()
		if len(batches) == 0 {
			return nil
		}
		ag = &attemptGroup{id: uuid.NewString(), batches: batches, started: time.Now()}
	}

	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommitTimeout)
	defer cancel()
	if ag.requests == nil {
		ctx, ag.requests = countRequests(ctx)
	} else {
		ctx = context.WithValue(ctx, requestCounterKey{}, ag.requests)
	}
	for {
		if ag.attempts > 0 {
			if err := c.backoff(ctx, ag.attempts); err != nil {
				c.inflight = ag
				c.setHealthy(false)
				c.m.commits.WithLabelValues(outcomeFailed).Inc()
				c.log.Error("commit did not land before commit.timeout; batches and offsets kept for the next try",
					"commit_id", ag.id, "attempts", ag.attempts, "failing_for", c.failingFor().Round(time.Millisecond).String(),
					"error", ag.lastErr)
				return fmt.Errorf("commit %s to %s: %w (last error: %v)", ag.id, c.tc.Name, ErrCommitTimeout, ag.lastErr)
			}
		}
		ag.attempts++
		done, err := c.attempt(ctx, ag)
		if err != nil && !done {
			if errorReason(err) == reasonConflict {
				ag.conflicts++
			}
			if ag.lastErr == nil || ctx.Err() == nil {
				ag.lastErr = err // not the deadline cutting an attempt short
			}
			c.m.attemptErrors.WithLabelValues(errorReason(err)).Inc()
			c.warnAttempt(ag, err)
			continue
		}
		c.inflight = nil
		if err != nil { // fatal
			c.setHealthy(false)
			c.m.commits.WithLabelValues(outcomeFailed).Inc()
			return fmt.Errorf("commit to %s: %w", c.tc.Name, err)
		}
		return nil
	}
}

// warnAttempt logs a failed attempt, at most once per warnEvery per table,
// saying how many were not logged in between: a storm of conflicts or 503s
// must not flood the log.
func (c *Committer) warnAttempt(ag *attemptGroup, err error) {
	const warnEvery = 10 * time.Second
	c.mu.Lock()
	if time.Since(c.lastWarn) < warnEvery {
		c.suppressed++
		c.mu.Unlock()
		return
	}
	suppressed := c.suppressed
	c.lastWarn, c.suppressed = time.Now(), 0
	c.mu.Unlock()
	c.log.Warn("commit attempt failed; retrying", "commit_id", ag.id, "attempt", ag.attempts,
		"reason", errorReason(err), "not_logged_since_last", suppressed, "error", err)
}

func (c *Committer) setHealthy(ok bool) {
	c.mu.Lock()
	changed := c.healthy != ok
	c.healthy = ok
	switch {
	case !ok && changed:
		c.failingSince = time.Now()
	case ok:
		c.failingSince = time.Time{}
	}
	c.mu.Unlock()
	c.m.healthy.Set(boolGauge(ok))
	if changed && c.deps.Hooks.Health != nil {
		c.deps.Hooks.Health(c.tc.Name, ok)
	}
}

// failingFor is how long the table has been unable to commit (0 if it can).
func (c *Committer) failingFor() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failingSince.IsZero() {
		return 0
	}
	return time.Since(c.failingSince)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// backoff waits before attempt n+1 of a commit: full jitter between
// commit.retry-min and commit.retry-max, as the catalog transport's reads.
func (c *Committer) backoff(ctx context.Context, attempt int) error {
	return sleepJitter(ctx, c.cfg.RetryMin, c.cfg.RetryMax, attempt)
}

func (c *Committer) load(ctx context.Context) (*table.Table, error) {
	start := time.Now()
	tbl, err := c.deps.Catalog.LoadTable(ctx, c.ident)
	c.m.catalogDuration.WithLabelValues("load_table", status(err)).Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, loadFailed(c.catalogError("load table", err))
	}
	c.mu.Lock()
	c.tbl = tbl
	c.mu.Unlock()
	return tbl, nil
}

// catalogError names the operation, the table and the catalog endpoint, and
// calls out access errors: an expired or revoked credential needs a person.
func (c *Committer) catalogError(op string, err error) error {
	return c.catalogErrorFor(op, c.tc.Name, err)
}

func (c *Committer) catalogErrorFor(op, name string, err error) error {
	where := ""
	if c.deps.Endpoint != "" {
		where = " at " + c.deps.Endpoint
	}
	if errors.Is(err, rest.ErrUnauthorized) || errors.Is(err, rest.ErrForbidden) {
		return fmt.Errorf("%s %s%s: access denied by the catalog (check catalog.rest token/credential and its grants): %w",
			op, name, where, err)
	}
	return fmt.Errorf("%s %s%s: %w", op, name, where, err)
}

func status(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// fatal marks errors a retry cannot fix.
type fatal struct{ err error }

func (f fatal) Error() string { return f.err.Error() }
func (f fatal) Unwrap() error { return f.err }

// attempt is one pass of the protocol's loop. done is true when the group is
// finished (landed, fenced or fatal); err with done=false means retry.
func (c *Committer) attempt(ctx context.Context, ag *attemptGroup) (done bool, err error) {
	tbl, err := c.load(ctx)
	if err != nil {
		return false, err
	}
	meta := tbl.Metadata()

	// (a) Did an earlier attempt land after all?
	if ag.attempts > 1 || c.inflightResumed(ag) {
		if snap := offsets.FindCommit(meta, c.branch(), ag.id, ag.base); snap != nil {
			c.finish(ag, tbl, snap, ag.batches, outcomeLandedAfterUnknown)
			return true, nil
		}
	}
	if !ag.based {
		ag.based = true
		if cur := offsets.Head(meta, c.branch()); cur != nil {
			id := cur.SnapshotID
			ag.base = &id
		}
	}

	// (b) Check every partition against the committed map.
	committed, _, err := offsets.Read(meta, c.deps.Group, c.branch())
	if err != nil {
		return true, fatal{err}
	}
	if committed, err = c.checkSource(committed); err != nil {
		return true, fatal{err}
	}
	include, err := c.fence(ag, committed)
	if err != nil {
		return true, fatal{err}
	}
	if len(include) == 0 {
		c.cleanup(ag)
		return true, nil
	}
	// (c′) Dead letters land before the offsets that pass them.
	if err := c.deadLetterTopic(ctx, ag, include); err != nil {
		return false, err
	}
	if err := c.deadLetter(ctx, ag, include); err != nil {
		var f fatal
		return errors.As(err, &f), err
	}
	// A commit without rows (every record skipped or dead-lettered) still
	// records its offsets, in a snapshot that changes no file: otherwise a
	// partition whose newest records are all bad would lag until a good one
	// arrives.
	offsetsOnly := rowsOf(include) == 0

	// (c) Files for exactly the included batches, then a pinned commit.
	key := includeKey(include)
	if ag.filesFor != key && !offsetsOnly {
		c.abandonFiles(ag)
		files, err := c.writeFiles(ctx, tbl, include)
		if err != nil {
			return false, err
		}
		if len(files) > c.tc.MaxFilesPerCommit {
			c.removeFiles(tbl, filePaths(files))
			c.m.refused.WithLabelValues("too_many_files").Inc()
			return true, fatal{fmt.Errorf("%w: the commit would add %d data files to %s, over max-files-per-commit %d "+
				"(a batch spread over many partitions of the table's partition spec?); raise tables[].max-files-per-commit "+
				"or coarsen the partitioning; nothing was committed, and the records are read again after a restart",
				ErrRefused, len(files), c.tc.Name, c.tc.MaxFilesPerCommit)}
		}
		ag.files, ag.filesFor = files, key
	}
	next := committed.Clone()
	c.mu.Lock()
	src := c.source
	c.mu.Unlock()
	if src.ClusterID != "" {
		next.ClusterID = src.ClusterID
	}
	for _, b := range include {
		next.Set(b.Topic, src.TopicIDs[b.Topic], b.Partition, b.End)
	}
	rangesJSON, _ := json.Marshal(rangesOf(include))
	props := iceberg.Properties{
		offsets.Key(c.deps.Group): next.Encode(),
		offsets.SummaryRanges:     string(rangesJSON),
		offsets.SummaryCommitID:   ag.id,
		offsets.SummaryWriter:     c.writerJSON(),
	}
	if wm := c.watermarkAfter(include); !wm.IsZero() {
		props[offsets.SummaryWatermark] = wm.UTC().Format(time.RFC3339Nano)
	}
	// On a branch that does not exist yet the pin requires that it still
	// does not: two first commits cannot both create it.
	txn, err := tbl.NewTransactionOnBranchWithError(c.branch())
	if err != nil {
		return true, fatal{fmt.Errorf("branch %s: %w", c.branch(), err)}
	}
	if err := txn.AssertRefSnapshotID(c.branch()); err != nil {
		return false, fmt.Errorf("pin head: %w", err)
	}
	if offsetsOnly {
		// A delete that matches nothing: iceberg-go appends nothing without
		// files, and this snapshot only carries the summary.
		if err := txn.Delete(ctx, iceberg.AlwaysFalse{}, props); err != nil {
			return false, storageError("stage an offsets-only snapshot", err)
		}
	} else if err := txn.AddDataFiles(ctx, ag.files, props, table.WithoutDuplicateCheck()); err != nil {
		return false, storageError("stage data files", err)
	}
	start := time.Now()
	newTbl, err := txn.Commit(ctx)
	c.m.catalogDuration.WithLabelValues("commit_table", status(err)).Observe(time.Since(start).Seconds())
	if err != nil {
		// (d) A clean conflict committed nothing; anything else may have
		// landed and is resolved by FindCommit on the next pass.
		if !errors.Is(err, table.ErrCommitFailed) {
			ag.unknown = true
		}
		return false, c.catalogError("commit table", err)
	}
	outcome := outcomeCommitted
	switch {
	case ag.conflicts > 0:
		outcome = outcomeConflictRetried
	case ag.attempts > 1:
		outcome = outcomeRetried
	}
	c.finish(ag, newTbl, offsets.Head(newTbl.Metadata(), c.branch()), include, outcome)
	return true, nil
}

// inflightResumed reports whether ag was carried over from a timed-out
// Commit: its first attempt of this call must also look for the commit ID.
func (c *Committer) inflightResumed(ag *attemptGroup) bool { return ag.based }

// checkSource compares the stored offsets' cluster and topic IDs with the
// live ones (see [offsets.Source.Check]).
func (c *Committer) checkSource(m offsets.Map) (offsets.Map, error) {
	c.mu.Lock()
	src := c.source
	c.mu.Unlock()
	m, _, err := src.Check(c.tc.Name, m)
	return m, err
}

// fence applies step (b) of the protocol: it returns the batches whose
// partition starts exactly where the table stands, drops stale and fenced
// ones (releasing them and notifying the consumer), and fails on a gap.
func (c *Committer) fence(ag *attemptGroup, committed offsets.Map) ([]*batcher.Batch, error) {
	c.mu.Lock()
	stale := make(map[topicPartition]uint64, len(c.stale))
	for k, v := range c.stale {
		stale[k] = v
	}
	c.mu.Unlock()

	sort.SliceStable(ag.batches, func(i, j int) bool {
		a, b := ag.batches[i], ag.batches[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Start < b.Start
	})
	var include, keep []*batcher.Batch
	var released int64
	for i := 0; i < len(ag.batches); {
		j := i
		tp := topicPartition{ag.batches[i].Topic, ag.batches[i].Partition}
		for j < len(ag.batches) && ag.batches[j].Topic == tp.topic && ag.batches[j].Partition == tp.partition {
			j++
		}
		group := ag.batches[i:j]
		i = j

		var live []*batcher.Batch
		for _, b := range group {
			if b.Generation <= stale[tp] && stale[tp] > 0 {
				c.m.dropped.WithLabelValues("stale").Inc()
				c.log.Info("stale batch dropped from commit: the partition was revoked or re-seeked",
					"commit_id", ag.id, "topic", b.Topic, "partition", b.Partition, "batch_start", b.Start, "batch_end", b.End)
				released += b.Bytes
				b.Release()
				continue
			}
			live = append(live, b)
		}
		if len(live) == 0 {
			continue
		}
		for k := 1; k < len(live); k++ {
			if live[k].Start != live[k-1].End {
				return nil, fmt.Errorf("%w: %s[%d] batches are not contiguous: [%d,%d) then [%d,%d)",
					ErrGap, tp.topic, tp.partition, live[k-1].Start, live[k-1].End, live[k].Start, live[k].End)
			}
		}
		start := live[0].Start
		stored, ok := committed.Get(tp.topic, tp.partition)
		switch {
		case !ok || stored == start:
			include = append(include, live...)
			keep = append(keep, live...)
		case stored > start || !live[0].FromTable:
			// Another owner committed past our start (a zombie batch), or the
			// table moved since this partition's start came from
			// kafka.start-from: re-read from the table's offset.
			gen := live[len(live)-1].Generation
			c.log.Warn("batch fenced: another owner already committed this range",
				"topic", tp.topic, "partition", tp.partition, "batch_start", start,
				"batch_end", live[len(live)-1].End, "table_next", stored, "generation", gen)
			c.m.dropped.WithLabelValues("fenced").Inc()
			for _, b := range live {
				released += b.Bytes
				b.Release()
			}
			c.mu.Lock()
			if gen > c.stale[tp] {
				c.stale[tp] = gen
			}
			c.mu.Unlock()
			if c.deps.Hooks.Fenced != nil {
				c.deps.Hooks.Fenced(tp.topic, tp.partition, gen, stored)
			}
		default:
			return nil, fmt.Errorf("%w: %s[%d] table is at %d but the batch starts at %d",
				ErrGap, tp.topic, tp.partition, stored, start)
		}
	}
	ag.batches = keep
	c.release(released)
	return include, nil
}

// rangesOf merges sorted, contiguous batches into one range per partition.
func rangesOf(bs []*batcher.Batch) []offsets.Range {
	var out []offsets.Range
	for _, b := range bs {
		if n := len(out); n > 0 && out[n-1].Topic == b.Topic && out[n-1].Partition == b.Partition {
			out[n-1].End = b.End
			continue
		}
		out = append(out, offsets.Range{Topic: b.Topic, Partition: b.Partition, Start: b.Start, End: b.End})
	}
	return out
}

func rowsOf(bs []*batcher.Batch) int64 {
	var n int64
	for _, b := range bs {
		if b.Rows != nil {
			n += b.Rows.NumRows()
		}
	}
	return n
}

func includeKey(bs []*batcher.Batch) string {
	var sb strings.Builder
	for _, b := range bs {
		fmt.Fprintf(&sb, "%s/%d/%d/%d;", b.Topic, b.Partition, b.Start, b.End)
	}
	return sb.String()
}

// writeFiles writes the rows of batches as Parquet data files. A file holds
// rows of many partitions; that is how files stay large.
func (c *Committer) writeFiles(ctx context.Context, tbl *table.Table, batches []*batcher.Batch) ([]iceberg.DataFile, error) {
	// Batches decoded before a schema change have the older schema: they
	// are written as the table's current one (new columns null, widened
	// types cast), so one file set has one schema.
	sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
	if err != nil {
		return nil, fmt.Errorf("arrow schema of %s: %w", c.tc.Name, err)
	}
	var convErr error
	records := func(yield func(arrow.RecordBatch, error) bool) {
		for _, b := range batches {
			if b.Rows == nil {
				continue
			}
			rec := b.Rows
			if rec.Schema().Equal(sc) {
				rec.Retain() // WriteRecords releases what it consumes; we may write again
			} else if rec, convErr = conformRecord(rec, sc); convErr != nil {
				yield(nil, convErr)
				return
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
	start := time.Now()
	var files []iceberg.DataFile
	for df, err := range table.WriteRecords(ctx, tbl, sc, records, table.WithTargetFileSize(c.tc.TargetFileSize)) {
		if err != nil {
			c.deleteFiles(ctx, tbl, files)
			return nil, storageError("write data files", err)
		}
		files = append(files, df)
		c.m.fileBytes.Observe(float64(df.FileSizeBytes()))
	}
	c.m.writeDuration.Observe(time.Since(start).Seconds())
	return files, nil
}

// abandonFiles forgets the group's current files before new ones are
// written. Files no attempt with an unknown outcome could have referenced
// are deleted; the others are left to an orphan sweep.
func (c *Committer) abandonFiles(ag *attemptGroup) {
	if len(ag.files) == 0 {
		return
	}
	if !ag.unknown {
		for _, f := range ag.files {
			ag.orphans = append(ag.orphans, f.FilePath())
		}
	}
	ag.files, ag.filesFor = nil, ""
}

// cleanup deletes files of attempts that definitely failed.
func (c *Committer) cleanup(ag *attemptGroup) {
	c.abandonFiles(ag)
	c.mu.Lock()
	tbl := c.tbl
	c.mu.Unlock()
	c.removeFiles(tbl, ag.orphans)
	ag.orphans = nil
	if st := &ag.dlq; c.dlq != nil && !st.done {
		if !st.unknown {
			st.orphans = append(st.orphans, filePaths(st.files)...)
		}
		st.files, st.filesFor = nil, ""
		c.removeFiles(c.dlqTable(), st.orphans)
		st.orphans = nil
	}
}

// removeFiles deletes the files at paths of tbl, logging failures (a file
// left behind is an orphan for the sweep, never a correctness problem).
func (c *Committer) removeFiles(tbl *table.Table, paths []string) {
	if len(paths) == 0 || tbl == nil {
		return
	}
	fs, err := tbl.FS(context.Background())
	if err != nil {
		c.log.Warn("cannot open the table's file system to delete failed files", "error", err)
		return
	}
	for _, p := range paths {
		if err := fs.Remove(p); err != nil {
			c.log.Warn("delete data file of a failed commit", "path", p, "error", err)
		}
	}
}

func (c *Committer) deleteFiles(ctx context.Context, tbl *table.Table, files []iceberg.DataFile) {
	if len(files) == 0 {
		return
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return
	}
	for _, f := range files {
		_ = fs.Remove(f.FilePath())
	}
}

func (c *Committer) writerJSON() string {
	b, _ := json.Marshal(c.deps.Identity)
	return string(b)
}

// watermarkAfter is the min over this table's partitions of the newest
// record timestamp committed, including the batches about to be committed.
func (c *Committer) watermarkAfter(include []*batcher.Batch) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	wm := make(map[topicPartition]time.Time, len(c.watermarks))
	for k, v := range c.watermarks {
		wm[k] = v
	}
	for _, b := range include {
		tp := topicPartition{b.Topic, b.Partition}
		if b.MaxTimestamp.After(wm[tp]) {
			wm[tp] = b.MaxTimestamp
		}
	}
	var low time.Time
	for _, t := range wm {
		if low.IsZero() || t.Before(low) {
			low = t
		}
	}
	return low
}

// finish records a landed (or landed-after-unknown) commit: evidence in the
// log and metrics, memory released, hooks told.
func (c *Committer) finish(ag *attemptGroup, tbl *table.Table, snap *table.Snapshot, include []*batcher.Batch, outcome string) {
	var (
		records, skipped int
		bytes            int64
		ranges           = rangesOf(include)
		next             = map[string]map[int32]int64{}
		newest           = map[string]map[int32]time.Time{}
	)
	for _, b := range include {
		records += b.Records
		skipped += b.Skipped
		bytes += b.Bytes
		if next[b.Topic] == nil {
			next[b.Topic] = map[int32]int64{}
			newest[b.Topic] = map[int32]time.Time{}
		}
		next[b.Topic][b.Partition] = b.End
		if b.MaxTimestamp.After(newest[b.Topic][b.Partition]) {
			newest[b.Topic][b.Partition] = b.MaxTimestamp
		}
	}
	rows := rowsOf(include)
	var fileBytes int64
	for _, f := range ag.files {
		fileBytes += f.FileSizeBytes()
	}
	dur := time.Since(ag.started)

	c.mu.Lock()
	c.tbl = tbl
	c.lastCommit = time.Now()
	for _, b := range include {
		tp := topicPartition{b.Topic, b.Partition}
		if b.MaxTimestamp.After(c.watermarks[tp]) {
			c.watermarks[tp] = b.MaxTimestamp
		}
	}
	c.mu.Unlock()
	c.setHealthy(true)

	c.m.commits.WithLabelValues(outcome).Inc()
	c.m.commitDuration.Observe(dur.Seconds())
	c.m.rows.Add(float64(rows))
	c.m.files.Add(float64(len(ag.files)))
	c.m.lastCommit.SetToCurrentTime()
	requests := ag.requests.n.Load()
	if requests > 0 { // a SQL catalog makes no HTTP requests
		c.m.requestsPerCommit.Observe(float64(requests))
	}
	objects := ag.requests.objects.Load()
	if objects > 0 { // a file:// warehouse makes none
		c.m.objectsPerCommit.Observe(float64(objects))
	}
	if wm := c.watermarkAfter(nil); !wm.IsZero() {
		c.m.watermark.Set(float64(wm.UnixMilli()) / 1000)
	}
	var snapID int64
	if snap != nil {
		snapID = snap.SnapshotID
	}
	c.log.Info("commit",
		"outcome", outcome, "snapshot_id", snapID, "commit_id", ag.id,
		"offsets", ranges, "records", records, "rows", rows, "skipped", skipped,
		"dead_letters", ag.dlq.letters, "files", len(ag.files), "file_bytes", fileBytes, "bytes", bytes,
		"attempts", ag.attempts, "catalog_requests", requests, "objectstore_requests", objects, "duration", dur.Round(time.Millisecond).String())

	for _, b := range include {
		b.Release()
	}
	// The files are referenced by the snapshot now (or, after an unknown
	// outcome, some of them may be): never delete them.
	files := len(ag.files)
	ag.files, ag.filesFor = nil, ""
	c.cleanup(ag)
	c.release(bytes)
	if c.deps.Hooks.Committed != nil {
		c.deps.Hooks.Committed(next, newest)
	}
	if c.deps.Hooks.Landed != nil {
		c.deps.Hooks.Landed(Landed{
			SnapshotID: snapID, CommitID: ag.id, Outcome: outcome, Ranges: ranges,
			Records: records, Rows: rows, DeadLetters: ag.dlq.letters, Files: files,
		})
	}
}
