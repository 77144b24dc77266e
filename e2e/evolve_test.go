//go:build e2e

package e2e

// Schema evolution on real services: two floe replicas meet records with
// fields the table lacks while they stream; PyIceberg and DuckDB must read
// every record once, the new column null for the records from before.

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestSchemaEvolutionTwoReplicas(t *testing.T) {
	s := needServices(t)
	const n, partitions = 8_000, 4
	p := newPipeline(t, s, "rest-s3", partitions)
	p.conf.tableExtra = "    schema-evolution: [add-columns, widen]\n"
	p.cfgPath, _ = p.conf.write(t, p.dir, "commits")

	// The first half as the table's schema has it, the second with a new
	// field "color" (and "score"), spread over every partition.
	produce := func(first, count int, evolved bool) {
		var recs []*kgo.Record
		for i := first; i < first+count; i++ {
			id, v := record(i)
			if evolved {
				v = append(bytes.TrimSuffix(v, []byte("}")), fmt.Sprintf(`,"color":"c%d","score":%d.25}`, i%5, i)...)
			}
			recs = append(recs, &kgo.Record{Topic: p.topic, Key: []byte(id), Value: v})
		}
		if err := p.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, n/2, false)
	a, b := p.start("a"), p.start("b")
	a.waitReady(t)
	b.waitReady(t)
	p.waitCommitted(n/4, a, b)
	// Both must meet new records: each holds partitions before they come
	// (a replica that joined late may not have had its share yet).
	waitShared(t, p.topic, a, b)
	produce(n/2, n/2, true)
	ends := endOffsets(t, p.adm, p.topic)
	p.waitUntil("caught up with the topic's end", 5*time.Minute,
		func(m map[int32]int64) bool { return maps.Equal(m, withoutEmpty(ends)) }, a, b)
	stopAll(t, a, b)
	evolved, switched := 0, 0
	for _, proc := range []*floeProc{a, b} {
		evolved += countLog(proc.log(), `"msg":"schema evolved"`)
		switched += countLog(proc.log(), `"msg":"decoding with the table's new schema"`)
	}
	t.Logf("schema evolved %d times (the other replica found it done); %d replicas switched schema", evolved, switched)
	if evolved == 0 || switched < 2 {
		t.Errorf("want one landed schema change and both replicas switching, got %d and %d", evolved, switched)
	}

	py, duck := readPairs(t, p, p.table, "_kafka_partition", "_kafka_offset", "color")
	for _, r := range []struct {
		name  string
		pairs [][3]any
	}{{"pyiceberg", py}, {"duckdb", duck}} {
		seen := map[string]int{}
		colored := 0
		for _, pr := range r.pairs {
			seen[pairKey(pr)]++
			if pr[2] != nil {
				colored++
			}
		}
		var problems []string
		for part, end := range ends {
			for off := int64(0); off < end; off++ {
				if k := fmt.Sprintf("%d/%d", part, off); seen[k] != 1 {
					problems = append(problems, fmt.Sprintf("%s %d×", k, seen[k]))
				}
			}
		}
		if len(problems) > 0 || len(r.pairs) != n {
			t.Errorf("%s: %d rows for %d records; offsets not exactly once: %v", r.name, len(r.pairs), n, problems[:min(10, len(problems))])
		}
		if colored != n/2 {
			t.Errorf("%s: %d rows have a color, want the %d evolved records", r.name, colored, n/2)
		}
		t.Logf("%s: %d rows, %d with the new column color", r.name, len(r.pairs), colored)
	}
}
