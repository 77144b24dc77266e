package committer

import (
	"context"

	"github.com/apache/iceberg-go"

	"github.com/floe-dev/floe/batcher"
)

// Writing ahead: a full batch (sealed on size, or to make room under the
// memory budget) is written to Parquet as soon as it is submitted, on a
// goroutine of the shared [Writers] pool, instead of at its commit. Parquet
// encoding then overlaps decoding, the batch's Arrow memory is released
// once its file is written rather than once its commit lands, and a commit
// has only the small remainder (batches sealed on age or by the commit) left
// to write.
//
// Each batch written ahead has data files of its own, so fencing stays per
// batch: a batch dropped or fenced loses only its own files, and a commit
// adds the files of exactly the batches it includes. A batch whose write
// failed keeps its rows and is written with the commit, as any other.
//
// Ownership: the writing goroutine owns the batch's Rows until it closes
// done. The commit waits for done before its stage reads the batch; Drop
// leaves a batch still being written to that goroutine to finish.

// Writers bounds the batches written ahead at once, across every table of
// the process: each write keeps one core busy encoding.
type Writers struct{ slots chan struct{} }

// NewWriters returns a pool of n concurrent writes (n >= 1).
func NewWriters(n int) *Writers { return &Writers{slots: make(chan struct{}, max(n, 1))} }

// minWriteAhead is the smallest batch written ahead: smaller ones would
// make many small files, and their commit writes them together.
const minWriteAhead = 1 << 20

// ahead is one batch's write ahead of its commit. Fields other than done
// are guarded by the committer's mu.
type ahead struct {
	done    chan struct{} // closed when the write ended (files or err set)
	files   []iceberg.DataFile
	ok      bool // written: Rows released, files hold them
	ended   bool // the goroutine is done with the batch
	dropped bool // Drop came while writing: the goroutine finishes it
}

// writesAhead reports whether b is written ahead of its commit. c.mu held.
func (c *Committer) writesAhead(b *batcher.Batch) bool {
	if c.deps.Writers == nil || b.Rows == nil || b.Bytes < minWriteAhead {
		return false
	}
	switch b.Reason {
	case batcher.ReasonBytes, batcher.ReasonRecords, batcher.ReasonMemory, batcher.ReasonCaughtUp:
		return true
	}
	return false
}

// writeAhead writes b's rows to data files of its own (see [ahead]).
func (c *Committer) writeAhead(b *batcher.Batch, a *ahead) {
	c.deps.Writers.slots <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CommitTimeout)
	tbl := c.current()
	if c.aheadTable != nil {
		tbl = c.aheadTable(tbl)
	}
	files, err := c.writeFiles(ctx, tbl, []*batcher.Batch{b})
	cancel()
	<-c.deps.Writers.slots
	if err != nil {
		c.m.writeAhead.WithLabelValues("failed").Inc()
		c.log.Warn("writing a batch ahead of its commit failed; its commit writes it", "topic", b.Topic,
			"partition", b.Partition, "batch_start", b.Start, "batch_end", b.End, "error", err)
	} else {
		c.m.writeAhead.WithLabelValues("written").Inc()
		b.ReleaseWritten()
	}
	c.mu.Lock()
	a.files, a.ok, a.ended = files, err == nil, true
	dropped := a.dropped
	c.mu.Unlock()
	close(a.done)
	if dropped {
		c.finishBatch(b, batcher.Outcome{Kind: batcher.Dropped})
	}
}

// waitAhead waits until every write ahead of bs has ended.
func (c *Committer) waitAhead(ctx context.Context, bs []*batcher.Batch) error {
	for _, b := range bs {
		c.mu.Lock()
		a := c.aheads[b]
		c.mu.Unlock()
		if a == nil {
			continue
		}
		select {
		case <-a.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// aheadFiles returns the data files written ahead for bs (their writes
// ended: see waitAhead).
func (c *Committer) aheadFiles(bs []*batcher.Batch) []iceberg.DataFile {
	c.mu.Lock()
	defer c.mu.Unlock()
	var files []iceberg.DataFile
	for _, b := range bs {
		if a := c.aheads[b]; a != nil && a.ok {
			files = append(files, a.files...)
		}
	}
	return files
}

// forgetAhead ends b's write ahead as b leaves the committer. Its files are
// deleted unless the batch landed (they are the snapshot's now) or keep is
// set (an attempt whose outcome is unknown may have referenced them: the
// orphan sweep removes them if not).
func (c *Committer) forgetAhead(b *batcher.Batch, landed, keep bool) {
	c.mu.Lock()
	a := c.aheads[b]
	delete(c.aheads, b)
	c.mu.Unlock()
	if a != nil && a.ok && !landed && !keep {
		c.removeFiles(c.current(), filePaths(a.files))
	}
}
