package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
)

// Project Nessie serves the Iceberg REST protocol but keeps no refs other
// than main in a table's metadata (branches and tags are Nessie's own, over
// whole catalogs): it refuses any assert-ref-snapshot-id or set-snapshot-ref
// on another ref ("ref must be 'main'"). floe's commits move a tag per
// consumer group in the same request (offsets.Tag: it keeps the snapshot a
// group restarts from safe from expiry); on Nessie floe leaves those tag
// moves out. Its offsets are still read from the table's history, and the
// tables Nessie makes have gc.enabled=false, so expiry — floe's or another
// engine's through Nessie — does not cut that history.

// nessieProbe watches the catalog's /v1/config answer for Nessie's
// "nessie.is-nessie-catalog" property.
type nessieProbe struct {
	next   http.RoundTripper
	nessie atomic.Bool
}

func (p *nessieProbe) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasSuffix(r.URL.Path, "/v1/config") {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var cfg struct {
		Defaults  map[string]string `json:"defaults"`
		Overrides map[string]string `json:"overrides"`
	}
	if json.Unmarshal(body, &cfg) == nil &&
		(cfg.Overrides["nessie.is-nessie-catalog"] == "true" || cfg.Defaults["nessie.is-nessie-catalog"] == "true") {
		p.nessie.Store(true)
	}
	return resp, nil
}

// CloseIdleConnections passes the call on (http.Client makes it).
func (p *nessieProbe) CloseIdleConnections() {
	if c, ok := p.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// nessieCatalog is a REST catalog served by Nessie: commits leave tag moves
// out.
type nessieCatalog struct {
	*rest.Catalog
}

// CommitTable commits without the tag moves among reqs and ups: the
// set-snapshot-ref of type tag and remove-snapshot-ref updates, and the
// assert-ref-snapshot-id requirements on the refs they move. Every other
// requirement (the branch's pin above all) is sent as it is.
func (c *nessieCatalog) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, ups []table.Update) (table.Metadata, string, error) {
	reqs, ups = withoutTagMoves(reqs, ups)
	return c.Catalog.CommitTable(ctx, ident, reqs, ups)
}

func withoutTagMoves(reqs []table.Requirement, ups []table.Update) ([]table.Requirement, []table.Update) {
	type refJSON struct {
		Action  string `json:"action"`
		RefName string `json:"ref-name"`
		Type    string `json:"type"`
		Ref     string `json:"ref"`
	}
	decode := func(v any) (r refJSON) {
		if b, err := json.Marshal(v); err == nil {
			_ = json.Unmarshal(b, &r)
		}
		return r
	}
	tags := map[string]bool{}
	keptUps := make([]table.Update, 0, len(ups))
	for _, u := range ups {
		r := decode(u)
		if (r.Action == "set-snapshot-ref" && r.Type == string(table.TagRef)) || r.Action == "remove-snapshot-ref" {
			tags[r.RefName] = true
			continue
		}
		keptUps = append(keptUps, u)
	}
	if len(tags) == 0 {
		return reqs, ups
	}
	keptReqs := make([]table.Requirement, 0, len(reqs))
	for _, q := range reqs {
		if r := decode(q); r.Type == "assert-ref-snapshot-id" && tags[r.Ref] {
			continue
		}
		keptReqs = append(keptReqs, q)
	}
	return keptReqs, keptUps
}
