package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/floe-dev/floe/internal/promtest"
)

const orderV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"}]}`

func newClient(t *testing.T, mutate func(*Config), urls ...string) (*Client, *prometheus.Registry) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.URLs = urls
	if mutate != nil {
		mutate(&cfg)
	}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, reg)
	require.NoError(t, err)
	return c, reg
}

// A schema is fetched once per ID, then served from the cache; an unknown
// ID is the record's fault and is not asked again.
func TestSchemaByIDIsFetchedOnce(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	id, _, err := fake.RegisterSchema("orders-value", sr.Schema{Schema: orderV1, Type: sr.TypeAvro})
	require.NoError(t, err)
	c, reg := newClient(t, nil, fake.URL())
	ctx := context.Background()

	for range 3 {
		s, err := c.SchemaByID(ctx, id)
		require.NoError(t, err)
		require.JSONEq(t, orderV1, s.Schema)
	}
	require.Equal(t, 1.0, promtest.Value(t, reg, "floe_schema_registry_requests_total", map[string]string{"operation": "schema_by_id", "outcome": "ok"}))
	require.Equal(t, 2.0, promtest.Value(t, reg, "floe_schema_registry_cache_hits_total", nil))

	for range 2 {
		_, err = c.SchemaByID(ctx, id+100)
		require.ErrorIs(t, err, ErrUnknownSchema)
		require.ErrorContains(t, err, "schema 101: unknown to the schema registry")
	}
	require.Equal(t, 1.0, promtest.Value(t, reg, "floe_schema_registry_requests_total", map[string]string{"operation": "schema_by_id", "outcome": "not_found"}))

	latest, err := c.Latest(ctx, "orders-value")
	require.NoError(t, err)
	require.Equal(t, id, latest.ID)
	_, err = c.Latest(ctx, "nope-value")
	require.ErrorIs(t, err, ErrUnknownSchema)
}

// Concurrent lookups of one ID share one request.
func TestConcurrentLookupsShareOneFetch(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	id, _, err := fake.RegisterSchema("orders-value", sr.Schema{Schema: orderV1, Type: sr.TypeAvro})
	require.NoError(t, err)
	release := make(chan struct{})
	var asked atomic.Int64
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		asked.Add(1)
		<-release
		return false
	})
	c, _ := newClient(t, nil, fake.URL())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := c.SchemaByID(context.Background(), id)
			require.NoError(t, err)
		})
	}
	require.Eventually(t, func() bool { return asked.Load() == 1 }, 10*time.Second, 5*time.Millisecond)
	close(release)
	wg.Wait()
	require.Equal(t, int64(1), asked.Load())
}

// A registry that is down, or answers 5xx or refuses floe's credentials,
// is unavailable (retry), never "unknown"; once it answers, the schema is
// fetched.
func TestUnavailableRegistryIsRetried(t *testing.T) {
	fake := srfake.New(srfake.WithAuth("Basic " + basic("floe", "pw")))
	t.Cleanup(fake.Close)
	id, _, err := fake.RegisterSchema("orders-value", sr.Schema{Schema: orderV1, Type: sr.TypeAvro})
	require.NoError(t, err)
	ctx := context.Background()

	wrong, _ := newClient(t, func(c *Config) { c.Username, c.Password = "floe", "wrong" }, fake.URL())
	_, err = wrong.SchemaByID(ctx, id)
	var ue *UnavailableError
	require.ErrorAs(t, err, &ue, "refused credentials are the registry's answer, not the record's fault")

	var down atomic.Bool
	down.Store(true)
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if down.Load() {
			http.Error(w, `{"error_code":50001,"message":"store unavailable"}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	pwFile := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(pwFile, []byte("pw\n"), 0o600))
	c, reg := newClient(t, func(c *Config) { c.Username, c.PasswordFile = "floe", pwFile }, fake.URL())
	_, err = c.SchemaByID(ctx, id)
	require.ErrorAs(t, err, &ue)
	require.ErrorContains(t, err, "schema registry unavailable for schema 1")
	require.False(t, errors.Is(err, ErrUnknownSchema))
	down.Store(false)
	s, err := c.SchemaByID(ctx, id)
	require.NoError(t, err, "a failed fetch is not cached")
	require.JSONEq(t, orderV1, s.Schema)
	require.Equal(t, 1.0, promtest.Value(t, reg, "floe_schema_registry_requests_total", map[string]string{"operation": "schema_by_id", "outcome": "error"}))

	// Nobody listening at all.
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	gone, _ := newClient(t, nil, srv.URL)
	_, err = gone.SchemaByID(ctx, 1)
	require.ErrorAs(t, err, &ue)
}

// A registry that never answers: the request ends at the timeout, as
// unavailable; at most max-in-flight requests are open at once.
func TestTimeoutAndInFlightBound(t *testing.T) {
	var open, most atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := open.Add(1)
		defer open.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-release:
			http.Error(w, `{"error_code":40403,"message":"Schema not found"}`, http.StatusNotFound)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)

	c, _ := newClient(t, func(c *Config) { c.Timeout = 50 * time.Millisecond }, srv.URL)
	_, err := c.SchemaByID(context.Background(), 7)
	var ue *UnavailableError
	require.ErrorAs(t, err, &ue, "a timeout is unavailable")

	bounded, _ := newClient(t, func(c *Config) { c.MaxInFlight = 2; c.Timeout = time.Minute }, srv.URL)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() { _, _ = bounded.SchemaByID(context.Background(), 100+i) })
	}
	require.Eventually(t, func() bool { return open.Load() == 2 }, 10*time.Second, 5*time.Millisecond)
	close(release)
	wg.Wait()
	require.LessOrEqual(t, most.Load(), int64(2))
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.URLs = []string{"registry:8081"} }, `urls: "registry:8081" is not an http(s) URL`},
		{func(c *Config) { c.Timeout = 0 }, "timeout: must be positive"},
		{func(c *Config) { c.MaxInFlight = 0 }, "max-in-flight: must be at least 1"},
		{func(c *Config) { c.Password = "p" }, "username: a password needs a username"},
		{func(c *Config) { c.Username, c.Password, c.PasswordFile = "u", "p", "f" }, "password-file: set the password or a password-file, not both"},
		{func(c *Config) { c.Username, c.Token = "u", "t" }, "token: set basic auth (username) or a bearer token, not both"},
		{func(c *Config) { c.TLS.CertFile = "c.pem" }, "tls.cert-file and key-file: a client certificate needs both"},
	} {
		cfg := DefaultConfig()
		cfg.URLs = []string{"http://registry:8081"}
		tc.mutate(&cfg)
		require.ErrorContains(t, cfg.Validate(), tc.want)
	}
	_, err := New(DefaultConfig(), prometheus.NewRegistry())
	require.ErrorContains(t, err, "schema-registry.urls: no registry configured")
	cfg := DefaultConfig()
	cfg.URLs = []string{"http://registry:8081"}
	cfg.Username, cfg.PasswordFile = "u", filepath.Join(t.TempDir(), "missing")
	_, err = New(cfg, prometheus.NewRegistry())
	require.ErrorContains(t, err, "schema-registry.password-file: open ")
}

func TestSubjectAndFraming(t *testing.T) {
	for _, tc := range []struct {
		strategy, want string
		key            bool
	}{
		{"", "orders-value", false},
		{"topic", "orders-key", true},
		{"record", "shop.Order", false},
		{"topic-record", "orders-shop.Order", false},
	} {
		got, err := Subject(tc.strategy, "orders", "shop.Order", tc.key)
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
	_, err := Subject("record", "orders", "", false)
	require.ErrorContains(t, err, "needs the record's name")
	_, err = Subject("topic-name", "orders", "", false)
	require.ErrorContains(t, err, `"topic-name" is not one of topic, record, topic-record`)

	var h sr.ConfluentHeader
	framed, err := h.AppendEncode(nil, 258, nil)
	require.NoError(t, err)
	id, payload, err := Unframe(append(framed, 0x02, 0x04))
	require.NoError(t, err)
	require.Equal(t, 258, id)
	require.Equal(t, []byte{0x02, 0x04}, payload)
	_, _, err = Unframe([]byte{0, 1})
	require.ErrorIs(t, err, ErrNotFramed)
	_, _, err = Unframe([]byte(`{"id":1}`))
	require.ErrorContains(t, err, "first byte is 123")
}

func basic(user, pass string) string {
	return base64Std(user + ":" + pass)
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
