package catalog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/floe-dev/floe/internal/prom"
)

// HTTPConfig bounds the pressure floe puts on a shared REST catalog: how
// many connections it opens, how many requests it has in flight (one cap
// for all tables of the process), how long one request may take, and how
// reads are retried. Commits are never retried here: the commit protocol
// decides, after reading the table, whether to send one again.
type HTTPConfig struct {
	MaxConnsPerHost int           `koanf:"max-conns-per-host"`
	MaxIdleConns    int           `koanf:"max-idle-conns"`
	IdleTimeout     time.Duration `koanf:"idle-timeout"`
	RequestTimeout  time.Duration `koanf:"request-timeout"`
	MaxInFlight     int           `koanf:"max-in-flight"`
	// ReadRetries is how often a failed GET (network error, 429, 5xx) is
	// tried again, with exponential backoff and full jitter between
	// RetryMin and RetryMax.
	ReadRetries int           `koanf:"read-retries"`
	RetryMin    time.Duration `koanf:"retry-min"`
	RetryMax    time.Duration `koanf:"retry-max"`
}

// DefaultHTTPConfig returns the catalog client defaults.
func DefaultHTTPConfig() HTTPConfig {
	return HTTPConfig{
		MaxConnsPerHost: 8, MaxIdleConns: 4, IdleTimeout: 90 * time.Second,
		RequestTimeout: 30 * time.Second, MaxInFlight: 8,
		ReadRetries: 3, RetryMin: 100 * time.Millisecond, RetryMax: 5 * time.Second,
	}
}

// Validate reports the first invalid field, relative to catalog.http.
func (c HTTPConfig) Validate() error {
	switch {
	case c.MaxConnsPerHost <= 0:
		return fmt.Errorf("max-conns-per-host: must be > 0, got %d", c.MaxConnsPerHost)
	case c.MaxIdleConns < 0 || c.MaxIdleConns > c.MaxConnsPerHost:
		return fmt.Errorf("max-idle-conns: must be between 0 and max-conns-per-host (%d), got %d", c.MaxConnsPerHost, c.MaxIdleConns)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("idle-timeout: must be > 0, got %s", c.IdleTimeout)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("request-timeout: must be > 0, got %s", c.RequestTimeout)
	case c.MaxInFlight <= 0:
		return fmt.Errorf("max-in-flight: must be > 0, got %d", c.MaxInFlight)
	case c.ReadRetries < 0:
		return fmt.Errorf("read-retries: must be >= 0, got %d", c.ReadRetries)
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return fmt.Errorf("retry-min, retry-max: need 0 < retry-min <= retry-max, got %s and %s", c.RetryMin, c.RetryMax)
	}
	return nil
}

// CatalogTransport is an HTTP transport with limits: connections, a
// per-process cap on requests in flight, a per-request timeout, read
// retries, and metrics per operation. NewCatalogTransport makes the REST
// catalog's, NewObjectStore the S3 client's.
type CatalogTransport struct {
	cfg   HTTPConfig
	kind  transportKind
	base  *http.Transport
	slots chan struct{}
	conns atomic.Int64
	m     *transportMetrics
}

// transportKind is what differs between the catalog's transport and the
// object store's.
type transportKind struct {
	subsystem   string // metric names are floe_<subsystem>_…
	service     string // for help texts
	limitsKey   string // the config section of the limits, for messages
	helpLimits  string // the config section(s) of the limits, for help texts (limitsKey if empty)
	operations  []string
	operation   func(*http.Request) string
	dialTimeout time.Duration
	// commitRequests: requests count toward the catalog requests of the
	// commit whose context they carry (otherwise toward its object-store
	// requests).
	commitRequests bool
}

var catalogKind = transportKind{
	subsystem: "catalog", service: "the REST catalog", limitsKey: "catalog.http",
	operations: catalogOperations, operation: catalogOperation,
	dialTimeout: 10 * time.Second, commitRequests: true,
}

type transportMetrics struct {
	duration *prometheus.HistogramVec
	retries  *prometheus.CounterVec // nil when reads are not retried here
	inFlight prometheus.Gauge
	waiting  prometheus.Gauge
	// open is a plain gauge, not a function of one transport's count, so
	// that the object store's transports (S3, GCS, Azure) share it.
	open prometheus.Gauge
}

// withDefaults fills the fields left zero (a Config built in code
// rather than loaded) with the defaults.
func (c HTTPConfig) withDefaults() HTTPConfig {
	d := DefaultHTTPConfig()
	if c.MaxConnsPerHost <= 0 {
		c.MaxConnsPerHost = d.MaxConnsPerHost
	}
	if c.MaxIdleConns <= 0 {
		c.MaxIdleConns = min(d.MaxIdleConns, c.MaxConnsPerHost)
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.RetryMin <= 0 {
		c.RetryMin = d.RetryMin
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(d.RetryMax, c.RetryMin)
	}
	return c
}

// NewCatalogTransport returns a transport with cfg's limits whose metrics
// are registered on reg (nil: not registered).
func NewCatalogTransport(cfg HTTPConfig, reg prometheus.Registerer) *CatalogTransport {
	return newTransport(cfg.withDefaults(), catalogKind, reg)
}

func newTransport(cfg HTTPConfig, kind transportKind, reg prometheus.Registerer) *CatalogTransport {
	t := &CatalogTransport{cfg: cfg, kind: kind, slots: make(chan struct{}, cfg.MaxInFlight)}
	dialer := &net.Dialer{Timeout: kind.dialTimeout, KeepAlive: 30 * time.Second}
	t.base = &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxConnsPerHost:     cfg.MaxConnsPerHost,
		MaxIdleConns:        cfg.MaxIdleConns,
		MaxIdleConnsPerHost: cfg.MaxIdleConns,
		IdleConnTimeout:     cfg.IdleTimeout,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			t.conns.Add(1)
			t.m.open.Inc()
			return &countedConn{Conn: c, done: func() { t.conns.Add(-1); t.m.open.Dec() }}, nil
		},
	}
	name := func(n string) string { return "floe_" + kind.subsystem + "_" + n }
	limits := kind.helpLimits
	if limits == "" {
		limits = kind.limitsKey
	}
	t.m = &transportMetrics{
		duration: prom.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    name("request_duration_seconds"),
			Help:    "HTTP requests to " + kind.service + ", by operation and status (HTTP code, error or timeout).",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 15),
		}, []string{"operation", "status"})),
		inFlight: prom.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: name("requests_in_flight"), Help: "Requests to " + kind.service + " sent and not yet finished (bounded by " + limits + ".max-in-flight).",
		})),
		waiting: prom.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: name("requests_waiting"), Help: "Requests to " + kind.service + " waiting for a slot under " + limits + ".max-in-flight.",
		})),
		open: prom.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: name("open_connections"), Help: "TCP connections open to " + kind.service + " (bounded by " + limits + ".max-conns-per-host).",
		})),
	}
	if cfg.ReadRetries > 0 {
		t.m.retries = prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: name("read_retries_total"), Help: "Reads from " + kind.service + " tried again after a network error, 429 or 5xx.",
		}, []string{"operation"}))
		for _, op := range kind.operations {
			t.m.retries.WithLabelValues(op)
		}
	}
	return t
}

// OpenConnections is the number of TCP connections open now.
func (t *CatalogTransport) OpenConnections() int64 { return t.conns.Load() }

// WithTLS returns a transport with the same limits, metrics and slots that
// uses cfg for TLS.
func (t *CatalogTransport) WithTLS(cfg *tls.Config) http.RoundTripper {
	base := t.base.Clone() // keeps DialContext, which counts into t.conns
	base.TLSClientConfig = cfg
	return &tlsView{t: t, base: base}
}

// tlsView shares t's slots, counters and metrics over another base.
type tlsView struct {
	t    *CatalogTransport
	base *http.Transport
}

func (v *tlsView) RoundTrip(r *http.Request) (*http.Response, error) { return v.t.roundTrip(v.base, r) }

// CloseIdleConnections closes idle connections (http.Client calls it).
func (t *CatalogTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// RoundTrip implements http.RoundTripper.
func (t *CatalogTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.roundTrip(t.base, r)
}

// Requests counts the HTTP requests made under a context (every try): to
// the catalog and to the object store. It is the API cost of one commit.
type Requests struct{ catalog, objects atomic.Int64 }

// Catalog is the number of catalog requests counted.
func (r *Requests) Catalog() int64 { return r.catalog.Load() }

// Objects is the number of object-store requests counted.
func (r *Requests) Objects() int64 { return r.objects.Load() }

type requestsKey struct{}

// CountRequests returns a context under which the catalog and object-store
// transports count their requests into rc (a new counter when rc is nil),
// and the counter.
func CountRequests(ctx context.Context, rc *Requests) (context.Context, *Requests) {
	if rc == nil {
		rc = &Requests{}
	}
	return context.WithValue(ctx, requestsKey{}, rc), rc
}

func (t *CatalogTransport) roundTrip(base http.RoundTripper, r *http.Request) (*http.Response, error) {
	op := t.kind.operation(r)
	var count *atomic.Int64
	if rc, _ := r.Context().Value(requestsKey{}).(*Requests); rc != nil {
		count = &rc.objects
		if t.kind.commitRequests {
			count = &rc.catalog
		}
	}
	tries := 1
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		tries += t.cfg.ReadRetries
	}
	for attempt := 0; ; attempt++ {
		if count != nil {
			count.Add(1)
		}
		resp, err := t.once(base, r, op)
		if attempt+1 >= tries || !retryable(resp, err) || r.Context().Err() != nil {
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if t.m.retries != nil {
			t.m.retries.WithLabelValues(op).Inc()
		}
		if err := (Backoff{t.cfg.RetryMin, t.cfg.RetryMax}).Wait(r.Context(), attempt); err != nil {
			return nil, err
		}
	}
}

// once sends one request under a slot and the request timeout. The slot and
// the timeout last until the response body is closed.
func (t *CatalogTransport) once(base http.RoundTripper, r *http.Request, op string) (*http.Response, error) {
	t.m.waiting.Inc()
	select {
	case t.slots <- struct{}{}:
		t.m.waiting.Dec()
	case <-r.Context().Done():
		t.m.waiting.Dec()
		return nil, r.Context().Err()
	}
	t.m.inFlight.Inc()
	ctx, cancel := context.WithTimeout(r.Context(), t.cfg.RequestTimeout)
	var once sync.Once
	release := func() {
		once.Do(func() {
			cancel()
			t.m.inFlight.Dec()
			<-t.slots
		})
	}
	req, sent := trackBody(r.WithContext(ctx))
	start := time.Now()
	resp, err := base.RoundTrip(req)
	status := "error"
	switch {
	case err == nil:
		status = strconv.Itoa(resp.StatusCode)
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		status = "timeout"
		err = fmt.Errorf("%s %s: no answer within %s.request-timeout (%s): %w", r.Method, r.URL.Redacted(), t.kind.limitsKey, t.cfg.RequestTimeout, err)
	}
	t.m.duration.WithLabelValues(op, status).Observe(time.Since(start).Seconds())
	if err != nil {
		sent.wait(ctx)
		release()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { sent.wait(ctx); release() }}
	return resp, nil
}

// sentBody follows a request body through the transport. net/http may still
// be writing a body after RoundTrip has returned (a server that answers 503
// before reading the upload), and the stores' SDKs rewind the same body for
// their next try as soon as they have the answer: two goroutines on one
// reader, and a retry that can send a shortened body. RoundTrip's contract is
// that a body is reusable once the transport has closed it, so floe waits for
// that close before it hands the response's end back.
type sentBody struct{ cur atomic.Pointer[closeSignal] }

type closeSignal struct {
	io.ReadCloser
	once   sync.Once
	closed chan struct{}
}

func (c *closeSignal) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

// trackBody returns r with its body (and any body GetBody makes for a
// transport-level resend) signalling its close.
func trackBody(r *http.Request) (*http.Request, *sentBody) {
	s := &sentBody{}
	if r.Body == nil || r.Body == http.NoBody {
		return r, s
	}
	r2 := *r
	r2.Body = s.track(r.Body)
	if get := r.GetBody; get != nil {
		r2.GetBody = func() (io.ReadCloser, error) {
			b, err := get()
			if err != nil || b == nil || b == http.NoBody {
				return b, err
			}
			return s.track(b), nil
		}
	}
	return &r2, s
}

func (s *sentBody) track(b io.ReadCloser) io.ReadCloser {
	c := &closeSignal{ReadCloser: b, closed: make(chan struct{})}
	s.cur.Store(c)
	return c
}

// wait waits until the transport has closed the body it sent last, or until
// ctx (the request's own timeout) ends. Once the response is read or closed,
// net/http ends an unfinished write within moments by closing the
// connection, so this is short.
func (s *sentBody) wait(ctx context.Context) {
	if c := s.cur.Load(); c != nil {
		select {
		case <-c.closed:
		case <-ctx.Done():
		}
	}
}

func retryable(resp *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Backoff is floe's one backoff, for catalog reads and commit attempts
// alike: full jitter, growing from Min to at most Max.
type Backoff struct{ Min, Max time.Duration }

// Wait waits a random time in (0, min(Max, Min·2^attempt)], or until ctx
// ends (returning its error).
func (b Backoff) Wait(ctx context.Context, attempt int) error {
	ceil := b.Min << min(attempt, 20)
	if ceil > b.Max || ceil <= 0 {
		ceil = b.Max
	}
	timer := time.NewTimer(time.Duration(rand.Int64N(int64(ceil)) + 1))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

type countedConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}

// Catalog operations, the values of the operation label.
var catalogOperations = []string{"config", "token", "load_table", "commit_table", "create_table", "namespace", "lock", "other"}

// glueOperations names the AWS Glue actions (X-Amz-Target: AWSGlue.<action>)
// floe's table operations make.
var glueOperations = map[string]string{
	"GetTable": "load_table", "UpdateTable": "commit_table", "CreateTable": "create_table",
	"GetDatabase": "namespace", "GetDatabases": "namespace", "CreateDatabase": "namespace",
}

var (
	restTablePath  = regexp.MustCompile(`/namespaces/[^/]+/tables/[^/]+/?$`)
	restTablesPath = regexp.MustCompile(`/namespaces/[^/]+/tables/?$`)
)

// catalogOperation names a REST catalog or AWS Glue request for metrics.
func catalogOperation(r *http.Request) string {
	if action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSGlue."); ok {
		if op, ok := glueOperations[action]; ok {
			return op
		}
		return "other"
	}
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/v1/config"):
		return "config"
	case strings.HasSuffix(p, "/oauth/tokens"):
		return "token"
	case restTablePath.MatchString(p) && r.Method == http.MethodGet:
		return "load_table"
	case restTablePath.MatchString(p) && r.Method == http.MethodPost:
		return "commit_table"
	case restTablesPath.MatchString(p) && r.Method == http.MethodPost:
		return "create_table"
	case strings.Contains(p, "/namespaces"):
		return "namespace"
	}
	return "other"
}
