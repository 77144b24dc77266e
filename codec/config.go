package codec

import "fmt"

// OnError says what happens to a record that cannot be decoded.
type OnError string

const (
	// OnErrorFail stops floe with the decode error (the default): nothing
	// after the bad record is committed until an operator acts.
	OnErrorFail OnError = "fail"
	// OnErrorSkip counts and logs the record with its coordinates and goes
	// on; its offset is still committed, so it is accounted for.
	OnErrorSkip OnError = "skip"
	// OnErrorDLQ writes the record with its reason and coordinates to the
	// table's dead-letter table (tables[].dlq.table) and goes on; its offset
	// is committed after the letter landed, so every consumed record ends up
	// in exactly one of the table and the dead-letter table.
	OnErrorDLQ OnError = "dlq"
)

// Envelopes: how a record value wraps the row.
const (
	EnvelopeNone     = "none"
	EnvelopeDebezium = "debezium"
)

// DefaultMaxRecordBytes is the default for max-record-bytes: Kafka's own
// default limit for a record batch (message.max.bytes) is 1 MiB, so 8 MiB
// leaves room for topics configured larger while bounding what one record
// may cost in memory.
const DefaultMaxRecordBytes = 8 << 20

// MetadataColumns names the table columns that receive Kafka metadata. An
// empty name leaves that column out.
type MetadataColumns struct {
	Topic     string `koanf:"topic"`     // string
	Partition string `koanf:"partition"` // int
	Offset    string `koanf:"offset"`    // long
	Timestamp string `koanf:"timestamp"` // timestamptz
	Key       string `koanf:"key"`       // binary; string or any type by key-format
	Headers   string `koanf:"headers"`   // list<struct<key: string, value: binary>>
	// From a Debezium envelope (envelope: debezium): the change's op
	// (c, u or r), the source database's commit time (source.ts_ms, or
	// ts_us/ts_ns when the connector sends them) and its position in the
	// source's log (PostgreSQL lsn, MySQL file:pos, SQL Server change_lsn,
	// Oracle scn).
	Op              string `koanf:"op"`               // string
	SourceTimestamp string `koanf:"source-timestamp"` // timestamptz
	SourcePosition  string `koanf:"source-position"`  // string, or long for PostgreSQL's lsn
}

// Config configures decoding for one table.
type Config struct {
	// Format is the record value format: json (the default), avro,
	// protobuf or json-schema. The last two, and avro without a schema in
	// the config, are in the Confluent wire format, their writer schemas
	// in the schema registry.
	Format string `koanf:"format"`
	// AvroSchema (or the file AvroSchemaFile) is the writer schema of
	// values that are bare Avro datums, for topics without a Schema
	// Registry. Without either, avro values are in the Confluent wire
	// format and their schemas come from schema-registry.
	AvroSchema     string `koanf:"avro-schema"`
	AvroSchemaFile string `koanf:"avro-schema-file"`
	// SubjectNameStrategy names the registry subject whose latest schema
	// creates the table: topic (<topic>-value, the default), record
	// (<record-name>) or topic-record (<topic>-<record-name>).
	SubjectNameStrategy string `koanf:"subject-name-strategy"`
	// RecordName is the full name of the Avro record or Protobuf message
	// the table is created from: it names the subject of the record and
	// topic-record strategies, and picks the message of a Protobuf schema
	// that defines several (else the first).
	RecordName string `koanf:"record-name"`
	// Envelope is how the value wraps the row: none (the value is the
	// row, the default) or debezium (a Debezium change event: the row is
	// its after, deletes and tombstones go by Deletes).
	Envelope string `koanf:"envelope"`
	// Deletes says what becomes of a Debezium delete (op d), truncate
	// (op t) and tombstone, which have no row to append: skip (counted,
	// the default) or dlq. on-error does not apply to them.
	Deletes OnError `koanf:"deletes"`
	// KeyFormat is how the record key fills the key metadata column
	// (metadata-columns.key): binary (its bytes, the default), string
	// (UTF-8 text), json (a JSON value decoded into the column's type,
	// e.g. a struct of the key's fields), or avro, protobuf or json-schema
	// (framed by the schema registry, into a struct column; the subject
	// <topic>-key types the column of a table floe creates).
	KeyFormat string          `koanf:"key-format"`
	OnError   OnError         `koanf:"on-error"`
	Metadata  MetadataColumns `koanf:"metadata-columns"`
	// MaxRecordBytes refuses a record whose key plus value is larger, before
	// decoding it, with kind record_too_large (then on-error applies).
	MaxRecordBytes int64 `koanf:"max-record-bytes"`
	// SchemaEvolution lists the schema changes floe may make to the table
	// for records that need them: add-columns, widen. Empty: none — such
	// records are bad records, and unknown fields are ignored.
	SchemaEvolution []string `koanf:"schema-evolution"`
}

// DefaultConfig returns the codec defaults.
func DefaultConfig() Config {
	return Config{Format: "json", OnError: OnErrorFail, MaxRecordBytes: DefaultMaxRecordBytes}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch c.Format {
	case "json", "protobuf", "json-schema":
		if c.AvroSchema != "" || c.AvroSchemaFile != "" {
			return fmt.Errorf("avro-schema: set for format %s; set format: avro", c.Format)
		}
	case "avro":
		if c.AvroSchema != "" && c.AvroSchemaFile != "" {
			return fmt.Errorf("avro-schema-file: set avro-schema or avro-schema-file, not both")
		}
	default:
		return fmt.Errorf("format: must be json, avro, protobuf or json-schema, got %q", c.Format)
	}
	switch c.SubjectNameStrategy {
	case "", "topic", "record", "topic-record":
	default:
		return fmt.Errorf("subject-name-strategy: must be topic, record or topic-record, got %q", c.SubjectNameStrategy)
	}
	if c.Format == "json" && (c.SubjectNameStrategy != "" || c.RecordName != "") {
		return fmt.Errorf("subject-name-strategy, record-name: set for format json, whose values are not in a schema registry")
	}
	switch c.Envelope {
	case "", EnvelopeNone:
		if c.Deletes != "" {
			return fmt.Errorf("deletes: set without envelope: debezium")
		}
		if m := c.Metadata; m.Op != "" || m.SourceTimestamp != "" || m.SourcePosition != "" {
			return fmt.Errorf("metadata-columns: op, source-timestamp and source-position come from a change event; set envelope: debezium")
		}
	case EnvelopeDebezium:
		switch c.Deletes {
		case "", OnErrorSkip, OnErrorDLQ:
		default:
			return fmt.Errorf("deletes: must be skip or dlq, got %q", c.Deletes)
		}
	default:
		return fmt.Errorf("envelope: must be none or debezium, got %q", c.Envelope)
	}
	switch c.KeyFormat {
	case "", KeyBinary, KeyString, KeyJSON:
	default:
		if RegistryKey(c.KeyFormat) {
			break
		}
		return fmt.Errorf("key-format: must be binary, string, json, avro, protobuf or json-schema, got %q", c.KeyFormat)
	}
	if c.KeyFormat != "" && c.KeyFormat != KeyBinary && c.Metadata.Key == "" {
		return fmt.Errorf("key-format: %s is set but no column receives the key; set metadata-columns.key", c.KeyFormat)
	}
	switch c.OnError {
	case OnErrorFail, OnErrorSkip, OnErrorDLQ:
	default:
		return fmt.Errorf("on-error: must be fail, skip or dlq, got %q", c.OnError)
	}
	for i, e := range c.SchemaEvolution {
		switch e {
		case EvolveAddColumns, EvolveWiden:
		case "none":
			if len(c.SchemaEvolution) > 1 {
				return fmt.Errorf("schema-evolution[%d]: none cannot be combined with other changes", i)
			}
		default:
			return fmt.Errorf("schema-evolution[%d]: must be none, add-columns or widen, got %q", i, e)
		}
	}
	if c.MaxRecordBytes <= 0 {
		return fmt.Errorf("max-record-bytes: must be > 0, got %d", c.MaxRecordBytes)
	}
	return c.Metadata.validate()
}
