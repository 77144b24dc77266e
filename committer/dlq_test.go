package committer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/internal/promtest"
	"github.com/floe-dev/floe/offsets"
)

var dlqIdent = table.Identifier{"db", "events_dlq"}

// tableLetters selects db.events's letters written to its dead-letter table
// in floe_committer_dead_letters_total.
var tableLetters = map[string]string{"table": "db.events", "destination": "table"}

// withDLQ gives the environment's table a dead-letter table.
func (e *protoEnv) withDLQ() {
	e.t.Helper()
	e.tc.DLQ.Table = "db.events_dlq"
	dtc := DLQTableConfig(e.tc)
	dtc.Properties = e.tc.Properties
	_, created, err := LoadOrCreateTable(context.Background(), e.cat.Catalog, dtc, nil)
	require.NoError(e.t, err)
	require.True(e.t, created)
}

func (e *protoEnv) dlqCommitter(instance string) *Committer {
	e.t.Helper()
	c := e.committer(instance)
	tbl, err := e.cat.LoadTable(context.Background(), dlqIdent)
	require.NoError(e.t, err)
	c2, err := New(c.cfg, e.tc, Deps{
		Catalog: e.cat, Table: c.deps.Table, DLQ: tbl, Group: protoGroup, Identity: c.deps.Identity,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), e.reg)
	require.NoError(e.t, err)
	c2.SetSource(offsets.Source{ClusterID: "cluster-A", TopicIDs: map[string]string{"events": "topic-1"}})
	return c2
}

// letterBatch is batch with the offsets in bad turned into dead letters.
func (e *protoEnv) letterBatch(c *Committer, p int32, gen uint64, start, end int64, bad ...int64) *batcher.Batch {
	e.t.Helper()
	sc, err := c.ArrowSchema()
	require.NoError(e.t, err)
	buf := batcher.NewBuffer("events", p, gen, start, sc, memory.NewGoAllocator(), batcher.DefaultPolicy())
	now := time.Unix(1_700_000_000, 0)
	isBad := map[int64]bool{}
	for _, o := range bad {
		isBad[o] = true
	}
	for o := start; o < end; o++ {
		if isBad[o] {
			v := []byte(fmt.Sprintf(`{"id": %d`, o))
			_, err := buf.AddLetter(batcher.DeadLetter{
				Offset: o, Timestamp: now, Key: []byte("k"), Value: v, ValueSize: len(v),
				Headers: []batcher.Header{{Key: "h", Value: []byte("1")}, {Key: "null"}},
				Reason:  "malformed_json", Error: fmt.Sprintf("decode events[%d]@%d: malformed_json", p, o),
			}, len(v), now)
			require.NoError(e.t, err)
			continue
		}
		rb := buf.Builder()
		rb.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("%d/%d", p, o))
		rb.Field(1).(*array.Int64Builder).Append(o)
		_, err := buf.Add(o, now, 10, true, now)
		require.NoError(e.t, err)
	}
	b := buf.Seal(batcher.ReasonRecords)
	b.FromTable = true
	return b
}

// letters scans the dead-letter table: "p/offset" → occurrences, and the
// rows as maps for a closer look.
func (e *protoEnv) letters() (map[string]int, []map[string]any) {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), dlqIdent)
	require.NoError(e.t, err)
	count := map[string]int{}
	var rows []map[string]any
	if tbl.CurrentSnapshot() == nil {
		return count, rows
	}
	_, recs, err := tbl.Scan().ToArrowRecords(context.Background())
	require.NoError(e.t, err)
	for rec, err := range recs {
		require.NoError(e.t, err)
		for i := 0; i < int(rec.NumRows()); i++ {
			row := map[string]any{}
			for j, f := range rec.Schema().Fields() {
				row[f.Name] = rec.Column(j).GetOneForMarshal(i)
			}
			rows = append(rows, row)
			count[fmt.Sprintf("%v/%v", row[dlqPartition], row[dlqOffset])]++
		}
		rec.Release()
	}
	return count, rows
}

func (e *protoEnv) dlqProgress() offsets.Map {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), dlqIdent)
	require.NoError(e.t, err)
	key := offsets.DeadLettersKey(protoGroup, e.tc.Name)
	m, snap, err := offsets.ReadKey(tbl.Metadata(), table.MainBranch, key)
	require.NoError(e.t, err)
	if snap != nil { // the progress's tag names the snapshot that holds it
		found := false
		for name, r := range tbl.Metadata().Refs() {
			if name == offsets.Tag(key, "") {
				found = true
				require.Equal(e.t, snap.SnapshotID, r.SnapshotID)
			}
		}
		require.True(e.t, found, "dead-letter progress is tagged")
	}
	return m
}

func TestDeadLettersLandWithTheirOffsets(t *testing.T) {
	e := newProtoEnv(t)
	e.withDLQ()
	c := e.dlqCommitter("a")
	c.Submit(e.letterBatch(c, 0, 1, 0, 10, 3, 7))
	c.Submit(e.letterBatch(c, 1, 1, 0, 4))
	require.NoError(t, c.Commit(context.Background()))

	requireNoDuplicates(t, e.rows(), 12)
	letters, rows := e.letters()
	require.Equal(t, map[string]int{"0/3": 1, "0/7": 1}, letters)
	require.Equal(t, map[int32]int64{0: 10, 1: 4}, e.offsets().Topics["events"].Next)
	require.Equal(t, map[int32]int64{0: 10}, e.dlqProgress().Topics["events"].Next,
		"the dead-letter table records how far its letters go, for the partitions that had some")
	require.Equal(t, "topic-1", e.dlqProgress().Topics["events"].TopicID)

	r := rows[0]
	require.Equal(t, "db.events", r[dlqTable])
	require.Equal(t, "events", r[dlqTopic])
	require.Equal(t, "malformed_json", r[dlqReason])
	require.Contains(t, r[dlqError], "decode events[0]@")
	require.Equal(t, false, r[dlqTruncated])
	require.Equal(t, "t", r[dlqVersion])
	require.NotNil(t, r[dlqLetteredAt])
	require.NotNil(t, r[dlqTimestamp])
	require.Equal(t, []byte("k"), r[dlqKey])
	require.Contains(t, string(r[dlqValue].([]byte)), `{"id": `)
	require.JSONEq(t, `[{"key":"h","value":"MQ=="},{"key":"null","value":null}]`, fmt.Sprintf("%s", r[dlqHeaders]))
	require.Equal(t, 2.0, promtest.Value(t, e.reg, "floe_committer_dead_letters_total", tableLetters))
}

// A run that committed its letters and crashed before its table commit: the
// restarted run reads the same records again and must not write the letters
// a second time. In a synctest bubble, the 300 ms commit.timeout is fake
// time: it runs out in backoff, never before the letters' commit lands.
func TestDeadLettersNotWrittenTwiceAfterACrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t)
		e.withDLQ()
		first := e.dlqCommitter("first")
		first.cfg.CommitTimeout = 300 * time.Millisecond
		first.Submit(e.letterBatch(first, 0, 1, 0, 10, 2, 5))
		e.cat.SetBefore(func(n int) error {
			if n >= 2 { // the letters' commit (call 1) lands; the table's never does
				return fmt.Errorf("dial tcp: connection refused")
			}
			return nil
		})
		require.ErrorIs(t, first.Commit(context.Background()), ErrCommitTimeout)
		letters, _ := e.letters()
		require.Equal(t, map[string]int{"0/2": 1, "0/5": 1}, letters)
		require.Empty(t, e.offsets().Topics, "the table's commit never landed")

		// Restart: the table's offsets say 0, so the same range is read again.
		e.cat.SetBefore(nil)
		second := e.dlqCommitter("second")
		written := promtest.Value(t, e.reg, "floe_committer_dead_letters_total", tableLetters) // the metric is the table's, shared by both
		second.Submit(e.letterBatch(second, 0, 1, 0, 10, 2, 5))
		require.NoError(t, second.Commit(context.Background()))
		letters, _ = e.letters()
		require.Equal(t, map[string]int{"0/2": 1, "0/5": 1}, letters, "no letter twice")
		requireNoDuplicates(t, e.rows(), 8)
		require.Equal(t, map[int32]int64{0: 10}, e.offsets().Topics["events"].Next)
		require.Equal(t, written, promtest.Value(t, e.reg, "floe_committer_dead_letters_total", tableLetters), "the restarted run wrote no letter")
	})
}

// A zombie wrote the letters of part of a range before the partition's new
// owner got to it: the owner writes only the rest, and the progress never
// goes backwards. (synctest: the zombie's commit.timeout is fake time.)
func TestDeadLettersOverlappingRangesLandOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t)
		e.withDLQ()
		zombie, owner := e.dlqCommitter("zombie"), e.dlqCommitter("owner")
		zombie.cfg.CommitTimeout = 300 * time.Millisecond
		zombie.Submit(e.letterBatch(zombie, 0, 1, 0, 6, 3))
		e.cat.SetBefore(func(n int) error {
			if n >= 2 {
				return fmt.Errorf("frozen")
			}
			return nil
		})
		require.ErrorIs(t, zombie.Commit(context.Background()), ErrCommitTimeout)
		e.cat.SetBefore(nil)
		require.Equal(t, map[int32]int64{0: 6}, e.dlqProgress().Topics["events"].Next)

		written := promtest.Value(t, e.reg, "floe_committer_dead_letters_total", tableLetters)
		owner.Submit(e.letterBatch(owner, 0, 3, 0, 10, 3, 8))
		require.NoError(t, owner.Commit(context.Background()))
		letters, _ := e.letters()
		require.Equal(t, map[string]int{"0/3": 1, "0/8": 1}, letters)
		require.Equal(t, written+1, promtest.Value(t, e.reg, "floe_committer_dead_letters_total", tableLetters), "only the letter past the zombie's range")
		require.Equal(t, map[int32]int64{0: 10}, e.dlqProgress().Topics["events"].Next)

		// The zombie wakes up: its table commit is fenced and writes nothing.
		require.NoError(t, zombie.Commit(context.Background()))
		letters, _ = e.letters()
		require.Equal(t, map[string]int{"0/3": 1, "0/8": 1}, letters)
		requireNoDuplicates(t, e.rows(), 8)
		require.Equal(t, map[int32]int64{0: 10}, e.dlqProgress().Topics["events"].Next, "progress only grows")
	})
}

func TestDeadLettersLostResponseLandsOnce(t *testing.T) {
	e := newProtoEnv(t)
	e.withDLQ()
	c := e.dlqCommitter("a")
	c.Submit(e.letterBatch(c, 0, 1, 0, 5, 1))
	e.cat.SetAfter(func(n int, err error) error {
		if n == 1 && err == nil {
			return errors.New("read: connection reset by peer") // the letters landed; the answer is lost
		}
		return nil
	})
	require.NoError(t, c.Commit(context.Background()))
	letters, _ := e.letters()
	require.Equal(t, map[string]int{"0/1": 1}, letters)
	requireNoDuplicates(t, e.rows(), 4)
	require.Equal(t, 2, e.cat.Calls(), "one letters' commit, one table commit: nothing sent twice")
}

// Batches whose every record is a dead letter: the letters land, then their
// offsets in a snapshot that adds no file.
func TestDeadLettersOnlyBatch(t *testing.T) {
	e := newProtoEnv(t)
	e.withDLQ()
	c := e.dlqCommitter("a")
	c.Submit(e.letterBatch(c, 0, 1, 0, 3, 0, 1, 2))
	require.NoError(t, c.Commit(context.Background()))
	letters, _ := e.letters()
	require.Len(t, letters, 3)
	require.Equal(t, map[int32]int64{0: 3}, e.offsets().Topics["events"].Next)

	c.Submit(e.letterBatch(c, 0, 1, 3, 5))
	require.NoError(t, c.Commit(context.Background()))
	require.Equal(t, map[int32]int64{0: 5}, e.offsets().Topics["events"].Next)
	letters, _ = e.letters()
	require.Len(t, letters, 3)
	requireNoDuplicates(t, e.rows(), 2)
}

func TestDeadLettersWithoutATable(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	c.Submit(e.letterBatch(c, 0, 1, 0, 3, 1))
	err := c.Commit(context.Background())
	require.ErrorContains(t, err, "table db.events has dead letters but neither dlq.table nor dlq.topic")
	require.Empty(t, e.offsets().Topics, "nothing committed past a letter that has nowhere to go")
}

func TestCheckDLQSchema(t *testing.T) {
	good, err := BuildSchema(append(DLQColumns(), Column{Name: "extra", Type: "string"}))
	require.NoError(t, err)
	require.NoError(t, CheckDLQSchema("db.d", good), "an extra optional column is fine")

	cols := DLQColumns()
	cols[2].Type = "long" // source_partition
	cols = append(cols[:1], cols[2:]...)
	cols = append(cols, Column{Name: "must", Type: "string", Required: true})
	bad, err := BuildSchema(cols)
	require.NoError(t, err)
	err = CheckDLQSchema("db.d", bad)
	require.ErrorContains(t, err, `dead-letter table db.d cannot take floe's letters: column "source_topic" is missing; `+
		`column "source_partition" is long, floe writes int; column "must" is required but floe does not write it`)

	// New refuses such a table up front.
	e := newProtoEnv(t)
	_, err = e.cat.Catalog.CreateTable(context.Background(), table.Identifier{"db", "wrong_dlq"}, bad)
	require.NoError(t, err)
	wrong, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "wrong_dlq"})
	require.NoError(t, err)
	tc := e.tc
	tc.DLQ.Table = "db.wrong_dlq"
	_, err = New(DefaultConfig(), tc, Deps{Catalog: e.cat, Table: wrong, DLQ: wrong, Group: "g"},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	require.ErrorContains(t, err, "cannot take floe's letters")
}

func TestTooManyFilesIsRefused(t *testing.T) {
	e := newProtoEnv(t)
	tc := e.tc
	tc.Name = "db.by_id"
	tc.PartitionBy = []string{"id"}
	tc.MaxFilesPerCommit = 3
	tbl, _, err := LoadOrCreateTable(context.Background(), e.cat.Catalog, tc, nil)
	require.NoError(t, err)
	c, err := New(DefaultConfig(), tc, Deps{Catalog: e.cat, Table: tbl, Group: protoGroup},
		slog.New(slog.NewTextHandler(io.Discard, nil)), e.reg)
	require.NoError(t, err)
	c.Submit(e.batch(c, 0, 1, 0, 10)) // ten ids: ten identity partitions, ten files
	err = c.Commit(context.Background())
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "the commit would add 10 data files to db.by_id, over max-files-per-commit 3")
	require.NoError(t, testutil.GatherAndCompare(e.reg, strings.NewReader(`
# HELP floe_committer_refused_total Commits refused over a configured limit, by reason (too_many_files).
# TYPE floe_committer_refused_total counter
floe_committer_refused_total{reason="too_many_files",table="db.by_id"} 1
`), "floe_committer_refused_total"))

	tbl, err = e.cat.LoadTable(context.Background(), table.Identifier{"db", "by_id"})
	require.NoError(t, err)
	require.Nil(t, tbl.CurrentSnapshot(), "nothing committed")
	loc := strings.TrimPrefix(tbl.Location(), "file://")
	var parquet []string
	_ = filepath.WalkDir(loc, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") {
			parquet = append(parquet, p)
		}
		return nil
	})
	require.Empty(t, parquet, "the refused commit's files are deleted")
}
