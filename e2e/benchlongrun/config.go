package main

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

// config is floe's config for the run, with -table-config merged into the
// table's entry.
func (r *longrun) config() ([]byte, error) {
	o := r.o
	base := fmt.Sprintf(`# floe benchlongrun: %s
kafka:
  brokers: [%q]
  group: %q
  batch: {max-records: 20000, max-age: %s}
catalog:
  type: rest
  uri: %q
  warehouse: %q
commit: {timeout: 2m}
http: {addr: %q}
log: {level: info, format: json}
shutdown: {timeout: 2m}
tables:
  - name: %q
    topics: [%q]
    commit-interval: %s
%s`, o.name, r.env["E2E_KAFKA"], r.group, o.batchAge, r.env["E2E_REST_FILE_URI"], r.env["E2E_REST_FILE_WAREHOUSE"],
		r.addr, r.table, r.topic, o.interval, floebench.Schema)
	if o.tableConfig == "" {
		return []byte(base), nil
	}
	extra, err := os.ReadFile(o.tableConfig)
	if err != nil {
		return nil, err
	}
	var add map[string]any
	if err := yaml.Unmarshal(extra, &add); err != nil {
		return nil, fmt.Errorf("-table-config %s: %w", o.tableConfig, err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(base), &cfg); err != nil {
		return nil, fmt.Errorf("the harness's own config: %w", err)
	}
	table := cfg["tables"].([]any)[0].(map[string]any)
	merge(table, add)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return append([]byte(fmt.Sprintf("# floe benchlongrun: %s, table settings merged from %s\n", o.name, o.tableConfig)), out...), nil
}

// merge copies add into dst; mappings present in both are merged key by
// key, anything else in add replaces what dst has.
func merge(dst, add map[string]any) {
	for k, v := range add {
		if sub, ok := v.(map[string]any); ok {
			if have, ok := dst[k].(map[string]any); ok {
				merge(have, sub)
				continue
			}
		}
		dst[k] = v
	}
}
