package consumer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/floe-dev/floe/internal/secretfile"
)

// saslMechanism builds s's mechanism, reading the files it names now so
// that an unreadable one is an error at start naming its key. Secrets
// fetched later (tokens) are fetched at each authentication: franz-go
// authenticates every new connection, and again before the broker's session
// lifetime ends (KIP-368).
func saslMechanism(s SASLConfig, logger *slog.Logger) (sasl.Mechanism, error) {
	switch mech := strings.ToUpper(s.Mechanism); mech {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		pass, err := secretfile.Read(s.Password, s.PasswordFile, "kafka.sasl.password-file")
		if err != nil {
			return nil, err
		}
		switch mech {
		case "PLAIN":
			return plain.Auth{User: s.Username, Pass: pass}.AsMechanism(), nil
		case "SCRAM-SHA-256":
			return scram.Auth{User: s.Username, Pass: pass}.AsSha256Mechanism(), nil
		default:
			return scram.Auth{User: s.Username, Pass: pass}.AsSha512Mechanism(), nil
		}
	case "OAUTHBEARER":
		return oauthMechanism(s.OAuth)
	case "AWS_MSK_IAM":
		return mskIAMMechanism(logger)
	default:
		return nil, fmt.Errorf("kafka.sasl.mechanism: %q is not one floe offers", s.Mechanism)
	}
}

func oauthMechanism(o OAuthConfig) (sasl.Mechanism, error) {
	ext := o.Extensions
	switch {
	case o.Token != "":
		return oauth.Auth{Token: o.Token, Extensions: ext}.AsMechanism(), nil
	case o.TokenFile != "":
		if _, err := secretfile.Read("", o.TokenFile, "kafka.sasl.oauth.token-file"); err != nil {
			return nil, err
		}
		return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			tok, err := secretfile.Read("", o.TokenFile, "kafka.sasl.oauth.token-file")
			return oauth.Auth{Token: tok, Extensions: ext}, err
		}), nil
	}
	clientSecret, err := secretfile.Read(o.ClientSecret, o.ClientSecretFile, "kafka.sasl.oauth.client-secret-file")
	if err != nil {
		return nil, err
	}
	src := newTokenSource(clientcredentials.Config{
		ClientID: o.ClientID, ClientSecret: clientSecret, TokenURL: o.TokenURL,
		Scopes: strings.Fields(o.Scope),
	})
	return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		tok, err := src.token(ctx)
		return oauth.Auth{Token: tok, Extensions: ext}, err
	}), nil
}

// tokenSource holds a client-credentials token and fetches a new one once
// less than a fifth of the old one's lifetime is left (Kafka's Java client
// refreshes at 80 % too), so a connection opened or re-authenticated near
// the end of a token's life never presents one that expires under it. The
// lifetime is the endpoint's expires_in or, failing that, the token's own
// exp claim when it is a JWT; a token with neither is fetched again for
// every authentication, which is rare (one per broker connection).
type tokenSource struct {
	cfg    clientcredentials.Config
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex // held while fetching: concurrent connections wait for one fetch
	tok     string
	refresh time.Time // when to fetch the next one; zero: at the next use
}

func newTokenSource(cfg clientcredentials.Config) *tokenSource {
	// AuthStyleAutoDetect tries the secret in the header, then in the
	// form: both are common among identity providers.
	return &tokenSource{cfg: cfg, client: &http.Client{Timeout: 30 * time.Second}, now: time.Now}
}

func (s *tokenSource) token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.tok != "" && now.Before(s.refresh) {
		return s.tok, nil
	}
	t, err := s.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, s.client))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			return "", &tokenRefused{fmt.Errorf("kafka.sasl.oauth: token endpoint %s refused client %q: %d %s",
				s.cfg.TokenURL, s.cfg.ClientID, re.Response.StatusCode, strings.TrimSpace(re.Error()))}
		}
		return "", fmt.Errorf("kafka.sasl.oauth: fetch a token from %s: %w", s.cfg.TokenURL, err)
	}
	// The library turns expires_in into a time on the wall clock; the
	// lifetime is what is left of it now.
	var lifetime time.Duration
	if !t.Expiry.IsZero() {
		lifetime = time.Until(t.Expiry)
	} else if exp := jwtExpiry(t.AccessToken); !exp.IsZero() {
		lifetime = exp.Sub(now)
	}
	s.tok, s.refresh = t.AccessToken, time.Time{}
	if sub := jwtClaims(t.AccessToken).Sub; sub != "" {
		oauthSubjects.Store(oauthKey(s.cfg.TokenURL, s.cfg.ClientID), sub)
	}
	if lifetime > 0 {
		s.refresh = now.Add(lifetime * 4 / 5)
	}
	return s.tok, nil
}

// tokenRefused is the token endpoint refusing floe's client credentials.
type tokenRefused struct{ err error }

func (e *tokenRefused) Error() string { return e.err.Error() }

// oauthSubjects holds the subject of the last token each token endpoint and
// client issued, so that errors can name the principal Kafka saw.
var oauthSubjects sync.Map

func oauthKey(tokenURL, clientID string) string { return tokenURL + "\x00" + clientID }

// jwtExpiry is a JWT's exp claim, or zero when tok is not a JWT or has none.
// The signature is not checked: the broker checks it; floe only wants to
// know when to ask for the next one.
func jwtExpiry(tok string) time.Time {
	c := jwtClaims(tok)
	if c.Exp <= 0 {
		return time.Time{}
	}
	sec := int64(c.Exp)
	return time.Unix(sec, int64((c.Exp-float64(sec))*1e9))
}

// claims are the JWT claims floe reads: who (sub) and until when (exp).
type claims struct {
	Sub string  `json:"sub"`
	Exp float64 `json:"exp"`
}

// jwtClaims are tok's claims, zero when tok is not a JWT.
func jwtClaims(tok string) claims {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return claims{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return claims{}
	}
	var c claims
	if json.Unmarshal(payload, &c) != nil {
		return claims{}
	}
	return c
}

// mskIAMMechanism signs each authentication with credentials from the AWS
// default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and
// AWS_SESSION_TOKEN), AWS_PROFILE and the shared files, web identity (EKS
// service accounts), or the ECS/EC2 role. The SDK caches and refreshes
// temporary credentials. The region comes from the broker's host name
// (b-1.<cluster>.kafka.<region>.amazonaws.com) or AWS_REGION.
func mskIAMMechanism(logger *slog.Logger) (sasl.Mechanism, error) {
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		return nil, fmt.Errorf("kafka.sasl.mechanism AWS_MSK_IAM: load the AWS configuration: %w", err)
	}
	if cfg.Credentials == nil {
		return nil, errors.New("kafka.sasl.mechanism AWS_MSK_IAM: the AWS configuration has no credential provider")
	}
	creds := cfg.Credentials
	logger.Info("kafka: AWS_MSK_IAM signs with the AWS default credential chain", "region", cfg.Region)
	return aws.ManagedStreamingIAM(func(ctx context.Context) (aws.Auth, error) {
		c, err := creds.Retrieve(ctx)
		if err != nil {
			return aws.Auth{}, fmt.Errorf("kafka.sasl AWS_MSK_IAM: no AWS credentials (looked for AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "+
				"web identity and the instance role): %w", err)
		}
		return aws.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.SessionToken, UserAgent: "floe"}, nil
	}), nil
}
