package consumer

import (
	"errors"
	"fmt"
	"time"

	"github.com/floe-dev/floe/batcher"
)

// Config is the Kafka side of floe.
type Config struct {
	Brokers  []string `koanf:"brokers"`
	Group    string   `koanf:"group"`
	ClientID string   `koanf:"client-id"`
	// StartFrom says where a partition the table has no offset for begins:
	// "earliest" or "latest".
	StartFrom string `koanf:"start-from"`
	// Balancer is "cooperative-sticky" (classic protocol) or "server"
	// (KIP-848, Kafka >= 4.0).
	Balancer       string        `koanf:"balancer"`
	SessionTimeout time.Duration `koanf:"session-timeout"`
	// FetchMaxBytes bounds one fetch response.
	FetchMaxBytes int32 `koanf:"fetch-max-bytes"`
	// Batch is the per-partition flush policy.
	Batch batcher.Policy `koanf:"batch"`
	// MemoryBudget bounds the bytes held in buffers and uncommitted batches
	// across all partitions — both their Kafka payload and the Arrow memory
	// of their rows; past it, floe flushes the largest buffers and pauses
	// fetching until commits free room.
	MemoryBudget int64 `koanf:"memory-budget"`
	// AllowTopicMismatch lets floe continue when the table's stored cluster
	// ID or topic ID differs from the live one (topic recreated). The stored
	// offsets are then ignored for the mismatched topics and consumption
	// restarts from StartFrom.
	AllowTopicMismatch bool `koanf:"allow-topic-mismatch"`
	// LagInterval is how often end offsets are listed for the lag metric.
	LagInterval time.Duration `koanf:"lag-interval"`
	// TopicRefresh is how often the cluster's topics are listed to find
	// new ones for the tables' topics-pattern, and to release deleted ones.
	TopicRefresh time.Duration `koanf:"topic-refresh-interval"`
	// TLS and SASL secure the connections of every Kafka client floe
	// makes (consumer, admin, dead-letter producer, replay, rollback).
	TLS  TLSConfig  `koanf:"tls"`
	SASL SASLConfig `koanf:"sasl"`
}

// DefaultConfig returns the consumer defaults.
func DefaultConfig() Config {
	return Config{
		Group:          "floe",
		ClientID:       "floe",
		StartFrom:      "earliest",
		Balancer:       "cooperative-sticky",
		SessionTimeout: 45 * time.Second,
		FetchMaxBytes:  50 << 20,
		Batch:          batcher.DefaultPolicy(),
		MemoryBudget:   128 << 20,
		LagInterval:    15 * time.Second,
		TopicRefresh:   30 * time.Second,
	}
}

// Validate reports the first invalid field, named by its key relative to the
// kafka section.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("brokers: at least one broker is required")
	}
	for i, b := range c.Brokers {
		if b == "" {
			return fmt.Errorf("brokers[%d]: empty", i)
		}
	}
	if c.Group == "" {
		return errors.New("group: required")
	}
	if err := c.TLS.Validate(); err != nil {
		return fmt.Errorf("tls.%w", err)
	}
	if err := c.SASL.Validate(); err != nil {
		return fmt.Errorf("sasl.%w", err)
	}
	switch c.StartFrom {
	case "earliest", "latest":
	default:
		return fmt.Errorf("start-from: must be earliest or latest, got %q", c.StartFrom)
	}
	switch c.Balancer {
	case "cooperative-sticky", "server":
	default:
		return fmt.Errorf("balancer: must be cooperative-sticky or server, got %q", c.Balancer)
	}
	if c.SessionTimeout <= 0 {
		return fmt.Errorf("session-timeout: must be > 0, got %s", c.SessionTimeout)
	}
	if c.FetchMaxBytes <= 0 {
		return fmt.Errorf("fetch-max-bytes: must be > 0, got %d", c.FetchMaxBytes)
	}
	if err := c.Batch.Validate(); err != nil {
		return fmt.Errorf("batch.%w", err)
	}
	if c.MemoryBudget < c.Batch.MaxBytes {
		return fmt.Errorf("memory-budget: must be >= batch.max-bytes (%d), got %d", c.Batch.MaxBytes, c.MemoryBudget)
	}
	if c.TopicRefresh <= 0 {
		return fmt.Errorf("topic-refresh-interval: must be > 0, got %s", c.TopicRefresh)
	}
	if c.LagInterval <= 0 {
		return fmt.Errorf("lag-interval: must be > 0, got %s", c.LagInterval)
	}
	return nil
}
