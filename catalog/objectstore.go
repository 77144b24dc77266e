package catalog

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/prometheus/client_golang/prometheus"
)

// ObjectStoreHTTPConfig bounds floe's S3 client: connections, requests in
// flight, timeouts and retries. A zero field means its default.
//
// Retries are the AWS SDK's (its standard retryer: throttling, 5xx and
// network errors, exponential backoff with full jitter), for every request:
// floe writes each data file under a new name in one PUT or one multipart
// upload, so a repeated request cannot leave a second copy behind.
type ObjectStoreHTTPConfig struct {
	MaxConnsPerHost int           `koanf:"max-conns-per-host"`
	MaxIdleConns    int           `koanf:"max-idle-conns"`
	IdleTimeout     time.Duration `koanf:"idle-timeout"`
	ConnectTimeout  time.Duration `koanf:"connect-timeout"`
	// RequestTimeout bounds one whole request, the upload of an object or
	// of a multipart part included: size it for target-file-size (or the
	// part size) at the slowest expected bandwidth.
	RequestTimeout time.Duration `koanf:"request-timeout"`
	MaxInFlight    int           `koanf:"max-in-flight"`
	// MaxAttempts is how often one request is sent at most (1: no retry).
	MaxAttempts int           `koanf:"max-attempts"`
	RetryMax    time.Duration `koanf:"retry-max"`
}

// DefaultObjectStoreHTTPConfig returns the S3 client defaults. iceberg-go's
// own client allows 2,048 connections per host and no request timeout.
func DefaultObjectStoreHTTPConfig() ObjectStoreHTTPConfig {
	return ObjectStoreHTTPConfig{
		MaxConnsPerHost: 16, MaxIdleConns: 16, IdleTimeout: 90 * time.Second,
		ConnectTimeout: 10 * time.Second, RequestTimeout: 5 * time.Minute, MaxInFlight: 16,
		MaxAttempts: 3, RetryMax: 5 * time.Second,
	}
}

// Validate reports the first invalid field, relative to catalog.s3.http.
// Zero means the default; only negative values are wrong.
func (c ObjectStoreHTTPConfig) Validate() error {
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"max-conns-per-host", int64(c.MaxConnsPerHost)},
		{"max-idle-conns", int64(c.MaxIdleConns)},
		{"idle-timeout", int64(c.IdleTimeout)},
		{"connect-timeout", int64(c.ConnectTimeout)},
		{"request-timeout", int64(c.RequestTimeout)},
		{"max-in-flight", int64(c.MaxInFlight)},
		{"max-attempts", int64(c.MaxAttempts)},
		{"retry-max", int64(c.RetryMax)},
	} {
		if f.v < 0 {
			return fmt.Errorf("%s: must be >= 0 (0: the default), got %d", f.key, f.v)
		}
	}
	if c.MaxIdleConns > 0 && c.MaxConnsPerHost > 0 && c.MaxIdleConns > c.MaxConnsPerHost {
		return fmt.Errorf("max-idle-conns: must be at most max-conns-per-host (%d), got %d", c.MaxConnsPerHost, c.MaxIdleConns)
	}
	return nil
}

func (c ObjectStoreHTTPConfig) withDefaults() ObjectStoreHTTPConfig {
	d := DefaultObjectStoreHTTPConfig()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&c.MaxConnsPerHost, d.MaxConnsPerHost)
	set(&c.MaxIdleConns, min(d.MaxIdleConns, c.MaxConnsPerHost))
	set(&c.MaxInFlight, d.MaxInFlight)
	set(&c.MaxAttempts, d.MaxAttempts)
	setD(&c.IdleTimeout, d.IdleTimeout)
	setD(&c.ConnectTimeout, d.ConnectTimeout)
	setD(&c.RequestTimeout, d.RequestTimeout)
	setD(&c.RetryMax, d.RetryMax)
	return c
}

// ObjectStore is floe's S3 client configuration for iceberg-go: an AWS
// configuration whose HTTP client is a limited transport with metrics and
// whose retryer follows catalog.s3.http.
//
// iceberg-go builds a new S3 client every time it opens a table's file IO,
// from the AWS configuration in the context of that call if there is one
// (utils.WithAwsConfig), else from scratch with an HTTP client of its own (a
// fresh connection pool of up to 2,048 connections per host, no timeout).
// Context puts floe's configuration there, so every client shares one pool
// and one set of limits. iceberg-go still applies catalog.s3's region, keys
// and endpoint on top; its s3.connect-timeout and s3.proxy-uri properties
// are not read then (use connect-timeout here, HTTPS_PROXY for a proxy).
type ObjectStore struct {
	aws       *aws.Config
	transport *CatalogTransport
}

// NewObjectStore builds the S3 client configuration for c. The AWS SDK's
// default sources (environment, shared config files, instance roles) supply
// what c leaves out, as they do for iceberg-go's own client. Metrics are
// registered on reg (nil: not registered).
func NewObjectStore(ctx context.Context, c S3Config, reg prometheus.Registerer) (*ObjectStore, error) {
	h := c.HTTP.withDefaults()
	tr := newTransport(HTTPConfig{
		MaxConnsPerHost: h.MaxConnsPerHost, MaxIdleConns: h.MaxIdleConns, IdleTimeout: h.IdleTimeout,
		RequestTimeout: h.RequestTimeout, MaxInFlight: h.MaxInFlight,
	}, objectStoreKind(h.ConnectTimeout), reg)
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = h.MaxAttempts
				o.MaxBackoff = h.RetryMax
			})
		}),
	}
	if c.Region != "" {
		opts = append(opts, awsconfig.WithRegion(c.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("catalog.s3: load the AWS configuration: %w", err)
	}
	// The SDK refuses a custom CA bundle (AWS_CA_BUNDLE, ca_bundle) for a
	// client it cannot reconfigure, so it loads with its own client, and
	// floe's transport takes over that client's TLS settings.
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		if tlsCfg := bc.GetTransport().TLSClientConfig; tlsCfg != nil {
			tr.base.TLSClientConfig = tlsCfg.Clone()
		}
	}
	cfg.HTTPClient = &http.Client{Transport: tr}
	return &ObjectStore{aws: &cfg, transport: tr}, nil
}

// Context returns ctx carrying floe's S3 client configuration: iceberg-go
// file IO opened under it (writing data files, reading manifests, deleting
// orphans) uses floe's limited client.
// A nil *ObjectStore returns ctx as it is.
func (s *ObjectStore) Context(ctx context.Context) context.Context {
	if s == nil {
		return ctx
	}
	return utils.WithAwsConfig(ctx, s.aws)
}

// Close drops idle connections.
func (s *ObjectStore) Close() {
	if s != nil {
		s.transport.CloseIdleConnections()
	}
}

func objectStoreKind(dial time.Duration) transportKind {
	return transportKind{
		subsystem: "objectstore", service: "the object store", limitsKey: "catalog.s3.http",
		operations: objectStoreOperations, operation: objectStoreOperation, dialTimeout: dial,
	}
}

// Object store operations, the values of the operation label.
var objectStoreOperations = []string{"get", "head", "put", "upload_part", "multipart", "list", "delete", "other"}

// objectStoreOperation names an S3 request for metrics.
func objectStoreOperation(r *http.Request) string {
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		if q.Has("list-type") || q.Has("prefix") || q.Has("delimiter") {
			return "list"
		}
		return "get"
	case http.MethodHead:
		return "head"
	case http.MethodPut:
		if q.Has("partNumber") {
			return "upload_part"
		}
		return "put"
	case http.MethodPost:
		switch {
		case q.Has("delete"):
			return "delete"
		case q.Has("uploads") || q.Has("uploadId"):
			return "multipart"
		}
	case http.MethodDelete:
		if q.Has("uploadId") {
			return "multipart"
		}
		return "delete"
	}
	return "other"
}
