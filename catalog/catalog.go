// Package catalog opens what floe commits through: the Iceberg catalog
// (REST, through an HTTP transport that caps connections and requests in
// flight, retries reads, refreshes OAuth2 tokens and measures every
// operation; AWS Glue through the same transport; Hive Metastore through a
// Thrift connection pool under the same limits and metrics; or SQL) and the object store the data files go to (floe's own
// S3 client, with the same limits and metrics). It also says why an
// operation failed (Reason), as a type, for metrics and logs, and holds
// floe's one backoff.
package catalog

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/floe-dev/floe/internal/tlsfiles"

	// Registers the s3:// (and s3a://) file IO; file:// is built into io;
	// gs:// and Azure's are floe's own (objectstore.go).
	_ "github.com/apache/iceberg-go/io/gocloud/s3"
)

// sqliteBusyTimeoutMillis is how long a SQLite catalog connection waits for
// another process's lock before failing with "database is locked".
const sqliteBusyTimeoutMillis = "5000"

// Open connects to the catalog cfg describes. cfg should have passed
// Validate.
//
// The result always implements catalog.Closer; the caller must Close it when
// done. For a SQL catalog that closes the *sql.DB Open opened; for a
// REST catalog it drops idle connections of transports iceberg-go created
// (never those of httpClient).
//
// httpClient, if not nil, supplies the REST catalog's transport (so limits and
// metrics can wrap it); only its Transport is used, not its Timeout: iceberg-go
// builds its own http.Client, so bound calls with their context. When the
// config has TLS settings the transport must be nil or an *http.Transport,
// which is cloned with the TLS settings applied. Open ignores
// httpClient for SQL catalogs. A Glue catalog sends its AWS requests through
// httpClient's transport; a Hive catalog needs a *CatalogTransport there (or
// none), whose in-flight cap and metrics its Thrift calls share.
//
// A REST catalog is contacted at once (GET /v1/config), so is a Hive
// Metastore (get_all_databases); a SQL catalog creates its tables if
// missing; a Glue catalog is first contacted by the first table operation.
func Open(ctx context.Context, cfg Config, httpClient *http.Client) (catalog.Catalog, error) {
	name := cfg.Name
	if name == "" {
		name = DefaultConfig().Name
	}
	switch cfg.Type {
	case "sql":
		cat, err := openSQLCatalog(name, cfg)
		if err != nil {
			return nil, fmt.Errorf("open sql catalog %s: %w", name, err)
		}
		return cat, nil
	case "rest":
		cat, err := openRESTCatalog(ctx, name, cfg, httpClient)
		if err != nil {
			return nil, fmt.Errorf("open rest catalog %s at %s: %w", name, cfg.URI, err)
		}
		return cat, nil
	case "glue":
		cat, err := openGlueCatalog(ctx, cfg, catalogTransport(cfg, httpClient))
		if err != nil {
			return nil, fmt.Errorf("open glue catalog %s: %w", name, err)
		}
		return cat, nil
	case "hive":
		t, ok := catalogTransport(cfg, httpClient).(*CatalogTransport)
		if !ok {
			return nil, fmt.Errorf("open hive catalog %s: the catalog client must be a *catalog.CatalogTransport, got %T", name, httpClient.Transport)
		}
		cat, err := openHiveCatalog(ctx, cfg, t)
		if err != nil {
			return nil, fmt.Errorf("open hive catalog %s at %s: %w", name, cfg.Hive.URI, err)
		}
		return cat, nil
	}
	return nil, fmt.Errorf("open catalog: catalog.type: must be rest, sql, glue or hive, got %q", cfg.Type)
}

// catalogTransport is httpClient's transport, or floe's limits without
// metrics when there is none (the daemon passes a client whose transport
// registers them).
func catalogTransport(cfg Config, httpClient *http.Client) http.RoundTripper {
	if httpClient == nil || httpClient.Transport == nil {
		return NewCatalogTransport(cfg.HTTP, nil)
	}
	return httpClient.Transport
}

// sqlCatalog is iceberg-go's SQL catalog with the database handle floe
// opened for it: iceberg-go leaves a caller-supplied *sql.DB open on Close.
type sqlCatalog struct {
	*sqlcat.Catalog
	db *sql.DB
}

// Close releases the catalog and closes its database handle.
func (c *sqlCatalog) Close() error {
	return errors.Join(c.Catalog.Close(), c.db.Close())
}

func openSQLCatalog(name string, cfg Config) (catalog.Catalog, error) {
	var (
		driver, dsn string
		dialect     sqlcat.SupportedDialect
	)
	switch cfg.SQL.Driver {
	case "sqlite":
		var err error
		if dsn, err = sqliteDSN(cfg.SQL.DSN); err != nil {
			return nil, fmt.Errorf("catalog.sql.dsn: %w", err)
		}
		driver, dialect = sqliteshim.ShimName, sqlcat.SQLite
	case "postgres":
		if cfg.SQL.DSN == "" {
			return nil, errors.New("catalog.sql.dsn: required for a sql catalog")
		}
		driver, dsn, dialect = "pgx", cfg.SQL.DSN, sqlcat.Postgres
	default:
		return nil, fmt.Errorf("catalog.sql.driver: must be sqlite or postgres, got %q", cfg.SQL.Driver)
	}
	if cfg.Warehouse == "" {
		return nil, errors.New("catalog.warehouse: required for a sql catalog")
	}

	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	props := iceberg.Properties{
		"warehouse": cfg.Warehouse,
		// Every replica may be the first to start: create the catalog's
		// tables if missing (CREATE TABLE IF NOT EXISTS).
		"init_catalog_tables": "true",
	}
	maps.Copy(props, storeProperties(cfg))
	maps.Copy(props, cfg.Properties)
	cat, err := sqlcat.NewCatalog(name, db, dialect, props)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return &sqlCatalog{Catalog: cat, db: db}, nil
}

// sqliteDSN makes a SQLite DSN safe for several floe processes sharing one
// file: WAL so readers don't block the writer, a busy timeout so a locked
// database is waited for, and BEGIN IMMEDIATE for write transactions so two
// read-then-write transactions cannot deadlock on the lock upgrade (SQLite
// fails that at once, busy timeout or not). Settings already in the DSN win.
// The keys are understood by both drivers sqliteshim may pick
// (modernc.org/sqlite and mattn/go-sqlite3).
//
// A plain path ("/var/lib/floe/catalog.db", or relative to the working
// directory) becomes a file: URI.
func sqliteDSN(dsn string) (string, error) {
	if dsn == "" {
		return "", errors.New("required for a sql catalog")
	}
	if dsn == ":memory:" || strings.Contains(dsn, "mode=memory") || strings.HasPrefix(dsn, "file::memory:") {
		return "", errors.New("an in-memory SQLite catalog is not shared between connections and is lost on exit; use a file")
	}
	base, rawQuery, _ := strings.Cut(dsn, "?")
	if !strings.HasPrefix(base, "file:") {
		abs, err := filepath.Abs(base)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(filepath.Dir(abs)); err != nil {
			return "", fmt.Errorf("directory of %s: %w", abs, err)
		}
		base = (&url.URL{Scheme: "file", Path: abs}).String()
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("parse query of %q: %w", dsn, err)
	}
	setDefault := func(key, value string, aliases ...string) {
		for _, k := range append(aliases, key) {
			if q.Has(k) {
				return
			}
		}
		q.Set(key, value)
	}
	setDefault("_busy_timeout", sqliteBusyTimeoutMillis, "_timeout")
	setDefault("_journal_mode", "WAL", "_journal")
	setDefault("_txlock", "immediate")
	return base + "?" + q.Encode(), nil
}

func openRESTCatalog(ctx context.Context, name string, cfg Config, httpClient *http.Client) (catalog.Catalog, error) {
	if cfg.URI == "" {
		return nil, errors.New("catalog.uri: required for a rest catalog")
	}
	var opts []rest.Option
	if cfg.Warehouse != "" {
		opts = append(opts, rest.WithWarehouseLocation(cfg.Warehouse))
	}
	r := cfg.REST
	if r.Token != "" {
		opts = append(opts, rest.WithOAuthToken(r.Token))
	}
	if r.OAuth2URI != "" {
		u, err := url.Parse(r.OAuth2URI)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("catalog.rest.oauth2-uri: must be an absolute http(s) URL, got %q", r.OAuth2URI)
		}
	}
	if len(r.Headers) > 0 {
		opts = append(opts, rest.WithHeaders(maps.Clone(r.Headers)))
	}

	tlsCfg, err := restTLSConfig(r.TLS)
	if err != nil {
		return nil, err
	}
	rt, err := transportWithTLS(catalogTransport(cfg, httpClient), tlsCfg)
	if err != nil {
		return nil, err
	}
	if r.Credential != "" {
		// floe's own OAuth2 client: it fetches a new token when the catalog
		// rejects the one it has (see tokenAuth).
		auth, err := newTokenAuth(cfg.URI, r, rt)
		if err != nil {
			return nil, err
		}
		opts = append(opts, rest.WithAuthManager(auth))
		rt = &reauthTransport{next: rt, auth: auth}
	}
	probe := &nessieProbe{next: rt}
	opts = append(opts, rest.WithCustomTransport(probe))

	props := storeProperties(cfg)
	maps.Copy(props, cfg.Properties)
	if len(props) > 0 {
		opts = append(opts, rest.WithAdditionalProps(props))
	}
	cat, err := rest.NewCatalog(ctx, name, cfg.URI, opts...)
	if err != nil {
		return nil, err
	}
	if probe.nessie.Load() {
		return &nessieCatalog{Catalog: cat}, nil
	}
	return cat, nil
}

// restTLSConfig builds the REST client's TLS settings; nil when none are set.
func restTLSConfig(c TLSConfig) (*tls.Config, error) {
	switch {
	case c == (TLSConfig{}):
		return nil, nil
	case c.CertFile != "" && c.KeyFile == "":
		return nil, errors.New("catalog.rest.tls.key-file: required with cert-file")
	case c.KeyFile != "" && c.CertFile == "":
		return nil, errors.New("catalog.rest.tls.cert-file: required with key-file")
	}
	return tlsfiles.Client("catalog.rest.tls", tlsfiles.Files{CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile,
		InsecureSkipVerify: c.InsecureSkipVerify})
}

// transportWithTLS applies tlsCfg to a caller's transport. iceberg-go refuses
// a TLS config next to a custom transport, so TLS has to go into the
// transport itself, which is only possible for an *http.Transport.
func transportWithTLS(rt http.RoundTripper, tlsCfg *tls.Config) (http.RoundTripper, error) {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if tlsCfg == nil {
		return rt, nil
	}
	switch t := rt.(type) {
	case *CatalogTransport:
		return t.WithTLS(tlsCfg), nil
	case *http.Transport:
		t = t.Clone()
		t.TLSClientConfig = tlsCfg
		return t, nil
	}
	return nil, fmt.Errorf("catalog.rest.tls: cannot apply TLS settings to a %T transport; "+
		"set them on the underlying *http.Transport", rt)
}

// storeProperties maps floe's object-store settings to file IO properties.
func storeProperties(cfg Config) iceberg.Properties {
	props := s3Properties(cfg.S3)
	maps.Copy(props, gcsProperties(cfg.GCS))
	maps.Copy(props, azureProperties(cfg.Azure))
	return props
}

// s3Properties maps floe's S3 settings to iceberg-go file IO properties.
func s3Properties(c S3Config) iceberg.Properties {
	props := iceberg.Properties{}
	set := func(key, v string) {
		if v != "" {
			props[key] = v
		}
	}
	set(icebergio.S3EndpointURL, c.Endpoint)
	set(icebergio.S3Region, c.Region)
	set(icebergio.S3AccessKeyID, c.AccessKeyID)
	set(icebergio.S3SecretAccessKey, c.SecretAccessKey)
	set(icebergio.S3SessionToken, c.SessionToken)
	if c.PathStyle {
		// iceberg-go already uses path style whenever s3.endpoint is set;
		// this also forces it for AWS endpoints.
		props[icebergio.S3ForceVirtualAddressing] = "false"
	}
	return props
}

// EnsureNamespace creates namespace ns and every parent level that is
// missing. A replica creating the same namespace at the same moment is not an
// error.
func EnsureNamespace(ctx context.Context, cat catalog.Catalog, ns []string) error {
	if len(ns) == 0 {
		return errors.New("ensure namespace: empty namespace")
	}
	for i := 1; i <= len(ns); i++ {
		level := table.Identifier(slices.Clone(ns[:i]))
		exists, err := cat.CheckNamespaceExists(ctx, level)
		if err != nil {
			return fmt.Errorf("check namespace %s: %w", strings.Join(level, "."), err)
		}
		if exists {
			continue
		}
		err = cat.CreateNamespace(ctx, level, nil)
		if err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
			// A replica creating it at the same moment may make the
			// catalog fail otherwise: the reference REST server answers
			// 500 (a unique-key violation in its SQL store), not 409.
			// What counts is that the namespace exists now.
			if exists, cerr := cat.CheckNamespaceExists(ctx, level); cerr == nil && exists {
				continue
			}
			return fmt.Errorf("create namespace %s: %w", strings.Join(level, "."), err)
		}
	}
	return nil
}
