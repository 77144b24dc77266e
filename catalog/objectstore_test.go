package catalog

import (
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	icebergio "github.com/apache/iceberg-go/io"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/internal/promtest"
)

// fakeS3 is a minimal path-style S3: PUT stores, GET and HEAD read back.
// Requests wait on block (when set) and GETs of keys in fail get a 503.
type fakeS3 struct {
	mu           sync.Mutex
	objects      map[string][]byte
	requests     map[string]int // "METHOD key" → count
	active, peak int
	block        chan struct{}
	fail         map[string]bool
}

func newFakeS3(t testing.TB) (*fakeS3, *httptest.Server) {
	t.Helper()
	f := &fakeS3{objects: map[string][]byte{}, requests: map[string]int{}, fail: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/")
	f.mu.Lock()
	f.requests[r.Method+" "+key]++
	f.active++
	f.peak = max(f.peak, f.active)
	block, fail := f.block, f.fail[key]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}()
	if block != nil {
		<-block
	}
	switch {
	case r.Method == http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.objects[key] = body
		f.mu.Unlock()
		w.Header().Set("ETag", `"etag"`)
	case fail:
		w.WriteHeader(http.StatusServiceUnavailable)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		f.mu.Lock()
		body, ok := f.objects[key]
		f.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `<Error><Code>NoSuchKey</Code></Error>`)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("ETag", `"etag"`)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

func (f *fakeS3) count(methodKey string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[methodKey]
}

// isolateAWS keeps the host's AWS configuration out of a test.
func isolateAWS(t testing.TB) {
	empty := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	for _, k := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(k, empty)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_S3_ENDPOINT", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
}

func testS3Config(endpoint string) S3Config {
	return S3Config{Endpoint: endpoint, Region: "us-east-1", AccessKeyID: "key", SecretAccessKey: "secret", PathStyle: true}
}

// openS3 opens iceberg-go's S3 file IO as the committer does: through the
// context of the call.
func openS3(t testing.TB, ctx context.Context, c S3Config) icebergio.IO {
	t.Helper()
	fs, err := icebergio.LoadFS(ctx, s3Properties(c), "s3://bucket/warehouse")
	require.NoError(t, err)
	return fs
}

func objectStoreCount(t testing.TB, reg *prometheus.Registry, op string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() != "floe_objectstore_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == op {
					n += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return n
}

func TestObjectStoreCarriesFloeClientToIcebergIO(t *testing.T) {
	isolateAWS(t)
	f, srv := newFakeS3(t)
	c := testS3Config(srv.URL)
	reg := prometheus.NewRegistry()
	store, err := NewObjectStore(context.Background(), c, reg)
	require.NoError(t, err)
	defer store.Close()

	// Without floe's context iceberg-go uses a client of its own: nothing
	// is counted.
	plain := openS3(t, context.Background(), c)
	require.NoError(t, plain.(icebergio.WriteFileIO).WriteFile("s3://bucket/warehouse/plain.txt", []byte("x")))
	require.Equal(t, 1, f.count("PUT bucket/warehouse/plain.txt"))
	require.Zero(t, objectStoreCount(t, reg, "put"))

	fs := openS3(t, store.Context(context.Background()), c)
	require.NoError(t, fs.(icebergio.WriteFileIO).WriteFile("s3://bucket/warehouse/a.txt", []byte("hello")))
	got, err := fs.(icebergio.ReadFileIO).ReadFile("s3://bucket/warehouse/a.txt")
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))
	require.Equal(t, uint64(1), objectStoreCount(t, reg, "put"))
	require.GreaterOrEqual(t, objectStoreCount(t, reg, "get")+objectStoreCount(t, reg, "head"), uint64(1))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP floe_objectstore_requests_in_flight Requests to the object store sent and not yet finished (bounded by catalog.{s3,gcs,azure}.http.max-in-flight).
# TYPE floe_objectstore_requests_in_flight gauge
floe_objectstore_requests_in_flight 0
`), "floe_objectstore_requests_in_flight"))
}

func TestObjectStoreCapsRequestsAndConnections(t *testing.T) {
	isolateAWS(t)
	f, srv := newFakeS3(t)
	c := testS3Config(srv.URL)
	reg := prometheus.NewRegistry()
	c.HTTP = ObjectStoreHTTPConfig{MaxInFlight: 2, MaxConnsPerHost: 3, MaxIdleConns: 1}
	store, err := NewObjectStore(context.Background(), c, reg)
	require.NoError(t, err)
	defer store.Close()
	fs := openS3(t, store.Context(context.Background()), c).(icebergio.ReadFileIO)
	for i := range 6 {
		f.objects["bucket/warehouse/"+string(rune('a'+i))] = []byte("data")
	}
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock() // a failed assertion must not leave requests blocked
	f.mu.Lock()
	f.block = release
	f.mu.Unlock()

	var peakConns atomic.Int64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peakConns.Store(max(peakConns.Load(), store.transport.OpenConnections()))
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := fs.ReadFile("s3://bucket/warehouse/" + string(rune('a'+i)))
			require.NoError(t, err)
		}()
	}
	// Four waiting leaves two for the store; wait (generously: it only runs
	// out when the limit is broken) until both have arrived there.
	require.Eventually(t, func() bool {
		return promtest.Value(t, reg, "floe_objectstore_requests_waiting", nil) == 4
	}, 30*time.Second, time.Millisecond)
	atStore := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.active
	}
	require.Eventually(t, func() bool { return atStore() == 2 }, 30*time.Second, time.Millisecond)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP floe_objectstore_requests_waiting Requests to the object store waiting for a slot under catalog.{s3,gcs,azure}.http.max-in-flight.
# TYPE floe_objectstore_requests_waiting gauge
floe_objectstore_requests_waiting 4
`), "floe_objectstore_requests_waiting"))
	unblock()
	wg.Wait()
	close(stop)
	<-sampled
	require.Equal(t, 2, f.peak, "never more than max-in-flight requests at the store")
	require.LessOrEqual(t, peakConns.Load(), int64(3), "never more than max-conns-per-host connections")
}

func TestObjectStoreRetries(t *testing.T) {
	for _, attempts := range []int{1, 2, 4} {
		t.Run(strings.Repeat("x", attempts), func(t *testing.T) {
			isolateAWS(t)
			f, srv := newFakeS3(t)
			f.fail["bucket/warehouse/flaky"] = true
			c := testS3Config(srv.URL)
			c.HTTP = ObjectStoreHTTPConfig{MaxAttempts: attempts, RetryMax: time.Millisecond}
			store, err := NewObjectStore(context.Background(), c, nil)
			require.NoError(t, err)
			fs := openS3(t, store.Context(context.Background()), c).(icebergio.ReadFileIO)
			_, err = fs.ReadFile("s3://bucket/warehouse/flaky")
			require.Error(t, err)
			require.Equal(t, attempts, f.count("GET bucket/warehouse/flaky")+f.count("HEAD bucket/warehouse/flaky"),
				"every request is sent max-attempts times")
		})
	}
}

func TestObjectStoreKeepsTheCABundle(t *testing.T) {
	isolateAWS(t)
	f := &fakeS3{objects: map[string][]byte{}, requests: map[string]int{}, fail: map[string]bool{}}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	t.Setenv("AWS_CA_BUNDLE", bundle)

	c := testS3Config(srv.URL)
	reg := prometheus.NewRegistry()
	store, err := NewObjectStore(context.Background(), c, reg)
	require.NoError(t, err)
	fs := openS3(t, store.Context(context.Background()), c)
	require.NoError(t, fs.(icebergio.WriteFileIO).WriteFile("s3://bucket/warehouse/tls.txt", []byte("x")),
		"the store's certificate is trusted through AWS_CA_BUNDLE")
	require.Equal(t, uint64(1), objectStoreCount(t, reg, "put"))
}

func TestNewObjectStoreBadAWSConfig(t *testing.T) {
	isolateAWS(t)
	t.Setenv("AWS_PROFILE", "no-such-profile")
	_, err := NewObjectStore(context.Background(), S3Config{}, nil)
	require.ErrorContains(t, err, "catalog.s3: load the AWS configuration")
}

func TestObjectStoreHTTPConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*ObjectStoreHTTPConfig)
		want string
	}{
		{"zero means defaults", func(*ObjectStoreHTTPConfig) {}, ""},
		{"defaults", func(c *ObjectStoreHTTPConfig) { *c = DefaultObjectStoreHTTPConfig() }, ""},
		{"negative conns", func(c *ObjectStoreHTTPConfig) { c.MaxConnsPerHost = -1 }, "max-conns-per-host: must be >= 0"},
		{"negative timeout", func(c *ObjectStoreHTTPConfig) { c.RequestTimeout = -time.Second }, "request-timeout: must be >= 0"},
		{"negative attempts", func(c *ObjectStoreHTTPConfig) { c.MaxAttempts = -2 }, "max-attempts: must be >= 0"},
		{"idle above conns", func(c *ObjectStoreHTTPConfig) { c.MaxConnsPerHost, c.MaxIdleConns = 2, 3 }, "max-idle-conns: must be at most max-conns-per-host (2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c ObjectStoreHTTPConfig
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
	cat := DefaultConfig()
	cat.SQL = SQLConfig{Driver: "sqlite", DSN: "/tmp/x.db"}
	cat.Warehouse = "file:///tmp/w"
	cat.S3.HTTP.MaxInFlight = -1
	require.ErrorContains(t, cat.Validate(), "catalog.s3.http.max-in-flight")
}

func TestObjectStoreOperation(t *testing.T) {
	for _, tc := range []struct{ method, url, want string }{
		{"GET", "/b/k", "get"},
		{"GET", "/b?list-type=2&prefix=w/", "list"},
		{"HEAD", "/b/k", "head"},
		{"PUT", "/b/k", "put"},
		{"PUT", "/b/k?partNumber=2&uploadId=u", "upload_part"},
		{"POST", "/b/k?uploads", "multipart"},
		{"POST", "/b/k?uploadId=u", "multipart"},
		{"DELETE", "/b/k?uploadId=u", "multipart"},
		{"DELETE", "/b/k", "delete"},
		{"POST", "/b?delete", "delete"},
		{"PATCH", "/b/k", "other"},
	} {
		r := httptest.NewRequest(tc.method, "http://s3.local"+tc.url, nil)
		require.Equal(t, tc.want, objectStoreOperation(r), "%s %s", tc.method, tc.url)
	}
}

// A commit's object-store requests are counted apart from its catalog
// requests (floe_committer_objectstore_requests_per_commit).
func TestObjectStoreRequestsCountTowardTheCommit(t *testing.T) {
	isolateAWS(t)
	_, srv := newFakeS3(t)
	c := testS3Config(srv.URL)
	store, err := NewObjectStore(context.Background(), c, nil)
	require.NoError(t, err)
	defer store.Close()
	ctx, rc := CountRequests(store.Context(context.Background()), nil)
	fs := openS3(t, ctx, c)
	require.NoError(t, fs.(icebergio.WriteFileIO).WriteFile("s3://bucket/warehouse/a.txt", []byte("hello")))
	_, err = fs.(icebergio.ReadFileIO).ReadFile("s3://bucket/warehouse/a.txt")
	require.NoError(t, err)
	require.GreaterOrEqual(t, rc.Objects(), int64(2), "a PUT and a GET at least")
	require.Zero(t, rc.Catalog(), "no catalog request was made")
}
