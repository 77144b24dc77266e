//go:build e2e

package e2e

// The REST catalog as a plain HTTP client sees it: what a test waits on
// (how far floe got), apart from the readers that judge the tables.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// restTableRecords is total-records of the table's current snapshot as the
// REST catalog at uri reports it (0 without one), and whether the table
// exists.
func restTableRecords(uri, table string) (int64, bool, error) {
	ns, name, _ := strings.Cut(table, ".")
	var meta struct {
		Metadata struct {
			Current   *int64 `json:"current-snapshot-id"`
			Snapshots []struct {
				ID      int64             `json:"snapshot-id"`
				Summary map[string]string `json:"summary"`
			} `json:"snapshots"`
		} `json:"metadata"`
	}
	found, err := restGet(uri+"/v1/namespaces/"+url.PathEscape(ns)+"/tables/"+url.PathEscape(name), &meta)
	if err != nil || !found || meta.Metadata.Current == nil {
		return 0, found, err
	}
	for _, s := range meta.Metadata.Snapshots {
		if s.ID == *meta.Metadata.Current {
			n, err := strconv.ParseInt(s.Summary["total-records"], 10, 64)
			return n, true, err
		}
	}
	return 0, true, fmt.Errorf("table %s: current snapshot %d not among its snapshots", table, *meta.Metadata.Current)
}

// restTables lists the tables of namespace ns as the REST catalog at uri
// has them.
func restTables(uri, ns string) ([]string, error) {
	var out []string
	token := ""
	for {
		u := uri + "/v1/namespaces/" + url.PathEscape(ns) + "/tables"
		if token != "" {
			u += "?pageToken=" + url.QueryEscape(token)
		}
		var page struct {
			Identifiers []struct {
				Namespace []string `json:"namespace"`
				Name      string   `json:"name"`
			} `json:"identifiers"`
			Next *string `json:"next-page-token"`
		}
		found, err := restGet(u, &page)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("namespace %s not found", ns)
		}
		for _, id := range page.Identifiers {
			out = append(out, strings.Join(append(id.Namespace, id.Name), "."))
		}
		if page.Next == nil || *page.Next == "" {
			slices.Sort(out)
			return out, nil
		}
		token = *page.Next
	}
}

// restGet decodes the JSON at u into v; false for a 404.
func restGet(u string, v any) (bool, error) {
	cl := http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get(u)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		_, _ = io.Copy(io.Discard, resp.Body)
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
	}
	return true, json.NewDecoder(resp.Body).Decode(v)
}
