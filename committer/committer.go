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
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/catalog"
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
	Catalog icecat.Catalog
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
	// Replay says the records are read again long after they were
	// produced (`floe replay`): their age is not freshness, so
	// floe_table_freshness_seconds is not observed.
	Replay bool
	// OnLanded, if set, is told what each landed commit holds (for reports
	// such as the end of `floe replay`).
	OnLanded func(Landed)
	// Writers, if set, writes full batches ahead of their commit (see
	// ahead.go); one pool serves every table of the process.
	Writers *Writers
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
	aheads       map[*batcher.Batch]*ahead       // batches written ahead of their commit
	aheadTable   func(*table.Table) *table.Table // tests: the table writes ahead go to
	stale        map[topicPartition]uint64       // batches with Generation <= this are dropped
	watermarks   map[topicPartition]time.Time
	lastCommit   time.Time
	healthy      bool
	failingSince time.Time // when the table stopped being able to commit
	lastWarn     time.Time // rate limit for attempt warnings
	suppressed   int       // attempt warnings not logged since lastWarn
	onHealth     func(table string, healthy bool)
	onCommit     func() // seals the table's buffers (consumer.Sink.OnCommit)

	caughtUp chan struct{} // CaughtUp's signal to Run
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
		aheads:     map[*batcher.Batch]*ahead{},
		watermarks: map[topicPartition]time.Time{},
		healthy:    true,
		caughtUp:   make(chan struct{}, 1),
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

// Load loads the table from the catalog (for maintenance, such as the
// orphan sweep).
func (c *Committer) Load(ctx context.Context) (*table.Table, error) { return c.load(ctx) }

// current is the table as last loaded or committed.
func (c *Committer) current() *table.Table {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tbl
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
	if b.Rows != nil {
		b.RowCount = b.Rows.NumRows()
	}
	c.pending = append(c.pending, b)
	c.m.pendingBytes.Add(float64(b.Bytes))
	var a *ahead
	if c.writesAhead(b) {
		a = &ahead{done: make(chan struct{})}
		c.aheads[b] = a
	}
	c.mu.Unlock()
	if a != nil {
		go c.writeAhead(b, a)
	}
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
		dropped  []*batcher.Batch
		n        int
		released int64
	)
	for _, b := range c.pending {
		if b.Topic == topic && b.Partition == partition && b.Generation <= generation {
			n++
			released += b.Bytes
			if a := c.aheads[b]; a != nil && !a.ended {
				a.dropped = true // its writer finishes it once written
				continue
			}
			dropped = append(dropped, b)
			continue
		}
		keep = append(keep, b)
	}
	clear(c.pending[len(keep):])
	c.pending = keep
	c.mu.Unlock()
	if n > 0 {
		c.log.Info("uncommitted batches dropped: the partition was revoked or re-seeked; its next owner reads them again from the table",
			"topic", topic, "partition", partition, "generation", generation, "batches", n, "bytes", released)
		c.m.dropped.WithLabelValues("stale").Add(float64(n))
	}
	for _, b := range dropped {
		c.finishBatch(b, batcher.Outcome{Kind: batcher.Dropped})
	}
}

// finishBatch hands a batch that leaves the committer back to whoever
// sealed it, with its outcome (see [batcher.Batch.Done]). Never under c.mu:
// the consumer's side takes its own lock.
func (c *Committer) finishBatch(b *batcher.Batch, o batcher.Outcome) {
	c.forgetAhead(b, o.Kind == batcher.Committed, false)
	c.m.pendingBytes.Sub(float64(b.Bytes))
	b.Finish(o)
}

// OnHealth registers fn to be told when the table starts or stops being
// able to commit (the consumer pauses the table's topics while it cannot).
func (c *Committer) OnHealth(fn func(table string, healthy bool)) {
	c.mu.Lock()
	c.onHealth = fn
	c.mu.Unlock()
}

// OnCommit registers fn to be called as each new commit starts, before it
// takes the pending batches: the consumer seals the table's buffers then.
func (c *Committer) OnCommit(fn func()) {
	c.mu.Lock()
	c.onCommit = fn
	c.mu.Unlock()
}

// CaughtUp tells the committer that the partitions feeding its table here
// have read to the end of a backlog (consumer.Sink): with
// commit-on-catch-up, Run commits soon rather than at its next interval.
func (c *Committer) CaughtUp() {
	if !c.tc.CommitOnCatchUp {
		return
	}
	select {
	case c.caughtUp <- struct{}{}:
	default:
	}
}

// Run commits pending batches until ctx is done, starting a commit once per
// commit interval (start to start), so the snapshot rate is bounded
// whatever the partition count. A table that catches up with a backlog
// (CaughtUp) commits sooner: a quarter interval after the last commit at
// the earliest, once between two interval commits; the interval restarts
// from it. A commit in progress runs under ctx too: cancel ctx only when
// in-flight work may be abandoned (its batches are then read again after a
// restart). Run returns nil on cancellation and an error only for
// conditions that retrying cannot fix (a gap, a source mismatch). Commit
// may be called concurrently, e.g. for the final commit on shutdown.
func (c *Committer) Run(ctx context.Context) error {
	var (
		last      = time.Now() // the last commit's start; Run's before the first
		due       = last.Add(c.tc.CommitInterval)
		early     bool // the timer is set for a commit on catching up
		earlyDone bool // one came since the last interval commit
	)
	timer := time.NewTimer(time.Until(due))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.caughtUp:
			if early || earlyDone || !c.Healthy() {
				continue
			}
			at := last.Add(c.tc.CommitInterval / 4)
			if !at.Before(due) {
				continue // the interval's commit comes first anyway
			}
			early, due = true, at
			if wait := time.Until(at); wait > 0 {
				timer.Reset(wait)
				continue
			}
			timer.Stop()
		case <-timer.C:
		}
		earlyDone, early = early, false
		if earlyDone {
			c.m.catchUpCommits.Inc()
		}
		select {
		case <-c.caughtUp: // this commit takes what was read before it
		default:
		}
		last = time.Now()
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
		wait := c.untilNext(time.Since(last))
		due = time.Now().Add(wait)
		timer.Reset(wait)
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
	c.mu.Lock()
	fn := c.onHealth
	c.mu.Unlock()
	if changed && fn != nil {
		fn(c.tc.Name, ok)
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

func (c *Committer) load(ctx context.Context) (*table.Table, error) {
	start := time.Now()
	tbl, err := c.deps.Catalog.LoadTable(ctx, c.ident)
	c.m.catalogDuration.WithLabelValues("load_table", status(err)).Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, catalog.LoadFailed(c.catalogError("load table", err))
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
