package config

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/floe-dev/floe/codec"
)

// Validate reports the first invalid setting, named by its full key path:
//
//	config: kafka.batch.max-age: must be > 0, got 0s
//	config: tables[0] (demo.events): commit-interval: must be > 0, got 0s
//
// It runs each component's Validate and the checks that span components.
func (c Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// Unreferenced is the longest floe may hold a data file it wrote before a
// snapshot references it: a batch written ahead waits for its table's next
// commit (commit-interval), and a commit keeps its files across its tries
// until it lands or floe gives up (commit.give-up-after). With
// give-up-after 0 (never) a failing commit keeps its files unboundedly;
// its timeout is the floor then. A sweep must leave younger files alone.
func (c Config) Unreferenced() time.Duration {
	var interval time.Duration
	for _, t := range c.Tables {
		interval = max(interval, t.CommitInterval)
	}
	return interval + max(c.Commit.CommitTimeout, c.Commit.GiveUpAfter)
}

func (c Config) validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return fmt.Errorf("kafka.%w", err)
	}
	// The catalog's messages already name their keys from "catalog.".
	if err := c.Catalog.Validate(); err != nil {
		return err
	}
	if err := c.Commit.Validate(); err != nil {
		return fmt.Errorf("commit.%w", err)
	}
	if err := c.Sweep.Validate(); err != nil {
		return fmt.Errorf("sweep.%w", err)
	}
	if err := c.SchemaRegistry.Validate(); err != nil {
		return fmt.Errorf("schema-registry.%w", err)
	}
	if err := c.validateTables(); err != nil {
		return err
	}
	if u := c.Unreferenced(); c.Sweep.Interval > 0 && c.Sweep.OlderThan <= u {
		return fmt.Errorf("sweep.older-than: must be more than %s, the longest a data file may wait here for the commit "+
			"that references it (the longest commit-interval plus commit.give-up-after or commit.timeout), got %s", u, c.Sweep.OlderThan)
	}
	if err := validateAddr(c.HTTP.Addr); err != nil {
		return fmt.Errorf("http.addr: %w", err)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		return fmt.Errorf("log.format: must be json or text, got %q", c.Log.Format)
	}
	if c.Shutdown.Timeout <= 0 {
		return fmt.Errorf("shutdown.timeout: must be > 0, got %s", c.Shutdown.Timeout)
	}
	if c.Replay.MaxBytes <= 0 {
		return fmt.Errorf("replay.max-bytes: must be > 0, got %d", c.Replay.MaxBytes)
	}
	return nil
}

func (c Config) validateTables() error {
	if len(c.Tables) == 0 {
		return errors.New("tables: at least one table is required")
	}
	tableAt := make(map[string]int) // lower-cased name → index
	topicAt := make(map[string]int) // topic → index of the table it feeds
	for i, t := range c.Tables {
		where := fmt.Sprintf("tables[%d]", i)
		if t.Name != "" {
			where += " (" + t.Name + ")"
		}
		if err := t.validate(); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		switch f := t.Codec.Format; {
		case c.SchemaRegistry.Enabled():
		case f == "avro" && t.Codec.AvroSchema == "" && t.Codec.AvroSchemaFile == "":
			return fmt.Errorf("%s: format: avro needs the writer schemas: set schema-registry.urls (values in the Confluent wire format) "+
				"or avro-schema / avro-schema-file (bare Avro values)", where)
		case f == "protobuf" || f == "json-schema":
			return fmt.Errorf("%s: format: %s needs the writer schemas: set schema-registry.urls (values in the Confluent wire format)", where, f)
		case codec.RegistryKey(t.Codec.KeyFormat):
			return fmt.Errorf("%s: key-format: %s keys are framed by a schema registry: set schema-registry.urls", where, t.Codec.KeyFormat)
		}
		// Catalogs and query engines often resolve names case-insensitively.
		if j, ok := tableAt[strings.ToLower(t.Name)]; ok {
			return fmt.Errorf("%s: name: tables[%d] already has this name", where, j)
		}
		tableAt[strings.ToLower(t.Name)] = i
		for n, topic := range t.Topics {
			// Offsets live in the table, per group: a topic split across two
			// tables would need two positions in one consumer group.
			if j, ok := topicAt[topic]; ok && j != i {
				return fmt.Errorf("%s: topics[%d]: topic %q already feeds tables[%d] (%s); a topic feeds one table", where, n, topic, j, c.Tables[j].Name)
			}
			topicAt[topic] = i
		}
	}
	for i, t := range c.Tables {
		if t.DLQ.Topic == "" {
			continue
		}
		for j, other := range c.Tables {
			if re, _ := other.Pattern(); j != i && re != nil && re.MatchString(t.DLQ.Topic) {
				return fmt.Errorf("tables[%d] (%s): dlq.topic: %s matches the topics-pattern of tables[%d] (%s), which would read these dead letters as rows",
					i, t.Name, t.DLQ.Topic, j, other.Name)
			}
		}
	}
	for i, t := range c.Tables {
		if t.DLQ.Table == "" {
			continue
		}
		if j, ok := tableAt[strings.ToLower(t.DLQ.Table)]; ok {
			return fmt.Errorf("tables[%d] (%s): dlq.table: %s is tables[%d], a table floe writes rows to; a dead-letter table takes letters only",
				i, t.Name, t.DLQ.Table, j)
		}
	}
	return nil
}

// Pattern compiles topics-pattern to match whole topic names; nil when
// there is none.
func (t Table) Pattern() (*regexp.Regexp, error) {
	return wholeNames("topics-pattern", t.TopicsPattern)
}

// wholeNames compiles expr (the value of key) to match whole names; nil
// when it is empty.
func wholeNames(key, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, fmt.Errorf("%s: %q is not a regular expression: %w", key, expr, err)
	}
	return re, nil
}

// validate checks one table on its own.
func (t Table) validate() error {
	tc := t.TableConfig
	if t.Codec.Format != "json" && len(tc.Schema) == 0 {
		// The columns come from the writer schema when floe creates the
		// table; partition-by is checked against them then.
		tc.PartitionBy = nil
	}
	if err := tc.Validate(); err != nil {
		return err
	}
	if err := t.validateRouter(); err != nil {
		return err
	}
	if err := t.validateTemplate(); err != nil {
		return err
	}
	if len(t.Topics) == 0 && t.TopicsPattern == "" {
		return errors.New("topics or topics-pattern: one is required (the topics whose records become rows)")
	}
	pattern, err := t.Pattern()
	if err != nil {
		return err
	}
	if err := t.Maintenance.Validate(); err != nil {
		return fmt.Errorf("maintenance.%w", err)
	}
	seen := make(map[string]bool, len(t.Topics))
	for n, topic := range t.Topics {
		switch {
		case topic == "":
			return fmt.Errorf("topics[%d]: empty", n)
		case seen[topic]:
			return fmt.Errorf("topics[%d]: %q is listed twice", n, topic)
		}
		seen[topic] = true
	}
	if err := t.Codec.Validate(); err != nil {
		return err
	}
	if len(tc.KeySchema) > 0 && t.Codec.KeyFormat != codec.KeyJSON {
		return fmt.Errorf("key-schema: types a key column of key-format json, got key-format %q", cmp.Or(t.Codec.KeyFormat, codec.KeyBinary))
	}
	if t.Codec.Deletes == codec.OnErrorDLQ && t.DLQ.Table == "" && t.DLQ.Topic == "" {
		return errors.New("dlq.table or dlq.topic: one is required with deletes: dlq (the Iceberg table or Kafka topic that receives the change events without a row)")
	}
	if t.Codec.OnError == codec.OnErrorDLQ && t.DLQ.Table == "" && t.DLQ.Topic == "" {
		return errors.New("dlq.table or dlq.topic: one is required with on-error: dlq (the Iceberg table or Kafka topic that receives the records this table cannot take)")
	}
	for _, topic := range t.Topics {
		if t.DLQ.Topic != "" && topic == t.DLQ.Topic {
			return fmt.Errorf("dlq.topic: %s is a topic this table consumes", topic)
		}
	}
	if pattern != nil && t.DLQ.Topic != "" && pattern.MatchString(t.DLQ.Topic) {
		return fmt.Errorf("dlq.topic: %s matches topics-pattern %q: the table would read its own dead letters", t.DLQ.Topic, t.TopicsPattern)
	}
	return t.validateMetadataColumns()
}

// validateMetadataColumns checks that the metadata columns do not collide
// with each other or with a declared schema column. Names are compared
// case-insensitively, as engines may resolve them that way. A table without a
// declared schema is checked when floe loads it.
func (t Table) validateMetadataColumns() error {
	taken := make(map[string]string) // lower-cased name → what holds it
	for _, col := range t.Schema {
		taken[strings.ToLower(col.Name)] = "a schema column"
	}
	for _, col := range t.Codec.Metadata.Named() {
		key, name := col[0], col[1]
		if by, ok := taken[strings.ToLower(name)]; ok {
			return fmt.Errorf("metadata-columns.%s: %q collides with %s", key, name, by)
		}
		taken[strings.ToLower(name)] = "metadata-columns." + key
	}
	return nil
}

// validateAddr accepts host:port with a numeric port; an empty host listens
// on every interface.
func validateAddr(addr string) error {
	if addr == "" {
		return errors.New("required, as host:port")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port, got %q", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port must be a number from 0 to 65535, got %q", port)
	}
	return nil
}
