package main

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/committer"
)

// BenchmarkDecodeToParquetCommit measures the per-record path floe runs for
// every record: JSON decode into the partition's Arrow buffer, sealing, and
// the commit that writes the Parquet files (zstd) and the Iceberg snapshot,
// on a local warehouse with a SQLite catalog. One iteration is one record.
func BenchmarkDecodeToParquetCommit(b *testing.B) {
	dir := b.TempDir()
	cfg := demoConfig([]string{"127.0.0.1:1"}, dir)
	tc := cfg.Tables[0]
	ctx := context.Background()
	cat, err := catalog.Open(ctx, cfg.Catalog, nil)
	require.NoError(b, err)
	defer closeCatalog(cat)
	tbl, _, err := committer.LoadOrCreateTable(ctx, cat, tc.TableConfig, (&pipeline{}).metadataFields(ctx, tc, tc.Topics))
	require.NoError(b, err)
	com, err := committer.New(cfg.Commit, tc.TableConfig, committer.Deps{Catalog: cat, Table: tbl, Group: "bench"},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	require.NoError(b, err)
	schema, err := com.ArrowSchema()
	require.NoError(b, err)
	dec, err := codec.New(schema, tc.Codec)
	require.NoError(b, err)

	// A fixed pool of realistic records, reused round-robin.
	rng := rand.New(rand.NewPCG(7, 7))
	pool := make([][]byte, 4096)
	var poolBytes int
	for i := range pool {
		pool[i] = sampleOrder(rng, i, rng.IntN(50_000))
		poolBytes += len(pool[i])
	}
	b.SetBytes(int64(poolBytes / len(pool)))

	const perCommit = 100_000
	mem := memory.NewGoAllocator()
	policy := batcher.Policy{MaxRecords: 20_000, MaxBytes: 1 << 30, MaxAge: time.Hour}
	bufs := make([]*batcher.Buffer, 8)
	offsets := make([]int64, len(bufs))
	for p := range bufs {
		bufs[p] = batcher.NewBuffer(demoTopic, int32(p), 1, 0, schema, mem, policy)
	}
	now := time.Now()
	msg := codec.Message{Topic: demoTopic, Timestamp: now}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := i % len(bufs)
		msg.Partition, msg.Offset, msg.Value = int32(p), offsets[p], pool[i%len(pool)]
		if err := dec.Append(bufs[p].Builder(), &msg); err != nil {
			b.Fatal(err)
		}
		if r, _ := bufs[p].Add(offsets[p], now, len(msg.Value), true, now); r != batcher.ReasonNone {
			com.Submit(bufs[p].Seal(r))
		}
		offsets[p]++
		if (i+1)%perCommit == 0 || i == b.N-1 {
			for _, buf := range bufs {
				if batch := buf.Seal(batcher.ReasonShutdown); batch != nil {
					com.Submit(batch)
				}
			}
			if err := com.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
