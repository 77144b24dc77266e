package maintenance

import (
	"fmt"
	"time"
)

// Config is a table's maintenance, run by the one replica of the group
// that owns it while floe ingests (`maintenance:` in a table's section),
// and once by `floe maintain`.
type Config struct {
	// Interval between the owner's checks of the table; each check runs
	// what is due. 0 turns the table's maintenance off.
	Interval  time.Duration   `koanf:"interval"`
	Expire    ExpireConfig    `koanf:"expire"`
	Manifests ManifestsConfig `koanf:"manifests"`
	Compact   CompactConfig   `koanf:"compact"`
}

// ExpireConfig is snapshot expiry. A snapshot is kept while it is one of
// the newest KeepLast of its branch or younger than KeepFor; the snapshot
// holding each group's newest offsets is always kept (its tag). Files only
// expired snapshots referenced are deleted by the expiry.
type ExpireConfig struct {
	Enabled  bool          `koanf:"enabled"`
	KeepLast int           `koanf:"keep-last"`
	KeepFor  time.Duration `koanf:"keep-for"`
	// MinExpired is how many snapshots must be expirable before an expiry
	// commit is made: fewer, more worthwhile commits against the catalog.
	// 0: a tenth of KeepLast.
	MinExpired int `koanf:"min-expired"`
}

// DefaultConfig returns the maintenance defaults: a check every minute,
// expiry on, keeping the newest 100 snapshots and two hours, the
// manifests rewritten when the head has more than 100, and a partition's
// small files compacted once there are 10 (DefaultCompactConfig).
func DefaultConfig() Config {
	return Config{
		Interval:  time.Minute,
		Expire:    ExpireConfig{Enabled: true, KeepLast: 100, KeepFor: 2 * time.Hour},
		Manifests: ManifestsConfig{Enabled: true, Max: 100},
		Compact:   DefaultCompactConfig(),
	}
}

// Validate reports the first invalid field, relative to the maintenance
// section.
func (c Config) Validate() error {
	if c.Interval < 0 {
		return fmt.Errorf("interval: must be >= 0 (0: off), got %s", c.Interval)
	}
	if err := c.Expire.Validate(); err != nil {
		return fmt.Errorf("expire.%w", err)
	}
	if err := c.Manifests.Validate(); err != nil {
		return fmt.Errorf("manifests.%w", err)
	}
	if err := c.Compact.Validate(); err != nil {
		return fmt.Errorf("compact.%w", err)
	}
	return nil
}

// Validate reports the first invalid field, relative to the expire section.
func (e ExpireConfig) Validate() error {
	switch {
	case e.KeepLast < 1:
		return fmt.Errorf("keep-last: must be at least 1 (the branch's head is always kept), got %d", e.KeepLast)
	case e.KeepFor < 0:
		return fmt.Errorf("keep-for: must be >= 0, got %s", e.KeepFor)
	case e.MinExpired < 0:
		return fmt.Errorf("min-expired: must be >= 0 (0: a tenth of keep-last), got %d", e.MinExpired)
	}
	return nil
}

// minExpired is MinExpired with its default applied.
func (e ExpireConfig) minExpired() int {
	if e.MinExpired > 0 {
		return e.MinExpired
	}
	return max(1, e.KeepLast/10)
}
