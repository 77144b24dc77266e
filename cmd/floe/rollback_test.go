package main

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
)

// floeCmd runs the built binary and returns its exit code and output.
func floeCmd(t testing.TB, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(floeBin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "floe %v did not run: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// rowIDs counts the table's rows by id.
func (b *bed) rowIDs() map[string]int {
	b.t.Helper()
	return b.rowIDsIn(b.loadTable())
}

// rowIDsIn counts the rows of tbl by id.
func (b *bed) rowIDsIn(tbl *table.Table) map[string]int {
	b.t.Helper()
	require.NotNil(b.t, tbl)
	_, recs, err := tbl.Scan(table.WithSelectedFields("id")).ToArrowRecords(context.Background())
	require.NoError(b.t, err)
	out := map[string]int{}
	for rec, err := range recs {
		require.NoError(b.t, err)
		col := rec.Column(0).(*array.String)
		for i := 0; i < col.Len(); i++ {
			out[col.Value(i)]++
		}
		rec.Release()
	}
	return out
}

func (b *bed) head() int64 {
	b.t.Helper()
	return b.loadTable().CurrentSnapshot().SnapshotID
}

func TestRollbackCommand(t *testing.T) {
	b := newBed(t, 2)
	cfg := b.config("floe", "")
	b.produce(200)
	p := b.start(cfg)
	b.waitCommitted(200, p)
	s1 := b.head()
	b.produce(200)
	b.waitCommitted(400, p)

	// Refused while floe consumes.
	code, out := floeCmd(t, "rollback", "--config", cfg, "--table", "itest.events", "--to-snapshot", fmt.Sprint(s1), "--replay")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "refused: consumer group itest has 1 members")
	require.Contains(t, out, "stop them first")
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	head := b.head()

	// Usage and bad snapshots.
	code, out = floeCmd(t, "rollback", "--config", cfg, "--table", "itest.events", "--to-snapshot", fmt.Sprint(s1), "--replay", "--skip")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "give exactly one of --replay")
	code, out = floeCmd(t, "rollback", "--config", cfg, "--table", "itest.events", "--to-snapshot", "12345", "--skip")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "snapshot 12345 is not in table itest.events")

	// A dry run changes nothing.
	require.Eventually(t, func() bool {
		code, out = floeCmd(t, "rollback", "--config", cfg, "--table", "itest.events", "--to-snapshot", fmt.Sprint(s1), "--replay", "--dry-run")
		return code == 0
	}, 60*time.Second, 200*time.Millisecond, "the group still has members after floe stopped: %s", out)
	require.Contains(t, out, "would roll back (dry run)")
	require.Equal(t, head, b.head())

	// --replay: back to s1, floe reads the rest again; exactly once.
	code, out = floeCmd(t, "rollback", "--config", cfg, "--table", "itest.events", "--to-snapshot", fmt.Sprint(s1), "--replay")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, fmt.Sprintf("current snapshot: %d; floe reads the ranges above again", s1))
	require.Contains(t, out, ": floe reads again")
	require.Equal(t, s1, b.head())
	require.Len(t, b.rowIDs(), 200)
	p = b.start(cfg)
	b.waitCommitted(400, p)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	b.requireExactlyOnce(400)

	// --skip: the data of s2, the offsets floe had; it goes on after them.
	s2 := b.head()
	p = b.start(cfg)
	b.produce(100) // r400..r499, to be skipped
	b.waitCommitted(500, p)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	require.Eventually(t, func() bool {
		code, out = floeCmd(t, "rollback", "--config", cfg, "--table", "itest.events", "--to-snapshot", fmt.Sprint(s2), "--skip")
		return code == 0
	}, 60*time.Second, 200*time.Millisecond, "rollback --skip: %s", out)
	require.Contains(t, out, "skipped")
	require.Contains(t, out, "floe.rollback records the skip")
	require.Len(t, b.rowIDs(), 400)
	require.Equal(t, int64(500), b.committed(), "the offsets stay past the skipped records")
	p = b.start(cfg)
	b.produce(100) // r500..r599
	b.waitCommitted(600, p)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	ids := b.rowIDs()
	require.Len(t, ids, 500)
	for id, n := range ids {
		require.Equal(t, 1, n, id)
	}
	require.NotContains(t, ids, "r0000450")
	require.Contains(t, ids, "r0000550")
	code, out = floeCmd(t, "commits", "--config", cfg, "--limit", "3")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, fmt.Sprintf(" to %d, ", s2))
	require.Contains(t, out, "snapshots undone; skipped:")

	// --replay past Kafka's retention is refused.
	adm := kadm.NewClient(b.prod)
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "events", Partition: 0, At: 200}) // s1 held 200 records in all: past its offset of partition 0
	res, err := adm.DeleteRecords(context.Background(), del)
	require.NoError(t, err)
	require.NoError(t, res.Error())
	code, out = floeCmd(t, "rollback", "--config", cfg, "--table", "itest.events", "--to-snapshot", fmt.Sprint(s1), "--replay")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "--replay needs records Kafka no longer has (retention deleted them): events[0]")
	require.Contains(t, out, "(Kafka starts at 200)")
}
