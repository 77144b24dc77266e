//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestTestbedKafkaSecurity checks the test bed's secured Kafka listeners
// (issue 13) with franz-go against the real broker: SASL_SSL with
// SCRAM-SHA-512/256, PLAIN and OAUTHBEARER (an unsecured JWT: the principal
// is its "sub"), mutual TLS with the test CA's client certificate (CN →
// principal), the failures a client must get (wrong password, untrusted
// server CA, no/untrusted/expired client certificate), and the
// StandardAuthorizer: a user without ACLs is denied a topic, and can consume
// it once the super user (PLAINTEXT) grants READ/DESCRIBE on the topic and
// READ on the group.
func TestTestbedKafkaSecurity(t *testing.T) {
	s := needSecuredKafka(t)
	pki := loadTestPKI(t, s.KafkaTLSDir)
	u := s.KafkaUsers

	suffix := strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(rand.IntN(1000))
	topic := "e2e-secured-" + suffix
	group := "floe-e2e-secured-" + suffix
	superCl, superAdm := kafkaClient(t, s) // PLAINTEXT: User:ANONYMOUS, a super user
	createTopic(t, superAdm, topic, 1)
	t.Cleanup(func() { deleteTopic(t, superAdm, topic) })
	const n = 10
	produceN(t, superCl, topic, 0, n)
	t.Logf("topic %s (%d records), group %s, PKI %s", topic, n, group, s.KafkaTLSDir)

	trustCA := &tls.Config{RootCAs: pki.ca}
	scram512 := scram.Auth{User: u.SCRAM512.Name, Pass: u.SCRAM512.Password}.AsSha512Mechanism()

	// Authenticated: each answers a metadata request on its listener, which
	// advertises itself (not PLAINTEXT) as the broker's address.
	for _, c := range []struct {
		name string
		addr string
		tls  *tls.Config
		mech sasl.Mechanism
	}{
		{"sasl-ssl/scram-sha-512", s.KafkaSASLSSL, trustCA, scram512},
		{"sasl-ssl/scram-sha-256", s.KafkaSASLSSL, trustCA,
			scram.Auth{User: u.SCRAM256.Name, Pass: u.SCRAM256.Password}.AsSha256Mechanism()},
		{"sasl-ssl/plain", s.KafkaSASLSSL, trustCA,
			plain.Auth{User: u.Plain.Name, Pass: u.Plain.Password}.AsMechanism()},
		{"sasl-ssl/oauthbearer", s.KafkaSASLSSL, trustCA, unsecuredJWTMechanism("floe-oauth")},
		{"mtls/client-cert", s.KafkaMTLS, &tls.Config{RootCAs: pki.ca, Certificates: []tls.Certificate{pki.client}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := securedClient(t, c.addr, c.tls, c.mech)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
			if err != nil {
				t.Fatalf("metadata over %s: %v", c.addr, err)
			}
			if len(md.Brokers) != 1 {
				t.Fatalf("metadata over %s: brokers %v, want one", c.addr, md.Brokers)
			}
			if got := net.JoinHostPort(md.Brokers[0].Host, strconv.Itoa(int(md.Brokers[0].Port))); got != c.addr {
				t.Fatalf("broker advertised as %s on listener %s", got, c.addr)
			}
		})
	}

	// Rejected: the client gets an error, never a session.
	for _, c := range []struct {
		name string
		addr string
		tls  *tls.Config
		mech sasl.Mechanism
		want func(error) bool
	}{
		{"sasl-ssl/wrong-password", s.KafkaSASLSSL, trustCA,
			scram.Auth{User: u.SCRAM512.Name, Pass: "not-" + u.SCRAM512.Password}.AsSha512Mechanism(),
			func(err error) bool { return errors.Is(err, kerr.SaslAuthenticationFailed) }},
		{"sasl-ssl/plain-unknown-user", s.KafkaSASLSSL, trustCA,
			plain.Auth{User: "floe-nobody", Pass: "x"}.AsMechanism(),
			func(err error) bool { return errors.Is(err, kerr.SaslAuthenticationFailed) }},
		{"sasl-ssl/untrusted-server-ca", s.KafkaSASLSSL, &tls.Config{RootCAs: pki.otherCA}, scram512,
			func(err error) bool { _, ok := errors.AsType[x509.UnknownAuthorityError](err); return ok }},
		{"mtls/no-client-cert", s.KafkaMTLS, &tls.Config{RootCAs: pki.ca}, nil, isTLSAlert},
		{"mtls/untrusted-client-ca", s.KafkaMTLS,
			&tls.Config{RootCAs: pki.ca, Certificates: []tls.Certificate{pki.otherClient}}, nil, isTLSAlert},
		{"mtls/expired-client-cert", s.KafkaMTLS,
			&tls.Config{RootCAs: pki.ca, Certificates: []tls.Certificate{pki.expiredClient}}, nil, isTLSAlert},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := securedClient(t, c.addr, c.tls, c.mech)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := kadm.NewClient(cl).BrokerMetadata(ctx)
			if err == nil {
				t.Fatalf("metadata over %s succeeded; want it refused", c.addr)
			}
			if !c.want(err) {
				t.Fatalf("metadata over %s: unexpected error %T: %v", c.addr, err, err)
			}
			t.Logf("refused as expected: %v", err)
		})
	}

	// The principal of an unsecured JWT is its "sub": the super user's sub
	// sees the topic, another sub (no ACLs) is denied it.
	t.Run("sasl-ssl/oauthbearer-principal", func(t *testing.T) {
		admin := securedClient(t, s.KafkaSASLSSL, trustCA, unsecuredJWTMechanism(u.Admin.Name))
		if code := topicMetadataError(t, admin, topic); code != 0 {
			t.Fatalf("sub=%s (super user): topic metadata error %v", u.Admin.Name, kerr.ErrorForCode(code))
		}
		other := securedClient(t, s.KafkaSASLSSL, trustCA, unsecuredJWTMechanism("floe-oauth"))
		if code := topicMetadataError(t, other, topic); code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("sub=floe-oauth (no ACLs): topic metadata error %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
		}
	})

	// mTLS: CN=floe-mtls is User:floe-mtls (ssl.principal.mapping.rules):
	// denied without ACLs, allowed once that principal may describe the topic.
	t.Run("mtls/principal", func(t *testing.T) {
		cl := securedClient(t, s.KafkaMTLS, &tls.Config{RootCAs: pki.ca, Certificates: []tls.Certificate{pki.client}}, nil)
		if code := topicMetadataError(t, cl, topic); code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("%s without ACLs: topic metadata error %v, want TOPIC_AUTHORIZATION_FAILED", u.MTLS, kerr.ErrorForCode(code))
		}
		grantACLs(t, superAdm, kadm.NewACLs().Allow("User:"+u.MTLS).AllowHosts().
			Topics(topic).Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
		waitTopicAllowed(t, cl, topic)
	})

	// SCRAM user without ACLs: denied; with READ/DESCRIBE on the topic and
	// READ on the group it consumes every record as a group member.
	t.Run("sasl-ssl/scram-acls", func(t *testing.T) {
		cl := securedClient(t, s.KafkaSASLSSL, trustCA, scram512)
		if code := topicMetadataError(t, cl, topic); code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("%s without ACLs: topic metadata error %v, want TOPIC_AUTHORIZATION_FAILED", u.SCRAM512.Name, kerr.ErrorForCode(code))
		}
		principal := "User:" + u.SCRAM512.Name
		grantACLs(t, superAdm, kadm.NewACLs().Allow(principal).AllowHosts().
			Topics(topic).Operations(kadm.OpRead, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
		grantACLs(t, superAdm, kadm.NewACLs().Allow(principal).AllowHosts().
			Groups(group).Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
		// The broker applies ACLs once it has replayed them from the
		// metadata log: wait for that before the group starts.
		waitTopicAllowed(t, cl, topic)

		t.Cleanup(func() { // after the consumer has left the group
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := superAdm.DeleteGroup(ctx, group); err != nil {
				t.Logf("delete group %s: %v", group, err)
			}
		})
		consumer := securedClient(t, s.KafkaSASLSSL, trustCA, scram512,
			kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		got := 0
		for got < n {
			fs := consumer.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("consumed %d of %d records as %s: %v (last fetch errors: %v)", got, n, principal, err, fs.Errors())
			}
			fs.EachError(func(topic string, p int32, err error) {
				t.Logf("fetch error %s[%d]: %v", topic, p, err)
			})
			got += fs.NumRecords()
		}
		if got != n {
			t.Fatalf("consumed %d records, want %d", got, n)
		}
		if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit as %s: %v", principal, err)
		}
	})
}

// needSecuredKafka returns the testbed's services after checking that its
// env file names the broker's secured listeners and test users, or fails
// the test (an env file written by an older up.sh lacks them).
func needSecuredKafka(t testing.TB) *services {
	t.Helper()
	s := needServices(t)
	u := s.KafkaUsers
	for _, kv := range [][2]string{
		{"E2E_KAFKA_SASL_SSL", s.KafkaSASLSSL}, {"E2E_KAFKA_MTLS", s.KafkaMTLS}, {"E2E_KAFKA_TLS_DIR", s.KafkaTLSDir},
		{"E2E_KAFKA_ADMIN_USER", u.Admin.Name}, {"E2E_KAFKA_ADMIN_PASSWORD", u.Admin.Password},
		{"E2E_KAFKA_SCRAM512_USER", u.SCRAM512.Name}, {"E2E_KAFKA_SCRAM512_PASSWORD", u.SCRAM512.Password},
		{"E2E_KAFKA_SCRAM256_USER", u.SCRAM256.Name}, {"E2E_KAFKA_SCRAM256_PASSWORD", u.SCRAM256.Password},
		{"E2E_KAFKA_NOACL_USER", u.NoACL.Name}, {"E2E_KAFKA_NOACL_PASSWORD", u.NoACL.Password},
		{"E2E_KAFKA_PLAIN_USER", u.Plain.Name}, {"E2E_KAFKA_PLAIN_PASSWORD", u.Plain.Password},
		{"E2E_KAFKA_MTLS_USER", u.MTLS},
	} {
		if kv[1] == "" {
			t.Fatalf("%s lacks %s: it was written before the test bed had secured Kafka listeners; run `make up` again", envFile(), kv[0])
		}
	}
	return s
}

// testPKI is the test bed's PKI (e2e/testbed/.run/kafka/tls).
type testPKI struct {
	ca, otherCA                        *x509.CertPool
	client, otherClient, expiredClient tls.Certificate
}

func loadTestPKI(t testing.TB, dir string) testPKI {
	t.Helper()
	pool := func(name string) *x509.CertPool {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(b) {
			t.Fatalf("%s: no PEM certificate", name)
		}
		return p
	}
	pair := func(name string) tls.Certificate {
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
		if err != nil {
			t.Fatalf("key pair %s: %v", name, err)
		}
		return c
	}
	return testPKI{
		ca: pool("ca.pem"), otherCA: pool("other-ca.pem"),
		client: pair("client"), otherClient: pair("other-client"), expiredClient: pair("expired-client"),
	}
}

// securedClient is a franz-go client for one of the secured listeners (TLS,
// and SASL when mech is not nil); it is closed when t ends. Failures come
// back quickly instead of being retried for long.
func securedClient(t testing.TB, addr string, tlsCfg *tls.Config, mech sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	o := []kgo.Opt{kgo.SeedBrokers(addr), kgo.DialTLSConfig(tlsCfg.Clone()), kgo.RetryTimeout(30 * time.Second)}
	if mech != nil {
		o = append(o, kgo.SASL(mech))
	}
	cl, err := kgo.NewClient(append(o, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// unsecuredJWTMechanism is OAUTHBEARER with an unsecured JWT (alg "none",
// empty signature) for sub, valid for ten minutes from each authentication:
// what the broker's default (unsecured) validator accepts.
func unsecuredJWTMechanism(sub string) sasl.Mechanism {
	return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		return oauth.Auth{Token: unsecuredJWT(sub, 10*time.Minute)}, nil
	})
}

func unsecuredJWT(sub string, ttl time.Duration) string {
	enc := base64.RawURLEncoding
	now := time.Now()
	header := enc.EncodeToString([]byte(`{"alg":"none"}`))
	claims := enc.EncodeToString(mustJSON(map[string]any{"sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}))
	return header + "." + claims + "."
}

// isTLSAlert: the broker ended the TLS handshake with an alert (a client
// certificate missing, from an unknown CA, or expired).
func isTLSAlert(err error) bool {
	oe, ok := errors.AsType[*net.OpError](err)
	return ok && oe.Op == "remote error"
}

// topicMetadataError is the error code the broker gives cl for topic in a
// metadata request (0 when cl may describe it).
func topicMetadataError(t testing.TB, cl *kgo.Client, topic string) int16 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata request for %s: %v", topic, err)
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("metadata for %s: %d topics in the response", topic, len(resp.Topics))
	}
	return resp.Topics[0].ErrorCode
}

// waitTopicAllowed waits until cl may describe topic: the broker applies
// new ACLs when it replays them from the metadata log, a moment after
// CreateAcls returns.
func waitTopicAllowed(t testing.TB, cl *kgo.Client, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		code := topicMetadataError(t, cl, topic)
		if code == 0 {
			return
		}
		if code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("topic %s after granting ACLs: %v", topic, kerr.ErrorForCode(code))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s: still %v a minute after granting ACLs", topic, kerr.ErrorForCode(code))
		case <-tick.C:
		}
	}
}

// grantACLs creates the ACLs b describes (as the super user) and deletes
// them again when t ends.
func grantACLs(t testing.TB, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := adm.CreateACLs(ctx, b)
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create ACL %s %s %s %s: %v", r.Principal, r.Operation, r.Type, r.Name, r.Err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := adm.DeleteACLs(ctx, b)
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			t.Errorf("delete ACLs: %v", err)
		}
	})
}

// deleteTopic deletes topic (best effort: the test bed's data is disposable).
func deleteTopic(t testing.TB, adm *kadm.Client, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := adm.DeleteTopic(ctx, topic); err != nil {
		t.Logf("delete topic %s: %v", topic, err)
	}
}
