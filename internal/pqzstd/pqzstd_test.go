package pqzstd

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
)

// page is n bytes of text-like data: compressible, with repeats far apart.
func page(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"id":"e%09d","user":"u%03d","note":"%x"},`, rng.IntN(1e9), rng.IntN(500), rng.Uint32())
	}
	return b.Bytes()[:n]
}

func TestRegistered(t *testing.T) {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	require.NoError(t, err)
	require.IsType(t, &codec{}, c, "floe's zstd codec replaces arrow-go's")
}

// Every page size, including pages larger than the window, comes back
// byte for byte through arrow-go's decoder and a plain zstd decoder.
func TestRoundTrip(t *testing.T) {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	require.NoError(t, err)
	plain, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer plain.Close()
	for _, n := range []int{1, 100, 64 << 10, Window - 1, Window, 3*Window + 17} {
		for _, lvl := range []int{compress.DefaultCompressionLevel, 1, 3, 9} {
			src := page(n)
			enc := c.EncodeLevel(nil, src, lvl)
			require.Less(t, len(enc), max(n, 64), "size %d level %d: compressed", n, lvl)
			got, err := compress.Decode(c, nil, enc)
			require.NoError(t, err, "size %d level %d", n, lvl)
			require.Equal(t, src, got, "size %d level %d: arrow-go's decoder", n, lvl)
			got, err = plain.DecodeAll(enc, nil)
			require.NoError(t, err)
			require.Equal(t, src, got, "size %d level %d: a plain zstd decoder", n, lvl)
		}
	}
	// A corrupt page is an error, not a panic.
	_, err = compress.Decode(c, nil, []byte("not zstd at all"))
	require.Error(t, err)
}

// The point of the package: a new encoder costs about its window twice
// (history) plus its match tables, not zstd's default 16 MiB history.
// Allocation counts are deterministic, so this cannot flake.
func TestEncoderMemory(t *testing.T) {
	src := page(Window)
	measure := func(encode func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		encode()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	ours := measure(func() { (&codec{}).EncodeLevel(nil, src, compress.DefaultCompressionLevel) })
	std, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderConcurrency(1))
	require.NoError(t, err)
	theirs := measure(func() { std.EncodeAll(src, nil) })
	t.Logf("first page through a new encoder: %.1f MiB (zstd's default window: %.1f MiB)", float64(ours)/(1<<20), float64(theirs)/(1<<20))
	require.Less(t, ours, uint64(6<<20), "a new encoder and one page")
	require.Less(t, ours*2, theirs, "at least halves what zstd's default window allocates")
}

// A Parquet file written through the codec reads back whole.
func TestParquetFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}, {Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 200_000 {
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("user-%d-%x", i%977, rng.Uint64()))
		b.Field(1).(*array.Int64Builder).Append(int64(i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	tbl := array.NewTableFromRecords(schema, []arrow.RecordBatch{rec})
	defer tbl.Release()

	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithAllocator(mem))
	require.NoError(t, pqarrow.WriteTable(tbl, &buf, 50_000, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem))))

	rdr, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	col, err := rdr.RowGroup(0).MetaData().ColumnChunk(0)
	require.NoError(t, err)
	require.Equal(t, compress.Codecs.Zstd, col.Compression())
	back, err := pqarrow.ReadTable(t.Context(), bytes.NewReader(buf.Bytes()), nil, pqarrow.ArrowReadProperties{}, mem)
	require.NoError(t, err)
	defer back.Release()
	require.Equal(t, tbl.NumRows(), back.NumRows())
	for i := range int(tbl.NumCols()) {
		require.True(t, array.ChunkedEqual(tbl.Column(i).Data(), back.Column(i).Data()), "column %d reads back as written", i)
	}
}
