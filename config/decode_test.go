package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{in: "0", want: 0},
		{in: "67108864", want: 64 << 20},
		{in: "-1", want: -1}, // range is Validate's business
		{in: "100B", want: 100},
		{in: "1KB", want: 1000},
		{in: "1KiB", want: 1024},
		{in: "512MB", want: 512_000_000},
		{in: "64MiB", want: 64 << 20},
		{in: " 64 mib ", want: 64 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "1.5GiB", want: 3 << 29},
		{in: "2TB", want: 2_000_000_000_000},
		{in: "1TiB", want: 1 << 40},
		{in: "", err: `invalid size "": want an integer or a number with a unit, like 64MiB or 512MB`},
		{in: "banana", err: `invalid size "banana": want an integer or a number with a unit, like 64MiB or 512MB`},
		{in: "64M", err: `invalid size "64M": unknown unit "M" (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)`},
		{in: "1.5B", err: `invalid size "1.5B": not a whole number of bytes`},
		{in: "9000000TiB", err: `invalid size "9000000TiB": too large`},
		{in: "-1MiB", err: `invalid size "-1MiB": want an integer or a number with a unit, like 64MiB or 512MB`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
