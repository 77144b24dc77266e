package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/offsets"
)

// The replica that owns the table expires its snapshots while it ingests;
// `floe maintain` does the same once, with --dry-run changing nothing; the
// rows, the offsets and `floe commits` stay right throughout.
func TestMaintenanceKeepsTheTableBounded(t *testing.T) {
	b := newBed(t, 2)
	cfg := b.config("floe", "    maintenance: {interval: 200ms, expire: {keep-last: 3, keep-for: 0s, min-expired: 1}}\n")
	off := b.config("off", "    maintenance: {interval: 0s, expire: {keep-last: 2, keep-for: 0s}}\n")

	// Maintenance off: every commit stays.
	p := b.start(off)
	for i := 1; i <= 4; i++ {
		b.produce(50)
		b.waitCommitted(int64(50*i), p)
	}
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	before := len(b.loadTable().Metadata().Snapshots())
	require.GreaterOrEqual(t, before, 4)

	out, err := exec.Command(floeBin, "maintain", "--config", off, "--dry-run").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "table itest.events:\n  expire: would expire")
	require.Contains(t, string(out), "  compact: would rewrite 16 small files")
	require.Contains(t, string(out), "  manifests: ")
	require.Len(t, b.loadTable().Metadata().Snapshots(), before, "a dry run changes nothing")

	out, err = exec.Command(floeBin, "maintain", "--config", off, "--json").Output()
	require.NoError(t, err, string(out))
	var res struct {
		Table  string `json:"table"`
		Expire struct {
			Expired   []int64 `json:"expired_snapshots"`
			Retained  int     `json:"retained_snapshots"`
			Committed bool    `json:"committed"`
		} `json:"expire"`
		Compact struct {
			FilesRewritten int   `json:"files_rewritten"`
			FilesAdded     int   `json:"files_added"`
			SnapshotID     int64 `json:"snapshot_id"`
			Committed      bool  `json:"committed"`
		} `json:"compact"`
	}
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	require.True(t, res.Expire.Committed)
	require.Equal(t, 2, res.Expire.Retained)
	require.Len(t, res.Expire.Expired, before-2)
	// Four commits of four partitions: 16 small files, one per partition
	// after the compaction, in a snapshot of its own.
	require.True(t, res.Compact.Committed)
	require.Equal(t, 16, res.Compact.FilesRewritten)
	require.Equal(t, 4, res.Compact.FilesAdded)
	tbl := b.loadTable()
	require.Len(t, tbl.Metadata().Snapshots(), 3, "the two kept and the compaction")
	require.Equal(t, res.Compact.SnapshotID, tbl.CurrentSnapshot().SnapshotID)
	b.requireExactlyOnce(200)
	out, err = exec.Command(floeBin, "commits", "--config", off).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "was expired (maintenance.expire); a rollback can go back to it, not further")

	// Maintenance on: the owner keeps the table at keep-last while it
	// ingests.
	p = b.start(cfg)
	for i := 5; i <= 10; i++ {
		b.produce(50)
		b.waitCommitted(int64(50*i), p)
	}
	require.Eventually(t, func() bool {
		_, body := p.get(t, "/metrics")
		return strings.Contains(body, `floe_maintenance_runs_total{outcome="committed",table="itest.events",task="expire"}`)
	}, 60*time.Second, 100*time.Millisecond, "the owner expires snapshots")
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	b.requireExactlyOnce(500)
	meta := b.loadTable().Metadata()
	m, snap, err := offsets.Read(meta, "itest", "")
	require.NoError(t, err)
	require.NotNil(t, meta.SnapshotByID(snap.SnapshotID))
	require.False(t, m.Empty())
}
