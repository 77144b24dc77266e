package offsets

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go/table"
)

// Range is the offsets [Start, End) of one partition covered by a commit.
type Range struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Start     int64  `json:"start"`
	End       int64  `json:"end"`
}

// Rollback is the value of floe.rollback: what a `floe rollback --skip`
// undid and skipped.
type Rollback struct {
	Mode    string  `json:"mode"`
	From    int64   `json:"from_snapshot"`
	To      int64   `json:"to_snapshot"`
	Undone  []int64 `json:"undone_snapshots"`
	Skipped []Range `json:"skipped"`
}

// Commit describes one floe commit as the table records it.
type Commit struct {
	SnapshotID int64     `json:"snapshot_id"`
	Time       time.Time `json:"time"`
	CommitID   string    `json:"commit_id"`
	Writer     Writer    `json:"writer"`
	Watermark  string    `json:"watermark,omitempty"`
	Records    int64     `json:"added_records"`
	Files      int64     `json:"added_files"`
	Ranges     []Range   `json:"ranges"`
	// Rollback is set on the snapshot `floe rollback --skip` made.
	Rollback *Rollback `json:"rollback,omitempty"`
}

// History lists the group's commits on branch ("" is main), newest first,
// with the offset ranges each one added (the difference between its offsets
// and the previous floe commit's). Snapshots of other writers are skipped;
// history before an expired snapshot is gone.
func History(meta table.Metadata, group, branch string) ([]Commit, error) {
	key := Key(group)
	type entry struct {
		snap *table.Snapshot
		offs Map
	}
	var entries []entry
	var err error
	walk(meta, Head(meta, branch), func(snap *table.Snapshot) bool {
		v, found := "", false
		if snap.Summary != nil {
			v, found = snap.Summary.Properties[key]
		}
		if !found {
			return true
		}
		var m Map
		if m, err = Decode(v); err != nil {
			err = fmt.Errorf("snapshot %d: %s: %w", snap.SnapshotID, key, err)
			return false
		}
		entries = append(entries, entry{snap, m})
		return true
	}) // history before an expired snapshot is gone
	if err != nil {
		return nil, err
	}
	out := make([]Commit, 0, len(entries))
	for i, e := range entries {
		var prev Map
		if i+1 < len(entries) {
			prev = entries[i+1].offs
		}
		props := e.snap.Summary.Properties
		info := Commit{
			SnapshotID: e.snap.SnapshotID,
			Time:       time.UnixMilli(e.snap.TimestampMs).UTC(),
			CommitID:   props[SummaryCommitID],
			Watermark:  props[SummaryWatermark],
			Records:    Atoi(props["added-records"]),
			Files:      Atoi(props["added-data-files"]),
		}
		_ = json.Unmarshal([]byte(props[SummaryWriter]), &info.Writer)
		if r, ok := props[SummaryRollback]; ok {
			var ri Rollback
			if json.Unmarshal([]byte(r), &ri) == nil {
				info.Rollback = &ri
			}
		}
		if r, ok := props[SummaryRanges]; ok {
			if info.Ranges, err = DecodeRanges(r, e.offs); err != nil {
				return nil, fmt.Errorf("snapshot %d: %s: %w", e.snap.SnapshotID, SummaryRanges, err)
			}
			out = append(out, info)
			continue
		}
		for topic, t := range e.offs.Topics {
			for p, end := range t.Next {
				start, ok := prev.Get(topic, p)
				if ok && start == end {
					continue
				}
				if !ok {
					start = -1 // unknown: the partition's first commit
				}
				info.Ranges = append(info.Ranges, Range{topic, p, start, end})
			}
		}
		SortRanges(info.Ranges)
		out = append(out, info)
	}
	return out, nil
}

// SortRanges orders ranges by topic, partition and start.
func SortRanges(rs []Range) { slices.SortFunc(rs, compareRanges) }

func compareRanges(a, b Range) int {
	return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Start, b.Start))
}

// Atoi reads a numeric summary value (Iceberg's own, such as
// added-records); a missing or malformed one is 0.
func Atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
