package consumer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/oauth2/clientcredentials"
)

func TestSecurityConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{TLS: TLSConfig{CAFile: "ca.pem"}}, "tls.enabled: the tls section sets files or names but enabled is false"},
		{Config{TLS: TLSConfig{Enabled: true, CertFile: "c.pem"}}, "tls.cert-file and key-file: a client certificate needs both"},
		{Config{SASL: SASLConfig{Username: "u"}}, "sasl.mechanism: credentials are set but no mechanism"},
		{Config{SASL: SASLConfig{Mechanism: "GSSAPI", Username: "u", Password: "p"}}, `sasl.mechanism: "GSSAPI" is not one floe offers (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER, AWS_MSK_IAM)`},
		{Config{SASL: SASLConfig{Mechanism: "PLAIN", Password: "p"}}, "sasl.username: PLAIN needs a username"},
		{Config{SASL: SASLConfig{Mechanism: "scram-sha-512", Username: "u"}}, "sasl.password: SCRAM-SHA-512 needs a password (FLOE_KAFKA__SASL__PASSWORD) or a password-file"},
		{Config{SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "p", PasswordFile: "f"}}, "sasl.password-file: set the password or a password-file, not both"},
		{Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER"}}, "sasl.oauth.token: OAUTHBEARER needs a token (FLOE_KAFKA__SASL__OAUTH__TOKEN), a token-file, or a token-url"},
		{Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{Token: "t", TokenFile: "f"}}}, "sasl.oauth.token-url: set one of token, token-file and token-url"},
		{Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{Token: "t", ClientID: "c"}}}, "sasl.oauth.client-id: client credentials and a scope are only for a token-url"},
		{Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: "idp/token", ClientID: "c", ClientSecret: "s"}}}, `sasl.oauth.token-url: must be an absolute http(s) URL, got "idp/token"`},
		{Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: "https://idp/token", ClientSecret: "s"}}}, "sasl.oauth.client-id: a token-url needs a client-id"},
		{Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: "https://idp/token", ClientID: "c"}}}, "sasl.oauth.client-secret: a token-url needs a client-secret (FLOE_KAFKA__SASL__OAUTH__CLIENT_SECRET)"},
		{Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: "https://idp/token", ClientID: "c", ClientSecret: "s", ClientSecretFile: "f"}}}, "sasl.oauth.client-secret-file: set the client-secret or a client-secret-file, not both"},
		{Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER", Username: "u", OAuth: OAuthConfig{Token: "t"}}}, "sasl.username: OAUTHBEARER takes no username or password"},
		{Config{SASL: SASLConfig{Mechanism: "AWS_MSK_IAM", Password: "p"}}, "sasl.password: AWS_MSK_IAM takes no username or password (credentials come from the AWS default chain"},
		{Config{SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p", OAuth: OAuthConfig{Token: "t"}}}, "sasl.oauth: the oauth section is for OAUTHBEARER, but the mechanism is SCRAM-SHA-512"},
		{Config{SASL: SASLConfig{OAuth: OAuthConfig{Token: "t"}}}, "sasl.mechanism: credentials are set but no mechanism"},
	} {
		cfg := DefaultConfig()
		cfg.Brokers = []string{"b:9092"}
		cfg.TLS, cfg.SASL = tc.cfg.TLS, tc.cfg.SASL
		require.ErrorContains(t, cfg.Validate(), tc.want)
	}
}

// Files a section names are read when the clients are built: one that
// cannot be read, or holds no certificate, is an error naming its key.
func TestSecurityOptionsNameTheFileThatFailed(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordFile: filepath.Join(dir, "missing")}}, "kafka.sasl.password-file: open "},
		{Config{TLS: TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "missing")}}, "kafka.tls.ca-file: open "},
		{Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenFile: filepath.Join(dir, "missing")}}}, "kafka.sasl.oauth.token-file: open "},
		{Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenURL: "https://idp/t", ClientID: "c", ClientSecretFile: filepath.Join(dir, "missing")}}}, "kafka.sasl.oauth.client-secret-file: open "},
		{Config{SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordFile: empty}}, "kafka.sasl.password-file: " + empty + " is empty"},
		{Config{TLS: TLSConfig{Enabled: true, CAFile: notPEM}}, "kafka.tls.ca-file: no PEM certificate in " + notPEM},
		{Config{TLS: TLSConfig{Enabled: true, CertFile: notPEM, KeyFile: notPEM}}, "kafka.tls.cert-file: load key pair: "},
	} {
		_, err := ClientOptions(tc.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		require.ErrorContains(t, err, tc.want)
	}
}

// produceOnce produces one record through a client with cfg's security and
// reports the error.
func produceOnce(t *testing.T, addrs []string, cfg Config) error {
	t.Helper()
	var logs bytes.Buffer
	opts, err := ClientOptions(cfg, slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry())
	require.NoError(t, err)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("t"),
		kgo.RequestRetries(0), kgo.RecordDeliveryTimeout(5 * time.Second)}, opts...)...)
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
}

// Every mechanism against a broker that requires SASL: the right password
// gets in, from the config or a password file; a wrong one is refused.
func TestSASLAgainstABrokerThatRequiresIt(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"), kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "plain-pass"),
		kfake.Superuser("SCRAM-SHA-256", "s256", "pass-256"),
		kfake.Superuser("SCRAM-SHA-512", "s512", "pass-512"))
	require.NoError(t, err)
	t.Cleanup(kc.Close)
	passFile := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(passFile, []byte("pass-512\n"), 0o600))

	for _, s := range []SASLConfig{
		{Mechanism: "PLAIN", Username: "plain-user", Password: "plain-pass"},
		{Mechanism: "SCRAM-SHA-256", Username: "s256", Password: "pass-256"},
		{Mechanism: "scram-sha-512", Username: "s512", PasswordFile: passFile},
	} {
		require.NoError(t, produceOnce(t, kc.ListenAddrs(), Config{SASL: s}), s.Mechanism)
	}
	err = produceOnce(t, kc.ListenAddrs(), Config{SASL: SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "s256", Password: "wrong"}})
	require.Error(t, err, "a wrong password is refused")
	t.Logf("wrong password: %v", err)
	err = produceOnce(t, kc.ListenAddrs(), Config{})
	require.Error(t, err, "no SASL is refused")
	t.Logf("no SASL: %v", err)
}

// TLS against a broker with a certificate of the test's own CA: trusted
// through ca-file, refused without it (unknown authority) and, with it, for
// a server name the certificate does not hold.
func TestTLSChecksTheBrokerCertificate(t *testing.T) {
	dir := t.TempDir()
	caFile, serverCert := testCA(t, dir)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}))
	require.NoError(t, err)
	t.Cleanup(kc.Close)

	require.NoError(t, produceOnce(t, kc.ListenAddrs(), Config{TLS: TLSConfig{Enabled: true, CAFile: caFile}}))
	err = produceOnce(t, kc.ListenAddrs(), Config{TLS: TLSConfig{Enabled: true}})
	require.ErrorContains(t, err, "certificate signed by unknown authority")
	err = produceOnce(t, kc.ListenAddrs(), Config{TLS: TLSConfig{Enabled: true, CAFile: caFile, ServerName: "elsewhere.example"}})
	require.ErrorContains(t, err, "elsewhere.example")
}

// testCA writes a CA certificate to dir and returns its path and a server
// certificate it signed for 127.0.0.1 and localhost.
func testCA(t *testing.T, dir string) (string, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "floe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// saslBroker is a kfake cluster whose SASL exchange the test judges: it
// offers mech, hands each authentication's bytes to judge, and lets the
// connection in when judge returns nil, refusing it with judge's message
// otherwise (as a broker does: SASL_AUTHENTICATION_FAILED). kfake itself
// knows only PLAIN and SCRAM; this is how OAUTHBEARER and AWS_MSK_IAM
// exchanges are seen on the wire.
func saslBroker(t *testing.T, mech string, judge func([]byte) error) *kfake.Cluster {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	require.NoError(t, err)
	t.Cleanup(kc.Close)
	kc.ControlKey(int16(kmsg.SASLHandshake), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		r := req.(*kmsg.SASLHandshakeRequest)
		resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.SetVersion(r.GetVersion())
		resp.SupportedMechanisms = []string{mech}
		if r.Mechanism != mech {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		}
		return resp, nil, true
	})
	kc.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		r := req.(*kmsg.SASLAuthenticateRequest)
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.SetVersion(r.GetVersion())
		if err := judge(r.SASLAuthBytes); err != nil {
			resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
			msg := err.Error()
			resp.ErrorMessage = &msg
			return resp, nil, true
		}
		resp.SASLAuthBytes = []byte(`{"version":"2020_10_22","request-id":"floe-test"}`) // MSK IAM wants a non-empty answer; OAUTHBEARER an empty one
		if mech == "OAUTHBEARER" {
			resp.SASLAuthBytes = nil
		}
		return resp, nil, true
	})
	return kc
}

// bearerToken is the token in an OAUTHBEARER client-first message
// ("n,,\x01auth=Bearer <token>\x01…\x01\x01"), and its extensions.
func bearerToken(b []byte) (string, map[string]string) {
	ext := map[string]string{}
	var tok string
	for _, kv := range strings.Split(string(b), "\x01") {
		if v, ok := strings.CutPrefix(kv, "auth=Bearer "); ok {
			tok = v
		} else if k, v, ok := strings.Cut(kv, "="); ok && !strings.HasPrefix(kv, "n,") {
			ext[k] = v
		}
	}
	return tok, ext
}

// OAUTHBEARER with a static token, a token file (read again at every
// authentication) and extensions: the broker sees exactly that token; one
// it does not accept is refused with the broker's reason.
func TestOAuthBearerStaticToken(t *testing.T) {
	var mu sync.Mutex
	accept := map[string]bool{"tok-1": true, "tok-2": true}
	var seen []string
	var seenExt map[string]string
	kc := saslBroker(t, "OAUTHBEARER", func(b []byte) error {
		tok, ext := bearerToken(b)
		mu.Lock()
		defer mu.Unlock()
		seen, seenExt = append(seen, tok), ext
		if !accept[tok] {
			return fmt.Errorf("{\"status\":\"invalid_token\"}")
		}
		return nil
	})
	require.NoError(t, produceOnce(t, kc.ListenAddrs(), Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER",
		OAuth: OAuthConfig{Token: "tok-1", Extensions: map[string]string{"logicalCluster": "lkc-1"}}}}))
	mu.Lock()
	require.Contains(t, seen, "tok-1")
	require.Equal(t, map[string]string{"logicalCluster": "lkc-1"}, seenExt)
	mu.Unlock()

	tokFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokFile, []byte("tok-2\n"), 0o600))
	require.NoError(t, produceOnce(t, kc.ListenAddrs(), Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{TokenFile: tokFile}}}))

	err := produceOnce(t, kc.ListenAddrs(), Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER", OAuth: OAuthConfig{Token: "forged"}}})
	require.ErrorContains(t, err, "invalid_token")
}

// tokenEndpoint is an OAuth 2 token endpoint for client "floe" with secret
// "s3cret": each grant is a new token "tok-<n>" that lives lifetime
// seconds (none: no expires_in). It counts the grants.
func tokenEndpoint(t *testing.T, lifetime int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok {
			_ = r.ParseForm()
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != "floe" || secret != "s3cret" || r.PostFormValue("grant_type") != "client_credentials" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		body := map[string]any{"access_token": fmt.Sprintf("tok-%d", n.Add(1)), "token_type": "bearer", "scope": r.PostFormValue("scope")}
		if lifetime > 0 {
			body["expires_in"] = lifetime
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// Client credentials: floe fetches a token from the endpoint and presents
// it; the client secret may come from a file.
func TestOAuthBearerClientCredentials(t *testing.T) {
	srv, grants := tokenEndpoint(t, 3600)
	var tokens sync.Map
	kc := saslBroker(t, "OAUTHBEARER", func(b []byte) error {
		tok, _ := bearerToken(b)
		tokens.Store(tok, true)
		if !strings.HasPrefix(tok, "tok-") {
			return fmt.Errorf("unknown token %q", tok)
		}
		return nil
	})
	secretFile := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secretFile, []byte("s3cret\n"), 0o600))
	require.NoError(t, produceOnce(t, kc.ListenAddrs(), Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER",
		OAuth: OAuthConfig{TokenURL: srv.URL, ClientID: "floe", ClientSecretFile: secretFile, Scope: "kafka"}}}))
	_, ok := tokens.Load("tok-1")
	require.True(t, ok, "the broker saw the endpoint's token")
	require.GreaterOrEqual(t, grants.Load(), int64(1))

	err := produceOnce(t, kc.ListenAddrs(), Config{SASL: SASLConfig{Mechanism: "OAUTHBEARER",
		OAuth: OAuthConfig{TokenURL: srv.URL, ClientID: "floe", ClientSecret: "wrong"}}})
	require.ErrorContains(t, err, `kafka.sasl.oauth: token endpoint `+srv.URL+` refused client "floe": 401`)
}

// A token is fetched again once less than a fifth of its lifetime is left,
// and not before; without expires_in a JWT's exp decides; with neither,
// every authentication fetches one.
func TestOAuthTokenRefreshesBeforeExpiry(t *testing.T) {
	ctx := context.Background()
	srv, grants := tokenEndpoint(t, 100)
	now := time.Unix(1_700_000_000, 0)
	src := newTokenSource(clientcredentials.Config{ClientID: "floe", ClientSecret: "s3cret", TokenURL: srv.URL})
	src.now = func() time.Time { return now }
	tok, err := src.token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)
	now = now.Add(79 * time.Second)
	tok, _ = src.token(ctx)
	require.Equal(t, "tok-1", tok, "80 %% of the lifetime not yet spent")
	now = now.Add(2 * time.Second)
	tok, _ = src.token(ctx)
	require.Equal(t, "tok-2", tok, "refreshed with a fifth of the lifetime left")
	require.Equal(t, int64(2), grants.Load())

	// No expires_in, and not a JWT: every authentication asks.
	srv2, grants2 := tokenEndpoint(t, 0)
	src2 := newTokenSource(clientcredentials.Config{ClientID: "floe", ClientSecret: "s3cret", TokenURL: srv2.URL})
	for range 3 {
		_, err := src2.token(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, int64(3), grants2.Load())

	exp := time.Unix(1_700_000_500, 0)
	jwt := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"sub":"floe","exp":%d}`, exp.Unix()))) + "."
	require.Equal(t, exp, jwtExpiry(jwt))
	require.True(t, jwtExpiry("opaque-token").IsZero())
	require.True(t, jwtExpiry("a.!!!.c").IsZero())
}

// AWS_MSK_IAM signs with the default chain's credentials (here the
// environment's static keys): the broker receives a SigV4-signed
// kafka-cluster:Connect for that key, region and session token.
func TestMSKIAMSignsWithTheDefaultChain(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAFLOETEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-key")
	t.Setenv("AWS_SESSION_TOKEN", "session-token")
	t.Setenv("AWS_REGION", "eu-west-3")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var got map[string]string
	var mu sync.Mutex
	kc := saslBroker(t, "AWS_MSK_IAM", func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		return json.Unmarshal(b, &got)
	})
	require.NoError(t, produceOnce(t, kc.ListenAddrs(), Config{SASL: SASLConfig{Mechanism: "AWS_MSK_IAM"}}))
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, "kafka-cluster:Connect", got["action"])
	require.Regexp(t, `^AKIAFLOETEST/\d{8}/eu-west-3/kafka-cluster/aws4_request$`, got["x-amz-credential"])
	require.Equal(t, "session-token", got["x-amz-security-token"])
	require.Regexp(t, `^[0-9a-f]{64}$`, got["x-amz-signature"])
	require.Equal(t, "floe", got["user-agent"])

	// No credentials anywhere: the authentication fails naming where floe looked.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	err := produceOnce(t, kc.ListenAddrs(), Config{SASL: SASLConfig{Mechanism: "AWS_MSK_IAM"}})
	require.ErrorContains(t, err, "no AWS credentials (looked for AWS_ACCESS_KEY_ID")
}
