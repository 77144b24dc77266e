package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceEvolved writes n records with unique ids that carry two fields the
// table lacks (color, score, user.nick) and a user.age too large for an int.
func (b *bed) produceEvolved(n int) {
	b.t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		id := b.next + i
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprint(id)),
			Value: fmt.Appendf(nil, `{"id":"r%07d","n":%d,"color":"c%d","score":%d.5,"user":{"name":"u","age":%d,"nick":"k"}}`,
				id, id, id%3, id, int64(id)+1<<33)}
	}
	b.next += n
	require.NoError(b.t, b.prod.ProduceSync(context.Background(), recs...).FirstErr())
}

func TestSchemaEvolutionWithTwoReplicas(t *testing.T) {
	b := newBed(t, 4)
	extra := "    schema-evolution: [add-columns, widen]\n"
	cfgA, cfgB := b.config("a", extra), b.config("b", extra)
	b.produce(300)
	pa, pb := b.start(cfgA), b.start(cfgB)
	b.waitCommitted(300, pa, pb)
	b.produceEvolved(300) // every partition meets the new fields: both replicas evolve
	b.produce(100)
	b.waitCommitted(700, pa, pb)
	_, metrics := pa.get(t, "/metrics")
	require.Equal(t, 0, pa.stop(t, syscall.SIGTERM))
	require.Equal(t, 0, pb.stop(t, syscall.SIGTERM))
	b.requireExactlyOnce(700)

	tbl := b.loadTable()
	schema := tbl.Schema()
	for name, typ := range map[string]iceberg.Type{
		"color": iceberg.PrimitiveTypes.String, "score": iceberg.PrimitiveTypes.Float64, "user.age": iceberg.PrimitiveTypes.Int64,
		"user.nick": iceberg.PrimitiveTypes.String,
	} {
		f, ok := schema.FindFieldByName(name)
		require.True(t, ok, "column %s was not added", name)
		require.True(t, f.Type.Equals(typ), "%s is %s, want %s", name, f.Type, typ)
	}
	log := pa.out.String() + pb.out.String()
	require.Contains(t, log, `"msg":"schema evolved"`)
	require.Contains(t, log, `"msg":"decoding with the table's new schema"`)
	require.Contains(t, metrics, "floe_committer_schema_changes_total")
	// The schema only ever grew: one schema per change at most, no fork.
	schemas := tbl.Metadata().Schemas()
	for i := 1; i < len(schemas); i++ {
		for _, prev := range schemas[i-1].Fields() {
			_, ok := schemas[i].FindFieldByID(prev.ID)
			require.True(t, ok, "schema %d lost field %s", schemas[i].ID, prev.Name)
		}
	}
	t.Logf("%d schemas; the current one: %s", len(schemas), schema)

	// The values: the new rows have them, the old rows are null there.
	_, recs, err := tbl.Scan(table.WithSelectedFields("id", "color", "score")).ToArrowRecords(context.Background())
	require.NoError(t, err)
	colors := map[string]string{}
	for rec, err := range recs {
		require.NoError(t, err)
		ids, cs := rec.Column(0).(*array.String), rec.Column(1).(*array.String)
		for i := 0; i < ids.Len(); i++ {
			if cs.IsValid(i) {
				colors[ids.Value(i)] = cs.Value(i)
			}
		}
		rec.Release()
	}
	require.Len(t, colors, 300, "exactly the evolved records carry color")
	require.Equal(t, "c1", colors["r0000301"])
	require.NotContains(t, colors, "r0000001")
}
