package consumer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// AccessError is Kafka refusing floe: an authentication that failed (a
// wrong password, a mechanism the broker does not offer, a TLS handshake
// that failed either way) or an operation the principal has no ACL for. Its
// message names the broker, the principal, the operation and the resource,
// and says what to change.
type AccessError struct {
	Broker    string // host:port, or the seed brokers when Kafka does not say which
	Principal string // as Kafka would name it, as far as floe can know it
	Operation string // an ACL operation (READ, WRITE, DESCRIBE, IDEMPOTENT_WRITE), or AUTHENTICATE / TLS
	Resource  string // Topic:<name>, Group:<name>, TransactionalId:<id>, Cluster
	Hint      string
	Err       error
}

func (e *AccessError) Error() string {
	var b strings.Builder
	cause := kafkaCause(e.Err)
	switch e.Operation {
	case "AUTHENTICATE":
		if errors.As(e.Err, new(*tokenRefused)) {
			fmt.Fprintf(&b, "kafka: no token to authenticate %s with broker %s: %s", e.Principal, e.Broker, cause)
			break
		}
		fmt.Fprintf(&b, "kafka: broker %s refused to authenticate %s: %s", e.Broker, e.Principal, cause)
	case "TLS":
		fmt.Fprintf(&b, "kafka: TLS with broker %s failed (principal %s): %s", e.Broker, e.Principal, cause)
	default:
		fmt.Fprintf(&b, "kafka: broker %s denied %s operation %s on %s: %s", e.Broker, e.Principal, e.Operation, e.Resource, cause)
	}
	if e.Hint != "" {
		b.WriteString(". ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *AccessError) Unwrap() error { return e.Err }

// kafkaCause is err as Kafka put it: the error code, then whatever the
// broker said beyond the code's stock description; the client's wrapping
// (shard errors, group session) is left out.
func kafkaCause(err error) string {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return err.Error()
	}
	s := err.Error()
	i := strings.Index(s, ke.Error())
	if i < 0 {
		return ke.Message
	}
	detail := strings.TrimLeft(s[i+len(ke.Error()):], ": ")
	if detail == "" {
		return ke.Message
	}
	return ke.Message + ": " + detail
}

// access names floe to Kafka in its errors: the principal of cfg and the
// broker of the last connection that failed.
type access struct {
	cfg   Config
	hooks *clientHooks // nil: the broker of a failed connection is not known
}

// accessOf is the access of cl's options (built by ClientOptions).
func accessOf(cfg Config, cl *kgo.Client) access {
	a := access{cfg: cfg}
	if cl == nil {
		return a
	}
	for _, h := range cl.OptValues(kgo.WithHooks) {
		if hs, ok := h.([]kgo.Hook); ok {
			for _, x := range hs {
				if ch, ok := x.(*clientHooks); ok {
					a.hooks = ch
				}
			}
		}
	}
	return a
}

// principal is who Kafka sees, as far as the configuration tells.
func (a access) principal() string {
	s := a.cfg.SASL
	switch strings.ToUpper(s.Mechanism) {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		return "User:" + s.Username + " (" + strings.ToUpper(s.Mechanism) + ")"
	case "OAUTHBEARER":
		if sub := jwtClaims(s.OAuth.Token).Sub; sub != "" {
			return "User:" + sub + " (OAUTHBEARER)"
		}
		if s.OAuth.ClientID != "" {
			if sub, ok := oauthSubjects.Load(oauthKey(s.OAuth.TokenURL, s.OAuth.ClientID)); ok {
				return "User:" + sub.(string) + " (OAUTHBEARER, client " + s.OAuth.ClientID + ")"
			}
			return "the OAUTHBEARER token's subject (client " + s.OAuth.ClientID + ")"
		}
		return "the OAUTHBEARER token's subject"
	case "AWS_MSK_IAM":
		return "the AWS identity of the default credential chain (AWS_MSK_IAM)"
	}
	if a.cfg.TLS.CertFile != "" {
		return "the subject of " + a.cfg.TLS.CertFile + " (mTLS)"
	}
	return "User:ANONYMOUS"
}

// broker names the broker of the last failed connection, or else the
// seed brokers.
func (a access) broker() string {
	if a.hooks != nil {
		if f := a.hooks.lastConnFailure(); f != "" {
			return f
		}
	}
	return strings.Join(a.cfg.Brokers, ",")
}

// explain turns err into an AccessError when it is one, naming operation on
// resource when it is an authorization failure; any other error is returned
// as it is.
func (a access) explain(err error, operation, resource string) error {
	return a.explainGrant(err, operation, resource, operation)
}

// explainGrant is explain for a refusal of operation where floe needs grant
// (which includes it): the hint names grant, so that following it does not
// meet the next refusal (a missing DESCRIBE on a topic floe must READ).
func (a access) explainGrant(err error, operation, resource, grant string) error {
	if err == nil {
		return nil
	}
	var ae *AccessError
	if errors.As(err, &ae) {
		return err
	}
	mech := strings.ToUpper(a.cfg.SASL.Mechanism)
	// An ACL holds on every broker: name the seeds. A failed
	// authentication or handshake is one broker's: name it.
	e := &AccessError{Broker: strings.Join(a.cfg.Brokers, ","), Principal: a.principal(), Operation: operation, Resource: resource, Err: err}
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState):
		e.Operation, e.Resource = "AUTHENTICATE", ""
		switch mech {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
			e.Hint = "Check kafka.sasl.username and its password (FLOE_KAFKA__SASL__PASSWORD or kafka.sasl.password-file), and that the user exists for " + mech
		case "OAUTHBEARER":
			e.Hint = "Check the token (kafka.sasl.oauth): the broker's validator rejected it"
		case "AWS_MSK_IAM":
			e.Hint = "Check the IAM policy allows kafka-cluster:Connect on this cluster"
		}
	case errors.As(err, new(*tokenRefused)):
		e.Operation, e.Resource = "AUTHENTICATE", ""
		e.Hint = "floe could not get a token to present: check kafka.sasl.oauth.client-id and its secret (FLOE_KAFKA__SASL__OAUTH__CLIENT_SECRET or client-secret-file)"
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		e.Operation, e.Resource = "AUTHENTICATE", ""
		e.Hint = "The listener does not offer " + mech + ": set kafka.sasl.mechanism to one it offers, or point kafka.brokers at a listener that offers it"
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		e.Resource = ensurePrefix(resource, "Topic:")
		e.Hint = grantHint(e, grant, a.cfg.Brokers)
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		if !strings.HasPrefix(resource, "Group:") {
			// A request of the consumer group's (join, heartbeat).
			e.Operation, e.Resource = "READ", "Group:"+a.cfg.Group
		}
		e.Hint = grantHint(e, grant, a.cfg.Brokers)
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		e.Operation = "WRITE"
		e.Resource = ensurePrefix(resource, "TransactionalId:")
		e.Hint = grantHint(e, grant, a.cfg.Brokers)
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		e.Operation, e.Resource = "IDEMPOTENT_WRITE", "Cluster"
		e.Hint = grantHint(e, grant, a.cfg.Brokers)
	default:
		hint, ok := tlsHint(err, a.cfg)
		if !ok {
			return err
		}
		e.Operation, e.Resource, e.Hint = "TLS", "", hint
	}
	if e.Operation == "AUTHENTICATE" || e.Operation == "TLS" {
		e.Broker = a.broker()
	}
	return e
}

func ensurePrefix(resource, prefix string) string {
	if strings.HasPrefix(resource, prefix) {
		return resource
	}
	return prefix + resource
}

// grantHint is the kafka-acls command that would grant e.
func grantHint(e *AccessError, grant string, brokers []string) string {
	kind, name, _ := strings.Cut(e.Resource, ":")
	flag := map[string]string{"Topic": "--topic " + name, "Group": "--group " + name,
		"TransactionalId": "--transactional-id " + name, "Cluster": "--cluster"}[kind]
	who := e.Principal
	if i := strings.Index(who, " ("); i > 0 && strings.HasPrefix(who, "User:") {
		who = who[:i]
	} else if !strings.HasPrefix(who, "User:") {
		who = "User:<principal>"
	}
	if grant == "" || e.Operation == "IDEMPOTENT_WRITE" {
		grant = e.Operation
	}
	op := strings.ToLower(grant)
	if grant == "IDEMPOTENT_WRITE" {
		op = "IdempotentWrite"
	}
	what := "Grant it"
	if grant != e.Operation {
		what = "Grant " + grant + " (it includes " + e.Operation + ")"
	}
	b := "<broker>"
	if len(brokers) > 0 {
		b = brokers[0]
	}
	return fmt.Sprintf("%s, e.g. kafka-acls.sh --bootstrap-server %s --add --allow-principal %s --operation %s %s", what, b, who, op, flag)
}

// tlsHint explains a TLS failure, from either side of the handshake.
func tlsHint(err error, cfg Config) (string, bool) {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var rec tls.RecordHeaderError
	var verify *tls.CertificateVerificationError
	var firstEOF *kgo.ErrFirstReadEOF
	msg := err.Error()
	switch {
	case errors.As(err, &unknown):
		if cfg.TLS.CAFile != "" {
			return "The broker's certificate is not signed by a CA in kafka.tls.ca-file (" + cfg.TLS.CAFile + ")", true
		}
		return "The broker's certificate is not signed by a CA the system trusts: set kafka.tls.ca-file to the CA that signed it", true
	case errors.As(err, &host):
		return "The broker's certificate does not name the host floe dialed: connect by a name it holds, or set kafka.tls.server-name", true
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "The broker's certificate has expired (or is not valid yet: check the clocks)", true
	case errors.As(err, &invalid):
		return "The broker's certificate is not valid for a server", true
	case errors.As(err, &firstEOF) && cfg.TLS.Enabled && strings.Contains(msg, "after a dial"):
		return "The broker closed the connection at floe's TLS handshake: this listener is probably PLAINTEXT or SASL_PLAINTEXT; point kafka.brokers at its SSL/SASL_SSL listener or turn kafka.tls off", true
	case errors.As(err, &firstEOF) && !cfg.TLS.Enabled:
		return "The broker closed the connection at once: this listener probably wants TLS (kafka.tls.enabled: true) or SASL (kafka.sasl) that floe did not offer", true
	case errors.As(err, &rec):
		return "The broker did not answer in TLS: this listener is probably PLAINTEXT or SASL_PLAINTEXT; point kafka.brokers at its SSL/SASL_SSL listener or turn kafka.tls off", true
	case strings.Contains(msg, "remote error: tls: "):
		if cfg.TLS.CertFile == "" {
			return "The broker refused the handshake; it likely requires a client certificate (mTLS): set kafka.tls.cert-file and key-file", true
		}
		return "The broker refused floe's client certificate " + cfg.TLS.CertFile + " (not signed by a CA it trusts, expired or revoked)", true
	case errors.As(err, &verify):
		return "The broker's certificate could not be verified", true
	}
	return "", false
}

// isAccessFailure reports whether a failed connection failed on
// authentication or TLS, which retrying does not mend.
func isAccessFailure(err error) bool {
	if errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.IllegalSaslState) || errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.As(err, new(*tokenRefused)) {
		return true
	}
	_, ok := tlsHint(err, Config{})
	return ok
}

// hasOp reports whether ops grants op. An empty list means the broker did
// not say (an old broker, or none asked): not a denial.
func hasOp(ops []kadm.ACLOperation, op kadm.ACLOperation) bool {
	if len(ops) == 0 {
		return true
	}
	for _, o := range ops {
		if o == op || o == kadm.OpAll {
			return true
		}
	}
	return false
}

// connFailures remembers the broker of the last connection that failed
// (dial, TLS or SASL), so errors that do not carry it can name it.
// Watchers (failFast) hear of each failure.
type connFailures struct {
	mu       sync.Mutex
	last     string
	watchers map[*func(error)]bool
}

func (f *connFailures) record(meta kgo.BrokerMetadata, err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	f.last = net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
	watchers := make([]*func(error), 0, len(f.watchers))
	for w := range f.watchers {
		watchers = append(watchers, w)
	}
	f.mu.Unlock()
	for _, w := range watchers {
		(*w)(err)
	}
}

func (f *connFailures) watch(fn func(error)) (stop func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watchers == nil {
		f.watchers = map[*func(error)]bool{}
	}
	f.watchers[&fn] = true
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.watchers, &fn)
	}
}

// failFast is ctx, cancelled as soon as a connection fails in a way no
// retry mends (authentication, TLS): franz-go retries failed dials until
// the context ends, which at start would be never. done returns the error
// that cancelled it, or nil.
func (a access) failFast(ctx context.Context) (context.Context, func() error) {
	if a.hooks == nil {
		return ctx, func() error { return nil }
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := a.hooks.failures.watch(func(err error) {
		if isAccessFailure(err) {
			cancel(err)
		}
	})
	return ctx, func() error {
		stop()
		cause := context.Cause(ctx)
		cancel(nil)
		if errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded) {
			return nil
		}
		return cause
	}
}

func (h *clientHooks) lastConnFailure() string {
	h.failures.mu.Lock()
	defer h.failures.mu.Unlock()
	return h.failures.last
}

// Retrying a topic Kafka refuses: fetching it is paused, and its ACL is
// checked again after accessRetryMin, doubling up to accessRetryMax.
const (
	accessRetryMin = time.Second
	accessRetryMax = 30 * time.Second
)

// checkGroupAccess stops floe at start when its principal may not use the
// group: no DESCRIBE answers GROUP_AUTHORIZATION_FAILED; the operations the
// broker lists for the group show a missing READ (needed to join).
func (c *Consumer) checkGroupAccess(ctx context.Context) error {
	g := c.cfg.Group
	groups, err := c.adm.DescribeGroups(ctx, g)
	if err != nil {
		if errors.Is(err, kerr.GroupAuthorizationFailed) {
			return c.acc.explainGrant(err, "DESCRIBE", "Group:"+g, "READ")
		}
		return nil // not an answer about access: joining tells
	}
	if d, ok := groups[g]; ok && d.Err == nil && !hasOp(d.AuthorizedOperations, kadm.OpRead) {
		return c.acc.explain(kerr.GroupAuthorizationFailed, "READ", "Group:"+g)
	}
	return nil
}

// isDenial reports whether err is Kafka refusing a topic or the group.
func isDenial(err error) bool {
	return errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed)
}

// denyAccess handles a fetch error that is Kafka refusing floe, and reports
// whether it was one. A topic whose READ was taken away is paused and
// checked again with backoff (accessLoop); a group that refuses floe leaves
// it unjoined while franz-go rejoins with backoff. Both make floe unready
// (AccessDenied) and are logged once, when they begin. c.mu held.
func (c *Consumer) denyAccess(topic string, err error) bool {
	switch {
	case errors.Is(err, kerr.TopicAuthorizationFailed) && topic != "":
		if _, already := c.denied[topic]; !already {
			ae := c.acc.explain(err, "READ", topic)
			c.denied[topic] = ae
			c.log.Error("kafka access denied: fetching the topic is paused and retried with backoff; nothing is skipped",
				"topic", topic, "error", ae)
			select {
			case c.accessWake <- struct{}{}:
			default:
			}
		}
		return true
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		if c.groupDenied == nil {
			c.groupDenied = c.acc.explain(err, "READ", "Group:"+c.cfg.Group)
			c.log.Error("kafka access denied: the group cannot be joined; rejoining with backoff", "group", c.cfg.Group, "error", c.groupDenied)
		}
		return true
	}
	return false
}

// AccessDenied is the first refusal by Kafka that keeps floe from
// consuming now (the group, then topics by name), or nil.
func (c *Consumer) AccessDenied() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groupDenied != nil {
		return c.groupDenied
	}
	for _, t := range slices.Sorted(maps.Keys(c.denied)) {
		return c.denied[t]
	}
	return nil
}

// accessLoop checks the denied topics' ACLs again, with backoff, and
// resumes each topic whose READ is back.
func (c *Consumer) accessLoop(ctx context.Context) {
	backoff := accessRetryMin
	for {
		c.mu.Lock()
		n := len(c.denied)
		c.mu.Unlock()
		if n == 0 {
			select {
			case <-ctx.Done():
				return
			case <-c.accessWake:
			}
			continue
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if c.recheckAccess(ctx) {
			backoff = accessRetryMin
		} else {
			backoff = min(2*backoff, accessRetryMax)
		}
	}
}

// recheckAccess resumes the denied topics the broker says floe may READ
// again, and reports whether it said so for every one.
func (c *Consumer) recheckAccess(ctx context.Context) bool {
	c.mu.Lock()
	topics := slices.Sorted(maps.Keys(c.denied))
	c.mu.Unlock()
	md, err := c.adm.Metadata(kadm.WithAuthorizedOps(ctx), topics...)
	if err != nil {
		return false
	}
	all := true
	c.mu.Lock()
	for _, t := range topics {
		d, ok := md.Topics[t]
		if !ok || d.Err != nil || !hasOp(d.AuthorizedOperations, kadm.OpRead) {
			all = false
			continue
		}
		if len(d.AuthorizedOperations) == 0 {
			// The broker does not list operations: resume and let the
			// next fetch tell, without resetting the backoff.
			all = false
		}
		delete(c.denied, t)
		c.log.Info("kafka access restored: fetching the topic resumes where it stopped", "topic", t)
	}
	c.mu.Unlock()
	c.poke()
	return all
}
