package committer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/maintenance"
)

// localPath turns a file:// location into a path.
func localPath(loc string) string {
	return "/" + strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(loc, "file:"), "//"), "/")
}

func TestSweepDeletesOnlyOldUnreferencedFiles(t *testing.T) {
	e := newProtoEnv(t)
	c := e.committer("a")
	c.Submit(e.batch(c, 0, 1, 0, 10))
	require.NoError(t, c.Commit(context.Background()))
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "events"})
	require.NoError(t, err)

	dataDir := filepath.Join(localPath(tbl.Location()), "data")
	old := filepath.Join(dataDir, "00000-abandoned.parquet")
	young := filepath.Join(dataDir, "00001-in-flight.parquet")
	require.NoError(t, os.WriteFile(old, []byte("left by a failed commit"), 0o644))
	require.NoError(t, os.WriteFile(young, []byte("a commit in progress"), 0o644))
	past := time.Now().Add(-3 * time.Hour)
	require.NoError(t, os.Chtimes(old, past, past))
	// Make every file floe committed old too: age alone must not condemn them.
	require.NoError(t, filepath.Walk(localPath(tbl.Location()), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && p != young {
			return os.Chtimes(p, past, past)
		}
		return err
	}))

	_, err = maintenance.Sweep(context.Background(), tbl, 30*time.Minute, false)
	require.ErrorContains(t, err, "at least 1h0m0s")

	res, err := maintenance.Sweep(context.Background(), tbl, 2*time.Hour, false)
	require.NoError(t, err)
	require.Len(t, res.Orphans, 1)
	require.True(t, strings.HasSuffix(res.Orphans[0].Path, "00000-abandoned.parquet"), res.Orphans[0].Path)
	require.Empty(t, res.Deleted, "a dry run deletes nothing")
	require.FileExists(t, old)

	res, err = maintenance.Sweep(context.Background(), tbl, 2*time.Hour, true)
	require.NoError(t, err)
	require.Len(t, res.Deleted, 1)
	require.NoFileExists(t, old)
	require.FileExists(t, young, "younger than older-than")
	requireNoDuplicates(t, e.rows(), 10) // every referenced file is still there
}

func TestSweepConfigValidate(t *testing.T) {
	require.NoError(t, maintenance.DefaultSweepConfig().Validate())
	require.ErrorContains(t, maintenance.SweepConfig{OlderThan: 10 * time.Minute}.Validate(), "older-than")
	require.ErrorContains(t, maintenance.SweepConfig{Interval: -1, OlderThan: time.Hour}.Validate(), "interval")
}
