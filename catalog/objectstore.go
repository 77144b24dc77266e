package catalog

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/prometheus/client_golang/prometheus"
)

// ObjectStoreHTTPConfig bounds floe's S3, GCS or Azure client: connections, requests in
// flight, timeouts and retries. A zero field means its default.
//
// Retries are the cloud SDK's (for S3 the AWS SDK's standard retryer:
// throttling, 5xx and network errors, exponential backoff with full jitter;
// the GCS and Azure SDKs' retry policies alike), for every request:
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

// ObjectStore is floe's object-store clients for iceberg-go: S3, GCS and
// Azure, each over a limited transport with metrics (the floe_objectstore_
// metrics, shared by the three) and with retries that follow its
// catalog.<store>.http section.
//
// iceberg-go builds a new S3 client every time it opens a table's file IO,
// from the AWS configuration in the context of that call if there is one
// (utils.WithAwsConfig), else from scratch with an HTTP client of its own (a
// fresh connection pool of up to 2,048 connections per host, no timeout).
// Context puts floe's configuration there, so every client shares one pool
// and one set of limits. iceberg-go still applies catalog.s3's region, keys
// and endpoint on top; its s3.connect-timeout and s3.proxy-uri properties
// are not read then (use connect-timeout here, HTTPS_PROXY for a proxy).
//
// For gs:// and Azure locations iceberg-go has no such hook, so floe
// registers its own openers for those schemes (gcsFileIO, azureFileIO):
// they take the transport of the ObjectStore in the context of the call
// (without one, a transport with the default limits and no metrics) and the
// credentials from the file IO properties (catalog.gcs, catalog.azure, or
// what a REST catalog vends).
type ObjectStore struct {
	aws       *aws.Config
	transport *CatalogTransport // S3's

	gcs, azure         *CatalogTransport
	gcsHTTP, azureHTTP ObjectStoreHTTPConfig // with defaults filled in

	gcsCreds      sync.Map // cachedGCSCredentials
	azureCredOnce sync.Once
	azureCred     azcore.TokenCredential
	azureCredErr  error
}

// NewObjectStore builds the object-store clients with c's S3 settings and
// the default GCS and Azure ones; see NewObjectStoreFor.
func NewObjectStore(ctx context.Context, c S3Config, reg prometheus.Registerer) (*ObjectStore, error) {
	return NewObjectStoreFor(ctx, Config{S3: c}, reg)
}

// NewObjectStoreFor builds the object-store clients cfg describes
// (catalog.s3, catalog.gcs, catalog.azure). The AWS SDK's default sources
// (environment, shared config files, instance roles) supply what catalog.s3
// leaves out, as they do for iceberg-go's own client. A GCS key file or key
// is read now, so a bad one stops the start. Metrics are registered on reg
// (nil: not registered).
func NewObjectStoreFor(ctx context.Context, cfg Config, reg prometheus.Registerer) (*ObjectStore, error) {
	c := cfg.S3
	h := c.HTTP.withDefaults()
	tr := newObjectTransport(h, "catalog.s3.http", objectStoreOperation, reg)
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
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("catalog.s3: load the AWS configuration: %w", err)
	}
	// The SDK refuses a custom CA bundle (AWS_CA_BUNDLE, ca_bundle) for a
	// client it cannot reconfigure, so it loads with its own client, and
	// floe's transport takes over that client's TLS settings.
	if bc, ok := awsCfg.HTTPClient.(*awshttp.BuildableClient); ok {
		if tlsCfg := bc.GetTransport().TLSClientConfig; tlsCfg != nil {
			tr.base.TLSClientConfig = tlsCfg.Clone()
		}
	}
	awsCfg.HTTPClient = &http.Client{Transport: tr}
	if cfg.GCS.CredentialsFile != "" || cfg.GCS.CredentialsJSON != "" {
		if _, err := gcsCredentials(ctx, gcsProperties(cfg.GCS)); err != nil {
			return nil, err
		}
	}
	s := &ObjectStore{aws: &awsCfg, transport: tr,
		gcsHTTP: cfg.GCS.HTTP.withDefaults(), azureHTTP: cfg.Azure.HTTP.withDefaults()}
	s.gcs = newObjectTransport(s.gcsHTTP, "catalog.gcs.http", gcsOperation, reg)
	s.azure = newObjectTransport(s.azureHTTP, "catalog.azure.http", azureOperation, reg)
	return s, nil
}

type storeKey struct{}

// Context returns ctx carrying floe's object-store clients: iceberg-go file
// IO opened under it (writing data files, reading manifests, deleting
// orphans) uses floe's limited clients.
// A nil *ObjectStore returns ctx as it is.
func (s *ObjectStore) Context(ctx context.Context) context.Context {
	if s == nil {
		return ctx
	}
	return context.WithValue(utils.WithAwsConfig(ctx, s.aws), storeKey{}, s)
}

// Close drops idle connections.
func (s *ObjectStore) Close() {
	if s != nil {
		s.transport.CloseIdleConnections()
		s.gcs.CloseIdleConnections()
		s.azure.CloseIdleConnections()
	}
}

// defaultStore serves file IO opened without an ObjectStore in its context
// (commands that only read a table's metadata): default limits, no
// metrics.
var defaultStore = sync.OnceValue(func() *ObjectStore {
	s := &ObjectStore{gcsHTTP: DefaultObjectStoreHTTPConfig(), azureHTTP: DefaultObjectStoreHTTPConfig()}
	s.gcs = newObjectTransport(s.gcsHTTP, "catalog.gcs.http", gcsOperation, nil)
	s.azure = newObjectTransport(s.azureHTTP, "catalog.azure.http", azureOperation, nil)
	return s
})

// storeFrom is the ObjectStore ctx carries, or the default one.
func storeFrom(ctx context.Context) *ObjectStore {
	if s, ok := ctx.Value(storeKey{}).(*ObjectStore); ok && s.gcs != nil {
		return s
	}
	return defaultStore()
}

func init() {
	// Replace iceberg-go's openers for these schemes, should a package
	// linked in have registered them (their init runs before this one).
	for _, scheme := range []string{"gs"} {
		icebergio.Unregister(scheme)
		icebergio.Register(scheme, gcsFileIO)
	}
	for _, scheme := range azureSchemes {
		icebergio.Unregister(scheme)
		icebergio.Register(scheme, azureFileIO)
	}
}

// newObjectTransport is the transport of one object store, limited by h
// (limitsKey names its config section).
func newObjectTransport(h ObjectStoreHTTPConfig, limitsKey string, op func(*http.Request) string, reg prometheus.Registerer) *CatalogTransport {
	return newTransport(HTTPConfig{
		MaxConnsPerHost: h.MaxConnsPerHost, MaxIdleConns: h.MaxIdleConns, IdleTimeout: h.IdleTimeout,
		RequestTimeout: h.RequestTimeout, MaxInFlight: h.MaxInFlight,
	}, transportKind{
		subsystem: "objectstore", service: "the object store", limitsKey: limitsKey,
		helpLimits: "catalog.{s3,gcs,azure}.http",
		operations: objectStoreOperations, operation: op, dialTimeout: h.ConnectTimeout,
	}, reg)
}

// Object store operations, the values of the operation label (S3's, GCS's
// and Azure's requests alike).
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
