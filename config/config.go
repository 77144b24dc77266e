// Package config loads floe's configuration. Layers apply in this order, each
// replacing the keys it sets: built-in defaults, the YAML file, FLOE_*
// environment variables, then explicit overrides (command-line flags). It is
// the only package that knows koanf; components receive their own plain
// Config types (consumer.Config, catalog.Config, …) from the fields
// of [Config], and none of them imports this package.
//
// Typos must not pass silently: an unknown key anywhere — file, environment
// or overrides — is an error naming its full path (and the variable, when it
// came from the environment), and so is a value that does not fit its field.
// [Config.Validate] then runs every component's own checks and the rules that
// span components (a topic feeds one table, table names are unique, …).
//
// Value formats:
//   - durations are strings with a unit: "30s", "5m", "1h30m"; a bare number
//     is refused rather than read as nanoseconds.
//   - integer settings, byte sizes among them (kafka.memory-budget,
//     kafka.fetch-max-bytes, kafka.batch.max-bytes, tables[].target-file-size,
//     replay.max-bytes),
//     accept an integer or a size string; see [ParseSize] for the units.
package config

import (
	"log/slog"
	"time"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/registry"
	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/consumer"
	"github.com/floe-dev/floe/maintenance"
)

// Config is the whole of floe's configuration, as read from the YAML file.
type Config struct {
	Kafka   consumer.Config  `koanf:"kafka"`
	Catalog catalog.Config   `koanf:"catalog"`
	Commit  committer.Config `koanf:"commit"`
	// Sweep is the periodic orphan-file sweep of `floe run` (off by default).
	Sweep maintenance.SweepConfig `koanf:"sweep"`
	// Tables lists the tables floe writes to and the topics that feed them.
	Tables   []Table  `koanf:"tables"`
	HTTP     HTTP     `koanf:"http"`
	Log      Log      `koanf:"log"`
	Shutdown Shutdown `koanf:"shutdown"`
	// Replay limits `floe replay`.
	Replay Replay `koanf:"replay"`
	// SchemaRegistry is the Confluent-compatible registry that Avro
	// tables read their writer schemas from (off when it has no URL).
	SchemaRegistry registry.Config `koanf:"schema-registry"`
}

// Table is one destination table with its source topics and decoding
// settings. In YAML its fields sit side by side in one list item:
//
//	tables:
//	  - name: demo.events      # committer.TableConfig
//	    topics: [events]
//	    on-error: skip         # codec.Config
type Table struct {
	committer.TableConfig `koanf:",squash"`
	// Topics are the Kafka topics whose records become rows of this table.
	// A topic feeds exactly one table: offsets are stored in the table.
	Topics []string `koanf:"topics"`
	// TopicsPattern routes every other topic whose whole name matches this
	// regular expression (Go RE2 syntax) to the table: the topics there at
	// start, and those created while floe runs (found every
	// kafka.topic-refresh-interval and read from their first offset).
	TopicsPattern string `koanf:"topics-pattern"`
	// RouteBy makes the table a router: each record of its topics goes to
	// the table its content names — "header:<name>" (a record header) or
	// "field:<name>" (a top-level string field of a JSON value) — and the
	// table's name is a template holding {route}, the value's place
	// ("events.{route}"). Tables are made the first time they are named.
	RouteBy string `koanf:"route-by"`
	// AllowedTables is the allow-list of a router (required with
	// route-by): a regular expression (Go RE2) a table's whole name must
	// match for records to be routed to it. A record naming any other
	// table is a bad record (route_not_allowed): producers cannot make or
	// write arbitrary tables.
	AllowedTables string       `koanf:"allowed-tables"`
	Codec         codec.Config `koanf:",squash"`
	// Maintenance keeps the table healthy while floe ingests: snapshot
	// expiry, run by the replica that owns the table.
	Maintenance maintenance.Config `koanf:"maintenance"`
}

// HTTP configures the server for /metrics, /healthz and /readyz.
type HTTP struct {
	// Addr is the listen address, host:port. The default binds to loopback;
	// set ":9090" or "0.0.0.0:9090" for Prometheus to reach it from outside.
	Addr string `koanf:"addr"`
	// Pprof serves Go's profiler under /debug/pprof/ on the same address.
	// Off by default: profiles expose internals and cost CPU while taken.
	Pprof bool `koanf:"pprof"`
}

// Log configures the process logger.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `koanf:"level"`
	// Format is json (production) or text (a terminal).
	Format string `koanf:"format"`
}

// SlogLevel returns Level as a slog.Level; info if Level is not valid (which
// Validate reports).
func (l Log) SlogLevel() slog.Level {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
		return slog.LevelInfo
	}
	return lv
}

// Shutdown configures the stop on SIGINT/SIGTERM.
type Shutdown struct {
	// Timeout bounds the final flush and commit. Past it floe exits without
	// committing the rest; nothing is lost, as uncommitted records are read
	// again from the offsets stored in the table.
	Timeout time.Duration `koanf:"timeout"`
}

// Replay configures `floe replay`.
type Replay struct {
	// MaxBytes is the largest topic range, in estimated bytes of Kafka log,
	// that floe replays; a larger one is refused before anything is read,
	// and belongs on a distributed engine (Spark or Flink with the Iceberg
	// sink).
	MaxBytes int64 `koanf:"max-bytes"`
}

// Default returns the configuration used for every key the file, environment
// and overrides leave unset. It has no tables; see [DefaultTable].
func Default() Config {
	return Config{
		Kafka:          consumer.DefaultConfig(),
		Catalog:        catalog.DefaultConfig(),
		SchemaRegistry: registry.DefaultConfig(),
		Commit:         committer.DefaultConfig(),
		Sweep:          maintenance.DefaultSweepConfig(),
		HTTP:           HTTP{Addr: "127.0.0.1:9090"},
		Log:            Log{Level: "info", Format: "json"},
		Shutdown:       Shutdown{Timeout: 30 * time.Second},
		Replay:         Replay{MaxBytes: 10 << 30},
	}
}

// DefaultTable returns the defaults each item of the tables list starts from.
func DefaultTable() Table {
	return Table{TableConfig: committer.DefaultTableConfig(), Codec: codec.DefaultConfig(), Maintenance: maintenance.DefaultConfig()}
}
