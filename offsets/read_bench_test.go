package offsets

import (
	"fmt"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
)

// chain is table metadata with one snapshot per summary, in one chain on
// main, oldest first; snapshot IDs are 1, 2, ….
func chain(tb testing.TB, summaries ...iceberg.Properties) table.Metadata {
	tb.Helper()
	sc := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "n", Type: iceberg.PrimitiveTypes.Int64, Required: true})
	base, err := table.NewMetadata(sc, iceberg.UnpartitionedSpec, table.UnsortedSortOrder, "file:///t", nil)
	require.NoError(tb, err)
	b, err := table.MetadataBuilderFromBase(base, "")
	require.NoError(tb, err)
	var parent *int64
	for i, props := range summaries {
		id := int64(i + 1)
		snap := &table.Snapshot{
			SnapshotID: id, ParentSnapshotID: parent, SequenceNumber: id, TimestampMs: time.Now().Add(time.Hour).UnixMilli() + id,
			ManifestList: fmt.Sprintf("file:///t/metadata/snap-%d.avro", id),
			Summary:      &table.Summary{Operation: table.OpAppend, Properties: props},
		}
		require.NoError(tb, b.AddSnapshot(snap))
		require.NoError(tb, b.SetSnapshotRef(table.MainBranch, id, table.BranchRef))
		parent = &id
	}
	meta, err := b.Build()
	require.NoError(tb, err)
	return meta
}

// history is table metadata with n snapshots in one chain, each a floe
// commit of group "g" with a 64-partition offset map in its summary.
func history(tb testing.TB, n int) table.Metadata {
	tb.Helper()
	var m Map
	summaries := make([]iceberg.Properties, n)
	for i := range n {
		for p := range int32(64) {
			m.Set("t", "id", p, int64(i*100))
		}
		summaries[i] = iceberg.Properties{Key("g"): m.Encode(), SummaryCommitID: fmt.Sprint(i + 1)}
	}
	return chain(tb, summaries...)
}

// Reading the offsets on every commit attempt must not cost more as the
// table's history grows: the newest floe snapshot is at or near the head.
func BenchmarkRead(b *testing.B) {
	for _, n := range []int{10, 1000, 5000} {
		meta := history(b, n)
		b.Run(fmt.Sprintf("snapshots=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, snap, err := Read(meta, "g", ""); err != nil || snap == nil {
					b.Fatal(snap, err)
				}
			}
		})
	}
}
