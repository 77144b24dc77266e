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
	require.Equal(t, `{"cluster_id":"c1","topics":{"a":{"topic_id":"id-a","partitions":{"0":0}},"b":{"topic_id":"id-b","partitions":{"2":7,"10":5}}}}`, enc)
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

func TestDecodeErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":           `{"cluster_id":`,
		"negative offset":    `{"topics":{"t":{"partitions":{"0":-1}}}}`,
		"non-number":         `{"topics":{"t":{"partitions":{"0":"x"}}}}`,
		"non-int partition":  `{"topics":{"t":{"partitions":{"p":1}}}}`,
		"negative partition": `{"topics":{"t":{"partitions":{"-3":1}}}}`,
	} {
		_, err := Decode(in)
		require.Error(t, err, name)
		require.Contains(t, err.Error(), "decode offsets", name)
	}
	m, err := Decode(`{"cluster_id":"x"}`)
	require.NoError(t, err)
	require.True(t, m.Empty())
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
