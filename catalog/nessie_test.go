package catalog

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"
)

func TestWithoutTagMoves(t *testing.T) {
	head, tagged := int64(1), int64(2)
	pin := table.AssertRefSnapshotID("main", &head)
	branchPin := table.AssertRefSnapshotID("audit", &head)
	tagPin := table.AssertRefSnapshotID("floe.offsets.g", &tagged)
	gonePin := table.AssertRefSnapshotID("floe.offsets.old", &tagged)
	branchMove := table.NewSetSnapshotRefUpdate("audit", 3, table.BranchRef, 0, 0, 0)
	tagMove := table.NewSetSnapshotRefUpdate("floe.offsets.g", 3, table.TagRef, 0, 0, 0)
	tagRemove := table.NewRemoveSnapshotRefUpdate("floe.offsets.old")
	props := table.NewSetPropertiesUpdate(map[string]string{"k": "v"})

	reqs, ups := withoutTagMoves(
		[]table.Requirement{pin, branchPin, tagPin, gonePin},
		[]table.Update{props, branchMove, tagMove, tagRemove})
	require.Equal(t, []table.Requirement{pin, branchPin}, reqs, "the pins of branches stay")
	require.Equal(t, []table.Update{props, branchMove}, ups)

	// Nothing to leave out: the slices as they were.
	reqs, ups = withoutTagMoves([]table.Requirement{pin}, []table.Update{props})
	require.Equal(t, []table.Requirement{pin}, reqs)
	require.Equal(t, []table.Update{props}, ups)
}

// configServer is a REST catalog that only answers GET /v1/config.
func configServer(t testing.TB, overrides map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/config" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"defaults": map[string]string{}, "overrides": overrides})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestOpenRESTDetectsNessie(t *testing.T) {
	for _, tt := range []struct {
		name      string
		overrides map[string]string
		nessie    bool
	}{
		{"nessie", map[string]string{"nessie.is-nessie-catalog": "true", "nessie.default-branch.name": "main"}, true},
		{"reference server", map[string]string{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Type, cfg.URI = "rest", configServer(t, tt.overrides)
			cat := openTestCatalog(t, cfg)
			_, isNessie := cat.(*nessieCatalog)
			require.Equal(t, tt.nessie, isNessie, "%T", cat)
			if !isNessie {
				require.IsType(t, &rest.Catalog{}, cat)
			}
			require.Equal(t, catalog.REST, cat.CatalogType())
		})
	}
}

func TestNessieProbeIgnoresBadConfig(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("not json"))
	}))
	t.Cleanup(srv.Close)
	p := &nessieProbe{next: http.DefaultTransport}
	resp, err := (&http.Client{Transport: p}).Get(srv.URL + "/v1/config")
	require.NoError(t, err)
	body := make([]byte, 64)
	n, _ := resp.Body.Read(body)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, "not json", string(body[:n]), "the body is passed on whole")
	require.False(t, p.nessie.Load())
}
