// Package secretfile reads a secret that floe's config gives either as a
// value or as a file (a mounted Kubernetes secret), with errors naming the
// file's key.
package secretfile

import (
	"fmt"
	"os"
	"strings"
)

// Read is value, or the content of file without its trailing newline when
// file is set; key names file in errors ("kafka.sasl.password-file").
// An empty file is an error: a secret that is empty is a mistake.
func Read(value, file, key string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", key, file)
	}
	return v, nil
}
