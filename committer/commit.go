package committer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/offsets"
	"github.com/floe-dev/floe/tablecommit"
)

// attemptGroup is one logical commit: a fixed set of batches and one commit
// ID, tried until it lands, is fenced, or times out (then resumed later).
type attemptGroup struct {
	commit   tablecommit.Commit // the table's commit: ID, attempts, pinned base, unknown outcome
	batches  []*batcher.Batch
	include  []*batcher.Batch // the batches the latest attempt staged
	data     staged           // the data files of the include set
	started  time.Time
	requests *catalog.Requests // catalog and object-store requests made for this commit
	dlq      dlqState          // the dead letters' commit, before the table's
	// dlqTopicDone: the letters are in the dead-letter topic.
	dlqTopicDone bool
}

func (ag *attemptGroup) id() string { return ag.commit.ID }

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

// commitOnce runs one logical commit through the table's commit loop.
// commitMu held.
func (c *Committer) commitOnce(ctx context.Context) error {
	ag := c.inflight
	if ag == nil {
		c.mu.Lock()
		seal := c.onCommit
		c.mu.Unlock()
		if seal != nil {
			seal() // never under c.mu: the consumer submits under its own lock
		}
		c.mu.Lock()
		batches := c.pending
		c.pending = nil
		c.mu.Unlock()
		if len(batches) == 0 {
			return nil
		}
		ag = &attemptGroup{batches: batches, started: time.Now()}
		ag.commit = tablecommit.Commit{
			Target: c.target(c.load, c.deps.Branch, "commit_table", func(err error) error {
				return c.catalogError("commit table", err)
			}, offsets.Key(c.deps.Group)),
			ID: uuid.NewString(),
		}
	}

	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommitTimeout)
	defer cancel()
	ctx, ag.requests = catalog.CountRequests(ctx, ag.requests)
	err := ag.commit.Run(ctx, c.backoff(), func(ctx context.Context) error { return c.attempt(ctx, ag) },
		func(err error) {
			c.m.attemptErrors.WithLabelValues(catalog.Reason(err)).Inc()
			c.warnAttempt(ag, err)
		})
	var timeout *tablecommit.TimeoutError
	switch {
	case err == nil:
		c.inflight = nil
		return nil
	case errors.As(err, &timeout):
		c.inflight = ag
		c.setHealthy(false)
		c.m.commits.WithLabelValues(outcomeFailed).Inc()
		c.log.Error("commit did not land before commit.timeout; batches and offsets kept for the next try",
			"commit_id", ag.id(), "attempts", ag.commit.Attempts, "failing_for", c.failingFor().Round(time.Millisecond).String(),
			"error", ag.commit.LastErr)
		return fmt.Errorf("commit %s to %s: %w (last error: %v)", ag.id(), c.tc.Name, ErrCommitTimeout, ag.commit.LastErr)
	default: // fatal
		c.inflight = nil
		c.setHealthy(false)
		c.m.commits.WithLabelValues(outcomeFailed).Inc()
		return fmt.Errorf("commit to %s: %w", c.tc.Name, err)
	}
}

// target is a tablecommit.Target of the committer's catalog: the catalog
// commit request of each attempt is timed as op.
// keys are the summary keys whose tags the commit moves.
func (c *Committer) target(load func(context.Context) (*table.Table, error), branch, op string, wrap func(error) error, keys ...string) tablecommit.Target {
	name := c.tc.Name
	if op == "commit_dlq_table" {
		name = c.dlq.name
	}
	return tablecommit.Target{
		Name: name, Load: load, Branch: branch, CommitError: wrap,
		Keys: keys, Catalog: c.deps.Catalog,
		Observe: func(took time.Duration, err error) {
			c.m.catalogDuration.WithLabelValues(op, status(err)).Observe(took.Seconds())
		},
	}
}

// backoff is the wait between attempts: full jitter between
// commit.retry-min and commit.retry-max, as the catalog transport's reads.
func (c *Committer) backoff() catalog.Backoff {
	return catalog.Backoff{Min: c.cfg.RetryMin, Max: c.cfg.RetryMax}
}

// attempt is one pass of the protocol's loop (DESIGN.md, commit protocol):
// the table's commit, with the fencing, the dead letters and the data files
// as its stage.
func (c *Committer) attempt(ctx context.Context, ag *attemptGroup) error {
	res, err := ag.commit.Once(ctx, func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
		return c.stage(ctx, ag, tbl, txn)
	})
	switch {
	case err != nil:
		return err
	case res.Resolved: // (a) an earlier attempt landed after all
		c.finish(ag, res.Table, res.Snapshot, ag.batches, outcomeLandedAfterUnknown)
	case res.Snapshot == nil: // every batch was stale or fenced
		c.cleanup(ag)
	default:
		outcome := outcomeCommitted
		switch {
		case ag.commit.Conflicts > 0:
			outcome = outcomeConflictRetried
		case ag.commit.Attempts > 1:
			outcome = outcomeRetried
		}
		c.finish(ag, res.Table, res.Snapshot, ag.include, outcome)
	}
	return nil
}

// stage is the table commit's stage: (b) check every partition against the
// committed map, (c′) land the dead letters, (c) add files for exactly the
// included batches with the offsets in the summary.
func (c *Committer) stage(ctx context.Context, ag *attemptGroup, tbl *table.Table, txn *table.Transaction) error {
	// Batches written ahead are the commit's once their writes end.
	if err := c.waitAhead(ctx, ag.batches); err != nil {
		return err
	}
	committed, _, err := offsets.Read(tbl.Metadata(), c.deps.Group, c.deps.Branch)
	if err != nil {
		return tablecommit.Fatal(err)
	}
	if committed, err = c.checkSource(committed); err != nil {
		return tablecommit.Fatal(err)
	}
	include, err := c.fence(ag, committed)
	if err != nil {
		return tablecommit.Fatal(err)
	}
	if len(include) == 0 {
		return tablecommit.ErrNothing
	}
	ag.include = include
	// (c′) Dead letters land before the offsets that pass them.
	if err := c.deadLetterTopic(ctx, ag, include); err != nil {
		return err
	}
	if err := c.deadLetter(ctx, ag, include); err != nil {
		return err
	}
	// A commit without rows (every record skipped or dead-lettered) still
	// records its offsets, in a snapshot that changes no file: otherwise a
	// partition whose newest records are all bad would lag until a good one
	// arrives.
	offsetsOnly := rowsOf(include) == 0
	if key := includeKey(include); ag.data.key != key && !offsetsOnly {
		ag.data.abandon(ag.commit.Unknown())
		// The batches written ahead have their files; the rest (holding
		// their rows still) are written now, together.
		ahead := c.aheadFiles(include)
		written, err := c.writeFiles(ctx, tbl, include)
		if err != nil {
			return err
		}
		files := append(ahead, written...)
		if len(files) > c.tc.MaxFilesPerCommit {
			c.removeFiles(tbl, filePaths(written))
			c.m.refused.WithLabelValues("too_many_files").Inc()
			return tablecommit.Fatal(fmt.Errorf("%w: the commit would add %d data files to %s, over max-files-per-commit %d "+
				"(a batch spread over many partitions of the table's partition spec?); raise tables[].max-files-per-commit "+
				"or coarsen the partitioning; nothing was committed, and the records are read again after a restart",
				ErrRefused, len(files), c.tc.Name, c.tc.MaxFilesPerCommit))
		}
		ag.data.files, ag.data.ahead, ag.data.key = files, len(ahead), key
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
		if b.Floor > 0 {
			next.RaiseFloor(b.Topic, b.Partition, b.Floor)
		}
	}
	props := offsets.Summary{
		CommitID: ag.id(), Writer: c.deps.Identity, Offsets: map[string]offsets.Map{offsets.Key(c.deps.Group): next},
		Ranges: rangesOf(include), Watermark: c.watermarkAfter(include),
	}.Properties()
	if offsetsOnly {
		return tablecommit.SummaryOnly(ctx, txn, props)
	}
	if err := txn.AddDataFiles(ctx, ag.data.files, props, table.WithoutDuplicateCheck()); err != nil {
		return catalog.StorageError("stage data files", err)
	}
	return nil
}

// checkSource compares the stored offsets' cluster and topic IDs with the
// live ones (see [offsets.Source.Check]).
func (c *Committer) checkSource(m offsets.Map) (offsets.Map, error) {
	c.mu.Lock()
	src := c.source
	c.mu.Unlock()
	m, _, err := src.Check(c.tc.Name, m)
	return m, err
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
	c.log.Warn("commit attempt failed; retrying", "commit_id", ag.id(), "attempt", ag.commit.Attempts,
		"reason", catalog.Reason(err), "not_logged_since_last", suppressed, "error", err)
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
	type finished struct {
		b *batcher.Batch
		o batcher.Outcome
	}
	var done []finished
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
					"commit_id", ag.id(), "topic", b.Topic, "partition", b.Partition, "batch_start", b.Start, "batch_end", b.End)
				done = append(done, finished{b, batcher.Outcome{Kind: batcher.Dropped}})
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
			c.mu.Lock()
			if gen > c.stale[tp] {
				c.stale[tp] = gen
			}
			c.mu.Unlock()
			for _, b := range live {
				done = append(done, finished{b, batcher.Outcome{Kind: batcher.Fenced, TableNext: stored}})
			}
		default:
			return nil, fmt.Errorf("%w: %s[%d] table is at %d but the batch starts at %d",
				ErrGap, tp.topic, tp.partition, stored, start)
		}
	}
	ag.batches = keep
	for _, f := range done {
		if ag.commit.Unknown() {
			// An attempt whose outcome is unknown may reference the
			// files it wrote ahead: the orphan sweep removes them if not.
			c.forgetAhead(f.b, false, true)
		}
		c.finishBatch(f.b, f.o)
	}
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
		n += b.RowCount
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
