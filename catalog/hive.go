package catalog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/hive"
	"github.com/apache/thrift/lib/go/thrift"
	"github.com/beltran/gohive/hive_metastore"
)

// ErrHiveClosed is returned by calls on a Hive catalog after Close.
var ErrHiveClosed = errors.New("hive metastore client closed")

// openHiveCatalog opens a Hive Metastore catalog whose Thrift calls go
// through floe's limits (see hiveClient). t supplies the in-flight cap and
// the metrics it shares with the rest of the catalog client.
func openHiveCatalog(ctx context.Context, cfg Config, t *CatalogTransport) (catalog.Catalog, error) {
	addr, _, err := hiveAddr(cfg.Hive.URI)
	if err != nil {
		return nil, fmt.Errorf("catalog.hive.uri: %w", err)
	}
	client := newHiveClient(addr, cfg.HTTP.withDefaults(), t)
	// Fail at start, not at the first commit, when the metastore cannot be
	// reached or does not speak the protocol.
	if _, err := client.GetAllDatabases(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("list databases: %w", err)
	}
	props := iceberg.Properties{hive.URI: cfg.Hive.URI, hive.Warehouse: cfg.Warehouse}
	h := cfg.Hive
	if h.LockCheckMinWait > 0 {
		props[hive.LockCheckMinWaitMs] = strconv.FormatInt(h.LockCheckMinWait.Milliseconds(), 10)
	}
	if h.LockCheckMaxWait > 0 {
		props[hive.LockCheckMaxWaitMs] = strconv.FormatInt(h.LockCheckMaxWait.Milliseconds(), 10)
	}
	if h.LockCheckRetries > 0 {
		props[hive.LockCheckRetries] = strconv.Itoa(h.LockCheckRetries)
	}
	maps.Copy(props, s3Properties(cfg.S3))
	maps.Copy(props, cfg.Properties)
	return hive.NewCatalogWithClient(client, props), nil
}

// hiveAddr parses a thrift://host[:port] URI (port 9083 by default) into
// host:port.
func hiveAddr(uri string) (addr string, u *url.URL, err error) {
	u, err = url.Parse(uri)
	if err != nil || u.Scheme != "thrift" || u.Hostname() == "" {
		return "", nil, fmt.Errorf("must be thrift://host[:port], got %q", uri)
	}
	port := u.Port()
	if port == "" {
		port = "9083"
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", nil, fmt.Errorf("port must be 1-65535, got %q", port)
	}
	return net.JoinHostPort(u.Hostname(), port), u, nil
}

// hiveClient is iceberg-go's hive.HiveClient over a pool of Thrift
// connections, with the limits and metrics of floe's REST catalog client:
//   - at most max-conns-per-host connections; a Thrift connection carries one
//     call at a time, so each call holds one for its duration;
//   - calls hold a slot of the catalog's max-in-flight cap (shared with the
//     HTTP transport it came with), waiting in floe_catalog_requests_waiting;
//   - each call is bounded by request-timeout (and the context's deadline):
//     the socket's read and write timeout, since Thrift does not watch the
//     context;
//   - floe_catalog_request_duration_seconds per operation and status (ok,
//     not_found, error, timeout);
//   - reads that fail on the connection are retried read-retries times on a
//     new connection, with backoff; writes are never retried (the commit
//     protocol decides after reading the table).
//
// A connection that failed below the Thrift application level (network,
// timeout, garbled frame) is closed, never reused: a late answer would be
// read as the next call's.
type hiveClient struct {
	addr  string
	cfg   HTTPConfig
	t     *CatalogTransport
	conns chan *hiveConn // one token per allowed connection; nil: not dialled

	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

type hiveConn struct {
	sock     *thrift.TSocket
	tr       thrift.TTransport
	client   *hive_metastore.ThriftHiveMetastoreClient
	lastUsed time.Time
}

var _ hive.HiveClient = (*hiveClient)(nil)

func newHiveClient(addr string, cfg HTTPConfig, t *CatalogTransport) *hiveClient {
	c := &hiveClient{addr: addr, cfg: cfg, t: t, conns: make(chan *hiveConn, cfg.MaxConnsPerHost), done: make(chan struct{})}
	for range cfg.MaxConnsPerHost {
		c.conns <- nil
	}
	return c
}

func (c *hiveClient) dial() (*hiveConn, error) {
	sock := thrift.NewTSocketConf(c.addr, &thrift.TConfiguration{
		ConnectTimeout: c.t.kind.dialTimeout, SocketTimeout: c.cfg.RequestTimeout,
	})
	tr := thrift.NewTBufferedTransport(sock, 4096)
	if err := tr.Open(); err != nil {
		return nil, fmt.Errorf("connect to hive metastore %s: %w", c.addr, err)
	}
	c.t.conns.Add(1)
	proto := thrift.NewTBinaryProtocolConf(tr, nil)
	return &hiveConn{sock: sock, tr: tr, client: hive_metastore.NewThriftHiveMetastoreClient(thrift.NewTStandardClient(proto, proto))}, nil
}

func (c *hiveClient) closeConn(hc *hiveConn) {
	if hc != nil {
		_ = hc.tr.Close()
		c.t.conns.Add(-1)
	}
}

// take waits for a connection token (the max-conns-per-host cap) and
// returns a live connection: the idle one it holds, or a new one.
func (c *hiveClient) take(ctx context.Context) (*hiveConn, error) {
	var hc *hiveConn
	select {
	case hc = <-c.conns:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, ErrHiveClosed
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed { // a token can be had after Close too: select picks at random
		c.closeConn(hc)
		c.conns <- nil
		return nil, ErrHiveClosed
	}
	if hc != nil && time.Since(hc.lastUsed) > c.cfg.IdleTimeout {
		// The metastore may have dropped it meanwhile.
		c.closeConn(hc)
		hc = nil
	}
	if hc == nil {
		var err error
		if hc, err = c.dial(); err != nil {
			c.conns <- nil
			return nil, err
		}
	}
	return hc, nil
}

// put returns a connection's token; a broken connection is closed.
func (c *hiveClient) put(hc *hiveConn, broken bool) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if broken || closed {
		c.closeConn(hc)
		hc = nil
	} else {
		hc.lastUsed = time.Now()
	}
	c.conns <- hc
}

// call runs fn on a connection under the limits; op is the metric label,
// read says whether fn may be sent again after a connection failure.
func (c *hiveClient) call(ctx context.Context, op string, read bool, fn func(context.Context, *hive_metastore.ThriftHiveMetastoreClient) error) error {
	var count func()
	if rc, _ := ctx.Value(requestsKey{}).(*Requests); rc != nil {
		count = func() { rc.catalog.Add(1) }
	}
	tries := 1
	if read {
		tries += c.cfg.ReadRetries
	}
	for attempt := 0; ; attempt++ {
		if count != nil {
			count()
		}
		err, broken := c.once(ctx, op, fn)
		if err == nil || !broken || attempt+1 >= tries || ctx.Err() != nil || errors.Is(err, ErrHiveClosed) {
			return err
		}
		if c.t.m.retries != nil {
			c.t.m.retries.WithLabelValues(op).Inc()
		}
		if werr := (Backoff{c.cfg.RetryMin, c.cfg.RetryMax}).Wait(ctx, attempt); werr != nil {
			return err
		}
	}
}

// once makes one call under an in-flight slot; broken reports a failure of
// the connection (or of connecting) rather than an answer of the metastore.
func (c *hiveClient) once(ctx context.Context, op string, fn func(context.Context, *hive_metastore.ThriftHiveMetastoreClient) error) (err error, broken bool) {
	t := c.t
	t.m.waiting.Inc()
	select {
	case t.slots <- struct{}{}:
		t.m.waiting.Dec()
	case <-ctx.Done():
		t.m.waiting.Dec()
		return ctx.Err(), false
	}
	t.m.inFlight.Inc()
	defer func() {
		t.m.inFlight.Dec()
		<-t.slots
	}()

	start := time.Now()
	hc, err := c.take(ctx)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrHiveClosed) {
			return err, false
		}
		t.m.duration.WithLabelValues(op, "error").Observe(time.Since(start).Seconds())
		return err, true
	}
	timeout := c.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), time.Millisecond)
	}
	_ = hc.sock.SetSocketTimeout(timeout)
	err = fn(ctx, hc.client)
	broken = err != nil && !metastoreAnswer(err)
	c.put(hc, broken)

	status := "ok"
	switch {
	case err == nil:
	case isTimeout(err):
		status = "timeout"
		err = fmt.Errorf("hive metastore %s at %s: no answer within %s (catalog.http.request-timeout or the operation's deadline): %w",
			op, c.addr, timeout, err)
	case errors.As(err, new(*hive_metastore.NoSuchObjectException)):
		status = "not_found"
	default:
		status = "error"
	}
	t.m.duration.WithLabelValues(op, status).Observe(time.Since(start).Seconds())
	return err, broken
}

// metastoreAnswer reports whether err is an answer of the metastore (an
// exception it declared or an application error), after which the
// connection is still in step.
func metastoreAnswer(err error) bool {
	var te thrift.TException
	if !errors.As(err, &te) {
		return false
	}
	switch te.TExceptionType() {
	case thrift.TExceptionTypeCompiled, thrift.TExceptionTypeApplication:
		return true
	}
	return false
}

func isTimeout(err error) bool {
	var tte thrift.TTransportException
	if errors.As(err, &tte) && tte.TypeId() == thrift.TIMED_OUT {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Close closes the idle connections; calls after Close fail with
// ErrHiveClosed, calls under way close their connection when they end.
func (c *hiveClient) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	c.mu.Unlock()
	for {
		select {
		case hc := <-c.conns:
			c.closeConn(hc)
		default:
			return nil
		}
	}
}

// hiveCall adapts a Thrift call with a result to call.
func hiveCall[T any](ctx context.Context, c *hiveClient, op string, read bool, fn func(context.Context, *hive_metastore.ThriftHiveMetastoreClient) (T, error)) (T, error) {
	var out T
	err := c.call(ctx, op, read, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) error {
		var err error
		out, err = fn(ctx, mc)
		return err
	})
	return out, err
}

func (c *hiveClient) GetDatabase(ctx context.Context, name string) (*hive_metastore.Database, error) {
	return hiveCall(ctx, c, "namespace", true, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) (*hive_metastore.Database, error) {
		return mc.GetDatabase(ctx, name)
	})
}

func (c *hiveClient) CreateDatabase(ctx context.Context, db *hive_metastore.Database) error {
	return c.call(ctx, "namespace", false, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) error {
		return mc.CreateDatabase(ctx, db)
	})
}

func (c *hiveClient) AlterDatabase(ctx context.Context, name string, db *hive_metastore.Database) error {
	return c.call(ctx, "namespace", false, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) error {
		return mc.AlterDatabase(ctx, name, db)
	})
}

func (c *hiveClient) DropDatabase(ctx context.Context, name string, deleteData, cascade bool) error {
	return c.call(ctx, "namespace", false, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) error {
		return mc.DropDatabase(ctx, name, deleteData, cascade)
	})
}

func (c *hiveClient) GetAllDatabases(ctx context.Context) ([]string, error) {
	return hiveCall(ctx, c, "namespace", true, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) ([]string, error) {
		return mc.GetAllDatabases(ctx)
	})
}

func (c *hiveClient) GetTable(ctx context.Context, db, name string) (*hive_metastore.Table, error) {
	return hiveCall(ctx, c, "load_table", true, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) (*hive_metastore.Table, error) {
		return mc.GetTable(ctx, db, name)
	})
}

func (c *hiveClient) CreateTable(ctx context.Context, tbl *hive_metastore.Table) error {
	return c.call(ctx, "create_table", false, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) error {
		return mc.CreateTable(ctx, tbl)
	})
}

func (c *hiveClient) AlterTable(ctx context.Context, db, name string, tbl *hive_metastore.Table) error {
	return c.call(ctx, "commit_table", false, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) error {
		return mc.AlterTable(ctx, db, name, tbl)
	})
}

func (c *hiveClient) DropTable(ctx context.Context, db, name string, deleteData bool) error {
	return c.call(ctx, "other", false, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) error {
		return mc.DropTable(ctx, db, name, deleteData)
	})
}

func (c *hiveClient) GetTables(ctx context.Context, db, pattern string) ([]string, error) {
	return hiveCall(ctx, c, "other", true, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) ([]string, error) {
		return mc.GetTables(ctx, db, pattern)
	})
}

func (c *hiveClient) Lock(ctx context.Context, req *hive_metastore.LockRequest) (*hive_metastore.LockResponse, error) {
	return hiveCall(ctx, c, "lock", false, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) (*hive_metastore.LockResponse, error) {
		return mc.Lock(ctx, req)
	})
}

func (c *hiveClient) CheckLock(ctx context.Context, id int64) (*hive_metastore.LockResponse, error) {
	return hiveCall(ctx, c, "lock", true, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) (*hive_metastore.LockResponse, error) {
		return mc.CheckLock(ctx, &hive_metastore.CheckLockRequest{Lockid: id})
	})
}

func (c *hiveClient) Unlock(ctx context.Context, id int64) error {
	// Releasing a lock twice is harmless (the second finds none).
	return c.call(ctx, "lock", true, func(ctx context.Context, mc *hive_metastore.ThriftHiveMetastoreClient) error {
		return mc.Unlock(ctx, &hive_metastore.UnlockRequest{Lockid: id})
	})
}
