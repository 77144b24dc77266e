package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestConfigMergesTableConfig(t *testing.T) {
	extra := filepath.Join(t.TempDir(), "maintenance.yaml")
	require.NoError(t, os.WriteFile(extra, []byte(`
maintenance: {expire: {retain-last: 100}}
properties: {write.metadata.previous-versions-max: "5"}
commit-interval: 1s
`), 0o644))
	r := &longrun{
		o:     options{name: "t", interval: 250_000_000, batchAge: 250_000_000, tableConfig: extra},
		env:   map[string]string{"E2E_KAFKA": "k:1", "E2E_REST_FILE_URI": "http://c", "E2E_REST_FILE_WAREHOUSE": "file:///w"},
		topic: "tp", table: "ns.t", group: "g", addr: "127.0.0.1:1",
	}
	out, err := r.config()
	require.NoError(t, err)
	var cfg struct {
		Kafka  map[string]any   `yaml:"kafka"`
		Tables []map[string]any `yaml:"tables"`
	}
	require.NoError(t, yaml.Unmarshal(out, &cfg))
	require.Equal(t, "g", cfg.Kafka["group"])
	require.Len(t, cfg.Tables, 1)
	tbl := cfg.Tables[0]
	require.Equal(t, "ns.t", tbl["name"])
	require.Equal(t, "1s", tbl["commit-interval"], "the table config wins")
	require.Equal(t, map[string]any{"expire": map[string]any{"retain-last": 100}}, tbl["maintenance"])
	require.Equal(t, map[string]any{"write.metadata.previous-versions-max": "5"}, tbl["properties"])
	require.NotEmpty(t, tbl["schema"], "the harness's own keys stay")

	r.o.tableConfig = ""
	plain, err := r.config()
	require.NoError(t, err)
	require.NotContains(t, string(plain), "maintenance")
}

func TestMergeKeepsSiblingKeys(t *testing.T) {
	dst := map[string]any{"properties": map[string]any{"a": "1", "b": "2"}, "x": 1}
	merge(dst, map[string]any{"properties": map[string]any{"b": "3"}, "y": 2})
	require.Equal(t, map[string]any{"properties": map[string]any{"a": "1", "b": "3"}, "x": 1, "y": 2}, dst)
}
