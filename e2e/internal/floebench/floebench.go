// Package floebench holds what the end-to-end benchmarks (e2e/bench,
// e2e/benchcatalog, e2e/benchlongrun) share: the test bed's env file, free
// loopback addresses, floe's /metrics read back, floe's commit log lines,
// percentiles, and the synthetic records with their paced producer. Like the e2e tests it imports no floe package: floe is a
// black box reached through its config, HTTP endpoints and log.
package floebench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ReadEnv reads the env file e2e/testbed/up.sh writes (KEY=value lines) and
// checks that the keys every benchmark needs are set.
func ReadEnv(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
			env[strings.TrimPrefix(k, "export ")] = strings.Trim(v, `"'`)
		}
	}
	for _, k := range []string{"E2E_KAFKA", "E2E_REST_FILE_URI"} {
		if env[k] == "" {
			return nil, fmt.Errorf("%s is not set", k)
		}
	}
	return env, nil
}

// FreeAddr returns a loopback address no one listens on now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Families is one scrape of floe's /metrics, by metric name.
type Families map[string]*dto.MetricFamily

// Scrape reads floe's /metrics at addr.
func Scrape(addr string) (Families, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return mfs, nil
}

// Sum adds every sample of a counter or gauge named name whose labels
// include match (nil: all). For a histogram h, name h_sum adds the sums of
// its observations, h_count and h itself their counts.
func (f Families) Sum(name string, match map[string]string) float64 {
	mf, histSum := f[name], false
	if mf == nil {
		if base, ok := strings.CutSuffix(name, "_sum"); ok {
			mf, histSum = f[base], true
		} else if base, ok := strings.CutSuffix(name, "_count"); ok {
			mf = f[base]
		}
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		if !HasLabels(m, match) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		case m.Histogram != nil && histSum:
			sum += m.GetHistogram().GetSampleSum()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// HasLabels says whether m carries every label of match.
func HasLabels(m *dto.Metric, match map[string]string) bool {
	for k, v := range match {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Metric sums every sample of name on floe's /metrics at addr; 0 when floe
// does not answer (yet).
func Metric(addr, name string) float64 {
	f, err := Scrape(addr)
	if err != nil {
		return 0
	}
	return f.Sum(name, nil)
}

// Commit is what a benchmark reads from one `commit` line of floe's JSON
// log.
type Commit struct {
	Time       time.Time     `json:"time"`
	Outcome    string        `json:"outcome"`
	SnapshotID int64         `json:"snapshot_id"`
	Records    int64         `json:"records"`
	Files      int64         `json:"files"`
	FileBytes  int64         `json:"file_bytes"`
	Attempts   int           `json:"attempts"`
	Duration   time.Duration `json:"-"`
}

// ParseCommit parses one line of floe's JSON log; ok is false for every
// line that is not a commit.
func ParseCommit(line []byte) (c Commit, ok bool) {
	var l struct {
		Commit
		Msg      string `json:"msg"`
		Duration string `json:"duration"`
	}
	if json.Unmarshal(line, &l) != nil || l.Msg != "commit" {
		return Commit{}, false
	}
	d, err := time.ParseDuration(l.Duration)
	if err != nil {
		return Commit{}, false
	}
	l.Commit.Duration = d
	return l.Commit, true
}

// CommitLatencies reads the duration of every commit from floe's JSON log,
// sorted.
func CommitLatencies(logPath string) ([]time.Duration, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if c, ok := ParseCommit(sc.Bytes()); ok {
			out = append(out, c.Duration)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, sc.Err()
}

// Pct is the p-th percentile (nearest rank) of sorted durations, rounded to
// the millisecond; "n/a" for none.
func Pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "n/a"
	}
	i := (len(ds)*p + 99) / 100
	return ds[min(max(i-1, 0), len(ds)-1)].Round(time.Millisecond).String()
}

// TailFile returns the last 20 lines of a file (a floe log).
func TailFile(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
