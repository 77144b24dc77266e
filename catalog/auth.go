package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/apache/iceberg-go/catalog/rest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenAuth authenticates REST catalog requests with an OAuth2
// client-credentials token (catalog.rest.credential), in place of
// iceberg-go's own: iceberg-go (v0.7) caches the token until its expiry and
// never drops it when the catalog rejects it, so a token revoked or rotated
// before it expires — or one issued without expires_in, which never expires
// — locks floe out until a restart. tokenAuth fetches a token when it has
// none or the one it has expired, and forgets it when the catalog answers
// 401 to it (see reauthTransport), so the next request fetches a new one.
//
// Token requests go through floe's catalog transport (limits, metrics,
// TLS), never through the session that adds the Authorization header.
type tokenAuth struct {
	cfg    clientcredentials.Config
	client *http.Client

	mu  sync.Mutex // held while fetching: concurrent requests wait for one fetch
	tok *oauth2.Token
}

var _ rest.ContextAuthManager = (*tokenAuth)(nil)

// newTokenAuth returns the client-credentials authentication for r against
// the catalog at uri; rt carries the token requests.
func newTokenAuth(uri string, r RESTConfig, rt http.RoundTripper) (*tokenAuth, error) {
	tokenURL := r.OAuth2URI
	if tokenURL == "" {
		base, err := url.Parse(uri)
		if err != nil {
			return nil, fmt.Errorf("catalog.uri: %w", err)
		}
		tokenURL = base.JoinPath("v1", "oauth", "tokens").String()
	}
	id, secret, found := strings.Cut(r.Credential, ":")
	if !found {
		id, secret = "", r.Credential
	}
	scope := r.Scope
	if scope == "" {
		scope = "catalog" // what iceberg-go, Java and PyIceberg ask for
	}
	return &tokenAuth{
		cfg: clientcredentials.Config{
			ClientID: id, ClientSecret: secret, TokenURL: tokenURL,
			Scopes: []string{scope}, AuthStyle: oauth2.AuthStyleInParams,
		},
		// The timeout bounds a token endpoint that never answers when rt
		// has no request timeout of its own (floe's catalog transport has).
		client: &http.Client{Transport: rt, Timeout: time.Minute},
	}, nil
}

// AuthHeader implements rest.AuthManager.
func (a *tokenAuth) AuthHeader() (string, string, error) {
	return a.AuthHeaderWithContext(context.Background())
}

// AuthHeaderWithContext returns the Authorization header, fetching a token
// first when there is none or it expired.
func (a *tokenAuth) AuthHeaderWithContext(ctx context.Context) (string, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.tok.Valid() {
		tok, err := a.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, a.client))
		if err != nil {
			return "", "", a.fetchError(err)
		}
		a.tok = tok
	}
	return "Authorization", a.tok.Type() + " " + a.tok.AccessToken, nil
}

// fetchError names the token endpoint, and marks a refused credential as
// unauthorized so that it is reported as access denied.
func (a *tokenAuth) fetchError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil &&
		(re.Response.StatusCode == http.StatusUnauthorized || re.Response.StatusCode == http.StatusForbidden ||
			re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client") {
		return fmt.Errorf("fetch oauth2 token from %s: %w: the credential was refused (%d %s)",
			a.cfg.TokenURL, rest.ErrUnauthorized, re.Response.StatusCode, strings.TrimSpace(re.Error()))
	}
	return fmt.Errorf("fetch oauth2 token from %s: %w", a.cfg.TokenURL, err)
}

// forget drops the token if header still carries it; one that another
// request already replaced is kept.
func (a *tokenAuth) forget(header string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != nil && a.tok.Type()+" "+a.tok.AccessToken == header {
		a.tok = nil
	}
}

// reauthTransport reacts to a 401: the token it was sent with is forgotten,
// so the next request fetches a fresh one, and a read (GET, HEAD) is sent
// once more with the fresh token. Other requests (a commit) come back with
// their 401: the commit protocol decides whether to send them again. A
// catalog that answers 401 to a freshly fetched token as well gets no
// further retry here; the error reaches the caller as access denied.
type reauthTransport struct {
	next http.RoundTripper
	auth *tokenAuth
}

func (t *reauthTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	sent := r.Header.Get("Authorization")
	if sent == "" {
		return resp, nil // not ours: the token endpoint, or no auth at all
	}
	t.auth.forget(sent)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return resp, nil
	}
	k, v, aerr := t.auth.AuthHeaderWithContext(r.Context())
	if aerr != nil || v == sent {
		// No new token (the endpoint is refusing too, or issued the same
		// one): the 401 stands.
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	retry := r.Clone(r.Context())
	retry.Header.Set(k, v)
	return t.next.RoundTrip(retry)
}
