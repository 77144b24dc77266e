package consumer

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

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

// SASLConfig is kafka.sasl: the mechanism and its credentials. Secrets
// belong in the environment (FLOE_KAFKA__SASL__PASSWORD,
// FLOE_KAFKA__SASL__OAUTH__CLIENT_SECRET, …) or in files (a mounted
// Kubernetes secret) rather than in the config file; config.Redacted masks
// them wherever they came from.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or
	// AWS_MSK_IAM; empty: no SASL.
	Mechanism string `koanf:"mechanism"`
	// Username and a password or password file: PLAIN and SCRAM.
	Username     string `koanf:"username"`
	Password     string `koanf:"password"`
	PasswordFile string `koanf:"password-file"`
	// OAuth is OAUTHBEARER's token: static, from a file, or fetched from a
	// token endpoint with client credentials.
	OAuth OAuthConfig `koanf:"oauth"`
}

// OAuthConfig is kafka.sasl.oauth. Exactly one of Token, TokenFile and
// TokenURL gives the token.
type OAuthConfig struct {
	// Token is a token used as is (FLOE_KAFKA__SASL__OAUTH__TOKEN).
	Token string `koanf:"token"`
	// TokenFile is read again at every authentication, so a token that
	// something else rotates (a projected service-account token) is
	// picked up without a restart.
	TokenFile string `koanf:"token-file"`
	// TokenURL is an OAuth 2 token endpoint: floe asks it for a token with
	// the client-credentials grant and asks again before the token
	// expires.
	TokenURL         string `koanf:"token-url"`
	ClientID         string `koanf:"client-id"`
	ClientSecret     string `koanf:"client-secret"`
	ClientSecretFile string `koanf:"client-secret-file"`
	// Scope is the space-separated scope to ask for (optional).
	Scope string `koanf:"scope"`
	// Extensions are SASL extensions sent with the token, e.g. Confluent
	// Cloud's logicalCluster and identityPoolId.
	Extensions map[string]string `koanf:"extensions"`
}

// saslMechanisms are the mechanisms floe offers, as Kafka names them.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "AWS_MSK_IAM"}

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
	mech := strings.ToUpper(s.Mechanism)
	hasPassword := s.Username != "" || s.Password != "" || s.PasswordFile != ""
	hasOAuth := !s.OAuth.empty()
	switch {
	case mech == "" && (hasPassword || hasOAuth):
		return fmt.Errorf("mechanism: credentials are set but no mechanism (one of %s)", strings.Join(saslMechanisms, ", "))
	case mech == "":
		return nil
	case !slices.Contains(saslMechanisms, mech):
		return fmt.Errorf("mechanism: %q is not one floe offers (%s)", s.Mechanism, strings.Join(saslMechanisms, ", "))
	case hasOAuth && mech != "OAUTHBEARER":
		return fmt.Errorf("oauth: the oauth section is for OAUTHBEARER, but the mechanism is %s", mech)
	}
	switch mech {
	case "OAUTHBEARER", "AWS_MSK_IAM":
		if hasPassword {
			field := "username"
			if s.Username == "" {
				field = "password"
			}
			return fmt.Errorf("%s: %s takes no username or password (%s)", field, mech, map[string]string{
				"OAUTHBEARER": "the principal is the token's; set the oauth section",
				"AWS_MSK_IAM": "credentials come from the AWS default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity or the instance role",
			}[mech])
		}
		if mech == "OAUTHBEARER" {
			if err := s.OAuth.validate(); err != nil {
				return fmt.Errorf("oauth.%w", err)
			}
		}
		return nil
	}
	switch {
	case s.Username == "":
		return fmt.Errorf("username: %s needs a username", mech)
	case s.Password != "" && s.PasswordFile != "":
		return fmt.Errorf("password-file: set the password or a password-file, not both")
	case s.Password == "" && s.PasswordFile == "":
		return fmt.Errorf("password: %s needs a password (FLOE_KAFKA__SASL__PASSWORD) or a password-file", mech)
	}
	return nil
}

func (o OAuthConfig) empty() bool {
	return o.Token == "" && o.TokenFile == "" && o.TokenURL == "" && o.ClientID == "" &&
		o.ClientSecret == "" && o.ClientSecretFile == "" && o.Scope == "" && len(o.Extensions) == 0
}

// validate reports the first invalid field, relative to the oauth section.
func (o OAuthConfig) validate() error {
	sources := 0
	for _, v := range []string{o.Token, o.TokenFile, o.TokenURL} {
		if v != "" {
			sources++
		}
	}
	switch {
	case sources == 0:
		return fmt.Errorf("token: OAUTHBEARER needs a token (FLOE_KAFKA__SASL__OAUTH__TOKEN), a token-file, or a token-url with client credentials")
	case sources > 1:
		return fmt.Errorf("token-url: set one of token, token-file and token-url")
	case o.TokenURL == "" && (o.ClientID != "" || o.ClientSecret != "" || o.ClientSecretFile != "" || o.Scope != ""):
		return fmt.Errorf("client-id: client credentials and a scope are only for a token-url")
	}
	if o.TokenURL == "" {
		return nil
	}
	u, err := url.Parse(o.TokenURL)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return fmt.Errorf("token-url: must be an absolute http(s) URL, got %q", o.TokenURL)
	case o.ClientID == "":
		return fmt.Errorf("client-id: a token-url needs a client-id")
	case o.ClientSecret != "" && o.ClientSecretFile != "":
		return fmt.Errorf("client-secret-file: set the client-secret or a client-secret-file, not both")
	case o.ClientSecret == "" && o.ClientSecretFile == "":
		return fmt.Errorf("client-secret: a token-url needs a client-secret (FLOE_KAFKA__SASL__OAUTH__CLIENT_SECRET) or a client-secret-file")
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
		mech, err := saslMechanism(cfg.SASL, logger)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

func (t TLSConfig) clientConfig() (*tls.Config, error) {
	return tlsfiles.Client("kafka.tls", tlsfiles.Files{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify})
}
