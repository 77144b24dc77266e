package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/config"
)

// In a synctest bubble, synctest.Wait returns once the watcher is blocked
// waiting for a second signal: if the first one were to exit, it would have
// by then, at any machine speed.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sigs := make(chan os.Signal, 2)
		var stderr bytes.Buffer
		exited := make(chan int, 1)
		ctx, cancel := watchSignals(sigs, &stderr, func(code int) { exited <- code })
		defer cancel()

		sigs <- syscall.SIGTERM
		<-ctx.Done()
		synctest.Wait()
		select {
		case <-exited:
			t.Fatal("the first signal must not exit")
		default:
		}
		sigs <- syscall.SIGINT
		require.Equal(t, 130, <-exited)
		require.Contains(t, stderr.String(), "send it again to exit at once")
		require.Contains(t, stderr.String(), "second interrupt: exiting without flushing")
	})
}

func TestCommitsCommandListsTheTableHistory(t *testing.T) {
	b := newBed(t, 3)
	cfg := b.config("floe", "    owner: data-team\n")
	b.produce(600)
	p := b.start(cfg)
	b.waitCommitted(600, p)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))

	out, err := exec.Command(floeBin, "commits", "--config", cfg, "--json").CombinedOutput()
	require.NoError(t, err, string(out))
	type line struct {
		Table      string `json:"table"`
		SnapshotID int64  `json:"snapshot_id"`
		Records    int64  `json:"added_records"`
		Ranges     []struct {
			Partition  int32
			Start, End int64
		} `json:"ranges"`
		Writer struct{ Instance string } `json:"writer"`
	}
	var total int64
	covered := map[int32]int64{}
	snaps := map[int64]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var c line
		require.NoError(t, json.Unmarshal([]byte(l), &c), l)
		require.Equal(t, "itest.events", c.Table)
		require.NotEmpty(t, c.Writer.Instance)
		total += c.Records
		snaps[c.SnapshotID] = true
		for _, r := range c.Ranges {
			covered[r.Partition] += r.End - r.Start
		}
	}
	require.Equal(t, int64(600), total, "the commits add up to every record")
	require.Equal(t, int64(600), covered[0]+covered[1]+covered[2], "the ranges add up to every offset")

	// The same snapshots as the table itself holds.
	tbl := b.loadTable()
	for _, s := range tbl.Metadata().Snapshots() {
		require.True(t, snaps[s.SnapshotID], "snapshot %d is listed", s.SnapshotID)
	}
	require.Len(t, snaps, len(tbl.Metadata().Snapshots()))

	text, err := exec.Command(floeBin, "commits", "--config", cfg, "--limit", "1").CombinedOutput()
	require.NoError(t, err, string(text))
	require.Contains(t, string(text), "table itest.events (owner data-team), group itest: 1 commits")
	require.Contains(t, string(text), "SNAPSHOT ID")
	require.Contains(t, string(text), "WATERMARK")
	require.Regexp(t, `\s\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+events\[`, string(text), "the watermark: the records' newest timestamp")

	bad, err := exec.Command(floeBin, "commits", "--config", cfg, "--table", "nope.nope").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(bad), `--table "nope.nope" is not in the config's tables`)
}

func TestDemoRunsEndToEnd(t *testing.T) {
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, run(ctx, []string{"demo", "--records", "3000", "--partitions", "4", "--dir", t.TempDir()}, &stdout, &stderr), stderr.String())
	out := stdout.String()
	require.Contains(t, out, "read back from the table: 3000 rows, 3000 distinct order_id; produced 3000 records")
	require.Contains(t, out, "exactly once: every produced record is in the table once")
	require.Contains(t, out, "table demo.orders (owner floe-demo), group floe-demo:")
}

// floe demo --format avro|protobuf|json-schema: the same orders in the
// Confluent wire format, the table created from the in-process registry's
// schema.
func TestDemoRegistryFormats(t *testing.T) {
	for _, f := range []struct{ format, label string }{{"avro", "Avro"}, {"protobuf", "Protobuf"}, {"json-schema", "JSON Schema"}} {
		t.Run(f.format, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			require.NoError(t, run(ctx, []string{"demo", "--format", f.format, "--records", "2000", "--partitions", "4", "--dir", dir}, &stdout, &stderr), stderr.String())
			out := stdout.String()
			require.Contains(t, out, f.label+" records (Confluent wire format), schema 1 of subject orders-value")
			require.Contains(t, out, "read back from the table: 2000 rows, 2000 distinct order_id; produced 2000 records")
			log, err := os.ReadFile(filepath.Join(dir, "floe.log"))
			require.NoError(t, err)
			require.Contains(t, string(log), `"msg":"table schema from the writer schema"`)
		})
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"demo", "--format", "xml"}, &stdout, &stderr)
	require.ErrorContains(t, err, `--format must be json, avro, protobuf or json-schema, got "xml"`)
}

// Libraries' standard-log lines join floe's log at debug level, as JSON
// under "component":"library"; at info level they are not shown.
func TestLibraryLogJoinsFloeLog(t *testing.T) {
	defer func(l *slog.Logger) { slog.SetDefault(l) }(slog.Default())
	defer slog.SetLogLoggerLevel(slog.SetLogLoggerLevel(slog.LevelInfo))

	var debug, info bytes.Buffer
	libraryLog(newLogger(config.Log{Level: "debug", Format: "json"}, &debug))
	log.Printf("Warning: Failed to delete old metadata file: %s", "v1.metadata.json")
	require.Contains(t, debug.String(), `"level":"DEBUG"`)
	require.Contains(t, debug.String(), `"component":"library"`)
	require.Contains(t, debug.String(), `"msg":"Warning: Failed to delete old metadata file: v1.metadata.json"`)

	libraryLog(newLogger(config.Log{Level: "info", Format: "json"}, &info))
	log.Printf("Warning: Failed to delete old metadata file: %s", "v2.metadata.json")
	require.Empty(t, info.String(), "library noise is not shown at info level")
}
