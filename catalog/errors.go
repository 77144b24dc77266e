package catalog

import (
	"context"
	"errors"
	"strings"

	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
)

// Reasons an operation on a table failed: the label of
// floe_committer_attempt_errors_total and the reason in the logs. They come
// from the error's type, never from its message, so rewording a message
// cannot change a metric.
const (
	ReasonConflict     = "conflict"      // another writer committed first
	ReasonTimeout      = "timeout"       // the attempt ran out of time
	ReasonAccessDenied = "access_denied" // the catalog or the object store refused a credential
	ReasonWrite        = "write"         // writing data files or the manifests that list them
	ReasonLoad         = "load"          // loading the table from the catalog
	ReasonUnknown      = "unknown"
)

// StepError marks the step of an operation that failed (ReasonWrite or
// ReasonLoad); its message is the wrapped error's.
type StepError struct {
	Reason string
	Err    error
}

func (e *StepError) Error() string { return e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// WriteFailed marks err as a failure to write data files or manifests.
func WriteFailed(err error) error { return &StepError{Reason: ReasonWrite, Err: err} }

// LoadFailed marks err as a failure to load a table.
func LoadFailed(err error) error { return &StepError{Reason: ReasonLoad, Err: err} }

// Reason classifies a failed operation for metrics and logs.
func Reason(err error) string {
	var se *StepError
	switch {
	case Conflict(err):
		return ReasonConflict
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.Is(err, ErrStorageAccessDenied), errors.Is(err, rest.ErrUnauthorized), errors.Is(err, rest.ErrForbidden):
		return ReasonAccessDenied
	case errors.As(err, &se):
		return se.Reason
	default:
		return ReasonUnknown
	}
}

// Conflict reports a lost compare-and-swap: the REST catalog's 409
// (table.ErrCommitFailed) or, as SQL, Glue and Hive catalogs report it, a
// plain error whose message starts "requirement failed" (iceberg-go has no
// sentinel for it; it is iceberg-go's message, not floe's, that is matched).
// A conflict committed nothing; any other commit error may have landed.
func Conflict(err error) bool {
	return errors.Is(err, table.ErrCommitFailed) || strings.Contains(err.Error(), "requirement failed")
}
