package floebench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Commits runs `floe commits --config cfg --json` with the floe binary bin
// and decodes each line into a T (the caller's view of a commit): the
// commit history as floe reads it from the table, newest first.
func Commits[T any](bin, cfg string) ([]T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "commits", "--config", cfg, "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("floe commits: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var out []T
	dec := json.NewDecoder(&stdout)
	for {
		var c T
		err := dec.Decode(&c)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("floe commits: decode: %w", err)
		}
		out = append(out, c)
	}
}
