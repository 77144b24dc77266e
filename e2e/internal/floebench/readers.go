package floebench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// ReaderResult is the part of one reader's report from e2e/readers/check.py
// that the benchmarks judge.
type ReaderResult struct {
	Error           string `json:"error"`
	Rows            int    `json:"rows"`
	DuplicateCount  int    `json:"duplicate_count"`
	MissingCount    int    `json:"missing_count"`
	UnexpectedCount int    `json:"unexpected_count"`
	Offsets         *struct {
		Topics map[string]struct {
			Partitions map[string]int64 `json:"partitions"`
		} `json:"topics"`
	} `json:"offsets"`
	Snapshots []struct {
		Floe     bool   `json:"floe"`
		CommitID string `json:"commit_id"`
	} `json:"snapshots"`
}

// Readers are the independent readers check.py runs, by the name it
// reports them under.
var Readers = []string{"pyiceberg", "duckdb"}

// RunReaders runs the readers' script (e2e/readers/check.py) with the test
// bed's Python on req and returns each reader's report.
func RunReaders(ctx context.Context, python, script string, req any) (map[string]ReaderResult, error) {
	if python == "" {
		return nil, errors.New("E2E_PYTHON is not set in the env file: the readers need the test bed's venv")
	}
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", script, err, stderr.String())
	}
	var out map[string]ReaderResult
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("%s printed no JSON object: %w\n%s", script, err, stdout.String())
	}
	return out, nil
}

// RowProblem says what is wrong when a reader does not see every produced
// id exactly once; empty when it does.
func (r ReaderResult) RowProblem(name string, produced int) string {
	switch {
	case r.Error != "":
		return fmt.Sprintf("%s: %s", name, r.Error)
	case r.Rows != produced || r.DuplicateCount != 0 || r.MissingCount != 0 || r.UnexpectedCount != 0:
		return fmt.Sprintf("%s reads %d rows (%d produced): %d duplicate, %d missing, %d unexpected ids",
			name, r.Rows, produced, r.DuplicateCount, r.MissingCount, r.UnexpectedCount)
	}
	return ""
}

// ReaderCatalog is the "catalog" object check.py takes for one of the test
// bed's REST catalogs: rest-file (file:// warehouse) or rest-s3.
func ReaderCatalog(env map[string]string, catalog string) map[string]any {
	if catalog == "rest-s3" {
		return map[string]any{
			"type": "rest", "uri": env["E2E_REST_S3_URI"], "warehouse": env["E2E_REST_S3_WAREHOUSE"],
			"s3": map[string]any{
				"endpoint": env["E2E_S3_ENDPOINT"], "region": env["E2E_S3_REGION"],
				"access_key": env["E2E_S3_ACCESS_KEY"], "secret_key": env["E2E_S3_SECRET_KEY"],
			},
		}
	}
	c := map[string]any{"type": "rest", "uri": env["E2E_REST_FILE_URI"]}
	if w := env["E2E_REST_FILE_WAREHOUSE"]; w != "" {
		c["warehouse"] = w
	}
	return c
}
