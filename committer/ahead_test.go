package committer

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/internal/promtest"
)

// aheadCommitter is a committer that writes full batches ahead.
func (e *protoEnv) aheadCommitter(instance string) *Committer {
	c := e.committer(instance)
	c.deps.Writers = NewWriters(2)
	return c
}

// fullBatch is a batch sealed on size, as a backlog's are: one written ahead.
func (e *protoEnv) fullBatch(c *Committer, p int32, gen uint64, start, end int64) *batcher.Batch {
	b := e.batch(c, p, gen, start, end)
	b.Reason, b.Bytes = batcher.ReasonBytes, minWriteAhead
	return b
}

// files lists the data files under the warehouse.
func (e *protoEnv) files(t *testing.T) []string {
	var out []string
	require.NoError(t, filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			out = append(out, p)
		}
		return err
	}))
	return out
}

// aheadOf waits for the writes ahead of bs to end and returns their files.
func aheadOf(t *testing.T, c *Committer, bs ...*batcher.Batch) []string {
	t.Helper()
	require.NoError(t, c.waitAhead(context.Background(), bs))
	var paths []string
	c.mu.Lock()
	for _, b := range bs {
		a := c.aheads[b]
		require.NotNil(t, a, "batch [%d,%d) is written ahead", b.Start, b.End)
		paths = append(paths, filePaths(a.files)...)
	}
	c.mu.Unlock()
	return paths
}

func requireFiles(t *testing.T, paths []string, exist bool) {
	t.Helper()
	for _, p := range paths {
		u, err := url.Parse(p)
		require.NoError(t, err)
		_, err = os.Stat(u.Path)
		if exist {
			require.NoError(t, err, p)
		} else {
			require.True(t, errors.Is(err, os.ErrNotExist), "%s is deleted: %v", p, err)
		}
	}
}

// Full batches are written as they arrive, their rows released then, and
// the commit adds their files beside one file for the rest.
func TestWriteAheadFilesLand(t *testing.T) {
	e := newProtoEnv(t)
	c := e.aheadCommitter("a")
	var released atomic.Int64
	full := []*batcher.Batch{e.fullBatch(c, 0, 1, 0, 10), e.fullBatch(c, 1, 1, 0, 7)}
	for _, b := range full {
		b.Written = func(*batcher.Batch) { released.Add(1) }
		c.Submit(b)
	}
	small := e.batch(c, 0, 1, 10, 15) // sealed on records but small: written by the commit
	c.Submit(small)
	paths := aheadOf(t, c, full...)
	require.Len(t, paths, 2, "one file per batch written ahead")
	requireFiles(t, paths, true)
	for _, b := range full {
		require.Nil(t, b.Rows, "rows released once written")
		require.True(t, b.WrittenAhead())
	}
	require.EqualValues(t, 2, released.Load())
	require.NotNil(t, small.Rows)

	require.NoError(t, c.Commit(context.Background()))
	requireNoDuplicates(t, e.rows(), 22)
	require.Equal(t, map[int32]int64{0: 15, 1: 7}, e.offsets().Topics["events"].Next)
	require.Equal(t, "3", e.reload().CurrentSnapshot().Summary.Properties["added-data-files"])
	requireFiles(t, paths, true)
	require.Empty(t, c.aheads, "nothing is kept once landed")
	require.Equal(t, 2.0, promtest.Value(t, e.reg, "floe_committer_write_ahead_total", map[string]string{"table": "db.events", "result": "written"}))
}

// A dropped batch loses the files it was written to (whether the drop came
// during its write or after), and nothing of it lands.
func TestWriteAheadDroppedBatchLosesItsFiles(t *testing.T) {
	e := newProtoEnv(t)
	c := e.aheadCommitter("a")
	b := e.fullBatch(c, 0, 1, 0, 10)
	c.Submit(b)
	paths := aheadOf(t, c, b)
	requireFiles(t, paths, true)
	c.Drop("events", 0, 1)
	require.Empty(t, e.files(t))
	requireFiles(t, paths, false)
	require.Equal(t, []string{"events[0][0,10) dropped"}, e.outcomes)

	// Dropped while its write is still waiting for a writer: the writer
	// finishes it.
	c.deps.Writers = NewWriters(1)
	c.deps.Writers.slots <- struct{}{} // the only writer is busy
	b2 := e.fullBatch(c, 0, 2, 0, 10)
	finished := make(chan struct{})
	b2.Done = func(b *batcher.Batch, o batcher.Outcome) { e.done(b, o); close(finished) }
	c.Submit(b2)
	c.Drop("events", 0, 2)
	require.Len(t, e.outcomes, 1, "finished by its writer, later")
	<-c.deps.Writers.slots
	<-finished
	require.Equal(t, "events[0][0,10) dropped", e.outcomes[1])
	require.Empty(t, e.files(t), "its files are deleted too")

	require.NoError(t, c.Commit(context.Background()))
	require.Empty(t, e.rows())
	require.Empty(t, c.aheads)
}

// A batch written ahead and then fenced (another owner committed its range)
// loses its files; the zombie's other partition lands.
func TestWriteAheadFencedBatchLosesItsFiles(t *testing.T) {
	e := newProtoEnv(t)
	owner, zombie := e.committer("owner"), e.aheadCommitter("zombie")
	owner.Submit(e.batch(owner, 0, 1, 0, 15))
	require.NoError(t, owner.Commit(context.Background()))
	stale := e.fullBatch(zombie, 0, 4, 0, 10)
	fine := e.fullBatch(zombie, 1, 1, 0, 3)
	zombie.Submit(stale)
	zombie.Submit(fine)
	stalePaths, finePaths := aheadOf(t, zombie, stale), aheadOf(t, zombie, fine)
	require.NoError(t, zombie.Commit(context.Background()))
	requireFiles(t, stalePaths, false)
	requireFiles(t, finePaths, true)
	require.Equal(t, map[int32]int64{0: 15, 1: 3}, e.offsets().Topics["events"].Next)
	requireNoDuplicates(t, e.rows(), 18)
}

// A write ahead that fails leaves the batch its rows: its commit writes it.
func TestWriteAheadFailureFallsBackToTheCommit(t *testing.T) {
	e := newProtoEnv(t)
	c := e.aheadCommitter("a")
	c.aheadTable = func(tbl *table.Table) *table.Table { // its store refuses
		return table.New(tbl.Identifier(), tbl.Metadata(), tbl.MetadataLocation(), func(context.Context) (icebergio.IO, error) {
			return nil, errors.New("store refused")
		}, nil)
	}
	b := e.fullBatch(c, 0, 1, 0, 10)
	c.Submit(b)
	require.Empty(t, aheadOf(t, c, b))
	require.NotNil(t, b.Rows, "rows kept for the commit")
	require.False(t, b.WrittenAhead())
	require.Equal(t, 1.0, promtest.Value(t, e.reg, "floe_committer_write_ahead_total", map[string]string{"table": "db.events", "result": "failed"}))
	require.NoError(t, c.Commit(context.Background()))
	requireNoDuplicates(t, e.rows(), 10)
	require.Equal(t, map[int32]int64{0: 10}, e.offsets().Topics["events"].Next)
}

// A commit waits for the writes ahead of its batches; one that cannot end
// before the commit's deadline fails the commit with its batches kept, and
// the next commit lands them.
func TestCommitWaitsForWritesAhead(t *testing.T) {
	e := newProtoEnv(t)
	c := e.aheadCommitter("a")
	release := make(chan struct{})
	c.aheadTable = func(tbl *table.Table) *table.Table { <-release; return tbl } // a slow store
	b := e.fullBatch(c, 0, 1, 0, 10)
	c.Submit(b)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.Commit(ctx), ErrCommitTimeout)
	require.Empty(t, e.rows())
	close(release)
	require.NoError(t, c.Commit(context.Background()))
	requireNoDuplicates(t, e.rows(), 10)
	require.Equal(t, map[int32]int64{0: 10}, e.offsets().Topics["events"].Next)
}

// Another writer changes the partition spec between a batch's write ahead
// and its commit: the file keeps the spec it was written with (still in the
// table's metadata), the rest is written with the new one, and every row
// lands once.
func TestWriteAheadSurvivesASpecChange(t *testing.T) {
	e := newProtoEnv(t)
	c := e.aheadCommitter("a")
	full := e.fullBatch(c, 0, 1, 0, 10)
	c.Submit(full)
	aheadOf(t, c, full)

	txn := e.reload().NewTransaction()
	require.NoError(t, txn.UpdateSpec(true).AddField("n", iceberg.BucketTransform{NumBuckets: 4}, "n_bucket").Commit())
	_, err := txn.Commit(context.Background())
	require.NoError(t, err)
	spec := e.reload().Spec()
	require.Equal(t, 1, spec.ID(), "the spec changed under the committer")

	c.Submit(e.batch(c, 0, 1, 10, 15))
	require.NoError(t, c.Commit(context.Background()))
	requireNoDuplicates(t, e.rows(), 15)
	require.Equal(t, map[int32]int64{0: 15}, e.offsets().Topics["events"].Next)
	tbl := e.reload()
	mans, err := tbl.CurrentSnapshot().Manifests(mustFS(t, tbl))
	require.NoError(t, err)
	specs := map[int32]bool{}
	for _, m := range mans {
		specs[m.PartitionSpecID()] = true
	}
	require.Equal(t, map[int32]bool{0: true, 1: true}, specs, "the file written ahead kept its spec; the rest has the new one")
}
