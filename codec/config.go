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
	Key       string `koanf:"key"`       // binary
	Headers   string `koanf:"headers"`   // list<struct<key: string, value: binary>>
}

// Config configures decoding for one table.
type Config struct {
	// Format is the record value format: json (the default) or avro.
	Format string `koanf:"format"`
	// AvroSchema (or the file AvroSchemaFile) is the writer schema of
	// values that are bare Avro datums, for topics without a Schema
	// Registry. Without either, avro values are in the Confluent wire
	// format and their schemas come from schema-registry.
	AvroSchema     string `koanf:"avro-schema"`
	AvroSchemaFile string `koanf:"avro-schema-file"`
	// SubjectNameStrategy names the registry subject whose latest schema
	// creates the table: topic (<topic>-value, the default), record or
	// topic-record (which need a declared schema: the record's name is not
	// known before the first record).
	SubjectNameStrategy string          `koanf:"subject-name-strategy"`
	OnError             OnError         `koanf:"on-error"`
	Metadata            MetadataColumns `koanf:"metadata-columns"`
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
	case "json":
		if c.AvroSchema != "" || c.AvroSchemaFile != "" {
			return fmt.Errorf("avro-schema: set for format json; set format: avro")
		}
	case "avro":
		if c.AvroSchema != "" && c.AvroSchemaFile != "" {
			return fmt.Errorf("avro-schema-file: set avro-schema or avro-schema-file, not both")
		}
	case "protobuf", "json-schema":
		return fmt.Errorf("format: %s is not supported yet (json and avro are)", c.Format)
	default:
		return fmt.Errorf("format: must be json or avro, got %q", c.Format)
	}
	switch c.SubjectNameStrategy {
	case "", "topic", "record", "topic-record":
	default:
		return fmt.Errorf("subject-name-strategy: must be topic, record or topic-record, got %q", c.SubjectNameStrategy)
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
