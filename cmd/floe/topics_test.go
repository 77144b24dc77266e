package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/floe-dev/floe/offsets"
)

// patternConfig is the bed's config with the table taking its topics by
// pattern, listed every 200 ms.
func (b *bed) patternConfig(name, pattern string) string {
	b.t.Helper()
	path := b.config(name, "")
	yaml := readFile(b.t, path)
	yaml = strings.Replace(yaml, "    topics: [events]\n", fmt.Sprintf("    topics-pattern: '%s'\n", pattern), 1)
	yaml = strings.Replace(yaml, "  lag-interval: 1s\n", "  lag-interval: 1s\n  topic-refresh-interval: 200ms\n", 1)
	require.NoError(b.t, os.WriteFile(path, []byte(yaml), 0o644))
	return path
}

// waitRows waits until the table holds n rows.
func (b *bed) waitRows(n int, p *proc) {
	b.t.Helper()
	require.Eventually(b.t, func() bool {
		select {
		case <-p.done:
			b.t.Fatalf("floe exited early (%v):\n%s", p.err, tail(p.out.String(), 40))
		default:
		}
		if b.loadTable() == nil {
			return false
		}
		rows := 0
		for _, c := range b.rowIDs() {
			rows += c
		}
		return rows >= n
	}, 90*time.Second, 200*time.Millisecond)
}

// A table that takes its topics by pattern reads a topic created while floe
// runs from its first offset, exactly once across a SIGKILL, and its
// offsets cover every matching topic to its end; a topic that does not
// match is not read.
func TestTopicsPatternExactlyOnce(t *testing.T) {
	b := newBed(t, 4)
	cfg := b.patternConfig("floe", `events(\..+)?`)
	b.produce(1000)
	p := b.start(cfg)
	p.waitReady(t)

	require.NoError(t, b.kafka.CreateTopic("events.eu", 2, nil))
	require.NoError(t, b.kafka.CreateTopic("audit", 1, nil))
	b.produceTo("events.eu", 1500) // ids 1000-2499, before floe can have seen the topic
	b.produceTo("audit", 1)        // id 2500: not for this table
	b.waitRows(1800, p)
	require.Contains(t, p.out.String(), `"msg":"new topic matches topics-pattern: consuming it from its first offset","topic":"events.eu"`)
	p.stop(t, syscall.SIGKILL)

	b.produceTo("events.eu", 500) // ids 2501-3000
	b.produce(500)                // 3001-3500
	p = b.start(cfg)
	p.waitReady(t)
	b.waitRows(3500, p)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	require.Contains(t, p.out.String(), `"msg":"topic matches topics-pattern","topic":"events.eu"`,
		"after the restart the topic is there at start")

	seen := b.rowIDs()
	for id, c := range seen {
		require.Equal(t, 1, c, "row %s", id)
	}
	require.Len(t, seen, 3500)
	require.NotContains(t, seen, fmt.Sprintf("r%07d", 2500), "audit does not match")
	m, _, err := offsets.Read(b.loadTable().Metadata(), "itest", "")
	require.NoError(t, err)
	ends, err := kadm.NewClient(b.prod).ListEndOffsets(context.Background(), "events", "events.eu")
	require.NoError(t, err)
	ends.Each(func(o kadm.ListedOffset) {
		require.Equal(t, o.Offset, m.Topics[o.Topic].Next[o.Partition], "%s[%d]", o.Topic, o.Partition)
	})
	require.NotContains(t, m.Topics, "audit")
}
