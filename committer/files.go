package committer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/catalog"

	// Parquet pages compress with a 1 MiB zstd window (see the package).
	_ "github.com/floe-dev/floe/internal/pqzstd"
)

// writeFiles writes the rows of batches as Parquet data files. A file holds
// rows of many partitions; that is how files stay large.
func (c *Committer) writeFiles(ctx context.Context, tbl *table.Table, batches []*batcher.Batch) ([]iceberg.DataFile, error) {
	if !slices.ContainsFunc(batches, holdsRows) {
		return nil, nil // every batch was written ahead
	}
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
			c.removeFiles(tbl, filePaths(files))
			return nil, catalog.StorageError("write data files", err)
		}
		files = append(files, df)
		c.m.fileBytes.Observe(float64(df.FileSizeBytes()))
	}
	c.m.writeDuration.Observe(time.Since(start).Seconds())
	return files, nil
}

// holdsRows reports whether b still holds its rows (not written ahead).
func holdsRows(b *batcher.Batch) bool { return b.Rows != nil }

// staged are the data files written for one commit of an attempt group
// (the table's, or the dead-letter table's).
type staged struct {
	files   []iceberg.DataFile
	ahead   int      // files[:ahead] belong to batches written ahead, not to this commit
	key     string   // what the files hold: the include set, the letters
	orphans []string // files of definitely failed attempts, to delete
}

// abandon forgets the files before new ones are written. Unless an attempt
// whose outcome is unknown could have referenced them, they are deleted
// later; otherwise they are left to an orphan sweep.
func (s *staged) abandon(unknown bool) {
	if !unknown {
		s.orphans = append(s.orphans, filePaths(s.files[s.ahead:])...)
	}
	s.files, s.ahead, s.key = nil, 0, ""
}

// landed forgets the files: a snapshot references them now (or, after an
// unknown outcome, may).
func (s *staged) landed() { s.files, s.ahead, s.key = nil, 0, "" }

// cleanup deletes the files of attempts that definitely failed, of the
// table's commit and of a dead-letter commit that did not land.
func (c *Committer) cleanup(ag *attemptGroup) {
	ag.data.abandon(ag.commit.Unknown())
	c.removeFiles(c.current(), ag.data.orphans)
	ag.data.orphans = nil
	if st := &ag.dlq; c.dlq != nil && !st.done {
		st.data.abandon(st.commit.Unknown())
		c.removeFiles(c.dlqTable(), st.data.orphans)
		st.data.orphans = nil
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

func filePaths(files []iceberg.DataFile) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.FilePath()
	}
	return out
}
