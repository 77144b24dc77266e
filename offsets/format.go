package offsets

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// The compact summary format, version 2. Every snapshot's summary sits in
// metadata.json, which every commit rewrites and every reader parses, so
// floe's evidence is kept small: a commit to a 64-partition topic adds ~1 KB
// to metadata.json instead of ~7 KB, one to 10,000 partitions ~100 KB instead
// of ~1 MB (BenchmarkSummary, docs/BENCHMARKS.md). Values written by earlier
// versions — JSON, beginning with '{' (offsets) or '[' (ranges) — are still
// read (legacy.go).
//
// floe.offsets.<group> and floe.dead-letters.<group>.<table> (a [Map]):
//
//	v2;<cluster id>;<topic>:<topic id>:<partitions>;<topic>:<topic id>:<partitions>…
//
// A topic of a table fed by a routed topic (tables[].route-by) also holds
// its partitions' floors (see [Topic.Floor]) as a fourth part,
// <topic>:<topic id>:<partitions>:<floors>, written as <partitions> is.
//
// floe.ranges (the [Range]s one commit added):
//
//	v2;<topic>:<ranges>;<topic>:<ranges>…   ("v2" alone: no ranges)
//
// Topics are in byte order of their names. Cluster ID, topic names and topic
// IDs are text: bytes other than A-Z a-z 0-9 . _ - + / = are written as %XX
// (two upper-case hex digits), so Kafka's names and IDs read as they are.
//
// <partitions> and <ranges> are base64 (URL alphabet, no padding) of a run
// of unsigned LEB128 varints (Go's binary.AppendUvarint; minimal, 7 bits a
// byte, low bits first). Partitions come in ascending runs of consecutive
// numbers: gap, count, then count entries. gap is the run's first partition
// minus the partition after the previous run (0 at the start), ≥ 1 after the
// first run; count ≥ 1. An entry is
//   - in <partitions>: the partition's next offset, zigzag-coded as the
//     difference from the previous partition's offset in the topic (0 before
//     the first): d = next − prev, written as 2d (d ≥ 0) or −2d−1 (d < 0);
//   - in <ranges>: 2n, for a range of n offsets ending at the partition's next
//     offset in the same summary's offsets value (the only floe.offsets.* or
//     floe.dead-letters.* key the snapshot carries), so [end−n, end); or
//     2n+1 followed by end, when it ends elsewhere (a dead-letter table's
//     ranges without letters) or the summary holds no single offsets value.
//
// Each snapshot still proves on its own which offsets it added: a range
// refers only to its own summary, never to an older snapshot that expiry may
// remove. The payload is not compressed: deflate saves ~10% at 10,000
// partitions of scattered offsets, nothing at 64, and would hide the names.
//
// Decoding is strict and names the part, topic and partition it rejects: an
// offsets value decodes only if it is exactly what Encode writes for the map
// (sorted topics, maximal runs, minimal varints, canonical escapes and
// base64); a ranges value only if it holds one range per partition, each
// within [0, end]. e2e/readers/check.py holds an independent decoder in
// Python.

const (
	v2Prefix = "v2"
	fieldSep = ';'
	topicSep = ':'
)

var b64 = base64.RawURLEncoding.Strict()

// decodeBase64 is b64's decoding without the line breaks it skips.
func decodeBase64(s string) ([]byte, error) {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return nil, base64.CorruptInputError(i)
	}
	return b64.DecodeString(s)
}

// escape writes s with every byte outside the safe set as %XX.
func escape(buf []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safe(c) {
			buf = append(buf, c)
			continue
		}
		buf = append(buf, '%', hex[c>>4], hex[c&15])
	}
	return buf
}

func safe(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == '+' || c == '/' || c == '='
}

// unescape reverses escape and accepts nothing escape would not write.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		for i := 0; i < len(s); i++ {
			if !safe(s[i]) {
				return "", fmt.Errorf("byte %q at %d must be written as %%%02X", s[i], i, s[i])
			}
		}
		return s, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case safe(c):
			out = append(out, c)
		case c == '%':
			if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
				return "", fmt.Errorf("%%-escape at %d is not two upper-case hex digits", i)
			}
			b := byte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			if safe(b) {
				return "", fmt.Errorf("%%-escape at %d of %q, which is written as it is", i, b)
			}
			out = append(out, b)
			i += 2
		default:
			return "", fmt.Errorf("byte %q at %d must be written as %%%02X", c, i, c)
		}
	}
	return string(out), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// appendRuns writes the run headers of parts (ascending) into buf around
// the entries entry(buf, i) appends for parts[i].
func appendRuns(buf []byte, parts []int32, entry func([]byte, int) []byte) []byte {
	next := int64(0) // the partition after the previous run
	for i := 0; i < len(parts); {
		j := i + 1
		for j < len(parts) && parts[j] == parts[j-1]+1 {
			j++
		}
		buf = binary.AppendUvarint(buf, uint64(int64(parts[i])-next))
		buf = binary.AppendUvarint(buf, uint64(j-i))
		for k := i; k < j; k++ {
			buf = entry(buf, k)
		}
		next = int64(parts[j-1]) + 1
		i = j
	}
	return buf
}

// reader decodes the varints of one topic's payload. The first problem
// sticks in err; later reads return 0.
type reader struct {
	buf []byte
	err error
}

var (
	errShort      = errors.New("payload ends early")
	errOverflow   = errors.New("varint overflows 64 bits")
	errNotMinimal = errors.New("varint is not minimal")
)

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	switch {
	case n == 0:
		r.err = errShort
	case n < 0:
		r.err = errOverflow
	case n > 1 && r.buf[n-1] == 0:
		r.err = errNotMinimal
	default:
		r.buf = r.buf[n:]
	}
	return v
}

// varint reads a zigzag-coded signed varint.
func (r *reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// readRuns decodes the run headers of a payload, calling entry for every
// partition; entry reports a problem through r.err.
func readRuns(r *reader, entry func(p int32)) {
	next := int64(0)
	for first := true; len(r.buf) > 0 && r.err == nil; first = false {
		gap, count := r.uvarint(), r.uvarint()
		switch {
		case r.err != nil:
		case gap == 0 && !first:
			r.err = errors.New("gap 0 (runs must not touch)")
		case count == 0:
			r.err = errors.New("count 0")
		case gap > math.MaxInt32 || count > math.MaxInt32 || next+int64(gap)+int64(count)-1 > math.MaxInt32:
			r.err = fmt.Errorf("partitions beyond %d", math.MaxInt32)
		}
		if r.err != nil {
			r.err = fmt.Errorf("run after partition %d: %w", next-1, r.err)
			return
		}
		p := next + int64(gap)
		for range count {
			if entry(int32(p)); r.err != nil {
				return
			}
			p++
		}
		next = p
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedParts[V any](m map[int32]V) []int32 {
	parts := make([]int32, 0, len(m))
	for p := range m {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	return parts
}

// encodeMap writes m in the v2 format. A map with a negative partition or
// offset, which the format cannot hold and floe never stores, is written as
// the legacy JSON, which Decode rejects as it always did.
func encodeMap(m Map) string {
	buf := make([]byte, 0, 64)
	buf = append(buf, v2Prefix...)
	buf = append(buf, fieldSep)
	buf = escape(buf, m.ClusterID)
	var payload []byte
	for _, name := range sortedKeys(m.Topics) {
		t := m.Topics[name]
		parts := sortedParts(t.Next)
		if len(parts) > 0 && parts[0] < 0 {
			return encodeLegacyMap(m)
		}
		var negative bool
		payload, negative = appendOffsets(payload[:0], parts, t.Next)
		if negative {
			return encodeLegacyMap(m)
		}
		buf = append(buf, fieldSep)
		buf = escape(buf, name)
		buf = append(buf, topicSep)
		buf = escape(buf, t.TopicID)
		buf = append(buf, topicSep)
		buf = b64.AppendEncode(buf, payload)
		if len(t.Floor) > 0 {
			floors := sortedParts(t.Floor)
			if floors[0] < 0 {
				return encodeLegacyMap(m)
			}
			payload, negative = appendOffsets(payload[:0], floors, t.Floor)
			if negative {
				return encodeLegacyMap(m)
			}
			buf = append(buf, topicSep)
			buf = b64.AppendEncode(buf, payload)
		}
	}
	return string(buf)
}

// appendOffsets writes the runs of parts with their offsets in m, each as
// the zigzag difference from the previous one; negative reports an offset
// the format cannot hold.
func appendOffsets(buf []byte, parts []int32, m map[int32]int64) (out []byte, negative bool) {
	prev := int64(0)
	out = appendRuns(buf, parts, func(b []byte, i int) []byte {
		o := m[parts[i]]
		negative = negative || o < 0
		b = binary.AppendVarint(b, o-prev)
		prev = o
		return b
	})
	return out, negative
}

func decodeMap(s string) (Map, error) {
	fields := strings.Split(s, string(fieldSep))
	if fields[0] != v2Prefix || len(fields) < 2 {
		return Map{}, errors.New(`not "v2;<cluster id>[;<topic>…]"`)
	}
	cluster, err := unescape(fields[1])
	if err != nil {
		return Map{}, fmt.Errorf("cluster id: %w", err)
	}
	m := Map{ClusterID: cluster, Topics: make(map[string]Topic, len(fields)-2)}
	prevName := ""
	for i, f := range fields[2:] {
		parts := strings.Split(f, string(topicSep))
		if len(parts) != 3 && len(parts) != 4 {
			return Map{}, fmt.Errorf("topic %d: %q is not <topic>:<topic id>:<partitions>[:<floors>]", i, f)
		}
		name, err := unescape(parts[0])
		if err != nil {
			return Map{}, fmt.Errorf("topic %d name: %w", i, err)
		}
		if i > 0 && name <= prevName {
			return Map{}, fmt.Errorf("topic %q: after %q (topics are in ascending order, once each)", name, prevName)
		}
		prevName = name
		id, err := unescape(parts[1])
		if err != nil {
			return Map{}, fmt.Errorf("topic %q id: %w", name, err)
		}
		payload, err := decodeBase64(parts[2])
		if err != nil {
			return Map{}, fmt.Errorf("topic %q partitions: base64: %w", name, err)
		}
		next, err := decodeOffsets(payload)
		if err != nil {
			return Map{}, fmt.Errorf("topic %q: %w", name, err)
		}
		t := Topic{TopicID: id, Next: next}
		if len(parts) == 4 {
			if payload, err = decodeBase64(parts[3]); err != nil {
				return Map{}, fmt.Errorf("topic %q floors: base64: %w", name, err)
			}
			if t.Floor, err = decodeOffsets(payload); err != nil {
				return Map{}, fmt.Errorf("topic %q floors: %w", name, err)
			}
			if len(t.Floor) == 0 {
				return Map{}, fmt.Errorf("topic %q floors: empty (a topic without floors has no fourth part)", name)
			}
		}
		m.Topics[name] = t
	}
	return m, nil
}

// decodeOffsets reads what appendOffsets wrote.
func decodeOffsets(payload []byte) (map[int32]int64, error) {
	r := &reader{buf: payload}
	out := make(map[int32]int64, len(payload)/5)
	prev := int64(0)
	readRuns(r, func(p int32) {
		d := r.varint()
		o := prev + d
		switch {
		case r.err != nil:
			r.err = fmt.Errorf("partition %d: offset: %w", p, r.err)
		case (d > 0 && o < prev) || o < 0:
			r.err = fmt.Errorf("partition %d: offset %d%+d is out of range", p, prev, d)
		default:
			out[p], prev = o, o
		}
	})
	return out, r.err
}

// EncodeRanges returns the value of floe.ranges for rs. ref is the offsets
// value written beside it, the summary's only one (an empty Map when there is
// none or more than one): ranges ending at ref's next offset are written as
// their length alone. Ranges the v2 format cannot hold — more than one for a
// partition, or not 0 ≤ start ≤ end, which floe never commits — are written
// as the legacy JSON.
func EncodeRanges(rs []Range, ref Map) string {
	if !slices.IsSortedFunc(rs, compareRanges) {
		rs = slices.Clone(rs)
		SortRanges(rs)
	}
	for i, r := range rs {
		if r.Partition < 0 || r.Start < 0 || r.End < r.Start ||
			i > 0 && rs[i-1].Topic == r.Topic && rs[i-1].Partition == r.Partition {
			return encodeLegacyRanges(rs)
		}
	}
	buf := []byte(v2Prefix)
	var (
		payload []byte
		parts   []int32
	)
	for len(rs) > 0 {
		name := rs[0].Topic
		n := 1
		for n < len(rs) && rs[n].Topic == name {
			n++
		}
		topic := rs[:n]
		rs = rs[n:]
		parts = parts[:0]
		for _, r := range topic {
			parts = append(parts, r.Partition)
		}
		refTopic := ref.Topics[name]
		payload = appendRuns(payload[:0], parts, func(b []byte, i int) []byte {
			r := topic[i]
			n := uint64(r.End - r.Start)
			if next, ok := refTopic.Next[r.Partition]; ok && next == r.End {
				return binary.AppendUvarint(b, 2*n)
			}
			b = binary.AppendUvarint(b, 2*n+1)
			return binary.AppendUvarint(b, uint64(r.End))
		})
		buf = append(buf, fieldSep)
		buf = escape(buf, name)
		buf = append(buf, topicSep)
		buf = b64.AppendEncode(buf, payload)
	}
	return string(buf)
}

// DecodeRanges parses the value of floe.ranges; ref is the offsets value of
// the same summary (see [EncodeRanges]). Ranges come sorted by topic and
// partition.
func DecodeRanges(s string, ref Map) ([]Range, error) {
	var (
		rs  []Range
		err error
	)
	if strings.HasPrefix(s, "[") {
		rs, err = decodeLegacyRanges(s)
	} else {
		rs, err = decodeRanges(s, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("decode ranges: %w", err)
	}
	return rs, nil
}

func decodeRanges(s string, ref Map) ([]Range, error) {
	fields := strings.Split(s, string(fieldSep))
	if fields[0] != v2Prefix {
		return nil, errors.New(`neither v2 ("v2[;<topic>:<ranges>…]") nor JSON`)
	}
	out := make([]Range, 0, len(s)/3) // an entry takes ≥ 2 bytes, 2.7 characters
	prevName := ""
	for i, f := range fields[1:] {
		parts := strings.Split(f, string(topicSep))
		if len(parts) != 2 {
			return nil, fmt.Errorf("topic %d: %q is not <topic>:<ranges>", i, f)
		}
		name, err := unescape(parts[0])
		if err != nil {
			return nil, fmt.Errorf("topic %d name: %w", i, err)
		}
		if i > 0 && name <= prevName {
			return nil, fmt.Errorf("topic %q: after %q (topics are in ascending order, once each)", name, prevName)
		}
		prevName = name
		payload, err := decodeBase64(parts[1])
		if err != nil {
			return nil, fmt.Errorf("topic %q ranges: base64: %w", name, err)
		}
		if len(payload) == 0 {
			return nil, fmt.Errorf("topic %q: no ranges", name)
		}
		r := &reader{buf: payload}
		refNext := ref.Topics[name].Next
		readRuns(r, func(p int32) {
			v := r.uvarint()
			n := v >> 1
			var end int64
			if v&1 == 0 {
				next, ok := refNext[p]
				if !ok && r.err == nil {
					r.err = errors.New("the range ends at the summary's offset, which has none for it")
				}
				end = next
			} else {
				e := r.uvarint()
				if e > math.MaxInt64 && r.err == nil {
					r.err = fmt.Errorf("end %d is out of range", e)
				}
				end = int64(e)
			}
			if r.err != nil {
				r.err = fmt.Errorf("partition %d: %w", p, r.err)
				return
			}
			if r.err != nil {
				return
			}
			if n > uint64(end) {
				r.err = fmt.Errorf("partition %d: %d offsets before end %d", p, n, end)
				return
			}
			out = append(out, Range{Topic: name, Partition: p, Start: end - int64(n), End: end})
		})
		if r.err != nil {
			return nil, fmt.Errorf("topic %q: %w", name, r.err)
		}
	}
	return out, nil
}
