package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"runtime"
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
// Parquet writers' pages and compressors, one writer per core, and Kafka's
// fetch buffers): half the budget, and at least memoryRoom plus
// writerRoom per core (procs, GOMAXPROCS). Unless GOMEMLIMIT is set (the
// runtime has read it then). Without a limit the garbage collector lets
// the heap grow to twice what is live; with one too tight for what is
// live, it collects without end and the CPU goes to it
// (docs/BENCHMARKS.md: 256 MiB on 2 cores cost 12 % more CPU than 288).
func memoryLimit(env func(string) string, budget int64, procs int) (limit int64, source string) {
	if v := env("GOMEMLIMIT"); v != "" {
		return -1, "GOMEMLIMIT=" + v
	}
	return budget + max(budget/2, memoryRoom+writerRoom*int64(procs)),
		"kafka.memory-budget + max(half of it, 128 MiB + 16 MiB per core)"
}

// memoryRoom and writerRoom make the least room the soft memory limit
// leaves above the budget: fetch buffers and the runtime, and what each
// Parquet writer holds besides its batch.
const (
	memoryRoom = 128 << 20
	writerRoom = 16 << 20
)

// setMemoryLimit applies memoryLimit and logs it.
func setMemoryLimit(logger *slog.Logger, budget int64) {
	limit, source := memoryLimit(os.Getenv, budget, runtime.GOMAXPROCS(0))
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	logger.Info("soft memory limit", "bytes", debug.SetMemoryLimit(-1), "from", source)
}
