package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMemoryLimit(t *testing.T) {
	noEnv := func(string) string { return "" }
	limit, source := memoryLimit(noEnv, 512<<20, 2)
	require.Equal(t, int64(768<<20), limit)
	require.Equal(t, "kafka.memory-budget + max(half of it, 128 MiB + 16 MiB per core)", source)
	limit, _ = memoryLimit(noEnv, 128<<20, 2)
	require.Equal(t, int64(288<<20), limit, "the default budget on 2 cores: 160 MiB of room")
	limit, _ = memoryLimit(noEnv, 512<<20, 16)
	require.Equal(t, int64(896<<20), limit, "16 writers need more room than half the budget")

	limit, source = memoryLimit(func(k string) string {
		if k == "GOMEMLIMIT" {
			return "900MiB"
		}
		return ""
	}, 512<<20, 2)
	require.Equal(t, int64(-1), limit, "the operator's GOMEMLIMIT wins (the runtime applied it)")
	require.Equal(t, "GOMEMLIMIT=900MiB", source)
}
