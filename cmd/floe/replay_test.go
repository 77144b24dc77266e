package main

// Integration tests of `floe replay`: the built binary against kfake and a
// SQLite catalog, like integration_test.go.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/offsets"
)

// replay runs `floe replay` to the end and returns its exit code and output.
func (b *bed) replay(cfg string, args ...string) (int, string) {
	b.t.Helper()
	return floeCmd(b.t, append([]string{"replay", "--config", cfg}, args...)...)
}

// produceAt writes n records with unique ids, stamped ts.
func (b *bed) produceAt(n int, ts time.Time) {
	b.t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		id := b.next + i
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprint(id)), Timestamp: ts,
			Value: fmt.Appendf(nil, `{"id":"r%07d","n":%d}`, id, id)}
	}
	b.next += n
	require.NoError(b.t, b.prod.ProduceSync(context.Background(), recs...).FirstErr())
}

var replayKey = regexp.MustCompile(`floe\.offsets\.(replay-[0-9a-f]+)`)

// replayGroup is the group a replay's output names.
func replayGroup(t testing.TB, out string) string {
	t.Helper()
	m := replayKey.FindStringSubmatch(out)
	require.NotNil(t, m, "the replay names its offsets key:\n%s", out)
	return m[1]
}

// idCounts reads the ids of the table's main branch (or of snapshot id).
func (b *bed) idCounts(snapshot int64) map[string]int {
	b.t.Helper()
	tbl := b.loadTable()
	seen := map[string]int{}
	if tbl == nil || tbl.CurrentSnapshot() == nil {
		return seen
	}
	opts := []table.ScanOption{table.WithSelectedFields("id")}
	if snapshot != 0 {
		opts = append(opts, table.WithSnapshotID(snapshot))
	}
	_, recs, err := tbl.Scan(opts...).ToArrowRecords(context.Background())
	require.NoError(b.t, err)
	for rec, err := range recs {
		require.NoError(b.t, err)
		col := rec.Column(0).(*array.String)
		for i := 0; i < col.Len(); i++ {
			seen[col.Value(i)]++
		}
		rec.Release()
	}
	return seen
}

// groupOffsets is the offsets map of group on branch ("" for main).
func (b *bed) groupOffsets(group, branch string) map[int32]int64 {
	b.t.Helper()
	tbl := b.loadTable()
	if tbl == nil {
		return nil
	}
	m, _, err := offsets.Read(tbl.Metadata(), group, branch)
	require.NoError(b.t, err)
	return m.Topics[b.topic].Next
}

func (b *bed) endOffsets() map[int32]int64 {
	b.t.Helper()
	ends, err := kadm.NewClient(b.prod).ListEndOffsets(context.Background(), b.topic)
	require.NoError(b.t, err)
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// requireIDs checks that ids r<from>..r<to-1> are each in counts exactly
// times times, and that nothing else is.
func requireIDs(t testing.TB, counts map[string]int, from, to, times int) {
	t.Helper()
	var bad []string
	for i := from; i < to; i++ {
		id := fmt.Sprintf("r%07d", i)
		if counts[id] != times {
			bad = append(bad, fmt.Sprintf("%s×%d", id, counts[id]))
		}
	}
	require.Empty(t, bad, "ids not present exactly %d times", times)
	require.Len(t, counts, to-from)
}

func TestReplayRangeOnceThenAlreadyDone(t *testing.T) {
	b := newBed(t, 4)
	cfg := b.config("floe", "")
	b.produce(3000)

	code, out := b.replay(cfg, "--topic", "events", "--from", "0", "--to", "end", "--table", "itest.events")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "about ", "the plan shows the estimate")
	require.Contains(t, out, "read 100%  3000 / 3000 offsets", "plain progress lines when stdout is not a terminal")
	require.Regexp(t, `replayed 3000 offsets in .*: 3000 records, 3000 rows, 0 dead letters`, out)
	require.Regexp(t, `snapshot \d+  commit [0-9a-f-]+  committed`, out)
	require.Contains(t, out, "done: 3000 offsets of events are in itest.events exactly once")
	group := replayGroup(t, out)
	require.Equal(t, b.endOffsets(), b.groupOffsets(group, ""))
	require.Empty(t, b.groupOffsets("itest", ""), "the live group's key is not written by a replay")
	requireIDs(t, b.idCounts(0), 0, 3000, 1)
	snaps := len(b.loadTable().Metadata().Snapshots())

	code, out2 := b.replay(cfg, "--topic", "events", "--from", "0", "--to", "end", "--table", "itest.events")
	require.Equal(t, 0, code, out2)
	require.Contains(t, out2, "already done")
	require.Equal(t, group, replayGroup(t, out2), "the same range is the same replay")
	require.Contains(t, out2, "group "+group+": ", "the commits of the replay are listed")
	require.Len(t, b.loadTable().Metadata().Snapshots(), snaps, "nothing was committed")
	requireIDs(t, b.idCounts(0), 0, 3000, 1)

	// The topic grows: the same command (--to end) is still the same
	// replay, over the range its first run resolved — it adds nothing.
	b.produce(400)
	code, out4 := b.replay(cfg, "--topic", "events", "--from", "0", "--to", "end", "--table", "itest.events")
	require.Equal(t, 0, code, out4)
	require.Contains(t, out4, "this replay's range was resolved by its first run and is kept")
	require.Contains(t, out4, "already done")
	require.Equal(t, group, replayGroup(t, out4))
	require.Len(t, b.loadTable().Metadata().Snapshots(), snaps, "nothing was committed")
	requireIDs(t, b.idCounts(0), 0, 3000, 1)
	code, dry := b.replay(cfg, "--topic", "events", "--from", "0", "--to", "end", "--table", "itest.events", "--dry-run")
	require.Equal(t, 0, code, dry)
	require.Contains(t, dry, "the range its first run resolved")
	require.Contains(t, dry, "already done")

	// Another range of the same topic is another replay.
	code, out3 := b.replay(cfg, "--topic", "events", "--partitions", "1", "--from", "0", "--to", "5", "--table", "itest.events")
	require.Equal(t, 0, code, out3)
	require.NotEqual(t, group, replayGroup(t, out3))
	require.Equal(t, map[int32]int64{1: 5}, b.groupOffsets(replayGroup(t, out3), ""))
}

func TestReplayKilledResumesExactlyOnce(t *testing.T) {
	b := newBed(t, 4)
	// A small memory budget makes reading wait for commits, so the kill
	// lands mid-replay with some ranges committed.
	cfg := b.config("floe", "")
	yaml := strings.Replace(readFile(t, cfg), "    max-records: 400\n", "    max-records: 400\n    max-bytes: 16KiB\n", 1)
	yaml = strings.Replace(yaml, "  lag-interval: 1s\n", "  lag-interval: 1s\n  memory-budget: 64KiB\n", 1)
	yaml = strings.Replace(yaml, "commit-interval: 500ms", "commit-interval: 100ms", 1)
	require.NoError(t, writeFile(cfg, yaml))
	const total = 20000
	b.produce(total)
	args := []string{"--topic", "events", "--from", "earliest", "--to", "end", "--table", "itest.events"}

	cmd := exec.Command(floeBin, append([]string{"replay", "--config", cfg}, args...)...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	var group string
	require.Eventually(t, func() bool {
		m := replayKey.FindStringSubmatch(out.String())
		if m == nil {
			return false
		}
		group = m[1]
		var n int64
		for _, o := range b.groupOffsets(group, "") {
			n += o
		}
		return n > 0
	}, 60*time.Second, 20*time.Millisecond, "no replay commit:\n%s", out.String())
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	var atKill int64
	for _, o := range b.groupOffsets(group, "") {
		atKill += o
	}
	t.Logf("killed with %d of %d offsets committed", atKill, total)

	code, out2 := b.replay(cfg, args...)
	require.Equal(t, 0, code, out2)
	if atKill < total {
		require.Contains(t, out2, fmt.Sprintf("resuming: %d of %d offsets already committed", atKill, total))
		require.Regexp(t, fmt.Sprintf(`replayed %d offsets`, total-atKill), out2)
	}
	require.Equal(t, b.endOffsets(), b.groupOffsets(group, ""))
	requireIDs(t, b.idCounts(0), 0, total, 1)
}

func TestReplayTimeBounds(t *testing.T) {
	b := newBed(t, 3)
	cfg := b.config("floe", "")
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	b.produceAt(300, t0)                  // r0-r299
	b.produceAt(300, t0.Add(time.Hour))   // r300-r599
	b.produceAt(300, t0.Add(2*time.Hour)) // r600-r899
	code, out := b.replay(cfg, "--topic", "events", "--table", "itest.events",
		"--from", t0.Add(30*time.Minute).Format(time.RFC3339), "--to", t0.Add(2*time.Hour).Format(time.RFC3339))
	require.Equal(t, 0, code, out)
	requireIDs(t, b.idCounts(0), 300, 600, 1)
}

func TestReplayRefusesOverMaxBytes(t *testing.T) {
	b := newBed(t, 2)
	cfg := b.config("floe", "")
	b.produce(2000)
	code, out := b.replay(cfg, "--topic", "events", "--from", "0", "--to", "end", "--table", "itest.events",
		"--set", "replay.max-bytes=10KiB")
	require.Equal(t, 3, code, out)
	for _, want := range []string{"refused", "over replay.max-bytes (10.0KiB)", "Spark or Flink", "Iceberg sink", "--set replay.max-bytes="} {
		require.Contains(t, out, want)
	}
	require.Nil(t, b.loadTable(), "nothing was written, not even the table")

	// The estimate prorates: a small part of the same topic passes.
	code, out = b.replay(cfg, "--topic", "events", "--partitions", "0", "--from", "0", "--to", "10", "--table", "itest.events",
		"--set", "replay.max-bytes=10KiB")
	require.Equal(t, 0, code, out)
}

func TestReplayBadRanges(t *testing.T) {
	b := newBed(t, 2)
	cfg := b.config("floe", "")
	b.produce(200)
	ends := b.endOffsets()
	// Retention: the first 5 offsets of partition 0 are gone.
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: "events", Partition: 0, At: 5})
	res, err := kadm.NewClient(b.prod).DeleteRecords(context.Background(), del)
	require.NoError(t, err)
	require.NoError(t, res.Error())

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"from after to", []string{"--from", "20", "--to", "10"}, 2, "partition 0: --from 20 (offset 20) is after --to 10 (offset 10)"},
		{"unknown partition", []string{"--partitions", "0,7", "--from", "5", "--to", "6"}, 2, "topic events has no partition 7 (it has 2 partitions, 0-1)"},
		{"to past the end", []string{"--partitions", "1", "--from", "0", "--to", "100000"}, 2,
			fmt.Sprintf("events partition 1: --to 100000 is offset 100000, past the end of the partition (%d, its last stable offset)", ends[1])},
		{"from past the end", []string{"--partitions", "1", "--from", "100000", "--to", "end"}, 2, "events partition 1: --from 100000 is offset 100000, past the end"},
		{"expired offsets", []string{"--from", "0", "--to", "10"}, 2,
			"events partition 0: offset 0 no longer exists in Kafka (deleted by retention or DeleteRecords); the first available offset is 5"},
		{"expired by time", []string{"--partitions", "0", "--from", "2000-01-01T00:00:00Z", "--to", "end"}, 2,
			"events partition 0: records from 2000-01-01T00:00:00Z may have been deleted by retention: the first available offset 5 is newer"},
		{"bad bound", []string{"--from", "yesterday", "--to", "end"}, 2, `--from: want an offset, an RFC 3339 time (2026-11-26T10:00:00Z) or earliest, got "yesterday"`},
		{"negative offset", []string{"--from", "-1", "--to", "end"}, 2, "--from: offset -1 is negative"},
		{"bad partitions", []string{"--partitions", "x", "--from", "0", "--to", "end"}, 2, `--partitions: "x" is not a partition number`},
		{"unknown topic", []string{"--topic", "nope", "--from", "0", "--to", "end"}, 2, `topic "nope" does not exist`},
		{"unknown table", []string{"--table", "itest.other", "--from", "0", "--to", "end"}, 2, `--table "itest.other" is not in the config's tables`},
		{"missing to", []string{"--from", "0"}, 2, "--to is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--topic", "events", "--table", "itest.events"}, tt.args...)
			code, out := b.replay(cfg, args...)
			require.Equal(t, tt.code, code, out)
			require.Contains(t, out, tt.want)
		})
	}
	require.Nil(t, b.loadTable(), "no error path wrote anything")

	// From the first available offset it works, and an empty range is a no-op.
	code, out := b.replay(cfg, "--topic", "events", "--partitions", "0", "--from", "5", "--to", "5", "--table", "itest.events")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "the range is empty: nothing to replay")
	code, out = b.replay(cfg, "--topic", "events", "--partitions", "0", "--from", "earliest", "--to", "end", "--table", "itest.events", "--dry-run")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "table itest.events does not exist yet")
	require.Contains(t, out, fmt.Sprintf("dry run: would read %d offsets (0 already committed", ends[0]-5))
	require.Nil(t, b.loadTable(), "a dry run writes nothing, not even the table")
	code, out = b.replay(cfg, "--topic", "events", "--partitions", "0", "--from", "earliest", "--to", "end", "--table", "itest.events")
	require.Equal(t, 0, code, out)
	require.Equal(t, map[int32]int64{0: ends[0]}, b.groupOffsets(replayGroup(t, out), ""))
}

func TestReplayIntoBranch(t *testing.T) {
	b := newBed(t, 2)
	cfg := b.config("floe", "")
	b.produce(500)
	p := b.start(cfg)
	b.waitCommitted(500, p)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	mainHead := b.loadTable().CurrentSnapshot().SnapshotID

	args := []string{"--topic", "events", "--from", "0", "--to", "end", "--table", "itest.events", "--branch", "audit"}
	code, out := b.replay(cfg, args...)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "itest.events (branch audit)")
	tbl := b.loadTable()
	require.Equal(t, mainHead, tbl.CurrentSnapshot().SnapshotID, "main is untouched")
	requireIDs(t, b.idCounts(0), 0, 500, 1)
	head := offsets.Head(tbl.Metadata(), "audit")
	requireIDs(t, b.idCounts(head.SnapshotID), 0, 500, 2) // forked from main, plus the replay
	require.Equal(t, b.endOffsets(), b.groupOffsets(replayGroup(t, out), "audit"))

	code, out = b.replay(cfg, args...)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "already done")
	code, out = b.replay(cfg, append(args, "--dry-run")...)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "already done", "a dry run of a finished replay says so")
}

// A replay and a running `floe run` commit to one table at once: each keeps
// its own offsets key, and each stays exactly once.
func TestReplayBesideRunningFloe(t *testing.T) {
	b := newBed(t, 4)
	cfg := b.config("floe", "")
	yaml := strings.Replace(readFile(t, cfg), "    max-records: 400\n", "    max-records: 400\n    max-bytes: 16KiB\n", 1)
	yaml = strings.Replace(yaml, "  lag-interval: 1s\n", "  lag-interval: 1s\n  memory-budget: 64KiB\n", 1)
	require.NoError(t, writeFile(cfg, yaml))
	b.produce(6000)
	p := b.start(cfg)
	b.waitCommitted(1, p)

	replayCfg := b.config("replay", "")
	yaml = strings.Replace(readFile(t, replayCfg), "commit-interval: 500ms", "commit-interval: 100ms", 1)
	require.NoError(t, writeFile(replayCfg, yaml))
	done := make(chan struct{})
	var code int
	var out string
	go func() {
		defer close(done)
		code, out = b.replay(replayCfg, "--topic", "events", "--from", "0", "--to", "1000", "--table", "itest.events")
	}()
	b.produce(2000) // the live floe keeps consuming meanwhile
	<-done
	require.Equal(t, 0, code, out)
	b.waitCommitted(8000, p)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))

	require.Equal(t, b.endOffsets(), b.groupOffsets("itest", ""), "the live group covers the topic once")
	require.Equal(t, map[int32]int64{0: 1000, 1: 1000, 2: 1000, 3: 1000}, b.groupOffsets(replayGroup(t, out), ""))
	// Offsets 0-999 of every partition are in the table twice (live and
	// replay), everything else once.
	tbl := b.loadTable()
	_, recs, err := tbl.Scan(table.WithSelectedFields("_partition", "_offset")).ToArrowRecords(context.Background())
	require.NoError(t, err)
	seen := map[[2]int64]int{}
	for rec, err := range recs {
		require.NoError(t, err)
		ps, os := rec.Column(0).(*array.Int32), rec.Column(1).(*array.Int64)
		for i := 0; i < ps.Len(); i++ {
			seen[[2]int64{int64(ps.Value(i)), os.Value(i)}]++
		}
		rec.Release()
	}
	for part, end := range b.endOffsets() {
		for o := int64(0); o < end; o++ {
			want := 1
			if o < 1000 {
				want = 2
			}
			require.Equal(t, want, seen[[2]int64{int64(part), o}], "partition %d offset %d", part, o)
		}
	}
	var interleaved bool
	hist, err := offsets.History(tbl.Metadata(), "itest", "")
	require.NoError(t, err)
	for _, snap := range tbl.Metadata().Snapshots() {
		if snap.Summary == nil {
			continue
		}
		if _, isReplay := snap.Summary.Properties[offsets.Key(replayGroup(t, out))]; isReplay &&
			snap.TimestampMs > hist[len(hist)-1].Time.UnixMilli() && snap.TimestampMs < hist[0].Time.UnixMilli() {
			interleaved = true
		}
	}
	t.Logf("replay snapshots between live ones: %v", interleaved)
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

// SIGTERM commits what was read and exits 1 saying the replay is not done;
// the same command then finishes it. With an hour between commits and a
// small memory budget, reading stalls until the signal, so the interruption
// is certain to leave offsets behind.
func TestReplaySigtermCommitsAndResumes(t *testing.T) {
	b := newBed(t, 2)
	cfg := b.config("floe", "")
	yaml := strings.Replace(readFile(t, cfg), "    max-records: 400\n", "    max-records: 400\n    max-bytes: 16KiB\n", 1)
	yaml = strings.Replace(yaml, "  lag-interval: 1s\n", "  lag-interval: 1s\n  memory-budget: 64KiB\n", 1)
	yaml = strings.Replace(yaml, "commit-interval: 500ms", "commit-interval: 1h", 1)
	yaml = strings.Replace(yaml, "  lag-interval: 1s\n", "  lag-interval: 1s\n  fetch-max-bytes: 16KiB\n", 1)
	require.NoError(t, writeFile(cfg, yaml))
	for i := 0; i < 50; i++ {
		b.produce(100) // small record batches, so that a fetch holds a few
	}
	args := []string{"--topic", "events", "--from", "0", "--to", "end", "--table", "itest.events"}

	cmd := exec.Command(floeBin, append([]string{"replay", "--config", cfg}, args...)...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "memory budget reached") },
		60*time.Second, 20*time.Millisecond, "reading never stalled:\n%s", out.String())
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err := cmd.Wait()
	require.Error(t, err)
	require.Equal(t, 1, cmd.ProcessState.ExitCode(), out.String())
	require.Regexp(t, `replay [0-9a-f]+ interrupted: \d+ of 5000 offsets left; running the same command again resumes`, out.String())
	group := replayGroup(t, out.String())
	var first int64
	for _, o := range b.groupOffsets(group, "") {
		first += o
	}
	require.Positive(t, first, "what was read before the signal is committed")
	require.Less(t, first, int64(5000))

	yaml = strings.Replace(readFile(t, cfg), "commit-interval: 1h", "commit-interval: 100ms", 1)
	require.NoError(t, writeFile(cfg, yaml))
	code, out2 := b.replay(cfg, args...)
	require.Equal(t, 0, code, out2)
	require.Contains(t, out2, fmt.Sprintf("resuming: %d of 5000 offsets already committed", first))
	requireIDs(t, b.idCounts(0), 0, 5000, 1)
}

func TestProgressLines(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, total: 1000, read: func() int64 { return 250 }}
	require.Equal(t, "     10s  read  25%  250 / 1000 offsets  25/s  ETA 30s\n", p.line(250, 10*time.Second))
	require.Equal(t, "      1s  read 100%  1000 / 1000 offsets  1.0k/s  ETA 0s\n", p.line(1000, time.Second))
	require.Contains(t, p.line(0, 0), "ETA ?")

	p.tty = true
	bar := p.line(500, 2*time.Second)
	require.Equal(t, "\r[###############...............]  50%  500 / 1000 offsets  250/s  ETA 2s   ", bar)
	require.False(t, isTerminal(&buf), "a buffer is not a terminal")
}
