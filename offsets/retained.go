package offsets

import "github.com/apache/iceberg-go/table"

// Oldest returns the oldest snapshot of branch's ("" is main) history that
// the table still holds, and whether older history existed and was expired
// (its parent is gone). Nil for a branch without snapshots.
func Oldest(meta table.Metadata, branch string) (oldest *table.Snapshot, expired bool) {
	complete := walk(meta, Head(meta, branch), func(snap *table.Snapshot) bool {
		oldest = snap
		return true
	})
	return oldest, !complete && oldest != nil
}
