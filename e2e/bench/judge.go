package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

// newTopic creates a fresh topic for one run, named after kind, and returns
// it with the table and group names of the run and a producing client.
func newTopic(ctx context.Context, o *options, env map[string]string, kind string) (topic, table, group string, cl *kgo.Client, err error) {
	suffix := kind + "_" + strconv.FormatInt(time.Now().UnixMilli(), 36)
	topic, table, group = "bench_"+suffix, "bench.events_"+suffix, "bench-"+suffix
	cl, err = kgo.NewClient(kgo.SeedBrokers(env["E2E_KAFKA"]), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(10*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(200_000))
	if err != nil {
		return "", "", "", nil, err
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, int32(o.partitions), 1, nil, topic); err != nil {
		cl.Close()
		return "", "", "", nil, fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := floebench.WaitTopics(ctx, adm, o.partitions, topic); err != nil {
		cl.Close()
		return "", "", "", nil, err
	}
	return topic, table, group, cl, nil
}

// judge has the independent readers (e2e/readers/check.py: PyIceberg and
// DuckDB) read the table: every one of the n ids prefix%09d exactly once,
// and the table's floe.offsets.<group> equal to Kafka's end offsets.
func judge(ctx context.Context, o *options, env map[string]string, cl *kgo.Client, topic, table, group, prefix string, n int) error {
	if o.readers == "" {
		fmt.Fprintln(os.Stderr, "exactly once NOT judged: -readers is empty")
		return nil
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%09d", prefix, i)
	}
	started := time.Now()
	out, err := floebench.RunReaders(ctx, env["E2E_PYTHON"], o.readers, map[string]any{
		"catalog": floebench.ReaderCatalog(env, o.catalog), "table": table, "group": group,
		"id_column": "id", "expected_ids": ids, "aggregates": false,
	})
	if err != nil {
		return err
	}
	var problems []string
	for _, name := range floebench.Readers {
		if p := out[name].RowProblem(name, n); p != "" {
			problems = append(problems, p)
		}
	}
	if py := out["pyiceberg"]; py.Error == "" {
		if py.Offsets == nil {
			problems = append(problems, "the current snapshot has no floe.offsets."+group)
		} else {
			got := py.Offsets.Topics[topic].Partitions
			ends.Each(func(e kadm.ListedOffset) {
				if g := got[strconv.Itoa(int(e.Partition))]; g != e.Offset {
					problems = append(problems, fmt.Sprintf("partition %d: floe.offsets has %d, Kafka's end offset is %d", e.Partition, g, e.Offset))
				}
			})
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("exactly once does not hold in %s:\n  %s", table, strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(os.Stderr, "exactly once holds: PyIceberg and DuckDB read each of the %d ids once, floe.offsets = Kafka's end offsets (the readers took %s)\n",
		n, time.Since(started).Round(time.Second))
	return nil
}

// exactlyOnce is the result table's row on exactly once: what the readers
// found, or that they were not asked.
func exactlyOnce(o *options) string {
	if o.readers == "" {
		return "NOT judged: -readers is empty"
	}
	return "holds: PyIceberg and DuckDB read every id once, floe.offsets = Kafka's end offsets"
}

// cleanupTable deletes a run's topic and drops its table with its files
// (unless -keep): a sweep of 2-million-record runs would otherwise fill
// the test bed's disk.
func cleanupTable(ctx context.Context, o *options, env map[string]string, cl *kgo.Client, topic, table string) {
	if o.keep {
		return
	}
	if _, err := kadm.NewClient(cl).DeleteTopic(ctx, topic); err != nil {
		fmt.Fprintf(os.Stderr, "delete topic %s: %v\n", topic, err)
	}
	u, err := tableURL(catalogURI(env, o.catalog), table)
	if err == nil {
		var req *http.Request
		if req, err = http.NewRequestWithContext(ctx, http.MethodDelete, u+"?purgeRequested=true", nil); err == nil {
			var resp *http.Response
			if resp, err = http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					err = fmt.Errorf("DELETE: %s", resp.Status)
				}
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "drop table %s: %v\n", table, err)
	}
}

// tableURL is the REST catalog's URL of table "ns.name", with the prefix
// the catalog's /v1/config names, if any.
func tableURL(uri, table string) (string, error) {
	uri = strings.TrimSuffix(uri, "/")
	resp, err := http.Get(uri + "/v1/config")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var cfg struct {
		Overrides map[string]string `json:"overrides"`
		Defaults  map[string]string `json:"defaults"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cfg); err != nil {
		return "", fmt.Errorf("GET %s/v1/config: %w", uri, err)
	}
	prefix := cfg.Overrides["prefix"]
	if prefix == "" {
		prefix = cfg.Defaults["prefix"]
	}
	if prefix != "" {
		prefix = "/" + url.PathEscape(prefix)
	}
	ns, name := splitTable(table)
	return fmt.Sprintf("%s/v1%s/namespaces/%s/tables/%s", uri, prefix, url.PathEscape(strings.ReplaceAll(ns, ".", "\x1f")), url.PathEscape(name)), nil
}
