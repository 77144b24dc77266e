package committer

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/evolution"
	"github.com/floe-dev/floe/internal/catalogtest"
)

func testTableConfig(name string) TableConfig {
	tc := DefaultTableConfig()
	tc.Name = name
	tc.Owner = "floe-test"
	tc.Schema = []Column{
		{Name: "id", Type: "long", Required: true},
		{Name: "ts", Type: "timestamptz", Required: true},
		{Name: "user", Type: "struct", Fields: []Column{
			{Name: "name", Type: "string"},
			{Name: "country", Type: "string"},
		}},
		{Name: "tags", Type: "list<string>"},
		{Name: "attrs", Type: "map<string, string>"},
		{Name: "amount", Type: "decimal(12, 2)"},
	}
	tc.PartitionBy = []string{"day(ts)", "bucket(8, id)", "user.country"}
	tc.Properties = map[string]string{"write.target-file-size-bytes": "1048576"}
	return tc
}

var testExtraCols = []arrow.Field{
	{Name: "_kafka", Nullable: true, Type: arrow.StructOf(
		arrow.Field{Name: "topic", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "partition", Type: arrow.PrimitiveTypes.Int32},
		arrow.Field{Name: "offset", Type: arrow.PrimitiveTypes.Int64},
	)},
}

func TestLoadOrCreateTable(t *testing.T) {
	ctx := context.Background()
	cfg := catalog.Local("floe", t.TempDir())
	cat := catalogtest.OpenConfig(t, cfg)
	tc := testTableConfig("db.events.clicks")

	tbl, created, err := LoadOrCreateTable(ctx, cat, tc, Fields(testExtraCols...))
	require.NoError(t, err)
	require.True(t, created)

	require.Equal(t, 2, tbl.Metadata().Version())
	props := tbl.Properties()
	require.Equal(t, "floe-test", props[PropOwner])
	require.Equal(t, "0", props[table.CommitNumRetriesKey])
	require.Equal(t, "zstd", props["write.parquet.compression-codec"])
	require.Equal(t, "1048576", props["write.target-file-size-bytes"])
	require.NotContains(t, props, table.PropertyFormatVersion, "format-version is metadata, not a property")
	require.True(t, strings.HasPrefix(tbl.Location(), cfg.Warehouse+"/"), tbl.Location())

	want, err := BuildSchema(append(tc.Schema, Column{Name: "_kafka", Type: "struct", Fields: []Column{
		{Name: "topic", Type: "string", Required: true},
		{Name: "partition", Type: "int", Required: true},
		{Name: "offset", Type: "long", Required: true},
	}}))
	require.NoError(t, err)
	require.Truef(t, tbl.Schema().Equals(want), "table schema\n%s\nwant\n%s", tbl.Schema(), want)
	offset, ok := tbl.Schema().FindFieldByName("_kafka.offset")
	require.True(t, ok)
	require.True(t, offset.Required)

	spec := tbl.Spec()
	require.Equal(t, 3, spec.NumFields())
	var names []string
	for i, f := range spec.Fields() {
		require.Equal(t, iceberg.PartitionDataIDStart+i, f.FieldID)
		names = append(names, f.Name)
	}
	require.Equal(t, []string{"ts_day", "id_bucket_8", "user.country"}, names)
	country, _ := tbl.Schema().FindFieldByName("user.country")
	require.Equal(t, country.ID, spec.Field(2).SourceID())

	again, created, err := LoadOrCreateTable(ctx, cat, tc, Fields(testExtraCols...))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, tbl.Metadata().TableUUID(), again.Metadata().TableUUID())

	// A second process sees the same table, and an existing table is loaded
	// even when the config no longer has a schema.
	other := catalogtest.OpenConfig(t, cfg)
	tc.Schema, tc.PartitionBy = nil, nil
	loaded, created, err := LoadOrCreateTable(ctx, other, tc, nil)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, tbl.Metadata().TableUUID(), loaded.Metadata().TableUUID())
}

func TestLoadOrCreateTableConcurrent(t *testing.T) {
	ctx := context.Background()
	cfg := catalog.Local("floe", t.TempDir())
	tc := testTableConfig("race.t")

	const replicas = 4
	cats := make([]icecat.Catalog, replicas)
	for i := range cats {
		cats[i] = catalogtest.OpenConfig(t, cfg)
	}
	var (
		wg      sync.WaitGroup
		nCreate atomic.Int32
		tables  = make([]*table.Table, replicas)
		errs    = make([]error, replicas)
		start   = make(chan struct{})
	)
	for i := range replicas {
		wg.Go(func() {
			<-start
			tbl, created, err := LoadOrCreateTable(ctx, cats[i], tc, Fields(testExtraCols...))
			if created {
				nCreate.Add(1)
			}
			tables[i], errs[i] = tbl, err
		})
	}
	close(start)
	wg.Wait()

	require.NoError(t, errors.Join(errs...))
	require.Equal(t, int32(1), nCreate.Load())
	for _, tbl := range tables[1:] {
		require.Equal(t, tables[0].Metadata().TableUUID(), tbl.Metadata().TableUUID())
	}
	var idents []table.Identifier
	for ident, err := range cats[0].ListTables(ctx, []string{"race"}) {
		require.NoError(t, err)
		idents = append(idents, ident)
	}
	require.Len(t, idents, 1)
}

func TestLoadOrCreateTableMissingWithoutSchema(t *testing.T) {
	ctx := context.Background()
	cat := catalogtest.OpenConfig(t, catalog.Local("floe", t.TempDir()))
	require.NoError(t, catalog.EnsureNamespace(ctx, cat, []string{"db"}))

	for _, name := range []string{"db.missing", "nons.missing"} {
		tc := DefaultTableConfig()
		tc.Name = name
		_, _, err := LoadOrCreateTable(ctx, cat, tc, Fields(testExtraCols...))
		require.EqualError(t, err, "table "+name+" does not exist and tables[].schema is not set, so floe cannot create it")
		require.ErrorIs(t, err, icecat.ErrNoSuchTable)
		var nc *TableNotCreatableError
		require.ErrorAs(t, err, &nc)
	}
}

func TestLoadOrCreateTableConfigErrors(t *testing.T) {
	ctx := context.Background()
	cat := catalogtest.OpenConfig(t, catalog.Local("floe", t.TempDir()))
	tests := []struct {
		name    string
		edit    func(*TableConfig)
		wantErr string
	}{
		{"bad identifier", func(tc *TableConfig) { tc.Name = "flat" }, `must be namespace.table`},
		{"bad schema", func(tc *TableConfig) { tc.Schema[0].Type = "lng" }, `create table db.t: schema: column "id": unknown type "lng"`},
		{"extra col clash", func(tc *TableConfig) { tc.Schema = append(tc.Schema, Column{Name: "_KAFKA", Type: "int"}) }, `column "_kafka": duplicate name`},
		{"bad partition", func(tc *TableConfig) { tc.PartitionBy = []string{"day(id)"} }, `partition-by[0] "day(id)": transform day cannot apply to long`},
		{"format v3", func(tc *TableConfig) { tc.Properties = map[string]string{"format-version": "3"} }, `properties.format-version: floe needs 2, got "3"`},
		{"retries", func(tc *TableConfig) { tc.Properties = map[string]string{"commit.retry.num-retries": "4"} }, `properties.commit.retry.num-retries: floe needs 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := testTableConfig("db.t")
			tt.edit(&tc)
			_, _, err := LoadOrCreateTable(ctx, cat, tc, Fields(testExtraCols...))
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestCreateTableProperties(t *testing.T) {
	tc := TableConfig{Owner: "a", Properties: map[string]string{
		"write.parquet.compression-codec": "snappy",
		"format-version":                  "2",
		PropOwner:                         "a",
	}}
	props, err := CreateTableProperties(tc)
	require.NoError(t, err)
	require.Equal(t, iceberg.Properties{
		"write.parquet.compression-codec":            "snappy",
		"format-version":                             "2",
		"commit.retry.num-retries":                   "0",
		"write.metadata.delete-after-commit.enabled": "true",
		"write.metadata.previous-versions-max":       "20",
		"commit.manifest-merge.enabled":              "true",
		"commit.manifest.min-count-to-merge":         "32",
		PropOwner:                                    "a",
	}, props)

	tc.Properties[PropOwner] = "b"
	_, err = CreateTableProperties(tc)
	require.ErrorContains(t, err, `properties.floe.owner: conflicts with owner "a"`)

	props, err = CreateTableProperties(TableConfig{})
	require.NoError(t, err)
	require.NotContains(t, props, PropOwner)

	props, err = CreateTableProperties(TableConfig{Properties: map[string]string{
		"write.metadata.previous-versions-max": "5", "write.metadata.delete-after-commit.enabled": "false",
	}})
	require.NoError(t, err)
	require.Equal(t, "5", props["write.metadata.previous-versions-max"], "the operator's choice wins")
	require.Equal(t, "false", props["write.metadata.delete-after-commit.enabled"])
	for _, bad := range []string{"0", "-1", "many"} {
		_, err = CreateTableProperties(TableConfig{Properties: map[string]string{"write.metadata.previous-versions-max": bad}})
		require.ErrorContains(t, err, `properties.write.metadata.previous-versions-max: must be a whole number of at least 1, got "`+bad+`"`)
	}
}

// Every commit writes a new metadata.json; a table floe creates keeps the
// current one and write.metadata.previous-versions-max before it, and the
// commit that retires one deletes it (iceberg-go does, for SQL catalogs).
func TestCreatedTableKeepsBoundedMetadataFiles(t *testing.T) {
	e := newProtoEnvWith(t, map[string]string{"write.metadata.previous-versions-max": "3"})
	c := e.committer("a")
	for i := range int64(8) {
		c.Submit(e.batch(c, 0, 1, i*5, i*5+5))
		require.NoError(t, c.Commit(context.Background()))
	}
	tbl := e.reload()
	dir := filepath.Join(localPath(tbl.Location()), "metadata")
	files, err := filepath.Glob(filepath.Join(dir, "*.metadata.json"))
	require.NoError(t, err)
	require.Len(t, files, 4, "the current metadata file and 3 previous ones: %v", files)
	require.Len(t, slices.Collect(tbl.Metadata().PreviousFiles()), 3)
	requireNoDuplicates(t, e.rows(), 40)
}

// However many commits came before, the head references a bounded number
// of manifests: a table floe creates merges them on append. The rows stay
// exactly the committed ones.
func TestCreatedTableKeepsManifestsFew(t *testing.T) {
	e := newProtoEnvWith(t, map[string]string{"commit.manifest.min-count-to-merge": "4"})
	c := e.committer("a")
	most := 0
	for i := range int64(20) {
		c.Submit(e.batch(c, 0, 1, i*5, i*5+5))
		require.NoError(t, c.Commit(context.Background()))
		tbl := e.reload()
		mans, err := tbl.CurrentSnapshot().Manifests(mustFS(t, tbl))
		require.NoError(t, err)
		most = max(most, len(mans))
	}
	require.LessOrEqual(t, most, 4, "min-count-to-merge bounds the manifests of every snapshot")
	requireNoDuplicates(t, e.rows(), 100)
}

func mustFS(t *testing.T, tbl *table.Table) icebergio.IO {
	t.Helper()
	fs, err := tbl.FS(context.Background())
	require.NoError(t, err)
	return fs
}

// A metadata or evolved field whose Arrow type has no table column type is
// refused with the field named, on create and on evolve.
func TestArrowFieldWithoutColumnType(t *testing.T) {
	cat := catalogtest.Open(t)
	tc := testTableConfig("db.odd")
	_, _, err := LoadOrCreateTable(context.Background(), cat, tc, Fields(arrow.Field{Name: "took", Type: arrow.FixedWidthTypes.Duration_s}))
	require.ErrorContains(t, err, `create table db.odd: column "took": no table column type for Arrow type duration[s]`)

	e := newProtoEnv(t)
	c := e.narrowTable("a")
	err = c.Evolve(context.Background(), &evolution.Change{Add: []evolution.Field{column("took", arrow.FixedWidthTypes.Duration_s)}})
	require.ErrorIs(t, err, ErrSchemaConflict)
	require.ErrorContains(t, err, `new field "took": no table column type for Arrow type duration[s]`)
}
