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
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestSecurityConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{TLS: TLSConfig{CAFile: "ca.pem"}}, "tls.enabled: the tls section sets files or names but enabled is false"},
		{Config{TLS: TLSConfig{Enabled: true, CertFile: "c.pem"}}, "tls.cert-file and key-file: a client certificate needs both"},
		{Config{SASL: SASLConfig{Username: "u"}}, "sasl.mechanism: credentials are set but no mechanism"},
		{Config{SASL: SASLConfig{Mechanism: "GSSAPI", Username: "u", Password: "p"}}, `sasl.mechanism: "GSSAPI" is not one floe offers (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)`},
		{Config{SASL: SASLConfig{Mechanism: "PLAIN", Password: "p"}}, "sasl.username: PLAIN needs a username"},
		{Config{SASL: SASLConfig{Mechanism: "scram-sha-512", Username: "u"}}, "sasl.password: SCRAM-SHA-512 needs a password (FLOE_KAFKA__SASL__PASSWORD) or a password-file"},
		{Config{SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "p", PasswordFile: "f"}}, "sasl.password-file: set the password or a password-file, not both"},
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
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordFile: filepath.Join(dir, "missing")}}, "kafka.sasl.password-file: open "},
		{Config{TLS: TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "missing")}}, "kafka.tls.ca-file: open "},
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
