package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/maintenance"
)

// maintainCmd runs each table's maintenance once (snapshot expiry, then
// compaction, then the manifest rewrite), as its `maintenance:` section
// configures it, whatever is due (expire.min-expired does not apply;
// compaction merges any two small files of a partition), and
// prints what it did; with --dry-run it prints what it would do. It is safe
// beside a running floe: every maintenance commit asserts the head it read.
func maintainCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe maintain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tableName := fs.String("table", "", "table to maintain (default: every configured table)")
	dryRun := fs.Bool("dry-run", false, "print what would be done; change nothing")
	asJSON := fs.Bool("json", false, "print one JSON object per table")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	cat, err := catalog.Open(ctx, cfg.Catalog, nil)
	if err != nil {
		return err
	}
	defer closeCatalog(cat)
	tables, err := selectTables(ctx, cat, *cfg, *tableName)
	if err != nil {
		return err
	}
	for _, tc := range tables {
		ident, err := committer.ParseIdentifier(tc.Name)
		if err != nil {
			return err
		}
		t := maintenance.Table{Name: tc.Name, Ident: ident, Catalog: cat, TargetFileSize: tc.TargetFileSize}
		out := struct {
			Table     string                       `json:"table"`
			DryRun    bool                         `json:"dry_run"`
			Expire    *maintenance.ExpireResult    `json:"expire,omitempty"`
			Compact   *maintenance.CompactResult   `json:"compact,omitempty"`
			Manifests *maintenance.ManifestsResult `json:"manifests,omitempty"`
		}{Table: tc.Name, DryRun: *dryRun}
		if tc.Maintenance.Expire.Enabled {
			res, err := maintenance.Expire(ctx, t, tc.Maintenance.Expire, true, !*dryRun)
			if err != nil {
				return err
			}
			out.Expire = &res
		}
		if tc.Maintenance.Compact.Enabled {
			res, err := maintenance.Compact(ctx, t, tc.Maintenance.Compact, true, !*dryRun)
			if err != nil {
				return err
			}
			out.Compact = &res
		}
		if tc.Maintenance.Manifests.Enabled {
			res, err := maintenance.RewriteManifests(ctx, t, tc.Maintenance.Manifests, false, !*dryRun)
			if err != nil {
				return err
			}
			out.Manifests = &res
		}
		if *asJSON {
			if err := json.NewEncoder(stdout).Encode(out); err != nil {
				return err
			}
			continue
		}
		printExpired(stdout, out.Table, out.DryRun, out.Expire, tc.Maintenance.Expire)
		printCompacted(stdout, out.DryRun, out.Compact)
		printManifests(stdout, out.DryRun, out.Manifests, tc.Maintenance.Manifests)
	}
	return nil
}

func printExpired(w io.Writer, name string, dryRun bool, res *maintenance.ExpireResult, cfg maintenance.ExpireConfig) {
	fmt.Fprintf(w, "table %s:\n", name)
	switch {
	case res == nil:
		fmt.Fprintln(w, "  expire: off (maintenance.expire.enabled: false)")
	case len(res.Expired) == 0:
		fmt.Fprintf(w, "  expire: nothing due (keep-last %d, keep-for %s); %d snapshots\n", cfg.KeepLast, cfg.KeepFor, res.Retained)
	case dryRun:
		fmt.Fprintf(w, "  expire: would expire %d snapshots, keeping %d (dry run):\n", len(res.Expired), res.Retained)
		for _, id := range res.Expired {
			fmt.Fprintf(w, "    %d\n", id)
		}
	default:
		fmt.Fprintf(w, "  expire: expired %d snapshots, kept %d, removed %d files no retained snapshot references\n",
			len(res.Expired), res.Retained, res.FilesRemoved)
		if res.CleanupError != "" {
			fmt.Fprintf(w, "  expire: some of those files were not deleted (`floe sweep --apply` removes them): %s\n", res.CleanupError)
		}
	}
}

func printCompacted(w io.Writer, dryRun bool, res *maintenance.CompactResult) {
	switch {
	case res == nil:
		fmt.Fprintln(w, "  compact: off (maintenance.compact.enabled: false)")
		return
	case res.Groups == 0:
		fmt.Fprintln(w, "  compact: no partition has two or more small files")
		return
	case dryRun:
		fmt.Fprintf(w, "  compact: would rewrite %d small files (%s) in %d groups (dry run)\n",
			res.FilesRewritten, humanBytes(res.BytesRewritten), res.Groups)
	default:
		fmt.Fprintf(w, "  compact: rewrote %d small files (%s) into %d (%s) in snapshot %d\n",
			res.FilesRewritten, humanBytes(res.BytesRewritten), res.FilesAdded, humanBytes(res.BytesAdded), res.SnapshotID)
	}
	if res.Deferred > 0 {
		fmt.Fprintf(w, "  compact: %d more groups are over max-bytes for one run: run again\n", res.Deferred)
	}
}

func printManifests(w io.Writer, dryRun bool, res *maintenance.ManifestsResult, cfg maintenance.ManifestsConfig) {
	switch {
	case res == nil:
		fmt.Fprintln(w, "  manifests: off (maintenance.manifests.enabled: false)")
	case res.Before <= cfg.Max:
		fmt.Fprintf(w, "  manifests: %d, at most %d: nothing to do\n", res.Before, cfg.Max)
	case dryRun:
		fmt.Fprintf(w, "  manifests: %d, more than %d: would rewrite them (dry run)\n", res.Before, cfg.Max)
	case res.Committed:
		fmt.Fprintf(w, "  manifests: rewrote %d into %d\n", res.Rewritten, res.Added)
	default:
		fmt.Fprintf(w, "  manifests: %d, already as few as their size allows\n", res.Before)
	}
}
