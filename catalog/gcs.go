package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/io/gocloud/blobfs"
	"github.com/googleapis/gax-go/v2"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/option"
)

// GCSConfig configures the gs:// object store. Credentials, in this order:
// no-auth (an emulator), credentials-json, credentials-file, else Google's
// Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
// login, the metadata server of GCE/GKE). A token a REST catalog vends for a
// table (gcs.oauth2.token) wins over all but no-auth.
type GCSConfig struct {
	// Endpoint overrides the JSON API endpoint, for an emulator
	// ("http://127.0.0.1:4443"; "/storage/v1/" is added when the URL has
	// no path). Objects are then read through the JSON API too.
	Endpoint string `koanf:"endpoint"`
	// CredentialsFile is a JSON key file: a service account key or another
	// Google credential (authorized_user, external_account,
	// impersonated_service_account).
	CredentialsFile string `koanf:"credentials-file"`
	// CredentialsJSON is the content of such a file (a secret: set it from
	// FLOE_CATALOG__GCS__CREDENTIALS_JSON).
	CredentialsJSON string `koanf:"credentials-json"`
	// NoAuth sends requests without credentials (emulators, public buckets).
	NoAuth bool `koanf:"no-auth"`
	// HTTP bounds floe's GCS client like catalog.s3.http bounds the S3 one.
	HTTP ObjectStoreHTTPConfig `koanf:"http"`
}

// Validate reports the first invalid field, named by its config key.
func (c GCSConfig) Validate() error {
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("catalog.gcs.endpoint: must be an http:// or https:// URL, got %q", c.Endpoint)
		}
	}
	if c.CredentialsFile != "" && c.CredentialsJSON != "" {
		return errors.New("catalog.gcs: set credentials-file or credentials-json, not both")
	}
	if c.NoAuth && (c.CredentialsFile != "" || c.CredentialsJSON != "") {
		return errors.New("catalog.gcs.no-auth: cannot be true with credentials-file or credentials-json")
	}
	if err := c.HTTP.Validate(); err != nil {
		return fmt.Errorf("catalog.gcs.http.%w", err)
	}
	return nil
}

// gcsProperties maps floe's GCS settings to iceberg-go file IO properties,
// which floe's gs:// opener reads (gcsFileIO) and which reach it whichever
// way a table is loaded.
func gcsProperties(c GCSConfig) iceberg.Properties {
	props := iceberg.Properties{}
	if c.Endpoint != "" {
		props[icebergio.GCSEndpoint] = gcsEndpoint(c.Endpoint)
		props[icebergio.GCSUseJSONAPI] = "true"
	}
	if c.CredentialsFile != "" {
		props[icebergio.GCSKeyPath] = c.CredentialsFile
	}
	if c.CredentialsJSON != "" {
		props[icebergio.GCSJSONKey] = c.CredentialsJSON
	}
	if c.NoAuth {
		props[icebergio.GCSNoAuth] = "true"
	}
	return props
}

// gcsEndpoint adds the JSON API's path to an endpoint given as a bare host:
// the storage client needs it (without it writes work and reads fail).
func gcsEndpoint(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return endpoint
	}
	return strings.TrimSuffix(endpoint, "/") + "/storage/v1/"
}

// gcsScope is the OAuth2 scope floe asks for: it reads, writes and deletes
// objects, nothing more.
const gcsScope = "https://www.googleapis.com/auth/devstorage.read_write"

// gcsCredentialTypes are the JSON key types floe accepts.
var gcsCredentialTypes = []google.CredentialsType{
	google.ServiceAccount, google.AuthorizedUser, google.ImpersonatedServiceAccount, google.ExternalAccount,
}

// gcsCredentials resolves the credentials props name; nil means no
// credentials (no-auth).
func gcsCredentials(ctx context.Context, props map[string]string) (*google.Credentials, error) {
	if noAuth, _ := strconv.ParseBool(props[icebergio.GCSNoAuth]); noAuth {
		return nil, nil
	}
	if tok := props[icebergio.GCSOAuthToken]; tok != "" {
		t := &oauth2.Token{AccessToken: tok}
		if ms, err := strconv.ParseInt(props[icebergio.GCSOAuthExpiresAt], 10, 64); err == nil {
			t.Expiry = time.UnixMilli(ms)
		}
		return &google.Credentials{TokenSource: oauth2.StaticTokenSource(t)}, nil
	}
	if key := props[icebergio.GCSJSONKey]; key != "" {
		return gcsKeyCredentials(ctx, []byte(key), "catalog.gcs.credentials-json")
	}
	if path := props[icebergio.GCSKeyPath]; path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("catalog.gcs.credentials-file: %w", err)
		}
		return gcsKeyCredentials(ctx, data, "catalog.gcs.credentials-file "+path)
	}
	creds, err := google.FindDefaultCredentials(ctx, gcsScope)
	if err != nil {
		return nil, fmt.Errorf("catalog.gcs: no credentials (set credentials-file, or no-auth for an emulator): %w", err)
	}
	return creds, nil
}

// cachedGCSCredentials is gcsCredentials, kept in s for the process's life
// for a key or Application Default Credentials: iceberg-go opens a file IO
// for every table operation, and fresh credentials would fetch a fresh
// token each time (a token endpoint or metadata server call per commit).
// A key file is thus read once; a rotated key needs a restart. No-auth and
// vended tokens cost nothing to build and are not kept.
func (s *ObjectStore) cachedGCSCredentials(ctx context.Context, props map[string]string) (*google.Credentials, error) {
	noAuth, _ := strconv.ParseBool(props[icebergio.GCSNoAuth])
	if noAuth || props[icebergio.GCSOAuthToken] != "" {
		return gcsCredentials(ctx, props)
	}
	key := "file\x00" + props[icebergio.GCSKeyPath] + "\x00json\x00" + props[icebergio.GCSJSONKey]
	if c, ok := s.gcsCreds.Load(key); ok {
		return c.(*google.Credentials), nil
	}
	// Not under a lock: two first opens at once both build credentials,
	// and one is kept.
	creds, err := gcsCredentials(context.WithoutCancel(ctx), props)
	if err != nil {
		return nil, err
	}
	c, _ := s.gcsCreds.LoadOrStore(key, creds)
	return c.(*google.Credentials), nil
}

// gcsKeyCredentials parses a JSON key of one of gcsCredentialTypes.
func gcsKeyCredentials(ctx context.Context, data []byte, what string) (*google.Credentials, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s: not a JSON key: %w", what, err)
	}
	typ := google.CredentialsType(head.Type)
	if !slices.Contains(gcsCredentialTypes, typ) {
		return nil, fmt.Errorf("%s: key type %q is not one of service_account, authorized_user, impersonated_service_account, external_account", what, head.Type)
	}
	creds, err := google.CredentialsFromJSONWithType(ctx, data, typ, gcsScope)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return creds, nil
}

// gcsFileIO opens a gs:// bucket for iceberg-go through floe's GCS client:
// the limited, measured transport of the ObjectStore in ctx (a default one
// without metrics if there is none) under the credentials props name.
// iceberg-go's own opener builds a client from Google's default transport
// with no way to replace it.
func gcsFileIO(ctx context.Context, u *url.URL, props map[string]string) (icebergio.IO, error) {
	s := storeFrom(ctx)
	creds, err := s.cachedGCSCredentials(ctx, props)
	if err != nil {
		return nil, err
	}
	var client *gcp.HTTPClient
	if creds == nil {
		client = gcp.NewAnonymousHTTPClient(s.gcs)
	} else if client, err = gcp.NewHTTPClient(s.gcs, gcp.CredentialsTokenSource(creds)); err != nil {
		return nil, fmt.Errorf("catalog.gcs: %w", err)
	}
	var opts []option.ClientOption
	if ep := props[icebergio.GCSEndpoint]; ep != "" {
		opts = append(opts, option.WithEndpoint(ep))
	}
	if jsonReads, _ := strconv.ParseBool(props[icebergio.GCSUseJSONAPI]); jsonReads {
		opts = append(opts, storage.WithJSONReads())
	}
	bucket, err := gcsblob.OpenBucket(ctx, client, u.Host, &gcsblob.Options{ClientOptions: opts})
	if err != nil {
		return nil, fmt.Errorf("open gs://%s: %w", u.Host, err)
	}
	var sc *storage.Client
	if bucket.As(&sc) {
		// Every request may be retried: floe writes each file under a new
		// name, so a repeated upload cannot leave a second copy behind.
		sc.SetRetry(storage.WithPolicy(storage.RetryAlways), storage.WithMaxAttempts(s.gcsHTTP.MaxAttempts),
			storage.WithBackoff(gax.Backoff{Initial: min(100*time.Millisecond, s.gcsHTTP.RetryMax), Max: s.gcsHTTP.RetryMax, Multiplier: 2}))
	}
	return blobfs.New(ctx, bucket, blobfs.DefaultObjectLocationExtractor(u.Host, "gs")), nil
}

// gcsOperation names a GCS request (JSON or XML API) for metrics.
func gcsOperation(r *http.Request) string {
	q := r.URL.Query()
	p := r.URL.Path
	upload := strings.HasPrefix(p, "/upload/")
	switch r.Method {
	case http.MethodGet:
		switch {
		case strings.HasSuffix(p, "/o") || q.Has("prefix") || q.Has("delimiter") || q.Has("list-type"):
			return "list"
		case strings.Contains(p, "/storage/v1/") && q.Get("alt") != "media":
			return "head" // object metadata
		}
		return "get"
	case http.MethodHead:
		return "head"
	case http.MethodPost:
		switch {
		case upload && q.Get("uploadType") == "resumable":
			return "multipart"
		case upload:
			return "put"
		case strings.HasSuffix(p, "/batch/storage/v1"):
			return "delete"
		}
	case http.MethodPut:
		if q.Has("upload_id") {
			return "upload_part"
		}
		return "put"
	case http.MethodDelete:
		if q.Has("upload_id") {
			return "multipart"
		}
		return "delete"
	}
	return "other"
}
