package committer

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"sort"
	"strconv"

	"github.com/apache/iceberg-go/table"
)

// Snapshot summary keys floe writes on every commit. Offsets are stored per
// consumer group so two groups can feed one table without sharing positions.
const (
	SummaryOffsetsPrefix = "floe.offsets."
	SummaryCommitID      = "floe.commit-id"
	SummaryWriter        = "floe.writer"
	SummaryWatermark     = "floe.watermark"
	// SummaryRanges lists the offset ranges [start, end) the commit added.
	SummaryRanges = "floe.ranges"
)

// OffsetsKey is the summary key holding group's offsets.
func OffsetsKey(group string) string { return SummaryOffsetsPrefix + group }

// ErrOffsetsExpired is returned when the table has history but the walk from
// the current snapshot ran into an expired (missing) ancestor before finding
// the group's offsets. Guessing a position there would duplicate or skip rows.
var ErrOffsetsExpired = errors.New("the group's offsets are not in the table's retained snapshot history")

// OffsetMap is the value of floe.offsets.<group>: where the group stands in
// every partition it has ever committed to this table.
type OffsetMap struct {
	// ClusterID is the Kafka cluster the offsets belong to.
	ClusterID string `json:"cluster_id"`
	// Topics maps topic name to its ID and partition positions.
	Topics map[string]TopicOffsets `json:"topics"`
}

// TopicOffsets is one topic's part of an OffsetMap.
type TopicOffsets struct {
	// TopicID is Kafka's topic ID (base64 of the UUID, as Kafka prints it);
	// it changes when a topic is deleted and recreated under the same name.
	TopicID string `json:"topic_id"`
	// Next maps partition to the next offset to consume.
	Next map[int32]int64 `json:"partitions"`
}

// Get returns the next offset for a partition, and whether one is stored.
func (m OffsetMap) Get(topic string, partition int32) (int64, bool) {
	t, ok := m.Topics[topic]
	if !ok {
		return 0, false
	}
	o, ok := t.Next[partition]
	return o, ok
}

// Set stores the next offset for a partition, recording the topic's ID.
func (m *OffsetMap) Set(topic, topicID string, partition int32, next int64) {
	if m.Topics == nil {
		m.Topics = make(map[string]TopicOffsets)
	}
	t := m.Topics[topic]
	if t.Next == nil {
		t.Next = make(map[int32]int64)
	}
	if topicID != "" {
		t.TopicID = topicID
	}
	t.Next[partition] = next
	m.Topics[topic] = t
}

// Clone returns a deep copy.
func (m OffsetMap) Clone() OffsetMap {
	out := OffsetMap{ClusterID: m.ClusterID, Topics: make(map[string]TopicOffsets, len(m.Topics))}
	for name, t := range m.Topics {
		out.Topics[name] = TopicOffsets{TopicID: t.TopicID, Next: maps.Clone(t.Next)}
	}
	return out
}

// Empty reports whether no partition is stored.
func (m OffsetMap) Empty() bool {
	for _, t := range m.Topics {
		if len(t.Next) > 0 {
			return false
		}
	}
	return true
}

// Encode returns the JSON stored in the snapshot summary. Partition keys are
// written in numeric order so equal maps encode equally.
func (m OffsetMap) Encode() string {
	type topicJSON struct {
		TopicID string          `json:"topic_id"`
		Next    json.RawMessage `json:"partitions"`
	}
	out := struct {
		ClusterID string               `json:"cluster_id"`
		Topics    map[string]topicJSON `json:"topics"`
	}{ClusterID: m.ClusterID, Topics: make(map[string]topicJSON, len(m.Topics))}
	for name, t := range m.Topics {
		parts := make([]int32, 0, len(t.Next))
		for p := range t.Next {
			parts = append(parts, p)
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		buf := []byte{'{'}
		for i, p := range parts {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendQuote(buf, strconv.Itoa(int(p)))
			buf = append(buf, ':')
			buf = strconv.AppendInt(buf, t.Next[p], 10)
		}
		buf = append(buf, '}')
		out.Topics[name] = topicJSON{TopicID: t.TopicID, Next: buf}
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(err) // only strings and raw numbers: cannot fail
	}
	return string(b)
}

// DecodeOffsetMap parses the value of floe.offsets.<group>.
func DecodeOffsetMap(s string) (OffsetMap, error) {
	var m OffsetMap
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return OffsetMap{}, fmt.Errorf("decode offsets: %w", err)
	}
	for name, t := range m.Topics {
		for p, o := range t.Next {
			if p < 0 || o < 0 {
				return OffsetMap{}, fmt.Errorf("decode offsets: topic %q partition %d: negative value %d", name, p, o)
			}
		}
	}
	if m.Topics == nil {
		m.Topics = map[string]TopicOffsets{}
	}
	return m, nil
}

// Ancestry yields the current snapshot of meta and then its ancestors, newest
// first. The final value is (nil, false) when the walk stopped at a missing
// (expired) parent instead of at the root.
func Ancestry(meta table.Metadata) iter.Seq2[*table.Snapshot, bool] {
	return AncestryOf(meta, meta.CurrentSnapshot())
}

// BranchHead returns the snapshot a commit to branch builds on: the branch's
// head, or main's current snapshot when branch is "" or main, or when the
// branch does not exist yet (its first commit forks it from main's head).
func BranchHead(meta table.Metadata, branch string) *table.Snapshot {
	if branch != "" && branch != table.MainBranch {
		for name, ref := range meta.Refs() {
			if name == branch {
				return meta.SnapshotByID(ref.SnapshotID)
			}
		}
	}
	return meta.CurrentSnapshot()
}

// AncestryOf is [Ancestry] from snap instead of the current snapshot.
func AncestryOf(meta table.Metadata, snap *table.Snapshot) iter.Seq2[*table.Snapshot, bool] {
	return func(yield func(*table.Snapshot, bool) bool) {
		seen := map[int64]bool{}
		for snap != nil {
			if seen[snap.SnapshotID] {
				yield(nil, false) // a cycle: malformed metadata, treat as truncated
				return
			}
			seen[snap.SnapshotID] = true
			if !yield(snap, true) {
				return
			}
			if snap.ParentSnapshotID == nil {
				return
			}
			parent := meta.SnapshotByID(*snap.ParentSnapshotID)
			if parent == nil {
				yield(nil, false)
				return
			}
			snap = parent
		}
	}
}

// ReadOffsets walks from the current snapshot back to the newest one that
// carries the group's offsets and returns them with that snapshot. Snapshots
// from other writers (compaction, expiry, other engines) carry no key and are
// skipped. A table without that key anywhere in a complete history yields an
// empty map and a nil snapshot; a history cut short by expiry yields
// [ErrOffsetsExpired].
func ReadOffsets(meta table.Metadata, group string) (OffsetMap, *table.Snapshot, error) {
	return readOffsetsKey(meta, table.MainBranch, OffsetsKey(group))
}

// ReadBranchOffsets is [ReadOffsets] on branch: the walk starts at the
// branch's head (see [BranchHead]).
func ReadBranchOffsets(meta table.Metadata, group, branch string) (OffsetMap, *table.Snapshot, error) {
	return readOffsetsKey(meta, branch, OffsetsKey(group))
}

// readOffsetsKey is ReadBranchOffsets for any summary key holding an OffsetMap.
func readOffsetsKey(meta table.Metadata, branch, key string) (OffsetMap, *table.Snapshot, error) {
	return offsetsFrom(meta, BranchHead(meta, branch), key)
}

// offsetsFrom reads the OffsetMap under key as of snapshot from: the
// newest of from and its ancestors that carries it.
func offsetsFrom(meta table.Metadata, from *table.Snapshot, key string) (OffsetMap, *table.Snapshot, error) {
	for snap, ok := range AncestryOf(meta, from) {
		if !ok {
			return OffsetMap{}, nil, fmt.Errorf("read %s: %w", key, ErrOffsetsExpired)
		}
		if snap.Summary == nil {
			continue
		}
		if v, found := snap.Summary.Properties[key]; found {
			m, err := DecodeOffsetMap(v)
			if err != nil {
				return OffsetMap{}, nil, fmt.Errorf("snapshot %d: %w", snap.SnapshotID, err)
			}
			return m, snap, nil
		}
	}
	return OffsetMap{Topics: map[string]TopicOffsets{}}, nil, nil
}

// FindCommit returns the snapshot whose summary carries commitID, searching
// from the current snapshot back to (not including) stopAt, or to the root
// when stopAt is nil. A commit attempt pins its parent, so a landed attempt
// is always a descendant of the head it pinned.
func FindCommit(meta table.Metadata, commitID string, stopAt *int64) *table.Snapshot {
	return FindBranchCommit(meta, table.MainBranch, commitID, stopAt)
}

// FindBranchCommit is [FindCommit] from the head of branch.
func FindBranchCommit(meta table.Metadata, branch, commitID string, stopAt *int64) *table.Snapshot {
	for snap, ok := range AncestryOf(meta, BranchHead(meta, branch)) {
		if !ok || (stopAt != nil && snap.SnapshotID == *stopAt) {
			return nil
		}
		if snap.Summary != nil && snap.Summary.Properties[SummaryCommitID] == commitID {
			return snap
		}
	}
	return nil
}
