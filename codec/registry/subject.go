package registry

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"
)

// Subject name strategies, as Confluent's serializers name them.
const (
	TopicNameStrategy       = "topic"        // <topic>-value / <topic>-key
	RecordNameStrategy      = "record"       // <record's full name>
	TopicRecordNameStrategy = "topic-record" // <topic>-<record's full name>
)

// Strategies lists the subject name strategies floe knows.
var Strategies = []string{TopicNameStrategy, RecordNameStrategy, TopicRecordNameStrategy}

// Subject is the subject a strategy gives a topic's values (or keys) whose
// record type is recordName (the Avro full name or Protobuf message name;
// unused by the topic strategy).
func Subject(strategy, topic, recordName string, key bool) (string, error) {
	switch strategy {
	case "", TopicNameStrategy:
		if key {
			return topic + "-key", nil
		}
		return topic + "-value", nil
	case RecordNameStrategy, TopicRecordNameStrategy:
		if recordName == "" {
			return "", fmt.Errorf("subject-name-strategy %s: needs the record's name", strategy)
		}
		if strategy == RecordNameStrategy {
			return recordName, nil
		}
		return topic + "-" + recordName, nil
	}
	return "", fmt.Errorf("subject-name-strategy: %q is not one of topic, record, topic-record", strategy)
}

// ErrNotFramed is a value without the Confluent wire format's magic byte.
var ErrNotFramed = errors.New("not in the Confluent wire format (magic byte 0, 4-byte schema ID)")

// Unframe splits a Confluent-framed value into its schema ID and the
// payload after the 5-byte header (franz-go's sr.ConfluentHeader), with an
// error that says what was wrong. The payload aliases b.
func Unframe(b []byte) (id int, payload []byte, err error) {
	var h sr.ConfluentHeader
	id, payload, err = h.DecodeID(b)
	switch {
	case err == nil:
		return id, payload, nil
	case len(b) < 5:
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrNotFramed, len(b))
	default:
		return 0, nil, fmt.Errorf("%w: first byte is %d", ErrNotFramed, b[0])
	}
}
