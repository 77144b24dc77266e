package offsets

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
)

// commitOf is a realistic floe commit to one topic of partitions
// partitions: next offsets spread over 1e9–1e11, each partition adding
// 200–3,000 records, Kafka-style cluster and topic IDs.
func commitOf(partitions int) Summary {
	rng := rand.New(rand.NewPCG(uint64(partitions), 7))
	id := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	m := Map{ClusterID: id(16)}                                  // 22 characters, as Kafka's
	topicID := base64.StdEncoding.EncodeToString([]byte(id(12))) // 24, as kadm prints it
	var ranges []Range
	for p := range int32(partitions) {
		end := 1_000_000_000 + rng.Int64N(99_000_000_000)
		m.Set("orders.v1", topicID, p, end)
		ranges = append(ranges, Range{Topic: "orders.v1", Partition: p, Start: end - 200 - rng.Int64N(2800), End: end})
	}
	return Summary{
		CommitID:  "4f9c2d1e-7b3a-4c8e-9d2f-1a6b5c3e8f70",
		Writer:    Writer{Instance: "0b1e6c2a-93d4-4f7e-8a15-c2d9e4b7f360", Host: "floe-7d9f8b6c4-x2kqz", Version: "v0.12.0"},
		Offsets:   map[string]Map{Key("floe"): m},
		Ranges:    ranges,
		Watermark: time.Date(2026, 12, 6, 7, 12, 45, 123456789, time.UTC),
	}
}

// legacyProperties are s's properties as floe wrote them before v2.
func legacyProperties(s Summary) iceberg.Properties {
	props := Summary{CommitID: s.CommitID, Writer: s.Writer, Watermark: s.Watermark}.Properties()
	for k, m := range s.Offsets {
		props[k] = encodeLegacyMap(m)
	}
	props[SummaryRanges] = encodeLegacyRanges(s.Ranges)
	return props
}

// icebergSummary is what iceberg-go adds to a fast append's summary.
var icebergSummary = iceberg.Properties{
	"added-data-files": "1", "added-records": "1048576", "added-files-size": "41943040",
	"changed-partition-count": "1", "total-records": "73014444032", "total-files-size": "2920577761280",
	"total-data-files": "69632", "total-delete-files": "0", "total-position-deletes": "0", "total-equality-deletes": "0",
}

// snapshotBytes is the size of a snapshot's entry in metadata.json with
// summary props (floe's and Iceberg's).
func snapshotBytes(tb testing.TB, props iceberg.Properties) int {
	all := iceberg.Properties{}
	for k, v := range icebergSummary {
		all[k] = v
	}
	for k, v := range props {
		all[k] = v
	}
	parent := int64(8_412_337_905_112_233_441)
	b, err := json.Marshal(table.Snapshot{
		SnapshotID: 1_234_567_890_123_456_789, ParentSnapshotID: &parent, SequenceNumber: 4242, TimestampMs: 1_796_541_165_123,
		ManifestList: "s3://lake/warehouse/analytics/orders/metadata/snap-1234567890123456789-1-0b1e6c2a-93d4-4f7e-8a15-c2d9e4b7f360.avro",
		Summary:      &table.Summary{Operation: table.OpAppend, Properties: all},
	})
	require.NoError(tb, err)
	return len(b)
}

// propsBytes is the size of props as they sit, quoted, in metadata.json.
func propsBytes(tb testing.TB, props iceberg.Properties) int {
	b, err := json.Marshal(props)
	require.NoError(tb, err)
	return len(b)
}

// BenchmarkSummary reports the bytes floe adds to every snapshot in
// metadata.json (the summary keys and values, JSON-quoted as stored), in the
// legacy JSON format and in v2, and the whole snapshot entry's; ns/op is
// building the properties. docs/BENCHMARKS.md has the figures.
func BenchmarkSummary(b *testing.B) {
	for _, p := range []int{64, 10_000} {
		s := commitOf(p)
		for _, f := range []struct {
			name  string
			props func(Summary) iceberg.Properties
		}{{"json", legacyProperties}, {"v2", Summary.Properties}} {
			b.Run(fmt.Sprintf("partitions=%d/format=%s", p, f.name), func(b *testing.B) {
				props := f.props(s)
				for b.Loop() {
					props = f.props(s)
				}
				b.ReportMetric(float64(propsBytes(b, props)), "bytes/snapshot")
				b.ReportMetric(float64(snapshotBytes(b, props)), "entry-bytes/snapshot")
				b.ReportMetric(float64(len(props[Key("floe")])), "offsets-bytes")
				b.ReportMetric(float64(len(props[SummaryRanges])), "ranges-bytes")
			})
		}
	}
}

// BenchmarkDecode is what every commit attempt pays to read the offsets
// back (Decode) and what `floe commits` pays per snapshot (DecodeRanges
// too), in the legacy JSON and in v2.
func BenchmarkDecode(b *testing.B) {
	for _, p := range []int{64, 10_000} {
		s := commitOf(p)
		m := s.Offsets[Key("floe")]
		for _, f := range []struct{ name, offsets, ranges string }{
			{"json", encodeLegacyMap(m), encodeLegacyRanges(s.Ranges)},
			{"v2", m.Encode(), EncodeRanges(s.Ranges, m)},
		} {
			b.Run(fmt.Sprintf("partitions=%d/format=%s/offsets", p, f.name), func(b *testing.B) {
				for b.Loop() {
					if _, err := Decode(f.offsets); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("partitions=%d/format=%s/ranges", p, f.name), func(b *testing.B) {
				for b.Loop() {
					if _, err := DecodeRanges(f.ranges, m); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
