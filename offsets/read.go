package offsets

import (
	"errors"
	"fmt"

	"github.com/apache/iceberg-go/table"
)

// Head returns the snapshot a commit to branch builds on: the branch's head,
// or main's current snapshot when branch is "" or main, or when the branch
// does not exist yet (its first commit forks it from main's head).
func Head(meta table.Metadata, branch string) *table.Snapshot {
	if branch != "" && branch != table.MainBranch {
		for name, ref := range meta.Refs() {
			if name == branch {
				return meta.SnapshotByID(ref.SnapshotID)
			}
		}
	}
	return meta.CurrentSnapshot()
}

// walk calls visit with snap and then its ancestors, newest first, until
// visit returns false, and reports whether the history it walked is whole:
// false when it ran into a missing (expired) parent or a cycle in malformed
// metadata before visit stopped it or the root was reached. It is
// table.AncestorsOfChecked that can stop early: that one materialises (and
// clones) the whole ancestry, which on every commit would grow the cost of
// reading the offsets with the table's history (BenchmarkRead), while the
// newest floe snapshot is at or near the head.
func walk(meta table.Metadata, snap *table.Snapshot, visit func(*table.Snapshot) bool) (complete bool) {
	seen := map[int64]bool{}
	for snap != nil {
		if seen[snap.SnapshotID] || !visit(snap) {
			return !seen[snap.SnapshotID]
		}
		seen[snap.SnapshotID] = true
		if snap.ParentSnapshotID == nil {
			return true
		}
		snap = meta.SnapshotByID(*snap.ParentSnapshotID)
	}
	return false
}

// Read walks from the head of branch ("" is main) back to the newest
// snapshot that carries the group's offsets and returns them with that
// snapshot. Snapshots from other writers (compaction, expiry, other engines)
// carry no key and are skipped. A table without that key anywhere in a
// complete history yields an empty map and a nil snapshot; a history cut
// short by expiry yields [ErrExpired].
func Read(meta table.Metadata, group, branch string) (Map, *table.Snapshot, error) {
	return ReadKey(meta, branch, Key(group))
}

// ReadKey is [Read] for any summary key holding a Map. When the history
// between the head and the newest snapshot carrying key was expired, the
// snapshot the key's [Tag] names is read: floe moves the tag with every
// commit that writes key, and an expiry keeps tagged snapshots.
func ReadKey(meta table.Metadata, branch, key string) (Map, *table.Snapshot, error) {
	m, snap, err := AsOf(meta, Head(meta, branch), key)
	if errors.Is(err, ErrExpired) {
		if tag := tagged(meta, branch, key); tag != nil {
			return AsOf(meta, tag, key)
		}
	}
	return m, snap, err
}

// AsOf reads the Map under key as of snapshot from: the newest of from and
// its ancestors that carries it.
func AsOf(meta table.Metadata, from *table.Snapshot, key string) (Map, *table.Snapshot, error) {
	var (
		found *table.Snapshot
		value string
	)
	complete := walk(meta, from, func(snap *table.Snapshot) bool {
		if snap.Summary != nil {
			if v, ok := snap.Summary.Properties[key]; ok {
				found, value = snap, v
				return false
			}
		}
		return true
	})
	switch {
	case found != nil:
		m, err := Decode(value)
		if err != nil {
			return Map{}, nil, fmt.Errorf("snapshot %d: %s: %w", found.SnapshotID, key, err)
		}
		return m, found, nil
	case !complete && from != nil:
		return Map{}, nil, fmt.Errorf("read %s: %w", key, ErrExpired)
	}
	return Map{Topics: map[string]Topic{}}, nil, nil
}

// FindCommit returns the snapshot whose summary carries commitID, searching
// from the head of branch back to (not including) stopAt, or to the root
// when stopAt is nil. A commit attempt pins its parent, so a landed attempt
// is always a descendant of the head it pinned.
func FindCommit(meta table.Metadata, branch, commitID string, stopAt *int64) *table.Snapshot {
	var found *table.Snapshot
	walk(meta, Head(meta, branch), func(snap *table.Snapshot) bool {
		if stopAt != nil && snap.SnapshotID == *stopAt {
			return false
		}
		if snap.Summary != nil && snap.Summary.Properties[SummaryCommitID] == commitID {
			found = snap
			return false
		}
		return true
	})
	return found
}
