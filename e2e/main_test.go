//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// floeBin is the floe binary built once by TestMain.
var floeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "floe-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	floeBin = filepath.Join(dir, "floe")
	build := exec.Command("go", "build", "-o", floeBin, "../cmd/floe")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build floe:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// services are the endpoints e2e/testbed/up.sh started and wrote to its env
// file.
type services struct {
	Kafka             string // host:port of the broker
	RESTFileURI       string // REST catalog with a file:// warehouse
	RESTFileWarehouse string
	RESTS3URI         string // REST catalog with S3FileIO
	RESTS3Warehouse   string
	S3                s3Service
	PGDSN             string // PostgreSQL for the SQL catalog
	Python            string // interpreter with pyiceberg and duckdb
	RunDir            string

	// The same broker's secured listeners (issue 13). Optional in the env
	// file (one written before they existed lacks them): tests that use
	// them call needSecuredKafka.
	KafkaSASLSSL string     // SASL_SSL: SCRAM-SHA-512/256, PLAIN, OAUTHBEARER (unsecured JWT)
	KafkaMTLS    string     // SSL with a client certificate required (mTLS)
	KafkaTLSDir  string     // test PKI: ca.pem, client.pem/client-key.pem, other-ca.pem, ...
	KafkaUsers   kafkaUsers // test-only SASL users and the mTLS principal

	// SchemaRegistry is the base URL of the schema registry's
	// Confluent-compatible API (Apicurio Registry,
	// http://127.0.0.1:18081/apis/ccompat/v7), empty when the test bed runs
	// without it: it starts only when asked (E2E_WITH_REGISTRY=1 make up,
	// or e2e/testbed/registry-start.sh). Tests that use it call
	// needSchemaRegistry.
	SchemaRegistry string
}

type s3Service struct {
	Endpoint, AccessKey, SecretKey, Region, Bucket string
}

// kafkaUsers are the test bed's fixed Kafka users (e2e/testbed/README.md).
type kafkaUsers struct {
	Admin    kafkaUser // super user: SCRAM-SHA-512 and PLAIN
	SCRAM512 kafkaUser // SCRAM-SHA-512, no ACLs unless a test grants some
	SCRAM256 kafkaUser // SCRAM-SHA-256, no ACLs unless a test grants some
	NoACL    kafkaUser // SCRAM-SHA-512 and -256, never given ACLs
	Plain    kafkaUser // PLAIN, no ACLs unless a test grants some
	MTLS     string    // principal name (User:<MTLS>) of client.pem's CN
}

type kafkaUser struct{ Name, Password string }

var (
	svcOnce sync.Once
	svc     *services
	svcErr  error
)

// envFile is where up.sh writes the services' addresses, unless E2E_ENV_FILE
// names another file.
func envFile() string {
	if p := os.Getenv("E2E_ENV_FILE"); p != "" {
		return p
	}
	return filepath.Join("..", "e2e", "testbed", ".run", "env")
}

// seededRand is the source of a test's random choices (kill victims, gaps
// and delays, a bad record's partition, the requests a fault proxy faults):
// it logs its seed, and FLOE_E2E_SEED=<seed> makes the same choices again
// (the machine's timing still varies around them). A *rand.Rand is not safe
// for concurrent use: a goroutine of its own draws from forkRand's.
func seededRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("FLOE_E2E_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("FLOE_E2E_SEED=%q: not an unsigned integer", v)
		}
	}
	t.Logf("random seed %d (FLOE_E2E_SEED=%d repeats these choices)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed))
}

// forkRand is a generator of its own, seeded from rng, for another
// goroutine to draw from.
func forkRand(rng *rand.Rand) *rand.Rand {
	return rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
}

// randUpTo is a random duration in [0, d).
func randUpTo(rng *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(rng.Int64N(int64(d)))
}

// needServices returns the testbed's services or fails the test. It never
// skips: an e2e suite that skips itself when the services are missing would
// pass in CI without testing anything.
func needServices(t testing.TB) *services {
	t.Helper()
	svcOnce.Do(func() { svc, svcErr = loadServices(envFile()) })
	if svcErr != nil {
		t.Fatalf("e2e services are not available: %v\nstart them with `make up` (e2e/testbed/up.sh), then run `go test -tags e2e ./e2e/`", svcErr)
	}
	return svc
}

// readEnvFile parses the env file's KEY=VALUE lines.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the testbed's env file: %w", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[strings.TrimSpace(k)] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return env, nil
}

func loadServices(path string) (*services, error) {
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
	s := &services{
		Kafka:             get("E2E_KAFKA"),
		RESTFileURI:       get("E2E_REST_FILE_URI"),
		RESTFileWarehouse: get("E2E_REST_FILE_WAREHOUSE"),
		RESTS3URI:         get("E2E_REST_S3_URI"),
		RESTS3Warehouse:   get("E2E_REST_S3_WAREHOUSE"),
		S3: s3Service{
			Endpoint:  get("E2E_S3_ENDPOINT"),
			AccessKey: get("E2E_S3_ACCESS_KEY"),
			SecretKey: get("E2E_S3_SECRET_KEY"),
			Region:    get("E2E_S3_REGION"),
			Bucket:    get("E2E_S3_BUCKET"),
		},
		PGDSN:  get("E2E_PG_DSN"),
		Python: get("E2E_PYTHON"),
		RunDir: env["E2E_RUN_DIR"],

		KafkaSASLSSL: env["E2E_KAFKA_SASL_SSL"],
		KafkaMTLS:    env["E2E_KAFKA_MTLS"],
		KafkaTLSDir:  env["E2E_KAFKA_TLS_DIR"],
		KafkaUsers: kafkaUsers{
			Admin:    kafkaUser{env["E2E_KAFKA_ADMIN_USER"], env["E2E_KAFKA_ADMIN_PASSWORD"]},
			SCRAM512: kafkaUser{env["E2E_KAFKA_SCRAM512_USER"], env["E2E_KAFKA_SCRAM512_PASSWORD"]},
			SCRAM256: kafkaUser{env["E2E_KAFKA_SCRAM256_USER"], env["E2E_KAFKA_SCRAM256_PASSWORD"]},
			NoACL:    kafkaUser{env["E2E_KAFKA_NOACL_USER"], env["E2E_KAFKA_NOACL_PASSWORD"]},
			Plain:    kafkaUser{env["E2E_KAFKA_PLAIN_USER"], env["E2E_KAFKA_PLAIN_PASSWORD"]},
			MTLS:     env["E2E_KAFKA_MTLS_USER"],
		},
		SchemaRegistry: env["E2E_SCHEMA_REGISTRY"],
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s lacks %s", path, strings.Join(missing, ", "))
	}
	// A stale env file from an earlier `make up` names services that are
	// gone: say so here rather than through a Kafka client timing out.
	conn, err := net.DialTimeout("tcp", s.Kafka, 3*time.Second)
	if err != nil {
		return nil, fmt.Errorf("kafka at %s (from %s): %w", s.Kafka, path, err)
	}
	conn.Close()
	return s, nil
}

var (
	registryOnce sync.Once
	registryURL  string
	registryErr  error
)

// needSchemaRegistry returns the base URL of the test bed's schema registry
// (Confluent-compatible API) or fails the test; it never skips. It needs only
// E2E_SCHEMA_REGISTRY in the env file, not the other services, so a registry
// started alone (registry-start.sh, with E2E_ENV_FILE naming a file that has
// just that line) is enough for tests that talk to the registry only; tests
// that also need Kafka or a catalog call needServices as well.
func needSchemaRegistry(t testing.TB) string {
	t.Helper()
	registryOnce.Do(func() { registryURL, registryErr = loadSchemaRegistry(envFile()) })
	if registryErr != nil {
		t.Fatalf("start the registry: %v\nrun `E2E_WITH_REGISTRY=1 make up` (or e2e/testbed/registry-start.sh next to a running test bed), then run the tests again", registryErr)
	}
	return registryURL
}

func loadSchemaRegistry(path string) (string, error) {
	env, err := readEnvFile(path)
	if err != nil {
		return "", err
	}
	u := env["E2E_SCHEMA_REGISTRY"]
	if u == "" {
		return "", fmt.Errorf("%s lacks E2E_SCHEMA_REGISTRY: the test bed runs without the schema registry", path)
	}
	// A stale line (the registry was stopped): say so here rather than
	// through a client's connection error later.
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(strings.TrimSuffix(u, "/") + "/subjects")
	if err != nil {
		return "", fmt.Errorf("schema registry at %s (from %s): %w", u, path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("schema registry at %s (from %s): GET /subjects answered %s", u, path, resp.Status)
	}
	return u, nil
}
