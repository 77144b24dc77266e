package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/floe-dev/floe/maintenance"
)

// sweepCmd lists (and with --apply deletes) files under a table's location
// that no snapshot references: data files of commits that failed or were
// abandoned. A dry run is the default.
func sweepCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tableName := fs.String("table", "", "table to sweep (default: every configured table)")
	olderThan := fs.Duration("older-than", 24*time.Hour, "only files older than this (at least 1h)")
	apply := fs.Bool("apply", false, "delete the files; without it only list them")
	asJSON := fs.Bool("json", false, "print one JSON object per table")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if *olderThan < maintenance.MinSweepAge {
		return fmt.Errorf("%w: --older-than must be at least %s: files of commits in progress are younger", errUsage, maintenance.MinSweepAge)
	}
	if u := cfg.Unreferenced(); *olderThan <= u {
		return fmt.Errorf("%w: --older-than must be more than %s: a data file may wait that long here for the commit that references it "+
			"(the longest commit-interval plus commit.give-up-after or commit.timeout)", errUsage, u)
	}
	return eachTable(ctx, cfg, *tableName, func(name string, tbl *table.Table) error {
		res, err := maintenance.Sweep(ctx, tbl, *olderThan, *apply)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(struct {
				Table string `json:"table"`
				maintenance.SweepResult
			}{name, res})
		}
		verb := "would delete (dry run; --apply deletes)"
		if *apply {
			verb = "deleted"
		}
		fmt.Fprintf(stdout, "table %s: %d unreferenced files older than %s, %d bytes; %s:\n", name, len(res.Orphans), *olderThan, res.Bytes, verb)
		for _, f := range res.Orphans {
			fmt.Fprintf(stdout, "  %s\t%d\n", f.Path, f.Size)
		}
		return nil
	})
}
