//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"
)

// readerResult is what one independent reader (PyIceberg or DuckDB) reports
// about the table; see e2e/readers/check.py.
type readerResult struct {
	Error     string `json:"error"`
	Traceback string `json:"traceback"`

	Method           string `json:"method"`       // DuckDB: attach | iceberg_scan
	AttachError      string `json:"attach_error"` // DuckDB: why ATTACH was not used
	MetadataLocation string `json:"metadata_location"`

	Rows            int                 `json:"rows"`
	DistinctIDs     int                 `json:"distinct_ids"`
	DuplicateCount  int                 `json:"duplicate_count"`
	Duplicates      [][]any             `json:"duplicates"`
	MissingCount    int                 `json:"missing_count"`
	Missing         []string            `json:"missing"`
	UnexpectedCount int                 `json:"unexpected_count"`
	Unexpected      []string            `json:"unexpected"`
	Partitions      map[string]coverage `json:"partitions"`
	// TopicPartitions replaces Partitions when the readers are given a
	// topic_column: coverage per topic, then partition.
	TopicPartitions map[string]map[string]coverage `json:"topic_partitions"`
	aggregates

	// DuckDB only: the table's snapshots, as iceberg_snapshots lists them.
	SnapshotIDs []int64 `json:"snapshot_ids"`

	// PyIceberg only: the snapshot summaries.
	CurrentSnapshotID int64          `json:"current_snapshot_id"`
	Offsets           *storedOffsets `json:"offsets"`
	// OffsetsTag is the snapshot floe's tag floe.offsets.<group> names,
	// whose summary Offsets come from.
	OffsetsTag *int64         `json:"offsets_tag"`
	Snapshots  []snapshotInfo `json:"snapshots"`
	// TimeTravel (asked for): each retained snapshot with the group's
	// offsets, read as of itself.
	TimeTravel []struct {
		SnapshotID      int64                          `json:"snapshot_id"`
		Offsets         *storedOffsets                 `json:"offsets"`
		Partitions      map[string]coverage            `json:"partitions"`
		TopicPartitions map[string]map[string]coverage `json:"topic_partitions"`
	} `json:"time_travel"`
	// Orphans (asked for): data files no retained snapshot references.
	Orphans []struct {
		Path  string  `json:"path"`
		Mtime float64 `json:"mtime"`
	} `json:"orphans"`
}

// coverage is what the table holds of one Kafka partition, from the
// _kafka_partition and _kafka_offset columns.
type coverage struct {
	Rows     int64 `json:"rows"`
	Distinct int64 `json:"distinct"`
	Min      int64 `json:"min"`
	Max      int64 `json:"max"`
}

// storedOffsets is the floe.offsets.<group> summary property.
type storedOffsets struct {
	ClusterID string `json:"cluster_id"`
	Topics    map[string]struct {
		TopicID    string           `json:"topic_id"`
		Partitions map[string]int64 `json:"partitions"`
		// Floors, kept by the tables a routed topic feeds: per partition,
		// the offset below which every record is in its table.
		Floors map[string]int64 `json:"floors"`
	} `json:"topics"`
}

type snapshotInfo struct {
	SnapshotID   int64  `json:"snapshot_id"`
	ParentID     *int64 `json:"parent_id"`
	Floe         bool   `json:"floe"`
	CommitID     string `json:"commit_id"`
	AddedRecords int64  `json:"added_records"`
	Operation    string `json:"operation"`
	TimestampMs  int64  `json:"timestamp_ms"`
	// Offsets is the snapshot's own floe.offsets.<group>, if it has one.
	Offsets *storedOffsets `json:"offsets"`
}

// readTable runs e2e/readers/check.py with the services' Python: PyIceberg
// and DuckDB read the table independently of floe and of each other.
func readTable(t testing.TB, s *services, catalog map[string]any, table, group string, ids []string) (py, duck readerResult) {
	t.Helper()
	return readTableWith(t, s, catalog, table, group, ids, nil)
}

// readTableWith is readTable with more of check.py's options (time_travel,
// orphans, topic_column) in extra.
func readTableWith(t testing.TB, s *services, catalog map[string]any, table, group string, ids []string, extra map[string]any) (py, duck readerResult) {
	t.Helper()
	req := readerRequest(catalog, group, extra)
	req["table"], req["expected_ids"] = table, ids
	out := runReaders(t, s, req)
	return out.PyIceberg, out.DuckDB
}

// readerPair is what both readers report about one table.
type readerPair struct {
	PyIceberg readerResult `json:"pyiceberg"`
	DuckDB    readerResult `json:"duckdb"`
}

// tableRead is one table for readTables, with the ids it must hold.
type tableRead struct {
	table string
	ids   []string
}

// readTables is readTableWith for several tables of one catalog and group
// in one run of check.py: each run starts Python and imports both readers
// (about a second), so a test of many tables reads them all at once.
func readTables(t testing.TB, s *services, catalog map[string]any, group string, reads []tableRead, extra map[string]any) []readerPair {
	t.Helper()
	req := readerRequest(catalog, group, extra)
	var tables []map[string]any
	for _, r := range reads {
		tables = append(tables, map[string]any{"table": r.table, "expected_ids": r.ids})
	}
	req["tables"] = tables
	out := runReaders(t, s, req)
	if len(out.Tables) != len(reads) {
		t.Fatalf("readers/check.py reported %d tables; asked for %d", len(out.Tables), len(reads))
	}
	return out.Tables
}

// readerRequest is check.py's request without its table: the catalog, the
// group whose offsets to read, the columns, and extra.
func readerRequest(catalog map[string]any, group string, extra map[string]any) map[string]any {
	req := map[string]any{
		"catalog":          catalog,
		"group":            group,
		"id_column":        "id",
		"partition_column": "_kafka_partition",
		"offset_column":    "_kafka_offset",
	}
	maps.Copy(req, extra)
	return req
}

// readerOutput is what check.py prints: both readers' reports on one table,
// or, asked for several, on each of them (tables).
type readerOutput struct {
	readerPair
	Tables []readerPair `json:"tables"`
}

// runReaders runs e2e/readers/check.py on req and logs what each reader saw.
func runReaders(t testing.TB, s *services, req map[string]any) readerOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Python, "readers/check.py")
	cmd.Stdin = bytes.NewReader(mustJSON(req))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("readers/check.py: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	var out readerOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("readers/check.py printed no JSON object: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	pairs, names := []readerPair{out.readerPair}, []any{req["table"]}
	if tables, several := req["tables"].([]map[string]any); several {
		pairs, names = out.Tables, nil
		for _, one := range tables {
			names = append(names, one["table"])
		}
	}
	t.Logf("readers took %v for %d table(s)", time.Since(start).Round(time.Millisecond), len(pairs))
	for i, p := range pairs {
		t.Logf("%v: pyiceberg: %d rows, %d snapshots; duckdb (%s): %d rows, %d snapshots", names[i],
			p.PyIceberg.Rows, len(p.PyIceberg.Snapshots), p.DuckDB.Method, p.DuckDB.Rows, len(p.DuckDB.SnapshotIDs))
		if p.DuckDB.AttachError != "" {
			t.Logf("duckdb could not ATTACH the REST catalog, read the metadata file instead: %s", p.DuckDB.AttachError)
		}
	}
	return out
}

// expectation is what an exactly-once table must show.
type expectation struct {
	topic     string
	ids       []string        // every produced id, each once
	first     int             // the first id's record number: ids are records first..first+len(ids)-1
	ends      map[int32]int64 // the topic's end offsets
	clusterID string          // Kafka's cluster ID
	topicID   string          // Kafka's topic ID
	// topics, if set, are the table's topics in place of topic, ends and
	// topicID: a table fed by several (a topics-pattern).
	topics  map[string]topicEnd
	commits []commitInfo // floe commits --json
	// maintained: table maintenance ran (expiry removed snapshots, manifest
	// rewrites and compactions added replace snapshots without floe keys);
	// the readers then also read every retained snapshot with the group's
	// offsets as of itself, and list the data files no snapshot references.
	maintained bool
	// headOnly: the catalog keeps only the head snapshot, and no tags, in a
	// table's metadata (Nessie: its own commit log holds the history), so
	// floe commits lists the head commit alone.
	headOnly bool
	// killedAt is the last SIGKILL: a data file no snapshot references must
	// be older (a killed writer's, for the sweep); the zero time allows none.
	killedAt time.Time
}

// topicEnd is what the table must hold of one topic: every offset up to
// the topic's end offsets, under the topic's Kafka ID.
type topicEnd struct {
	ends map[int32]int64
	id   string
}

// perTopic is the table's topics, one or several, with their ends and IDs.
func (w expectation) perTopic() map[string]topicEnd {
	if w.topics != nil {
		return w.topics
	}
	return map[string]topicEnd{w.topic: {ends: w.ends, id: w.topicID}}
}

// byTopic is a reader's offset coverage per topic and partition: as it
// read it through the topic column, or, without one, every row as the one
// topic's. A table of several topics needs the column: each topic has a
// partition 0.
func byTopic(want expectation, partitions map[string]coverage, topicPartitions map[string]map[string]coverage) (map[string]map[string]coverage, error) {
	if topicPartitions != nil {
		return topicPartitions, nil
	}
	topics := want.perTopic()
	if len(topics) != 1 {
		return nil, fmt.Errorf("coverage by partition alone cannot tell %d topics apart: read with a topic_column", len(topics))
	}
	out := map[string]map[string]coverage{}
	for topic := range topics {
		out[topic] = partitions
	}
	return out, nil
}

// requireExactlyOnce checks both readers' view against what was produced.
// Every difference is reported, not only the first.
func requireExactlyOnce(t testing.TB, want expectation, py, duck readerResult) {
	t.Helper()
	agg := aggregatesOf(want.first, len(want.ids))
	for _, r := range []struct {
		name string
		res  readerResult
	}{{"pyiceberg", py}, {"duckdb", duck}} {
		checkRows(t, r.name, r.res, want, agg)
	}
	if py.Error == "" {
		if py.OffsetsTag == nil && !want.headOnly {
			t.Errorf("the table has no tag floe.offsets.<group> naming the snapshot with the group's offsets")
		}
		checkOffsets(t, py.Offsets, want)
		checkSnapshots(t, py, want)
		if want.maintained {
			checkTimeTravel(t, py, want)
			checkOrphans(t, py, want)
		}
		if duck.Error == "" {
			sameSnapshots(t, py, duck)
		}
	}
	checkHistory(t, want)
	if t.Failed() {
		t.FailNow()
	}
}

// sameSnapshots: DuckDB sees the snapshots PyIceberg sees.
func sameSnapshots(t testing.TB, py, duck readerResult) {
	t.Helper()
	var ids []int64
	for _, s := range py.Snapshots {
		ids = append(ids, s.SnapshotID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, duck.SnapshotIDs) {
		t.Errorf("DuckDB sees snapshots %v; PyIceberg sees %v", duck.SnapshotIDs, ids)
	}
}

// checkRows: every produced id once, nothing else, the values intact, and
// every Kafka offset of every partition once.
func checkRows(t testing.TB, name string, r readerResult, want expectation, agg aggregates) {
	t.Helper()
	if !checkIDs(t, name, r, len(want.ids), agg) {
		return
	}
	covered, err := byTopic(want, r.Partitions, r.TopicPartitions)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	topics := want.perTopic()
	for topic, te := range topics {
		parts := covered[topic]
		for p, end := range te.ends {
			c, ok := parts[strconv.Itoa(int(p))]
			switch {
			case end == 0 && ok:
				t.Errorf("%s: partition %s/%d is empty in Kafka but has rows in the table: %+v", name, topic, p, c)
			case end > 0 && c != (coverage{Rows: end, Distinct: end, Min: 0, Max: end - 1}):
				t.Errorf("%s: partition %s/%d holds %+v; want offsets 0..%d each once", name, topic, p, c, end-1)
			}
		}
		for p := range parts {
			if i, err := strconv.Atoi(p); err != nil || !hasPartition(te.ends, int32(i)) {
				t.Errorf("%s: rows of partition %s/%s, which the topic does not have", name, topic, p)
			}
		}
	}
	for topic, parts := range covered {
		if _, ok := topics[topic]; !ok {
			t.Errorf("%s: rows of topic %s, which the table must not take: %v", name, topic, parts)
		}
	}
}

// checkIDs: the reader read the table, and found n rows, each of the
// expected ids once and no other, with the column aggregates agg. It
// reports false when the reader could not read the table.
func checkIDs(t testing.TB, name string, r readerResult, n int, agg aggregates) bool {
	t.Helper()
	if r.Error != "" {
		t.Errorf("%s could not read the table: %s\n%s", name, r.Error, r.Traceback)
		return false
	}
	if r.Rows != n || r.DistinctIDs != n {
		t.Errorf("%s: %d rows, %d distinct ids; produced %d", name, r.Rows, r.DistinctIDs, n)
	}
	if r.DuplicateCount != 0 {
		t.Errorf("%s: %d ids are duplicated, e.g. [id, count]: %v", name, r.DuplicateCount, r.Duplicates)
	}
	if r.MissingCount != 0 {
		t.Errorf("%s: %d produced ids are missing, e.g. %v", name, r.MissingCount, r.Missing)
	}
	if r.UnexpectedCount != 0 {
		t.Errorf("%s: %d ids were never produced, e.g. %v", name, r.UnexpectedCount, r.Unexpected)
	}
	if r.aggregates != agg {
		t.Errorf("%s: column aggregates differ\n got: %+v\nwant: %+v", name, r.aggregates, agg)
	}
	return true
}

func hasPartition(m map[int32]int64, p int32) bool {
	_, ok := m[p]
	return ok
}

// checkOffsets: the tagged snapshot's floe.offsets.<group> is each topic's
// end, for Kafka's cluster and topic IDs, and names no other topic.
func checkOffsets(t testing.TB, got *storedOffsets, want expectation) {
	t.Helper()
	if got == nil {
		t.Errorf("the snapshot floe's tag names (or the current one) has no floe.offsets key for the group")
		return
	}
	if got.ClusterID != want.clusterID {
		t.Errorf("stored cluster_id %q, Kafka's is %q", got.ClusterID, want.clusterID)
	}
	topics := want.perTopic()
	if !slices.Equal(keys(got.Topics), keys(topics)) {
		t.Errorf("stored offsets name topics %v, want only %v", keys(got.Topics), keys(topics))
	}
	for topic, te := range topics {
		st, ok := got.Topics[topic]
		if !ok {
			t.Errorf("stored offsets lack topic %s", topic)
			continue
		}
		if st.TopicID != te.id {
			t.Errorf("stored topic_id of %s %q, Kafka's is %q", topic, st.TopicID, te.id)
		}
		for p, end := range te.ends {
			next, ok := st.Partitions[strconv.Itoa(int(p))]
			if next != end || (!ok && end > 0) {
				t.Errorf("stored offset of partition %s/%d is %d (present %v); the topic ends at %d", topic, p, next, ok, end)
			}
		}
		for p := range st.Partitions {
			if i, err := strconv.Atoi(p); err != nil || !hasPartition(te.ends, int32(i)) {
				t.Errorf("stored offsets name partition %s/%s, which the topic does not have", topic, p)
			}
		}
	}
}

// checkSnapshots: every snapshot of the table is a floe commit, each logical
// commit landed once, and floe's own history lists exactly these snapshots.
func checkSnapshots(t testing.TB, py readerResult, want expectation) {
	t.Helper()
	var floeIDs []int64
	commitIDs := map[string]int64{}
	var added int64
	for _, s := range py.Snapshots {
		if !s.Floe && s.Operation == "replace" {
			continue // floe's maintenance (on by default): a compaction or a manifest rewrite
		}
		if !s.Floe {
			t.Errorf("snapshot %d (%s) carries no floe.offsets key, but only floe writes this table", s.SnapshotID, s.Operation)
			continue
		}
		floeIDs = append(floeIDs, s.SnapshotID)
		added += s.AddedRecords
		if s.CommitID == "" {
			t.Errorf("snapshot %d has no floe.commit-id", s.SnapshotID)
		} else if other, dup := commitIDs[s.CommitID]; dup {
			t.Errorf("commit %s landed twice: snapshots %d and %d", s.CommitID, other, s.SnapshotID)
		}
		commitIDs[s.CommitID] = s.SnapshotID
	}
	if (want.maintained || want.headOnly) && added <= int64(len(want.ids)) {
		// Expired (or never kept) snapshots took their added-records with them.
	} else if added != int64(len(want.ids)) {
		t.Errorf("the snapshots added %d records in all; produced %d", added, len(want.ids))
	}
	var listed []int64
	for _, c := range want.commits {
		listed = append(listed, c.SnapshotID)
	}
	slices.Sort(floeIDs)
	slices.Sort(listed)
	if !slices.Equal(floeIDs, listed) {
		t.Errorf("floe commits lists snapshots %v; PyIceberg sees floe snapshots %v", listed, floeIDs)
	}
	headIsMaintenance := false
	for _, s := range py.Snapshots {
		if s.SnapshotID == py.CurrentSnapshotID && !s.Floe && s.Operation == "replace" {
			headIsMaintenance = true // a compaction or manifest rewrite after the last commit
		}
	}
	if len(want.commits) > 0 && py.CurrentSnapshotID != want.commits[0].SnapshotID && !headIsMaintenance {
		t.Errorf("current snapshot %d, floe commits' newest is %d", py.CurrentSnapshotID, want.commits[0].SnapshotID)
	}
	if len(want.commits) > 0 && py.OffsetsTag != nil && *py.OffsetsTag != want.commits[0].SnapshotID {
		t.Errorf("floe's offsets tag names snapshot %d, floe commits' newest is %d", *py.OffsetsTag, want.commits[0].SnapshotID)
	}
}

// checkTimeTravel: every retained snapshot with the group's offsets holds,
// read as of itself, each partition's records from 0 to its offset there,
// once each — whatever compactions and expiries came after it.
func checkTimeTravel(t testing.TB, py readerResult, want expectation) {
	t.Helper()
	if len(py.TimeTravel) == 0 {
		t.Errorf("time travel: no retained snapshot carries the group's offsets")
	}
	for _, tt := range py.TimeTravel {
		if tt.Offsets == nil {
			t.Errorf("time travel to %d: no offsets", tt.SnapshotID)
			continue
		}
		covered, err := byTopic(want, tt.Partitions, tt.TopicPartitions)
		if err != nil {
			t.Errorf("time travel to %d: %v", tt.SnapshotID, err)
			continue
		}
		for topic := range want.perTopic() {
			next, parts := tt.Offsets.Topics[topic].Partitions, covered[topic]
			for p, cov := range parts {
				if _, ok := next[p]; !ok {
					t.Errorf("time travel to %d: partition %s/%s has %d rows but no offset", tt.SnapshotID, topic, p, cov.Rows)
				}
			}
			for p, n := range next {
				cov := parts[p]
				if n == 0 {
					continue
				}
				if cov.Rows != n || cov.Distinct != n || cov.Min != 0 || cov.Max != n-1 {
					t.Errorf("time travel to %d: partition %s/%s holds %+v; its offset there is %d", tt.SnapshotID, topic, p, cov, n)
				}
			}
		}
	}
	t.Logf("time travel: %d retained snapshots with offsets read as of themselves", len(py.TimeTravel))
}

// checkOrphans: no data file is left that no snapshot references, but
// those a SIGKILLed writer left (older than the kill: the sweep's).
func checkOrphans(t testing.TB, py readerResult, want expectation) {
	t.Helper()
	var killed int
	for _, o := range py.Orphans {
		at := time.Unix(0, int64(o.Mtime*1e9))
		if want.killedAt.IsZero() || at.After(want.killedAt) {
			t.Errorf("orphaned data file %s (written %s, after the last SIGKILL at %s)", o.Path,
				at.UTC().Format(time.RFC3339Nano), want.killedAt.UTC().Format(time.RFC3339Nano))
			continue
		}
		killed++
	}
	t.Logf("orphans: %d data files no snapshot references, each older than the last SIGKILL", killed)
}

// checkHistory: the ranges floe's commits added tile every partition of
// every topic from 0 to its end, without a gap or an overlap. When maintenance expired the
// older commits, the retained ones tile each partition from where the
// retained history starts to its end.
func checkHistory(t testing.TB, want expectation) {
	t.Helper()
	type span struct{ start, end int64 }
	type topicPartition struct {
		topic     string
		partition int32
	}
	topics := want.perTopic()
	spans := map[topicPartition][]span{}
	var records int64
	for _, c := range want.commits {
		records += c.Records
		for _, r := range c.Ranges {
			if _, ok := topics[r.Topic]; !ok {
				t.Errorf("commit %d covers topic %s", c.SnapshotID, r.Topic)
				continue
			}
			tp := topicPartition{r.Topic, r.Partition}
			spans[tp] = append(spans[tp], span{r.Start, r.End})
		}
	}
	if records != int64(len(want.ids)) && !((want.maintained || want.headOnly) && records < int64(len(want.ids))) {
		t.Errorf("floe commits added %d records in all; produced %d", records, len(want.ids))
	}
	for topic, te := range topics {
		for p, end := range te.ends {
			ss := spans[topicPartition{topic, p}]
			slices.SortFunc(ss, func(a, b span) int { return int(a.start - b.start) })
			var at int64
			if want.maintained || want.headOnly {
				if len(ss) == 0 {
					continue // no retained commit touched it; checkOffsets covers its end
				}
				at = ss[0].start
			}
			for _, s := range ss {
				if s.start != at || s.end <= s.start {
					t.Errorf("partition %s/%d: commit ranges %v do not tile [%d, %d)", topic, p, ss, ss[0].start, end)
					break
				}
				at = s.end
			}
			if at != end {
				t.Errorf("partition %s/%d: commit ranges reach %d; the topic ends at %d", topic, p, at, end)
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// describe is a short summary of a commit history for logs.
func describe(hist []commitInfo) string {
	return fmt.Sprintf("%d commits by %d writers", len(hist), len(writerInstances(hist)))
}

// writerInstances is the set of floe instances (floe.writer) that committed.
func writerInstances(hist []commitInfo) map[string]bool {
	out := map[string]bool{}
	for _, c := range hist {
		out[c.Writer.Instance] = true
	}
	return out
}
