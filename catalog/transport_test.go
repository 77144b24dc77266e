package catalog

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/internal/promtest"
)

func testHTTPConfig() HTTPConfig {
	c := DefaultHTTPConfig()
	c.RetryMin, c.RetryMax = time.Millisecond, 5*time.Millisecond
	return c
}

func TestTransportCapsRequestsAndConnections(t *testing.T) {
	var (
		mu           sync.Mutex
		active, peak int
		remotes      = map[string]bool{}
		release      = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		active++
		peak = max(peak, active)
		remotes[r.RemoteAddr] = true
		mu.Unlock()
		<-release
		mu.Lock()
		active--
		mu.Unlock()
	}))
	defer srv.Close()
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock() // before srv.Close: a failed assertion must not leave handlers blocked

	cfg := testHTTPConfig()
	cfg.MaxInFlight, cfg.MaxConnsPerHost, cfg.MaxIdleConns = 2, 3, 1
	reg := prometheus.NewRegistry()
	tr := NewCatalogTransport(cfg, reg)
	cl := &http.Client{Transport: tr}
	var peakConns atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := tr.OpenConnections(); n > peakConns.Load() {
				peakConns.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := cl.Get(srv.URL + "/v1/namespaces/db/tables/t")
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	atCatalog := func() int {
		mu.Lock()
		defer mu.Unlock()
		return active
	}
	// Generous waits: they only run out when the limit is broken. Two at the
	// catalog and four waiting account for all six requests, so no sleep is
	// needed to give a seventh the chance to slip through.
	require.Eventually(t, func() bool { return atCatalog() == 2 }, 30*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return promtest.Value(t, reg, "floe_catalog_requests_waiting", nil) == 4 }, 30*time.Second, time.Millisecond,
		"the other four wait for a slot")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP floe_catalog_requests_in_flight Requests to the REST catalog sent and not yet finished (bounded by catalog.http.max-in-flight).
# TYPE floe_catalog_requests_in_flight gauge
floe_catalog_requests_in_flight 2
`), "floe_catalog_requests_in_flight"))
	require.Equal(t, 2, atCatalog())
	unblock()
	wg.Wait()
	close(stop)
	<-sampled
	require.Equal(t, 2, peak, "never more than max-in-flight requests at the catalog")
	require.LessOrEqual(t, peakConns.Load(), int64(3), "never more than max-conns-per-host connections")
	require.NotEmpty(t, remotes)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP floe_catalog_requests_in_flight Requests to the REST catalog sent and not yet finished (bounded by catalog.http.max-in-flight).
# TYPE floe_catalog_requests_in_flight gauge
floe_catalog_requests_in_flight 0
`), "floe_catalog_requests_in_flight"))
	require.Equal(t, uint64(6), histCount(t, reg, "load_table", "200"))
}

func histCount(t testing.TB, reg *prometheus.Registry, op, status string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "floe_catalog_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["operation"] == op && labels["status"] == status {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func TestTransportRetriesReadsNotCommits(t *testing.T) {
	var gets, posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if gets.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	tr := NewCatalogTransport(testHTTPConfig(), reg)
	cl := &http.Client{Transport: tr}

	resp, err := cl.Get(srv.URL + "/v1/namespaces/db/tables/t")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, int32(3), gets.Load())
	require.Equal(t, 2.0, promtest.Value(t, reg, "floe_catalog_read_retries_total", map[string]string{"operation": "load_table"}))
	require.Equal(t, uint64(2), histCount(t, reg, "load_table", "503"))

	resp, err = cl.Post(srv.URL+"/v1/namespaces/db/tables/t", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 503, resp.StatusCode, "a commit's outcome is for the commit protocol to settle")
	require.Equal(t, int32(1), posts.Load())

	// Retries stop at read-retries; every try counts toward a commit's cost.
	gets.Store(-100)
	ctx, rc := CountRequests(context.Background(), nil)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/config", nil)
	resp, err = cl.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 503, resp.StatusCode)
	require.Equal(t, int32(-96), gets.Load(), "1 try + 3 retries")
	require.Equal(t, int64(4), rc.Catalog())
}

func TestTransportRequestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	cfg := testHTTPConfig()
	cfg.RequestTimeout, cfg.ReadRetries = 50*time.Millisecond, 0
	reg := prometheus.NewRegistry()
	cl := &http.Client{Transport: NewCatalogTransport(cfg, reg)}
	_, err := cl.Get(srv.URL + "/v1/namespaces/db/tables/t")
	require.ErrorContains(t, err, "no answer within catalog.http.request-timeout (50ms)")
	require.Equal(t, uint64(1), histCount(t, reg, "load_table", "timeout"))

	// The caller's own cancellation is not retried or reported as a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/config", nil)
	_, err = cl.Do(req)
	require.ErrorIs(t, err, context.Canceled)
}

func TestCatalogOperation(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/v1/config", "config"},
		{"POST", "/v1/oauth/tokens", "token"},
		{"GET", "/v1/namespaces/db/tables/t", "load_table"},
		{"GET", "/v1/pfx/namespaces/db/tables/t", "load_table"},
		{"POST", "/v1/namespaces/db/tables/t", "commit_table"},
		{"POST", "/v1/namespaces/db/tables", "create_table"},
		{"HEAD", "/v1/namespaces/db", "namespace"},
		{"GET", "/metrics", "other"},
	} {
		require.Equal(t, tc.want, catalogOperation(httptest.NewRequest(tc.method, tc.path, nil)), tc.path)
	}
}

func TestHTTPConfigValidate(t *testing.T) {
	require.NoError(t, DefaultHTTPConfig().Validate())
	for key, mutate := range map[string]func(*HTTPConfig){
		"max-conns-per-host": func(c *HTTPConfig) { c.MaxConnsPerHost = 0 },
		"max-idle-conns":     func(c *HTTPConfig) { c.MaxIdleConns = 99 },
		"idle-timeout":       func(c *HTTPConfig) { c.IdleTimeout = 0 },
		"request-timeout":    func(c *HTTPConfig) { c.RequestTimeout = -1 },
		"max-in-flight":      func(c *HTTPConfig) { c.MaxInFlight = 0 },
		"read-retries":       func(c *HTTPConfig) { c.ReadRetries = -1 },
		"retry-min":          func(c *HTTPConfig) { c.RetryMax = c.RetryMin / 2 },
	} {
		c := DefaultHTTPConfig()
		mutate(&c)
		require.ErrorContains(t, c.Validate(), key)
	}
}
