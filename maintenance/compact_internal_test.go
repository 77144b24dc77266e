package maintenance

import (
	"fmt"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
)

func sized(t *testing.T, sizes ...int64) []table.FileScanTask {
	t.Helper()
	var out []table.FileScanTask
	for i, n := range sizes {
		b, err := iceberg.NewDataFileBuilder(*iceberg.UnpartitionedSpec, iceberg.EntryContentData,
			fmt.Sprintf("file:///d/%d.parquet", i), iceberg.ParquetFile, nil, nil, nil, 1, n)
		require.NoError(t, err)
		out = append(out, table.FileScanTask{File: b.Build()})
	}
	return out
}

func sizes(tasks []table.FileScanTask) []int64 {
	var out []int64
	for _, t := range tasks {
		out = append(out, t.File.FileSizeBytes())
	}
	return out
}

// An earlier compaction's output waits beside the small files that came
// since until they add half its size; files of like size go together.
func TestTieredHoldsALargerFileBackUntilTheSmallOnesWeigh(t *testing.T) {
	got, sum := tiered(sized(t, 280_000, 10_000, 12_000, 9_000, 11_000))
	require.Equal(t, []int64{9_000, 10_000, 11_000, 12_000}, sizes(got))
	require.EqualValues(t, 42_000, sum)

	got, sum = tiered(sized(t, 100_000, 30_000, 25_000))
	require.Equal(t, []int64{25_000, 30_000, 100_000}, sizes(got), "55 KB of small files: the 100 KB file joins")
	require.EqualValues(t, 155_000, sum)

	got, _ = tiered(sized(t, 10_000, 25_000))
	require.Equal(t, []int64{10_000}, sizes(got))
}
