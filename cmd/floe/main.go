// Command floe streams Kafka topics into Apache Iceberg tables exactly once.
//
// Subcommands (one file each):
//
//	floe run     --config floe.yaml          consume into the configured tables
//	floe demo                                the whole pipeline on an in-process Kafka
//	floe commits --config floe.yaml          the commit history stored in a table
//	floe sweep   --config floe.yaml          unreferenced files under a table (dry run)
//	floe maintain --config floe.yaml         run each table's maintenance once (expiry, manifests)
//	floe replay  --config floe.yaml …        a topic range into a table, exactly once
//	floe rollback --config floe.yaml …       set a table back to one of its snapshots
//	floe version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/floe-dev/floe/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// errUsage marks a command-line mistake (exit code 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signalContext()
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// signalContext is cancelled by the first SIGINT/SIGTERM; the second one
// exits at once.
func signalContext() (context.Context, func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := watchSignals(sigs, os.Stderr, os.Exit)
	return ctx, func() { signal.Stop(sigs); cancel() }
}

// watchSignals cancels the returned context on the first signal from sigs
// and calls exit(130) on the second.
func watchSignals(sigs <-chan os.Signal, stderr io.Writer, exit func(int)) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		fmt.Fprintf(stderr, "floe: %s received: flushing and committing; send it again to exit at once\n", s)
		cancel()
		if s, ok = <-sigs; ok {
			fmt.Fprintf(stderr, "floe: second %s: exiting without flushing (uncommitted records are read again on restart)\n", s)
			exit(130)
		}
	}()
	return ctx, cancel
}

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "floe:", err)
		return 2
	case errors.Is(err, errRefused):
		fmt.Fprintln(stderr, "floe:", err)
		return 3
	default:
		fmt.Fprintln(stderr, "floe:", err)
		return 1
	}
}

const usage = `floe streams Kafka topics into Apache Iceberg tables exactly once.

Usage:
  floe run     --config FILE [--set key=value ...]   consume into the configured tables
  floe demo    [--records N] [--dir DIR]              run the whole pipeline on an in-process Kafka
  floe commits --config FILE [--table T] [--json]     print the commit history stored in a table
  floe sweep   --config FILE [--table T] [--older-than 24h] [--apply]
                                                      list (or delete) files no snapshot references
  floe maintain --config FILE [--table T] [--dry-run] [--json]
                                                      run each table's maintenance once (expiry, manifests)
  floe replay  --config FILE --topic T --from OFFSET|TIME|earliest --to OFFSET|TIME|end --table X
               [--partitions 0,3,5] [--branch B] [--dry-run]
                                                      replay a topic range into a table, exactly once
  floe rollback --config FILE --table T --to-snapshot S (--replay | --skip) [--force] [--dry-run]
                                                      set a table back to snapshot S
  floe version

Environment variables FLOE_SECTION__KEY override the config file; every key is
documented in deploy/floe.example.yaml.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "run":
		return runCmd(ctx, args[1:], stdout, stderr)
	case "demo":
		return demoCmd(ctx, args[1:], stdout, stderr)
	case "commits":
		return commitsCmd(ctx, args[1:], stdout, stderr)
	case "sweep":
		return sweepCmd(ctx, args[1:], stdout, stderr)
	case "maintain":
		return maintainCmd(ctx, args[1:], stdout, stderr)
	case "replay":
		return replayCmd(ctx, args[1:], stdout, stderr)
	case "rollback":
		return rollbackCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "floe", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

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
