package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/floe-dev/floe/config"
	"github.com/floe-dev/floe/consumer"
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

// templateConfig is the bed's config with the table a template: one table
// per topic the pattern matches, itest.t_<topic>.
func (b *bed) templateConfig(name, pattern string) string {
	b.t.Helper()
	path := b.patternConfig(name, pattern)
	yaml := strings.Replace(readFile(b.t, path), "  - name: itest.events\n", "  - name: itest.t_{topic}\n", 1)
	require.NoError(b.t, os.WriteFile(path, []byte(yaml), 0o644))
	return path
}

// A template makes a table per topic: for the topics there at start and
// those created while floe runs, each exactly once across a SIGKILL, with
// the table saying which topic and template it came from. Two topics that
// would make one table name are refused for the second. The commands that
// read tables find the template's tables.
func TestTemplateMakesATablePerTopic(t *testing.T) {
	b := newBed(t, 2)
	cfg := b.templateConfig("floe", `(?i)events(\..+)?`)
	b.produce(300) // ids 0-299 into events
	p := b.start(cfg)
	p.waitReady(t)

	require.NoError(t, b.kafka.CreateTopic("events.eu", 2, nil))
	b.produceTo("events.eu", 200) // 300-499
	tables := map[string]int{"itest.t_events": 300, "itest.t_events_eu": 200}
	rows := func(name string) int {
		tbl := b.loadTableNamed(name)
		if tbl == nil {
			return 0
		}
		n := 0
		for _, c := range b.rowIDsIn(tbl) {
			n += c
		}
		return n
	}
	waitTables := func(want map[string]int) {
		t.Helper()
		require.Eventually(t, func() bool {
			select {
			case <-p.done:
				t.Fatalf("floe exited early (%v):\n%s", p.err, tail(p.out.String(), 40))
			default:
			}
			for name, n := range want {
				if rows(name) < n {
					return false
				}
			}
			return true
		}, 90*time.Second, 200*time.Millisecond)
	}
	waitTables(map[string]int{"itest.t_events_eu": 100})
	p.stop(t, syscall.SIGKILL)

	// "Events.EU" would make itest.t_events_eu too: refused, the rest goes on.
	require.NoError(t, b.kafka.CreateTopic("Events.EU", 1, nil))
	b.produceTo("Events.EU", 5) // 500-504: nowhere
	b.produceTo("events.eu", 100)
	tables["itest.t_events_eu"] += 100
	p = b.start(cfg)
	p.waitReady(t)
	waitTables(tables)
	require.Eventually(t, func() bool {
		return strings.Contains(p.out.String(), `table for topic \"Events.EU\" from template itest.t_{topic}: topic refused: table itest.t_events_eu exists, made for topic \"events.eu\" by template \"itest.t_{topic}\"`)
	}, 90*time.Second, 100*time.Millisecond, "the clash is logged")
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))

	for name, n := range tables {
		tbl := b.loadTableNamed(name)
		require.NotNil(t, tbl, name)
		ids := b.rowIDsIn(tbl)
		require.Len(t, ids, n, name)
		for id, c := range ids {
			require.Equal(t, 1, c, "%s: row %s", name, id)
		}
		require.Equal(t, "itest.t_{topic}", tbl.Properties()["floe.template"])
	}
	require.Equal(t, "events.eu", b.loadTableNamed("itest.t_events_eu").Properties()["floe.topic"])
	m, _, err := offsets.Read(b.loadTableNamed("itest.t_events_eu").Metadata(), "itest", "")
	require.NoError(t, err)
	require.Equal(t, []string{"events.eu"}, slices.Collect(maps.Keys(m.Topics)), "a table holds its own topic's offsets")

	out, err := exec.Command(floeBin, "commits", "--config", cfg).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "table itest.t_events ")
	require.Contains(t, string(out), "table itest.t_events_eu ")
	out, err = exec.Command(floeBin, "maintain", "--config", cfg, "--table", "itest.t_events_eu", "--dry-run").CombinedOutput()
	require.NoError(t, err, string(out))
	out, err = exec.Command(floeBin, "commits", "--config", cfg, "--table", "itest.t_nope").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "load table itest.t_nope: table does not exist", "the template's shape, but no such table yet")
	out, err = exec.Command(floeBin, "commits", "--config", cfg, "--table", "other.events").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), `--table "other.events" is not in the config's tables, nor one of its templates made`)
}

// The spawner gives a topic the table its template makes, once: the same
// route when the topic comes again (deleted and created anew), and a
// refusal when the table's (or its dead-letter table's) name is another
// topic's, a configured table's, or — in a later run — belongs by its
// properties to another topic.
func TestSpawnerClaimsEachTableOnce(t *testing.T) {
	b := newBed(t, 1)
	path := b.templateConfig("floe", `.+`)
	yaml := readFile(t, path) + `  - name: itest.t_taken
    topics: [events]
    schema: [{name: id, type: string}]
`
	yaml = strings.Replace(yaml, "  - name: itest.t_{topic}\n", "  - name: itest.t_{topic}\n    on-error: dlq\n    dlq:\n      table: itest.t_{topic}_dlq\n", 1)
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o644))
	cfg, err := config.Load(path, nil, nil)
	require.NoError(t, err)
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := newPipeline(ctx, *cfg, logger)
	require.NoError(t, err)
	defer p.Close()
	spawn := p.spawner(cfg.Tables[0])

	r, err := spawn(ctx, "orders")
	require.NoError(t, err)
	again, err := spawn(ctx, "orders")
	require.NoError(t, err)
	require.Same(t, r, again, "a topic created again gets the route it had")
	require.Len(t, p.allCommitters(), 2, "itest.t_taken and itest.t_orders, one committer each")

	for topic, want := range map[string]string{
		"Orders":     `its table itest.t_orders is topic "orders"'s already`,
		"taken":      `its table itest.t_taken is tables[1] (itest.t_taken)'s already`,
		"orders_dlq": `its table itest.t_orders_dlq is topic "orders"'s already`,
	} {
		_, err := spawn(ctx, topic)
		require.ErrorIs(t, err, consumer.ErrTopicRefused, topic)
		require.ErrorContains(t, err, want)
	}

	// Another run, with nothing claimed yet: the table's properties say
	// whose it is.
	p2, err := newPipeline(ctx, *cfg, logger)
	require.NoError(t, err)
	defer p2.Close()
	_, err = p2.spawner(cfg.Tables[0])(ctx, "ORDERS")
	require.ErrorIs(t, err, consumer.ErrTopicRefused)
	require.ErrorContains(t, err, `table itest.t_orders exists, made for topic "orders" by template "itest.t_{topic}"`)
	_, err = p2.spawner(cfg.Tables[0])(ctx, "orders")
	require.NoError(t, err)
}
