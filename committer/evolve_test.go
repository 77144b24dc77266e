package committer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/evolution"
	"github.com/floe-dev/floe/offsets"
)

// narrowTable creates db.narrow (id string, small int, f float,
// s struct<age int>) and returns a committer for it.
func (e *protoEnv) narrowTable(instance string) *Committer {
	e.t.Helper()
	tc := e.tc
	tc.Name = "db.narrow"
	tc.Schema = []Column{
		{Name: "id", Type: "string", Required: true},
		{Name: "small", Type: "int"},
		{Name: "f", Type: "float"},
		{Name: "s", Type: "struct", Fields: []Column{{Name: "age", Type: "int"}}},
	}
	_, _, err := LoadOrCreateTable(context.Background(), e.cat.Catalog, tc, nil)
	require.NoError(e.t, err)
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "narrow"})
	require.NoError(e.t, err)
	cfg := DefaultConfig()
	cfg.RetryMin, cfg.RetryMax, cfg.CommitTimeout = time.Millisecond, 5*time.Millisecond, time.Minute
	c, err := New(cfg, tc, Deps{Catalog: e.cat, Table: tbl, Group: protoGroup, Identity: offsets.Writer{Instance: instance}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), e.reg)
	require.NoError(e.t, err)
	c.SetSource(offsets.Source{ClusterID: "cluster-A", TopicIDs: map[string]string{"events": "topic-1"}})
	return c
}

// narrowBatch builds rows [start, end) of partition 0 with the committer's
// current schema: small = f = s.age = offset, name = "n<offset>" when the
// table has it.
func (e *protoEnv) narrowBatch(c *Committer, start, end int64) *batcher.Batch {
	e.t.Helper()
	sc, err := c.ArrowSchema()
	require.NoError(e.t, err)
	buf := batcher.NewBuffer("events", 0, 1, start, sc, memory.NewGoAllocator(), batcher.DefaultPolicy())
	now := time.Unix(1_700_000_000, 0)
	for o := start; o < end; o++ {
		rb := buf.Builder()
		for i, f := range sc.Fields() {
			fb := rb.Field(i)
			switch f.Name {
			case "id":
				fb.(*array.StringBuilder).Append(fmt.Sprint(o))
			case "small":
				switch b := fb.(type) {
				case *array.Int32Builder:
					b.Append(int32(o))
				case *array.Int64Builder:
					b.Append(o + 1<<40)
				}
			case "f":
				switch b := fb.(type) {
				case *array.Float32Builder:
					b.Append(float32(o))
				case *array.Float64Builder:
					b.Append(float64(o) * 1e300)
				}
			case "s":
				sb := fb.(*array.StructBuilder)
				sb.Append(true)
				switch b := sb.FieldBuilder(0).(type) {
				case *array.Int32Builder:
					b.Append(int32(o))
				case *array.Int64Builder:
					b.Append(o + 1<<40)
				}
				for k := 1; k < sb.NumField(); k++ {
					sb.FieldBuilder(k).AppendNull() // fields added since
				}
			case "name":
				fb.(*array.StringBuilder).Append(fmt.Sprintf("n%d", o))
			default:
				fb.AppendNull()
			}
		}
		_, err := buf.Add(o, now, 10, true, now)
		require.NoError(e.t, err)
	}
	b := buf.Seal(batcher.ReasonRecords)
	b.FromTable = true
	return b
}

func scanNarrow(t testing.TB, e *protoEnv) []map[string]any {
	t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "narrow"})
	require.NoError(t, err)
	_, recs, err := tbl.Scan().ToArrowRecords(context.Background())
	require.NoError(t, err)
	var rows []map[string]any
	for rec, err := range recs {
		require.NoError(t, err)
		for i := 0; i < int(rec.NumRows()); i++ {
			row := map[string]any{}
			for j, f := range rec.Schema().Fields() {
				row[f.Name] = rec.Column(j).GetOneForMarshal(i)
			}
			rows = append(rows, row)
		}
		rec.Release()
	}
	return rows
}

var (
	str    = arrow.BinaryTypes.String
	long   = arrow.PrimitiveTypes.Int64
	double = arrow.PrimitiveTypes.Float64
)

// column is a new optional top-level column.
func column(name string, t arrow.DataType) evolution.Field {
	return evolution.Field{Field: arrow.Field{Name: name, Type: t, Nullable: true}}
}

func TestEvolveAddsColumnsAndWidens(t *testing.T) {
	e := newProtoEnv(t)
	c := e.narrowTable("a")
	c.Submit(e.narrowBatch(c, 0, 3)) // decoded before the change

	require.NoError(t, c.Evolve(context.Background(), &evolution.Change{
		Add:   []evolution.Field{column("name", str), column("tags", arrow.ListOfField(arrow.Field{Name: "element", Type: str, Nullable: true}))},
		Widen: []evolution.Widening{{Path: []string{"small"}, To: long}, {Path: []string{"f"}, To: double}, {Path: []string{"s", "age"}, To: long}},
	}))
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "narrow"})
	require.NoError(t, err)
	schema := tbl.Schema()
	for name, typ := range map[string]iceberg.Type{
		"name": iceberg.PrimitiveTypes.String, "small": iceberg.PrimitiveTypes.Int64,
		"f": iceberg.PrimitiveTypes.Float64, "s.age": iceberg.PrimitiveTypes.Int64,
	} {
		f, ok := schema.FindFieldByName(name)
		require.True(t, ok, name)
		require.True(t, f.Type.Equals(typ), "%s is %s", name, f.Type)
		require.False(t, f.Required, name)
	}
	oneChange := `
# HELP floe_committer_schema_changes_total Schema changes floe committed to the table (schema-evolution: add-columns, widen).
# TYPE floe_committer_schema_changes_total counter
floe_committer_schema_changes_total{table="db.narrow"} 1
`
	require.NoError(t, testutil.GatherAndCompare(e.reg, strings.NewReader(oneChange), "floe_committer_schema_changes_total"))

	// Asking again changes nothing.
	require.NoError(t, c.Evolve(context.Background(), &evolution.Change{Add: []evolution.Field{column("name", str)},
		Widen: []evolution.Widening{{Path: []string{"small"}, To: long}}}))
	require.NoError(t, testutil.GatherAndCompare(e.reg, strings.NewReader(oneChange), "floe_committer_schema_changes_total"))

	c.Submit(e.narrowBatch(c, 3, 5)) // decoded after it
	require.NoError(t, c.Commit(context.Background()))
	rows := scanNarrow(t, e)
	require.Len(t, rows, 5)
	byID := map[string]map[string]any{}
	for _, r := range rows {
		byID[fmt.Sprint(r["id"])] = r
	}
	require.Nil(t, byID["1"]["name"], "an old row has no value for the new column")
	require.EqualValues(t, 1, byID["1"]["small"], "an old int is read as long")
	require.Equal(t, "n4", byID["4"]["name"])
	require.EqualValues(t, 4+1<<40, byID["4"]["small"])
	require.Contains(t, fmt.Sprint(byID["1"]["s"]), "age:1")
	require.Equal(t, map[int32]int64{0: 5}, e.offsetsOf("narrow").Topics["events"].Next)
}

func (e *protoEnv) offsetsOf(name string) offsets.Map {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", name})
	require.NoError(e.t, err)
	m, _, err := offsets.Read(tbl.Metadata(), protoGroup, "")
	require.NoError(e.t, err)
	return m
}

func TestEvolveRefusesWhatIsNotAnEvolution(t *testing.T) {
	e := newProtoEnv(t)
	c := e.narrowTable("a")
	for _, tc := range []struct {
		ch   *evolution.Change
		want string
	}{
		{&evolution.Change{Add: []evolution.Field{column("small", str)}}, `column "small" of db.narrow is int, a record needs string`},
		{&evolution.Change{Widen: []evolution.Widening{{Path: []string{"id"}, To: long}}}, `column "id" of db.narrow is string and cannot be widened to long`},
		{&evolution.Change{Widen: []evolution.Widening{{Path: []string{"nope"}, To: long}}}, `no column "nope" to widen in db.narrow`},
	} {
		err := c.Evolve(context.Background(), tc.ch)
		require.ErrorIs(t, err, ErrSchemaConflict)
		require.ErrorContains(t, err, tc.want)
	}
}

// Several replicas evolving the same table at once, while one commits
// data: each column is added once, with one field ID, and the schema never
// forks.
func TestEvolveConcurrentReplicas(t *testing.T) {
	e := newProtoEnv(t)
	var cs []*Committer
	for i := range 6 {
		cs = append(cs, e.narrowTable(fmt.Sprintf("r%d", i)))
	}
	boolean := arrow.FixedWidthTypes.Boolean
	changes := []*evolution.Change{
		{Add: []evolution.Field{column("a", str), column("b", long)}},
		{Add: []evolution.Field{column("b", long), column("c", boolean)}},
		{Add: []evolution.Field{column("c", boolean)}, Widen: []evolution.Widening{{Path: []string{"small"}, To: long}}},
		{Add: []evolution.Field{column("a", str)}, Widen: []evolution.Widening{{Path: []string{"small"}, To: long}}},
		{Widen: []evolution.Widening{{Path: []string{"f"}, To: double}}},
		{Add: []evolution.Field{column("d", arrow.StructOf(arrow.Field{Name: "x", Type: long, Nullable: true}))}},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.Evolve(context.Background(), changes[i]) }()
	}
	writer := e.narrowTable("writer")
	writer.Submit(e.narrowBatch(writer, 0, 4))
	require.NoError(t, writer.Commit(context.Background()))
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "replica %d", i)
	}

	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", "narrow"})
	require.NoError(t, err)
	schema := tbl.Schema()
	ids := map[int]string{}
	names := map[string]int{}
	for _, f := range schema.Fields() {
		names[f.Name]++
	}
	for name, n := range names {
		require.Equal(t, 1, n, "column %s appears %d times", name, n)
	}
	for _, name := range []string{"a", "b", "c", "d", "d.x", "small", "f"} {
		f, ok := schema.FindFieldByName(name)
		require.True(t, ok, name)
		require.NotContains(t, ids, f.ID, "field ID %d of %s used twice", f.ID, name)
		ids[f.ID] = name
	}
	f, _ := schema.FindFieldByName("small")
	require.True(t, f.Type.Equals(iceberg.PrimitiveTypes.Int64))
	// Every schema in the history extends the one before it: no fork.
	schemas := tbl.Metadata().Schemas()
	for i := 1; i < len(schemas); i++ {
		for _, prev := range schemas[i-1].Fields() {
			now, ok := schemas[i].FindFieldByID(prev.ID)
			require.True(t, ok, "schema %d dropped field %d (%s)", schemas[i].ID, prev.ID, prev.Name)
			require.Equal(t, prev.Name, now.Name)
		}
	}
	require.LessOrEqual(t, len(schemas), 1+len(changes), "at most one schema per change")
	requireNoDuplicatesNarrow(t, scanNarrow(t, e), 4)
	t.Logf("%d schemas after %d concurrent changes: %v", len(schemas), len(changes), names)
}

func requireNoDuplicatesNarrow(t testing.TB, rows []map[string]any, n int) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rows {
		id := fmt.Sprint(r["id"])
		require.False(t, seen[id], "row %s twice", id)
		seen[id] = true
	}
	require.Len(t, seen, n)
}

func TestEvolveAddsFieldsInsideStructs(t *testing.T) {
	e := newProtoEnv(t)
	c := e.narrowTable("a")
	c.Submit(e.narrowBatch(c, 0, 2))
	ch := &evolution.Change{Add: []evolution.Field{{Parent: []string{"s"}, Field: arrow.Field{Name: "nick", Type: str, Nullable: true}}}}
	require.NoError(t, c.Evolve(context.Background(), ch))
	require.NoError(t, c.Evolve(context.Background(), ch), "twice: nothing left to do")
	f, ok := e.reload2("narrow").Schema().FindFieldByName("s.nick")
	require.True(t, ok)
	require.False(t, f.Required)
	c.Submit(e.narrowBatch(c, 2, 3))
	require.NoError(t, c.Commit(context.Background()))
	requireNoDuplicatesNarrow(t, scanNarrow(t, e), 3)

	err := c.Evolve(context.Background(), &evolution.Change{Add: []evolution.Field{{Parent: []string{"small"}, Field: arrow.Field{Name: "x", Type: long, Nullable: true}}}})
	require.ErrorIs(t, err, ErrSchemaConflict)
	require.ErrorContains(t, err, `no struct column "small" in db.narrow to add "x" to`)
}

func (e *protoEnv) reload2(name string) *table.Table {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), table.Identifier{"db", name})
	require.NoError(e.t, err)
	return tbl
}
