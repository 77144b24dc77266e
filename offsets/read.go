package offsets

import (
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

// ancestry is snap and its ancestors, newest first, and whether the walk
// reached the root (false: cut short by an expired parent).
func ancestry(meta table.Metadata, snap *table.Snapshot) ([]table.Snapshot, bool) {
	if snap == nil {
		return nil, true
	}
	return table.AncestorsOfChecked(snap.SnapshotID, meta.SnapshotByID)
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

// ReadKey is [Read] for any summary key holding a Map.
func ReadKey(meta table.Metadata, branch, key string) (Map, *table.Snapshot, error) {
	return AsOf(meta, Head(meta, branch), key)
}

// AsOf reads the Map under key as of snapshot from: the newest of from and
// its ancestors that carries it.
func AsOf(meta table.Metadata, from *table.Snapshot, key string) (Map, *table.Snapshot, error) {
	snaps, complete := ancestry(meta, from)
	for i := range snaps {
		snap := &snaps[i]
		if snap.Summary == nil {
			continue
		}
		if v, found := snap.Summary.Properties[key]; found {
			m, err := Decode(v)
			if err != nil {
				return Map{}, nil, fmt.Errorf("snapshot %d: %w", snap.SnapshotID, err)
			}
			return m, meta.SnapshotByID(snap.SnapshotID), nil
		}
	}
	if !complete {
		return Map{}, nil, fmt.Errorf("read %s: %w", key, ErrExpired)
	}
	return Map{Topics: map[string]Topic{}}, nil, nil
}

// FindCommit returns the snapshot whose summary carries commitID, searching
// from the head of branch back to (not including) stopAt, or to the root
// when stopAt is nil. A commit attempt pins its parent, so a landed attempt
// is always a descendant of the head it pinned.
func FindCommit(meta table.Metadata, branch, commitID string, stopAt *int64) *table.Snapshot {
	snaps, _ := ancestry(meta, Head(meta, branch))
	for i := range snaps {
		snap := &snaps[i]
		if stopAt != nil && snap.SnapshotID == *stopAt {
			return nil
		}
		if snap.Summary != nil && snap.Summary.Properties[SummaryCommitID] == commitID {
			return meta.SnapshotByID(snap.SnapshotID)
		}
	}
	return nil
}
