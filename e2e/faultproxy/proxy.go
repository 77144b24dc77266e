// Package faultproxy is an HTTP reverse proxy that injects faults between
// floe and a service it depends on: the Iceberg REST catalog or an S3
// endpoint. e2e tests run it in-process, point floe at its address, and
// switch faults on and off while floe runs.
//
// Requests are classified by kind (see Classify) and each Rule applies to
// one kind: answer with a status instead of forwarding, delay, hold until
// the test releases the request, reset the connection, or — the hard case
// for exactly-once — forward the request, let the service apply it, and
// then drop the response so the client cannot know whether it happened.
package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Request kinds. REST catalog kinds follow the Iceberg REST spec's paths;
// S3 kinds follow the HTTP method (and the listing query).
const (
	KindConfig      = "config"       // GET /v1/config
	KindToken       = "token"        // POST /v1/oauth/tokens
	KindLoadTable   = "load_table"   // GET  /v1/{prefix}/namespaces/{ns}/tables/{table}
	KindCommit      = "commit"       // POST /v1/{prefix}/namespaces/{ns}/tables/{table}
	KindCreateTable = "create_table" // POST /v1/{prefix}/namespaces/{ns}/tables
	KindNamespace   = "namespace"    // anything else under namespaces
	KindS3Put       = "s3_put"       // PUT (objects and multipart parts)
	KindS3Get       = "s3_get"       // GET of an object
	KindS3List      = "s3_list"      // GET with list-type / prefix
	KindS3Head      = "s3_head"      // HEAD
	KindS3Delete    = "s3_delete"    // DELETE, and POST ?delete
	KindS3Post      = "s3_post"      // other POST (multipart create/complete)
	KindOther       = "other"
)

var (
	tableRE  = regexp.MustCompile(`^/v1/(?:[^/]+/)?namespaces/[^/]+/tables/[^/]+/?$`)
	tablesRE = regexp.MustCompile(`^/v1/(?:[^/]+/)?namespaces/[^/]+/tables/?$`)
)

// Upstream is the kind of service a proxy stands in front of: it decides
// how requests are classified.
type Upstream int

const (
	// RESTCatalog is an Iceberg REST catalog: REST catalog request kinds.
	RESTCatalog Upstream = iota
	// S3 is an S3 endpoint: S3 request kinds, and the client's Host header
	// kept (SigV4 signs it).
	S3
)

// String names the upstream, for logs.
func (u Upstream) String() string {
	switch u {
	case RESTCatalog:
		return "REST catalog"
	case S3:
		return "S3"
	}
	return fmt.Sprintf("Upstream(%d)", int(u))
}

// Classify returns the kind of a request to an upstream of kind up.
func Classify(r *http.Request, up Upstream) string {
	if up == S3 {
		q := r.URL.Query()
		switch r.Method {
		case http.MethodPut:
			return KindS3Put
		case http.MethodHead:
			return KindS3Head
		case http.MethodDelete:
			return KindS3Delete
		case http.MethodPost:
			if q.Has("delete") {
				return KindS3Delete
			}
			return KindS3Post
		case http.MethodGet:
			if q.Has("list-type") || q.Has("prefix") || strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0 {
				return KindS3List
			}
			return KindS3Get
		}
		return KindOther
	}
	p := r.URL.Path
	switch {
	case p == "/v1/config":
		return KindConfig
	case strings.HasSuffix(p, "/oauth/tokens"):
		return KindToken
	case tableRE.MatchString(p) && r.Method == http.MethodGet:
		return KindLoadTable
	case tableRE.MatchString(p) && r.Method == http.MethodPost:
		return KindCommit
	case tablesRE.MatchString(p) && r.Method == http.MethodPost:
		return KindCreateTable
	case strings.Contains(p, "/namespaces"):
		return KindNamespace
	}
	return KindOther
}

// Action is what a rule does to a matching request.
type Action int

const (
	// Status answers with Rule.Status without forwarding.
	Status Action = iota
	// Delay waits Rule.Delay, then forwards.
	Delay
	// Reset closes the client connection without an answer.
	Reset
	// ForwardThenDrop forwards the request (the service applies it), then
	// closes the client connection instead of answering.
	ForwardThenDrop
	// Hold waits until Rule.Release is closed, then forwards: the test, not
	// a timer, decides when the request reaches the service.
	Hold
)

// Rule injects one fault into requests of one kind.
type Rule struct {
	Kind   string
	Action Action
	Status int    // for Status; 0 means 503
	Body   string // for Status; a JSON error body is made if empty
	// ContentType of Body, for Status; application/json if empty (S3
	// errors are application/xml).
	ContentType string
	Delay       time.Duration // for Delay
	// Release, for Hold, is closed to let the held requests go on.
	Release <-chan struct{}
	// Times limits how many requests the rule hits; 0 is unlimited.
	Times int
	// Probability in (0,1] hits only that share of matching requests; 0 is 1.
	// The draws come from the proxy's generator (see Seed).
	Probability float64
	// Headers, if set, hits only requests carrying each of these headers
	// with exactly this value, e.g. {"Authorization": "Bearer <revoked>"}.
	Headers map[string]string
	// Only hits when it returns true (e.g. to inspect the body); may be nil.
	Only func(r *http.Request, body []byte) bool

	hits int
}

// Proxy forwards to one upstream and injects the faults of its rules.
type Proxy struct {
	target   *url.URL
	upstream Upstream
	ln       net.Listener
	srv      *http.Server
	rp       *httputil.ReverseProxy

	mu       sync.Mutex
	rng      *rand.Rand // draws for Rule.Probability
	rules    []*Rule
	counts   map[string]int // requests seen, by kind
	hits     map[string]int // faults injected, by kind
	answered map[string]int // responses from the upstream, by kind
}

// kindKey carries a request's kind to the reverse proxy's ModifyResponse.
type kindKey struct{}

// New starts a proxy on 127.0.0.1 in front of target, an upstream of kind
// up.
func New(target string, up Upstream) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: u, upstream: up, ln: ln, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		counts: map[string]int{}, hits: map[string]int{}, answered: map[string]int{}}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.ModifyResponse = func(resp *http.Response) error {
		kind, _ := resp.Request.Context().Value(kindKey{}).(string)
		p.mu.Lock()
		p.answered[kind]++
		p.mu.Unlock()
		return nil
	}
	if up == S3 {
		// SigV4 signs the Host header: keep the client's, which names the proxy.
		director := p.rp.Director
		p.rp.Director = func(r *http.Request) {
			host := r.Host
			director(r)
			r.Host = host
		}
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the proxy's base URL, to give floe instead of the upstream's.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Seed makes the draws for Rule.Probability repeatable: proxies seeded
// alike draw alike. Which requests the draws fall on still depends on the
// order the requests arrive in.
func (p *Proxy) Seed(seed uint64) {
	p.mu.Lock()
	p.rng = rand.New(rand.NewPCG(seed, seed))
	p.mu.Unlock()
}

// Add installs rules; they apply in the order added, first match wins.
func (p *Proxy) Add(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range rules {
		r := rules[i]
		p.rules = append(p.rules, &r)
	}
}

// Clear removes every rule.
func (p *Proxy) Clear() {
	p.mu.Lock()
	p.rules = nil
	p.mu.Unlock()
}

// Seen returns how many requests of kind passed through (faulted or not).
func (p *Proxy) Seen(kind string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[kind]
}

// Hits returns how many faults were injected into requests of kind.
func (p *Proxy) Hits(kind string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[kind]
}

// Answered returns how many requests of kind the upstream has answered:
// counted when its response arrives, before the proxy passes it on (or,
// for ForwardThenDrop, drops it), so a client that is not reading yet
// cannot hold the count back.
func (p *Proxy) Answered(kind string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answered[kind]
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

func (p *Proxy) match(r *http.Request, kind string, body []byte) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[kind]++
	for _, rule := range p.rules {
		if rule.Kind != kind || (rule.Times > 0 && rule.hits >= rule.Times) {
			continue
		}
		if !headersMatch(r, rule.Headers) {
			continue
		}
		if rule.Probability > 0 && p.rng.Float64() >= rule.Probability {
			continue
		}
		if rule.Only != nil && !rule.Only(r, body) {
			continue
		}
		rule.hits++
		p.hits[kind]++
		return rule
	}
	return nil
}

func headersMatch(r *http.Request, want map[string]string) bool {
	for k, v := range want {
		if r.Header.Get(k) != v {
			return false
		}
	}
	return true
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := Classify(r, p.upstream)
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	r = r.WithContext(context.WithValue(r.Context(), kindKey{}, kind))
	rule := p.match(r, kind, body)
	if rule == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	switch rule.Action {
	case Status:
		code := rule.Status
		if code == 0 {
			code = http.StatusServiceUnavailable
		}
		msg := rule.Body
		if msg == "" {
			msg = fmt.Sprintf(`{"error":{"message":"injected by faultproxy","type":"InjectedFault","code":%d}}`, code)
		}
		ct := rule.ContentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(code)
		_, _ = io.WriteString(w, msg)
	case Delay:
		select {
		case <-time.After(rule.Delay):
		case <-r.Context().Done():
			return
		}
		p.rp.ServeHTTP(w, r)
	case Hold:
		select {
		case <-rule.Release:
		case <-r.Context().Done():
			return
		}
		p.rp.ServeHTTP(w, r)
	case Reset:
		hangUp(w)
	case ForwardThenDrop:
		rec := &discard{header: http.Header{}}
		p.rp.ServeHTTP(rec, r) // the upstream applies the request in full
		hangUp(w)
	}
}

// hangUp closes the client connection with no response at all.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(errors.New("faultproxy: response writer cannot be hijacked"))
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // RST rather than FIN
	}
	_ = conn.Close()
}

// discard is a ResponseWriter that forgets the upstream's answer.
type discard struct {
	header http.Header
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
