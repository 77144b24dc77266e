package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMemoryLimit(t *testing.T) {
	noEnv := func(string) string { return "" }
	limit, source := memoryLimit(noEnv, 512<<20)
	require.Equal(t, int64(768<<20), limit)
	require.Equal(t, "kafka.memory-budget + max(half of it, 192 MiB)", source)
	limit, _ = memoryLimit(noEnv, 256<<20)
	require.Equal(t, int64(448<<20), limit, "at least 192 MiB of room")

	limit, source = memoryLimit(func(k string) string {
		if k == "GOMEMLIMIT" {
			return "900MiB"
		}
		return ""
	}, 512<<20)
	require.Equal(t, int64(-1), limit, "the operator's GOMEMLIMIT wins (the runtime applied it)")
	require.Equal(t, "GOMEMLIMIT=900MiB", source)
}
