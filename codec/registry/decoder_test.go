package registry

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/floe-dev/floe/codec"
)

// The message-index list after a Protobuf value's schema ID: a zigzag
// count, then zigzag indexes; a count of 0 is the first message.
func TestIndexList(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want []int
		n    int
	}{
		{[]byte{0x00, 0xAA}, []int{0}, 1},
		{[]byte{0x02, 0x02, 0xAA}, []int{1}, 2},
		{[]byte{0x04, 0x02, 0x00}, []int{1, 0}, 3},
		{[]byte{0x02, 0x80, 0x01}, []int{64}, 3},
	} {
		var got []int
		n, err := indexList(tc.b, &got)
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
		require.Equal(t, tc.n, n)
	}
	for _, tc := range []struct {
		b    []byte
		want string
	}{
		{nil, "message indexes: truncated varint"},
		{[]byte{0x04, 0x02}, "message indexes: truncated varint"},
		{[]byte{0x01}, "message indexes: a list of -1 indexes"},
		{[]byte{0x82, 0x01}, "message indexes: a list of 65 indexes"},
		{[]byte{0x02, 0x01}, "message indexes: index -1"},
		{[]byte{0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, "message indexes: varint longer than 10 bytes"},
	} {
		_, err := indexList(tc.b, nil)
		require.EqualError(t, err, tc.want, "%x", tc.b)
	}
}

// References are resolved transitively, each subject version fetched once
// however many schemas refer to it; one the registry lacks is unknown.
func TestReferencesAreResolvedTransitively(t *testing.T) {
	fake := srfake.New()
	defer fake.Close()
	c, _ := newClient(t, nil, fake.URL())
	_, _, err := fake.RegisterSchema("money", sr.Schema{Schema: "money", Type: sr.TypeProtobuf})
	require.NoError(t, err)
	_, _, err = fake.RegisterSchema("address", sr.Schema{Schema: "address", Type: sr.TypeProtobuf,
		References: []sr.SchemaReference{{Name: "money.proto", Subject: "money", Version: 1}}})
	require.NoError(t, err)
	main := sr.Schema{Schema: "order", Type: sr.TypeProtobuf, References: []sr.SchemaReference{
		{Name: "address.proto", Subject: "address", Version: 1},
		{Name: "money.proto", Subject: "money", Version: 1},
	}}
	ctx := context.Background()
	refs, err := c.References(ctx, main)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"address.proto": "address", "money.proto": "money"}, refs)
	_, err = c.References(ctx, main)
	require.NoError(t, err)

	none, err := c.References(ctx, sr.Schema{Schema: "plain"})
	require.NoError(t, err)
	require.Nil(t, none)

	_, err = c.References(ctx, sr.Schema{References: []sr.SchemaReference{{Name: "gone.proto", Subject: "gone", Version: 3}}})
	require.ErrorIs(t, err, ErrUnknownSchema)
	require.ErrorContains(t, err, `reference "gone.proto": subject gone version 3: unknown to the schema registry`)
}

// A schema whose references go on and on is refused, not followed for
// ever; a decoder without a registry is refused at once.
func TestReferencesAreBounded(t *testing.T) {
	fake := srfake.New()
	defer fake.Close()
	c, _ := newClient(t, nil, fake.URL())
	prev := []sr.SchemaReference(nil)
	for i := range maxReferences + 1 {
		name := fmt.Sprintf("r%d", i)
		_, _, err := fake.RegisterSchema(name, sr.Schema{Schema: name, Type: sr.TypeProtobuf, References: prev})
		require.NoError(t, err)
		prev = []sr.SchemaReference{{Name: name, Subject: name, Version: 1}}
	}
	_, err := c.References(context.Background(), sr.Schema{References: prev})
	require.ErrorContains(t, err, "more than 256 schema references")

	_, err = NewDecoder(nil, testFormat{}, nil, codec.DefaultConfig())
	require.EqualError(t, err, "format: json without a schema in the config needs schema-registry.urls")
}

// testFormat is only a name: NewDecoder refuses before it is used.
type testFormat struct{ Format }

func (testFormat) Name() string { return "json" }
