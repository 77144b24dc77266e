package faultproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		up           Upstream
		want         string
	}{
		{"GET", "/v1/config", RESTCatalog, KindConfig},
		{"POST", "/v1/oauth/tokens", RESTCatalog, KindToken},
		{"GET", "/v1/namespaces/db/tables/events", RESTCatalog, KindLoadTable},
		{"GET", "/v1/prefix/namespaces/db/tables/events", RESTCatalog, KindLoadTable},
		{"POST", "/v1/namespaces/db/tables/events", RESTCatalog, KindCommit},
		{"POST", "/v1/namespaces/db/tables", RESTCatalog, KindCreateTable},
		{"GET", "/v1/namespaces/db", RESTCatalog, KindNamespace},
		{"PUT", "/bucket/wh/data/x.parquet", S3, KindS3Put},
		{"GET", "/bucket/wh/data/x.parquet", S3, KindS3Get},
		{"GET", "/bucket?list-type=2&prefix=wh", S3, KindS3List},
		{"HEAD", "/bucket/x", S3, KindS3Head},
		{"DELETE", "/bucket/x", S3, KindS3Delete},
		{"POST", "/bucket?delete", S3, KindS3Delete},
		{"POST", "/bucket/x?uploads", S3, KindS3Post},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		require.Equal(t, tc.want, Classify(r, tc.up), "%s %s", tc.method, tc.path)
	}
}

func TestFaults(t *testing.T) {
	var applied atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			applied.Add(1)
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer up.Close()
	p, err := New(up.URL, RESTCatalog)
	require.NoError(t, err)
	defer p.Close()
	commit := func() (int, error) {
		resp, err := http.Post(p.URL()+"/v1/namespaces/db/tables/t", "application/json", strings.NewReader("{}"))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return resp.StatusCode, nil
	}

	code, err := commit()
	require.NoError(t, err)
	require.Equal(t, 200, code)

	p.Add(Rule{Kind: KindCommit, Action: Status, Status: 409, Times: 1})
	code, err = commit()
	require.NoError(t, err)
	require.Equal(t, 409, code)
	require.Equal(t, int32(1), applied.Load(), "a status fault never reaches the upstream")
	code, _ = commit()
	require.Equal(t, 200, code, "Times: 1 is used up")

	p.Add(Rule{Kind: KindCommit, Action: ForwardThenDrop, Times: 1})
	_, err = commit()
	require.Error(t, err, "the client gets no answer")
	require.Equal(t, int32(3), applied.Load(), "but the upstream applied the request")

	p.Add(Rule{Kind: KindCommit, Action: Reset, Times: 1})
	_, err = commit()
	require.Error(t, err)
	require.Equal(t, int32(3), applied.Load())

	p.Add(Rule{Kind: KindCommit, Action: Delay, Delay: 200 * time.Millisecond, Times: 1})
	start := time.Now()
	code, err = commit()
	require.NoError(t, err)
	require.Equal(t, 200, code)
	// A lower bound, which a slow machine only makes easier to meet.
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)

	// Hold: the request waits for the release, however long that takes.
	release := make(chan struct{})
	p.Add(Rule{Kind: KindCommit, Action: Hold, Release: release, Times: 1})
	held := make(chan int, 1)
	go func() {
		code, err := commit()
		if err != nil {
			code = -1
		}
		held <- code
	}()
	require.Eventually(t, func() bool { return p.Hits(KindCommit) == 5 }, time.Minute, time.Millisecond, "the request reaches the proxy")
	require.Equal(t, int32(4), applied.Load(), "a held request does not reach the upstream before its release")
	answered := p.Answered(KindCommit)
	close(release)
	require.Equal(t, 200, <-held)
	require.Equal(t, int32(5), applied.Load())
	require.Equal(t, answered+1, p.Answered(KindCommit))

	require.Equal(t, 7, p.Seen(KindCommit))
	require.Equal(t, 5, p.Hits(KindCommit))
	// Answered counts the upstream's answers, dropped ones too: all but the
	// status fault and the reset.
	require.Equal(t, 5, p.Answered(KindCommit))
	p.Clear()
	code, _ = commit()
	require.Equal(t, 200, code)
}

// A rule with Headers hits only requests carrying those header values: a
// revoked token is refused while a fresh one passes, and the token endpoint
// can be answered by the proxy itself (a 200 with a body).
func TestHeaderRules(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream")
	}))
	defer up.Close()
	p, err := New(up.URL, RESTCatalog)
	require.NoError(t, err)
	defer p.Close()
	p.Add(
		Rule{Kind: KindLoadTable, Action: Status, Status: 401, Headers: map[string]string{"Authorization": "Bearer old"}},
		Rule{Kind: KindToken, Action: Status, Status: 200, Body: `{"access_token":"new","token_type":"Bearer"}`},
	)
	get := func(token string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, p.URL()+"/v1/namespaces/db/tables/t", nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := get("old")
	require.Equal(t, 401, code)
	code, body := get("new")
	require.Equal(t, 200, code)
	require.Equal(t, "upstream", body)
	code, _ = get("")
	require.Equal(t, 200, code, "no header, no match")

	resp, err := http.Post(p.URL()+"/v1/oauth/tokens", "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.JSONEq(t, `{"access_token":"new","token_type":"Bearer"}`, string(b))
	require.Equal(t, 1, p.Hits(KindLoadTable))
	require.Equal(t, 3, p.Seen(KindLoadTable))
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
}

func TestStatusContentType(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	defer up.Close()
	p, err := New(up.URL, S3)
	require.NoError(t, err)
	defer p.Close()
	const denied = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`
	p.Add(Rule{Kind: KindS3Put, Action: Status, Status: 403, Body: denied, ContentType: "application/xml"})
	req, err := http.NewRequest(http.MethodPut, p.URL()+"/bucket/key", strings.NewReader("data"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, 403, resp.StatusCode)
	require.Equal(t, "application/xml", resp.Header.Get("Content-Type"))
	require.Equal(t, denied, string(b))
}

// Proxies seeded alike fault the same requests of a sequence.
func TestSeedRepeatsProbabilityDraws(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer up.Close()
	codes := func(seed uint64) []int {
		p, err := New(up.URL, RESTCatalog)
		require.NoError(t, err)
		defer p.Close()
		p.Seed(seed)
		p.Add(Rule{Kind: KindCommit, Action: Status, Status: 409, Probability: 0.5})
		var out []int
		for range 40 {
			resp, err := http.Post(p.URL()+"/v1/namespaces/db/tables/t", "application/json", strings.NewReader("{}"))
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			out = append(out, resp.StatusCode)
		}
		return out
	}
	first := codes(7)
	require.Equal(t, first, codes(7))
	require.Contains(t, first, 409)
	require.Contains(t, first, 200)
}
