package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/floe-dev/floe/config"
)

// setFlags collects repeated --set key=value overrides.
type setFlags map[string]any

func (s setFlags) String() string { return "" }
func (s setFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	s[k] = val
	return nil
}

// loadConfig parses --config and --set from args with fs and loads the file.
func loadConfig(fs *flag.FlagSet, args []string) (*config.Config, error) {
	path := fs.String("config", "", "path to the YAML config file (required)")
	sets := setFlags{}
	fs.Var(sets, "set", "override a config key, e.g. --set kafka.group=g (repeatable)")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if *path == "" {
		return nil, fmt.Errorf("%w: --config is required", errUsage)
	}
	cfg, err := config.Load(*path, os.Environ(), sets)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

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
