package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
)

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.Log, stderr)
	logger.Info("floe starting", "version", version, "config", cfg.Redacted())
	setMemoryLimit(logger, cfg.Kafka.MemoryBudget)
	p, err := newPipeline(ctx, *cfg, logger)
	if err != nil {
		if ctx.Err() != nil {
			// A signal while opening the catalog or the tables: nothing was
			// consumed yet, so stopping here is a clean stop.
			logger.Info("stopped while starting; nothing consumed", "error", err)
			return nil
		}
		return err
	}
	defer p.Close()
	return p.Run(ctx)
}

// memoryLimit is the Go runtime's soft memory limit floe sets:
// kafka.memory-budget plus room for what the budget does not count (the
// Parquet writers' pages and compressors, Kafka fetch buffers), half the
// budget and at least memoryRoom, unless GOMEMLIMIT is set (the runtime
// has read it then). Without a limit the garbage collector lets the heap
// grow to twice what is live; with one too tight for what is live, it
// collects without end and the CPU goes to it (docs/BENCHMARKS.md).
func memoryLimit(env func(string) string, budget int64) (limit int64, source string) {
	if v := env("GOMEMLIMIT"); v != "" {
		return -1, "GOMEMLIMIT=" + v
	}
	return budget + max(budget/2, memoryRoom), "kafka.memory-budget + max(half of it, 192 MiB)"
}

// memoryRoom is the least room the soft memory limit leaves above the
// budget: about what two Parquet writers and the fetch buffers hold.
const memoryRoom = 192 << 20

// setMemoryLimit applies memoryLimit and logs it.
func setMemoryLimit(logger *slog.Logger, budget int64) {
	limit, source := memoryLimit(os.Getenv, budget)
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	logger.Info("soft memory limit", "bytes", debug.SetMemoryLimit(-1), "from", source)
}
