package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/offsets"
)

// routedBed is a topic whose records name their table in the x-table
// header: ev_a, ev_b and (later) ev_c are allowed, "secrets" is not, some
// records have no header, and some of a's are not JSON.
type routedBed struct {
	*bed
	want    map[string]map[string]int // table → row id → 1
	letters map[string]string         // source offset "p/o" → reason, filled after producing
	bad     map[string]string         // row id → the reason it is a dead letter
}

func (rb *routedBed) produce(n int, values ...string) {
	rb.t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		id := rb.next + i
		rid := fmt.Sprintf("r%07d", id)
		value := fmt.Appendf(nil, `{"id":"%s","n":%d}`, rid, id)
		rec := &kgo.Record{Topic: "events", Key: []byte(rid), Value: value}
		switch k := id % 10; {
		case k == 8:
			rec.Headers = []kgo.RecordHeader{{Key: "x-table", Value: []byte("secrets")}}
			rb.bad[rid] = "route_not_allowed"
		case k == 9:
			rb.bad[rid] = "route_missing"
		default:
			v := values[id%len(values)]
			rec.Headers = []kgo.RecordHeader{{Key: "x-table", Value: []byte(v)}}
			if v == "a" && id%50 == 0 {
				rec.Value = []byte("not json " + rid)
				rb.bad[rid] = "malformed_json"
				break
			}
			if rb.want["itest.ev_"+v] == nil {
				rb.want["itest.ev_"+v] = map[string]int{}
			}
			rb.want["itest.ev_"+v][rid] = 1
		}
		recs[i] = rec
	}
	rb.next += n
	require.NoError(rb.t, rb.prod.ProduceSync(context.Background(), recs...).FirstErr())
}

func (rb *routedBed) rows() map[string]map[string]int {
	out := map[string]map[string]int{}
	for name := range rb.want {
		if tbl := rb.loadTableNamed(name); tbl != nil && tbl.CurrentSnapshot() != nil {
			out[name] = rb.rowIDsIn(tbl)
		}
	}
	return out
}

// deadLetterRows reads the router's dead-letter table: the key of each
// record (its row id) → target_table/reason, once per letter.
func (rb *routedBed) deadLetterRows() map[string][]string {
	rb.t.Helper()
	out := map[string][]string{}
	tbl := rb.loadTableNamed("itest.ev_dead_letters")
	if tbl == nil || tbl.CurrentSnapshot() == nil {
		return out
	}
	_, recs, err := tbl.Scan(table.WithSelectedFields("target_table", "key", "reason")).ToArrowRecords(context.Background())
	require.NoError(rb.t, err)
	for rec, err := range recs {
		require.NoError(rb.t, err)
		col := func(n string) int { return rec.Schema().FieldIndices(n)[0] }
		for i := 0; i < int(rec.NumRows()); i++ {
			key := string(rec.Column(col("key")).(*array.Binary).Value(i))
			out[key] = append(out[key], rec.Column(col("target_table")).(*array.String).Value(i)+"/"+rec.Column(col("reason")).(*array.String).Value(i))
		}
		rec.Release()
	}
	return out
}

// One topic feeding several tables by a header, exactly once across a
// SIGKILL: each table holds exactly the records routed to it, a table
// named only after the restart is made then, and every record no table
// takes is in the dead-letter table once, with its reason.
func TestRoutedTopicExactlyOnce(t *testing.T) {
	rb := &routedBed{bed: newBed(t, 3), want: map[string]map[string]int{}, bad: map[string]string{}}
	path := rb.config("floe", "    route-by: header:x-table\n    allowed-tables: 'itest\\.ev_(a|b|c)'\n"+
		"    on-error: dlq\n    dlq:\n      table: itest.ev_dead_letters\n")
	yaml := strings.Replace(readFile(t, path), "  - name: itest.events\n", "  - name: itest.ev_{route}\n", 1)
	yaml = strings.Replace(yaml, `    partition-by: ["bucket(4, id)"]`+"\n", "", 1)
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o644))

	done := func(p *proc) func() bool {
		return func() bool {
			select {
			case <-p.done:
				t.Fatalf("floe exited early (%v):\n%s", p.err, tail(p.out.String(), 40))
			default:
			}
			rows := rb.rows()
			for name, ids := range rb.want {
				n := 0
				for id := range ids {
					n += rows[name][id]
				}
				if n < len(ids) {
					return false
				}
			}
			return len(rb.deadLetterRows()) >= len(rb.bad)
		}
	}

	rb.produce(900, "a", "b")
	p := rb.start(path)
	p.waitReady(t)
	require.Eventually(t, func() bool { return len(rb.rows()["itest.ev_a"]) > 200 }, 90*time.Second, 100*time.Millisecond)
	rb.produce(600, "a", "b")
	p.stop(t, syscall.SIGKILL)

	rb.produce(900, "a", "b", "c") // c is named only now
	p = rb.start(path)
	p.waitReady(t)
	require.Eventually(t, done(p), 90*time.Second, 200*time.Millisecond)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	require.Contains(t, p.out.String(), `"msg":"table from route-by","table":"itest.ev_c"`)

	for name, ids := range rb.want {
		require.Equal(t, ids, rb.rowIDsIn(rb.loadTableNamed(name)), "table %s: the records routed to it, once each", name)
	}
	require.Nil(t, rb.loadTableNamed("itest.ev_secrets"), "a table outside allowed-tables is never made")
	letters := rb.deadLetterRows()
	require.Len(t, letters, len(rb.bad))
	for id, reason := range rb.bad {
		target := "itest.ev_{route}"
		if reason == "malformed_json" {
			target = "itest.ev_a"
		}
		require.Equal(t, []string{target + "/" + reason}, letters[id], "dead letter of %s", id)
	}

	// Every table's offsets stay within the topic, and the highest floor
	// of each partition is where a restart would read from.
	ends, err := kadm.NewClient(rb.prod).ListEndOffsets(context.Background(), "events")
	require.NoError(t, err)
	floors := map[int32]int64{}
	for _, name := range []string{"itest.ev_a", "itest.ev_b", "itest.ev_c", "itest.ev_dead_letters"} {
		m, _, err := offsets.Read(rb.loadTableNamed(name).Metadata(), "itest", "")
		require.NoError(t, err, name)
		ends.Each(func(o kadm.ListedOffset) {
			next, _ := m.Get("events", o.Partition)
			require.LessOrEqual(t, next, o.Offset, "%s[%d]", name, o.Partition)
			if f, ok := m.GetFloor("events", o.Partition); ok {
				require.LessOrEqual(t, f, o.Offset)
				floors[o.Partition] = max(floors[o.Partition], f)
			}
		})
	}
	require.Len(t, floors, 3, "every partition has a floor")
}

// The refusals around a router: a route value too long for a table name
// is a dead letter, not a stalled partition; a table the allow-list no
// longer allows is left alone at the next start (its records dead-lettered
// from then on); rollback --replay of a routed table is refused.
func TestRouterRefusals(t *testing.T) {
	rb := &routedBed{bed: newBed(t, 1), want: map[string]map[string]int{}, bad: map[string]string{}}
	write := func(allowed string) string {
		path := rb.config("floe", "    route-by: header:x-table\n    allowed-tables: '"+allowed+"'\n"+
			"    on-error: dlq\n    dlq:\n      table: itest.ev_dead_letters\n")
		yaml := strings.Replace(readFile(t, path), "  - name: itest.events\n", "  - name: itest.ev_{route}\n", 1)
		yaml = strings.Replace(yaml, `    partition-by: ["bucket(4, id)"]`+"\n", "", 1)
		require.NoError(t, os.WriteFile(path, []byte(yaml), 0o644))
		return path
	}
	produce := func(v string) string {
		rid := fmt.Sprintf("r%07d", rb.next)
		rb.next++
		rec := &kgo.Record{Topic: "events", Key: []byte(rid), Value: fmt.Appendf(nil, `{"id":"%s","n":1}`, rid),
			Headers: []kgo.RecordHeader{{Key: "x-table", Value: []byte(v)}}}
		require.NoError(t, rb.prod.ProduceSync(context.Background(), rec).FirstErr())
		return rid
	}
	path := write(`itest\.ev_[a-z_]+`)
	long := produce(strings.Repeat("x", 129)) // allowed by the pattern, too long for a name
	a, b := produce("a"), produce("b")
	p := rb.start(path)
	p.waitReady(t)
	require.Eventually(t, func() bool {
		return len(rb.deadLetterRows()) == 1 && len(rb.rows()) == 0 && rb.loadTableNamed("itest.ev_b") != nil &&
			rb.loadTableNamed("itest.ev_b").CurrentSnapshot() != nil && rb.loadTableNamed("itest.ev_a").CurrentSnapshot() != nil
	},
		90*time.Second, 200*time.Millisecond)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	require.Equal(t, []string{"itest.ev_{route}/route_not_allowed"}, rb.deadLetterRows()[long])
	require.Contains(t, p.out.String(), "header:x-table holds 129 bytes, over the 128 a route value may have")
	require.NotContains(t, p.out.String(), strings.Repeat("x", 129), "the route value is record content: never logged")
	require.Equal(t, map[string]int{a: 1}, rb.rowIDsIn(rb.loadTableNamed("itest.ev_a")))
	require.Equal(t, map[string]int{b: 1}, rb.rowIDsIn(rb.loadTableNamed("itest.ev_b")))

	// b is not allowed any more: floe starts, leaves its table alone, and
	// b's records are dead letters.
	path = write(`itest\.ev_a`)
	b2 := produce("b")
	a2 := produce("a")
	p = rb.start(path)
	p.waitReady(t)
	require.Eventually(t, func() bool {
		return len(rb.deadLetterRows()) == 2 && len(rb.rowIDsIn(rb.loadTableNamed("itest.ev_a"))) == 2
	},
		90*time.Second, 200*time.Millisecond)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	require.Contains(t, p.out.String(), `"msg":"table made by route-by is not allowed any more: nothing is routed to it","table":"itest.ev_b"`)
	require.Equal(t, []string{"itest.ev_{route}/route_not_allowed"}, rb.deadLetterRows()[b2])
	require.Equal(t, map[string]int{a: 1, a2: 1}, rb.rowIDsIn(rb.loadTableNamed("itest.ev_a")))
	require.Equal(t, map[string]int{b: 1}, rb.rowIDsIn(rb.loadTableNamed("itest.ev_b")))

	snap := rb.loadTableNamed("itest.ev_a").CurrentSnapshot().SnapshotID
	code, out := floeCmd(t, "rollback", "--config", path, "--table", "itest.ev_a", "--to-snapshot", fmt.Sprint(snap), "--replay")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "--replay: table itest.ev_a is fed by route-by of itest.ev_{route}")
}

func TestRefusedByTheCatalog(t *testing.T) {
	require.True(t, refused(fmt.Errorf("create: %w", &committer.TableNotCreatableError{})))
	require.True(t, refused(fmt.Errorf("create: %w", rest.ErrBadRequest)))
	require.True(t, refused(fmt.Errorf("create: %w", rest.ErrForbidden)))
	require.False(t, refused(fmt.Errorf("create: %w", rest.ErrServiceUnavailable)), "an outage is waited out")
	require.False(t, refused(context.DeadlineExceeded))
}
