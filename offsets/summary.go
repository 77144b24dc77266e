package offsets

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
)

// Summary is what one floe commit writes into its snapshot's summary; every
// kind of commit (a table's, a dead-letter table's, a --skip rollback)
// builds its properties here.
type Summary struct {
	CommitID string
	Writer   Writer
	// Offsets maps a summary key (Key(group), DeadLettersKey(…)) to the full
	// offset map stored under it.
	Offsets map[string]Map
	// Ranges are the offsets [start, end) the commit added.
	Ranges []Range
	// Watermark is the min over the table's partitions of the newest record
	// timestamp committed; zero: none.
	Watermark time.Time
	// Rollback is set on the snapshot of a --skip rollback.
	Rollback *Rollback
	// Carry are summary values copied as they are (a --skip rollback
	// carries every offsets key of the head it undoes).
	Carry map[string]string
}

// Properties returns the summary properties of s.
func (s Summary) Properties() iceberg.Properties {
	props := iceberg.Properties{
		SummaryCommitID: s.CommitID,
		SummaryWriter:   s.Writer.Encode(),
	}
	for k, v := range s.Carry {
		props[k] = v
	}
	var ref Map // the summary's only offsets value, which ranges refer to
	for k, m := range s.Offsets {
		props[k] = m.Encode()
		ref = m
	}
	if len(s.Offsets) != 1 || carriesOffsets(s.Carry) {
		ref = Map{}
	}
	props[SummaryRanges] = EncodeRanges(s.Ranges, ref)
	if !s.Watermark.IsZero() {
		props[SummaryWatermark] = s.Watermark.UTC().Format(time.RFC3339Nano)
	}
	if s.Rollback != nil {
		b, _ := json.Marshal(s.Rollback)
		props[SummaryRollback] = string(b)
	}
	return props
}

// carriesOffsets reports whether props hold an offsets value.
func carriesOffsets(props map[string]string) bool {
	for k := range props {
		if strings.HasPrefix(k, SummaryOffsetsPrefix) || strings.HasPrefix(k, SummaryDeadLettersPrefix) {
			return true
		}
	}
	return false
}
