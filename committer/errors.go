package committer

import (
	"context"
	"errors"
	"strings"

	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
)

// Reasons a commit attempt failed: the label of
// floe_committer_attempt_errors_total and the reason in the logs. They come
// from the error's type, never from its message, so rewording a message
// cannot change a metric.
const (
	reasonConflict     = "conflict"      // another writer committed first
	reasonTimeout      = "timeout"       // the attempt ran out of time
	reasonAccessDenied = "access_denied" // the catalog or the object store refused a credential
	reasonWrite        = "write"         // writing data files or the manifests that list them
	reasonLoad         = "load"          // loading the table from the catalog
	reasonUnknown      = "unknown"
)

// stepError marks the step of an attempt that failed (reasonWrite or
// reasonLoad); its message is the wrapped error's.
type stepError struct {
	reason string
	err    error
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func writeFailed(err error) error { return &stepError{reason: reasonWrite, err: err} }
func loadFailed(err error) error  { return &stepError{reason: reasonLoad, err: err} }

// errorReason classifies a failed attempt for metrics and logs.
func errorReason(err error) string {
	var se *stepError
	switch {
	case errors.Is(err, table.ErrCommitFailed), requirementFailed(err):
		return reasonConflict
	case errors.Is(err, context.DeadlineExceeded):
		return reasonTimeout
	case errors.Is(err, ErrStorageAccessDenied), errors.Is(err, rest.ErrUnauthorized), errors.Is(err, rest.ErrForbidden):
		return reasonAccessDenied
	case errors.As(err, &se):
		return se.reason
	default:
		return reasonUnknown
	}
}

// requirementFailed reports a lost compare-and-swap as SQL, Glue and Hive
// catalogs report it: iceberg-go returns a plain error whose message starts
// "requirement failed" (no sentinel), rather than ErrCommitFailed. It is
// iceberg-go's message, not floe's, that is matched here.
func requirementFailed(err error) bool {
	return strings.Contains(err.Error(), "requirement failed")
}
