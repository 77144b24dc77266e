package catalog

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	icebergio "github.com/apache/iceberg-go/io"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// The GCS and Azure openers against stand-ins that refuse every request:
// what is tested is floe's side (its transport carries the requests, the
// errors name the store and the key to check), not the store. Writes that
// land are tested on fake-gcs-server and Azurite by the e2e suite
// (e2e/stores_test.go).

// refusingStore answers every request with status, body and headers, and
// counts the requests.
func refusingStore(t testing.TB, status int, header map[string]string, body string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func gcsErrorBody(code int, reason, msg string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": code, "message": msg, "errors": []any{map[string]any{"reason": reason, "message": msg}},
	}})
	return string(b)
}

func TestGCSWriteErrorsAreNamed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		reason string
		want   error
		text   string
	}{
		{"denied", http.StatusForbidden, "forbidden", ErrStorageAccessDenied,
			"write data files: access denied by object storage: a GCS request refused by GCS (check catalog.gcs credentials and the bucket's IAM roles)"},
		{"no bucket", http.StatusNotFound, "notFound", ErrStorageBucketMissing,
			"write data files: bucket or container does not exist at GCS (create it, or fix catalog.warehouse or the table's location; catalog.gcs sets the endpoint)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := refusingStore(t, tt.status, map[string]string{"Content-Type": "application/json"}, gcsErrorBody(tt.status, tt.reason, "floe test"))
			reg := prometheus.NewRegistry()
			cfg := Config{GCS: GCSConfig{Endpoint: srv.URL, NoAuth: true}}
			store, err := NewObjectStoreFor(context.Background(), cfg, reg)
			require.NoError(t, err)
			defer store.Close()
			ctx := store.Context(context.Background())
			fs, err := icebergio.LoadFS(ctx, storeProperties(cfg), "gs://floe-bucket/warehouse")
			require.NoError(t, err)
			werr := fs.(icebergio.WriteFileIO).WriteFile("gs://floe-bucket/warehouse/data/a.parquet", []byte("x"))
			require.Error(t, werr)
			err = StorageError("write data files", werr)
			require.ErrorIs(t, err, tt.want)
			require.ErrorContains(t, err, tt.text)
			require.Positive(t, n.Load())
			require.Equal(t, uint64(n.Load()), objectStoreCount(t, reg, "put")+objectStoreCount(t, reg, "multipart")+objectStoreCount(t, reg, "head"),
				"every request went through floe's transport, measured")
		})
	}
}

func TestAzureWriteErrorsAreNamed(t *testing.T) {
	for _, tt := range []struct {
		name, code string
		status     int
		want       error
		text       string
	}{
		{"denied", "AuthorizationFailure", http.StatusForbidden, ErrStorageAccessDenied,
			"access denied by object storage: Azure PUT (AuthorizationFailure) refused by http://127.0.0.1"},
		{"no container", "ContainerNotFound", http.StatusNotFound, ErrStorageBucketMissing,
			"bucket or container does not exist at http://127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := refusingStore(t, tt.status, map[string]string{"x-ms-error-code": tt.code, "Content-Type": "application/xml"},
				`<?xml version="1.0" encoding="utf-8"?><Error><Code>`+tt.code+`</Code><Message>floe test</Message></Error>`)
			reg := prometheus.NewRegistry()
			cfg := Config{Azure: AzureConfig{AccountKey: "a2V5", Endpoint: srv.URL + "/acct"}}
			store, err := NewObjectStoreFor(context.Background(), cfg, reg)
			require.NoError(t, err)
			defer store.Close()
			loc := "abfss://floe@acct.dfs.core.windows.net/warehouse"
			fs, err := icebergio.LoadFS(store.Context(context.Background()), storeProperties(cfg), loc)
			require.NoError(t, err)
			werr := fs.(icebergio.WriteFileIO).WriteFile(loc+"/data/a.parquet", []byte("x"))
			require.Error(t, werr)
			err = StorageError("write data files", werr)
			require.ErrorIs(t, err, tt.want)
			require.ErrorContains(t, err, tt.text)
			require.ErrorContains(t, err, "catalog.azure")
			require.Equal(t, uint64(n.Load()), objectStoreCount(t, reg, "put"), "every request went through floe's transport, measured")
		})
	}
}

func TestAzureFileIOErrors(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name, loc string
		props     map[string]string
		want      string
	}{
		{"no container", "abfss://acct.dfs.core.windows.net/w", nil,
			"location abfss://acct.dfs.core.windows.net/w: want abfss://<container>@<account>.dfs.core.windows.net/<path>"},
		{"connection string of another account", "abfs://c@acct.dfs.core.windows.net/w",
			map[string]string{azureConnectionString: "AccountName=other;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/other"},
			`catalog.azure.connection-string: is for account "other", the location names account "acct"`},
		{"bad connection string", "abfs://c@acct.dfs.core.windows.net/w",
			map[string]string{azureConnectionString: "AccountName=acct"},
			"catalog.azure.connection-string: "},
		{"bad account key", "abfs://c@acct.dfs.core.windows.net/w",
			map[string]string{azureAccountKey: "not base64!"},
			"catalog.azure.account-key: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := icebergio.LoadFS(ctx, tt.props, tt.loc)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestAzureBlobServiceURL(t *testing.T) {
	for host, want := range map[string]string{
		"acct.dfs.core.windows.net":      "https://acct.blob.core.windows.net",
		"acct.blob.core.windows.net":     "https://acct.blob.core.windows.net",
		"acct.dfs.core.chinacloudapi.cn": "https://acct.blob.core.chinacloudapi.cn",
		"acct":                           "https://acct.blob.core.windows.net",
	} {
		u, err := url.Parse("abfs://c@" + host + "/p")
		require.NoError(t, err)
		loc, err := parseAzureLocation(u)
		require.NoError(t, err)
		require.Equal(t, azureLocation{container: "c", account: "acct", host: host}, loc)
		require.Equal(t, want, loc.blobServiceURL(""), host)
	}
	require.Equal(t, "http://127.0.0.1:10000/acct", azureLocation{account: "acct"}.blobServiceURL("http://127.0.0.1:10000/acct"))
}

// writeServiceAccountKey writes a service-account JSON key (a fresh RSA
// key) whose token endpoint is tokenURL.
func writeServiceAccountKey(t testing.TB, tokenURL string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	b, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "floe-test", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "floe@floe-test.iam.gserviceaccount.com", "client_id": "1", "token_uri": tokenURL,
	})
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "key.json")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

func TestGCSCredentials(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "key.txt")
	require.NoError(t, os.WriteFile(notJSON, []byte("not json"), 0o600))
	unknownType := filepath.Join(dir, "odd.json")
	require.NoError(t, os.WriteFile(unknownType, []byte(`{"type":"api_key"}`), 0o600))

	for _, tt := range []struct {
		name string
		cfg  GCSConfig
		want string
	}{
		{"missing file", GCSConfig{CredentialsFile: filepath.Join(dir, "nope.json")}, "catalog.gcs.credentials-file: open " + filepath.Join(dir, "nope.json")},
		{"not JSON", GCSConfig{CredentialsFile: notJSON}, "catalog.gcs.credentials-file " + notJSON + ": not a JSON key"},
		{"unknown type", GCSConfig{CredentialsFile: unknownType}, `key type "api_key" is not one of service_account, authorized_user`},
		{"bad inline key", GCSConfig{CredentialsJSON: `{"type":`}, "catalog.gcs.credentials-json: not a JSON key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A bad key stops the start, named by its key.
			_, err := NewObjectStoreFor(ctx, Config{GCS: tt.cfg}, nil)
			require.ErrorContains(t, err, tt.want)
		})
	}

	t.Run("no-auth", func(t *testing.T) {
		creds, err := gcsCredentials(ctx, gcsProperties(GCSConfig{NoAuth: true}))
		require.NoError(t, err)
		require.Nil(t, creds)
	})
	t.Run("vended token", func(t *testing.T) {
		creds, err := gcsCredentials(ctx, map[string]string{icebergio.GCSOAuthToken: "ya29.vended"})
		require.NoError(t, err)
		tok, err := creds.TokenSource.Token()
		require.NoError(t, err)
		require.Equal(t, "ya29.vended", tok.AccessToken)
	})
	t.Run("service account key", func(t *testing.T) {
		var asked atomic.Int64
		tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			asked.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"ya29.from-key","token_type":"Bearer","expires_in":3600}`))
		}))
		defer tokens.Close()
		key := writeServiceAccountKey(t, tokens.URL)
		_, err := NewObjectStoreFor(ctx, Config{GCS: GCSConfig{CredentialsFile: key}}, nil)
		require.NoError(t, err)
		creds, err := gcsCredentials(ctx, gcsProperties(GCSConfig{CredentialsFile: key}))
		require.NoError(t, err)
		tok, err := creds.TokenSource.Token()
		require.NoError(t, err)
		require.Equal(t, "ya29.from-key", tok.AccessToken)
		require.Equal(t, int64(1), asked.Load())

		// The store keeps the key's credentials: opening file IO again
		// (every table operation does) asks for no new token.
		store, err := NewObjectStoreFor(ctx, Config{}, nil)
		require.NoError(t, err)
		props := gcsProperties(GCSConfig{CredentialsFile: key})
		for range 3 {
			c, err := store.cachedGCSCredentials(ctx, props)
			require.NoError(t, err)
			_, err = c.TokenSource.Token()
			require.NoError(t, err)
		}
		require.Equal(t, int64(2), asked.Load(), "one token for the three opens")
	})
}

func TestGCSEndpoint(t *testing.T) {
	require.Equal(t, "http://127.0.0.1:4443/storage/v1/", gcsEndpoint("http://127.0.0.1:4443"))
	require.Equal(t, "http://127.0.0.1:4443/storage/v1/", gcsEndpoint("http://127.0.0.1:4443/"))
	require.Equal(t, "https://gcs.example.com/custom/", gcsEndpoint("https://gcs.example.com/custom/"))
	props := gcsProperties(GCSConfig{Endpoint: "http://127.0.0.1:4443", NoAuth: true})
	require.Equal(t, map[string]string{
		"gcs.endpoint": "http://127.0.0.1:4443/storage/v1/", "gcs.usejsonapi": "true", "gcs.no-auth": "true",
	}, map[string]string(props))
}

func TestStoreOperations(t *testing.T) {
	req := func(method, rawURL string) *http.Request {
		r, err := http.NewRequest(method, rawURL, nil)
		require.NoError(t, err)
		return r
	}
	const g = "https://storage.googleapis.com"
	for _, tt := range []struct {
		r    *http.Request
		want string
	}{
		{req(http.MethodGet, g+"/storage/v1/b/bkt/o/a%2Fb?alt=media"), "get"},
		{req(http.MethodGet, g+"/bkt/a/b"), "get"},
		{req(http.MethodGet, g+"/storage/v1/b/bkt/o/a%2Fb"), "head"},
		{req(http.MethodGet, g+"/storage/v1/b/bkt/o?prefix=a%2F"), "list"},
		{req(http.MethodPost, g+"/upload/storage/v1/b/bkt/o?uploadType=multipart"), "put"},
		{req(http.MethodPost, g+"/upload/storage/v1/b/bkt/o?uploadType=resumable"), "multipart"},
		{req(http.MethodPut, g+"/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id=x"), "upload_part"},
		{req(http.MethodDelete, g+"/storage/v1/b/bkt/o/a"), "delete"},
		{req(http.MethodPatch, g+"/storage/v1/b/bkt/o/a"), "other"},
	} {
		require.Equal(t, tt.want, gcsOperation(tt.r), "%s %s", tt.r.Method, tt.r.URL)
	}
	const a = "https://acct.blob.core.windows.net/c"
	for _, tt := range []struct {
		r    *http.Request
		want string
	}{
		{req(http.MethodGet, a+"/a/b"), "get"},
		{req(http.MethodHead, a+"/a/b"), "head"},
		{req(http.MethodGet, a+"?restype=container&comp=list&prefix=a"), "list"},
		{req(http.MethodPut, a+"/a/b"), "put"},
		{req(http.MethodPut, a+"/a/b?comp=block&blockid=x"), "upload_part"},
		{req(http.MethodPut, a+"/a/b?comp=blocklist"), "multipart"},
		{req(http.MethodDelete, a+"/a/b"), "delete"},
		{req(http.MethodPut, a+"?restype=container"), "other"},
		{req(http.MethodGet, a+"/a/b?comp=metadata"), "other"},
	} {
		require.Equal(t, tt.want, azureOperation(tt.r), "%s %s", tt.r.Method, tt.r.URL)
	}
}

// catalog.gcs.http and catalog.azure.http bound their stores' transports
// (the cap itself is TestObjectStoreCapsRequestsAndConnections's), and zero
// fields take the defaults.
func TestStoreLimitsApply(t *testing.T) {
	store, err := NewObjectStoreFor(context.Background(), Config{
		GCS:   GCSConfig{HTTP: ObjectStoreHTTPConfig{MaxInFlight: 2, MaxConnsPerHost: 3, MaxAttempts: 5}},
		Azure: AzureConfig{HTTP: ObjectStoreHTTPConfig{MaxInFlight: 4, MaxIdleConns: 1, RequestTimeout: 7}},
	}, nil)
	require.NoError(t, err)
	defer store.Close()
	require.Equal(t, 2, cap(store.gcs.slots))
	require.Equal(t, 3, store.gcs.base.MaxConnsPerHost)
	require.Equal(t, 5, store.gcsHTTP.MaxAttempts)
	require.Equal(t, "catalog.gcs.http", store.gcs.kind.limitsKey)
	d := DefaultObjectStoreHTTPConfig()
	require.Equal(t, 4, cap(store.azure.slots))
	require.Equal(t, 1, store.azure.base.MaxIdleConns)
	require.Equal(t, d.MaxConnsPerHost, store.azure.base.MaxConnsPerHost)
	require.EqualValues(t, 7, store.azure.cfg.RequestTimeout)
	require.Equal(t, d.MaxAttempts, store.azureHTTP.MaxAttempts)
	require.Equal(t, "catalog.azure.http", store.azure.kind.limitsKey)
}

// A 503 is tried max-attempts times in all, by each store's SDK: for GCS a
// read (the GCS client's JSON uploads retry until their context ends,
// whatever max-attempts says), for Azure a write.
func TestStoreRetriesFollowMaxAttempts(t *testing.T) {
	for _, attempts := range []int{1, 3} {
		h := ObjectStoreHTTPConfig{MaxAttempts: attempts, RetryMax: 50 * time.Millisecond}
		t.Run(fmt.Sprintf("gcs %d", attempts), func(t *testing.T) {
			srv, n := refusingStore(t, http.StatusServiceUnavailable, map[string]string{"Content-Type": "application/json"},
				gcsErrorBody(http.StatusServiceUnavailable, "backendError", "floe test"))
			cfg := Config{GCS: GCSConfig{Endpoint: srv.URL, NoAuth: true, HTTP: h}}
			store, err := NewObjectStoreFor(context.Background(), cfg, nil)
			require.NoError(t, err)
			fs, err := icebergio.LoadFS(store.Context(context.Background()), storeProperties(cfg), "gs://b/w")
			require.NoError(t, err)
			_, err = fs.(icebergio.ReadFileIO).ReadFile("gs://b/w/a")
			require.Error(t, err)
			require.Equal(t, int64(attempts), n.Load())
		})
		t.Run(fmt.Sprintf("azure %d", attempts), func(t *testing.T) {
			srv, n := refusingStore(t, http.StatusServiceUnavailable, map[string]string{"x-ms-error-code": "ServerBusy"}, "")
			cfg := Config{Azure: AzureConfig{AccountKey: "a2V5", Endpoint: srv.URL + "/acct", HTTP: h}}
			store, err := NewObjectStoreFor(context.Background(), cfg, nil)
			require.NoError(t, err)
			loc := "abfs://c@acct.dfs.core.windows.net/w"
			fs, err := icebergio.LoadFS(store.Context(context.Background()), storeProperties(cfg), loc)
			require.NoError(t, err)
			require.Error(t, fs.(icebergio.WriteFileIO).WriteFile(loc+"/a", []byte("x")))
			require.Equal(t, int64(attempts), n.Load())
		})
	}
}

// A GCS upload that keeps failing with 503 is retried (with backoff) until
// its context ends — the commit attempt's deadline — and then fails.
func TestGCSUploadRetriesEndWithTheContext(t *testing.T) {
	srv, n := refusingStore(t, http.StatusServiceUnavailable, map[string]string{"Content-Type": "application/json"},
		gcsErrorBody(http.StatusServiceUnavailable, "backendError", "floe test"))
	cfg := Config{GCS: GCSConfig{Endpoint: srv.URL, NoAuth: true, HTTP: ObjectStoreHTTPConfig{MaxAttempts: 2, RetryMax: 20 * time.Millisecond}}}
	store, err := NewObjectStoreFor(context.Background(), cfg, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	fs, err := icebergio.LoadFS(store.Context(ctx), storeProperties(cfg), "gs://b/w")
	require.NoError(t, err)
	err = fs.(icebergio.WriteFileIO).WriteFile("gs://b/w/a", []byte("x"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Positive(t, n.Load())
}
