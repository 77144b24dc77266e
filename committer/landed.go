package committer

import (
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/floe-dev/floe/batcher"
)

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

// observeFreshness adds every record of the landed batches to
// floe_table_freshness_seconds, at landedAt minus its timestamp: one weighted
// observation per run of a batch's timestamp distribution (batcher.Stamps),
// not one per record. A timestamp after landedAt (clock skew between the
// producer or broker and floe) counts as fresh: 0 s.
func (c *Committer) observeFreshness(landedAt time.Time, include []*batcher.Batch) {
	for _, b := range include {
		b.Stamps.Each(func(at time.Time, n int) {
			c.m.freshness.ObserveN(max(landedAt.Sub(at).Seconds(), 0), uint64(n))
		})
	}
}

// logRanges is how many ranges a commit's log line lists; the table's
// floe.ranges (floe commits) has them all. At 1,000 partitions every range
// would make a 56 KB line per commit.
const logRanges = 32

// finish records a landed (or landed-after-unknown) commit: evidence in the
// log and metrics, memory released, every batch finished as committed.
func (c *Committer) finish(ag *attemptGroup, tbl *table.Table, snap *table.Snapshot, include []*batcher.Batch, outcome string) {
	var (
		records, skipped int
		bytes            int64
		ranges           = rangesOf(include)
	)
	for _, b := range include {
		records += b.Records
		skipped += b.Skipped
		bytes += b.Bytes
	}
	rows := rowsOf(include)
	var fileBytes int64
	for _, f := range ag.data.files {
		fileBytes += f.FileSizeBytes()
	}
	landedAt := time.Now()
	dur := landedAt.Sub(ag.started)

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
	c.m.files.Add(float64(len(ag.data.files)))
	c.m.lastCommit.SetToCurrentTime()
	requests := ag.requests.Catalog()
	if requests > 0 { // a SQL catalog makes no HTTP requests
		c.m.requestsPerCommit.Observe(float64(requests))
	}
	objects := ag.requests.Objects()
	if objects > 0 { // a file:// warehouse makes none
		c.m.objectsPerCommit.Observe(float64(objects))
	}
	if !c.deps.Replay {
		c.observeFreshness(landedAt, include)
	}
	if wm := c.watermarkAfter(nil); !wm.IsZero() {
		c.m.watermark.Set(float64(wm.UnixMilli()) / 1000)
	}
	var snapID int64
	if snap != nil {
		snapID = snap.SnapshotID
	}
	logged := []any{"outcome", outcome, "snapshot_id", snapID, "commit_id", ag.id(),
		"offsets", ranges[:min(len(ranges), logRanges)], "partitions", len(ranges)}
	if len(ranges) > logRanges {
		logged = append(logged, "offsets_omitted", len(ranges)-logRanges)
	}
	c.log.Info("commit", append(logged, "records", records, "rows", rows, "skipped", skipped,
		"dead_letters", ag.dlq.letters, "files", len(ag.data.files), "file_bytes", fileBytes, "bytes", bytes,
		"attempts", ag.commit.Attempts, "catalog_requests", requests, "objectstore_requests", objects, "duration", dur.Round(time.Millisecond).String())...)

	// The files are referenced by the snapshot now (or, after an unknown
	// outcome, some of them may be): never delete them.
	files := len(ag.data.files)
	ag.data.landed()
	c.cleanup(ag)
	for _, b := range include {
		c.finishBatch(b, batcher.Outcome{Kind: batcher.Committed})
	}
	if c.deps.OnLanded != nil {
		c.deps.OnLanded(Landed{
			SnapshotID: snapID, CommitID: ag.id(), Outcome: outcome, Ranges: ranges,
			Records: records, Rows: rows, DeadLetters: ag.dlq.letters, Files: files,
		})
	}
}
