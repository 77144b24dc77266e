//go:build e2e

package e2e

// floe on the cloud object stores' emulators (issue 15): GCS
// (fake-gcs-server, behind the reference REST catalog with GCSFileIO) and
// Azure Blob (Azurite, behind the SQL catalog on PostgreSQL or SQLite: the
// reference server's ADLSFileIO speaks the Data Lake API, which Azurite does
// not serve). They start with E2E_WITH_STORES=1 (make test sets it) or
// e2e/testbed/stores-start.sh.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// storeServices are the emulators stores-start.sh wrote to the env file.
type storeServices struct {
	GCSEndpoint, GCSBucket          string // fake-gcs-server, its bucket
	RESTGCSURI, RESTGCSWarehouse    string // the REST catalog whose warehouse is on it
	Azurite, AzureAccount, AzureKey string // Azurite's blob endpoint (with the account), account, key
}

var (
	storesOnce sync.Once
	stores     *storeServices
	storesErr  error
)

// needStores returns the store emulators or fails the test; it never skips
// (see needServices).
func needStores(t testing.TB) *storeServices {
	t.Helper()
	storesOnce.Do(func() { stores, storesErr = loadStores(envFile()) })
	if storesErr != nil {
		t.Fatalf("the object-store emulators are not available: %v\nrun `E2E_WITH_STORES=1 make up` "+
			"(or e2e/testbed/stores-start.sh next to a running test bed), then run the tests again", storesErr)
	}
	return stores
}

func loadStores(path string) (*storeServices, error) {
	env, err := readEnvFile(path)
	if err != nil {
		return nil, err
	}
	var missing []string
	get := func(k string) string {
		if env[k] == "" {
			missing = append(missing, k)
		}
		return env[k]
	}
	s := &storeServices{
		GCSEndpoint: get("E2E_GCS_ENDPOINT"), GCSBucket: get("E2E_GCS_BUCKET"),
		RESTGCSURI: get("E2E_REST_GCS_URI"), RESTGCSWarehouse: get("E2E_REST_GCS_WAREHOUSE"),
		Azurite: get("E2E_AZURITE"), AzureAccount: get("E2E_AZURITE_ACCOUNT"), AzureKey: get("E2E_AZURITE_KEY"),
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s lacks %s: the test bed runs without the store emulators", path, strings.Join(missing, ", "))
	}
	// Stale lines (the emulators were stopped): say so here.
	for _, u := range []string{s.GCSEndpoint, s.RESTGCSURI, s.Azurite} {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		conn, err := net.DialTimeout("tcp", pu.Host, 3*time.Second)
		if err != nil {
			return nil, fmt.Errorf("%s (from %s): %w", u, path, err)
		}
		conn.Close()
	}
	return s, nil
}

// azuriteConnectionString is the connection string of Azurite's account.
func (st *storeServices) azuriteConnectionString() string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;",
		st.AzureAccount, st.AzureKey, st.Azurite)
}

// newContainer creates a container of its own for a test (removed at its
// end) and returns its name.
func (st *storeServices) newContainer(t testing.TB, suffix string) string {
	t.Helper()
	name := "e2e-" + strings.ToLower(suffix)
	c, err := container.NewClientFromConnectionString(st.azuriteConnectionString(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, nil); err != nil {
		t.Fatalf("create container %s on Azurite: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = c.Delete(ctx, nil)
	})
	return name
}

// containerSAS is a SAS of Azurite's account key for container: every
// permission floe needs (read, add, create, write, delete, list), for an hour.
func (st *storeServices) containerSAS(t testing.TB, name string) string {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(st.AzureAccount, st.AzureKey)
	if err != nil {
		t.Fatal(err)
	}
	qp, err := sas.BlobSignatureValues{
		Protocol: sas.ProtocolHTTPSandHTTP, StartTime: time.Now().Add(-time.Minute).UTC(),
		ExpiryTime:    time.Now().Add(time.Hour).UTC(),
		Permissions:   (&sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}).String(),
		ContainerName: name,
	}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	return qp.Encode()
}

// azureLocation is an abfs:// location in container of Azurite's account.
func (st *storeServices) azureLocation(container, path string) string {
	return fmt.Sprintf("abfs://%s@%s.dfs.core.windows.net/%s", container, st.AzureAccount, path)
}

// azureReader is check.py's "adls" entry: PyIceberg's and DuckDB's adlfs
// on Azurite.
func (st *storeServices) azureReader() map[string]any {
	return map[string]any{"connection_string": st.azuriteConnectionString()}
}

// storeCatalogFor is catalogFor for the setups on the store emulators:
//   - rest-gcs: the REST catalog with its warehouse on fake-gcs-server, floe
//     anonymous (catalog.gcs.no-auth);
//   - sql-postgres-azure: the SQL catalog on PostgreSQL, the warehouse in a
//     container of the test's own on Azurite, floe with a connection string;
//   - sql-sqlite-azure-key, sql-sqlite-azure-sas: a SQLite catalog, the
//     same, floe with the account key, or a SAS of the container.
func storeCatalogFor(t testing.TB, s *services, setup, suffix string) (yaml string, reader map[string]any, ok bool) {
	t.Helper()
	if !strings.Contains(setup, "gcs") && !strings.Contains(setup, "azure") {
		return "", nil, false
	}
	st := needStores(t)
	switch setup {
	case "rest-gcs":
		return fmt.Sprintf("  type: rest\n  name: e2e-rest-gcs\n  uri: %s\n  warehouse: %s\n  gcs:\n    endpoint: %s\n    no-auth: true",
				yamlStr(st.RESTGCSURI), yamlStr(st.RESTGCSWarehouse), yamlStr(st.GCSEndpoint)),
			map[string]any{"type": "rest", "uri": st.RESTGCSURI, "warehouse": st.RESTGCSWarehouse,
				"gcs": map[string]any{"endpoint": st.GCSEndpoint}}, true
	case "sql-postgres-azure", "sql-sqlite-azure-key", "sql-sqlite-azure-sas":
		c := st.newContainer(t, suffix)
		warehouse := st.azureLocation(c, "sql-"+suffix)
		var auth string
		switch {
		case strings.HasSuffix(setup, "-key"):
			auth = fmt.Sprintf("    account-key: %s\n    endpoint: %s", yamlStr(st.AzureKey), yamlStr(st.Azurite))
		case strings.HasSuffix(setup, "-sas"):
			auth = fmt.Sprintf("    sas-token: %s\n    endpoint: %s", yamlStr(st.containerSAS(t, c)), yamlStr(st.Azurite))
		default:
			auth = "    connection-string: " + yamlStr(st.azuriteConnectionString())
		}
		reader = map[string]any{"type": "sql", "name": "e2e", "warehouse": warehouse, "adls": st.azureReader()}
		dsn := s.PGDSN
		if strings.HasPrefix(setup, "sql-sqlite") {
			dir := t.TempDir()
			dsn = filepath.Join(dir, "catalog.db")
			reader["uri"] = "sqlite:///" + dsn
		} else {
			reader["uri"] = s.PGDSN
		}
		driver := "postgres"
		if strings.HasPrefix(setup, "sql-sqlite") {
			driver = "sqlite"
		}
		return fmt.Sprintf("  type: sql\n  name: e2e\n  warehouse: %s\n  sql:\n    driver: %s\n    dsn: %s\n  azure:\n%s",
			yamlStr(warehouse), driver, yamlStr(dsn), auth), reader, true
	}
	t.Fatalf("unknown store setup %q", setup)
	return "", nil, false
}

// TestExactlyOnceStores streams records into a table on each store
// emulator while floe is killed with SIGKILL mid-stream and restarted; then
// PyIceberg and DuckDB read the table: every produced record is in it once,
// and the stored offsets are the topic's end.
func TestExactlyOnceStores(t *testing.T) {
	s := needServices(t)
	needStores(t)
	for _, setup := range []string{"rest-gcs", "sql-postgres-azure"} {
		t.Run(setup, func(t *testing.T) {
			const n = 12_000
			p := newPipeline(t, s, setup, 6)
			prod := startProducer(t, p.cl, p.topic, pacedRun{n: n, rate: 1000})

			first := p.start("run1")
			first.waitReady(t)
			p.waitCommitted(n*25/100, first)
			requireStoreRequests(t, first)
			first.kill(t) // mid-stream, no final commit

			second := p.start("run2")
			p.waitCommitted(n*55/100, second)
			second.kill(t)

			last := p.start("run3")
			ids := prod.wait(t)
			p.finish(ids, last)
		})
	}
}

// requireStoreRequests: f's writes went through floe's own object-store
// client, which measures every request (floe_objectstore_*), not through a
// client of the SDK's.
func requireStoreRequests(t testing.TB, f *floeProc) {
	t.Helper()
	m, err := f.metrics()
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	var uploads float64
	for _, op := range []string{"put", "multipart", "upload_part", "get", "head", "list"} {
		v, _ := metricSum(m, "floe_objectstore_request_duration_seconds_count", map[string]string{"operation": op})
		if op == "put" || op == "multipart" || op == "upload_part" {
			uploads += v
		}
		ops = append(ops, fmt.Sprintf("%s %.0f", op, v))
	}
	t.Logf("floe %s's object-store requests: %s", f.name, strings.Join(ops, ", "))
	if uploads == 0 {
		t.Errorf("floe %s committed, but floe_objectstore_request_duration_seconds counts no upload: its files bypassed floe's client", f.name)
	}
}

// TestAzureAuthModes runs floe on Azurite with the account key and with a
// SAS of the container (the connection string is TestExactlyOnceStores's):
// every record lands once, read back by PyIceberg and DuckDB. The key's run
// also maintains the table every second (compaction, manifest rewrite,
// snapshot expiry: rewrites and deletes on Azure): every retained snapshot
// holds, as of itself, exactly the records below its offsets, and no data
// file is left that no snapshot references.
func TestAzureAuthModes(t *testing.T) {
	s := needServices(t)
	needStores(t)
	for _, setup := range []string{"sql-sqlite-azure-key", "sql-sqlite-azure-sas"} {
		t.Run(setup, func(t *testing.T) {
			n, rate := 2_000, 2000
			p := newPipeline(t, s, setup, 2)
			if strings.HasSuffix(setup, "-key") {
				n, rate = 8_000, 1000
				p.maintained = true
				p.conf.tableExtra = "    maintenance: {interval: 1s, expire: {keep-last: 3, keep-for: 0s, min-expired: 1}, " +
					"manifests: {max: 3}, compact: {min-files: 3}}\n"
			}
			prod := startProducer(t, p.cl, p.topic, pacedRun{n: n, rate: rate})
			f := p.start("run1")
			f.waitReady(t)
			ids := prod.wait(t)
			p.finish(ids, f)
		})
	}
}

// TestStoreErrors starts floe against what the emulators refuse: an Azure
// account key that is wrong (403), an Azure container and a GCS bucket that
// do not exist (404). floe stops at the start, creating its table, with a
// message that says what was refused and which config section to check.
func TestStoreErrors(t *testing.T) {
	s := needServices(t)
	st := needStores(t)
	wrongKey := "d3Jvbmcta2V5LW5vdC1henVyaXRlcy1rZXktZmxvZS1lMmUtdGVzdA=="
	for _, tt := range []struct {
		name    string
		catalog func(suffix string) string
		want    []string
	}{
		{"azure wrong key", func(suffix string) string {
			c := st.newContainer(t, suffix)
			return fmt.Sprintf("  azure:\n    account-key: %s\n    endpoint: %s\n  warehouse: %s",
				yamlStr(wrongKey), yamlStr(st.Azurite), yamlStr(st.azureLocation(c, "w")))
		}, []string{"access denied by object storage: Azure PUT (AuthorizationFailure) refused by " + st.Azurite[:strings.LastIndex(st.Azurite, "/")],
			"check catalog.azure credentials"}},
		{"azure missing container", func(suffix string) string {
			return fmt.Sprintf("  azure:\n    connection-string: %s\n  warehouse: %s",
				yamlStr(st.azuriteConnectionString()), yamlStr(st.azureLocation("e2e-missing-"+strings.ToLower(suffix), "w")))
		}, []string{"bucket or container does not exist at " + st.Azurite[:strings.LastIndex(st.Azurite, "/")], "ContainerNotFound"}},
		{"gcs missing bucket", func(suffix string) string {
			return fmt.Sprintf("  gcs:\n    endpoint: %s\n    no-auth: true\n  warehouse: %s",
				yamlStr(st.GCSEndpoint), yamlStr("gs://floe-e2e-missing-"+strings.ToLower(suffix)+"/w"))
		}, []string{"bucket or container does not exist at GCS", "catalog.gcs sets the endpoint"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
			dir := t.TempDir()
			cat := fmt.Sprintf("  type: sql\n  name: e2e\n  sql:\n    driver: sqlite\n    dsn: %s\n%s",
				yamlStr(filepath.Join(dir, "catalog.db")), tt.catalog(suffix))
			_, adm := kafkaClient(t, s)
			topic := "e2e-store-errors-" + suffix
			createTopic(t, adm, topic, 1)
			conf := floeConfig{brokers: s.Kafka, group: "floe-e2e-store-errors-" + suffix, topic: topic,
				table: "e2e.store_errors_" + suffix, catalog: cat}
			cfg, addr := conf.write(t, dir, "run")
			f := startFloe(t, "run", cfg, addr)
			if code := f.wait(t, 2*time.Minute); code == 0 {
				t.Fatalf("floe exited 0; want a failed start")
			}
			log := f.log()
			for _, w := range tt.want {
				if !strings.Contains(log, w) {
					t.Errorf("floe's log lacks %q; last lines:\n%s", w, f.logTail(10))
				}
			}
		})
	}
}

// TestGCSCredentialsFile runs floe on the REST catalog's GCS warehouse with
// a service-account key (catalog.gcs.credentials-file) whose token endpoint
// is the test's: floe must get a token there and send its requests with it
// (fake-gcs-server accepts any), and every record lands once. The table is
// maintained every second meanwhile (rewrites and deletes on GCS): the same
// checks as TestAzureAuthModes's key run.
func TestGCSCredentialsFile(t *testing.T) {
	s := needServices(t)
	st := needStores(t)
	var tokens atomic.Int64
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.Form.Get("assertion") == "" {
			http.Error(w, "want a JWT bearer grant", http.StatusBadRequest)
			return
		}
		tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"ya29.floe-e2e","token_type":"Bearer","expires_in":3600}`))
	}))
	defer tokenSrv.Close()
	key := writeServiceAccountKey(t, tokenSrv.URL)

	const n = 8_000
	p := newPipeline(t, s, "rest-gcs", 2)
	p.maintained = true
	p.conf.tableExtra = "    maintenance: {interval: 1s, expire: {keep-last: 3, keep-for: 0s, min-expired: 1}, " +
		"manifests: {max: 3}, compact: {min-files: 3}}\n"
	p.conf.catalog = strings.Replace(p.conf.catalog, "    no-auth: true", "    credentials-file: "+yamlStr(key), 1)
	if !strings.Contains(p.conf.catalog, "credentials-file") {
		t.Fatalf("no credentials-file in the catalog section:\n%s", p.conf.catalog)
	}
	p.cfgPath, _ = p.conf.write(t, p.dir, "commits")
	prod := startProducer(t, p.cl, p.topic, pacedRun{n: n, rate: 1000})
	f := p.start("run1")
	f.waitReady(t)
	ids := prod.wait(t)
	p.finish(ids, f)
	if tokens.Load() == 0 {
		t.Fatalf("floe wrote to %s without asking the key's token endpoint for a token", st.GCSEndpoint)
	}
	t.Logf("the key's token endpoint issued %d tokens", tokens.Load())
}

// writeServiceAccountKey writes a service-account JSON key (a fresh RSA
// key) whose token endpoint is tokenURL.
func writeServiceAccountKey(t testing.TB, tokenURL string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "floe-e2e", "private_key_id": "e2e",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "floe-e2e@floe-e2e.iam.gserviceaccount.com", "client_id": "1", "token_uri": tokenURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gcs-key.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
