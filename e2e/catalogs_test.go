//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestExactlyOnceCatalogs runs floe against the catalogs beyond the
// reference REST server: AWS Glue (moto) with an S3 warehouse, a Hive
// Metastore with a file:// warehouse, and Project Nessie's Iceberg REST
// endpoint with an S3 warehouse. Each run streams records, is killed with
// SIGKILL mid-stream (anywhere in its commit cycle) and restarted; then
// PyIceberg, through the same catalog, and DuckDB (the metadata file the
// catalog names) find every record once and the offsets at the topic's end.
//
// Glue conflicts are not tested: moto accepts a stale VersionId, so two
// writers' optimistic concurrency cannot be exercised on it.
func TestExactlyOnceCatalogs(t *testing.T) {
	s := needServices(t)
	for _, setup := range []string{"nessie-s3", "glue-s3", "hive-file"} {
		t.Run(setup, func(t *testing.T) {
			needCatalog(t, setup)
			const n = 12_000
			rng := seededRand(t)
			p := newPipeline(t, s, setup, 6)
			p.headOnly = setup == "nessie-s3"
			prod := startProducer(t, p.cl, p.topic, pacedRun{n: n, rate: 1000})

			first := p.start("run1")
			first.waitReady(t)
			p.waitCommitted(n*25/100, first)
			requireCatalogMetrics(t, first, setup)
			time.Sleep(randUpTo(rng, time.Second)) // anywhere in the commit cycle
			first.kill(t)
			p.killedAt = time.Now()

			second := p.start("run2")
			p.waitCommitted(n*50/100, second)
			ids := prod.wait(t)
			hist := p.finish(ids, second)
			if w := writerInstances(hist); !p.headOnly && len(w) < 2 {
				t.Errorf("commits come from %d floe instance(s); the run before the SIGKILL and the one after it both committed", len(w))
			}
		})
	}
}

// TestCatalogsGroupOfTwo runs two floe processes in one consumer group
// committing to one table through the Hive Metastore and through Nessie, so
// their commits meet at the catalog: Hive's lock and requirement failures
// (plain errors, "requirement failed") and Nessie's 409s must leave every
// record in the table once. One of the two is killed mid-stream and a third
// takes over. Not on Glue: moto accepts a stale VersionId.
func TestCatalogsGroupOfTwo(t *testing.T) {
	s := needServices(t)
	for _, setup := range []string{"hive-file", "nessie-s3"} {
		t.Run(setup, func(t *testing.T) {
			needCatalog(t, setup)
			const n = 16_000
			p := newPipeline(t, s, setup, 8)
			p.headOnly = setup == "nessie-s3"
			prod := startProducer(t, p.cl, p.topic, pacedRun{n: n, rate: 1000})

			a, b := p.start("a"), p.start("b")
			a.waitReady(t)
			b.waitReady(t)
			p.waitCommitted(n*30/100, a, b)
			b.kill(t)
			p.killedAt = time.Now()
			c := p.start("c")
			p.waitCommitted(n*60/100, a, c)
			ids := prod.wait(t)
			p.finish(ids, a, c)
			conflicts := 0
			for _, proc := range p.procs {
				conflicts += strings.Count(proc.log(), `"reason":"conflict"`)
			}
			t.Logf("%d commit attempts lost to the other replica's commit (logged)", conflicts)
		})
	}
}

// headOffsets is, for a catalog that keeps only the head snapshot (Nessie),
// what the table has committed as one commit that covers [0, next) of
// every partition of the group's offsets in the head snapshot (floe stores
// the full map in every commit): floe commits lists the head commit alone,
// whose ranges are only what that commit added.
func (p *pipeline) headOffsets() ([]commitInfo, error) {
	ns, name, _ := strings.Cut(p.table, ".")
	u := fmt.Sprintf("%s/v1/main/namespaces/%s/tables/%s", p.catalog["uri"], url.PathEscape(ns), url.PathEscape(name))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil // not created yet
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var load struct {
		Metadata struct {
			CurrentSnapshotID *int64 `json:"current-snapshot-id"`
			Snapshots         []struct {
				SnapshotID int64             `json:"snapshot-id"`
				Summary    map[string]string `json:"summary"`
			} `json:"snapshots"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&load); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	raw := ""
	for _, snap := range load.Metadata.Snapshots {
		if load.Metadata.CurrentSnapshotID != nil && snap.SnapshotID == *load.Metadata.CurrentSnapshotID {
			raw = snap.Summary["floe.offsets."+p.group]
		}
	}
	if raw == "" {
		return nil, nil
	}
	cmd := exec.Command(p.svc.Python, "readers/check.py")
	cmd.Stdin = bytes.NewReader(mustJSON(map[string]any{"mode": "decode", "offsets": raw}))
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("readers/check.py decode: %w", err)
	}
	var decoded struct {
		Offsets storedOffsets `json:"offsets"`
	}
	if err := json.Unmarshal(out, &decoded); err != nil {
		return nil, fmt.Errorf("readers/check.py decode printed %q: %w", out, err)
	}
	var c commitInfo
	for topic, tp := range decoded.Offsets.Topics {
		for part, next := range tp.Partitions {
			n, err := strconv.ParseInt(part, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("partition %q of %s: %w", part, topic, err)
			}
			c.Ranges = append(c.Ranges, struct {
				Topic     string `json:"topic"`
				Partition int32  `json:"partition"`
				Start     int64  `json:"start"`
				End       int64  `json:"end"`
			}{topic, int32(n), 0, next})
		}
	}
	return []commitInfo{c}, nil
}

// requireCatalogMetrics: the catalog client's requests are measured per
// operation under the same names for every catalog (REST, Glue's HTTP,
// Hive's Thrift calls), the table's loads and commits among them; Hive's
// commits take the metastore's lock.
func requireCatalogMetrics(t testing.TB, proc *floeProc, setup string) {
	t.Helper()
	text, err := proc.metrics()
	if err != nil {
		t.Fatalf("floe %s /metrics: %v", proc.name, err)
	}
	ops := []string{"load_table", "commit_table", "create_table", "namespace"}
	if setup == "hive-file" {
		ops = append(ops, "lock")
	}
	var seen []string
	for _, op := range ops {
		n, _ := metricSum(text, "floe_catalog_request_duration_seconds_count", map[string]string{"operation": op})
		if n == 0 {
			t.Errorf("floe_catalog_request_duration_seconds has no %s request after commits through %s", op, setup)
		}
		seen = append(seen, fmt.Sprintf("%s %.0f", op, n))
	}
	if _, ok := metricSum(text, "floe_catalog_requests_in_flight", nil); !ok {
		t.Errorf("no floe_catalog_requests_in_flight with %s", setup)
	}
	t.Logf("catalog requests of floe %s: %s", proc.name, strings.Join(seen, ", "))
}

// catalogServices are the extra catalogs e2e/testbed/catalogs-start.sh
// starts (with E2E_WITH_CATALOGS=1 up.sh, as `make test` does).
type catalogServices struct {
	Glue            string // moto's endpoint (AWS Glue API)
	Hive            string // thrift://host:port of the Hive Metastore
	HiveWarehouse   string // its file:// warehouse
	Nessie          string // Nessie's Iceberg REST base URI (…/iceberg)
	NessieWarehouse string // the warehouse name Nessie knows
}

var (
	catalogsOnce sync.Once
	catalogsSvc  catalogServices
	catalogsEnv  map[string]string
	catalogsErr  error
)

// needCatalog fails the test (it never skips) unless the env file names
// the extra catalog a setup needs and it answers.
func needCatalog(t testing.TB, setup string) catalogServices {
	t.Helper()
	catalogsOnce.Do(func() {
		if catalogsEnv, catalogsErr = readEnvFile(envFile()); catalogsErr != nil {
			return
		}
		e := catalogsEnv
		catalogsSvc = catalogServices{Glue: e["E2E_GLUE"], Hive: e["E2E_HIVE"], HiveWarehouse: e["E2E_HIVE_WAREHOUSE"],
			Nessie: e["E2E_NESSIE"], NessieWarehouse: e["E2E_NESSIE_WAREHOUSE"]}
	})
	if catalogsErr != nil {
		t.Fatal(catalogsErr)
	}
	if err := checkCatalog(setup, catalogsEnv); err != nil {
		t.Fatalf("%v\nrun `E2E_WITH_CATALOGS=1 make up` (or e2e/testbed/catalogs-start.sh next to a running test bed), then run the tests again", err)
	}
	return catalogsSvc
}

// checkCatalog says what is missing for setup: a line of the env file or
// the service it names.
func checkCatalog(setup string, env map[string]string) error {
	keys := map[string][]string{
		"glue-s3":   {"E2E_GLUE"},
		"hive-file": {"E2E_HIVE", "E2E_HIVE_WAREHOUSE"},
		"nessie-s3": {"E2E_NESSIE", "E2E_NESSIE_WAREHOUSE"},
	}[setup]
	for _, k := range keys {
		if env[k] == "" {
			return fmt.Errorf("%s lacks %s: the test bed runs without the extra catalogs", envFile(), k)
		}
	}
	// A stale line (the catalog was stopped): say so here rather than
	// through floe's connection errors later.
	u, err := url.Parse(env[keys[0]])
	if err != nil {
		return fmt.Errorf("%s=%q: %w", keys[0], env[keys[0]], err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 3*time.Second)
	if err != nil {
		return fmt.Errorf("%s at %s (from %s): %w", keys[0], u.Host, envFile(), err)
	}
	conn.Close()
	if setup == "nessie-s3" {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(env[keys[0]] + "/v1/config")
		if err != nil {
			return fmt.Errorf("nessie at %s: %w", env[keys[0]], err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("nessie at %s: GET /v1/config answered %s", env[keys[0]], resp.Status)
		}
	}
	return nil
}

// moto accepts any key; these name the test in its logs.
const (
	glueRegion    = "us-east-1"
	glueAccessKey = "floe-e2e-glue"
	glueSecretKey = "floe-e2e-glue-secret"
)

// moreCatalogFor is catalogFor for the extra catalogs' setups (ok false for
// any other setup).
func moreCatalogFor(t testing.TB, s *services, setup, suffix string) (yaml string, reader map[string]any, ok bool) {
	t.Helper()
	s3reader := map[string]any{
		"endpoint": s.S3.Endpoint, "region": s.S3.Region,
		"access_key": s.S3.AccessKey, "secret_key": s.S3.SecretKey,
	}
	switch setup {
	case "glue-s3":
		c := needCatalog(t, setup)
		// A warehouse prefix per run: Glue databases made by floe have no
		// location, so tables go under the warehouse.
		warehouse := fmt.Sprintf("s3://%s/glue-%s", s.S3.Bucket, suffix)
		// No keys in the config: floe (and floe commits) take them from
		// the AWS SDK's chain, here its environment variables.
		t.Setenv("AWS_ACCESS_KEY_ID", glueAccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", glueSecretKey)
		return fmt.Sprintf(`  type: glue
  name: e2e-glue
  warehouse: %s
  glue:
    endpoint: %s
    region: %s
%s`, yamlStr(warehouse), yamlStr(c.Glue), glueRegion, s3Section(s.S3, s.S3.Endpoint)),
			map[string]any{"type": "glue", "uri": c.Glue, "region": glueRegion,
				"access_key": glueAccessKey, "secret_key": glueSecretKey, "s3": s3reader}, true
	case "hive-file":
		c := needCatalog(t, setup)
		return fmt.Sprintf("  type: hive\n  name: e2e-hive\n  warehouse: %s\n  hive:\n    uri: %s",
				yamlStr(c.HiveWarehouse), yamlStr(c.Hive)),
			map[string]any{"type": "hive", "uri": c.Hive, "warehouse": c.HiveWarehouse}, true
	case "nessie-s3":
		c := needCatalog(t, setup)
		return fmt.Sprintf("  type: rest\n  name: e2e-nessie\n  uri: %s\n  warehouse: %s\n%s",
				yamlStr(c.Nessie), yamlStr(c.NessieWarehouse), s3Section(s.S3, s.S3.Endpoint)),
			map[string]any{"type": "rest", "uri": c.Nessie, "warehouse": c.NessieWarehouse, "s3": s3reader}, true
	}
	if strings.HasPrefix(setup, "glue") || strings.HasPrefix(setup, "hive") || strings.HasPrefix(setup, "nessie") {
		t.Fatalf("unknown catalog setup %q", setup)
	}
	return "", nil, false
}
