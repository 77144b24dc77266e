package maintenance

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/internal/promtest"
)

// A sweep that cannot load its table is counted and logged, and the next
// interval tries again; time is fake (synctest), so the count of sweeps in
// three intervals does not depend on the machine.
func TestSweeperCountsFailuresAndGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		loads := 0
		load := func(context.Context) (*table.Table, error) {
			loads++
			return nil, errors.New("catalog down")
		}
		s := NewSweeper(SweepConfig{Interval: time.Hour, OlderThan: 24 * time.Hour}, "db.t", load,
			slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()

		time.Sleep(3*time.Hour + time.Minute)
		synctest.Wait()
		require.Equal(t, 3, loads)
		require.Equal(t, 3.0, promtest.Value(t, reg, "floe_committer_sweep_errors_total", map[string]string{"table": "db.t"}))
		require.Equal(t, 0.0, promtest.Value(t, reg, "floe_committer_swept_files_total", map[string]string{"table": "db.t"}))
		cancel()
		<-done
	})
}

func TestSweeperOffByDefault(t *testing.T) {
	s := NewSweeper(DefaultSweepConfig(), "db.t", func(context.Context) (*table.Table, error) {
		t.Fatal("a sweeper without an interval never loads the table")
		return nil, nil
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	s.Run(context.Background()) // returns at once
}
