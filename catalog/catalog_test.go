package catalog

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
)

// sqliteCatalogConfig returns a SQL catalog config on a fresh SQLite file
// with a file:// warehouse, both under a temporary directory.
func sqliteCatalogConfig(t testing.TB) Config {
	t.Helper()
	cfg := Local("floe", t.TempDir())
	require.NoError(t, cfg.Validate())
	return cfg
}

// openTestCatalog opens cfg and closes the catalog when the test ends.
func openTestCatalog(t testing.TB, cfg Config) catalog.Catalog {
	t.Helper()
	return openTestCatalogWith(t, cfg, nil)
}

// openTestCatalogWith is openTestCatalog with a catalog HTTP client.
func openTestCatalogWith(t testing.TB, cfg Config, httpClient *http.Client) catalog.Catalog {
	t.Helper()
	cat, err := Open(context.Background(), cfg, httpClient)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cat.(catalog.Closer).Close()) })
	return cat
}

func TestOpenCatalogSQLiteEnsureNamespace(t *testing.T) {
	ctx := context.Background()
	cfg := sqliteCatalogConfig(t)
	cat := openTestCatalog(t, cfg)
	_, err := os.Stat(cfg.SQL.DSN + "-wal")
	require.NoError(t, err, "the SQLite catalog must run in WAL mode")

	for range 2 {
		require.NoError(t, EnsureNamespace(ctx, cat, []string{"db", "events"}))
	}
	for _, ns := range [][]string{{"db"}, {"db", "events"}} {
		ok, err := cat.CheckNamespaceExists(ctx, ns)
		require.NoError(t, err)
		require.True(t, ok, ns)
	}
	require.ErrorContains(t, EnsureNamespace(ctx, cat, nil), "empty namespace")
}

func TestOpenCatalogErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"bad type", Config{Type: "nessie"}, `catalog.type: must be rest, sql, glue or hive, got "nessie"`},
		{"hive bad uri", Config{Type: "hive", Warehouse: "file:///w", Hive: HiveConfig{URI: "hms:9083"}},
			`open hive catalog floe at hms:9083: catalog.hive.uri: must be thrift://host[:port], got "hms:9083"`},
		{"bad driver", Config{Type: "sql", Warehouse: "file:///w", SQL: SQLConfig{Driver: "mysql", DSN: "x"}},
			`open sql catalog floe: catalog.sql.driver: must be sqlite or postgres, got "mysql"`},
		{"no dsn", Config{Type: "sql", Warehouse: "file:///w", SQL: SQLConfig{Driver: "sqlite"}},
			`catalog.sql.dsn: required`},
		{"memory", Config{Type: "sql", Warehouse: "file:///w", SQL: SQLConfig{Driver: "sqlite", DSN: ":memory:"}},
			`catalog.sql.dsn: an in-memory SQLite catalog`},
		{"missing dir", Config{Type: "sql", Warehouse: "file:///w", SQL: SQLConfig{Driver: "sqlite", DSN: filepath.Join(dir, "nope", "c.db")}},
			`catalog.sql.dsn: directory of`},
		{"no warehouse", Config{Type: "sql", SQL: SQLConfig{Driver: "sqlite", DSN: filepath.Join(dir, "c.db")}},
			`catalog.warehouse: required`},
		{"postgres unreachable", Config{Type: "sql", Warehouse: "file:///w", SQL: SQLConfig{Driver: "postgres", DSN: "postgres://u:p@127.0.0.1:1/db?connect_timeout=2"}},
			`open sql catalog floe:`},
		{"rest no uri", Config{Type: "rest"}, `catalog.uri: required`},
		{"rest bad oauth uri", Config{Type: "rest", URI: "http://127.0.0.1:1", REST: RESTConfig{Credential: "a:b", OAuth2URI: "/token"}},
			`catalog.rest.oauth2-uri: must be an absolute http(s) URL`},
		{"rest missing ca", Config{Type: "rest", URI: "https://127.0.0.1:1", REST: RESTConfig{TLS: TLSConfig{CAFile: filepath.Join(dir, "ca.pem")}}},
			`catalog.rest.tls.ca-file: open`},
		{"rest cert without key", Config{Type: "rest", URI: "https://127.0.0.1:1", REST: RESTConfig{TLS: TLSConfig{CertFile: "c.pem"}}},
			`catalog.rest.tls.key-file: required with cert-file`},
		{"rest unreachable", Config{Type: "rest", URI: "http://127.0.0.1:1"}, `open rest catalog floe at http://127.0.0.1:1:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat, err := Open(context.Background(), tt.cfg, nil)
			require.ErrorContains(t, err, tt.wantErr)
			require.Nil(t, cat)
		})
	}
}

func TestSQLiteDSN(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		dsn, want string
	}{
		{filepath.Join(dir, "c.db"), "file://" + dir + "/c.db?_busy_timeout=5000&_journal_mode=WAL&_txlock=immediate"},
		{"file:" + dir + "/c.db", "file:" + dir + "/c.db?_busy_timeout=5000&_journal_mode=WAL&_txlock=immediate"},
		{"file:" + dir + "/c.db?_timeout=100&_journal=DELETE&_txlock=deferred&cache=shared",
			"file:" + dir + "/c.db?_journal=DELETE&_timeout=100&_txlock=deferred&cache=shared"},
	}
	for _, tt := range tests {
		got, err := sqliteDSN(tt.dsn)
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
	}

	// A relative path is made absolute against the working directory.
	t.Chdir(dir)
	got, err := sqliteDSN("rel.db")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(got, "file://"+dir+"/rel.db?"), got)
}

// restServer is an httptest REST catalog that only answers GET /v1/config
// and the OAuth2 token endpoint, recording what clients sent.
type restServer struct {
	*httptest.Server
	mu          sync.Mutex
	configReqs  []*http.Request
	tokenForms  []map[string]string
	accessToken string
}

func newRESTServer(t testing.TB, tlsServer bool) *restServer {
	t.Helper()
	s := &restServer{accessToken: "minted-token"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/config", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.configReqs = append(s.configReqs, r.Clone(context.Background()))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"defaults":{},"overrides":{}}`))
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form := map[string]string{}
		for k := range r.PostForm {
			form[k] = r.PostForm.Get(k)
		}
		s.mu.Lock()
		s.tokenForms = append(s.tokenForms, form)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": s.accessToken, "token_type": "bearer", "expires_in": 3600,
			"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		})
	})
	if tlsServer {
		s.Server = httptest.NewTLSServer(mux)
	} else {
		s.Server = httptest.NewServer(mux)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *restServer) lastConfigRequest(t testing.TB) *http.Request {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.configReqs)
	return s.configReqs[len(s.configReqs)-1]
}

// countingTransport counts the requests it forwards.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func TestOpenCatalogRESTTokenAndHeaders(t *testing.T) {
	srv := newRESTServer(t, false)
	cfg := Config{
		Type: "rest", Name: "lake", URI: srv.URL, Warehouse: "s3://bucket/wh",
		REST: RESTConfig{Token: "static-token", Headers: map[string]string{"X-Tenant": "acme"}},
		S3:   S3Config{Endpoint: "http://127.0.0.1:7070", Region: "us-east-1", AccessKeyID: "ak", SecretAccessKey: "sk", PathStyle: true},
		HTTP: DefaultHTTPConfig(),
	}
	require.NoError(t, cfg.Validate())
	rt := &countingTransport{next: http.DefaultTransport}
	cat, err := Open(context.Background(), cfg, &http.Client{Transport: rt})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cat.(catalog.Closer).Close()) })

	require.Equal(t, catalog.REST, cat.CatalogType())
	req := srv.lastConfigRequest(t)
	require.Equal(t, "Bearer static-token", req.Header.Get("Authorization"))
	require.Equal(t, "acme", req.Header.Get("X-Tenant"))
	require.Equal(t, "s3://bucket/wh", req.URL.Query().Get("warehouse"))
	require.Positive(t, rt.n.Load(), "the caller's transport must carry catalog requests")
}

func TestOpenCatalogRESTCredential(t *testing.T) {
	srv := newRESTServer(t, false)
	cfg := Config{
		Type: "rest", URI: srv.URL,
		REST: RESTConfig{Credential: "client:secret", OAuth2URI: srv.URL + "/token", Scope: "PRINCIPAL_ROLE:ALL"},
		HTTP: DefaultHTTPConfig(),
	}
	require.NoError(t, cfg.Validate())
	cat, err := Open(context.Background(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cat.(catalog.Closer).Close()) })

	require.Equal(t, "Bearer minted-token", srv.lastConfigRequest(t).Header.Get("Authorization"))
	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.NotEmpty(t, srv.tokenForms)
	form := srv.tokenForms[0]
	require.Equal(t, "client_credentials", form["grant_type"])
	require.Equal(t, "client", form["client_id"])
	require.Equal(t, "secret", form["client_secret"])
	require.Equal(t, "PRINCIPAL_ROLE:ALL", form["scope"])
}

func TestOpenCatalogRESTTLS(t *testing.T) {
	srv := newRESTServer(t, true)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	ctx := context.Background()

	cfg := Config{Type: "rest", URI: srv.URL}
	_, err := Open(ctx, cfg, nil)
	require.ErrorContains(t, err, "certificate", "an unknown CA must be rejected")

	cfg.REST.TLS.CAFile = caFile
	for _, client := range []*http.Client{nil, {}, {Transport: &http.Transport{}}} {
		cat, err := Open(ctx, cfg, client)
		require.NoError(t, err)
		require.NoError(t, cat.(catalog.Closer).Close())
	}

	// TLS settings cannot be put into an opaque transport.
	_, err = Open(ctx, cfg, &http.Client{Transport: &countingTransport{next: http.DefaultTransport}})
	require.ErrorContains(t, err, "catalog.rest.tls: cannot apply TLS settings to a *catalog.countingTransport transport")

	bad := filepath.Join(t.TempDir(), "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not pem"), 0o600))
	cfg.REST.TLS.CAFile = bad
	_, err = Open(ctx, cfg, nil)
	require.ErrorContains(t, err, "catalog.rest.tls.ca-file: no PEM certificate")
}

func TestS3Properties(t *testing.T) {
	require.Empty(t, s3Properties(S3Config{}))
	require.Equal(t, iceberg.Properties{
		"s3.endpoint":                 "http://127.0.0.1:7070",
		"s3.region":                   "eu-west-1",
		"s3.access-key-id":            "ak",
		"s3.secret-access-key":        "sk",
		"s3.session-token":            "st",
		"s3.force-virtual-addressing": "false",
	}, s3Properties(S3Config{
		Endpoint: "http://127.0.0.1:7070", Region: "eu-west-1", AccessKeyID: "ak",
		SecretAccessKey: "sk", SessionToken: "st", PathStyle: true,
	}))
}

// racingCatalog creates the namespace, as a replica racing this one would,
// and then fails the way the reference REST server does for the loser (a
// 500 from its SQL store), or fails without creating it.
type racingCatalog struct {
	catalog.Catalog
	create bool
}

func (c racingCatalog) CreateNamespace(ctx context.Context, ns table.Identifier, props iceberg.Properties) error {
	if c.create {
		if err := c.Catalog.CreateNamespace(ctx, ns, props); err != nil {
			return err
		}
	}
	return errors.New("UncheckedSQLException: Failed to execute: INSERT INTO iceberg_namespace_properties")
}

// Two replicas creating a table's namespace at once: the one whose create
// failed goes on when the namespace exists after all; a failure that left no
// namespace is still an error.
func TestEnsureNamespaceRace(t *testing.T) {
	ctx := context.Background()
	cat := openTestCatalog(t, sqliteCatalogConfig(t))
	require.NoError(t, EnsureNamespace(ctx, racingCatalog{Catalog: cat, create: true}, []string{"raced"}))
	err := EnsureNamespace(ctx, racingCatalog{Catalog: cat}, []string{"lost"})
	require.ErrorContains(t, err, "create namespace lost: UncheckedSQLException")
}
