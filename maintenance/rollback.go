// Package maintenance keeps floe's tables healthy and lets operators undo
// commits: the orphan sweep, which deletes files no snapshot references, and
// rollback, which sets a table back to an earlier snapshot with its offsets.
// Both read floe's evidence through package offsets and commit through
// package tablecommit, as every floe commit does.
package maintenance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/offsets"
	"github.com/floe-dev/floe/tablecommit"
)

// RollbackMode says what happens to the records of the undone commits.
type RollbackMode string

const (
	// RollbackReplay sets the table back: its offsets are the target's, so
	// floe reads the undone records again from Kafka.
	RollbackReplay RollbackMode = "replay"
	// RollbackSkip sets the table's data back but keeps the offsets where
	// they were: floe goes on after the undone records, and a snapshot on
	// top of the target records what was skipped.
	RollbackSkip RollbackMode = "skip"
)

// Undone is one snapshot a rollback takes off the branch.
type Undone struct {
	SnapshotID int64     `json:"snapshot_id"`
	Time       time.Time `json:"time"`
	Operation  string    `json:"operation"`
	// CommitID is set for floe's commits; empty for other writers'
	// snapshots (compaction, expiry, other engines), which are undone too.
	CommitID string `json:"commit_id,omitempty"`
	Records  int64  `json:"added_records"`
}

// RollbackPlan is what setting a table back to a snapshot does.
type RollbackPlan struct {
	Table string `json:"table"`
	From  int64  `json:"from_snapshot"` // the current head
	To    int64  `json:"to_snapshot"`
	// Undone lists the snapshots after To, newest first.
	Undone []Undone `json:"undone"`
	// Reread are the offset ranges of group the table no longer covers
	// after the rollback: read again with --replay, skipped with --skip.
	Reread []offsets.Range `json:"ranges"`
	// Offsets of every group at the head, carried by a --skip snapshot.
	headOffsets map[string]string
}

// PlanRollback checks that snapshot to is an ancestor of the table's head
// and works out what going back to it undoes for group.
func PlanRollback(tbl *table.Table, name, group string, to int64) (RollbackPlan, error) {
	meta := tbl.Metadata()
	head := meta.CurrentSnapshot()
	if head == nil {
		return RollbackPlan{}, fmt.Errorf("table %s has no snapshot to roll back", name)
	}
	if meta.SnapshotByID(to) == nil {
		retained := ""
		if oldest, expired := offsets.Oldest(meta, ""); expired {
			retained = fmt.Sprintf("; the table's history goes back to snapshot %d (%s), older snapshots were expired (maintenance.expire: keep-last, keep-for)",
				oldest.SnapshotID, time.UnixMilli(oldest.TimestampMs).UTC().Format(time.RFC3339))
		}
		return RollbackPlan{}, fmt.Errorf("snapshot %d is not in table %s: expired, or of another table%s; `floe commits --table %s` lists the snapshots a rollback can go back to",
			to, name, retained, name)
	}
	plan := RollbackPlan{Table: name, From: head.SnapshotID, To: to, headOffsets: map[string]string{}}
	if to == head.SnapshotID {
		return plan, nil
	}
	// One walk back from the head: the snapshots down to the target are
	// undone; the newest value of every floe.offsets.* key (every group and
	// replay) is what a --skip snapshot carries, as custom summary keys are
	// not inherited.
	found := false
	snaps, _ := table.AncestorsOfChecked(head.SnapshotID, meta.SnapshotByID)
	for i := range snaps {
		snap := &snaps[i]
		found = found || snap.SnapshotID == to
		if !found {
			u := Undone{SnapshotID: snap.SnapshotID, Time: time.UnixMilli(snap.TimestampMs).UTC()}
			if snap.Summary != nil {
				u.Operation = string(snap.Summary.Operation)
				u.CommitID = snap.Summary.Properties[offsets.SummaryCommitID]
				u.Records = offsets.Atoi(snap.Summary.Properties["added-records"])
			}
			plan.Undone = append(plan.Undone, u)
		}
		if snap.Summary == nil {
			continue
		}
		for k, v := range snap.Summary.Properties {
			if _, seen := plan.headOffsets[k]; !seen && strings.HasPrefix(k, offsets.SummaryOffsetsPrefix) {
				plan.headOffsets[k] = v
			}
		}
	}
	if !found {
		return RollbackPlan{}, fmt.Errorf("snapshot %d is not an ancestor of table %s's current snapshot %d: a rollback only goes back along the branch",
			to, name, head.SnapshotID)
	}

	now := offsets.Map{Topics: map[string]offsets.Topic{}}
	if v, ok := plan.headOffsets[offsets.Key(group)]; ok {
		var err error
		if now, err = offsets.Decode(v); err != nil {
			return RollbackPlan{}, err
		}
	}
	at, _, err := offsets.AsOf(meta, meta.SnapshotByID(to), offsets.Key(group))
	if err != nil {
		return RollbackPlan{}, err
	}
	for topic, t := range now.Topics {
		for p, end := range t.Next {
			start, ok := at.Get(topic, p)
			if !ok {
				start = 0 // unknown before: from the partition's first commit
			}
			if end > start {
				plan.Reread = append(plan.Reread, offsets.Range{Topic: topic, Partition: p, Start: start, End: end})
			}
		}
	}
	sort.Slice(plan.Reread, func(i, j int) bool {
		a, b := plan.Reread[i], plan.Reread[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return plan, nil
}

// rollbackBackoff and rollbackTimeout bound the retries of a rollback's
// commit (a 5xx, a lost response): `floe rollback` is run by a person, who
// is told to run it again when they run out.
var (
	rollbackBackoff = catalog.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	rollbackTimeout = 2 * time.Minute
)

// ApplyRollback sets tbl's main branch back to plan.To in one commit that
// fails if the head moved since the plan was made. With RollbackSkip the
// same commit adds a snapshot on top of plan.To that changes no file and
// carries the head's offsets and the skipped ranges (floe.rollback), so
// floe goes on after them. The commit goes through the table commit loop:
// an attempt whose outcome is unknown is resolved from the table before
// anything is sent again. It returns the table as committed.
//
// Each group's offsets tag (offsets.Tag) moves in the same commit to the
// newest snapshot carrying its offsets after the rollback; cat is the
// catalog tbl was loaded from.
func ApplyRollback(ctx context.Context, cat table.CatalogIO, tbl *table.Table, plan RollbackPlan, mode RollbackMode, who offsets.Writer) (*table.Table, error) {
	if mode != RollbackReplay && mode != RollbackSkip {
		return nil, fmt.Errorf("rollback mode must be replay or skip, got %q", mode)
	}
	if plan.To == plan.From {
		return tbl, errors.New("nothing to roll back: the snapshot is the table's current one")
	}
	ctx, cancel := context.WithTimeout(ctx, rollbackTimeout)
	defer cancel()
	keys := offsets.TaggedKeys(tbl.Metadata(), "")
	for k := range plan.headOffsets {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	first := true
	commit := &tablecommit.Commit{
		Target: tablecommit.Target{Name: plan.Table, Catalog: cat, Keys: keys, Load: func(ctx context.Context) (*table.Table, error) {
			if first { // the table the plan was made from
				first = false
				return tbl, nil
			}
			if err := tbl.Refresh(ctx); err != nil {
				return nil, catalog.LoadFailed(fmt.Errorf("load table %s: %w", plan.Table, err))
			}
			return tbl, nil
		}},
	}
	if mode == RollbackSkip {
		commit.ID = uuid.NewString()
	}
	var out *table.Table
	err := commit.Run(ctx, rollbackBackoff, func(ctx context.Context) error {
		res, err := commit.Once(ctx, func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
			return stageRollback(ctx, commit, tbl, txn, plan, mode, who)
		})
		out = res.Table
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// stageRollback is a rollback's stage: the branch set back to plan.To and,
// with RollbackSkip, the snapshot that records what was skipped.
func stageRollback(ctx context.Context, commit *tablecommit.Commit, tbl *table.Table, txn *table.Transaction, plan RollbackPlan, mode RollbackMode, who offsets.Writer) error {
	cur := tbl.CurrentSnapshot()
	if commit.Unknown() && mode == RollbackReplay && cur != nil && cur.SnapshotID == plan.To {
		return tablecommit.ErrNothing // an attempt whose outcome was unknown landed
	}
	if cur == nil || cur.SnapshotID != plan.From {
		if commit.Conflicts > 0 {
			return tablecommit.Fatal(fmt.Errorf("table %s changed while rolling back (another writer committed): nothing was changed; run it again: %w",
				plan.Table, commit.LastErr))
		}
		return tablecommit.Fatal(fmt.Errorf("table %s moved since the rollback was planned: run it again", plan.Table))
	}
	if err := txn.RollbackToSnapshot(plan.To); err != nil {
		return tablecommit.Fatal(fmt.Errorf("roll back %s to snapshot %d: %w", plan.Table, plan.To, err))
	}
	if mode != RollbackSkip {
		return nil
	}
	ev := offsets.Rollback{Mode: string(mode), From: plan.From, To: plan.To, Skipped: plan.Reread}
	for _, u := range plan.Undone {
		ev.Undone = append(ev.Undone, u.SnapshotID)
	}
	return tablecommit.SummaryOnly(ctx, txn, offsets.Summary{
		CommitID: commit.ID, Writer: who, Rollback: &ev, Carry: plan.headOffsets,
	}.Properties())
}
