package maintenance

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/internal/promtest"
)

// downCatalog fails every load: the scheduling test needs no table.
type downCatalog struct {
	table.CatalogIO
	loads *atomic.Int64
}

func (d downCatalog) LoadTable(context.Context, table.Identifier) (*table.Table, error) {
	d.loads.Add(1)
	return nil, errors.New("catalog down")
}

// The maintainer works only while its replica owns the table, counts a
// failure and tries again at the next check; time is fake (synctest), so
// the number of checks does not depend on the machine.
func TestMaintainerRunsOnlyWhileItOwnsTheTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		var loads atomic.Int64
		var owner atomic.Bool
		cfg := DefaultConfig()
		cfg.Interval = time.Minute
		m := NewMaintainer(cfg, Table{Name: "db.t", Catalog: downCatalog{loads: &loads}}, owner.Load,
			slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { m.Run(ctx, ctx); close(done) }()

		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		require.Zero(t, loads.Load(), "not the owner: nothing is loaded")

		owner.Store(true)
		// Checks at 4m and 5m each retry until the next one is due.
		time.Sleep(3*time.Minute + 30*time.Second)
		synctest.Wait()
		require.Positive(t, loads.Load())
		require.Equal(t, 2.0, promtest.Value(t, reg, "floe_maintenance_runs_total",
			map[string]string{"table": "db.t", "task": "expire", "outcome": "failed"}))
		cancel()
		<-done
	})
}

func TestMaintainerOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Interval = 0
	NewMaintainer(cfg, Table{Name: "db.t"}, func() bool {
		t.Fatal("a maintainer without an interval never checks")
		return false
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil).Run(context.Background(), context.Background()) // returns at once
}
