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
)

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
	// Format is the record value format; only "json" today.
	Format   string          `koanf:"format"`
	OnError  OnError         `koanf:"on-error"`
	Metadata MetadataColumns `koanf:"metadata-columns"`
}

// DefaultConfig returns the codec defaults.
func DefaultConfig() Config { return Config{Format: "json", OnError: OnErrorFail} }

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.Format != "json" {
		return fmt.Errorf("format: only json is supported, got %q", c.Format)
	}
	switch c.OnError {
	case OnErrorFail, OnErrorSkip:
	default:
		return fmt.Errorf("on-error: must be fail or skip, got %q", c.OnError)
	}
	return c.Metadata.validate()
}
