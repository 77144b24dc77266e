package catalog

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Config says how to reach the Iceberg catalog and the object store.
type Config struct {
	// Type is "rest" or "sql".
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
	S3        S3Config    `koanf:"s3"`
	GCS       GCSConfig   `koanf:"gcs"`
	Azure     AzureConfig `koanf:"azure"`
	// HTTP bounds the REST catalog client (connections, requests in
	// flight, timeouts, read retries).
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
	default:
		return fmt.Errorf("catalog.type: must be rest or sql, got %q", cat.Type)
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
