package committer

// Dead letters. A table with on-error: dlq sends the records it cannot take
// to a dead-letter table, and they join the exactly-once accounting: every
// consumed offset ends up in exactly one of the table (as a row) or the
// dead-letter table (as a letter), across crashes, retries and zombies.
//
// The dead-letter table carries its own progress, like the table does:
// floe.dead-letters.<group>.<table> in its snapshot summary maps every
// partition to the end of the last range whose letters it holds. A commit
// of the table whose batches hold letters first commits those letters to
// the dead-letter table (pinned head, its own commit ID, the same
// unknown-outcome search), skipping letters below the stored end — someone
// (an earlier run that crashed before its table commit, or a zombie) put
// them there already — and only then commits the table. So:
//   - never neither: the table's offsets pass a letter only after the
//     letter's commit landed;
//   - never both: a letter is written only at or above the stored end, and
//     the end only grows (max), so each offset is written once even when a
//     crashed run or a zombie had written part of the range.
// Decoding is deterministic, so whoever writes a letter writes the same one.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/offsets"
	"github.com/floe-dev/floe/tablecommit"
)

// Dead-letter table columns.
const (
	dlqTable      = "target_table"
	dlqTopic      = "source_topic"
	dlqPartition  = "source_partition"
	dlqOffset     = "source_offset"
	dlqTimestamp  = "source_timestamp"
	dlqKey        = "key"
	dlqValue      = "value"
	dlqValueSize  = "value_size"
	dlqTruncated  = "value_truncated"
	dlqHeaders    = "headers"
	dlqReason     = "reason"
	dlqError      = "error"
	dlqVersion    = "floe_version"
	dlqLetteredAt = "dead_lettered_at"
)

// DLQColumns is the schema of a dead-letter table floe creates.
func DLQColumns() []Column {
	return []Column{
		{Name: dlqTable, Type: "string", Required: true, Doc: "the table the record was meant for"},
		{Name: dlqTopic, Type: "string", Required: true},
		{Name: dlqPartition, Type: "int", Required: true},
		{Name: dlqOffset, Type: "long", Required: true},
		{Name: dlqTimestamp, Type: "timestamptz", Doc: "the Kafka record timestamp"},
		{Name: dlqKey, Type: "binary"},
		{Name: dlqValue, Type: "binary", Doc: "the record value, cut to dlq.max-value-bytes"},
		{Name: dlqValueSize, Type: "long", Required: true, Doc: "the full size of the record value"},
		{Name: dlqTruncated, Type: "boolean", Required: true},
		{Name: dlqHeaders, Type: "list", Element: &Column{Type: "struct", Required: true, Fields: []Column{
			{Name: "key", Type: "string", Required: true}, {Name: "value", Type: "binary"},
		}}},
		{Name: dlqReason, Type: "string", Required: true, Doc: "malformed_json, wrong_type, record_too_large, …"},
		{Name: dlqError, Type: "string", Required: true},
		{Name: dlqVersion, Type: "string"},
		{Name: dlqLetteredAt, Type: "timestamptz", Required: true},
	}
}

// DLQTableConfig is how floe creates (or loads) the dead-letter table of tc.
func DLQTableConfig(tc TableConfig) TableConfig {
	return TableConfig{
		Name: tc.DLQ.Table, Schema: DLQColumns(), PartitionBy: []string{"day(" + dlqLetteredAt + ")"},
		Owner: tc.Owner, CommitInterval: tc.CommitInterval, TargetFileSize: tc.TargetFileSize,
	}
}

// CheckDLQSchema reports whether floe can write letters to a table of
// schema sc: every column floe writes must be there with its type, and any
// other column must be optional.
func CheckDLQSchema(name string, sc *iceberg.Schema) error {
	want, err := BuildSchema(DLQColumns())
	if err != nil {
		return err
	}
	var problems []string
	for _, f := range want.Fields() {
		got, ok := sc.FindFieldByName(f.Name)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("column %q is missing", f.Name))
		case !sameShape(got.Type, f.Type):
			problems = append(problems, fmt.Sprintf("column %q is %s, floe writes %s", f.Name, got.Type, f.Type))
		}
	}
	for _, f := range sc.Fields() {
		if _, ok := want.FindFieldByName(f.Name); !ok && f.Required {
			problems = append(problems, fmt.Sprintf("column %q is required but floe does not write it", f.Name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("dead-letter table %s cannot take floe's letters: %s", name, strings.Join(problems, "; "))
	}
	return nil
}

// sameShape compares types ignoring field IDs.
func sameShape(a, b iceberg.Type) bool {
	switch a := a.(type) {
	case *iceberg.ListType:
		bl, ok := b.(*iceberg.ListType)
		return ok && sameShape(a.Element, bl.Element)
	case *iceberg.StructType:
		bs, ok := b.(*iceberg.StructType)
		if !ok || len(a.FieldList) != len(bs.FieldList) {
			return false
		}
		for i, f := range a.FieldList {
			if f.Name != bs.FieldList[i].Name || !sameShape(f.Type, bs.FieldList[i].Type) {
				return false
			}
		}
		return true
	default:
		return a.Equals(b)
	}
}

// dlqTarget is a committer's dead-letter table.
type dlqTarget struct {
	name  string
	ident table.Identifier
	tbl   *table.Table // guarded by Committer.mu
}

// dlqState is the dead-letter step of one attempt group.
type dlqState struct {
	commit  tablecommit.Commit // the letters' commit: its own ID, pinned head, unknown outcome
	done    bool               // the letters landed (or were all there already)
	data    staged             // the letters' data files
	letters int                // letters written or found in the dead-letter table
}

func lettersOf(bs []*batcher.Batch) int {
	n := 0
	for _, b := range bs {
		n += len(b.Letters)
	}
	return n
}

// deadLetter commits the letters of include to the dead-letter table (step
// c′ of the protocol, before the table's own commit), one attempt of its own
// commit per attempt of the table's. It returns nil once they are there; an
// error means retry (or, marked fatal, stop).
func (c *Committer) deadLetter(ctx context.Context, ag *attemptGroup, include []*batcher.Batch) error {
	st := &ag.dlq
	if st.done || lettersOf(include) == 0 {
		return nil
	}
	if c.dlq == nil {
		if c.deps.LetterTopic != nil {
			freeLetters(include) // in the topic already
			return nil
		}
		return tablecommit.Fatal(fmt.Errorf("table %s has dead letters but neither dlq.table nor dlq.topic", c.tc.Name))
	}
	if st.commit.ID == "" {
		st.commit = tablecommit.Commit{
			Target: c.target(c.loadDLQ, "", "commit_dlq_table", func(err error) error {
				return c.catalogErrorFor("commit dead-letter table", c.dlq.name, err)
			}, offsets.DeadLettersKey(c.deps.Group, c.tc.Name)),
			ID: ag.id() + "-dlq",
		}
	}
	var written int
	res, err := st.commit.Once(ctx, func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
		n, err := c.stageLetters(ctx, ag, include, tbl, txn)
		written = n
		return err
	})
	switch {
	case err != nil:
		return err
	case res.Resolved:
		c.dlqLanded(ag, include, res.Snapshot, -1, outcomeLandedAfterUnknown)
	case res.Snapshot != nil:
		c.setDLQTable(res.Table)
		c.dlqLanded(ag, include, res.Snapshot, written, outcomeCommitted)
	}
	return nil
}

// stageLetters is the dead-letter commit's stage: the letters of include at
// or above the dead-letter table's stored progress, with the progress
// raised to the end of their batches. It returns how many letters it staged.
func (c *Committer) stageLetters(ctx context.Context, ag *attemptGroup, include []*batcher.Batch, tbl *table.Table, txn *table.Transaction) (int, error) {
	st := &ag.dlq
	key := offsets.DeadLettersKey(c.deps.Group, c.tc.Name)
	stored, _, err := offsets.ReadKey(tbl.Metadata(), table.MainBranch, key)
	if err != nil {
		return 0, tablecommit.Fatal(fmt.Errorf("dead-letter table %s: %w", c.dlq.name, err))
	}
	if stored, err = c.checkSource(stored); err != nil {
		return 0, tablecommit.Fatal(fmt.Errorf("dead-letter table %s: %w", c.dlq.name, err))
	}
	c.mu.Lock()
	src := c.source
	c.mu.Unlock()
	next := stored.Clone()
	if src.ClusterID != "" {
		next.ClusterID = src.ClusterID
	}
	var (
		letters []letterOf
		already int
	)
	for _, b := range include {
		if len(b.Letters) == 0 {
			continue
		}
		end, ok := stored.Get(b.Topic, b.Partition)
		for i := range b.Letters {
			if ok && b.Letters[i].Offset < end {
				already++
				continue
			}
			letters = append(letters, letterOf{b, &b.Letters[i]})
		}
		if !ok || b.End > end {
			next.Set(b.Topic, src.TopicIDs[b.Topic], b.Partition, b.End)
		}
	}
	if len(letters) == 0 {
		// An earlier run (or the partition's other owner) wrote them all.
		c.log.Info("dead letters already in the dead-letter table", "dlq_table", c.dlq.name, "letters", already)
		c.dlqLanded(ag, include, nil, already, "")
		return 0, tablecommit.ErrNothing
	}
	if fkey := lettersKey(letters); st.data.key != fkey {
		st.data.abandon(st.commit.Unknown())
		files, err := c.writeLetters(ctx, tbl, letters)
		if err != nil {
			return 0, err
		}
		st.data.files, st.data.key = files, fkey
	}
	props := offsets.Summary{
		CommitID: st.commit.ID, Writer: c.deps.Identity, Offsets: map[string]offsets.Map{key: next}, Ranges: rangesOf(include),
	}.Properties()
	if err := txn.AddDataFiles(ctx, st.data.files, props, table.WithoutDuplicateCheck()); err != nil {
		return 0, catalog.StorageError("stage data files of dead letters", err)
	}
	return len(letters), nil
}

// LetterWriter writes dead letters to a Kafka topic exactly once: letters
// below the topic's recorded progress for their partition are skipped. It
// returns how many it wrote; an error means none of this write is visible.
type LetterWriter interface {
	Topic() string
	Write(ctx context.Context, batches []batcher.Letters) (int, error)
}

// deadLetterTopic writes the letters of include to the dead-letter topic,
// before the dead-letter table and the table's commit.
func (c *Committer) deadLetterTopic(ctx context.Context, ag *attemptGroup, include []*batcher.Batch) error {
	w := c.deps.LetterTopic
	if w == nil || ag.dlqTopicDone || lettersOf(include) == 0 {
		return nil
	}
	var batches []batcher.Letters
	for _, b := range include {
		if len(b.Letters) > 0 {
			batches = append(batches, batcher.Letters{Topic: b.Topic, Partition: b.Partition, End: b.End, Letters: b.Letters})
		}
	}
	n, err := w.Write(ctx, batches)
	if err != nil {
		return fmt.Errorf("write dead letters to topic %s: %w", w.Topic(), err)
	}
	ag.dlqTopicDone = true
	c.m.deadLettersTopic.Add(float64(n))
	c.log.Info("dead letters written to topic", "dlq_topic", w.Topic(), "commit_id", ag.id(),
		"letters", n, "already_there", lettersOf(include)-n)
	if ag.dlq.letters == 0 {
		ag.dlq.letters = lettersOf(include)
	}
	return nil
}

func freeLetters(include []*batcher.Batch) {
	for _, b := range include {
		b.Letters = nil
	}
}

// dlqLanded records that the letters of include are in the dead-letter
// table: written now (n letters, snap), or found there (snap nil). The
// letters' memory is freed; the batches' offsets commit next.
func (c *Committer) dlqLanded(ag *attemptGroup, include []*batcher.Batch, snap *table.Snapshot, n int, outcome string) {
	st := &ag.dlq
	st.done = true
	if n >= 0 {
		st.letters = n
	}
	reasons := map[string]int{}
	for _, b := range include {
		for _, l := range b.Letters {
			reasons[l.Reason]++
		}
		b.Letters = nil
	}
	if snap != nil {
		if n < 0 {
			n = 0
			for _, k := range reasons {
				n += k
			}
			st.letters = n
		}
		c.m.deadLetters.Add(float64(n))
		c.log.Info("dead letters committed", "dlq_table", c.dlq.name, "outcome", outcome,
			"snapshot_id", snap.SnapshotID, "commit_id", st.commit.ID, "letters", n, "reasons", reasons,
			"files", len(st.data.files))
	}
	st.data.landed()
	c.removeFiles(c.dlqTable(), st.data.orphans)
	st.data.orphans = nil
}

func (c *Committer) setDLQTable(tbl *table.Table) {
	c.mu.Lock()
	c.dlq.tbl = tbl
	c.mu.Unlock()
}

func (c *Committer) dlqTable() *table.Table {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dlq.tbl
}

func (c *Committer) loadDLQ(ctx context.Context) (*table.Table, error) {
	start := time.Now()
	tbl, err := c.deps.Catalog.LoadTable(ctx, c.dlq.ident)
	c.m.catalogDuration.WithLabelValues("load_dlq_table", status(err)).Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, catalog.LoadFailed(c.catalogErrorFor("load dead-letter table", c.dlq.name, err))
	}
	c.mu.Lock()
	c.dlq.tbl = tbl
	c.mu.Unlock()
	return tbl, nil
}

type letterOf struct {
	b *batcher.Batch
	l *batcher.DeadLetter
}

func lettersKey(ls []letterOf) string {
	var sb strings.Builder
	for _, x := range ls {
		fmt.Fprintf(&sb, "%s/%d/%d;", x.b.Topic, x.b.Partition, x.l.Offset)
	}
	return sb.String()
}

// writeLetters writes letters as Parquet data files of the dead-letter
// table.
func (c *Committer) writeLetters(ctx context.Context, tbl *table.Table, letters []letterOf) ([]iceberg.DataFile, error) {
	sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
	if err != nil {
		return nil, fmt.Errorf("dead-letter table %s: arrow schema: %w", c.dlq.name, err)
	}
	rec, err := buildLetters(sc, c.tc.Name, c.deps.Identity.Version, time.Now(), letters)
	if err != nil {
		return nil, fmt.Errorf("dead-letter table %s: %w", c.dlq.name, err)
	}
	defer rec.Release()
	records := func(yield func(arrow.RecordBatch, error) bool) {
		rec.Retain()
		yield(rec, nil)
	}
	var files []iceberg.DataFile
	for df, err := range table.WriteRecords(ctx, tbl, sc, records) {
		if err != nil {
			c.removeFiles(tbl, filePaths(files))
			return nil, catalog.StorageError("write data files of dead letters", err)
		}
		files = append(files, df)
	}
	return files, nil
}

// buildLetters turns letters into one Arrow record of schema sc (the
// dead-letter table's): floe's columns are filled, any other column is null.
func buildLetters(sc *arrow.Schema, target, version string, now time.Time, letters []letterOf) (arrow.RecordBatch, error) {
	sort.SliceStable(letters, func(i, j int) bool {
		a, b := letters[i], letters[j]
		if a.b.Topic != b.b.Topic {
			return a.b.Topic < b.b.Topic
		}
		if a.b.Partition != b.b.Partition {
			return a.b.Partition < b.b.Partition
		}
		return a.l.Offset < b.l.Offset
	})
	rb := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer rb.Release()
	for i, f := range sc.Fields() {
		fb := rb.Field(i)
		for _, x := range letters {
			if err := appendLetterField(fb, f.Name, target, version, now, x); err != nil {
				return nil, fmt.Errorf("column %q: %w", f.Name, err)
			}
		}
	}
	return rb.NewRecordBatch(), nil
}

func appendLetterField(fb array.Builder, name, target, version string, now time.Time, x letterOf) error {
	l := x.l
	ts := func(t time.Time) error {
		b, ok := fb.(*array.TimestampBuilder)
		if !ok {
			return fmt.Errorf("want a timestamp column, got %s", fb.Type())
		}
		if t.IsZero() {
			b.AppendNull()
			return nil
		}
		b.Append(arrow.Timestamp(t.UnixMicro()))
		return nil
	}
	str := func(s string) error {
		b, ok := fb.(*array.StringBuilder)
		if !ok {
			return fmt.Errorf("want a string column, got %s", fb.Type())
		}
		b.Append(s)
		return nil
	}
	bin := func(v []byte) error {
		b, ok := fb.(*array.BinaryBuilder)
		if !ok {
			return fmt.Errorf("want a binary column, got %s", fb.Type())
		}
		if v == nil {
			b.AppendNull()
		} else {
			b.Append(v)
		}
		return nil
	}
	switch name {
	case dlqTable:
		return str(target)
	case dlqTopic:
		return str(x.b.Topic)
	case dlqPartition:
		b, ok := fb.(*array.Int32Builder)
		if !ok {
			return fmt.Errorf("want an int column, got %s", fb.Type())
		}
		b.Append(x.b.Partition)
	case dlqOffset, dlqValueSize:
		b, ok := fb.(*array.Int64Builder)
		if !ok {
			return fmt.Errorf("want a long column, got %s", fb.Type())
		}
		if name == dlqOffset {
			b.Append(l.Offset)
		} else {
			b.Append(int64(l.ValueSize))
		}
	case dlqTimestamp:
		return ts(l.Timestamp)
	case dlqLetteredAt:
		return ts(now)
	case dlqKey:
		return bin(l.Key)
	case dlqValue:
		return bin(l.Value)
	case dlqTruncated:
		b, ok := fb.(*array.BooleanBuilder)
		if !ok {
			return fmt.Errorf("want a boolean column, got %s", fb.Type())
		}
		b.Append(l.Truncated())
	case dlqReason:
		return str(l.Reason)
	case dlqError:
		return str(l.Error)
	case dlqVersion:
		return str(version)
	case dlqHeaders:
		b, ok := fb.(*array.ListBuilder)
		if !ok {
			return fmt.Errorf("want a list column, got %s", fb.Type())
		}
		sb, ok := b.ValueBuilder().(*array.StructBuilder)
		if !ok || sb.NumField() != 2 {
			return fmt.Errorf("want list<struct<key, value>>, got %s", fb.Type())
		}
		kb, kok := sb.FieldBuilder(0).(*array.StringBuilder)
		vb, vok := sb.FieldBuilder(1).(*array.BinaryBuilder)
		if !kok || !vok {
			return fmt.Errorf("want list<struct<key: string, value: binary>>, got %s", fb.Type())
		}
		b.Append(true)
		for _, h := range l.Headers {
			sb.Append(true)
			kb.Append(h.Key)
			if h.Value == nil {
				vb.AppendNull()
			} else {
				vb.Append(h.Value)
			}
		}
	default:
		fb.AppendNull()
	}
	return nil
}

// LetterRows appends dead letters as rows of a dead-letter table. A topic
// routed by content (tables[].route-by) has records no table takes (no
// route value, or one outside the allow-list): they reach the dead-letter
// table as its rows, through a committer of its own with the offsets they
// account for, exactly once like any table's rows. Target is what their
// target_table says (the router's name, e.g. "events.{route}").
type LetterRows struct{ Target, Version string }

// AppendLetter appends l, a record of topic's partition, as one row of rb
// (the dead-letter table's columns; any other column is null).
func (r LetterRows) AppendLetter(rb *array.RecordBuilder, topic string, partition int32, l *batcher.DeadLetter) error {
	x := letterOf{&batcher.Batch{Topic: topic, Partition: partition}, l}
	now := time.Now()
	for i, f := range rb.Schema().Fields() {
		if err := appendLetterField(rb.Field(i), f.Name, r.Target, r.Version, now, x); err != nil {
			return fmt.Errorf("dead-letter table column %q: %w", f.Name, err)
		}
	}
	return nil
}
