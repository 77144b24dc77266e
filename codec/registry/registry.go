// Package registry is floe's Schema Registry client: the schemas that
// Confluent-framed records name by ID, fetched once per ID and cached for
// the life of the process (a registry never changes what an ID means), and
// subjects' latest schemas for creating tables. It speaks the Confluent API
// (Confluent Schema Registry, Apicurio's /apis/ccompat/v7, Redpanda, Karapace)
// through franz-go's pkg/sr, with floe's limits: a request timeout, a bound
// on requests in flight, and metrics.
//
// Errors say whose fault a failure is. ErrUnknownSchema (the registry
// answered that the ID or subject does not exist) is the record's: a bad
// record under the table's on-error. An *UnavailableError (no answer, a
// timeout, a 5xx, refused credentials) is the registry's: the caller pauses
// and retries, and never dead-letters a record because the registry was
// down.
package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/floe-dev/floe/internal/secretfile"
	"github.com/floe-dev/floe/internal/tlsfiles"
)

// Config is the schema-registry section.
type Config struct {
	// URLs of the registry (tried in turn); for Apicurio the ccompat
	// root, e.g. http://registry:8080/apis/ccompat/v7.
	URLs []string `koanf:"urls"`
	// Basic auth: Username with Password (FLOE_SCHEMA_REGISTRY__PASSWORD)
	// or PasswordFile. Confluent Cloud: the API key and secret.
	Username     string `koanf:"username"`
	Password     string `koanf:"password"`
	PasswordFile string `koanf:"password-file"`
	// Token is a bearer token (FLOE_SCHEMA_REGISTRY__TOKEN), or TokenFile.
	Token     string    `koanf:"token"`
	TokenFile string    `koanf:"token-file"`
	TLS       TLSConfig `koanf:"tls"`
	// Timeout bounds one request, retries included.
	Timeout time.Duration `koanf:"timeout"`
	// MaxInFlight bounds the requests this process has open at once.
	MaxInFlight int `koanf:"max-in-flight"`
}

// TLSConfig is schema-registry.tls: a private CA, a client certificate.
type TLSConfig struct {
	CAFile             string `koanf:"ca-file"`
	CertFile           string `koanf:"cert-file"`
	KeyFile            string `koanf:"key-file"`
	InsecureSkipVerify bool   `koanf:"insecure-skip-verify"`
}

// DefaultConfig has no URL (no registry) and floe's limits.
func DefaultConfig() Config {
	return Config{Timeout: 10 * time.Second, MaxInFlight: 4}
}

// Enabled reports whether a registry is configured.
func (c Config) Enabled() bool { return len(c.URLs) > 0 }

// Validate reports the first invalid field, relative to the section.
func (c Config) Validate() error {
	for _, u := range c.URLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("urls: %q is not an http(s) URL", u)
		}
	}
	switch {
	case c.Timeout <= 0:
		return fmt.Errorf("timeout: must be positive, got %s", c.Timeout)
	case c.MaxInFlight < 1:
		return fmt.Errorf("max-in-flight: must be at least 1, got %d", c.MaxInFlight)
	case c.Password != "" && c.PasswordFile != "":
		return errors.New("password-file: set the password or a password-file, not both")
	case (c.Password != "" || c.PasswordFile != "") && c.Username == "":
		return errors.New("username: a password needs a username")
	case c.Token != "" && c.TokenFile != "":
		return errors.New("token-file: set the token or a token-file, not both")
	case c.Username != "" && (c.Token != "" || c.TokenFile != ""):
		return errors.New("token: set basic auth (username) or a bearer token, not both")
	case (c.TLS.CertFile == "") != (c.TLS.KeyFile == ""):
		return errors.New("tls.cert-file and key-file: a client certificate needs both")
	}
	return nil
}

// ErrUnknownSchema is the registry answering that a schema ID or subject
// does not exist.
var ErrUnknownSchema = errors.New("unknown to the schema registry")

// UnavailableError is a registry that did not give an answer floe can use:
// unreachable, timed out, a server error, or refusing floe's credentials.
// Retry later.
type UnavailableError struct {
	What string // "schema 42", "subject orders-value"
	Err  error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("schema registry unavailable for %s: %v", e.What, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Client fetches schemas. Safe for concurrent use.
type Client struct {
	cl       *sr.Client
	timeout  time.Duration
	inFlight chan struct{}
	m        *metrics

	mu  sync.Mutex
	ids map[string]*entry // by schema ID or subject version; an entry is filled once
}

// entry is one ID's schema, fetched once: concurrent callers wait for the
// first fetch. A failed fetch is not kept (the next caller tries again),
// except a definite "unknown", which is.
type entry struct {
	done   chan struct{}
	schema sr.Schema
	err    error
}

// New returns a client of cfg's registry; files cfg names are read now.
func New(cfg Config, reg prometheus.Registerer) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("schema-registry.%w", err)
	}
	if !cfg.Enabled() {
		return nil, errors.New("schema-registry.urls: no registry configured")
	}
	opts := []sr.ClientOpt{sr.URLs(cfg.URLs...), sr.UserAgent("floe")}
	tc, err := cfg.TLS.clientConfig()
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tc
	transport.MaxConnsPerHost = cfg.MaxInFlight
	transport.DialContext = (&net.Dialer{Timeout: cfg.Timeout}).DialContext
	opts = append(opts, sr.HTTPClient(&http.Client{Transport: transport, Timeout: cfg.Timeout}))
	switch {
	case cfg.Username != "":
		pass, err := secretfile.Read(cfg.Password, cfg.PasswordFile, "schema-registry.password-file")
		if err != nil {
			return nil, err
		}
		opts = append(opts, sr.BasicAuth(cfg.Username, pass))
	case cfg.Token != "" || cfg.TokenFile != "":
		tok, err := secretfile.Read(cfg.Token, cfg.TokenFile, "schema-registry.token-file")
		if err != nil {
			return nil, err
		}
		opts = append(opts, sr.BearerToken(tok))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("schema-registry: %w", err)
	}
	return &Client{cl: cl, timeout: cfg.Timeout, inFlight: make(chan struct{}, cfg.MaxInFlight),
		m: newMetrics(reg), ids: map[string]*entry{}}, nil
}

func (t TLSConfig) clientConfig() (*tls.Config, error) {
	return tlsfiles.Client("schema-registry.tls", tlsfiles.Files{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		InsecureSkipVerify: t.InsecureSkipVerify})
}

// SchemaByID is the schema registered under id, from the cache after the
// first fetch. Errors: ErrUnknownSchema (wrapped, naming the ID), or an
// *UnavailableError.
func (c *Client) SchemaByID(ctx context.Context, id int) (sr.Schema, error) {
	what := fmt.Sprintf("schema %d", id)
	return c.cached(ctx, what, what, func(ctx context.Context) (sr.Schema, error) {
		var s sr.Schema
		err := c.do(ctx, "schema_by_id", func(ctx context.Context) (err error) {
			s, err = c.cl.SchemaByID(ctx, id)
			return err
		})
		return s, c.classify(err, what)
	})
}

// SchemaByVersion is version of subject (a schema reference's target),
// cached like SchemaByID: a registered version never changes.
func (c *Client) SchemaByVersion(ctx context.Context, subject string, version int) (sr.Schema, error) {
	what := fmt.Sprintf("subject %s version %d", subject, version)
	return c.cached(ctx, "version\x00"+subject+"\x00"+strconv.Itoa(version), what, func(ctx context.Context) (sr.Schema, error) {
		var s sr.SubjectSchema
		err := c.do(ctx, "schema_by_version", func(ctx context.Context) (err error) {
			s, err = c.cl.SchemaByVersion(ctx, subject, version)
			return err
		})
		return s.Schema, c.classify(err, what)
	})
}

// maxReferences bounds the schemas one schema may reference, transitively.
const maxReferences = 256

// References is the text of every schema s references, transitively, by
// reference name (the name its import or $ref uses). A reference the
// registry does not know is ErrUnknownSchema.
func (c *Client) References(ctx context.Context, s sr.Schema) (map[string]string, error) {
	if len(s.References) == 0 {
		return nil, nil
	}
	refs := map[string]string{}
	queue := append([]sr.SchemaReference(nil), s.References...)
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		if _, ok := refs[r.Name]; ok {
			continue
		}
		if len(refs) == maxReferences {
			return nil, fmt.Errorf("%w: more than %d schema references", ErrUnknownSchema, maxReferences)
		}
		rs, err := c.SchemaByVersion(ctx, r.Subject, r.Version)
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
		refs[r.Name] = rs.Schema
		queue = append(queue, rs.References...)
	}
	return refs, nil
}

// cached is key's schema, fetched once: concurrent callers wait for the
// first fetch; a failure other than ErrUnknownSchema is not kept.
func (c *Client) cached(ctx context.Context, key, what string, fetch func(context.Context) (sr.Schema, error)) (sr.Schema, error) {
	c.mu.Lock()
	e, ok := c.ids[key]
	if !ok {
		e = &entry{done: make(chan struct{})}
		c.ids[key] = e
		c.mu.Unlock()
		e.schema, e.err = fetch(ctx)
		if e.err != nil && !errors.Is(e.err, ErrUnknownSchema) {
			c.mu.Lock()
			delete(c.ids, key) // the next caller asks again
			c.mu.Unlock()
		}
		close(e.done)
		return e.schema, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
	case <-ctx.Done():
		return sr.Schema{}, &UnavailableError{What: what, Err: ctx.Err()}
	}
	if e.err == nil {
		c.m.cacheHits.Inc()
	}
	return e.schema, e.err
}

// Latest is subject's newest schema (not cached: a table is created from
// it once).
func (c *Client) Latest(ctx context.Context, subject string) (sr.SubjectSchema, error) {
	var s sr.SubjectSchema
	err := c.do(ctx, "latest", func(ctx context.Context) (err error) {
		s, err = c.cl.SchemaByVersion(ctx, subject, -1)
		return err
	})
	return s, c.classify(err, "subject "+subject)
}

// do runs one request within the in-flight bound and the timeout, and
// measures it.
func (c *Client) do(ctx context.Context, op string, fn func(context.Context) error) error {
	select {
	case c.inFlight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.inFlight }()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	outcome := "ok"
	var re *sr.ResponseError
	switch {
	case err == nil:
	case errors.As(err, &re) && re.StatusCode == http.StatusNotFound:
		outcome = "not_found"
	default:
		outcome = "error"
	}
	c.m.requests.WithLabelValues(op, outcome).Inc()
	c.m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	return err
}

// classify sorts a request's error into ErrUnknownSchema (the registry
// answered 404) and *UnavailableError (everything else).
func (c *Client) classify(err error, what string) error {
	if err == nil {
		return nil
	}
	var re *sr.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: %w (%s)", what, ErrUnknownSchema, strings.TrimSpace(re.Error()))
	}
	return &UnavailableError{What: what, Err: err}
}

type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	cacheHits prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "floe_schema_registry_requests_total", Help: "Schema Registry requests, by operation (schema_by_id, schema_by_version, latest) and outcome (ok, not_found, error).",
		}, []string{"operation", "outcome"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "floe_schema_registry_request_duration_seconds", Help: "Schema Registry request latency, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"operation"}),
		cacheHits: f.NewCounter(prometheus.CounterOpts{
			Name: "floe_schema_registry_cache_hits_total", Help: "Schema lookups by ID or subject version answered from floe's cache.",
		}),
	}
	for _, op := range []string{"schema_by_id", "schema_by_version", "latest"} {
		for _, o := range []string{"ok", "not_found", "error"} {
			m.requests.WithLabelValues(op, o)
		}
	}
	return m
}
