package offsets

import (
	"encoding/base64"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"
)

// Values as floe wrote them before v2, literally (offsets.Map.Encode and
// json.Marshal of the ranges up to December 2026).
const (
	oldOffsets1 = `{"cluster_id":"MkU3OEVBNTcwNTJENDM2Qg","topics":{"events":{"topic_id":"AAAAAAAAAAAAAAAAAAAAAQ==","partitions":{"0":15,"1":7}}}}`
	oldRanges1  = `[{"topic":"events","partition":0,"start":0,"end":15},{"topic":"events","partition":1,"start":0,"end":7}]`
	oldOffsets2 = `{"cluster_id":"MkU3OEVBNTcwNTJENDM2Qg","topics":{"events":{"topic_id":"AAAAAAAAAAAAAAAAAAAAAQ==","partitions":{"0":20,"1":7}},"orders":{"topic_id":"3wIqs8nfSoKi+3VK/cTgmA==","partitions":{"2":1000000000000,"10":5}}}}`
	oldRanges2  = `[{"topic":"events","partition":0,"start":15,"end":20},{"topic":"orders","partition":2,"start":999999999000,"end":1000000000000},{"topic":"orders","partition":10,"start":0,"end":5}]`
	oldWriter   = `{"instance":"0b1e6c2a-93d4-4f7e-8a15-c2d9e4b7f360","host":"floe-0","version":"v0.11.0"}`
)

// eventsAt is the map of cluster MkU3… with topic events at p0, p1.
func eventsAt(p0, p1 int64) Map {
	m := Map{ClusterID: "MkU3OEVBNTcwNTJENDM2Qg"}
	m.Set("events", "AAAAAAAAAAAAAAAAAAAAAQ==", 0, p0)
	m.Set("events", "", 1, p1)
	return m
}

func TestDecodeLegacy(t *testing.T) {
	m, err := Decode(oldOffsets1)
	require.NoError(t, err)
	require.Equal(t, eventsAt(15, 7), m)

	m, err = Decode(oldOffsets2)
	require.NoError(t, err)
	want := eventsAt(20, 7)
	want.Set("orders", "3wIqs8nfSoKi+3VK/cTgmA==", 2, 1_000_000_000_000)
	want.Set("orders", "", 10, 5)
	require.Equal(t, want, m)
	again, err := Decode(m.Encode())
	require.NoError(t, err)
	require.Equal(t, m, again, "an old map written again in v2 is the same map")

	rs, err := DecodeRanges(oldRanges2, Map{})
	require.NoError(t, err)
	require.Equal(t, []Range{{"events", 0, 15, 20}, {"orders", 2, 999_999_999_000, 1_000_000_000_000}, {"orders", 10, 0, 5}}, rs)
	rs, err = DecodeRanges(`[]`, Map{})
	require.NoError(t, err)
	require.Empty(t, rs)

	m, err = Decode(`{"cluster_id":"x"}`)
	require.NoError(t, err)
	require.True(t, m.Empty())
}

func TestRangesEncodeDecode(t *testing.T) {
	m := eventsAt(1500, 700)
	m.Set("events", "", 2, 1800)
	m.Set("events", "", 5, 40)
	m.Set("orders.v1", "3wIqs8nfSoKi+3VK/cTgmA==", 0, 9)
	rs := []Range{ // unsorted: they come out sorted
		{"orders.v1", 3, 10, 12}, // ends elsewhere than the map (a dead-letter table's)
		{"events", 0, 1000, 1500}, {"events", 2, 1800, 1800}, {"events", 5, 0, 40},
		{"orders.v1", 0, 3, 9},
	}
	enc := EncodeRanges(rs, m)
	// events: (gap 0, 1: 2·500) (gap 1, 1: 0) (gap 2, 1: 2·40) = 00 01 e807 01 01 00 02 01 50
	// orders.v1: (0, 1: 2·6) (2, 1: 2·2+1, end 12) = 00 01 0c 02 01 05 0c
	require.Equal(t, "v2;events:AAHoBwEBAAIBUA;orders.v1:AAEMAgEFDA", enc)
	got, err := DecodeRanges(enc, m)
	require.NoError(t, err)
	SortRanges(rs)
	require.Equal(t, rs, got)

	// Without the map every end is written out.
	enc = EncodeRanges(rs, Map{})
	got, err = DecodeRanges(enc, m)
	require.NoError(t, err)
	require.Equal(t, rs, got)
	got, err = DecodeRanges(enc, Map{})
	require.NoError(t, err)
	require.Equal(t, rs, got)

	require.Equal(t, "v2", EncodeRanges(nil, m))
	got, err = DecodeRanges("v2", m)
	require.NoError(t, err)
	require.Empty(t, got)

	// Two ranges of one partition, which floe never commits, stay JSON.
	two := []Range{{"events", 0, 0, 5}, {"events", 0, 5, 9}}
	enc = EncodeRanges(two, m)
	require.Equal(t, `[{"topic":"events","partition":0,"start":0,"end":5},{"topic":"events","partition":0,"start":5,"end":9}]`, enc)
	got, err = DecodeRanges(enc, m)
	require.NoError(t, err)
	require.Equal(t, two, got)
}

func TestEscape(t *testing.T) {
	var m Map
	m.ClusterID = "c l%uster"
	m.Set("a b;c:%", "x\xffy", 0, 1)
	enc := m.Encode()
	require.Equal(t, "v2;c%20l%25uster;a%20b%3Bc%3A%25:x%FFy:AAEC", enc)
	got, err := Decode(enc)
	require.NoError(t, err)
	require.Equal(t, m, got)
}

func TestDecodeErrors(t *testing.T) {
	payload := func(b ...byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	for _, tc := range []struct{ in, want string }{
		{``, `not "v2;<cluster id>`},
		{`v2`, `not "v2;<cluster id>`},
		{`v3;c`, `not "v2;<cluster id>`},
		{`{"cluster_id":`, "unexpected end of JSON input"},
		{`{"topics":{"t":{"partitions":{"0":-1}}}}`, `topic "t" partition 0: negative value -1`},
		{`{"topics":{"t":{"partitions":{"0":"x"}}}}`, "cannot unmarshal string"},
		{`{"topics":{"t":{"partitions":{"p":1}}}}`, "cannot unmarshal number p"},
		{`{"topics":{"t":{"partitions":{"-3":1}}}}`, `partition -3: negative value`},
		{`v2;c b`, `cluster id: byte ' ' at 1 must be written as %20`},
		{`v2;%41`, `cluster id: %-escape at 0 of 'A', which is written as it is`},
		{`v2;%4`, `cluster id: %-escape at 0 is not two upper-case hex digits`},
		{`v2;%2a`, `cluster id: %-escape at 0 is not two upper-case hex digits`},
		{`v2;c;t:id`, `topic 0: "t:id" is not <topic>:<topic id>:<partitions>`},
		{`v2;c;t:id:AAEC:x:y`, `topic 0: "t:id:AAEC:x:y" is not`},
		{`v2;c;t:id:AAEC:x!`, `topic "t" floors: base64: illegal base64 data at input byte 1`},
		{`v2;c;t:id:AAEC:`, `topic "t" floors: empty`},
		{`v2;c;t:id:AAEC:` + payload(0, 1), `topic "t" floors: partition 0: offset: payload ends early`},
		{`v2;c;b:x:AAEC;a:x:AAEC`, `topic "a": after "b" (topics are in ascending order, once each)`},
		{`v2;c;a:x:AAEC;a:x:AAEC`, `topic "a": after "a"`},
		{`v2;c;t:i d:AAEC`, `topic "t" id: byte ' '`},
		{`v2;c;t:x:A!`, `topic "t" partitions: base64: illegal base64 data at input byte 1`},
		{"v2;c;t:x:AA\nEC", `topic "t" partitions: base64: illegal base64 data at input byte 2`},
		{`v2;c;t:x:AAF`, `topic "t" partitions: base64`}, // trailing bits set
		{`v2;c;t:x:` + payload(0, 1), `topic "t": partition 0: offset: payload ends early`},
		{`v2;c;t:x:` + payload(0, 2, 2), `topic "t": partition 1: offset: payload ends early`},
		{`v2;c;t:x:` + payload(0), `topic "t": run after partition -1: payload ends early`},
		{`v2;c;t:x:` + payload(0, 1, 0x82, 0), `topic "t": partition 0: offset: varint is not minimal`},
		{`v2;c;t:x:` + payload(0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1), `topic "t": partition 0: offset: varint overflows`},
		{`v2;c;t:x:` + payload(0, 1, 2, 0, 1, 2), `topic "t": run after partition 0: gap 0 (runs must not touch)`},
		{`v2;c;t:x:` + payload(3, 0), `topic "t": run after partition -1: count 0`},
		{`v2;c;t:x:` + payload(0, 1, 1), `topic "t": partition 0: offset 0-1 is out of range`},
		{`v2;c;t:x:` + payload(4, 2, 10, 21), `topic "t": partition 5: offset 5-11 is out of range`},
		{`v2;c;t:x:` + payload(0xff, 0xff, 0xff, 0xff, 0x07, 2, 0, 0), `topic "t": run after partition -1: partitions beyond 2147483647`},
	} {
		_, err := Decode(tc.in)
		require.Error(t, err, tc.in)
		require.Contains(t, err.Error(), "decode offsets: ", tc.in)
		require.Contains(t, err.Error(), tc.want, tc.in)
	}
}

func TestDecodeRangesErrors(t *testing.T) {
	ref := eventsAt(15, 7)
	payload := func(b ...byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	for _, tc := range []struct{ in, want string }{
		{``, `neither v2`},
		{`v2;`, `topic 0: "" is not <topic>:<ranges>`},
		{`[{"topic":"t","partition":0,"start":5,"end":3}]`, `topic "t" partition 0: [5, 3) is not a range`},
		{`[{"topic":"t","partition":0,"start":-1,"end":3}]`, `topic "t" partition 0: [-1, 3) is not a range`},
		{`[{"topic":"t"`, `unexpected end of JSON input`},
		{`v2;events:`, `topic "events": no ranges`},
		{`v2;events:` + payload(0, 2, 2), `topic "events": partition 1: payload ends early`},
		{`v2;orders:` + payload(0, 1, 2), `topic "orders": partition 0: the range ends at the summary's offset, which has none for it`},
		{`v2;events:` + payload(2, 1, 2), `topic "events": partition 2: the range ends at the summary's offset, which has none for it`},
		{`v2;events:` + payload(0, 1, 32), `topic "events": partition 0: 16 offsets before end 15`},
		{`v2;events:` + payload(0, 1, 3), `topic "events": partition 0: payload ends early`},
		{`v2;events:` + payload(0, 1, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1), `topic "events": partition 0: end 18446744073709551615 is out of range`},
		{`v2;events:` + payload(0, 1, 0) + `;events:` + payload(1, 1, 0), `topic "events": after "events"`},
	} {
		_, err := DecodeRanges(tc.in, ref)
		require.Error(t, err, tc.in)
		require.Contains(t, err.Error(), "decode ranges: ", tc.in)
		require.Contains(t, err.Error(), tc.want, tc.in)
	}
}

func TestSummaryProperties(t *testing.T) {
	s := Summary{
		CommitID:  "c-4",
		Writer:    Writer{Instance: "i", Host: "h", Version: "v"},
		Offsets:   map[string]Map{Key("g"): eventsAt(20, 30)},
		Ranges:    []Range{{"events", 1, 7, 30}},
		Watermark: time.Date(2026, 12, 6, 7, 0, 0, 5, time.FixedZone("x", 3600)),
	}
	require.Equal(t, iceberg.Properties{
		"floe.offsets.g": "v2;MkU3OEVBNTcwNTJENDM2Qg;events:AAAAAAAAAAAAAAAAAAAAAQ==:AAIoFA",
		"floe.ranges":    "v2;events:AQEu", // partition 1, 2·23: ends at the map's 30
		"floe.commit-id": "c-4",
		"floe.writer":    `{"instance":"i","host":"h","version":"v"}`,
		"floe.watermark": "2026-12-06T06:00:00.000000005Z",
	}, s.Properties())

	// A summary carrying another offsets value writes every end out: a
	// range may refer only to the summary's one offsets value.
	s.Carry = map[string]string{Key("other"): oldOffsets1}
	props := s.Properties()
	require.Equal(t, "v2;events:AQEvHg", props[SummaryRanges]) // 2·23+1, end 30
	require.Equal(t, oldOffsets1, props[Key("other")])
	rs, err := DecodeRanges(props[SummaryRanges], Map{})
	require.NoError(t, err)
	require.Equal(t, s.Ranges, rs)
}

// A table written before v2 and then by a floe that writes v2 (an upgrade
// mid-table) reads as one history.
func TestMixedHistory(t *testing.T) {
	v2 := Summary{
		CommitID: "c-4", Writer: Writer{Instance: "i-2", Host: "floe-0", Version: "v0.12.0"},
		Offsets: map[string]Map{Key("g"): eventsAt(20, 30)}, Ranges: []Range{{"events", 1, 7, 30}},
	}.Properties()
	v2["added-records"] = "23"
	meta := chain(t,
		iceberg.Properties{Key("g"): oldOffsets1, SummaryRanges: oldRanges1, SummaryCommitID: "c-1", SummaryWriter: oldWriter,
			SummaryWatermark: "2026-12-01T10:00:00Z", "added-records": "22"},
		iceberg.Properties{Key("g"): `{"cluster_id":"MkU3OEVBNTcwNTJENDM2Qg","topics":{"events":{"topic_id":"AAAAAAAAAAAAAAAAAAAAAQ==","partitions":{"0":20,"1":7}}}}`,
			SummaryRanges: `[{"topic":"events","partition":0,"start":15,"end":20}]`, SummaryCommitID: "c-2", SummaryWriter: oldWriter},
		iceberg.Properties{"floe.maintenance": "compact"}, // another writer's
		v2,
	)

	m, snap, err := Read(meta, "g", "")
	require.NoError(t, err)
	require.Equal(t, int64(4), snap.SnapshotID)
	require.Equal(t, eventsAt(20, 30), m)
	m, snap, err = AsOf(meta, meta.SnapshotByID(3), Key("g"))
	require.NoError(t, err)
	require.Equal(t, int64(2), snap.SnapshotID)
	require.Equal(t, eventsAt(20, 7), m)

	require.Equal(t, int64(1), FindCommit(meta, "", "c-1", nil).SnapshotID)
	require.Equal(t, int64(4), FindCommit(meta, "", "c-4", nil).SnapshotID)
	stop := int64(2)
	require.Nil(t, FindCommit(meta, "", "c-1", &stop))

	hist, err := History(meta, "g", "")
	require.NoError(t, err)
	require.Len(t, hist, 3)
	require.Equal(t, "c-4", hist[0].CommitID)
	require.Equal(t, Writer{Instance: "i-2", Host: "floe-0", Version: "v0.12.0"}, hist[0].Writer)
	require.Equal(t, []Range{{"events", 1, 7, 30}}, hist[0].Ranges)
	require.Equal(t, int64(23), hist[0].Records)
	require.Equal(t, "c-2", hist[1].CommitID)
	require.Equal(t, []Range{{"events", 0, 15, 20}}, hist[1].Ranges)
	require.Equal(t, "c-1", hist[2].CommitID)
	require.Equal(t, Writer{Instance: "0b1e6c2a-93d4-4f7e-8a15-c2d9e4b7f360", Host: "floe-0", Version: "v0.11.0"}, hist[2].Writer)
	require.Equal(t, "2026-12-01T10:00:00Z", hist[2].Watermark)
	require.Equal(t, int64(22), hist[2].Records)
	require.Equal(t, []Range{{"events", 0, 0, 15}, {"events", 1, 0, 7}}, hist[2].Ranges)

	// A malformed value is an error naming the snapshot and the key.
	bad := chain(t, iceberg.Properties{Key("g"): oldOffsets1, SummaryRanges: "v2;events:AAE"})
	_, err = History(bad, "g", "")
	require.ErrorContains(t, err, `snapshot 1: floe.ranges: decode ranges: topic "events": partition 0: payload ends early`)
	bad = chain(t, iceberg.Properties{Key("g"): "v2;c;t:x:AAE"})
	_, _, err = Read(bad, "g", "")
	require.ErrorContains(t, err, `snapshot 1: floe.offsets.g: decode offsets: topic "t": partition 0: offset: payload ends early`)
	_, err = History(bad, "g", "")
	require.ErrorContains(t, err, `snapshot 1: floe.offsets.g: decode offsets: topic "t"`)
}

// equalMaps compares maps, a topic without partitions being one with an
// empty partition map (legacy JSON may omit it).
func equalMaps(a, b Map) bool {
	if a.ClusterID != b.ClusterID || len(a.Topics) != len(b.Topics) {
		return false
	}
	for name, t := range a.Topics {
		u, ok := b.Topics[name]
		if !ok || t.TopicID != u.TopicID || !maps.Equal(t.Next, u.Next) {
			return false
		}
	}
	return true
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		oldOffsets1, oldOffsets2, `{"cluster_id":"x"}`, `{"topics":{"t":{"partitions":{"0":-1}}}}`,
		"v2;", "v2;c", "v2;c1;a:id-a:AAEA;b:id-b:AgEOBwED", "v2;c%20l%25uster;a%20b%3Bc%3A%25:x%FFy:AAEC",
		commitOf(64).Offsets[Key("floe")].Encode(), "v2;c;t:x:AAE", "v2;c;t:x:AAECAAEC",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Decode(s)
		if err != nil {
			require.Contains(t, err.Error(), "decode offsets: ")
			return
		}
		enc := m.Encode()
		if strings.HasPrefix(s, "v2") {
			require.Equal(t, s, enc, "one v2 string per map")
		}
		again, err := Decode(enc)
		require.NoError(t, err)
		require.True(t, equalMaps(m, again), "%v != %v", m, again)
	})
}

func FuzzDecodeRanges(f *testing.F) {
	ref := eventsAt(1500, 700)
	ref.Set("orders.v1", "", 0, 9)
	for _, s := range []string{
		oldRanges1, oldRanges2, `[]`, `[{"topic":"t","partition":0,"start":5,"end":3}]`,
		"v2", "v2;events:AAHoBwEBAAIBUA;orders.v1:AAEMAgEFDA", "v2;events:AQEvHg", "v2;events:AAE",
		EncodeRanges(commitOf(64).Ranges, Map{}),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := DecodeRanges(s, ref)
		if err != nil {
			require.Contains(t, err.Error(), "decode ranges: ")
			return
		}
		SortRanges(rs)
		for _, r := range []Map{ref, {}} {
			again, err := DecodeRanges(EncodeRanges(rs, r), r)
			require.NoError(t, err)
			SortRanges(again)
			require.Equal(t, rs, again)
		}
	})
}

// A routed topic's table keeps floors beside its offsets; they survive the
// round trip, only grow, and a map without them encodes as before.
func TestFloors(t *testing.T) {
	m := eventsAt(15, 7)
	plain := m.Encode()
	m.RaiseFloor("events", 0, 12)
	m.RaiseFloor("events", 0, 9) // lower: kept at 12
	m.RaiseFloor("events", 1, 7)
	m.RaiseFloor("absent", 0, 3) // a topic not in the map: nothing
	f, ok := m.GetFloor("events", 0)
	require.True(t, ok)
	require.Equal(t, int64(12), f)
	_, ok = m.GetFloor("absent", 0)
	require.False(t, ok)
	enc := m.Encode()
	require.True(t, strings.HasPrefix(enc, plain+":"), enc)
	got, err := Decode(enc)
	require.NoError(t, err)
	require.Equal(t, m, got)
	c := m.Clone()
	c.RaiseFloor("events", 0, 20)
	f, _ = m.GetFloor("events", 0)
	require.Equal(t, int64(12), f, "Clone copies the floors")
}
