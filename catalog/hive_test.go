package catalog

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/internal/promtest"
)

// tcpServer listens on loopback and hands each connection to serve; it
// closes the listener and waits for serve's goroutines when the test ends.
func tcpServer(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-done; c.Close() }()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// histogramCount is the number of observations of a histogram series.
func histogramCount(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

func hiveConfig(addr string) Config {
	cfg := DefaultConfig()
	cfg.Type, cfg.Warehouse = "hive", "file:///w"
	cfg.Hive.URI = "thrift://" + addr
	cfg.HTTP.ReadRetries = 0
	return cfg
}

func TestHiveCallTimesOut(t *testing.T) {
	// A metastore that accepts connections and never answers.
	addr := tcpServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	cfg := hiveConfig(addr)
	cfg.HTTP.RequestTimeout = 200 * time.Millisecond
	reg := prometheus.NewRegistry()
	tr := NewCatalogTransport(cfg.HTTP, reg)

	cat, err := Open(context.Background(), cfg, &http.Client{Transport: tr})
	require.Nil(t, cat)
	require.ErrorContains(t, err, "open hive catalog floe at thrift://"+addr+": list databases: hive metastore namespace at "+addr+
		": no answer within 200ms (catalog.http.request-timeout or the operation's deadline)")
	require.Equal(t, uint64(1), histogramCount(t, reg, "floe_catalog_request_duration_seconds",
		map[string]string{"operation": "namespace", "status": "timeout"}))
	require.Zero(t, tr.OpenConnections(), "a connection that timed out is closed, never reused")
	require.Zero(t, promtest.Value(t, reg, "floe_catalog_requests_in_flight", nil))
}

func TestHiveReadRetriedOnNewConnection(t *testing.T) {
	// A metastore that drops every connection at once.
	var mu sync.Mutex
	accepted := 0
	addr := tcpServer(t, func(net.Conn) {
		mu.Lock()
		accepted++
		mu.Unlock()
	})
	cfg := hiveConfig(addr)
	cfg.HTTP.ReadRetries, cfg.HTTP.RetryMin, cfg.HTTP.RetryMax = 2, time.Millisecond, 2*time.Millisecond
	reg := prometheus.NewRegistry()
	tr := NewCatalogTransport(cfg.HTTP, reg)
	c := newHiveClient(addr, cfg.HTTP.withDefaults(), tr)
	t.Cleanup(func() { require.NoError(t, c.Close()) })

	_, err := c.GetTable(context.Background(), "db", "t")
	require.Error(t, err)
	require.Equal(t, 2.0, promtest.Value(t, reg, "floe_catalog_read_retries_total", map[string]string{"operation": "load_table"}))
	require.Equal(t, uint64(3), histogramCount(t, reg, "floe_catalog_request_duration_seconds",
		map[string]string{"operation": "load_table", "status": "error"}))
	mu.Lock()
	require.Equal(t, 3, accepted, "each try on a new connection")
	mu.Unlock()

	// A write is sent once.
	require.Error(t, c.AlterTable(context.Background(), "db", "t", nil))
	require.Equal(t, uint64(1), histogramCount(t, reg, "floe_catalog_request_duration_seconds",
		map[string]string{"operation": "commit_table", "status": "error"}))
	require.Zero(t, tr.OpenConnections())
}

func TestHiveUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	cat, err := Open(context.Background(), hiveConfig(addr), nil)
	require.Nil(t, cat)
	require.ErrorContains(t, err, "open hive catalog floe at thrift://"+addr+": list databases: connect to hive metastore "+addr)
}

func TestHiveCallsBoundedAndClosed(t *testing.T) {
	// One connection allowed: a second call waits for it, and gives up
	// with its context.
	release := make(chan struct{})
	addr := tcpServer(t, func(c net.Conn) {
		buf := make([]byte, 1)
		_, _ = c.Read(buf) // the request begins: never answer until released
		<-release
	})
	cfg := hiveConfig(addr)
	cfg.HTTP.MaxConnsPerHost, cfg.HTTP.MaxIdleConns, cfg.HTTP.RequestTimeout = 1, 1, time.Minute
	reg := prometheus.NewRegistry()
	c := newHiveClient(addr, cfg.HTTP.withDefaults(), NewCatalogTransport(cfg.HTTP, reg))

	first := make(chan error, 1)
	go func() {
		_, err := c.GetAllDatabases(context.Background())
		first <- err
	}()
	require.Eventually(t, func() bool { return promtest.Value(t, reg, "floe_catalog_requests_in_flight", nil) == 1 },
		30*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.GetDatabase(ctx, "db")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	close(release) // the server hangs up: the first call fails on its connection
	require.Error(t, <-first)
	require.NoError(t, c.Close())
	_, err = c.GetDatabase(context.Background(), "db")
	require.True(t, errors.Is(err, ErrHiveClosed), "got %v", err)
	require.NoError(t, c.Close(), "a second Close is a no-op")
}

func TestHiveNeedsCatalogTransport(t *testing.T) {
	cat, err := Open(context.Background(), hiveConfig("127.0.0.1:9083"), &http.Client{Transport: http.DefaultTransport})
	require.Nil(t, cat)
	require.ErrorContains(t, err, "open hive catalog floe: the catalog client must be a *catalog.CatalogTransport, got *http.Transport")
}
