package committer
import ("context";"errors";"sync";"sync/atomic";"testing";"github.com/apache/iceberg-go/catalog";"github.com/apache/iceberg-go/table";"github.com/stretchr/testify/require")
func TestZZStress(t *testing.T) {
	ctx := context.Background()
	cfg := sqliteCatalogConfig(t)
	tc := testTableConfig("race.t")

	const replicas = 12
	cats := make([]catalog.Catalog, replicas)
	for i := range cats {
		cats[i] = openTestCatalog(t, cfg)
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
			tbl, created, err := LoadOrCreateTable(ctx, cats[i], tc, testExtraCols)
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
