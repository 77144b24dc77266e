package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// floe run builds its S3 client before it touches the catalog; an AWS
// configuration the SDK cannot load stops it with a message naming
// catalog.s3, not with a failure at the first data file.
func TestRunStopsOnABrokenAWSConfiguration(t *testing.T) {
	b := newBed(t, 1)
	cfg := b.config("floe", "")
	empty := filepath.Join(t.TempDir(), "aws-config")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	cmd := exec.Command(floeBin, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE="+empty, "AWS_SHARED_CREDENTIALS_FILE="+empty, "AWS_PROFILE=no-such-profile")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "catalog.s3: load the AWS configuration")
}
