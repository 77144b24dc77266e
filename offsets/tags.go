package offsets

import (
	"sort"
	"strings"

	"github.com/apache/iceberg-go/table"
)

// Tag is the name of the Iceberg tag that names the newest snapshot on
// branch ("" is main) carrying the summary key key (Key(group),
// DeadLettersKey(…)): the key itself on main, branch/key on another branch.
// floe moves it in the same catalog request as every commit that writes
// key, so snapshot expiry — floe's own or another engine's — never removes
// the snapshot a group would restart from (an expiry keeps every tagged
// snapshot), and the offsets can be read from it when the history between
// it and the head is gone.
func Tag(key, branch string) string {
	if branch == "" || branch == table.MainBranch {
		return key
	}
	return branch + "/" + key
}

// TagMaxRefAgeMs is the max-ref-age-ms of floe's tags: never expire, even
// where a table sets history.expire.max-ref-age-ms (an idle group's tag
// must outlive any age).
const TagMaxRefAgeMs = int64(1<<63 - 1)

// TagMove is one tag a commit sets: from the snapshot it names now (nil: no
// such tag yet), to To; Remove drops a tag whose key no snapshot on the
// branch carries any more (a rollback to before the group's first commit).
type TagMove struct {
	Name   string
	From   *int64
	To     int64
	Remove bool
}

// TagMoves returns the moves that make each key's tag name the newest
// snapshot carrying the key on branch in meta, the metadata a commit
// stages: nothing for a tag already right, nothing when the branch's
// history is cut by expiry before the key is found (the tag, which the
// expiry kept, is still the newest).
func TagMoves(meta table.Metadata, branch string, keys []string) []TagMove {
	var out []TagMove
	for _, key := range keys {
		name := Tag(key, branch)
		var from *int64
		if ref, ok := refOf(meta, name); ok && ref.SnapshotRefType == table.TagRef {
			id := ref.SnapshotID
			from = &id
		}
		_, snap, err := AsOf(meta, Head(meta, branch), key)
		switch {
		case err != nil: // cut by expiry, or unreadable: leave the tag
		case snap == nil:
			if from != nil {
				out = append(out, TagMove{Name: name, From: from, Remove: true})
			}
		case from == nil || *from != snap.SnapshotID:
			out = append(out, TagMove{Name: name, From: from, To: snap.SnapshotID})
		}
	}
	return out
}

// TaggedKeys returns the floe keys whose tags exist on branch in meta.
func TaggedKeys(meta table.Metadata, branch string) []string {
	prefix := Tag("", branch)
	var keys []string
	for name, ref := range meta.Refs() {
		key, ok := strings.CutPrefix(name, prefix)
		if ok && ref.SnapshotRefType == table.TagRef && isKey(key) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	return keys
}

// Keys returns the floe keys in a snapshot's summary.
func Keys(snap *table.Snapshot) []string {
	var keys []string
	if snap == nil || snap.Summary == nil {
		return nil
	}
	for k := range snap.Summary.Properties {
		if isKey(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func isKey(name string) bool {
	return strings.HasPrefix(name, SummaryOffsetsPrefix) || strings.HasPrefix(name, SummaryDeadLettersPrefix)
}

func refOf(meta table.Metadata, name string) (table.SnapshotRef, bool) {
	for n, ref := range meta.Refs() {
		if n == name {
			return ref, true
		}
	}
	return table.SnapshotRef{}, false
}

// tagged returns the snapshot key's tag on branch names, if it carries key.
func tagged(meta table.Metadata, branch, key string) *table.Snapshot {
	ref, ok := refOf(meta, Tag(key, branch))
	if !ok || ref.SnapshotRefType != table.TagRef {
		return nil
	}
	snap := meta.SnapshotByID(ref.SnapshotID)
	if snap == nil || snap.Summary == nil {
		return nil
	}
	if _, ok := snap.Summary.Properties[key]; !ok {
		return nil
	}
	return snap
}
