package offsets

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// The JSON format of tables written before v2 (format.go), still read:
//
//	floe.offsets.<group>: {"cluster_id":…,"topics":{"<topic>":{"topic_id":…,"partitions":{"<p>":<next>}}}}
//	floe.ranges:          [{"topic":…,"partition":…,"start":…,"end":…}]
//
// It is written only for values v2 cannot hold (negative numbers, two ranges
// of one partition), which floe never commits.

// encodeLegacyMap writes m as JSON, partitions in numeric order.
func encodeLegacyMap(m Map) string {
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

func decodeLegacyMap(s string) (Map, error) {
	var m Map
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return Map{}, err
	}
	for name, t := range m.Topics {
		for p, o := range t.Next {
			if p < 0 || o < 0 {
				return Map{}, fmt.Errorf("topic %q partition %d: negative value %d", name, p, o)
			}
		}
	}
	if m.Topics == nil {
		m.Topics = map[string]Topic{}
	}
	return m, nil
}

// encodeLegacyRanges writes rs as JSON, in their order.
func encodeLegacyRanges(rs []Range) string {
	if rs == nil {
		rs = []Range{}
	}
	b, _ := json.Marshal(rs)
	return string(b)
}

func decodeLegacyRanges(s string) ([]Range, error) {
	var rs []Range
	if err := json.Unmarshal([]byte(s), &rs); err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.Partition < 0 || r.Start < 0 || r.End < r.Start {
			return nil, fmt.Errorf("topic %q partition %d: [%d, %d) is not a range", r.Topic, r.Partition, r.Start, r.End)
		}
	}
	if rs == nil {
		rs = []Range{}
	}
	return rs, nil
}
