package config

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/committer"
)

// validConfig returns a configuration that passes Validate, with two tables.
func validConfig() Config {
	c := Default()
	c.Kafka.Brokers = []string{"localhost:9092"}
	c.Catalog.Warehouse = "file:///var/lib/floe/warehouse"
	c.Catalog.SQL = catalog.SQLConfig{Driver: "sqlite", DSN: "file:/var/lib/floe/catalog.db"}
	events := DefaultTable()
	events.Name, events.Topics = "demo.events", []string{"events"}
	events.Schema = []committer.Column{{Name: "id", Type: "long"}, {Name: "ts", Type: "timestamptz"}}
	clicks := DefaultTable()
	clicks.Name, clicks.Topics = "demo.clicks", []string{"clicks", "clicks-v2"}
	c.Tables = []Table{events, clicks}
	return c
}

func TestValidate(t *testing.T) {
	require.NoError(t, validConfig().Validate())
	for _, w := range []string{"gs://b/w", "abfss://c@acct.dfs.core.windows.net/w", "wasb://c@acct.blob.core.windows.net/w"} {
		c := validConfig()
		c.Catalog.Warehouse = w
		require.NoError(t, c.Validate(), w)
	}
	byPattern := validConfig()
	byPattern.Tables[1].Topics, byPattern.Tables[1].TopicsPattern = nil, `clicks(-v\d+)?`
	require.NoError(t, byPattern.Validate(), "a table may name its topics by a pattern alone")
	re, err := byPattern.Tables[1].Pattern()
	require.NoError(t, err)
	require.True(t, re.MatchString("clicks-v2"))
	require.False(t, re.MatchString("old-clicks"), "the pattern matches whole names")

	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"kafka", func(c *Config) { c.Kafka.Batch.MaxAge = 0 }, "config: kafka.batch.max-age: must be > 0, got 0s"},
		{"kafka brokers", func(c *Config) { c.Kafka.Brokers = nil }, "config: kafka.brokers: at least one broker is required"},
		{"catalog not prefixed twice", func(c *Config) { c.Catalog.Type = "nessie" }, `config: catalog.type: must be rest, sql, glue or hive, got "nessie"`},
		{"glue no warehouse", func(c *Config) { c.Catalog.Type, c.Catalog.Warehouse = "glue", "" },
			"config: catalog.warehouse: required for a glue catalog (s3://bucket/prefix)"},
		{"glue bad endpoint", func(c *Config) { c.Catalog.Type, c.Catalog.Glue.Endpoint = "glue", "localhost:5000" },
			`config: catalog.glue.endpoint: must be an absolute http(s) URL, got "localhost:5000"`},
		{"glue endpoint without s3 endpoint", func(c *Config) { c.Catalog.Type, c.Catalog.Glue.Endpoint = "glue", "http://127.0.0.1:5000" },
			"config: catalog.s3.endpoint: required with catalog.glue.endpoint (for AWS S3: https://s3.<region>.amazonaws.com)"},
		{"glue half a key", func(c *Config) { c.Catalog.Type, c.Catalog.Glue.AccessKeyID = "glue", "AKIA" },
			"config: catalog.glue.access-key-id, catalog.glue.secret-access-key: set both or neither"},
		{"glue token without keys", func(c *Config) { c.Catalog.Type, c.Catalog.Glue.SessionToken = "glue", "tok" },
			"config: catalog.glue.session-token: needs access-key-id and secret-access-key"},
		{"glue catalog id", func(c *Config) { c.Catalog.Type, c.Catalog.Glue.CatalogID = "glue", "acme" },
			`config: catalog.glue.catalog-id: must be an AWS account ID (digits), got "acme"`},
		{"glue http limits", func(c *Config) { c.Catalog.Type, c.Catalog.HTTP.MaxInFlight = "glue", 0 },
			"config: catalog.http.max-in-flight: must be > 0, got 0"},
		{"hive no uri", func(c *Config) { c.Catalog.Type = "hive" },
			"config: catalog.hive.uri: required for a hive catalog (thrift://host:9083)"},
		{"hive bad scheme", func(c *Config) { c.Catalog.Type, c.Catalog.Hive.URI = "hive", "http://hms:9083" },
			`config: catalog.hive.uri: must be thrift://host[:port], got "http://hms:9083"`},
		{"hive bad port", func(c *Config) { c.Catalog.Type, c.Catalog.Hive.URI = "hive", "thrift://hms:0" },
			`config: catalog.hive.uri: port must be 1-65535, got "0"`},
		{"hive lock waits", func(c *Config) {
			c.Catalog.Type, c.Catalog.Hive.URI = "hive", "thrift://hms"
			c.Catalog.Hive.LockCheckMinWait, c.Catalog.Hive.LockCheckMaxWait = 5*time.Second, time.Second
		}, "config: catalog.hive.lock-check-min-wait: must be below lock-check-max-wait (1s), got 5s"},
		{"hive negative lock wait", func(c *Config) {
			c.Catalog.Type, c.Catalog.Hive.URI, c.Catalog.Hive.LockCheckMaxWait = "hive", "thrift://hms", -time.Second
		}, "config: catalog.hive.lock-check-max-wait: must be >= 0 (0: the default), got -1s"},
		{"hive negative lock min wait", func(c *Config) {
			c.Catalog.Type, c.Catalog.Hive.URI, c.Catalog.Hive.LockCheckMinWait = "hive", "thrift://hms", -time.Second
		}, "config: catalog.hive.lock-check-min-wait: must be >= 0 (0: the default), got -1s"},
		{"hive lock retries", func(c *Config) {
			c.Catalog.Type, c.Catalog.Hive.URI, c.Catalog.Hive.LockCheckRetries = "hive", "thrift://hms", -1
		}, "config: catalog.hive.lock-check-retries: must be >= 0 (0: the default), got -1"},
		{"hive no warehouse", func(c *Config) { c.Catalog.Type, c.Catalog.Hive.URI, c.Catalog.Warehouse = "hive", "thrift://hms", "" },
			"config: catalog.warehouse: required for a hive catalog"},
		{"hive http limits", func(c *Config) {
			c.Catalog.Type, c.Catalog.Hive.URI, c.Catalog.HTTP.RequestTimeout = "hive", "thrift://hms", 0
		},
			"config: catalog.http.request-timeout: must be > 0, got 0s"},
		{"commit", func(c *Config) { c.Commit.RetryMin = 0 }, "config: commit.retry-min: must be > 0, got 0s"},
		{"no tables", func(c *Config) { c.Tables = nil }, "config: tables: at least one table is required"},
		{
			"table field", func(c *Config) { c.Tables[0].CommitInterval = 0 },
			"config: tables[0] (demo.events): commit-interval: must be > 0, got 0s",
		},
		{
			"table maintenance", func(c *Config) { c.Tables[0].Maintenance.Expire.KeepLast = 0 },
			"config: tables[0] (demo.events): maintenance.expire.keep-last: must be at least 1 (the branch's head is always kept), got 0",
		},
		{
			"table without name", func(c *Config) { c.Tables[1].Name = "" },
			`config: tables[1]: name: must be namespace.table, got ""`,
		},
		{
			"no topics", func(c *Config) { c.Tables[1].Topics = nil },
			"config: tables[1] (demo.clicks): topics or topics-pattern: one is required (the topics whose records become rows)",
		},
		{
			"topics-pattern not a regexp", func(c *Config) { c.Tables[1].Topics, c.Tables[1].TopicsPattern = nil, "clicks-(" },
			"config: tables[1] (demo.clicks): topics-pattern: \"clicks-(\" is not a regular expression: error parsing regexp: missing closing ): `^(?:clicks-()$`",
		},
		{
			"topics-pattern matching its dlq.topic", func(c *Config) {
				c.Tables[1].TopicsPattern, c.Tables[1].Codec.OnError, c.Tables[1].DLQ.Topic = `clicks\..*`, codec.OnErrorDLQ, "clicks.dlq"
			},
			`config: tables[1] (demo.clicks): dlq.topic: clicks.dlq matches topics-pattern "clicks\\..*": the table would read its own dead letters`,
		},
		{
			"topics-pattern matching another table's dlq.topic", func(c *Config) {
				c.Tables[0].Codec.OnError, c.Tables[0].DLQ.Topic = codec.OnErrorDLQ, "clicks.events-dlq"
				c.Tables[1].TopicsPattern = `clicks\..*`
			},
			`config: tables[0] (demo.events): dlq.topic: clicks.events-dlq matches the topics-pattern of tables[1] (demo.clicks), which would read these dead letters as rows`,
		},
		{
			"empty topic", func(c *Config) { c.Tables[1].Topics[1] = "" },
			"config: tables[1] (demo.clicks): topics[1]: empty",
		},
		{
			"topic twice in a table", func(c *Config) { c.Tables[1].Topics[1] = "clicks" },
			`config: tables[1] (demo.clicks): topics[1]: "clicks" is listed twice`,
		},
		{
			"topic in two tables", func(c *Config) { c.Tables[1].Topics[1] = "events" },
			`config: tables[1] (demo.clicks): topics[1]: topic "events" already feeds tables[0] (demo.events); a topic feeds one table`,
		},
		{
			"duplicate table name", func(c *Config) { c.Tables[1].Name = "Demo.Events" },
			"config: tables[1] (Demo.Events): name: tables[0] already has this name",
		},
		{
			"codec", func(c *Config) { c.Tables[1].Codec.Format = "xml" },
			`config: tables[1] (demo.clicks): format: must be json, avro, protobuf or json-schema, got "xml"`,
		},
		{
			"protobuf without a registry", func(c *Config) { c.Tables[1].Codec.Format = "protobuf" },
			`config: tables[1] (demo.clicks): format: protobuf needs the writer schemas: set schema-registry.urls (values in the Confluent wire format)`,
		},
		{
			"json-schema without a registry", func(c *Config) { c.Tables[1].Codec.Format = "json-schema" },
			`config: tables[1] (demo.clicks): format: json-schema needs the writer schemas: set schema-registry.urls (values in the Confluent wire format)`,
		},
		{
			"deletes to a dead-letter table that is not there", func(c *Config) {
				c.Tables[1].Codec.Envelope, c.Tables[1].Codec.Deletes = codec.EnvelopeDebezium, codec.OnErrorDLQ
			},
			`config: tables[1] (demo.clicks): dlq.table or dlq.topic: one is required with deletes: dlq (the Iceberg table or Kafka topic that receives the change events without a row)`,
		},
		{
			"record name for json", func(c *Config) { c.Tables[1].Codec.RecordName = "shop.Order" },
			`config: tables[1] (demo.clicks): subject-name-strategy, record-name: set for format json, whose values are not in a schema registry`,
		},
		{
			"avro without a schema", func(c *Config) { c.Tables[1].Codec.Format = "avro" },
			`config: tables[1] (demo.clicks): format: avro needs the writer schemas: set schema-registry.urls (values in the Confluent wire format) or avro-schema / avro-schema-file (bare Avro values)`,
		},
		{
			"registry url", func(c *Config) { c.SchemaRegistry.URLs = []string{"registry:8081"} },
			`config: schema-registry.urls: "registry:8081" is not an http(s) URL`,
		},
		{
			"metadata column collides with schema", func(c *Config) { c.Tables[0].Codec.Metadata.Offset = "ID" },
			`config: tables[0] (demo.events): metadata-columns.offset: "ID" collides with a schema column`,
		},
		{
			"metadata columns collide with each other", func(c *Config) {
				c.Tables[1].Codec.Metadata.Topic = "_src"
				c.Tables[1].Codec.Metadata.Key = "_SRC"
			},
			`config: tables[1] (demo.clicks): metadata-columns.key: "_SRC" collides with metadata-columns.topic`,
		},
		{
			"registry keys without a registry", func(c *Config) {
				c.Tables[1].Codec.Metadata.Key = "_key"
				c.Tables[1].Codec.KeyFormat = "avro"
			},
			`config: tables[1] (demo.clicks): key-format: avro keys are framed by a schema registry: set schema-registry.urls`,
		},
		{
			"key-schema without json keys", func(c *Config) {
				c.Tables[1].Codec.Metadata.Key = "_key"
				c.Tables[1].KeySchema = []committer.Column{{Name: "id", Type: "long"}}
			},
			`config: tables[1] (demo.clicks): key-schema: types a key column of key-format json, got key-format "binary"`,
		},
		{
			"bad key-schema", func(c *Config) {
				c.Tables[1].Codec.Metadata.Key = "_key"
				c.Tables[1].Codec.KeyFormat = "json"
				c.Tables[1].KeySchema = []committer.Column{{Name: "id", Type: "lon"}}
			},
			`config: tables[1] (demo.clicks): key-schema: column "id": unknown type "lon"`,
		},
		{
			"dlq without a table", func(c *Config) { c.Tables[0].Codec.OnError = "dlq" },
			"config: tables[0] (demo.events): dlq.table or dlq.topic: one is required with on-error: dlq (the Iceberg table or Kafka topic that receives the records this table cannot take)",
		},
		{
			"dlq topic is a source", func(c *Config) { c.Tables[0].Codec.OnError = "dlq"; c.Tables[0].DLQ.Topic = "events" },
			"config: tables[0] (demo.events): dlq.topic: events is a topic this table consumes",
		},
		{
			"dlq table is a data table", func(c *Config) { c.Tables[0].DLQ.Table = "demo.clicks" },
			"config: tables[0] (demo.events): dlq.table: demo.clicks is tables[1], a table floe writes rows to; a dead-letter table takes letters only",
		},
		{
			"dlq table is the table", func(c *Config) { c.Tables[0].DLQ.Table = "demo.events" },
			"config: tables[0] (demo.events): dlq.table: must not be the table itself (demo.events)",
		},
		{
			"dlq bad name", func(c *Config) { c.Tables[0].DLQ.Table = "nodot" },
			`config: tables[0] (demo.events): dlq.table: must be namespace.table, got "nodot"`,
		},
		{
			"max files", func(c *Config) { c.Tables[1].MaxFilesPerCommit = 0 },
			"config: tables[1] (demo.clicks): max-files-per-commit: must be > 0, got 0",
		},
		{
			"max record bytes", func(c *Config) { c.Tables[1].Codec.MaxRecordBytes = -1 },
			"config: tables[1] (demo.clicks): max-record-bytes: must be > 0, got -1",
		},
		{
			"warehouse scheme", func(c *Config) { c.Catalog.Warehouse = "hdfs://nn/warehouse" },
			`config: catalog.warehouse: scheme must be one of file://, s3://, s3a://, gs://, abfs://, abfss://, wasb://, wasbs://, got "hdfs://nn/warehouse"`,
		},
		{
			"gcs endpoint", func(c *Config) { c.Catalog.GCS.Endpoint = "127.0.0.1:4443" },
			`config: catalog.gcs.endpoint: must be an http:// or https:// URL, got "127.0.0.1:4443"`,
		},
		{
			"gcs two keys", func(c *Config) { c.Catalog.GCS.CredentialsFile, c.Catalog.GCS.CredentialsJSON = "/k.json", "{}" },
			"config: catalog.gcs: set credentials-file or credentials-json, not both",
		},
		{
			"gcs no-auth with a key", func(c *Config) { c.Catalog.GCS.NoAuth, c.Catalog.GCS.CredentialsFile = true, "/k.json" },
			"config: catalog.gcs.no-auth: cannot be true with credentials-file or credentials-json",
		},
		{
			"gcs http", func(c *Config) { c.Catalog.GCS.HTTP.MaxInFlight = -1 },
			"config: catalog.gcs.http.max-in-flight: must be >= 0 (0: the default), got -1",
		},
		{
			"azure two credentials", func(c *Config) { c.Catalog.Azure.AccountKey, c.Catalog.Azure.SASToken = "a2V5", "sv=x" },
			"config: catalog.azure: set one of connection-string, account-key and sas-token, not several",
		},
		{
			"azure connection string", func(c *Config) { c.Catalog.Azure.ConnectionString = "UseDevelopmentStorage" },
			"config: catalog.azure.connection-string: needs AccountName or BlobEndpoint (key=value pairs separated by ';')",
		},
		{
			"azure account key", func(c *Config) { c.Catalog.Azure.AccountKey = "not base64!" },
			"config: catalog.azure.account-key: must be the base64 key of the storage account",
		},
		{
			"azure endpoint", func(c *Config) { c.Catalog.Azure.Endpoint = "ftp://x" },
			`config: catalog.azure.endpoint: must be an http:// or https:// URL, got "ftp://x"`,
		},
		{
			"azure http", func(c *Config) { c.Catalog.Azure.HTTP.MaxIdleConns, c.Catalog.Azure.HTTP.MaxConnsPerHost = 8, 4 },
			"config: catalog.azure.http.max-idle-conns: must be at most max-conns-per-host (4), got 8",
		},
		{"http addr empty", func(c *Config) { c.HTTP.Addr = "" }, "config: http.addr: required, as host:port"},
		{"http addr no port", func(c *Config) { c.HTTP.Addr = "localhost" }, `config: http.addr: must be host:port, got "localhost"`},
		{"http addr bad port", func(c *Config) { c.HTTP.Addr = "localhost:99999" }, `config: http.addr: port must be a number from 0 to 65535, got "99999"`},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, `config: log.level: must be debug, info, warn or error, got "verbose"`},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `config: log.format: must be json or text, got "xml"`},
		{"shutdown timeout", func(c *Config) { c.Shutdown.Timeout = 0 }, "config: shutdown.timeout: must be > 0, got 0s"},
		{"replay max bytes", func(c *Config) { c.Replay.MaxBytes = 0 }, "config: replay.max-bytes: must be > 0, got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			require.EqualError(t, c.Validate(), tt.want)
		})
	}
}

// A sweep must never reach a file that floe still means to commit: one
// written ahead waits for its table's commit-interval, and a commit keeps
// its files across tries until commit.give-up-after.
func TestSweepLeavesFilesAwaitingTheirCommit(t *testing.T) {
	c := validConfig()
	require.Equal(t, 30*time.Second+15*time.Minute, c.Unreferenced(), "defaults: commit-interval 30s, give-up-after 15m")
	c.Tables[1].CommitInterval = 2 * time.Hour
	c.Sweep.Interval, c.Sweep.OlderThan = time.Hour, time.Hour
	require.EqualError(t, c.Validate(), "config: sweep.older-than: must be more than 2h15m0s, the longest a data file may wait here "+
		"for the commit that references it (the longest commit-interval plus commit.give-up-after or commit.timeout), got 1h0m0s")
	c.Sweep.OlderThan = 3 * time.Hour
	require.NoError(t, c.Validate())
	c.Sweep.Interval, c.Sweep.OlderThan = 0, time.Hour
	require.NoError(t, c.Validate(), "no periodic sweep: nothing to check")
	c.Commit.GiveUpAfter = 0 // never give up: a commit keeps its files for its timeout
	require.Equal(t, 2*time.Hour+2*time.Minute, c.Unreferenced())
}

func TestValidateAddr(t *testing.T) {
	for _, addr := range []string{":9090", "0.0.0.0:9090", "[::1]:9090", "localhost:0"} {
		require.NoError(t, validateAddr(addr), addr)
	}
}

func TestSlogLevel(t *testing.T) {
	require.Equal(t, "DEBUG", Log{Level: "debug"}.SlogLevel().String())
	require.Equal(t, "WARN", Log{Level: "warn"}.SlogLevel().String())
	require.Equal(t, "INFO", Log{Level: "bogus"}.SlogLevel().String())
}

func TestTemplates(t *testing.T) {
	c := validConfig()
	tpl := &c.Tables[1]
	tpl.Name, tpl.Topics, tpl.TopicsPattern = "raw.t_{topic}", nil, `clicks\..+`
	tpl.Codec.OnError, tpl.DLQ.Table = codec.OnErrorDLQ, "raw.t_{topic}_dlq"
	require.NoError(t, c.Validate())
	require.True(t, tpl.IsTemplate())
	require.False(t, c.Tables[0].IsTemplate())

	eu := tpl.ForTopic("Clicks.EU-1")
	require.Equal(t, "raw.t_clicks_eu_1", eu.Name)
	require.Equal(t, "raw.t_clicks_eu_1_dlq", eu.DLQ.Table)
	require.Equal(t, []string{"Clicks.EU-1"}, eu.Topics)
	require.Empty(t, eu.TopicsPattern)
	require.Equal(t, map[string]string{"floe.topic": "Clicks.EU-1", "floe.template": "raw.t_{topic}"}, eu.Properties)
	require.Nil(t, tpl.Properties, "the template itself is left as it was")
	m := tpl.NameShape().FindStringSubmatch("raw.t_clicks_eu_1")
	require.Equal(t, []string{"raw.t_clicks_eu_1", "clicks_eu_1"}, m)
	require.Nil(t, tpl.NameShape().FindStringSubmatch("raw.clicks_eu"))
	require.Equal(t, "raw.t_clicks_eu_1", tpl.ForNamePart(m[1]).Name)

	for _, tc := range []struct {
		name   string
		mutate func(t *Table)
		want   string
	}{
		{"twice", func(t *Table) { t.Name = "raw.{topic}_{topic}" }, "name: raw.{topic}_{topic} holds {topic} more than once"},
		{"in the namespace", func(t *Table) { t.Name = "{topic}.events" },
			"name: {topic}.events: {topic} may stand only in the table's part of namespace.table (e.g. raw.{topic})"},
		{"other braces", func(t *Table) { t.Name = "raw.{topic}_{x}" },
			"name: raw.{topic}_{x}: {topic} may stand only in the table's part of namespace.table (e.g. raw.{topic})"},
		{"dlq.table namespace", func(t *Table) { t.DLQ.Table = "dlq_{topic}.t" },
			"dlq.table: dlq_{topic}.t: {topic} may stand only in the table's part of namespace.table (e.g. raw.{topic})"},
		{"one dlq table for all", func(t *Table) { t.DLQ.Table = "raw.dlq" },
			"dlq.table: raw.dlq must hold {topic} too: each table the template makes has a dead-letter table of its own"},
		{"dlq template without a template", func(t *Table) { t.Name = "raw.clicks" },
			"dlq.table: raw.t_{topic}_dlq holds {topic} but the table's name does not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			c.Tables[1] = *tpl
			tc.mutate(&c.Tables[1])
			require.EqualError(t, c.Validate(), fmt.Sprintf("config: tables[1] (%s): %s", c.Tables[1].Name, tc.want))
		})
	}
}

func TestRouters(t *testing.T) {
	c := validConfig()
	r := &c.Tables[1]
	r.Name, r.RouteBy, r.AllowedTables = "events.{route}", "header:x-table", `events\.(orders|payments)`
	r.Schema = []committer.Column{{Name: "id", Type: "long"}}
	r.Codec.OnError, r.DLQ.Table = codec.OnErrorDLQ, "events.dead_letters"
	require.NoError(t, c.Validate())
	require.True(t, r.IsRouter())
	require.False(t, r.IsTemplate())
	require.False(t, c.Tables[0].IsRouter())
	kind, name := r.RouteSource()
	require.Equal(t, []string{"header", "x-table"}, []string{kind, name})
	allowed, err := r.Allowed()
	require.NoError(t, err)
	require.True(t, allowed.MatchString("events.orders"))
	require.False(t, allowed.MatchString("events.orders_x"), "whole names only")

	orders := r.ForRoute("Orders")
	require.Equal(t, "events.orders", orders.Name)
	require.Equal(t, "events.dead_letters", orders.DLQ.Table, "one dead-letter table for all")
	require.Empty(t, orders.Topics)
	require.Empty(t, orders.RouteBy)
	require.Equal(t, map[string]string{"floe.route-template": "events.{route}", "floe.route": "Orders"}, orders.Properties)
	require.Nil(t, r.Properties, "the router itself is left as it was")
	require.Equal(t, []string{"events.orders", "orders"}, r.NameShape().FindStringSubmatch("events.orders"))

	r.RouteBy, r.Codec.OnError = "field:type", codec.OnErrorSkip
	require.NoError(t, c.Validate(), "a JSON field")

	for _, tc := range []struct {
		name   string
		mutate func(t *Table)
		want   string
	}{
		{"no kind", func(t *Table) { t.RouteBy = "x-table" }, `route-by: must be header:<name> or field:<name>, got "x-table"`},
		{"no name", func(t *Table) { t.RouteBy = "header:" }, `route-by: must be header:<name> or field:<name>, got "header:"`},
		{"field of avro", func(t *Table) { t.RouteBy, t.Codec.Format, t.Codec.AvroSchema = "field:type", "avro", `"string"` },
			"route-by: field:type reads a field of JSON values; with format avro, route by a header"},
		{"no placeholder", func(t *Table) { t.Name = "events.all" },
			"name: events.all must hold {route} with route-by (e.g. events.{route}): each route value has a table of its own"},
		{"with {topic}", func(t *Table) { t.Name = "events.{topic}_{route}" },
			"name: events.{topic}_{route} holds both {topic} and {route}: a router's tables are named by the route value alone"},
		{"in the namespace", func(t *Table) { t.Name = "{route}.events" },
			"name: {route}.events: {route} may stand only in the table's part of namespace.table (e.g. raw.{route})"},
		{"no allow-list", func(t *Table) { t.AllowedTables = "" },
			`allowed-tables: required with route-by: the pattern of the tables records may be routed to (e.g. "events\\.(orders|payments)"), so a producer cannot make or write any other`},
		{"bad allow-list", func(t *Table) { t.AllowedTables = "events.(" },
			"allowed-tables: \"events.(\" is not a regular expression: error parsing regexp: missing closing ): `^(?:events.()$`"},
		{"dlq table per route", func(t *Table) { t.DLQ.Table = "events.{route}_dlq" },
			"dlq.table: events.{route}_dlq: a router's tables share one dead-letter table; name it without placeholders"},
		{"dlq topic only", func(t *Table) { t.Codec.OnError, t.DLQ.Table, t.DLQ.Topic = codec.OnErrorDLQ, "", "events.dlq" },
			"dlq.table: required with route-by and on-error: dlq (records that cannot be routed have no table of their own, and are dead-lettered there)"},
		{"json without a schema", func(t *Table) { t.Schema = nil },
			"schema: required with route-by and format json: each table a record names is created with it"},
		{"evolution", func(t *Table) { t.Codec.SchemaEvolution = []string{"add-columns"} },
			"schema-evolution: not supported with route-by yet; declare the columns every routed table needs"},
		{"placeholder without route-by", func(t *Table) { t.RouteBy = "" }, "name: events.{route} holds {route} but route-by is not set"},
		{"allow-list without route-by", func(t *Table) { t.Name, t.RouteBy = "events.all", "" }, "allowed-tables: set without route-by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			c.Tables[1] = *r
			tc.mutate(&c.Tables[1])
			require.EqualError(t, c.Validate(), fmt.Sprintf("config: tables[1] (%s): %s", c.Tables[1].Name, tc.want))
		})
	}
}
