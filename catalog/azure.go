package catalog

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/io/gocloud/blobfs"
	"gocloud.dev/blob/azureblob"
)

// AzureConfig configures the Azure Blob Storage object store: locations
// abfs[s]://<container>@<account>.dfs.core.windows.net/<path> and
// wasb[s]://<container>@<account>.blob.core.windows.net/<path>. Set at most
// one of connection-string, account-key and sas-token; with none,
// DefaultAzureCredential (environment, workload identity, managed identity,
// Azure CLI) signs requests. A SAS token a REST catalog vends for a table
// (adls.sas-token.<host>) is used when none is set here.
type AzureConfig struct {
	// ConnectionString is the storage account's connection string (a
	// secret); its AccountName must be the account of the locations.
	ConnectionString string `koanf:"connection-string"`
	// AccountKey is the account's shared key, base64 (a secret); the account
	// is the one the location names.
	AccountKey string `koanf:"account-key"`
	// SASToken is a shared access signature (a secret), with or without
	// its leading "?".
	SASToken string `koanf:"sas-token"`
	// Endpoint overrides the blob service URL of the account
	// (https://<account>.blob.core.windows.net), e.g.
	// http://127.0.0.1:10000/devstoreaccount1 for Azurite. Not used with a
	// connection string (its BlobEndpoint says where).
	Endpoint string `koanf:"endpoint"`
	// HTTP bounds floe's Azure client like catalog.s3.http bounds the S3 one.
	HTTP ObjectStoreHTTPConfig `koanf:"http"`
}

// Validate reports the first invalid field, named by its config key.
func (c AzureConfig) Validate() error {
	n := 0
	for _, s := range []string{c.ConnectionString, c.AccountKey, c.SASToken} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("catalog.azure: set one of connection-string, account-key and sas-token, not several")
	}
	if c.ConnectionString != "" {
		kv := connectionStringValues(c.ConnectionString)
		if kv["AccountName"] == "" && kv["BlobEndpoint"] == "" {
			return errors.New("catalog.azure.connection-string: needs AccountName or BlobEndpoint (key=value pairs separated by ';')")
		}
	}
	if c.AccountKey != "" {
		if _, err := base64.StdEncoding.DecodeString(c.AccountKey); err != nil {
			return errors.New("catalog.azure.account-key: must be the base64 key of the storage account")
		}
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("catalog.azure.endpoint: must be an http:// or https:// URL, got %q", c.Endpoint)
		}
	}
	if err := c.HTTP.Validate(); err != nil {
		return fmt.Errorf("catalog.azure.http.%w", err)
	}
	return nil
}

// File IO properties of floe's Azure opener (azureFileIO) for what
// iceberg-go has no key of its own.
const (
	azureConnectionString = "floe.adls.connection-string"
	azureAccountKey       = "floe.adls.account-key"
	azureSASToken         = "floe.adls.sas-token"
	azureEndpoint         = "floe.adls.endpoint"
)

// azureProperties maps floe's Azure settings to file IO properties.
func azureProperties(c AzureConfig) iceberg.Properties {
	props := iceberg.Properties{}
	set := func(key, v string) {
		if v != "" {
			props[key] = v
		}
	}
	set(azureConnectionString, c.ConnectionString)
	set(azureAccountKey, c.AccountKey)
	set(azureSASToken, strings.TrimPrefix(c.SASToken, "?"))
	set(azureEndpoint, strings.TrimSuffix(c.Endpoint, "/"))
	return props
}

// connectionStringValues splits "k1=v1;k2=v2" (values may hold '=').
func connectionStringValues(s string) map[string]string {
	kv := map[string]string{}
	for part := range strings.SplitSeq(s, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// azureLocation is what a location's authority names.
type azureLocation struct {
	container, account, host string
}

func parseAzureLocation(u *url.URL) (azureLocation, error) {
	loc := azureLocation{host: u.Hostname()}
	if u.User != nil {
		loc.container = u.User.Username()
	}
	loc.account, _, _ = strings.Cut(loc.host, ".")
	if loc.container == "" || loc.account == "" {
		return loc, fmt.Errorf("location %s: want %s://<container>@<account>.dfs.core.windows.net/<path>", u.Redacted(), u.Scheme)
	}
	return loc, nil
}

// blobServiceURL is the account's blob endpoint: endpoint if set, else
// derived from the location's host (dfs. → blob., other clouds' domains
// kept).
func (l azureLocation) blobServiceURL(endpoint string) string {
	if endpoint != "" {
		return endpoint
	}
	_, domain, _ := strings.Cut(l.host, ".")
	domain = strings.TrimPrefix(strings.TrimPrefix(domain, "dfs."), "blob.")
	if domain == "" {
		domain = "core.windows.net"
	}
	return "https://" + l.account + ".blob." + domain
}

// azureContainer builds the container client for loc from the credentials
// props name.
func azureContainer(s *ObjectStore, loc azureLocation, props map[string]string, opts *container.ClientOptions) (*container.Client, error) {
	containerURL := loc.blobServiceURL(props[azureEndpoint]) + "/" + url.PathEscape(loc.container)
	connStr := props[azureConnectionString]
	if connStr == "" {
		connStr = props[icebergio.ADLSConnectionStringPrefix+loc.account]
	}
	sas := props[azureSASToken]
	if sas == "" {
		sas = props[icebergio.ADLSSasTokenPrefix+loc.host]
	}
	if sas == "" {
		sas = props[icebergio.ADLSSasTokenPrefix+loc.account]
	}
	switch {
	case connStr != "":
		if name := connectionStringValues(connStr)["AccountName"]; name != "" && name != loc.account {
			return nil, fmt.Errorf("catalog.azure.connection-string: is for account %q, the location names account %q", name, loc.account)
		}
		c, err := container.NewClientFromConnectionString(connStr, loc.container, opts)
		if err != nil {
			return nil, fmt.Errorf("catalog.azure.connection-string: %w", err)
		}
		return c, nil
	case props[azureAccountKey] != "":
		cred, err := container.NewSharedKeyCredential(loc.account, props[azureAccountKey])
		if err != nil {
			return nil, fmt.Errorf("catalog.azure.account-key: %w", err)
		}
		return container.NewClientWithSharedKeyCredential(containerURL, cred, opts)
	case sas != "":
		return container.NewClientWithNoCredential(containerURL+"?"+strings.TrimPrefix(sas, "?"), opts)
	}
	cred, err := s.azureDefaultCredential()
	if err != nil {
		return nil, fmt.Errorf("catalog.azure: no credentials (set connection-string, account-key or sas-token, or configure DefaultAzureCredential): %w", err)
	}
	return container.NewClient(containerURL, cred, opts)
}

// azureDefaultCredential is the DefaultAzureCredential of s, made once: it
// caches its tokens, and iceberg-go opens a file IO for every table
// operation.
func (s *ObjectStore) azureDefaultCredential() (azcore.TokenCredential, error) {
	s.azureCredOnce.Do(func() {
		s.azureCred, s.azureCredErr = azidentity.NewDefaultAzureCredential(nil)
	})
	return s.azureCred, s.azureCredErr
}

// azureFileIO opens an Azure container for iceberg-go through floe's Azure
// client: the limited, measured transport of the ObjectStore in ctx (a
// default one without metrics if there is none), with its retry settings.
func azureFileIO(ctx context.Context, u *url.URL, props map[string]string) (icebergio.IO, error) {
	loc, err := parseAzureLocation(u)
	if err != nil {
		return nil, err
	}
	s := storeFrom(ctx)
	retries := int32(s.azureHTTP.MaxAttempts - 1)
	if retries == 0 {
		retries = -1 // 0 would mean the SDK's default of 3
	}
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: &http.Client{Transport: s.azure},
		// Every request may be retried: floe writes each file under a new
		// name, so a repeated upload cannot leave a second copy behind.
		Retry: policy.RetryOptions{MaxRetries: retries, RetryDelay: min(100*time.Millisecond, s.azureHTTP.RetryMax),
			MaxRetryDelay: s.azureHTTP.RetryMax},
	}}
	client, err := azureContainer(s, loc, props, opts)
	if err != nil {
		return nil, err
	}
	bucket, err := azureblob.OpenBucket(ctx, client, nil)
	if err != nil {
		return nil, fmt.Errorf("open %s://%s@%s: %w", u.Scheme, loc.container, loc.host, err)
	}
	authority := loc.container + "@" + u.Host
	return blobfs.New(ctx, bucket, blobfs.DefaultObjectLocationExtractor(authority, azureSchemes...)), nil
}

// azureSchemes are the schemes of Azure locations.
var azureSchemes = []string{"abfs", "abfss", "wasb", "wasbs"}

// azureOperation names an Azure Blob request for metrics.
func azureOperation(r *http.Request) string {
	q := r.URL.Query()
	comp := q.Get("comp")
	switch r.Method {
	case http.MethodGet:
		if comp == "list" {
			return "list"
		}
		if comp == "" {
			return "get"
		}
	case http.MethodHead:
		return "head"
	case http.MethodPut:
		switch {
		case comp == "block":
			return "upload_part"
		case comp == "blocklist":
			return "multipart"
		case comp == "" && !q.Has("restype"):
			return "put"
		}
	case http.MethodDelete:
		if !q.Has("restype") {
			return "delete"
		}
	}
	return "other"
}
