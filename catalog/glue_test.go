package catalog

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/internal/promtest"
)

// noAWSEnvironment keeps the machine's AWS settings out of a test.
func noAWSEnvironment(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent/floe-test")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/floe-test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func glueConfig(endpoint string) Config {
	cfg := DefaultConfig()
	cfg.Type, cfg.Warehouse = "glue", "s3://bucket/w"
	cfg.Glue = GlueConfig{Region: "eu-west-1", Endpoint: endpoint, AccessKeyID: "AKIA", SecretAccessKey: "secret"}
	cfg.S3.Endpoint = "http://127.0.0.1:1"
	cfg.HTTP.RetryMin, cfg.HTTP.RetryMax = time.Millisecond, 5*time.Millisecond
	return cfg
}

func TestGlueNeedsRegion(t *testing.T) {
	noAWSEnvironment(t)
	cfg := glueConfig("http://127.0.0.1:1")
	cfg.Glue.Region = ""
	cat, err := Open(context.Background(), cfg, nil)
	require.Nil(t, cat)
	require.ErrorContains(t, err, "open glue catalog floe: catalog.glue.region: no region set here, in AWS_REGION or in the AWS profile")
}

// TestGlueRequestsThroughTransport: Glue requests go through floe's
// catalog transport (metrics per operation); a failed read is retried
// (catalog.http.read-retries), a failed write is sent once.
func TestGlueRequestsThroughTransport(t *testing.T) {
	noAWSEnvironment(t)
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AWSGlue.")
		mu.Lock()
		calls[action]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"__type":"InternalServiceException","message":"boom"}`))
	}))
	t.Cleanup(srv.Close)
	cfg := glueConfig(srv.URL)
	cfg.HTTP.ReadRetries = 2
	reg := prometheus.NewRegistry()
	cat := openTestCatalogWith(t, cfg, &http.Client{Transport: NewCatalogTransport(cfg.HTTP, reg)})

	_, err := cat.CheckNamespaceExists(context.Background(), []string{"db"})
	require.ErrorContains(t, err, "InternalServiceException")
	require.ErrorContains(t, cat.CreateNamespace(context.Background(), []string{"db"}, nil), "InternalServiceException")

	mu.Lock()
	require.Equal(t, map[string]int{"GetDatabase": 3, "CreateDatabase": 1}, calls)
	mu.Unlock()
	require.Equal(t, uint64(4), histogramCount(t, reg, "floe_catalog_request_duration_seconds",
		map[string]string{"operation": "namespace", "status": "500"}))
	require.Zero(t, promtest.Value(t, reg, "floe_catalog_requests_in_flight", nil))
}
