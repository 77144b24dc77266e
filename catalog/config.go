package catalog

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config says how to reach the Iceberg catalog and the object store.
type Config struct {
	// Type is "rest", "sql", "glue" or "hive".
	Type string `koanf:"type"`
	// Name is the catalog's name as iceberg-go knows it (logs only).
	Name string `koanf:"name"`
	// URI is the REST endpoint (http[s]://…) for type rest.
	URI string `koanf:"uri"`
	// Warehouse is the warehouse location (file:///…, s3://bucket/prefix) or,
	// for REST catalogs that use warehouse names, that name.
	Warehouse string      `koanf:"warehouse"`
	REST      RESTConfig  `koanf:"rest"`
	SQL       SQLConfig   `koanf:"sql"`
	Glue      GlueConfig  `koanf:"glue"`
	Hive      HiveConfig  `koanf:"hive"`
	S3        S3Config    `koanf:"s3"`
	GCS       GCSConfig   `koanf:"gcs"`
	Azure     AzureConfig `koanf:"azure"`
	// HTTP bounds the catalog client (connections, requests in flight,
	// timeouts, read retries): the REST catalog's and Glue's HTTP client,
	// and the Hive Metastore's Thrift connections (see HiveConfig).
	HTTP HTTPConfig `koanf:"http"`
	// Properties are passed to iceberg-go as they are, after floe's own; for
	// settings floe has no key for.
	Properties map[string]string `koanf:"properties"`
}

// RESTConfig holds the REST catalog's authentication and transport settings.
type RESTConfig struct {
	// Token is a static bearer token.
	Token string `koanf:"token"`
	// Credential is an OAuth2 client credential "client_id:client_secret".
	Credential string `koanf:"credential"`
	// OAuth2URI is the token endpoint; empty means the catalog's default.
	OAuth2URI string `koanf:"oauth2-uri"`
	Scope     string `koanf:"scope"`
	// Headers are sent with every catalog request.
	Headers map[string]string `koanf:"headers"`
	TLS     TLSConfig         `koanf:"tls"`
}

// TLSConfig configures TLS for the REST catalog.
type TLSConfig struct {
	CAFile             string `koanf:"ca-file"`
	CertFile           string `koanf:"cert-file"`
	KeyFile            string `koanf:"key-file"`
	InsecureSkipVerify bool   `koanf:"insecure-skip-verify"`
}

// SQLConfig configures the SQL catalog.
type SQLConfig struct {
	// Driver is "sqlite" or "postgres".
	Driver string `koanf:"driver"`
	// DSN is a SQLite file path ("file:/var/lib/floe/catalog.db") or a
	// PostgreSQL URL ("postgres://user:pass@host/db").
	DSN string `koanf:"dsn"`
}

// GlueConfig configures the AWS Glue catalog. What it leaves out comes from
// the AWS SDK's default chain (AWS_* environment, shared config and
// credentials files with AWS_PROFILE, web identity, container and instance
// roles).
type GlueConfig struct {
	// Region is the Glue catalog's AWS region (else AWS_REGION or the
	// profile's).
	Region string `koanf:"region"`
	// Endpoint overrides the Glue endpoint (a VPC endpoint, a test server).
	Endpoint string `koanf:"endpoint"`
	// CatalogID is the AWS account ID that owns the Glue catalog; empty
	// means the caller's account.
	CatalogID string `koanf:"catalog-id"`
	// Static credentials; both keys or neither.
	AccessKeyID     string `koanf:"access-key-id"`
	SecretAccessKey string `koanf:"secret-access-key"`
	SessionToken    string `koanf:"session-token"`
}

// HiveConfig configures the Hive Metastore catalog. The connection limits
// and timeouts are catalog.http's: max-conns-per-host Thrift connections at
// most, max-in-flight calls at once (each call holds one connection),
// request-timeout per call, read-retries for reads that failed on the
// connection.
type HiveConfig struct {
	// URI is the metastore's Thrift endpoint, thrift://host:port.
	URI string `koanf:"uri"`
	// A commit takes the metastore's lock on the table; it checks for a
	// lock held by another writer lock-check-retries times, waiting from
	// lock-check-min-wait to lock-check-max-wait in between. Zero: the
	// defaults (50ms, 5s, 4).
	LockCheckMinWait time.Duration `koanf:"lock-check-min-wait"`
	LockCheckMaxWait time.Duration `koanf:"lock-check-max-wait"`
	LockCheckRetries int           `koanf:"lock-check-retries"`
}

// S3Config configures the s3:// object store.
type S3Config struct {
	Endpoint        string `koanf:"endpoint"`
	Region          string `koanf:"region"`
	AccessKeyID     string `koanf:"access-key-id"`
	SecretAccessKey string `koanf:"secret-access-key"`
	SessionToken    string `koanf:"session-token"`
	// PathStyle forces path-style addressing (set for most non-AWS stores).
	PathStyle bool `koanf:"path-style"`
	// HTTP bounds floe's S3 client (connections, requests in flight,
	// timeouts, retries); see ObjectStore.
	HTTP ObjectStoreHTTPConfig `koanf:"http"`
}

// DefaultConfig returns the catalog defaults.
func DefaultConfig() Config {
	return Config{
		Type: "sql", Name: "floe", HTTP: DefaultHTTPConfig(),
		S3:    S3Config{HTTP: DefaultObjectStoreHTTPConfig()},
		GCS:   GCSConfig{HTTP: DefaultObjectStoreHTTPConfig()},
		Azure: AzureConfig{HTTP: DefaultObjectStoreHTTPConfig()},
	}
}

// Validate reports the first invalid field, named by its config key.
func (cat Config) Validate() error {
	switch cat.Type {
	case "rest":
		if cat.URI == "" {
			return errors.New("catalog.uri: required for a rest catalog")
		}
		if !strings.HasPrefix(cat.URI, "http://") && !strings.HasPrefix(cat.URI, "https://") {
			return fmt.Errorf("catalog.uri: must start with http:// or https://, got %q", cat.URI)
		}
		if cat.REST.Token != "" && cat.REST.Credential != "" {
			return errors.New("catalog.rest: set token or credential, not both")
		}
		if cat.REST.Credential != "" && !strings.Contains(cat.REST.Credential, ":") {
			return errors.New("catalog.rest.credential: must be \"client_id:client_secret\"")
		}
		if err := cat.HTTP.Validate(); err != nil {
			return fmt.Errorf("catalog.http.%w", err)
		}
	case "sql":
		switch cat.SQL.Driver {
		case "sqlite", "postgres":
		default:
			return fmt.Errorf("catalog.sql.driver: must be sqlite or postgres, got %q", cat.SQL.Driver)
		}
		if cat.SQL.DSN == "" {
			return errors.New("catalog.sql.dsn: required for a sql catalog")
		}
		if cat.Warehouse == "" {
			return errors.New("catalog.warehouse: required for a sql catalog")
		}
	case "glue":
		if err := cat.Glue.validate(cat.S3); err != nil {
			return err
		}
		if err := cat.HTTP.Validate(); err != nil {
			return fmt.Errorf("catalog.http.%w", err)
		}
		if cat.Warehouse == "" {
			return errors.New("catalog.warehouse: required for a glue catalog (s3://bucket/prefix)")
		}
	case "hive":
		if err := cat.Hive.validate(); err != nil {
			return err
		}
		if err := cat.HTTP.Validate(); err != nil {
			return fmt.Errorf("catalog.http.%w", err)
		}
		if cat.Warehouse == "" {
			return errors.New("catalog.warehouse: required for a hive catalog")
		}
	default:
		return fmt.Errorf("catalog.type: must be rest, sql, glue or hive, got %q", cat.Type)
	}
	if err := cat.S3.HTTP.Validate(); err != nil {
		return fmt.Errorf("catalog.s3.http.%w", err)
	}
	if err := cat.GCS.Validate(); err != nil {
		return err
	}
	if err := cat.Azure.Validate(); err != nil {
		return err
	}
	if w := cat.Warehouse; w != "" && strings.Contains(w, "://") {
		scheme, _, _ := strings.Cut(w, "://")
		if !slices.Contains(warehouseSchemes, scheme) {
			return fmt.Errorf("catalog.warehouse: scheme must be one of %s://, got %q",
				strings.Join(warehouseSchemes, "://, "), w)
		}
	}
	return nil
}

func (g GlueConfig) validate(s3 S3Config) error {
	if g.Endpoint != "" {
		if err := absoluteHTTPURL(g.Endpoint); err != nil {
			return fmt.Errorf("catalog.glue.endpoint: %w", err)
		}
		// iceberg-go reads a table's metadata file with the Glue client's
		// AWS settings, its endpoint included, unless s3.endpoint says
		// otherwise: without it those reads would go to the Glue endpoint.
		if s3.Endpoint == "" {
			return errors.New("catalog.s3.endpoint: required with catalog.glue.endpoint " +
				"(for AWS S3: https://s3.<region>.amazonaws.com)")
		}
	}
	if (g.AccessKeyID == "") != (g.SecretAccessKey == "") {
		return errors.New("catalog.glue.access-key-id, catalog.glue.secret-access-key: set both or neither")
	}
	if g.SessionToken != "" && g.AccessKeyID == "" {
		return errors.New("catalog.glue.session-token: needs access-key-id and secret-access-key")
	}
	if g.CatalogID != "" && strings.Trim(g.CatalogID, "0123456789") != "" {
		return fmt.Errorf("catalog.glue.catalog-id: must be an AWS account ID (digits), got %q", g.CatalogID)
	}
	return nil
}

func (h HiveConfig) validate() error {
	if h.URI == "" {
		return errors.New("catalog.hive.uri: required for a hive catalog (thrift://host:9083)")
	}
	if _, _, err := hiveAddr(h.URI); err != nil {
		return fmt.Errorf("catalog.hive.uri: %w", err)
	}
	switch {
	case h.LockCheckMinWait < 0:
		return fmt.Errorf("catalog.hive.lock-check-min-wait: must be >= 0 (0: the default), got %s", h.LockCheckMinWait)
	case h.LockCheckMaxWait < 0:
		return fmt.Errorf("catalog.hive.lock-check-max-wait: must be >= 0 (0: the default), got %s", h.LockCheckMaxWait)
	case h.LockCheckMinWait > 0 && h.LockCheckMaxWait > 0 && h.LockCheckMinWait >= h.LockCheckMaxWait:
		return fmt.Errorf("catalog.hive.lock-check-min-wait: must be below lock-check-max-wait (%s), got %s", h.LockCheckMaxWait, h.LockCheckMinWait)
	case h.LockCheckRetries < 0:
		return fmt.Errorf("catalog.hive.lock-check-retries: must be >= 0 (0: the default), got %d", h.LockCheckRetries)
	}
	return nil
}

// absoluteHTTPURL checks that s is an http(s) URL with a host.
func absoluteHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an absolute http(s) URL, got %q", s)
	}
	return nil
}

// warehouseSchemes are the schemes of the object stores floe writes to.
var warehouseSchemes = []string{"file", "s3", "s3a", "gs", "abfs", "abfss", "wasb", "wasbs"}

// Local is a SQL catalog on a SQLite file with a file:// warehouse, both
// under dir: `floe demo`'s catalog, and the tests'.
func Local(name, dir string) Config {
	cfg := DefaultConfig()
	cfg.Type, cfg.Name = "sql", name
	cfg.SQL = SQLConfig{Driver: "sqlite", DSN: filepath.Join(dir, "catalog.db")}
	cfg.Warehouse = "file://" + filepath.Join(dir, "warehouse")
	return cfg
}
