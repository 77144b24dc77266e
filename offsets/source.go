package offsets

import (
	"errors"
	"fmt"
)

// ErrSourceMismatch means the offsets a table holds belong to another Kafka
// cluster or to an earlier incarnation of a topic (deleted and recreated
// under the same name). Every such error is a [*MismatchError].
var ErrSourceMismatch = errors.New("the table's offsets belong to another cluster or topic incarnation")

// MismatchError is one source mismatch: the cluster (Topic empty) or one
// topic's ID differs between the table's offsets and Kafka.
type MismatchError struct {
	Table  string // the table holding the offsets ("" when unknown)
	Topic  string // "" for the cluster
	Stored string // the ID in the table's offsets
	Live   string // the ID in Kafka
}

func (e *MismatchError) Is(target error) bool { return target == ErrSourceMismatch }

func (e *MismatchError) Error() string {
	table := ""
	if e.Table != "" {
		table = " " + e.Table
	}
	if e.Topic == "" {
		return fmt.Sprintf("%v: table%s holds offsets of Kafka cluster %s but the brokers are cluster %s; "+
			"point floe at the right cluster, or set kafka.allow-topic-mismatch: true to start over from kafka.start-from",
			ErrSourceMismatch, table, e.Stored, e.Live)
	}
	return fmt.Sprintf("%v: topic ID mismatch: topic %q has ID %s in table%s but %s in Kafka: it was deleted and recreated. "+
		"Its stored offsets do not apply to the new topic; set kafka.allow-topic-mismatch: true to consume it from kafka.start-from",
		ErrSourceMismatch, e.Topic, e.Stored, table, e.Live)
}

// Source is the live identity of the Kafka data: the cluster ID and the ID
// of each topic. It is written into the offsets so a recreated topic or a
// switched cluster is detected instead of silently misread.
type Source struct {
	ClusterID string
	TopicIDs  map[string]string
	// ResetMismatched discards stored offsets whose cluster or topic ID
	// differs from the live one instead of failing (the operator's explicit
	// override after a topic was recreated).
	ResetMismatched bool
}

// Check compares the stored offsets' cluster and topic IDs with the live
// ones. It returns a [*MismatchError] naming tableName for the first
// mismatch or, with ResetMismatched, the map without the mismatched parts
// and what was dropped (the cluster as "", or the topics).
func (src Source) Check(tableName string, m Map) (Map, []string, error) {
	if m.ClusterID != "" && src.ClusterID != "" && m.ClusterID != src.ClusterID {
		if !src.ResetMismatched {
			return m, nil, &MismatchError{Table: tableName, Stored: m.ClusterID, Live: src.ClusterID}
		}
		return Map{ClusterID: src.ClusterID, Topics: map[string]Topic{}}, []string{""}, nil
	}
	var dropped []string
	for topic, t := range m.Topics {
		live, ok := src.TopicIDs[topic]
		if !ok || t.TopicID == "" || live == "" || t.TopicID == live {
			continue
		}
		if !src.ResetMismatched {
			return m, nil, &MismatchError{Table: tableName, Topic: topic, Stored: t.TopicID, Live: live}
		}
		if dropped == nil {
			m = m.Clone()
		}
		delete(m.Topics, topic)
		dropped = append(dropped, topic)
	}
	return m, dropped, nil
}
