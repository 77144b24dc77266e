package committer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	// Registers the s3:// (and s3a://) file IO; file:// is built into io.
	_ "github.com/apache/iceberg-go/io/gocloud/s3"

	"github.com/floe-dev/floe/catalog"
)

// Table properties floe sets on the tables it creates.
const (
	// PropOwner names the floe deployment that created (and writes) a table.
	PropOwner = "floe.owner"

	propCompression = "write.parquet.compression-codec"

	// DefaultMetadataVersions is how many previous metadata.json files a
	// table floe creates keeps (write.metadata.previous-versions-max):
	// every commit writes a new one, and without a bound the metadata
	// directory grows by one file per commit forever.
	DefaultMetadataVersions = 20

	// DefaultManifestMergeCount is commit.manifest.min-count-to-merge of
	// the tables floe creates, which also merge manifests on append
	// (commit.manifest-merge.enabled): once a commit would leave this many
	// small manifests, it merges them into one (up to
	// commit.manifest.target-size-bytes, 8 MiB), so a snapshot references
	// about this many manifests plus one per 8 MiB of them, however many
	// commits came before. Smaller: fewer manifests for readers to open,
	// more frequent merges in the commit path.
	DefaultManifestMergeCount = 32
)

// TableNotCreatableError reports a table that does not exist and that floe
// has no schema to create. It matches icecat.ErrNoSuchTable.
type TableNotCreatableError struct{ Table string }

func (e *TableNotCreatableError) Error() string {
	return fmt.Sprintf("table %s does not exist and tables[].schema is not set, so floe cannot create it", e.Table)
}

func (e *TableNotCreatableError) Unwrap() error { return icecat.ErrNoSuchTable }

// Extra is the columns a table floe creates gets after its schema's
// (floe's own: the metadata columns), asked for only when it creates one.
type Extra func() ([]arrow.Field, error)

// Fields is Extra for a fixed list of fields.
func Fields(fs ...arrow.Field) Extra { return func() ([]arrow.Field, error) { return fs, nil } }

// LoadOrCreateTable loads table tc.Name, creating it (and its namespace) if
// it is missing and tc.Schema is set. extra's columns (the metadata columns
// the decoder fills) are appended to tc.Schema on create; an existing
// table is returned as it is, whatever its schema and properties.
//
// A created table is format v2 (iceberg-go cannot append written files to
// v3 tables), has commit.retry.num-retries=0 (floe retries commits itself
// and iceberg-go's replay must not rebase a commit behind its back) and
// compresses Parquet with zstd, keeps DefaultMetadataVersions previous
// metadata files, deleting older ones on commit, and merges manifests on
// append (DefaultManifestMergeCount), unless tc.Properties says
// otherwise. When another replica creates the table first, its table is
// loaded and created is false.
func LoadOrCreateTable(ctx context.Context, cat icecat.Catalog, tc TableConfig, extra Extra) (tbl *table.Table, created bool, err error) {
	ident, err := ParseIdentifier(tc.Name)
	if err != nil {
		return nil, false, fmt.Errorf("load table: %w", err)
	}
	tbl, err = cat.LoadTable(ctx, ident)
	switch {
	case err == nil:
		return tbl, false, nil
	case !errors.Is(err, icecat.ErrNoSuchTable) && !errors.Is(err, icecat.ErrNoSuchNamespace):
		return nil, false, fmt.Errorf("load table %s: %w", tc.Name, err)
	case len(tc.Schema) == 0:
		return nil, false, &TableNotCreatableError{Table: tc.Name}
	}

	var extraCols []Column
	if extra != nil {
		fields, err := extra()
		if err != nil {
			return nil, false, fmt.Errorf("create table %s: %w", tc.Name, err)
		}
		if extraCols, err = columnsOf(fields); err != nil {
			return nil, false, fmt.Errorf("create table %s: %w", tc.Name, err)
		}
	}
	sc, err := BuildSchema(append(slices.Clone(tc.Schema), extraCols...))
	if err != nil {
		return nil, false, fmt.Errorf("create table %s: schema: %w", tc.Name, err)
	}
	spec, err := BuildPartitionSpec(sc, tc.PartitionBy)
	if err != nil {
		return nil, false, fmt.Errorf("create table %s: %w", tc.Name, err)
	}
	props, err := CreateTableProperties(tc)
	if err != nil {
		return nil, false, fmt.Errorf("create table %s: %w", tc.Name, err)
	}
	if err := catalog.EnsureNamespace(ctx, cat, ident[:len(ident)-1]); err != nil {
		return nil, false, fmt.Errorf("create table %s: %w", tc.Name, err)
	}
	tbl, err = cat.CreateTable(ctx, ident, sc, icecat.WithPartitionSpec(&spec), icecat.WithProperties(props))
	if errors.Is(err, icecat.ErrTableAlreadyExists) {
		// Another replica won the race: use its table.
		if tbl, err = cat.LoadTable(ctx, ident); err != nil {
			return nil, false, fmt.Errorf("load table %s: %w", tc.Name, err)
		}
		return tbl, false, nil
	}
	if err != nil {
		// The catalog writes the first metadata file (SQL: floe's file IO):
		// a refused or missing bucket shows here first.
		return nil, false, fmt.Errorf("create table %s: %w", tc.Name, catalog.StorageHint(err))
	}
	return tbl, true, nil
}

// CreateTableProperties returns the properties of a table floe creates for
// tc, or an error naming a property in tc.Properties that floe cannot honour.
func CreateTableProperties(tc TableConfig) (iceberg.Properties, error) {
	fixed := map[string]string{
		table.PropertyFormatVersion: "2",
		table.CommitNumRetriesKey:   "0",
	}
	props := iceberg.Properties{
		propCompression: "zstd",
		// Old metadata files are deleted by the commit that retires them.
		table.MetadataDeleteAfterCommitEnabledKey: "true",
		table.MetadataPreviousVersionsMaxKey:      strconv.Itoa(DefaultMetadataVersions),
		// A snapshot references a bounded number of manifests.
		table.ManifestMergeEnabledKey:  "true",
		table.ManifestMinMergeCountKey: strconv.Itoa(DefaultManifestMergeCount),
	}
	if v, ok := tc.Properties[table.MetadataPreviousVersionsMaxKey]; ok {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return nil, fmt.Errorf("properties.%s: must be a whole number of at least 1, got %q", table.MetadataPreviousVersionsMaxKey, v)
		}
	}
	for k, v := range tc.Properties {
		if want, ok := fixed[k]; ok && v != want {
			return nil, fmt.Errorf("properties.%s: floe needs %s, got %q", k, want, v)
		}
		props[k] = v
	}
	maps.Copy(props, fixed)
	if tc.Owner != "" {
		if v, ok := tc.Properties[PropOwner]; ok && v != tc.Owner {
			return nil, fmt.Errorf("properties.%s: conflicts with owner %q", PropOwner, tc.Owner)
		}
		props[PropOwner] = tc.Owner
	}
	return props, nil
}
