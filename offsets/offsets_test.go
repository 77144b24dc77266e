package offsets

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMapEncodeDecode(t *testing.T) {
	var m Map
	m.ClusterID = "c1"
	m.Set("b", "id-b", 10, 5)
	m.Set("b", "", 2, 7) // an empty ID keeps the known one
	m.Set("a", "id-a", 0, 0)
	enc := m.Encode()
	// b: runs (gap 2, 1 partition: 7−0 → 14) and (gap 10−3, 1: 5−7 → 3) = 02 01 0e 07 01 03
	require.Equal(t, `v2;c1;a:id-a:AAEA;b:id-b:AgEOBwED`, enc)
	got, err := Decode(enc)
	require.NoError(t, err)
	require.Equal(t, m, got)
	o, ok := got.Get("b", 10)
	require.True(t, ok)
	require.Equal(t, int64(5), o)
	_, ok = got.Get("b", 3)
	require.False(t, ok)
	_, ok = got.Get("zzz", 0)
	require.False(t, ok)

	clone := got.Clone()
	clone.Set("b", "", 2, 99)
	o, _ = got.Get("b", 2)
	require.Equal(t, int64(7), o, "Clone is deep")
}

func TestCheckSource(t *testing.T) {
	var m Map
	m.ClusterID = "c1"
	m.Set("a", "A1", 0, 5)
	m.Set("b", "B1", 0, 9)
	live := Source{ClusterID: "c1", TopicIDs: map[string]string{"a": "A1", "b": "B2"}}

	_, _, err := live.Check("db.events", m)
	require.ErrorIs(t, err, ErrSourceMismatch)
	require.Contains(t, err.Error(), `topic "b"`)
	require.Contains(t, err.Error(), "table db.events")
	var me *MismatchError
	require.ErrorAs(t, err, &me)
	require.Equal(t, MismatchError{Table: "db.events", Topic: "b", Stored: "B1", Live: "B2"}, *me)

	live.ResetMismatched = true
	got, dropped, err := live.Check("db.events", m)
	require.NoError(t, err)
	require.Contains(t, got.Topics, "a")
	require.NotContains(t, got.Topics, "b")
	require.Equal(t, []string{"b"}, dropped)
	require.Contains(t, m.Topics, "b", "the input is not modified")

	_, _, err = (Source{ClusterID: "c2"}).Check("db.events", m)
	require.ErrorIs(t, err, ErrSourceMismatch)
	require.Contains(t, err.Error(), "cluster c1")
	got, _, err = (Source{ClusterID: "c2", ResetMismatched: true}).Check("db.events", m)
	require.NoError(t, err)
	require.True(t, got.Empty())

	_, _, err = (Source{}).Check("db.events", m) // IDs unknown (old brokers): nothing to compare
	require.NoError(t, err)
}
