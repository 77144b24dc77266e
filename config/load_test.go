package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/committer"
)

// catalogAndTables is a valid configuration but for kafka.brokers. Tables
// come last, so a test can append list items.
const catalogAndTables = `
catalog:
  type: sql
  warehouse: file:///var/lib/floe/warehouse
  sql: {driver: sqlite, dsn: "file:/var/lib/floe/catalog.db"}
tables:
  - name: demo.events
    topics: [events]
`

// minimal is the smallest valid configuration.
const minimal = "kafka:\n  brokers: [\"localhost:9092\"]\n" + catalogAndTables

// writeConfig writes body to a config file in a fresh directory.
func writeConfig(tb testing.TB, body string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "floe.yaml")
	require.NoError(tb, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(writeConfig(t, minimal+`
  - name: demo.clicks
    topics: [clicks]
    commit-interval: 1m
    on-error: skip
`), nil, nil)
	require.NoError(t, err)

	want := Default()
	want.Kafka.Brokers = []string{"localhost:9092"}
	want.Catalog.Warehouse = "file:///var/lib/floe/warehouse"
	want.Catalog.SQL = catalog.SQLConfig{Driver: "sqlite", DSN: "file:/var/lib/floe/catalog.db"}
	events := DefaultTable()
	events.Name, events.Topics = "demo.events", []string{"events"}
	clicks := DefaultTable()
	clicks.Name, clicks.Topics = "demo.clicks", []string{"clicks"}
	clicks.CommitInterval = time.Minute
	clicks.Codec.OnError = codec.OnErrorSkip
	want.Tables = []Table{events, clicks}
	require.Equal(t, want, *cfg)

	// The defaults every list item starts from, spelled out.
	require.Equal(t, 30*time.Second, cfg.Tables[0].CommitInterval)
	require.Equal(t, int64(128<<20), cfg.Tables[1].TargetFileSize)
	require.Equal(t, "json", cfg.Tables[1].Codec.Format)
	require.Equal(t, codec.OnErrorFail, cfg.Tables[0].Codec.OnError)
}

func TestLoadYAML(t *testing.T) {
	cfg, err := Load(writeConfig(t, `
kafka:
  brokers: [k1:9092, k2:9092]
  group: ingest
  client-id: floe-1
  start-from: latest
  balancer: server
  session-timeout: 1m
  fetch-max-bytes: 16MiB
  batch: {max-records: 1000, max-bytes: 8MB, max-age: 1m30s}
  memory-budget: 1GiB
  allow-topic-mismatch: true
  lag-interval: 5s
catalog:
  type: rest
  name: lake
  uri: https://catalog.example.com
  warehouse: s3://bucket/prefix
  rest:
    credential: "id:secret"
    headers: {X-Tenant: acme}
  s3: {region: eu-west-1, path-style: true}
  properties:
    write.format.default: parquet
    format-version: 2
commit: {timeout: 3m, retry-min: 100ms, retry-max: 5s}
tables:
  - name: demo.events
    topics: events
    target-file-size: 256 MiB
    partition-by: ["day(ts)"]
    schema:
      - {name: id, type: long, required: true}
      - {name: ts, type: timestamptz}
      - name: device
        type: struct
        fields: [{name: os, type: string}]
    metadata-columns: {offset: _offset}
    maintenance: {expire: {keep-last: 500}}
http: {addr: ":9100"}
log: {level: debug, format: text}
shutdown: {timeout: 1m}
replay: {max-bytes: 2GiB}
`), nil, nil)
	require.NoError(t, err)

	require.Equal(t, []string{"k1:9092", "k2:9092"}, cfg.Kafka.Brokers)
	require.Equal(t, "ingest", cfg.Kafka.Group)
	require.Equal(t, "server", cfg.Kafka.Balancer)
	require.Equal(t, time.Minute, cfg.Kafka.SessionTimeout)
	require.Equal(t, int32(16<<20), cfg.Kafka.FetchMaxBytes)
	require.Equal(t, 1000, cfg.Kafka.Batch.MaxRecords)
	require.Equal(t, int64(8_000_000), cfg.Kafka.Batch.MaxBytes)
	require.Equal(t, 90*time.Second, cfg.Kafka.Batch.MaxAge)
	require.Equal(t, int64(1<<30), cfg.Kafka.MemoryBudget)
	require.True(t, cfg.Kafka.AllowTopicMismatch)
	require.Equal(t, "https://catalog.example.com", cfg.Catalog.URI)
	require.Equal(t, map[string]string{"X-Tenant": "acme"}, cfg.Catalog.REST.Headers)
	require.True(t, cfg.Catalog.S3.PathStyle)
	// Dotted property names stay whole; a YAML number becomes a string.
	require.Equal(t, map[string]string{"write.format.default": "parquet", "format-version": "2"}, cfg.Catalog.Properties)
	require.Equal(t, 3*time.Minute, cfg.Commit.CommitTimeout)
	require.Equal(t, 100*time.Millisecond, cfg.Commit.RetryMin)

	tbl := cfg.Tables[0]
	require.Equal(t, []string{"events"}, tbl.Topics) // a single value becomes a list
	require.Equal(t, int64(256<<20), tbl.TargetFileSize)
	require.Equal(t, 30*time.Second, tbl.CommitInterval) // default kept
	require.Equal(t, []string{"day(ts)"}, tbl.PartitionBy)
	require.Len(t, tbl.Schema, 3)
	require.True(t, tbl.Schema[0].Required)
	require.Equal(t, []committer.Column{{Name: "os", Type: "string"}}, tbl.Schema[2].Fields)
	require.Equal(t, "_offset", tbl.Codec.Metadata.Offset)
	require.Equal(t, 500, tbl.Maintenance.Expire.KeepLast)
	require.Equal(t, 2*time.Hour, tbl.Maintenance.Expire.KeepFor, "defaults kept beside a set key")
	require.True(t, tbl.Maintenance.Expire.Enabled)

	require.Equal(t, HTTP{Addr: ":9100"}, cfg.HTTP)
	require.Equal(t, Log{Level: "debug", Format: "text"}, cfg.Log)
	require.Equal(t, time.Minute, cfg.Shutdown.Timeout)
	require.Equal(t, int64(2<<30), cfg.Replay.MaxBytes)
}

func TestLoadEnv(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		check func(t *testing.T, cfg *Config)
	}{
		{"top level", []string{"FLOE_KAFKA__GROUP=g"}, func(t *testing.T, cfg *Config) {
			require.Equal(t, "g", cfg.Kafka.Group)
		}},
		{"nested with dashes", []string{"FLOE_KAFKA__BATCH__MAX_AGE=5s", "FLOE_KAFKA__ALLOW_TOPIC_MISMATCH=true"}, func(t *testing.T, cfg *Config) {
			require.Equal(t, 5*time.Second, cfg.Kafka.Batch.MaxAge)
			require.True(t, cfg.Kafka.AllowTopicMismatch)
		}},
		{"list", []string{"FLOE_KAFKA__BROKERS=a:9092, b:9092,"}, func(t *testing.T, cfg *Config) {
			require.Equal(t, []string{"a:9092", "b:9092"}, cfg.Kafka.Brokers)
		}},
		{"size and number", []string{"FLOE_KAFKA__MEMORY_BUDGET=2GiB", "FLOE_KAFKA__BATCH__MAX_RECORDS=42"}, func(t *testing.T, cfg *Config) {
			require.Equal(t, int64(2<<30), cfg.Kafka.MemoryBudget)
			require.Equal(t, 42, cfg.Kafka.Batch.MaxRecords)
		}},
		{"secret", []string{"FLOE_CATALOG__S3__SECRET_ACCESS_KEY=s3cr3t"}, func(t *testing.T, cfg *Config) {
			require.Equal(t, "s3cr3t", cfg.Catalog.S3.SecretAccessKey)
		}},
		{"glue and hive keys", []string{"FLOE_CATALOG__GLUE__SECRET_ACCESS_KEY=glue-s3cr3t", "FLOE_CATALOG__GLUE__CATALOG_ID=123456789012",
			"FLOE_CATALOG__HIVE__URI=thrift://hms:9083", "FLOE_CATALOG__HIVE__LOCK_CHECK_MAX_WAIT=2s"}, func(t *testing.T, cfg *Config) {
			require.Equal(t, "glue-s3cr3t", cfg.Catalog.Glue.SecretAccessKey)
			require.Equal(t, "123456789012", cfg.Catalog.Glue.CatalogID)
			require.Equal(t, "thrift://hms:9083", cfg.Catalog.Hive.URI)
			require.Equal(t, 2*time.Second, cfg.Catalog.Hive.LockCheckMaxWait)
		}},
		{"object-store secrets", []string{
			"FLOE_CATALOG__GCS__CREDENTIALS_JSON={\"type\":\"service_account\"}",
			"FLOE_CATALOG__AZURE__CONNECTION_STRING=AccountName=a;AccountKey=k",
			"FLOE_CATALOG__AZURE__HTTP__MAX_IN_FLIGHT=4",
		}, func(t *testing.T, cfg *Config) {
			require.JSONEq(t, `{"type":"service_account"}`, cfg.Catalog.GCS.CredentialsJSON)
			require.Equal(t, "AccountName=a;AccountKey=k", cfg.Catalog.Azure.ConnectionString)
			require.Equal(t, 4, cfg.Catalog.Azure.HTTP.MaxInFlight)
		}},
		{"map entry", []string{"FLOE_CATALOG__PROPERTIES__FOO=bar"}, func(t *testing.T, cfg *Config) {
			require.Equal(t, map[string]string{"foo": "bar"}, cfg.Catalog.Properties)
		}},
		{"other variables ignored", []string{"HOME=/root", "floe_kafka__group=lower", "FLOEX=1"}, func(t *testing.T, cfg *Config) {
			require.Equal(t, "floe", cfg.Kafka.Group)
		}},
	}
	path := writeConfig(t, minimal)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(path, tt.env, nil)
			require.NoError(t, err)
			tt.check(t, cfg)
		})
	}
}

func TestLoadEnvOnly(t *testing.T) {
	_, err := Load("", []string{
		"FLOE_KAFKA__BROKERS=k:9092",
		"FLOE_CATALOG__WAREHOUSE=file:///w",
		"FLOE_CATALOG__SQL__DRIVER=sqlite",
		"FLOE_CATALOG__SQL__DSN=file:/c.db",
	}, nil)
	require.EqualError(t, err, "config: tables: at least one table is required")
}

func TestEnvKey(t *testing.T) {
	for name, want := range map[string]string{
		"FLOE_KAFKA__GROUP":                  "kafka.group",
		"FLOE_KAFKA__BATCH__MAX_AGE":         "kafka.batch.max-age",
		"FLOE_CATALOG__REST__TOKEN":          "catalog.rest.token",
		"FLOE_CATALOG__REST__TLS__CA_FILE":   "catalog.rest.tls.ca-file",
		"FLOE_KAFKA__ALLOW_TOPIC_MISMATCH":   "kafka.allow-topic-mismatch",
		"FLOE_CATALOG__REST__HEADERS__X_KEY": "catalog.rest.headers.x-key",
	} {
		require.Equal(t, want, EnvKey(name), name)
	}
}

func TestLoadPrecedence(t *testing.T) {
	path := writeConfig(t, catalogAndTables+`
kafka:
  brokers: ["localhost:9092"]
  group: from-file
  batch: {max-age: 1s}
log: {level: warn}
`)
	env := []string{"FLOE_KAFKA__GROUP=from-env", "FLOE_KAFKA__BATCH__MAX_AGE=2s"}
	tests := []struct {
		name      string
		env       []string
		overrides map[string]any
		group     string
		maxAge    time.Duration
		level     string
	}{
		{"file", nil, nil, "from-file", time.Second, "warn"},
		{"env over file", env, nil, "from-env", 2 * time.Second, "warn"},
		{
			"overrides over env", env,
			map[string]any{"kafka.group": "from-flag", "kafka.batch.max-age": 3 * time.Second, "log": map[string]any{"level": "debug"}},
			"from-flag", 3 * time.Second, "debug",
		},
		{"override as string", env, map[string]any{"kafka.batch.max-age": "4s"}, "from-env", 4 * time.Second, "warn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(path, tt.env, tt.overrides)
			require.NoError(t, err)
			require.Equal(t, tt.group, cfg.Kafka.Group)
			require.Equal(t, tt.maxAge, cfg.Kafka.Batch.MaxAge)
			require.Equal(t, tt.level, cfg.Log.Level)
			require.Equal(t, []string{"localhost:9092"}, cfg.Kafka.Brokers) // untouched keys survive
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string // appended to catalogAndTables
		env       []string
		overrides map[string]any
		want      string
	}{
		{name: "unknown key", yaml: "kafka:\n  brokrs: [x]\n", want: `config: unknown key "kafka.brokrs"`},
		{name: "unknown top-level key", yaml: "kafak: {}\n", want: `config: unknown key "kafak"`},
		{name: "unknown glue key", env: []string{"FLOE_CATALOG__GLUE__REGOIN=eu-west-1"}, want: `config: unknown key "catalog.glue.regoin" (from environment variable FLOE_CATALOG__GLUE__REGOIN)`},
		{name: "unknown hive key", env: []string{"FLOE_CATALOG__HIVE__URL=thrift://hms"}, want: `config: unknown key "catalog.hive.url" (from environment variable FLOE_CATALOG__HIVE__URL)`},
		{name: "bad hive lock wait", env: []string{"FLOE_CATALOG__HIVE__LOCK_CHECK_MIN_WAIT=soon"},
			want: `config: catalog.hive.lock-check-min-wait: invalid duration "soon": want a number with a unit, like 500ms, 30s, 5m or 1h30m (from environment variable FLOE_CATALOG__HIVE__LOCK_CHECK_MIN_WAIT)`},
		{name: "unknown gcs key", env: []string{"FLOE_CATALOG__GCS__NOAUTH=true"}, want: `config: unknown key "catalog.gcs.noauth" (from environment variable FLOE_CATALOG__GCS__NOAUTH)`},
		{name: "unknown replay key", yaml: "replay: {max-byte: 1GiB}\n", want: `config: unknown key "replay.max-byte"`},
		{name: "bad replay size", yaml: "replay: {max-bytes: 10 gigs}\n", want: `config: replay.max-bytes: invalid size "10 gigs": unknown unit "gigs" (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)`},
		{name: "keys are case-sensitive", yaml: "Log: {level: info}\n", want: `config: unknown key "Log"`},
		{name: "unknown key in list item", yaml: "  - name: demo.more\n    topcs: [x]\n", want: `config: unknown key "tables[1].topcs"`},
		{
			name: "unknown key in nested schema",
			yaml: "  - name: demo.more\n    topics: [x]\n    schema: [{name: id, tpye: long}]\n",
			want: `config: unknown key "tables[1].schema[0].tpye"`,
		},
		{
			name: "several unknown keys",
			yaml: "http: {adr: x, port: 1}\n",
			want: "config: unknown key \"http.adr\"\nconfig: unknown key \"http.port\"",
		},
		{
			name: "every problem is reported",
			yaml: "kafka:\n  batch: {max-age: 1}\n  brokrs: [x]\nlog: {level: 1s, lvl: x}\n",
			want: "config: kafka.batch.max-age: duration 1 has no unit: write it like \"30s\"\n" +
				"config: unknown key \"kafka.brokrs\"\n" +
				"config: unknown key \"log.lvl\"",
		},
		{
			name: "unknown env key",
			env:  []string{"FLOE_KAFKA__BROKRS=x"},
			want: `config: unknown key "kafka.brokrs" (from environment variable FLOE_KAFKA__BROKRS)`,
		},
		{
			name: "unknown env section",
			env:  []string{"FLOE_KAFAK__GROUP=x"},
			want: `config: unknown key "kafak" (from environment variable FLOE_KAFAK__GROUP)`,
		},
		{
			name:      "unknown override",
			overrides: map[string]any{"log.levle": "debug"},
			want:      `config: unknown key "log.levle" (from overrides)`,
		},
		{
			name: "bad duration",
			yaml: "kafka:\n  batch: {max-age: banana}\n",
			want: `config: kafka.batch.max-age: invalid duration "banana": want a number with a unit, like 500ms, 30s, 5m or 1h30m`,
		},
		{
			name: "duration without unit",
			yaml: "commit: {timeout: 30}\n",
			want: `config: commit.timeout: duration 30 has no unit: write it like "30s"`,
		},
		{
			name: "bad duration from env",
			env:  []string{"FLOE_SHUTDOWN__TIMEOUT=soon"},
			want: `config: shutdown.timeout: invalid duration "soon": want a number with a unit, like 500ms, 30s, 5m or 1h30m (from environment variable FLOE_SHUTDOWN__TIMEOUT)`,
		},
		{
			name: "bad size",
			yaml: "kafka:\n  memory-budget: 64 moose\n",
			want: `config: kafka.memory-budget: invalid size "64 moose": unknown unit "moose" (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)`,
		},
		{
			name: "size out of range",
			yaml: "kafka:\n  fetch-max-bytes: 4GiB\n",
			want: `config: kafka.fetch-max-bytes: 4294967296 is out of range (at most 2147483647)`,
		},
		{
			name: "fractional integer",
			yaml: "  - name: demo.more\n    topics: [x]\n    target-file-size: 1.5\n",
			want: `config: tables[1].target-file-size: must be an integer, got 1.5`,
		},
		{
			name: "bad bool",
			env:  []string{"FLOE_KAFKA__ALLOW_TOPIC_MISMATCH=maybe"},
			want: `config: kafka.allow-topic-mismatch: cannot read "maybe" as true or false (from environment variable FLOE_KAFKA__ALLOW_TOPIC_MISMATCH)`,
		},
		{
			name: "section of the wrong type",
			yaml: "http: localhost\n",
			want: `config: http: expected a map or struct, got "string"`,
		},
		{
			name: "tables from env",
			env:  []string{"FLOE_TABLES__NAME=x"},
			want: `config: tables: must be a list of tables, got a map (from environment variable FLOE_TABLES__NAME)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, catalogAndTables+tt.yaml), tt.env, tt.overrides)
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil, nil)
	require.ErrorContains(t, err, "missing.yaml")
	require.ErrorIs(t, err, os.ErrNotExist)

	path := writeConfig(t, "kafka: [\n")
	_, err = Load(path, nil, nil)
	require.ErrorContains(t, err, "config: parse "+path+": yaml:")
}

func TestLoadExample(t *testing.T) {
	cfg, err := Load("../deploy/floe.example.yaml", []string{"FLOE_CATALOG__REST__TOKEN=t0ken"}, nil)
	require.NoError(t, err)
	require.Equal(t, "rest", cfg.Catalog.Type)
	require.Equal(t, "t0ken", cfg.Catalog.REST.Token)
	require.Len(t, cfg.Tables, 1)
	tbl := cfg.Tables[0]
	require.NotEmpty(t, tbl.Schema)
	require.Equal(t, []string{"day(ts)", "bucket(16, id)"}, tbl.PartitionBy)
	require.NotEmpty(t, tbl.Codec.Metadata.Offset)
}

// Kafka's TLS and SASL come from the file; the password from the
// environment, where secrets belong.
func TestLoadKafkaSecurity(t *testing.T) {
	kafka := "kafka:\n  brokers: [\"localhost:9092\"]\n  sasl: {mechanism: SCRAM-SHA-512, username: floe}\n"
	cfg, err := Load(writeConfig(t, kafka+"  tls: {enabled: true, ca-file: /etc/floe/ca.pem, server-name: kafka.internal}\n"+catalogAndTables),
		[]string{"FLOE_KAFKA__SASL__PASSWORD=from-env"}, nil)
	require.NoError(t, err)
	require.True(t, cfg.Kafka.TLS.Enabled)
	require.Equal(t, "/etc/floe/ca.pem", cfg.Kafka.TLS.CAFile)
	require.Equal(t, "kafka.internal", cfg.Kafka.TLS.ServerName)
	require.Equal(t, "SCRAM-SHA-512", cfg.Kafka.SASL.Mechanism)
	require.Equal(t, "from-env", cfg.Kafka.SASL.Password)

	_, err = Load(writeConfig(t, kafka+catalogAndTables), nil, nil)
	require.ErrorContains(t, err, "kafka.sasl.password: SCRAM-SHA-512 needs a password")
}

// OAUTHBEARER's client credentials: the endpoint, client and extensions
// from the file, the secret from the environment (env keys map "_" in a
// segment to "-": FLOE_KAFKA__SASL__OAUTH__CLIENT_SECRET is client-secret).
func TestLoadKafkaOAuth(t *testing.T) {
	kafka := "kafka:\n  brokers: [\"localhost:9092\"]\n  sasl:\n    mechanism: OAUTHBEARER\n" +
		"    oauth: {token-url: \"https://idp.example/oauth2/token\", client-id: floe, scope: kafka, extensions: {logicalCluster: lkc-1}}\n"
	cfg, err := Load(writeConfig(t, kafka+catalogAndTables), []string{"FLOE_KAFKA__SASL__OAUTH__CLIENT_SECRET=cs-from-env"}, nil)
	require.NoError(t, err)
	o := cfg.Kafka.SASL.OAuth
	require.Equal(t, "https://idp.example/oauth2/token", o.TokenURL)
	require.Equal(t, "floe", o.ClientID)
	require.Equal(t, "cs-from-env", o.ClientSecret)
	require.Equal(t, map[string]string{"logicalCluster": "lkc-1"}, o.Extensions)

	_, err = Load(writeConfig(t, kafka+catalogAndTables), nil, nil)
	require.ErrorContains(t, err, "kafka.sasl.oauth.client-secret: a token-url needs a client-secret")
}
