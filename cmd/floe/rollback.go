package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/consumer"
	"github.com/floe-dev/floe/maintenance"
	"github.com/floe-dev/floe/offsets"
)

// rollbackCmd sets a table back to one of its snapshots. With --replay floe
// reads the undone records again; with --skip it goes on after them and a
// new snapshot records what was skipped. It refuses while floe instances of
// the group are consuming (unless --force), and when --replay would need
// records Kafka no longer has.
func rollbackCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe rollback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tableName := fs.String("table", "", "the table to roll back (required)")
	to := fs.Int64("to-snapshot", 0, "the snapshot ID to set the table back to (required; `floe commits` lists them)")
	replay := fs.Bool("replay", false, "floe reads the undone records again from Kafka")
	skip := fs.Bool("skip", false, "floe goes on after the undone records; a new snapshot records the skipped offsets")
	force := fs.Bool("force", false, "roll back even while floe instances consume, or when Kafka no longer has records to replay")
	dryRun := fs.Bool("dry-run", false, "print what would be undone and change nothing")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *tableName == "":
		return fmt.Errorf("%w: --table is required", errUsage)
	case *to == 0:
		return fmt.Errorf("%w: --to-snapshot is required", errUsage)
	case *replay == *skip:
		return fmt.Errorf("%w: give exactly one of --replay (read the undone records again) and --skip (go on after them)", errUsage)
	}
	mode := maintenance.RollbackReplay
	if *skip {
		mode = maintenance.RollbackSkip
	}
	cat, err := catalog.Open(ctx, cfg.Catalog, nil)
	if err != nil {
		return err
	}
	defer closeCatalog(cat)
	if _, err := selectTables(ctx, cat, *cfg, *tableName); err != nil {
		return err
	}
	tbl, err := loadTable(ctx, cat, *tableName)
	if err != nil {
		return err
	}
	if router := tbl.Properties()["floe.route-template"]; router != "" && mode == maintenance.RollbackReplay {
		// Its partitions restart at the highest floor of all the router's
		// tables, which the rollback does not move: the undone records
		// would not be read again.
		return fmt.Errorf("%w: --replay: table %s is fed by route-by of %s, whose other tables' floors would let floe pass the undone records "+
			"without reading them again; not supported for routed tables yet: use --skip", errUsage, *tableName, router)
	}
	plan, err := maintenance.PlanRollback(tbl, *tableName, cfg.Kafka.Group, *to)
	if err != nil {
		return err
	}
	if plan.To == plan.From {
		fmt.Fprintf(stdout, "table %s is at snapshot %d already: nothing to roll back\n", plan.Table, plan.To)
		return nil
	}

	adm, err := newAdmin(cfg, newLogger(cfg.Log, stderr))
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := refuseWhileConsuming(ctx, adm, cfg.Kafka.Group, *force, stderr); err != nil {
		return err
	}
	if mode == maintenance.RollbackReplay {
		if err := refuseLostRecords(ctx, adm, plan.Reread, *force, stderr); err != nil {
			return err
		}
	}

	if *dryRun {
		return printRollback(stdout, plan, mode, 0, *asJSON, true)
	}
	host, _ := os.Hostname()
	out, err := maintenance.ApplyRollback(ctx, cat, tbl, plan, mode, offsets.Writer{Instance: "rollback-" + instanceID(), Host: host, Version: version})
	if err != nil {
		return err
	}
	return printRollback(stdout, plan, mode, out.CurrentSnapshot().SnapshotID, *asJSON, false)
}

// refuseWhileConsuming fails when the group has members: a running floe
// would commit on top of the rollback (or be fenced by it) while it happens.
func refuseWhileConsuming(ctx context.Context, adm *consumer.Admin, group string, force bool, stderr io.Writer) error {
	members, err := adm.Members(ctx, group)
	if err != nil {
		return fmt.Errorf("check no floe consumes: %w", err)
	}
	if len(members) == 0 {
		return nil
	}
	msg := fmt.Sprintf("consumer group %s has %d members (%s): floe instances are consuming and committing to the table; "+
		"stop them first (scale the deployment to 0), or pass --force", group, len(members), strings.Join(members, ", "))
	if !force {
		return fmt.Errorf("refused: %s", msg)
	}
	fmt.Fprintf(stderr, "warning (--force): %s\n", msg)
	return nil
}

// refuseLostRecords fails when --replay needs records that Kafka's
// retention already deleted: floe would stop at them on its next start.
func refuseLostRecords(ctx context.Context, adm *consumer.Admin, ranges []offsets.Range, force bool, stderr io.Writer) error {
	lost, err := adm.LostRanges(ctx, ranges)
	if err != nil || len(lost) == 0 {
		return err
	}
	var gone []string
	for _, l := range lost {
		gone = append(gone, fmt.Sprintf("%s[%d] %d-%d (Kafka starts at %d)", l.Topic, l.Partition, l.Start, l.End, l.First))
	}
	msg := "--replay needs records Kafka no longer has (retention deleted them): " + strings.Join(gone, ", ") +
		"; floe would stop at them. Use --skip, or restore the records first"
	if !force {
		return fmt.Errorf("refused: %s, or pass --force", msg)
	}
	fmt.Fprintf(stderr, "warning (--force): %s\n", msg)
	return nil
}

func printRollback(w io.Writer, plan maintenance.RollbackPlan, mode maintenance.RollbackMode, newHead int64, asJSON, dry bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(struct {
			maintenance.RollbackPlan
			Mode    maintenance.RollbackMode `json:"mode"`
			DryRun  bool                     `json:"dry_run"`
			NewHead int64                    `json:"current_snapshot,omitempty"`
		}{plan, mode, dry, newHead})
	}
	verb := "rolled back"
	if dry {
		verb = "would roll back (dry run)"
	}
	fmt.Fprintf(w, "table %s %s from snapshot %d to %d (--%s); %d snapshots undone:\n", plan.Table, verb, plan.From, plan.To, mode, len(plan.Undone))
	for _, u := range plan.Undone {
		who := "floe commit " + u.CommitID
		if u.CommitID == "" {
			who = "another writer"
		}
		fmt.Fprintf(w, "  %d  %s  %-9s %8d records  (%s)\n", u.SnapshotID, u.Time.Format(time.RFC3339), u.Operation, u.Records, who)
	}
	for _, r := range plan.Reread {
		action := "floe reads again"
		if mode == maintenance.RollbackSkip {
			action = "skipped"
		}
		fmt.Fprintf(w, "  %s[%d] offsets %d-%d: %s\n", r.Topic, r.Partition, r.Start, r.End, action)
	}
	if dry {
		return nil
	}
	if mode == maintenance.RollbackSkip {
		fmt.Fprintf(w, "current snapshot: %d (the data of %d, with the offsets floe had; floe.rollback records the skip)\n", newHead, plan.To)
	} else {
		fmt.Fprintf(w, "current snapshot: %d; floe reads the ranges above again when it starts\n", newHead)
	}
	return nil
}
