package committer

import (
	"encoding/json"
	"sort"
	"strconv"
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

// CommitInfo describes one floe commit as the table records it.
type CommitInfo struct {
	SnapshotID int64     `json:"snapshot_id"`
	Time       time.Time `json:"time"`
	CommitID   string    `json:"commit_id"`
	Writer     Identity  `json:"writer"`
	Watermark  string    `json:"watermark,omitempty"`
	Records    int64     `json:"added_records"`
	Files      int64     `json:"added_files"`
	Ranges     []Range   `json:"ranges"`
	// Rollback is set on the snapshot `floe rollback --skip` made.
	Rollback *RollbackInfo `json:"rollback,omitempty"`
}

// History lists the group's commits on the current branch, newest first,
// with the offset ranges each one added (the difference between its offsets
// and the previous floe commit's). Snapshots of other writers are skipped.
func History(meta table.Metadata, group string) ([]CommitInfo, error) {
	return BranchHistory(meta, group, table.MainBranch)
}

// BranchHistory is [History] on branch (see [BranchHead]).
func BranchHistory(meta table.Metadata, group, branch string) ([]CommitInfo, error) {
	key := OffsetsKey(group)
	type entry struct {
		snap *table.Snapshot
		offs OffsetMap
	}
	var entries []entry
	for snap, ok := range AncestryOf(meta, BranchHead(meta, branch)) {
		if !ok {
			break // history before an expired snapshot is gone
		}
		if snap.Summary == nil {
			continue
		}
		v, found := snap.Summary.Properties[key]
		if !found {
			continue
		}
		m, err := DecodeOffsetMap(v)
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry{snap, m})
	}
	out := make([]CommitInfo, 0, len(entries))
	for i, e := range entries {
		var prev OffsetMap
		if i+1 < len(entries) {
			prev = entries[i+1].offs
		}
		props := e.snap.Summary.Properties
		info := CommitInfo{
			SnapshotID: e.snap.SnapshotID,
			Time:       time.UnixMilli(e.snap.TimestampMs).UTC(),
			CommitID:   props[SummaryCommitID],
			Watermark:  props[SummaryWatermark],
			Records:    atoi(props["added-records"]),
			Files:      atoi(props["added-data-files"]),
		}
		_ = json.Unmarshal([]byte(props[SummaryWriter]), &info.Writer)
		if r, ok := props[SummaryRollback]; ok {
			var ri RollbackInfo
			if json.Unmarshal([]byte(r), &ri) == nil {
				info.Rollback = &ri
			}
		}
		if r, ok := props[SummaryRanges]; ok && json.Unmarshal([]byte(r), &info.Ranges) == nil {
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
		sort.Slice(info.Ranges, func(i, j int) bool {
			a, b := info.Ranges[i], info.Ranges[j]
			if a.Topic != b.Topic {
				return a.Topic < b.Topic
			}
			return a.Partition < b.Partition
		})
		out = append(out, info)
	}
	return out, nil
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
