package codec

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// appendUUID agrees with encoding/hex on the canonical form, for strings
// that are nearly uuids: every digit of either case, dashes in and out of
// place, bytes that are not hex digits anywhere.
func TestAppendUUIDAgreesWithEncodingHex(t *testing.T) {
	const alphabet = "0123456789abcdefABCDEF-gG/:@`\x00\xff"
	rng := rand.New(rand.NewPCG(1, 2))
	canonical := []byte("123e4567-e89b-12d3-a456-426614174000")
	for range 200_000 {
		s := bytes.Clone(canonical)
		for range 1 + rng.IntN(2) {
			s[rng.IntN(len(s))] = alphabet[rng.IntN(len(alphabet))]
		}
		want, wantOK := referenceUUID(s)
		got, ok := appendUUID([]byte("x"), s)
		require.Equal(t, wantOK, ok, "%q", s)
		if ok {
			require.Equal(t, append([]byte("x"), want...), got, "%q", s)
		} else {
			require.Equal(t, []byte("x"), got, "%q", s)
		}
	}
}

func referenceUUID(s []byte) ([]byte, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, false
	}
	digits := bytes.Join([][]byte{s[0:8], s[9:13], s[14:18], s[19:23], s[24:36]}, nil)
	out := make([]byte, 16)
	if _, err := hex.Decode(out, digits); err != nil {
		return nil, false
	}
	return out, true
}
