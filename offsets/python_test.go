package offsets

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// The e2e tests' independent reader (e2e/readers/check.py) decodes the
// summary values with its own Python decoder, written from the format's
// documentation: it reads what floe writes, old and new.
func TestPythonDecoder(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	escaped := Map{ClusterID: "c l%uster"}
	escaped.Set("a b;c:%", "x y", 7, 1)
	big := commitOf(1000)
	routed := eventsAt(15, 7)
	routed.RaiseFloor("events", 0, 12)
	routed.RaiseFloor("events", 1, 7)
	cases := []struct {
		m      Map
		offs   string
		ranges []Range
		enc    string
	}{
		{big.Offsets[Key("floe")], big.Offsets[Key("floe")].Encode(), big.Ranges, ""},
		{big.Offsets[Key("floe")], big.Offsets[Key("floe")].Encode(), big.Ranges[:100], EncodeRanges(big.Ranges[:100], Map{})},
		{escaped, escaped.Encode(), []Range{{"a b;c:%", 7, 0, 1}}, ""},
		{routed, routed.Encode(), []Range{{"events", 0, 0, 15}}, ""},
		{eventsAt(15, 7), oldOffsets1, []Range{{"events", 0, 0, 15}, {"events", 1, 0, 7}}, oldRanges1},
	}
	for _, tc := range cases {
		if tc.enc == "" {
			tc.enc = EncodeRanges(tc.ranges, tc.m)
		}
		req, err := json.Marshal(map[string]string{"mode": "decode", "offsets": tc.offs, "ranges": tc.enc})
		require.NoError(t, err)
		cmd := exec.Command(python, "../e2e/readers/check.py")
		cmd.Stdin = bytes.NewReader(req)
		out, err := cmd.Output()
		require.NoError(t, err)
		var got struct {
			Offsets json.RawMessage `json:"offsets"`
			Ranges  json.RawMessage `json:"ranges"`
		}
		require.NoError(t, json.Unmarshal(out, &got))
		m, err := Decode(string(got.Offsets)) // Python's answer, in the JSON shape
		require.NoError(t, err)
		require.Equal(t, tc.m, m)
		rs, err := DecodeRanges(string(got.Ranges), Map{})
		require.NoError(t, err)
		require.Equal(t, tc.ranges, rs)
	}
}
