package consumer

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/floe-dev/floe/internal/tlsfiles"
)

// TLSConfig is kafka.tls: TLS to every broker, with the system's roots
// unless CAFile names others, and a client certificate for mTLS.
type TLSConfig struct {
	Enabled bool   `koanf:"enabled"`
	CAFile  string `koanf:"ca-file"`
	// CertFile and KeyFile are the client's certificate and key (mTLS).
	CertFile string `koanf:"cert-file"`
	KeyFile  string `koanf:"key-file"`
	// ServerName overrides the name the brokers' certificates are checked
	// against (default: each broker's host).
	ServerName string `koanf:"server-name"`
	// InsecureSkipVerify accepts any broker certificate: for tests only,
	// and logged loudly.
	InsecureSkipVerify bool `koanf:"insecure-skip-verify"`
}

// SASLConfig is kafka.sasl: the mechanism and its credentials. The
// password belongs in the environment (FLOE_KAFKA__SASL__PASSWORD) or a
// file (PasswordFile, e.g. a mounted Kubernetes secret) rather than in the
// config file; config.Redacted masks it wherever it came from.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL.
	Mechanism    string `koanf:"mechanism"`
	Username     string `koanf:"username"`
	Password     string `koanf:"password"`
	PasswordFile string `koanf:"password-file"`
}

// saslMechanisms are the mechanisms floe offers, as Kafka names them.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// Validate reports the first invalid field, relative to the tls section.
func (t TLSConfig) Validate() error {
	switch {
	case !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify):
		return fmt.Errorf("enabled: the tls section sets files or names but enabled is false: set enabled: true")
	case (t.CertFile == "") != (t.KeyFile == ""):
		return fmt.Errorf("cert-file and key-file: a client certificate needs both (got cert-file %q, key-file %q)", t.CertFile, t.KeyFile)
	}
	return nil
}

// Validate reports the first invalid field, relative to the sasl section.
func (s SASLConfig) Validate() error {
	if s.Mechanism == "" {
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			return fmt.Errorf("mechanism: credentials are set but no mechanism (one of %s)", strings.Join(saslMechanisms, ", "))
		}
		return nil
	}
	switch {
	case !slices.Contains(saslMechanisms, strings.ToUpper(s.Mechanism)):
		return fmt.Errorf("mechanism: %q is not one floe offers (%s)", s.Mechanism, strings.Join(saslMechanisms, ", "))
	case s.Username == "":
		return fmt.Errorf("username: %s needs a username", strings.ToUpper(s.Mechanism))
	case s.Password != "" && s.PasswordFile != "":
		return fmt.Errorf("password-file: set the password or a password-file, not both")
	case s.Password == "" && s.PasswordFile == "":
		return fmt.Errorf("password: %s needs a password (FLOE_KAFKA__SASL__PASSWORD) or a password-file", strings.ToUpper(s.Mechanism))
	}
	return nil
}

// securityOptions are the kgo options of cfg's TLS and SASL, the files
// they name read now: an unreadable file is an error naming its key.
func securityOptions(cfg Config, logger *slog.Logger) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if cfg.TLS.Enabled {
		tc, err := cfg.TLS.clientConfig()
		if err != nil {
			return nil, err
		}
		if cfg.TLS.InsecureSkipVerify {
			logger.Warn("kafka.tls.insecure-skip-verify is set: broker certificates are NOT checked; anyone on the path can read and change what floe consumes. Use it for tests only.")
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if cfg.SASL.Mechanism != "" {
		pass := cfg.SASL.Password
		if cfg.SASL.PasswordFile != "" {
			b, err := os.ReadFile(cfg.SASL.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("kafka.sasl.password-file: %w", err)
			}
			pass = strings.TrimRight(string(b), "\r\n")
		}
		user := cfg.SASL.Username
		switch strings.ToUpper(cfg.SASL.Mechanism) {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
		}
	}
	return opts, nil
}

func (t TLSConfig) clientConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, logged
	if t.CAFile != "" {
		pool, err := tlsfiles.RootCAs("kafka.tls", t.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tlsfiles.KeyPair("kafka.tls", t.CertFile, t.KeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
