package catalog

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"gocloud.dev/gcerrors"
)

// ErrStorageAccessDenied marks an object-storage request refused for want
// of permission: S3's 403 (AccessDenied, InvalidAccessKeyId,
// SignatureDoesNotMatch), or permission denied from GCS or Azure. Like a
// catalog 401/403 it is retried with backoff — a credential may be rotated
// back in — and counted as reason access_denied.
var ErrStorageAccessDenied = errors.New("access denied by object storage")

// StorageError wraps an error of step op (writing data files, staging the
// manifests) as a write failure and, for an access error, names the request the store refused
// and the endpoint that refused it, as an operator needs them to fix a
// credential or a bucket policy.
func StorageError(op string, err error) error {
	if !storageDenied(err) {
		return WriteFailed(fmt.Errorf("%s: %w", op, err))
	}
	what := "a request"
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		what = oe.Service() + " " + oe.Operation()
	}
	where := "the object store"
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Response != nil && re.Response.Request != nil {
		u := re.Response.Request.URL
		where = u.Scheme + "://" + u.Host
	}
	return WriteFailed(fmt.Errorf("%s: %w: %s refused by %s (check catalog.s3 credentials and the bucket policy): %w",
		op, ErrStorageAccessDenied, what, where, err))
}

func storageDenied(err error) bool {
	if gcerrors.Code(err) == gcerrors.PermissionDenied {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return true
		}
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden
}
