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

	"github.com/apache/iceberg-go/table"

	"github.com/floe-dev/floe/committer"
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
		if oldest, expired := offsets.Oldest(tbl.Metadata(), ""); expired {
			fmt.Fprintf(stdout, "history before snapshot %d (%s) was expired (maintenance.expire); a rollback can go back to it, not further\n",
				oldest.SnapshotID, time.UnixMilli(oldest.TimestampMs).UTC().Format(time.RFC3339))
		}
		return nil
	})
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
