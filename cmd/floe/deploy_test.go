package main

// Checks of deploy/grafana and deploy/prometheus against a running floe: every
// metric a dashboard query or an alert names must be one that floe exports, so
// a renamed metric breaks this test instead of a dashboard nobody looks at.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/iceberg-go/utils"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"go.yaml.in/yaml/v3"

	"github.com/floe-dev/floe/catalog"
)

const (
	dashboardPath = "../../deploy/grafana/floe.json"
	alertsPath    = "../../deploy/prometheus/alerts.yaml"
)

// metricName matches the series names of floe and of the Go and process
// collectors inside a PromQL expression.
var metricName = regexp.MustCompile(`\b(?:floe|process|go)_[a-z0-9_]+\b`)

// labelValues matches a Grafana variable query label_values(selector, label),
// which is not PromQL.
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)

type dashPanel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  *dashDatasource `json:"datasource"`
	Targets     []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource *dashDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"` // of a collapsed row
}

type dashDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	SchemaVersion int         `json:"schemaVersion"`
	Panels        []dashPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// query is one PromQL expression and where it comes from.
type query struct{ where, expr string }

func loadDashboard(t testing.TB) (dashboard, []query) {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(raw))
	var d dashboard
	require.NoError(t, dec.Decode(&d), "the dashboard is valid JSON")
	require.NotEmpty(t, d.Panels)

	var qs []query
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				qs = append(qs, query{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		switch x := v.Query.(type) {
		case string:
			q = x
		case map[string]any:
			q, _ = x["query"].(string)
		}
		require.NotEmpty(t, q, "variable %s has a query", v.Name)
		qs = append(qs, query{"variable " + v.Name, q})
	}
	return d, qs
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type ruleFile struct {
	Groups []struct {
		Name     string      `yaml:"name"`
		Interval string      `yaml:"interval"`
		Rules    []alertRule `yaml:"rules"`
	} `yaml:"groups"`
}

func loadAlerts(t testing.TB) (ruleFile, []query) {
	t.Helper()
	raw, err := os.ReadFile(alertsPath)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true) // a misspelt key (annotation:, label:) must not pass
	var f ruleFile
	require.NoError(t, dec.Decode(&f), "the rule file parses strictly")
	require.NotEmpty(t, f.Groups)
	var qs []query
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{"alert " + r.Alert, r.Expr})
		}
	}
	return f, qs
}

func TestDeployDashboardStructure(t *testing.T) {
	d, qs := loadDashboard(t)
	require.GreaterOrEqual(t, d.SchemaVersion, 38)
	require.NotEmpty(t, d.UID)

	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	require.Equal(t, "datasource", vars["datasource"], "a data source variable")
	require.Equal(t, "query", vars["table"])
	require.Equal(t, "query", vars["topic"])

	ids := map[int]string{}
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			require.NotZero(t, p.ID, "panel %q has an id", p.Title)
			prev, dup := ids[p.ID]
			require.False(t, dup, "panel id %d is used by %q and %q", p.ID, prev, p.Title)
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			require.NotEmpty(t, p.Title, "panel %d has a title", p.ID)
			require.NotEmpty(t, strings.TrimSpace(p.Description), "panel %q says what to look for", p.Title)
			require.NotNil(t, p.Datasource, "panel %q has a data source", p.Title)
			require.Equal(t, "${datasource}", p.Datasource.UID, "panel %q uses the data source variable", p.Title)
			require.NotEmpty(t, p.Targets, "panel %q queries something", p.Title)
			for _, tg := range p.Targets {
				require.NotEmpty(t, strings.TrimSpace(tg.Expr), "panel %q target %s has an expression", p.Title, tg.RefID)
				if tg.Datasource != nil {
					require.Equal(t, "${datasource}", tg.Datasource.UID, "panel %q target %s", p.Title, tg.RefID)
				}
			}
		}
	}
	walk(d.Panels)
	for _, q := range qs {
		require.Equal(t, strings.Count(q.expr, "("), strings.Count(q.expr, ")"), "%s: unbalanced parentheses in %s", q.where, q.expr)
		require.Equal(t, strings.Count(q.expr, "{"), strings.Count(q.expr, "}"), "%s: unbalanced braces in %s", q.where, q.expr)
	}
}

func TestDeployAlertRules(t *testing.T) {
	f, _ := loadAlerts(t)
	names := map[string]bool{}
	for _, g := range f.Groups {
		require.NotEmpty(t, g.Name)
		require.NotEmpty(t, g.Rules, "group %s has rules", g.Name)
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "every rule is an alert")
			require.False(t, names[r.Alert], "alert %s is defined once", r.Alert)
			names[r.Alert] = true
			require.NotEmpty(t, strings.TrimSpace(r.Expr), r.Alert)
			require.NotEmpty(t, r.For, "%s has for:", r.Alert)
			_, err := time.ParseDuration(r.For)
			require.NoError(t, err, "%s: for: %q", r.Alert, r.For)
			require.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], "%s severity", r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], "%s summary", r.Alert)
			require.NotEmpty(t, r.Annotations["description"], "%s description", r.Alert)
		}
	}
	for _, want := range []string{"FloeLagGrowing", "FloeNoCommit", "FloeCommitFailures", "FloeTableUnhealthy",
		"FloeCatalogSlow", "FloeNotReady", "FloeBadRecords"} {
		require.True(t, names[want], "alert %s is defined", want)
	}

	// promtool (Debian's prometheus package) parses every expression the way
	// Prometheus will and runs the rule unit tests beside the rules. Without
	// it the structural checks above still run.
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not on PATH: expressions not parsed by Prometheus, rule unit tests not run")
		return
	}
	out, err := exec.Command(promtool, "check", "rules", alertsPath).CombinedOutput()
	require.NoError(t, err, "promtool check rules:\n%s", out)
	out, err = exec.Command(promtool, "test", "rules", "../../deploy/prometheus/alerts_test.yaml").CombinedOutput()
	require.NoError(t, err, "promtool test rules:\n%s", out)
}

// TestDeployDashboardQueriesParse has promtool parse every dashboard query,
// as recording rules, with Grafana's variables replaced by plain values.
func TestDeployDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (apt-get install prometheus): dashboard queries not parsed")
	}
	_, qs := loadDashboard(t)
	vars := strings.NewReplacer("$__rate_interval", "5m", "$job", ".*", "$table", ".*", "$topic", ".*")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, q := range qs {
		if strings.HasPrefix(q.where, "variable ") {
			// label_values(metric, label) is Grafana's, not PromQL: parse its selector.
			m := labelValues.FindStringSubmatch(q.expr)
			require.NotNil(t, m, "%s: %s", q.where, q.expr)
			q.expr = m[1]
		}
		rules = append(rules, rule{fmt.Sprintf("dashboard:query_%d", i), vars.Replace(q.expr)})
	}
	raw, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	require.NoError(t, os.WriteFile(path, raw, 0o644))
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	require.NoError(t, err, "promtool check rules on the dashboard's queries:\n%s", out)
}

// TestDeployMetricsExist runs floe against kfake and a SQLite catalog, makes
// every kind of series appear (records, commits, a skipped bad record) and
// checks that each metric the dashboard and the alerts use is in the scrape.
// A SQLite catalog makes no HTTP requests, so floe_catalog_request_duration_seconds
// comes from the same catalog transport floe uses, exercised in-process
// against a stub REST endpoint.
func TestDeployMetricsExist(t *testing.T) {
	_, dq := loadDashboard(t)
	_, aq := loadAlerts(t)
	used := map[string][]string{} // metric -> where
	for _, q := range append(dq, aq...) {
		for _, name := range metricName.FindAllString(q.expr, -1) {
			used[name] = append(used[name], q.where)
		}
	}
	require.NotEmpty(t, used)

	b := newBed(t, 2)
	// A second table reads Debezium change events in JSON Schema, created
	// from the registry's subject: the registry's and the change events'
	// series.
	_, err := kadm.NewClient(b.prod).CreateTopic(t.Context(), 1, 1, nil, "changes")
	require.NoError(t, err)
	fake := srfake.New()
	defer fake.Close()
	_, _, err = fake.RegisterSchema("changes-value", sr.Schema{Type: sr.TypeJSON, Schema: `{"type": "object", "properties": {
		"after": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {"id": {"type": "string"}}}]},
		"op": {"type": "string"}}}`})
	require.NoError(t, err)
	cfg := b.config("floe", "    on-error: skip\n"+`  - name: itest.changes
    topics: [changes]
    format: json-schema
    envelope: debezium
schema-registry:
  urls: [`+fake.URL()+`]
`)
	b.produce(200)
	require.NoError(t, b.prod.ProduceSync(t.Context(), &kgo.Record{Key: []byte("bad"), Value: []byte("{not json")}).FirstErr())
	b.produce(100)
	p := b.start(cfg)
	b.waitCommitted(301, p)
	p.waitReady(t)

	exported := map[string]bool{}
	require.Eventually(t, func() bool {
		code, body := p.get(t, "/metrics")
		if code != http.StatusOK {
			return false
		}
		exported = seriesNames(body)
		return exported["floe_consumer_bad_records_total"] && exported["floe_consumer_lag_records"] &&
			exported["floe_committer_data_file_size_bytes_bucket"]
	}, 60*time.Second, 200*time.Millisecond, "the scrape has bad records, lag and file sizes")
	if prom, err := exec.LookPath("prometheus"); err == nil {
		t.Run("prometheus", func(t *testing.T) { queryThroughPrometheus(t, prom, p.address(), dq) })
	} else {
		t.Log("prometheus not on PATH: the queries were not run against a real Prometheus")
	}
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))

	for name := range restCatalogSeries(t) {
		exported[name] = true
	}
	for name := range objectStoreSeries(t) {
		exported[name] = true
	}

	var missing []string
	for name, where := range used {
		if !exported[name] {
			missing = append(missing, fmt.Sprintf("%s (used by %s)", name, strings.Join(slices.Compact(where), "; ")))
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "metrics used in deploy/ that floe does not export")
	t.Logf("%d metrics used by deploy/, all exported", len(used))
}

// seriesNames returns the name of every sample in a text exposition: a
// histogram shows up as its _bucket, _sum and _count series.
func seriesNames(exposition string) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(exposition, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// restCatalogSeries sends one request through committer's catalog transport
// and returns the series names it exports.
func restCatalogSeries(t testing.TB) map[string]bool {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"defaults":{},"overrides":{}}`))
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	client := &http.Client{Transport: catalog.NewCatalogTransport(catalog.HTTPConfig{}, reg)}
	resp, err := client.Get(srv.URL + "/v1/config")
	require.NoError(t, err)
	resp.Body.Close()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	names := seriesNames(rec.Body.String())
	require.True(t, names["floe_catalog_request_duration_seconds_bucket"], "the transport observed the request:\n%s", rec.Body.String())
	return names
}

// objectStoreSeries sends one request through the S3 client floe hands to
// iceberg-go (a file warehouse makes none) and returns the series names it
// exports.
func objectStoreSeries(t testing.TB) map[string]bool {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("data"))
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	store, err := catalog.NewObjectStore(t.Context(), catalog.S3Config{Region: "us-east-1"}, reg)
	require.NoError(t, err)
	defer store.Close()
	client := utils.GetAwsConfig(store.Context(t.Context())).HTTPClient
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/bucket/key", nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	names := seriesNames(rec.Body.String())
	require.True(t, names["floe_objectstore_request_duration_seconds_bucket"], "the S3 client observed the request:\n%s", rec.Body.String())
	return names
}

// prometheusListening is Prometheus's log line with the address it serves on.
var prometheusListening = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// queryThroughPrometheus starts a real Prometheus (Debian's package) that
// scrapes floe at target and loads alerts.yaml, then runs every dashboard
// query through its HTTP API: each must evaluate without error and return
// series, except the REST catalog's latency, which a SQLite catalog never
// produces.
func queryThroughPrometheus(t testing.TB, prom, target string, qs []query) {
	dir := t.TempDir()
	rules, err := filepath.Abs(alertsPath)
	require.NoError(t, err)
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: floe
    static_configs: [{targets: [%q]}]
`, rules, target)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644))
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:0")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", tail(out.String(), 30))
		}
	})

	type result struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
			Groups []struct {
				Rules []struct {
					Name   string `json:"name"`
					Health string `json:"health"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	var addr string
	require.Eventually(t, func() bool {
		m := prometheusListening.FindStringSubmatch(out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, 60*time.Second, 50*time.Millisecond, "prometheus never listened")
	get := func(path string) (result, error) {
		var r result
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return r, err
		}
		defer resp.Body.Close()
		return r, json.NewDecoder(resp.Body).Decode(&r)
	}
	promQuery := func(q string) (result, error) { return get("/api/v1/query?query=" + url.QueryEscape(q)) }

	// Enough scrapes for rate() over the window used below: with at least
	// six in the last minute, a one-minute window holds two samples however
	// late the scrapes run on a busy machine.
	require.Eventually(t, func() bool {
		r, err := promQuery(`count_over_time(up{job="floe"}[1m]) >= 6 and up{job="floe"} == 1`)
		return err == nil && len(r.Data.Result) == 1
	}, 2*time.Minute, 500*time.Millisecond, "prometheus scrapes floe")

	// A rule's health is "unknown" until its group has been evaluated once:
	// wait for that, then every rule must be "ok".
	var health []string
	require.Eventually(t, func() bool {
		r, err := get("/api/v1/rules")
		if err != nil {
			return false
		}
		health = health[:0]
		for _, g := range r.Data.Groups {
			for _, rule := range g.Rules {
				if rule.Health == "unknown" {
					return false
				}
				health = append(health, rule.Name+": "+rule.Health)
			}
		}
		return len(health) > 0
	}, time.Minute, 200*time.Millisecond, "prometheus loaded and evaluated alerts.yaml")
	for _, rule := range health {
		require.True(t, strings.HasSuffix(rule, ": ok"), "rule %s", rule)
	}
	loaded := len(health)

	vars := strings.NewReplacer("$__rate_interval", "1m", "$job", "floe", "$table", ".*", "$topic", ".*")
	var empty []string
	for _, q := range qs {
		expr := q.expr
		if m := labelValues.FindStringSubmatch(expr); m != nil {
			expr = fmt.Sprintf("group by (%s) (%s)", m[2], m[1])
		}
		expr = vars.Replace(expr)
		r, err := promQuery(expr)
		require.NoError(t, err, "%s: %s", q.where, expr)
		require.Equal(t, "success", r.Status, "%s: %s: %s", q.where, expr, r.Error)
		restOrS3Only := strings.Contains(expr, "floe_catalog_request_duration_seconds") || strings.Contains(expr, "floe_objectstore_request_duration_seconds")
		if len(r.Data.Result) == 0 && !restOrS3Only {
			empty = append(empty, fmt.Sprintf("%s: %s", q.where, expr))
		}
	}
	require.Empty(t, empty, "dashboard queries that return nothing against a running floe")
	t.Logf("%d dashboard queries evaluated by Prometheus, %d alert rules loaded", len(qs), loaded)
}
