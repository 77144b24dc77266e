package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/offsets"
)

// The offsets come from the snapshot floe's tag names, in the compact
// encoding, even when the head is a maintenance snapshot without them;
// snapshot IDs beyond float64's 53 bits are told apart.
func TestReadOffsetsFollowsTheTag(t *testing.T) {
	var m offsets.Map
	m.Set("tp", "id", 0, 10)
	m.Set("tp", "id", 3, 7)
	raw := `{"current-snapshot-id": 2, "refs": {"main": {"snapshot-id": 2, "type": "branch"},
		"floe.offsets.g": {"snapshot-id": 7937534760169354411, "type": "tag"}},
		"snapshots": [{"snapshot-id": 7937534760169354410, "summary": {"floe.offsets.g": "{not json"}},
		{"snapshot-id": 7937534760169354411, "summary": {"floe.offsets.g": ` + string(mustJSON(t, m.Encode())) + `}},
		{"snapshot-id": 2, "summary": {"operation": "replace"}}]}`
	var md metadataFile
	require.NoError(t, json.Unmarshal([]byte(raw), &md))
	var s sample
	require.NoError(t, s.readOffsets(md, "g", "tp"))
	require.Equal(t, map[int32]int64{0: 10, 3: 7}, s.offsets)

	md.Snapshots[1].Summary["floe.offsets.g"] = "{not json"
	require.ErrorContains(t, s.readOffsets(md, "g", "tp"), "snapshot 7937534760169354411: floe.offsets.g")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
