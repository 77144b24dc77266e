package consumer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/internal/promtest"
	"github.com/floe-dev/floe/offsets"
)

// aclEnv is a kfake cluster that checks ACLs, with a superuser "admin" and
// user "floe" (SCRAM-SHA-256) who may do only what acls grant.
type aclEnv struct {
	kafka *kfake.Cluster
	admin *kadm.Client
	prod  *kgo.Client
}

func newACLEnv(t *testing.T, acls ...kfake.ACL) *aclEnv {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw"), kfake.User("SCRAM-SHA-256", "floe", "floe-pw", acls...))
	require.NoError(t, err)
	t.Cleanup(kc.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.DefaultProduceTopic("t"),
		kgo.SASL(scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha256Mechanism()))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return &aclEnv{kafka: kc, admin: kadm.NewClient(cl), prod: cl}
}

func allow(res kmsg.ACLResourceType, name string, op kmsg.ACLOperation) kfake.ACL {
	return kfake.ACL{Resource: res, Name: name, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: op, Allow: true}
}

// consumer is a consumer of topic t as user floe, with its own registry.
func (e *aclEnv) consumer(t *testing.T, sink *fakeSink, opts ...kgo.Opt) *Consumer {
	c, _ := e.consumerWithRegistry(t, sink, opts...)
	return c
}

func (e *aclEnv) consumerWithRegistry(t *testing.T, sink *fakeSink, opts ...kgo.Opt) (*Consumer, *prometheus.Registry) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Brokers = e.kafka.ListenAddrs()
	cfg.Batch.MaxAge = 50 * time.Millisecond
	cfg.SASL = SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "floe", Password: "floe-pw"}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	base, err := ClientOptions(cfg, logger, reg)
	require.NoError(t, err)
	c, err := New(cfg, []*Route{{Topics: []string{"t"}, Schema: idSchema, Decoder: idDecoder{}, OnError: codec.OnErrorSkip, Sink: sink}},
		logger, reg, append(base, opts...)...)
	require.NoError(t, err)
	return c, reg
}

// runToStartError runs a consumer of topic t with cfg's security and
// returns what ended it: a start that fails should.
func runToStartError(t *testing.T, cfg Config) error {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts, err := ClientOptions(cfg, logger, prometheus.NewRegistry())
	require.NoError(t, err)
	c, err := New(cfg, []*Route{{Topics: []string{"t"}, Schema: idSchema, Decoder: idDecoder{}, Sink: emptySink()}}, logger, prometheus.NewRegistry(), opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return c.Run(ctx)
}

// runInBackground runs c until the test ends, when its Run must return nil;
// the context is the run's.
func runInBackground(t *testing.T, c *Consumer) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return ctx
}

func emptySink() *fakeSink {
	return &fakeSink{stored: offsets.Map{Topics: map[string]offsets.Topic{}}}
}

// Each ACL floe needs, missing at start, stops floe with one message that
// names the broker, the principal, the operation and the resource.
func TestMissingACLAtStartIsOneClearError(t *testing.T) {
	topicAll := []kfake.ACL{allow(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationRead), allow(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationDescribe)}
	for _, tc := range []struct {
		name string
		acls []kfake.ACL
		want string
	}{
		{"no DESCRIBE on the topic", nil, "denied User:floe (SCRAM-SHA-256) operation DESCRIBE on Topic:t: TOPIC_AUTHORIZATION_FAILED. Grant READ (it includes DESCRIBE), e.g. kafka-acls.sh"},
		{"DESCRIBE but no READ on the topic", []kfake.ACL{allow(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationDescribe)},
			"denied User:floe (SCRAM-SHA-256) operation READ on Topic:t: TOPIC_AUTHORIZATION_FAILED"},
		{"no DESCRIBE on the group", topicAll, "denied User:floe (SCRAM-SHA-256) operation DESCRIBE on Group:floe: GROUP_AUTHORIZATION_FAILED. Grant READ (it includes DESCRIBE), e.g. kafka-acls.sh"},
		{"DESCRIBE but no READ on the group", append(topicAll, allow(kmsg.ACLResourceTypeGroup, "floe", kmsg.ACLOperationDescribe)),
			"denied User:floe (SCRAM-SHA-256) operation READ on Group:floe: GROUP_AUTHORIZATION_FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newACLEnv(t, tc.acls...)
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			err := e.consumer(t, emptySink()).Run(ctx)
			var ae *AccessError
			require.ErrorAs(t, err, &ae)
			require.ErrorContains(t, err, "kafka: broker "+e.kafka.ListenAddrs()[0]+" "+tc.want)
			require.ErrorContains(t, err, ", e.g. kafka-acls.sh --bootstrap-server "+e.kafka.ListenAddrs()[0]+" --add --allow-principal User:floe --operation read ")
		})
	}

	// Everything granted: floe joins and consumes.
	e := newACLEnv(t, append(topicAll, allow(kmsg.ACLResourceTypeGroup, "floe", kmsg.ACLOperationRead))...)
	sink := emptySink()
	c := e.consumer(t, sink)
	ctx := runInBackground(t, c)
	require.NoError(t, e.prod.ProduceSync(ctx, &kgo.Record{Value: []byte("0")}).FirstErr())
	require.Eventually(t, func() bool { return covered(t, sink.snapshot())[0][1] == 1 }, waitFor, tick)
}

// A wrong password and a mechanism the broker does not offer are each one
// message naming the broker and the principal.
func TestFailedAuthenticationAtStartIsOneClearError(t *testing.T) {
	kc := saslBroker(t, "SCRAM-SHA-512", func([]byte) error {
		return errors.New("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512")
	})
	for _, tc := range []struct {
		mech, want string
	}{
		{"SCRAM-SHA-512", "refused to authenticate User:floe (SCRAM-SHA-512): SASL_AUTHENTICATION_FAILED: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512. Check kafka.sasl.username and its password"},
		{"PLAIN", "refused to authenticate User:floe (PLAIN): UNSUPPORTED_SASL_MECHANISM"},
	} {
		cfg := DefaultConfig()
		cfg.Brokers = kc.ListenAddrs()
		cfg.SASL = SASLConfig{Mechanism: tc.mech, Username: "floe", Password: "wrong"}
		require.ErrorContains(t, runToStartError(t, cfg), "kafka: broker "+kc.ListenAddrs()[0]+" "+tc.want)
	}
}

// READ taken away while floe runs: the topic is paused and floe unready,
// naming the ACL; granted again, fetching resumes where it stopped and
// every record arrives once.
func TestTopicReadRevokedWhileRunningResumes(t *testing.T) {
	read := allow(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationRead)
	e := newACLEnv(t, read, allow(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationDescribe), allow(kmsg.ACLResourceTypeGroup, "floe", kmsg.ACLOperationRead))
	sink := emptySink()
	c, reg := e.consumerWithRegistry(t, sink, kgo.FetchMaxWait(200*time.Millisecond))
	ctx := runInBackground(t, c)
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			require.NoError(t, e.prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr())
		}
	}
	produce(0, 3)
	require.Eventually(t, func() bool { return covered(t, sink.snapshot())[0][1] == 3 }, waitFor, tick)
	require.NoError(t, c.AccessDenied())

	filter := kadm.NewACLs().Allow("User:floe").Topics("t").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral).AllowHosts()
	_, err := e.admin.DeleteACLs(ctx, filter)
	require.NoError(t, err)
	// The next fetch is refused: floe is unready and stops fetching t.
	paused := func() []string {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.cl.PauseFetchTopics()
	}
	require.Eventually(t, func() bool { return c.AccessDenied() != nil && len(paused()) == 1 }, waitFor, tick)
	require.ErrorContains(t, c.AccessDenied(), "denied User:floe (SCRAM-SHA-256) operation READ on Topic:t")
	require.Eventually(t, func() bool {
		return promtest.Value(t, reg, "floe_kafka_access_denied", nil) == 1 &&
			promtest.Value(t, reg, "floe_consumer_fetch_paused", map[string]string{"reason": "access"}) == 1
	}, waitFor, tick)
	produce(3, 6)

	_, err = e.admin.CreateACLs(ctx, kadm.NewACLs().Allow("User:floe").Topics("t").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral).AllowHosts())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return c.AccessDenied() == nil && covered(t, sink.snapshot())[0][1] == 6 }, waitFor, tick)
	require.Eventually(t, func() bool { return promtest.Value(t, reg, "floe_kafka_access_denied", nil) == 0 }, waitFor, tick)
}

// The dead-letter topic's ACLs: WRITE on the topic is checked at start;
// WRITE on the transactional ID and READ on the progress group are named
// when a write needs them.
func TestDeadLetterTopicACLsAreNamed(t *testing.T) {
	dlq := func(op kmsg.ACLOperation) kfake.ACL { return allow(kmsg.ACLResourceTypeTopic, "t", op) }
	floe := Config{Brokers: nil, SASL: SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "floe", Password: "floe-pw"}}
	opts := func(t *testing.T, e *aclEnv) []kgo.Opt {
		cfg := floe
		cfg.Brokers = e.kafka.ListenAddrs()
		o, err := ClientOptions(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		require.NoError(t, err)
		return o
	}
	ctx := context.Background()

	e := newACLEnv(t, dlq(kmsg.ACLOperationDescribe))
	floe.Brokers = e.kafka.ListenAddrs()
	err := NewDLQTopic(floe, "t", "g", "db.x", "test", opts(t, e)...).Check(ctx)
	require.ErrorContains(t, err, "dlq.topic t: kafka: broker "+floe.Brokers[0]+" denied User:floe (SCRAM-SHA-256) operation WRITE on Topic:t: TOPIC_AUTHORIZATION_FAILED")

	e = newACLEnv(t, dlq(kmsg.ACLOperationDescribe), dlq(kmsg.ACLOperationWrite))
	floe.Brokers = e.kafka.ListenAddrs()
	d := NewDLQTopic(floe, "t", "g", "db.x", "test", opts(t, e)...)
	require.NoError(t, d.Check(ctx))
	_, err = d.Write(ctx, []batcher.Letters{{Topic: "events", Partition: 0, End: 2, Letters: letters(1)}})
	require.ErrorContains(t, err, "denied User:floe (SCRAM-SHA-256) operation WRITE on TransactionalId:floe-dlq.g.db.x: TRANSACTIONAL_ID_AUTHORIZATION_FAILED")
	require.ErrorContains(t, err, "--operation write --transactional-id floe-dlq.g.db.x")
}

// A TLS handshake that fails is one message naming the broker and what to
// change: a CA floe does not trust, a name the certificate does not hold, a
// broker that wants a client certificate.
func TestTLSFailureAtStartIsOneClearError(t *testing.T) {
	dir := t.TempDir()
	caFile, serverCert := testCA(t, dir)
	otherCA, _ := testCA(t, t.TempDir())
	secured, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}))
	require.NoError(t, err)
	t.Cleanup(secured.Close)
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(pem))
	mtls, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12,
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}))
	require.NoError(t, err)
	t.Cleanup(mtls.Close)

	for _, tc := range []struct {
		kafka *kfake.Cluster
		tls   TLSConfig
		want  string
	}{
		{secured, TLSConfig{Enabled: true, CAFile: otherCA}, "The broker's certificate is not signed by a CA in kafka.tls.ca-file (" + otherCA + ")"},
		{secured, TLSConfig{Enabled: true, CAFile: caFile, ServerName: "elsewhere.example"}, "The broker's certificate does not name the host floe dialed"},
		{mtls, TLSConfig{Enabled: true, CAFile: caFile}, "The broker refused the handshake; it likely requires a client certificate (mTLS)"},
	} {
		cfg := DefaultConfig()
		cfg.Brokers = tc.kafka.ListenAddrs()
		cfg.TLS = tc.tls
		err := runToStartError(t, cfg)
		require.ErrorContains(t, err, "kafka: TLS with broker "+cfg.Brokers[0]+" failed (principal User:ANONYMOUS): ")
		require.ErrorContains(t, err, tc.want)
	}
}

// The group's READ taken away while floe runs: the session ends, floe is
// unready naming the group; granted again, floe rejoins and consumes
// again (from the table's offsets: exactly once is the e2e test's).
func TestGroupReadRevokedWhileRunningRejoins(t *testing.T) {
	groupRead := kadm.NewACLs().Allow("User:floe").Groups("floe").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral).AllowHosts()
	e := newACLEnv(t, allow(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationRead), allow(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationDescribe),
		allow(kmsg.ACLResourceTypeGroup, "floe", kmsg.ACLOperationRead))
	sink := emptySink()
	c := e.consumer(t, sink, kgo.FetchMaxWait(200*time.Millisecond), kgo.HeartbeatInterval(100*time.Millisecond))
	ctx := runInBackground(t, c)
	require.NoError(t, e.prod.ProduceSync(ctx, &kgo.Record{Value: []byte("0")}).FirstErr())
	require.Eventually(t, func() bool { return covered(t, sink.snapshot())[0][1] == 1 }, waitFor, tick)

	_, err := e.admin.DeleteACLs(ctx, groupRead)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return c.AccessDenied() != nil }, waitFor, tick)
	require.ErrorContains(t, c.AccessDenied(), "denied User:floe (SCRAM-SHA-256) operation READ on Group:floe: GROUP_AUTHORIZATION_FAILED")

	_, err = e.admin.CreateACLs(ctx, groupRead)
	require.NoError(t, err)
	require.NoError(t, e.prod.ProduceSync(ctx, &kgo.Record{Value: []byte("1")}).FirstErr())
	require.Eventually(t, func() bool { return c.AccessDenied() == nil && c.Joined() }, waitFor, tick)
	require.Eventually(t, func() bool {
		for _, b := range sink.snapshot() {
			if b.End == 2 {
				return true
			}
		}
		return false
	}, waitFor, tick, "the record produced after the grant is consumed")
}

// A listener that speaks no TLS, met with TLS, and a TLS listener met
// without: the broker hangs up, and floe says which side to fix.
func TestTLSMismatchIsNamed(t *testing.T) {
	_, serverCert := testCA(t, t.TempDir())
	secured, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}))
	require.NoError(t, err)
	t.Cleanup(secured.Close)
	cfg := DefaultConfig()
	cfg.Brokers = secured.ListenAddrs()
	err = runToStartError(t, cfg)
	require.ErrorContains(t, err, "kafka: TLS with broker "+cfg.Brokers[0]+" failed")
	require.ErrorContains(t, err, "this listener probably wants TLS (kafka.tls.enabled: true) or SASL")

	// The other way round, as Kafka does it: a PLAINTEXT listener closes a
	// connection whose first bytes (a TLS ClientHello) are no request.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Read(make([]byte, 64<<10)) // the ClientHello, whole: closing with unread bytes would reset
			conn.Close()
		}
	}()
	cfg.Brokers = []string{ln.Addr().String()}
	cfg.TLS = TLSConfig{Enabled: true}
	err = runToStartError(t, cfg)
	require.ErrorContains(t, err, "this listener is probably PLAINTEXT or SASL_PLAINTEXT")
}
