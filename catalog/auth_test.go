package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
)

// authServer is a REST catalog that issues client-credentials tokens and
// accepts only tokens it issued and has not revoked, like a catalog behind
// an identity provider. It answers /v1/config, loads and creates of namespaces.
type authServer struct {
	*httptest.Server
	mu       sync.Mutex
	issued   int
	same     bool            // issue the same token every time (like the reference server)
	refuse   bool            // refuse the credential at the token endpoint
	valid    map[string]bool // issued and not revoked
	revoked  map[string]bool
	rejected int // requests answered 401
}

func newAuthServer(t testing.TB) *authServer {
	t.Helper()
	s := &authServer{valid: map[string]bool{}, revoked: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/oauth/tokens", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if s.refuse || r.FormValue("client_id") != "floe" || r.FormValue("client_secret") != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"unknown client"}`))
			return
		}
		s.issued++
		tok := fmt.Sprintf("token-%d", s.issued)
		if s.same {
			tok = "token-fixed"
		}
		s.valid[tok] = !s.revoked[tok]
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer"}) // no expires_in
	})
	authed := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			ok := s.valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
			if !ok {
				s.rejected++
			}
			s.mu.Unlock()
			if !ok {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":{"message":"Not authorized: token revoked","type":"NotAuthorizedException","code":401}}`))
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /v1/config", authed(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"defaults":{},"overrides":{}}`))
	}))
	mux.HandleFunc("GET /v1/namespaces/{ns}", authed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"namespace": []string{r.PathValue("ns")}, "properties": map[string]string{}})
	}))
	mux.HandleFunc("POST /v1/namespaces", authed(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Namespace []string `json:"namespace"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"namespace": req.Namespace, "properties": map[string]string{}})
	}))
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// revoke invalidates every token issued so far, for good.
func (s *authServer) revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok := range s.valid {
		s.revoked[tok] = true
	}
	s.valid = map[string]bool{}
}

func (s *authServer) counts() (issued, rejected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued, s.rejected
}

func openAuthCatalog(t testing.TB, s *authServer, credential string) catalog.Catalog {
	t.Helper()
	cfg := Config{Type: "rest", URI: s.URL, REST: RESTConfig{Credential: credential}, HTTP: testHTTPConfig()}
	cat, err := Open(context.Background(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cat.(catalog.Closer).Close()) })
	return cat
}

func TestRevokedTokenIsReplaced(t *testing.T) {
	s := newAuthServer(t)
	ctx := context.Background()
	cat := openAuthCatalog(t, s, "floe:s3cret")
	issued, rejected := s.counts()
	require.Equal(t, 1, issued, "one token for the whole session")
	require.Zero(t, rejected)

	ns := table.Identifier{"db"}
	ok, err := cat.CheckNamespaceExists(ctx, ns)
	require.NoError(t, err)
	require.True(t, ok)

	// A read with a revoked token: refused once, a new token fetched, the
	// read sent again and answered, all within the one call.
	s.revoke()
	ok, err = cat.CheckNamespaceExists(ctx, ns)
	require.NoError(t, err, "a read is retried with a fresh token")
	require.True(t, ok)
	issued, rejected = s.counts()
	require.Equal(t, 2, issued)
	require.Equal(t, 1, rejected)

	// A write (a commit) with a revoked token is not sent again here: the
	// caller sees access denied, and its next request carries a new token.
	s.revoke()
	err = cat.CreateNamespace(ctx, table.Identifier{"db2"}, nil)
	require.ErrorIs(t, err, rest.ErrUnauthorized)
	issued, rejected = s.counts()
	require.Equal(t, 2, issued, "the refresh waits for the next request")
	require.Equal(t, 2, rejected)
	require.NoError(t, cat.CreateNamespace(ctx, table.Identifier{"db2"}, nil))
	issued, _ = s.counts()
	require.Equal(t, 3, issued)

	// Later requests keep the new token: no fetch per request.
	for range 3 {
		_, err := cat.CheckNamespaceExists(ctx, ns)
		require.NoError(t, err)
	}
	issued, rejected = s.counts()
	require.Equal(t, 3, issued)
	require.Equal(t, 2, rejected)
}

// An endpoint that issues the same (revoked) token again, or refuses the
// credential: the 401 reaches the caller, named, after one fetch per
// refused request — never a loop.
func TestTokenThatCannotBeReplacedIsAccessDenied(t *testing.T) {
	s := newAuthServer(t)
	s.same = true
	ctx := context.Background()
	cat := openAuthCatalog(t, s, "floe:s3cret")
	s.revoke()
	_, err := cat.CheckNamespaceExists(ctx, table.Identifier{"db"})
	require.ErrorIs(t, err, rest.ErrUnauthorized)
	issued, rejected := s.counts()
	require.Equal(t, 2, issued, "one new token asked for")
	require.Equal(t, 1, rejected, "and the same token not sent again")

	s.refuse = true
	_, err = cat.CheckNamespaceExists(ctx, table.Identifier{"db"})
	require.ErrorIs(t, err, rest.ErrUnauthorized)
	_, err = cat.CheckNamespaceExists(ctx, table.Identifier{"db"})
	require.ErrorIs(t, err, rest.ErrUnauthorized)
	require.ErrorContains(t, err, "fetch oauth2 token from "+s.URL+"/v1/oauth/tokens")
	require.ErrorContains(t, err, "the credential was refused (401")
	require.ErrorContains(t, err, "invalid_client")
}

func TestWrongCredentialFailsOpen(t *testing.T) {
	s := newAuthServer(t)
	cfg := Config{Type: "rest", URI: s.URL, REST: RESTConfig{Credential: "floe:wrong"}, HTTP: testHTTPConfig()}
	_, err := Open(context.Background(), cfg, nil)
	require.ErrorIs(t, err, rest.ErrUnauthorized)
	require.ErrorContains(t, err, "/v1/oauth/tokens")
}
