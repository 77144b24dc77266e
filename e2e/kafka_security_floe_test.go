//go:build e2e

package e2e

// floe itself against the test bed's secured Kafka listeners (issue 13):
// TestTestbedKafkaSecurity (kafka_security_test.go) proves the listeners
// with franz-go; these tests run the floe binary on them. Records are
// produced over PLAINTEXT (the super user); floe reads them over SASL_SSL
// or mTLS as a principal with only the ACLs a test grants, and PyIceberg
// and DuckDB judge the table as in TestExactlyOnce.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestSecuredKafkaExactlyOnce streams records into a table while floe reads
// them over a secured listener as a principal that has exactly the ACLs
// floe needs (READ and DESCRIBE on the topic, READ on the group), is
// SIGKILLed once mid-stream and restarted; then the readers judge the table.
// Three ways in: SASL_SSL with SCRAM-SHA-512 (the password from a
// password-file), mutual TLS (the client certificate's CN is the
// principal), and SASL_SSL with OAUTHBEARER, the token fetched with client
// credentials from a token endpoint the test serves, short-lived so floe
// must fetch a fresh one while it runs.
func TestSecuredKafkaExactlyOnce(t *testing.T) {
	s := needSecuredKafka(t)
	pki := loadTestPKI(t, s.KafkaTLSDir)
	u := s.KafkaUsers
	ca := filepath.Join(s.KafkaTLSDir, "ca.pem")
	trustCA := &tls.Config{RootCAs: pki.ca}

	t.Run("sasl-ssl-scram-sha-512", func(t *testing.T) {
		dir := t.TempDir()
		pwFile := writeSecret(t, dir, "kafka-password", u.SCRAM512.Password+"\n")
		securedExactlyOnce(t, s, securedRoute{
			kind:      "scram",
			addr:      s.KafkaSASLSSL,
			principal: "User:" + u.SCRAM512.Name,
			client: securedClient(t, s.KafkaSASLSSL, trustCA,
				scram.Auth{User: u.SCRAM512.Name, Pass: u.SCRAM512.Password}.AsSha512Mechanism()),
			kafka: tlsYAML(ca, "", "") + saslYAML("SCRAM-SHA-512", u.SCRAM512.Name, "password-file: "+yamlStr(pwFile)),
			// What must never be in floe's output.
			secrets: []string{u.SCRAM512.Password},
		}, nil)
	})

	t.Run("mtls", func(t *testing.T) {
		cert, key := filepath.Join(s.KafkaTLSDir, "client.pem"), filepath.Join(s.KafkaTLSDir, "client-key.pem")
		securedExactlyOnce(t, s, securedRoute{
			kind:      "mtls",
			addr:      s.KafkaMTLS,
			principal: "User:" + u.MTLS,
			client: securedClient(t, s.KafkaMTLS,
				&tls.Config{RootCAs: pki.ca, Certificates: []tls.Certificate{pki.client}}, nil),
			kafka: tlsYAML(ca, cert, key),
		}, nil)
	})

	t.Run("oauthbearer", func(t *testing.T) {
		// A principal of its own per run: nothing another run (or
		// TestTestbedKafkaSecurity's floe-oauth) granted applies to it.
		sub := "floe-e2e-oauth-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		// 15 s: floe asks again with a fifth left (12 s), and the broker
		// ends each session with the token, so floe must present a fresh
		// one within the run.
		idp := startTokenEndpoint(t, "floe-e2e-client", "floe-e2e-client-secret-"+strconv.Itoa(rand.IntN(1e6)), "kafka", sub, 15*time.Second)
		dir := t.TempDir()
		secretFile := writeSecret(t, dir, "client-secret", idp.secret+"\n")
		route := securedRoute{
			kind:      "oauth",
			addr:      s.KafkaSASLSSL,
			principal: "User:" + sub,
			client:    securedClient(t, s.KafkaSASLSSL, trustCA, unsecuredJWTMechanism(sub)),
			kafka: tlsYAML(ca, "", "") + fmt.Sprintf(`  sasl:
    mechanism: OAUTHBEARER
    oauth:
      token-url: %s
      client-id: %s
      client-secret-file: %s
      scope: %s
`, yamlStr(idp.url()), yamlStr(idp.clientID), yamlStr(secretFile), yamlStr(idp.scope)),
			secrets: []string{idp.secret},
		}
		procs := securedExactlyOnce(t, s, route, func(prod *producer, proc *floeProc, started time.Time) {
			// The restarted floe fetches a token again once four fifths
			// of its first one's life have passed, and re-authenticates
			// with it before the broker ends the session.
			waitFor(t, "a token fetched again by "+proc.name+" while it runs", 3*time.Minute, func() bool {
				prod.keepFlowing(t)
				return idp.grantsSince(started) >= 2
			}, proc)
			t.Logf("%s fetched %d tokens since it started (%d grants in all, %d refused requests)",
				proc.name, idp.grantsSince(started), idp.grantsSince(time.Time{}), idp.refusedCount())
		})
		if n := idp.refusedCount(); n > 0 {
			t.Errorf("the token endpoint refused %d of floe's requests (wrong grant type, client or scope): %s", n, idp.lastRefusal())
		}
		// Tokens are credentials too: none in floe's output.
		idp.requireNotIn(t, procs...)
	})
}

// TestSecuredKafkaRefusals: floe refused by Kafka at start exits 1 at
// once, with one message naming the broker, the principal and what was
// refused (an authentication, a TLS handshake, or an operation on a
// resource, with the ACL to grant); the password is never in its output.
func TestSecuredKafkaRefusals(t *testing.T) {
	s := needSecuredKafka(t)
	pki := loadTestPKI(t, s.KafkaTLSDir)
	u := s.KafkaUsers
	tlsDir := s.KafkaTLSDir
	ca := filepath.Join(tlsDir, "ca.pem")
	trustCA := &tls.Config{RootCAs: pki.ca}
	p := newSecuredPipeline(t, s, "refused", 3)
	produceN(t, p.cl, p.topic, 0, 30)
	dir := t.TempDir()
	pwFile := func(u kafkaUser) string { return writeSecret(t, dir, u.Name+"-password", u.Password+"\n") }

	// floe-scram256: DESCRIBE on the topic and READ on the group, but no
	// READ on the topic. floe-plain: READ and DESCRIBE on the topic, nothing
	// on the group. floe-scram: READ and DESCRIBE on the topic, DESCRIBE
	// but not READ on the group. (floe-noacl never gets any ACL.)
	grantACLs(t, p.adm, kadm.NewACLs().Allow("User:"+u.SCRAM256.Name).AllowHosts().
		Groups(p.group).Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	grantACLs(t, p.adm, kadm.NewACLs().Allow("User:"+u.SCRAM256.Name).AllowHosts().
		Topics(p.topic).Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	grantACLs(t, p.adm, kadm.NewACLs().Allow("User:"+u.Plain.Name).AllowHosts().
		Topics(p.topic).Operations(kadm.OpRead, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	grantACLs(t, p.adm, kadm.NewACLs().Allow("User:"+u.SCRAM512.Name).AllowHosts().
		Topics(p.topic).Operations(kadm.OpRead, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	grantACLs(t, p.adm, kadm.NewACLs().Allow("User:"+u.SCRAM512.Name).AllowHosts().
		Groups(p.group).Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	scram512 := securedClient(t, s.KafkaSASLSSL, trustCA,
		scram.Auth{User: u.SCRAM512.Name, Pass: u.SCRAM512.Password}.AsSha512Mechanism())
	scram256 := securedClient(t, s.KafkaSASLSSL, trustCA,
		scram.Auth{User: u.SCRAM256.Name, Pass: u.SCRAM256.Password}.AsSha256Mechanism())
	plainCl := securedClient(t, s.KafkaSASLSSL, trustCA, plain.Auth{User: u.Plain.Name, Pass: u.Plain.Password}.AsMechanism())
	waitAuthorized(t, scram256, p.topic, kadm.OpDescribe)
	waitAuthorized(t, plainCl, p.topic, kadm.OpRead, kadm.OpDescribe)
	waitAuthorized(t, scram512, p.topic, kadm.OpRead, kadm.OpDescribe)

	// OAUTHBEARER with client credentials: a sub without any ACL.
	oauthSub := "floe-e2e-oauth-noacl-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	idp := startTokenEndpoint(t, "floe-e2e-client", "floe-e2e-client-secret-"+strconv.Itoa(rand.IntN(1e6)), "kafka", oauthSub, time.Minute)
	oauthYAML := func(secret string) string {
		return fmt.Sprintf("  sasl:\n    mechanism: OAUTHBEARER\n    oauth:\n      token-url: %s\n      client-id: %s\n      client-secret: %s\n      scope: kafka\n",
			yamlStr(idp.url()), yamlStr(idp.clientID), yamlStr(secret))
	}
	wrongSecret := "not-" + idp.secret

	wrongPassword := "not-" + u.SCRAM512.Password + "-" + strconv.Itoa(rand.IntN(1e6))
	expiredCert := filepath.Join(tlsDir, "expired-client.pem")
	otherCA := filepath.Join(tlsDir, "other-ca.pem")
	sasl := s.KafkaSASLSSL
	grant := func(principal, op, flag string) string {
		return fmt.Sprintf("Grant it, e.g. kafka-acls.sh --bootstrap-server %s --add --allow-principal %s --operation %s %s", sasl, principal, op, flag)
	}
	// A missing DESCRIBE on what floe must READ: the hint grants READ, so
	// that following it does not meet the next refusal.
	grantRead := func(principal, flag string) string {
		return fmt.Sprintf("Grant READ (it includes DESCRIBE), e.g. kafka-acls.sh --bootstrap-server %s --add --allow-principal %s --operation read %s", sasl, principal, flag)
	}
	for _, c := range []struct {
		name    string
		brokers string
		kafka   string
		want    []string // in the one message, in this order
		secrets []string // never in the output
	}{
		{
			// Inline, so the config floe logs at start must mask it.
			name: "wrong-scram-password", brokers: sasl,
			kafka: tlsYAML(ca, "", "") + saslYAML("SCRAM-SHA-512", u.SCRAM512.Name, "password: "+yamlStr(wrongPassword)),
			want: []string{
				"kafka: broker " + sasl + " refused to authenticate User:" + u.SCRAM512.Name + " (SCRAM-SHA-512): ",
				"SASL_AUTHENTICATION_FAILED",
				"Check kafka.sasl.username and its password",
			},
			secrets: []string{wrongPassword, u.SCRAM512.Password},
		},
		{
			name: "untrusted-ca", brokers: sasl,
			kafka: tlsYAML(otherCA, "", "") + saslYAML("SCRAM-SHA-512", u.SCRAM512.Name, "password-file: "+yamlStr(pwFile(u.SCRAM512))),
			want: []string{
				"kafka: TLS with broker " + sasl + " failed (principal User:" + u.SCRAM512.Name + " (SCRAM-SHA-512)): ",
				"The broker's certificate is not signed by a CA in kafka.tls.ca-file (" + otherCA + ")",
			},
			secrets: []string{u.SCRAM512.Password},
		},
		{
			name: "no-acls", brokers: sasl,
			kafka: tlsYAML(ca, "", "") + saslYAML("SCRAM-SHA-512", u.NoACL.Name, "password-file: "+yamlStr(pwFile(u.NoACL))),
			want: []string{
				"kafka: broker " + sasl + " denied User:" + u.NoACL.Name + " (SCRAM-SHA-512) operation DESCRIBE on Topic:" + p.topic + ": ",
				"TOPIC_AUTHORIZATION_FAILED",
				grantRead("User:"+u.NoACL.Name, "--topic "+p.topic),
			},
			secrets: []string{u.NoACL.Password},
		},
		{
			name: "describe-without-read", brokers: sasl,
			kafka: tlsYAML(ca, "", "") + saslYAML("SCRAM-SHA-256", u.SCRAM256.Name, "password-file: "+yamlStr(pwFile(u.SCRAM256))),
			want: []string{
				"kafka: broker " + sasl + " denied User:" + u.SCRAM256.Name + " (SCRAM-SHA-256) operation READ on Topic:" + p.topic + ": ",
				"TOPIC_AUTHORIZATION_FAILED",
				grant("User:"+u.SCRAM256.Name, "read", "--topic "+p.topic),
			},
			secrets: []string{u.SCRAM256.Password},
		},
		{
			name: "no-group-acl", brokers: sasl,
			kafka: tlsYAML(ca, "", "") + saslYAML("PLAIN", u.Plain.Name, "password-file: "+yamlStr(pwFile(u.Plain))),
			want: []string{
				"kafka: broker " + sasl + " denied User:" + u.Plain.Name + " (PLAIN) operation ",
				" on Group:" + p.group + ": ",
				"GROUP_AUTHORIZATION_FAILED",
				grantRead("User:"+u.Plain.Name, "--group "+p.group),
			},
			secrets: []string{u.Plain.Password},
		},
		{
			// DESCRIBE on the group is not enough: floe joins it (READ).
			name: "group-describe-without-read", brokers: sasl,
			kafka: tlsYAML(ca, "", "") + saslYAML("SCRAM-SHA-512", u.SCRAM512.Name, "password-file: "+yamlStr(pwFile(u.SCRAM512))),
			want: []string{
				"kafka: broker " + sasl + " denied User:" + u.SCRAM512.Name + " (SCRAM-SHA-512) operation READ on Group:" + p.group + ": ",
				"GROUP_AUTHORIZATION_FAILED",
				grant("User:"+u.SCRAM512.Name, "read", "--group "+p.group),
			},
			secrets: []string{u.SCRAM512.Password},
		},
		{
			// The principal is the subject of the token floe was issued.
			name: "oauth-no-acls", brokers: sasl,
			kafka: tlsYAML(ca, "", "") + oauthYAML(idp.secret),
			want: []string{
				"kafka: broker " + sasl + " denied User:" + oauthSub + " (OAUTHBEARER, client " + idp.clientID + ") operation DESCRIBE on Topic:" + p.topic + ": ",
				"TOPIC_AUTHORIZATION_FAILED",
				grantRead("User:"+oauthSub, "--topic "+p.topic),
			},
			secrets: []string{idp.secret},
		},
		{
			// The token endpoint refuses floe's client credentials: no
			// token, so no authentication to Kafka.
			name: "oauth-client-refused", brokers: sasl,
			kafka: tlsYAML(ca, "", "") + oauthYAML(wrongSecret),
			want: []string{
				"kafka: no token to authenticate ",
				" with broker " + sasl + ": ",
				"token endpoint " + idp.url() + " refused client \"" + idp.clientID + "\": 401",
				"check kafka.sasl.oauth.client-id and its secret",
			},
			secrets: []string{wrongSecret, idp.secret},
		},
		{
			name: "mtls-expired-client-cert", brokers: s.KafkaMTLS,
			kafka: tlsYAML(ca, expiredCert, filepath.Join(tlsDir, "expired-client-key.pem")),
			want: []string{
				"kafka: TLS with broker " + s.KafkaMTLS + " failed (principal ",
				"The broker refused floe's client certificate " + expiredCert,
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			p.conf.brokers = c.brokers
			started := time.Now()
			proc := p.startSecured(c.name, c.kafka)
			code := proc.wait(t, 2*time.Minute)
			elapsed := time.Since(started)
			msg := refusalMessage(proc.log())
			t.Logf("floe exited %d after %v: %s", code, elapsed.Round(time.Millisecond), msg)
			if code != 1 {
				t.Errorf("floe exited %d, want 1", code)
			}
			if n := strings.Count("\n"+proc.log(), "\nfloe: "); n != 1 {
				t.Errorf("floe wrote %d lines of its own (\"floe: …\") on its way out, want the one message", n)
			}
			at := 0
			for _, w := range c.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Errorf("the message lacks %q (after position %d):\n%s", w, at, msg)
					continue
				}
				at += i + len(w)
			}
			requireNoSecrets(t, proc, c.secrets...)
			if t.Failed() {
				t.Logf("floe %s's output:\n%s", proc.name, proc.logTail(40))
			}
		})
	}
}

// TestSecuredKafkaACLRevokedMidRun: floe reads over SASL_SSL as floe-scram
// while records arrive; READ on the topic is taken away, and floe must stay
// up, answer /readyz 503 naming the operation and the topic, and resume on
// its own once READ is granted again, losing and duplicating nothing.
func TestSecuredKafkaACLRevokedMidRun(t *testing.T) {
	s := needSecuredKafka(t)
	pki := loadTestPKI(t, s.KafkaTLSDir)
	u := s.KafkaUsers
	const n = 15_000
	p := newSecuredPipeline(t, s, "revoked", 6)
	principal := "User:" + u.SCRAM512.Name
	client := securedClient(t, s.KafkaSASLSSL, &tls.Config{RootCAs: pki.ca},
		scram.Auth{User: u.SCRAM512.Name, Pass: u.SCRAM512.Password}.AsSha512Mechanism())
	read := kadm.NewACLs().Allow(principal).AllowHosts().
		Topics(p.topic).Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	grantFloeACLs(t, p, principal, client, read)
	dir := t.TempDir()
	pwFile := writeSecret(t, dir, "kafka-password", u.SCRAM512.Password+"\n")
	p.conf.brokers = s.KafkaSASLSSL
	sec := tlsYAML(filepath.Join(s.KafkaTLSDir, "ca.pem"), "", "") +
		saslYAML("SCRAM-SHA-512", u.SCRAM512.Name, "password-file: "+yamlStr(pwFile))

	prod := startProducer(t, p.cl, p.topic, pacedRun{n: n, rate: 750})
	f := p.startSecured("a", sec)
	f.waitReady(t)
	p.waitCommitted(n*20/100, f)

	// Take READ away.
	revokeACLs(t, p.adm, read)
	revoked := time.Now()
	before, _, _ := p.committed()
	wantBody := "not ready: kafka: broker " + s.KafkaSASLSSL + " denied " + principal + " (SCRAM-SHA-512) operation READ on Topic:" + p.topic + ": "
	var body string
	waitFor(t, "/readyz to answer 503 naming READ on the topic", 3*time.Minute, func() bool {
		prod.keepFlowing(t) // fetches to refuse
		var code int
		code, body = f.readyz()
		return code == http.StatusServiceUnavailable && strings.Contains(body, "operation READ on Topic:"+p.topic)
	}, f)
	t.Logf("READ revoked; %v later /readyz says: %s", time.Since(revoked).Round(time.Millisecond), strings.TrimSpace(body))
	if !strings.Contains(body, wantBody) {
		t.Errorf("/readyz body lacks %q:\n%s", wantBody, body)
	}
	if !strings.Contains(body, "TOPIC_AUTHORIZATION_FAILED") || !strings.Contains(body, "--operation read --topic "+p.topic) {
		t.Errorf("/readyz body lacks the error code or the grant:\n%s", body)
	}

	// Denied for a while (the re-checks back off meanwhile): floe stays up
	// and unready, and records keep arriving.
	reqs0 := kafkaRequests(t, f)
	var ready200 int
	held, _ := holdUntil(t, holdFor{atLeast: 5 * time.Second, atMost: 5 * time.Second}, func() bool {
		prod.keepFlowing(t)
		if code, _ := f.readyz(); code == http.StatusOK {
			ready200++
		}
		return true
	}, f)
	mid, _, _ := p.committed()
	t.Logf("denied for %v: table at %d records when READ was revoked, %d now; produced %d so far",
		held.Round(time.Millisecond), sumOffsets(before), sumOffsets(mid), prod.produced())
	if ready200 > 0 {
		t.Errorf("/readyz answered 200 %d times while READ on the topic was revoked", ready200)
	}
	// Backoff, not a loop: a bound that holds at any speed (a slower
	// machine only sends fewer); with re-checks after 1 s, 2 s, 4 s … expect
	// a handful of metadata requests and no fetch of the paused topic.
	reqs := kafkaRequests(t, f)
	for _, op := range []string{"Metadata", "Fetch"} {
		n := reqs[op] - reqs0[op]
		t.Logf("%s requests while denied: %.0f in %v", op, n, held.Round(time.Millisecond))
		if limit := float64(held / (200 * time.Millisecond)); n > limit {
			t.Errorf("%.0f %s requests in %v of denial (more than one per 200ms): floe does not back off", n, op, held.Round(time.Millisecond))
		}
	}

	// Grant READ again: floe resumes by itself.
	grantACLs(t, p.adm, read)
	granted := time.Now()
	waitFor(t, "/readyz to answer 200 after READ was granted again", 3*time.Minute, func() bool {
		prod.keepFlowing(t)
		code, _ := f.readyz()
		return code == http.StatusOK
	}, f)
	t.Logf("READ granted again; ready %v later", time.Since(granted).Round(time.Millisecond))
	// Records produced after the grant are consumed too.
	p.waitCommitted(int(sumOffsets(mid))+1, f)

	var denied, restored int
	for _, l := range f.logLines() {
		switch {
		case strings.HasPrefix(l.str("msg"), "kafka access denied"):
			denied++
			if l.str("level") != "ERROR" && l.str("level") != "WARN" {
				t.Errorf("the denial is logged at level %s: %v", l.str("level"), l)
			}
			if !strings.Contains(l.str("error"), "operation READ on Topic:"+p.topic) {
				t.Errorf("the denial's log line does not name READ on the topic: %v", l)
			}
		case strings.HasPrefix(l.str("msg"), "kafka access restored"):
			restored++
		}
	}
	t.Logf("log: %d lines say kafka access denied, %d say restored", denied, restored)
	if denied != 1 || restored != 1 {
		t.Errorf("floe logged the denial %d times and the restoration %d times; want each once", denied, restored)
	}

	ids := prod.wait(t)
	p.finish(ids, f)
	requireNoSecrets(t, f, u.SCRAM512.Password)
	requireGroupMirror(t, p)
}

// securedRoute is how a floe pipeline reaches the broker: the listener, the
// principal Kafka sees, the kafka: keys of floe's config for it, and a
// client of the test's as that principal (to see when ACLs apply).
type securedRoute struct {
	kind      string // names the topic, table and group
	addr      string
	principal string
	client    *kgo.Client
	kafka     string   // kafka.tls / kafka.sasl YAML, indented by two spaces
	secrets   []string // never in floe's output
}

// securedExactlyOnce runs the scenario TestSecuredKafkaExactlyOnce's
// subtests share and returns the floe processes it ran; during, if set,
// runs once the restarted floe is up.
func securedExactlyOnce(t *testing.T, s *services, r securedRoute, during func(prod *producer, proc *floeProc, started time.Time)) []*floeProc {
	t.Helper()
	const n = 8_000
	rng := seededRand(t)
	p := newSecuredPipeline(t, s, r.kind, 6)
	grantFloeACLs(t, p, r.principal, r.client, nil)
	p.conf.brokers = r.addr

	prod := startProducer(t, p.cl, p.topic, pacedRun{n: n, rate: 800})
	first := p.startSecured("run1", r.kafka)
	first.waitReady(t)
	p.waitCommitted(n*25/100, first)
	time.Sleep(randUpTo(rng, time.Second)) // anywhere in the commit cycle
	p.killedAt = time.Now()
	first.kill(t) // mid-stream, no final commit
	t.Logf("run1 SIGKILLed with %d of %d records produced", prod.produced(), n)

	started := time.Now()
	second := p.startSecured("run2", r.kafka)
	second.waitReady(t)
	if during != nil {
		during(prod, second, started)
	}
	ids := prod.wait(t)
	p.finish(ids, second)

	for _, proc := range []*floeProc{first, second} {
		requireNoSecrets(t, proc, r.secrets...)
		for _, l := range proc.logLines() {
			if strings.HasPrefix(l.str("msg"), "kafka access denied") {
				t.Errorf("floe %s was denied access with the ACLs floe is documented to need: %v", proc.name, l)
			}
		}
	}
	requireGroupMirror(t, p)
	return []*floeProc{first, second}
}

// newSecuredPipeline is a pipeline (REST catalog, file warehouse) whose
// topic is deleted, and whose group too, when t ends. The config for floe
// commits keeps the PLAINTEXT broker (it reads only the table); floe
// processes get p.conf.brokers and their kafka keys from startSecured.
func newSecuredPipeline(t testing.TB, s *services, kind string, partitions int32) *pipeline {
	t.Helper()
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(rand.IntN(1000))
	p := &pipeline{
		t:     t,
		svc:   s,
		dir:   t.TempDir(),
		topic: fmt.Sprintf("e2e-secured-%s-%s", kind, suffix),
		table: fmt.Sprintf("e2e.secured_%s_%s", kind, suffix),
		group: fmt.Sprintf("floe-e2e-secured-%s-%s", kind, suffix),
	}
	var yaml string
	yaml, p.catalog = catalogFor(t, s, "rest-file", suffix)
	p.cl, p.adm = kafkaClient(t, s)
	createTopic(t, p.adm, p.topic, partitions)
	// Registered after the client's Close: runs before it, and after every
	// floe process started later has been killed.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Best effort: a group floe never joined does not exist.
		if _, err := p.adm.DeleteGroup(ctx, p.group); err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			t.Logf("delete group %s: %v", p.group, err)
		}
		deleteTopic(t, p.adm, p.topic)
	})
	p.conf = floeConfig{brokers: s.Kafka, group: p.group, topic: p.topic, table: p.table, catalog: yaml}
	p.cfgPath, _ = p.conf.write(t, p.dir, "commits")
	t.Logf("topic %s (%d partitions), table %s, group %s, files in %s", p.topic, partitions, p.table, p.group, p.dir)
	return p
}

// startSecured starts a floe process with kafka (tls: and sasl: keys,
// indented by two spaces) added to its config's kafka section.
func (p *pipeline) startSecured(name, kafka string) *floeProc {
	p.t.Helper()
	cfg, addr := p.conf.write(p.t, p.dir, name)
	data, err := os.ReadFile(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	const section = "\nkafka:\n"
	if !strings.Contains(string(data), section) {
		p.t.Fatalf("no kafka: section in %s", cfg)
	}
	data = []byte(strings.Replace(string(data), section, section+kafka, 1))
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		p.t.Fatal(err)
	}
	proc := startFloe(p.t, name, cfg, addr)
	p.procs = append(p.procs, proc)
	return proc
}

// tlsYAML is kafka.tls with the test CA (and a client certificate for mTLS).
func tlsYAML(ca, cert, key string) string {
	y := "  tls:\n    enabled: true\n    ca-file: " + yamlStr(ca) + "\n"
	if cert != "" {
		y += "    cert-file: " + yamlStr(cert) + "\n    key-file: " + yamlStr(key) + "\n"
	}
	return y
}

// saslYAML is kafka.sasl for a username and password mechanism; secret is
// the password: or password-file: line.
func saslYAML(mechanism, user, secret string) string {
	return fmt.Sprintf("  sasl:\n    mechanism: %s\n    username: %s\n    %s\n", mechanism, yamlStr(user), secret)
}

// writeSecret writes a secret file readable by its owner only.
func writeSecret(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// grantFloeACLs grants principal what floe needs for p (deleted when t
// ends): READ on the group, READ and DESCRIBE on the topic — READ as the
// builder read when it is given, so a test can take it away and give it
// back — and waits until the broker applies them, as cl (a client of that
// principal's) sees.
func grantFloeACLs(t testing.TB, p *pipeline, principal string, cl *kgo.Client, read *kadm.ACLBuilder) {
	t.Helper()
	// The group first: the broker applies ACLs in the order of the
	// metadata log, so once the topic's show, the group's hold too.
	grantACLs(t, p.adm, kadm.NewACLs().Allow(principal).AllowHosts().
		Groups(p.group).Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	if read == nil {
		grantACLs(t, p.adm, kadm.NewACLs().Allow(principal).AllowHosts().
			Topics(p.topic).Operations(kadm.OpRead, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	} else {
		grantACLs(t, p.adm, kadm.NewACLs().Allow(principal).AllowHosts().
			Topics(p.topic).Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
		grantACLs(t, p.adm, read)
	}
	waitAuthorized(t, cl, p.topic, kadm.OpRead, kadm.OpDescribe)
	t.Logf("granted %s: READ on Group:%s, READ and DESCRIBE on Topic:%s", principal, p.group, p.topic)
}

// revokeACLs deletes the ACLs b describes.
func revokeACLs(t testing.TB, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := adm.DeleteACLs(ctx, b)
	if err != nil {
		t.Fatalf("delete ACLs: %v", err)
	}
	deleted := 0
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("delete ACLs: %v", r.Err)
		}
		deleted += len(r.Deleted)
	}
	if deleted == 0 {
		t.Fatalf("delete ACLs: none matched")
	}
}

// waitAuthorized waits until the broker lists ops among what cl's
// principal may do on topic: ACLs apply once the broker has replayed them
// from the metadata log, a moment after CreateAcls returns.
func waitAuthorized(t testing.TB, cl *kgo.Client, topic string, ops ...kadm.ACLOperation) {
	t.Helper()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		md, err := adm.Metadata(kadm.WithAuthorizedOps(ctx), topic)
		cancel()
		var have []kadm.ACLOperation
		if err == nil {
			d := md.Topics[topic]
			if d.Err == nil {
				have = d.AuthorizedOperations
			}
		}
		all := true
		for _, op := range ops {
			found := false
			for _, h := range have {
				found = found || h == op || h == kadm.OpAll
			}
			all = all && found
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: the principal may do %v a minute after the grant, want %v (last error %v)", topic, have, ops, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requireGroupMirror: floe copies its committed offsets to the Kafka group
// for lag tools; with only the documented ACLs the copy must work too.
func requireGroupMirror(t testing.TB, p *pipeline) {
	t.Helper()
	group := fetchGroupOffsets(t, p.adm, p.group, p.topic)
	ends := endOffsets(t, p.adm, p.topic)
	t.Logf("group %s offsets (floe's mirror): %v; topic ends %v", p.group, group, ends)
	if len(group) == 0 {
		t.Errorf("group %s has no committed offsets: floe's mirror of its offsets to the group did not work with READ on the group and topic", p.group)
	}
	for part, o := range group {
		if o > ends[part] {
			t.Errorf("group offset of partition %d is %d, past the topic's end %d", part, o, ends[part])
		}
	}
}

// requireNoSecrets: none of secrets is in proc's output.
func requireNoSecrets(t testing.TB, proc *floeProc, secrets ...string) {
	t.Helper()
	log := proc.log()
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("floe %s's output contains a secret (%d characters, starting %q)", proc.name, len(s), s[:min(4, len(s))])
		}
	}
}

// refusalMessage is the last line floe wrote on its way out ("floe: …",
// by main's exitCode), without the prefix.
func refusalMessage(log string) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if msg, ok := strings.CutPrefix(lines[i], "floe: "); ok {
			return msg
		}
	}
	return ""
}

// kafkaRequests is how many Kafka requests of each kind proc has made
// (answered or failed), from its /metrics.
func kafkaRequests(t testing.TB, proc *floeProc) map[string]float64 {
	t.Helper()
	m, err := proc.metrics()
	if err != nil {
		t.Fatalf("/metrics of floe %s: %v", proc.name, err)
	}
	out := map[string]float64{}
	for _, op := range []string{"Metadata", "Fetch"} {
		ok, _ := metricSum(m, "floe_kafka_request_duration_seconds_count", map[string]string{"operation": op})
		failed, _ := metricSum(m, "floe_kafka_request_errors_total", map[string]string{"operation": op})
		out[op] = ok + failed
	}
	return out
}

// readyz is /readyz's status (0 if it did not answer) and body.
func (p *floeProc) readyz() (int, string) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + p.addr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tokenEndpoint is an OAuth 2 token endpoint for the client-credentials
// grant, issuing the unsecured JWTs the broker's default validator takes
// (sub is the principal), each valid for lifetime; it counts its grants.
type tokenEndpoint struct {
	srv                     *httptest.Server
	clientID, secret, scope string
	sub                     string
	lifetime                time.Duration
	mu                      sync.Mutex
	grants                  []time.Time
	tokens                  []string
	refused                 int
	refusal                 string
}

func startTokenEndpoint(t testing.TB, clientID, secret, scope, sub string, lifetime time.Duration) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{clientID: clientID, secret: secret, scope: scope, sub: sub, lifetime: lifetime}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	t.Logf("token endpoint %s: client %s, sub %s, tokens valid %v", e.url(), clientID, sub, lifetime)
	return e
}

func (e *tokenEndpoint) url() string { return e.srv.URL + "/token" }

func (e *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, code, why string) {
		e.mu.Lock()
		e.refused++
		e.refusal = fmt.Sprintf("%d %s: %s", status, code, why)
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(mustJSON(map[string]string{"error": code, "error_description": why}))
	}
	if r.Method != http.MethodPost || r.URL.Path != "/token" {
		refuse(http.StatusNotFound, "invalid_request", r.Method+" "+r.URL.Path)
		return
	}
	if err := r.ParseForm(); err != nil {
		refuse(http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic { // RFC 6749 2.3.1: form-encoded, then Basic
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	switch {
	case r.PostForm.Get("grant_type") != "client_credentials":
		refuse(http.StatusBadRequest, "unsupported_grant_type", r.PostForm.Get("grant_type"))
		return
	case id != e.clientID || secret != e.secret:
		refuse(http.StatusUnauthorized, "invalid_client", "client "+id)
		return
	case r.PostForm.Get("scope") != e.scope:
		refuse(http.StatusBadRequest, "invalid_scope", r.PostForm.Get("scope"))
		return
	}
	tok := unsecuredJWT(e.sub, e.lifetime)
	e.mu.Lock()
	e.grants = append(e.grants, time.Now())
	e.tokens = append(e.tokens, tok)
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(e.lifetime / time.Second),
	})
}

// grantsSince counts the tokens issued after t0.
func (e *tokenEndpoint) grantsSince(t0 time.Time) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, g := range e.grants {
		if g.After(t0) {
			n++
		}
	}
	return n
}

func (e *tokenEndpoint) refusedCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refused
}

func (e *tokenEndpoint) lastRefusal() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refusal
}

// requireNotIn: no token issued is in the output of procs.
func (e *tokenEndpoint) requireNotIn(t testing.TB, procs ...*floeProc) {
	t.Helper()
	e.mu.Lock()
	tokens := append([]string(nil), e.tokens...)
	e.mu.Unlock()
	for _, proc := range procs {
		requireNoSecrets(t, proc, tokens...)
	}
}
