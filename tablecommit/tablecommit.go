// Package tablecommit is floe's one way of committing to an Iceberg table:
// the loop every kind of commit goes through — the data and offsets of a
// table, the letters of a dead-letter table, a schema change a record asked
// for, a rollback. Each attempt
//
//  1. loads the table;
//  2. resolves an unknown outcome: if an earlier attempt's commit may have
//     landed (a timeout, a 5xx, a lost response), the commit ID is looked for
//     in the branch's history first, and a found one is the result — a commit
//     is never sent twice;
//  3. pins the branch head it read (AssertRefSnapshotID), so the commit fails
//     rather than land on top of a head its stage did not see;
//  4. stages its changes: the caller's [Stage] reads what it needs from the
//     loaded table (the committed offsets, to fence), and adds files,
//     a summary-only snapshot, a schema update or a rollback to the
//     transaction;
//  5. commits, and marks the outcome unknown unless the catalog definitely
//     rejected it.
//
// Between failed attempts [Commit.Run] backs off with jitter; a stage's
// [Fatal] error, or the deadline, ends the loop. iceberg-go's own rebase
// retry must stay off: it would re-parent a staged change without the
// caller's fencing.
package tablecommit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/offsets"
)

// ErrNothing is returned by a [Stage] when the table already has what the
// commit would add (another replica made the schema change, every batch was
// fenced): the attempt ends without a commit and [Commit.Once] returns a
// Result without a snapshot.
var ErrNothing = errors.New("nothing to commit")

// Fatal marks err as one no retry can fix: [Commit.Run] stops at it.
func Fatal(err error) error { return &fatalError{err} }

type fatalError struct{ err error }

func (f *fatalError) Error() string { return f.err.Error() }
func (f *fatalError) Unwrap() error { return f.err }

// IsFatal reports whether err was marked with [Fatal].
func IsFatal(err error) bool {
	var f *fatalError
	return errors.As(err, &f)
}

// Stage adds one attempt's changes to txn, a transaction on the loaded
// table tbl, its branch head already pinned. It may return ErrNothing
// or a Fatal error.
type Stage func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error

// Target is the table a Commit goes to.
type Target struct {
	// Name is the table's name, for errors.
	Name string
	// Load loads the table from the catalog; its errors are the caller's
	// (wrapped with catalog.LoadFailed for the reason).
	Load func(ctx context.Context) (*table.Table, error)
	// Branch is the branch committed to; "" is main. A branch that does not
	// exist yet is forked from main's head by the first commit.
	Branch string
	// Observe, if set, is told how long each catalog commit request took
	// and its error.
	Observe func(took time.Duration, err error)
	// CommitError, if set, wraps the error of a catalog commit request (to
	// name the table and the catalog).
	CommitError func(err error) error
	// Keys are the floe summary keys (offsets.Key(group),
	// offsets.DeadLettersKey(…)) whose tags (offsets.Tag) the commit keeps
	// on the newest snapshot of the branch carrying each: the tag moves are
	// added to the commit's own catalog request, so a tag can never lag
	// behind the offsets it protects from expiry. Keys need Catalog.
	Keys []string
	// Catalog is the catalog Load loads from; the commit request goes
	// through it with the tag moves added.
	Catalog table.CatalogIO
}

// Commit is one logical commit, tried until it lands, is given up, or its
// stage says there is nothing to do.
type Commit struct {
	Target Target
	// ID is written as floe.commit-id by the stage and looked for in the
	// branch's history before an attempt after an unknown outcome. Empty for
	// commits whose stage finds by itself whether they landed (a schema
	// change: the table has the column or not).
	ID string

	// Attempts counts the attempts made, Conflicts those that lost to a
	// concurrent commit; LastErr is the latest attempt's error.
	Attempts  int
	Conflicts int
	LastErr   error

	based   bool
	base    *int64 // the head pinned by the first attempt; FindCommit stops there
	unknown bool   // an attempt's outcome was unknown
}

// Result is what an attempt that ended well did.
type Result struct {
	// Table is the table after the commit (or as loaded, when nothing was
	// committed).
	Table *table.Table
	// Snapshot is the snapshot the commit made, or found in the history
	// after an unknown outcome (Resolved); nil when the stage returned
	// ErrNothing, or for a commit that makes none (a schema change).
	Snapshot *table.Snapshot
	// Resolved says an earlier attempt, whose outcome was unknown, landed.
	Resolved bool
	// CleanupErr is set when the commit landed but iceberg-go's clean-up
	// after it failed (deleting the files an expiry made unreferenced):
	// the files are left for the orphan sweep.
	CleanupErr error
}

// Unknown reports whether an attempt's outcome was unknown: files it
// referenced may be live, and must not be deleted.
func (c *Commit) Unknown() bool { return c.unknown }

// Once makes one attempt: load, resolve an unknown outcome, pin, stage,
// commit. An error means the attempt failed (Fatal: for good).
func (c *Commit) Once(ctx context.Context, stage Stage) (Result, error) {
	tbl, err := c.Target.Load(ctx)
	if err != nil {
		return Result{}, err
	}
	meta := tbl.Metadata()
	if c.unknown && c.ID != "" {
		if snap := offsets.FindCommit(meta, c.Target.Branch, c.ID, c.base); snap != nil {
			return Result{Table: tbl, Snapshot: snap, Resolved: true}, nil
		}
	}
	if !c.based {
		c.based = true
		if cur := offsets.Head(meta, c.Target.Branch); cur != nil {
			id := cur.SnapshotID
			c.base = &id
		}
	}
	branch := c.Target.Branch
	if branch == "" {
		branch = table.MainBranch
	}
	var tags *tagging
	if len(c.Target.Keys) > 0 {
		if c.Target.Catalog == nil {
			return Result{}, Fatal(fmt.Errorf("commit to %s: tagged keys need the target's catalog", c.Target.Name))
		}
		tags = &tagging{CatalogIO: c.Target.Catalog}
		tbl = table.New(tbl.Identifier(), meta, tbl.MetadataLocation(), tbl.FS, tags)
	}
	txn, err := tbl.NewTransactionOnBranchWithError(branch)
	if err != nil {
		return Result{}, Fatal(fmt.Errorf("branch %s of %s: %w", branch, c.Target.Name, err))
	}
	// The pin. iceberg-go (v0.7) asserts a transaction's branch head on
	// every commit anyway; floe asserts it itself so the protocol does not
	// rest on a library default. On a branch that does not exist yet the pin
	// requires that it still does not: two first commits cannot both create
	// it.
	if err := txn.AssertRefSnapshotID(branch); err != nil {
		return Result{}, fmt.Errorf("pin the head of %s: %w", c.Target.Name, err)
	}
	if err := stage(ctx, tbl, txn); err != nil {
		if errors.Is(err, ErrNothing) {
			return Result{Table: tbl}, nil
		}
		return Result{}, err
	}
	if tags != nil {
		staged, err := txn.StagedTable()
		if err != nil {
			return Result{}, Fatal(fmt.Errorf("stage the commit to %s: %w", c.Target.Name, err))
		}
		tags.moves = offsets.TagMoves(staged.Metadata(), c.Target.Branch, c.Target.Keys)
	}
	start := time.Now()
	out, err := txn.Commit(ctx)
	if tags != nil {
		tags.moves = nil // the table returned commits through tags: disarm it
	}
	if c.Target.Observe != nil {
		c.Target.Observe(time.Since(start), err)
	}
	if err != nil && out != nil {
		// Landed; what failed is the clean-up after it (the files an
		// expiry made unreferenced): orphans for the sweep, not a failed
		// commit.
		return Result{Table: out, Snapshot: c.landed(out), CleanupErr: err}, nil
	}
	if err != nil {
		// A clean conflict committed nothing; anything else may have
		// landed and is resolved by the next attempt.
		if !errors.Is(err, table.ErrCommitFailed) {
			c.unknown = true
		}
		if c.Target.CommitError != nil {
			err = c.Target.CommitError(err)
		}
		return Result{}, err
	}
	return Result{Table: out, Snapshot: c.landed(out)}, nil
}

// landed is the snapshot a commit with an ID made: the branch's new head.
func (c *Commit) landed(out *table.Table) *table.Snapshot {
	if c.ID == "" {
		return nil
	}
	return offsets.Head(out.Metadata(), c.Target.Branch)
}

// tagging is the catalog a Commit with Keys commits through: it adds the
// tag moves of the attempt to the catalog request, each asserting the
// snapshot the tag named when the attempt loaded the table.
type tagging struct {
	table.CatalogIO
	moves []offsets.TagMove
}

func (t *tagging) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, ups []table.Update) (table.Metadata, string, error) {
	if len(t.moves) > 0 {
		reqs = slices.Clone(reqs)
		ups = slices.Clone(ups)
		for _, m := range t.moves {
			reqs = append(reqs, table.AssertRefSnapshotID(m.Name, m.From))
			if m.Remove {
				ups = append(ups, table.NewRemoveSnapshotRefUpdate(m.Name))
			} else {
				ups = append(ups, table.NewSetSnapshotRefUpdate(m.Name, m.To, table.TagRef, offsets.TagMaxRefAgeMs, 0, 0))
			}
		}
	}
	return t.CatalogIO.CommitTable(ctx, ident, reqs, ups)
}

// Run calls attempt until it returns nil, a Fatal error, or ctx ends; it
// backs off between failed attempts and counts them in c. failed, if set,
// is told of every failed attempt that is retried. It returns nil, the
// Fatal error, or a *[TimeoutError].
func (c *Commit) Run(ctx context.Context, backoff catalog.Backoff, attempt func(ctx context.Context) error, failed func(err error)) error {
	for {
		if c.Attempts > 0 {
			if err := backoff.Wait(ctx, c.Attempts); err != nil {
				return &TimeoutError{Attempts: c.Attempts, Last: c.LastErr, Err: err}
			}
		}
		c.Attempts++
		err := attempt(ctx)
		if err == nil || IsFatal(err) {
			return err
		}
		if catalog.Reason(err) == catalog.ReasonConflict {
			c.Conflicts++
		}
		if c.LastErr == nil || ctx.Err() == nil {
			c.LastErr = err // not the deadline cutting an attempt short
		}
		if failed != nil {
			failed(err)
		}
	}
}

// TimeoutError is a commit that did not land before its context ended.
type TimeoutError struct {
	Attempts int
	Last     error // the last attempt's error
	Err      error // the context's
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%v after %d attempts (last error: %v)", e.Err, e.Attempts, e.Last)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// SummaryOnly stages a snapshot that changes no file and carries props in
// its summary: a delete that matches nothing (iceberg-go appends nothing
// without files). Offsets-only commits and `floe rollback --skip` use it.
func SummaryOnly(ctx context.Context, txn *table.Transaction, props iceberg.Properties) error {
	if err := txn.Delete(ctx, iceberg.AlwaysFalse{}, props); err != nil {
		return catalog.StorageError("stage a snapshot without files", err)
	}
	return nil
}
