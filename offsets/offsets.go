// Package offsets is floe's evidence in an Iceberg table: the snapshot
// summary keys every commit writes (the group's full offset map, the ranges
// it added, its commit ID, writer and watermark), how they are encoded and
// decoded, and how they are read back from a table's ancestry. The table, not
// Kafka, is where floe's progress lives; this package is the one place that
// knows its format.
package offsets

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
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
	// SummaryDeadLettersPrefix starts the dead-letter table's key that holds
	// one group's progress for one table.
	SummaryDeadLettersPrefix = "floe.dead-letters."
	// SummaryRollback is the key of the snapshot `floe rollback --skip`
	// makes: what was undone and which offsets were skipped.
	SummaryRollback = "floe.rollback"
)

// Key is the summary key holding group's offsets.
func Key(group string) string { return SummaryOffsetsPrefix + group }

// DeadLettersKey is the dead-letter table's summary key for the letters of
// tableName consumed by group.
func DeadLettersKey(group, tableName string) string {
	return SummaryDeadLettersPrefix + group + "." + tableName
}

// ErrExpired is returned when the table has history but the walk from the
// current snapshot ran into an expired (missing) ancestor before finding the
// group's offsets. Guessing a position there would duplicate or skip rows.
var ErrExpired = errors.New("the group's offsets are not in the table's retained snapshot history")

// Map is the value of floe.offsets.<group>: where the group stands in every
// partition it has ever committed to this table.
type Map struct {
	// ClusterID is the Kafka cluster the offsets belong to.
	ClusterID string `json:"cluster_id"`
	// Topics maps topic name to its ID and partition positions.
	Topics map[string]Topic `json:"topics"`
}

// Topic is one topic's part of a Map.
type Topic struct {
	// TopicID is Kafka's topic ID (base64 of the UUID, as Kafka prints it);
	// it changes when a topic is deleted and recreated under the same name.
	TopicID string `json:"topic_id"`
	// Next maps partition to the next offset to consume.
	Next map[int32]int64 `json:"partitions"`
	// Floor, kept only by tables a routed topic feeds (tables[].route-by),
	// maps partition to an offset below which every record of the
	// partition is in the table it was routed to (or was a bad record
	// accounted for): where a restart reads the partition from. The
	// tables of one routed topic hold different Next offsets, each
	// covering only the records routed to it; the highest Floor among them
	// is where all of them are complete.
	Floor map[int32]int64 `json:"floors,omitempty"`
}

// Get returns the next offset for a partition, and whether one is stored.
func (m Map) Get(topic string, partition int32) (int64, bool) {
	t, ok := m.Topics[topic]
	if !ok {
		return 0, false
	}
	o, ok := t.Next[partition]
	return o, ok
}

// Set stores the next offset for a partition, recording the topic's ID.
func (m *Map) Set(topic, topicID string, partition int32, next int64) {
	if m.Topics == nil {
		m.Topics = make(map[string]Topic)
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

// GetFloor returns the partition's floor (see [Topic.Floor]), and whether
// one is stored.
func (m Map) GetFloor(topic string, partition int32) (int64, bool) {
	o, ok := m.Topics[topic].Floor[partition]
	return o, ok
}

// RaiseFloor stores floor as the partition's floor unless a higher one is
// stored: a floor only grows. The topic must be in m (Set first).
func (m *Map) RaiseFloor(topic string, partition int32, floor int64) {
	t, ok := m.Topics[topic]
	if !ok {
		return
	}
	if t.Floor == nil {
		t.Floor = make(map[int32]int64)
	}
	if old, ok := t.Floor[partition]; !ok || floor > old {
		t.Floor[partition] = floor
	}
	m.Topics[topic] = t
}

// Clone returns a deep copy.
func (m Map) Clone() Map {
	out := Map{ClusterID: m.ClusterID, Topics: make(map[string]Topic, len(m.Topics))}
	for name, t := range m.Topics {
		out.Topics[name] = Topic{TopicID: t.TopicID, Next: maps.Clone(t.Next), Floor: maps.Clone(t.Floor)}
	}
	return out
}

// Empty reports whether no partition is stored.
func (m Map) Empty() bool {
	for _, t := range m.Topics {
		if len(t.Next) > 0 {
			return false
		}
	}
	return true
}

// Encode returns the value stored in the snapshot summary, in the compact
// v2 format (format.go). Equal maps encode equally.
func (m Map) Encode() string { return encodeMap(m) }

// Decode parses the value of floe.offsets.<group> (or of a dead-letter
// table's floe.dead-letters.<group>.<table>): the v2 format Encode writes,
// or the JSON of tables written before it.
func Decode(s string) (Map, error) {
	var (
		m   Map
		err error
	)
	if strings.HasPrefix(s, "{") {
		m, err = decodeLegacyMap(s)
	} else {
		m, err = decodeMap(s)
	}
	if err != nil {
		return Map{}, fmt.Errorf("decode offsets: %w", err)
	}
	return m, nil
}

// Writer says who wrote a commit; it is stored as floe.writer in every
// snapshot floe makes.
type Writer struct {
	Instance string `json:"instance"`
	Host     string `json:"host"`
	Version  string `json:"version"`
}

// Encode returns the JSON stored as floe.writer.
func (w Writer) Encode() string {
	b, _ := json.Marshal(w)
	return string(b)
}
