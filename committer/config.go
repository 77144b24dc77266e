package committer

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Column declares one column of a table floe creates.
type Column struct {
	Name string `koanf:"name"`
	// Type is an Iceberg type: boolean, int, long, float, double,
	// decimal(P,S), date, time, timestamp, timestamptz, string, uuid,
	// binary, fixed[N], struct (with Fields), list (with Element),
	// map (with Key and Value).
	Type     string   `koanf:"type"`
	Required bool     `koanf:"required"`
	Doc      string   `koanf:"doc"`
	Fields   []Column `koanf:"fields"`
	Element  *Column  `koanf:"element"`
	Key      *Column  `koanf:"key"`
	Value    *Column  `koanf:"value"`
}

// TableConfig is one table floe writes to.
type TableConfig struct {
	// Name is "namespace.table" (namespace may have several levels).
	Name string `koanf:"name"`
	// Schema is used only when floe creates the table; an existing table's
	// own schema always wins.
	Schema []Column `koanf:"schema"`
	// KeySchema is the columns of the key column (a struct) when floe
	// creates a table whose keys are JSON (key-format: json).
	KeySchema []Column `koanf:"key-schema"`
	// PartitionBy lists partition fields for a created table, e.g.
	// "day(ts)", "bucket(16, id)", "truncate(4, name)", "country".
	PartitionBy []string `koanf:"partition-by"`
	// Properties are set on a created table.
	Properties map[string]string `koanf:"properties"`
	// Owner is stored as the table property floe.owner on create.
	Owner string `koanf:"owner"`
	// CommitInterval is the time between two commits to this table, start
	// to start: snapshots per hour stay bounded whatever the partition
	// count. Only a commit on catching up (CommitOnCatchUp) comes sooner.
	CommitInterval time.Duration `koanf:"commit-interval"`
	// CommitOnCatchUp commits as soon as the table's partitions have read
	// to the end of a backlog (after an outage, a deploy, a replay of the
	// group), rather than at the next interval: the tail of a catch-up is
	// visible when it is read. Such a commit starts no sooner than a quarter
	// of CommitInterval after the last one, at most once between two
	// interval commits, and the interval restarts from it.
	CommitOnCatchUp bool `koanf:"commit-on-catch-up"`
	// TargetFileSize is the data file size floe aims for.
	TargetFileSize int64 `koanf:"target-file-size"`
	// MaxFilesPerCommit refuses a commit that would add more data files
	// (e.g. a batch spread over thousands of hour partitions): floe stops
	// with an error naming the limit rather than bloat the table's metadata.
	MaxFilesPerCommit int `koanf:"max-files-per-commit"`
	// DLQ is the dead-letter table used by on-error: dlq.
	DLQ DLQConfig `koanf:"dlq"`
}

// DLQConfig configures a table's dead-letter destination.
type DLQConfig struct {
	// Table is the Iceberg table ("namespace.table") that receives records
	// the table cannot take, with their reason and source coordinates. floe
	// creates it if missing; several tables may share one.
	Table string `koanf:"table"`
	// Topic is a Kafka topic (it must exist) that receives the same records
	// with their original key, value and headers plus floe.* headers for the
	// reason and source coordinates; with or instead of Table.
	Topic string `koanf:"topic"`
	// MaxValueBytes keeps at most this many bytes of a dead letter's value
	// (value_size has the full size and value_truncated says it was cut).
	MaxValueBytes int64 `koanf:"max-value-bytes"`
}

// Config is the commit loop's configuration, shared by all tables.
type Config struct {
	// CommitTimeout bounds one commit (all its retries). A commit that cannot
	// land in time marks the table unhealthy and is tried again later; data
	// and offsets are kept.
	CommitTimeout time.Duration `koanf:"timeout"`
	// RetryMin and RetryMax bound the exponential backoff (full jitter)
	// between commit attempts.
	RetryMin time.Duration `koanf:"retry-min"`
	RetryMax time.Duration `koanf:"retry-max"`
	// GiveUpAfter stops floe (exit code 1) once a table has been unable to
	// commit for this long, so the orchestrator restarts it and someone is
	// paged; nothing is lost, as offsets never advanced. 0 never gives up.
	GiveUpAfter time.Duration `koanf:"give-up-after"`
}

// DefaultConfig returns the committer defaults.
func DefaultConfig() Config {
	return Config{
		CommitTimeout: 2 * time.Minute,
		RetryMin:      200 * time.Millisecond,
		RetryMax:      10 * time.Second,
		GiveUpAfter:   15 * time.Minute,
	}
}

// DefaultTableConfig returns the per-table defaults.
func DefaultTableConfig() TableConfig {
	return TableConfig{
		CommitInterval: 30 * time.Second, CommitOnCatchUp: true, TargetFileSize: 128 << 20, MaxFilesPerCommit: 1000,
		DLQ: DLQConfig{MaxValueBytes: 1 << 20},
	}
}

// Validate reports the first invalid field, named by its key relative to the
// commit section.
func (c Config) Validate() error {
	switch {
	case c.CommitTimeout <= 0:
		return fmt.Errorf("timeout: must be > 0, got %s", c.CommitTimeout)
	case c.RetryMin <= 0:
		return fmt.Errorf("retry-min: must be > 0, got %s", c.RetryMin)
	case c.RetryMax < c.RetryMin:
		return fmt.Errorf("retry-max: must be >= retry-min (%s), got %s", c.RetryMin, c.RetryMax)
	case c.GiveUpAfter < 0:
		return fmt.Errorf("give-up-after: must be >= 0 (0: never), got %s", c.GiveUpAfter)
	case c.GiveUpAfter > 0 && c.GiveUpAfter < c.CommitTimeout:
		return fmt.Errorf("give-up-after: must be 0 or >= timeout (%s), got %s", c.CommitTimeout, c.GiveUpAfter)
	}
	return nil
}

// Validate reports the first invalid field of a table, including its schema
// and partition spec.
func (t TableConfig) Validate() error {
	if _, err := ParseIdentifier(t.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if t.CommitInterval <= 0 {
		return fmt.Errorf("commit-interval: must be > 0, got %s", t.CommitInterval)
	}
	if t.TargetFileSize <= 0 {
		return fmt.Errorf("target-file-size: must be > 0, got %d", t.TargetFileSize)
	}
	if t.MaxFilesPerCommit <= 0 {
		return fmt.Errorf("max-files-per-commit: must be > 0, got %d", t.MaxFilesPerCommit)
	}
	if t.DLQ.Table != "" {
		if _, err := ParseIdentifier(t.DLQ.Table); err != nil {
			return fmt.Errorf("dlq.table: %w", err)
		}
		if t.DLQ.Table == t.Name {
			return fmt.Errorf("dlq.table: must not be the table itself (%s)", t.Name)
		}
	}
	if t.DLQ.MaxValueBytes < 0 {
		return fmt.Errorf("dlq.max-value-bytes: must be >= 0, got %d", t.DLQ.MaxValueBytes)
	}
	if len(t.Schema) > 0 {
		sc, err := BuildSchema(t.Schema)
		if err != nil {
			return fmt.Errorf("schema: %w", err)
		}
		if _, err := BuildPartitionSpec(sc, t.PartitionBy); err != nil {
			return fmt.Errorf("partition-by: %w", err)
		}
	} else if len(t.PartitionBy) > 0 {
		return errors.New("partition-by: needs a schema to refer to")
	}
	if len(t.KeySchema) > 0 {
		if _, err := BuildSchema(t.KeySchema); err != nil {
			return fmt.Errorf("key-schema: %w", err)
		}
	}
	return nil
}

// ParseIdentifier splits "ns.table" into its parts.
func ParseIdentifier(name string) ([]string, error) {
	parts := strings.Split(name, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("must be namespace.table, got %q", name)
	}
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("empty part in %q", name)
		}
	}
	return parts, nil
}
