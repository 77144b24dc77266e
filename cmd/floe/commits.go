package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/config"
	"github.com/floe-dev/floe/offsets"
)

func commitsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe commits", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tableName := fs.String("table", "", "table to read (default: every configured table)")
	asJSON := fs.Bool("json", false, "print JSON lines instead of a table")
	limit := fs.Int("limit", 0, "print at most this many commits per table, newest first (0: all)")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	return eachTable(ctx, cfg, *tableName, func(name string, tbl *table.Table) error {
		hist, err := offsets.History(tbl.Metadata(), cfg.Kafka.Group, "")
		if err != nil {
			return err
		}
		if *limit > 0 && len(hist) > *limit {
			hist = hist[:*limit]
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			for _, h := range hist {
				if err := enc.Encode(struct {
					Table string `json:"table"`
					offsets.Commit
				}{name, h}); err != nil {
					return err
				}
			}
			return nil
		}
		printHistory(stdout, name, tbl.Properties()[committer.PropOwner], cfg.Kafka.Group, hist)
		return nil
	})
}

// eachTable opens the catalog and calls fn with each configured table (or
// only the one named), loaded.
func eachTable(ctx context.Context, cfg *config.Config, only string, fn func(name string, tbl *table.Table) error) error {
	cat, err := catalog.Open(ctx, cfg.Catalog, nil)
	if err != nil {
		return err
	}
	defer closeCatalog(cat)
	names, err := selectTables(*cfg, only)
	if err != nil {
		return err
	}
	for _, name := range names {
		tbl, err := loadTable(ctx, cat, name)
		if err != nil {
			return err
		}
		if err := fn(name, tbl); err != nil {
			return err
		}
	}
	return nil
}

func loadTable(ctx context.Context, cat icecat.Catalog, name string) (*table.Table, error) {
	ident, err := committer.ParseIdentifier(name)
	if err != nil {
		return nil, err
	}
	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		return nil, fmt.Errorf("load table %s: %w", name, err)
	}
	return tbl, nil
}

func selectTables(cfg config.Config, only string) ([]string, error) {
	var names []string
	for _, t := range cfg.Tables {
		if only == "" || t.Name == only {
			names = append(names, t.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: --table %q is not in the config's tables", errUsage, only)
	}
	return names, nil
}

func readHistory(ctx context.Context, cat icecat.Catalog, name, group string) ([]offsets.Commit, error) {
	tbl, err := loadTable(ctx, cat, name)
	if err != nil {
		return nil, err
	}
	return offsets.History(tbl.Metadata(), group, "")
}

func printHistory(w io.Writer, table, owner, group string, hist []offsets.Commit) {
	if owner == "" {
		owner = "-"
	}
	fmt.Fprintf(w, "table %s (owner %s), group %s: %d commits (newest first)\n", table, owner, group, len(hist))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SNAPSHOT ID\tTIME\tRECORDS\tFILES\tWRITER\tWATERMARK\tOFFSETS [start,end)")
	for _, h := range hist {
		var ranges []string
		for _, r := range h.Ranges {
			ranges = append(ranges, fmt.Sprintf("%s[%d]:%d-%d", r.Topic, r.Partition, r.Start, r.End))
		}
		if rb := h.Rollback; rb != nil {
			ranges = append(ranges, fmt.Sprintf("rollback from %d to %d, %d snapshots undone; skipped:", rb.From, rb.To, len(rb.Undone)))
			for _, r := range rb.Skipped {
				ranges = append(ranges, fmt.Sprintf("%s[%d]:%d-%d", r.Topic, r.Partition, r.Start, r.End))
			}
		}
		wm := h.Watermark
		if t, err := time.Parse(time.RFC3339Nano, wm); err == nil {
			wm = t.UTC().Format(time.RFC3339)
		} else if wm == "" {
			wm = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%s\n", h.SnapshotID, h.Time.Format(time.RFC3339),
			h.Records, h.Files, h.Writer.Host+"/"+h.Writer.Instance+" "+h.Writer.Version, wm, strings.Join(ranges, " "))
	}
	_ = tw.Flush()
}

func closeCatalog(cat icecat.Catalog) {
	if c, ok := cat.(io.Closer); ok {
		_ = c.Close()
	}
}
