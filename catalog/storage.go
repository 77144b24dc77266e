package catalog

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"gocloud.dev/gcerrors"
	"google.golang.org/api/googleapi"
)

// ErrStorageAccessDenied marks an object-storage request refused for want
// of permission: S3's 403 (AccessDenied, InvalidAccessKeyId,
// SignatureDoesNotMatch), or permission denied from GCS or Azure. Like a
// catalog 401/403 it is retried with backoff — a credential may be rotated
// back in — and counted as reason access_denied.
var ErrStorageAccessDenied = errors.New("access denied by object storage")

// ErrStorageBucketMissing marks a write into a bucket (S3, GCS) or container
// (Azure) that does not exist: a write finds nothing else missing. It is a
// write failure (reason write), retried like one: the bucket may be created.
var ErrStorageBucketMissing = errors.New("bucket or container does not exist")

// StorageError wraps an error of step op (writing data files, staging the
// manifests) as a write failure, with StorageHint's explanation.
func StorageError(op string, err error) error {
	return WriteFailed(fmt.Errorf("%s: %w", op, StorageHint(err)))
}

// StorageHint explains an access error or a missing bucket: it names the
// request the store refused, the endpoint that refused it and the config
// section to check, as an operator needs them to fix a credential, a bucket
// policy or a location. Other errors come back as they are.
func StorageHint(err error) error {
	switch {
	case storageDenied(err):
		what, where, section := storageRequest(err)
		hint := map[string]string{
			"catalog.s3":    "catalog.s3 credentials and the bucket policy",
			"catalog.gcs":   "catalog.gcs credentials and the bucket's IAM roles",
			"catalog.azure": "catalog.azure credentials, the SAS's permissions or the identity's role on the container",
		}[section]
		return fmt.Errorf("%w: %s refused by %s (check %s): %w", ErrStorageAccessDenied, what, where, hint, err)
	case storageBucketMissing(err):
		_, where, section := storageRequest(err)
		return fmt.Errorf("%w at %s (create it, or fix catalog.warehouse or the table's location; %s sets the endpoint): %w",
			ErrStorageBucketMissing, where, section, err)
	}
	return err
}

// storageRequest names the request err is about, the endpoint that answered
// and the config section of its store, as far as the SDK's error tells.
func storageRequest(err error) (what, where, section string) {
	what, where, section = "a request", "the object store", "catalog.s3"
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		what = oe.Service() + " " + oe.Operation()
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Response != nil && re.Response.Request != nil {
		u := re.Response.Request.URL
		where = u.Scheme + "://" + u.Host
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		what, where, section = "a GCS request", "GCS", "catalog.gcs"
	}
	var ae *azcore.ResponseError
	if errors.As(err, &ae) {
		what, section = "Azure "+ae.ErrorCode, "catalog.azure"
		if ae.RawResponse != nil && ae.RawResponse.Request != nil {
			r := ae.RawResponse.Request
			what = "Azure " + r.Method + " (" + ae.ErrorCode + ")"
			where = r.URL.Scheme + "://" + r.URL.Host
		}
	}
	return what, where, section
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
	var aze *azcore.ResponseError
	if errors.As(err, &aze) && (aze.StatusCode == http.StatusForbidden || aze.StatusCode == http.StatusUnauthorized) {
		return true
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) && (ge.Code == http.StatusForbidden || ge.Code == http.StatusUnauthorized) {
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden
}

func storageBucketMissing(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket" {
		return true
	}
	var aze *azcore.ResponseError
	if errors.As(err, &aze) && aze.ErrorCode == "ContainerNotFound" {
		return true
	}
	// GCS answers a write into a missing bucket with 404: nothing else of a
	// write can be missing.
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusNotFound
}
