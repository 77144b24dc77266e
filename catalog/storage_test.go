package catalog

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/require"
)

// s3Error builds the error chain the AWS SDK returns for a refused request:
// an operation error around a response error around the API error S3 sent.
func s3Error(status int, code string) error {
	u, _ := url.Parse("http://127.0.0.1:17071/bucket/wh/data/00000-0.parquet")
	resp := &http.Response{StatusCode: status, Request: &http.Request{Method: http.MethodPut, URL: u}}
	return fmt.Errorf("blob (key %q) (code=Unknown): %w", "wh/data/00000-0.parquet", &smithy.OperationError{
		ServiceID: "S3", OperationName: "PutObject",
		Err: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: resp},
			Err:      &smithy.GenericAPIError{Code: code, Message: "Access Denied"},
		},
	})
}

func TestStorageAccessDeniedIsNamed(t *testing.T) {
	for _, code := range []string{"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"} {
		err := StorageError("write data files", s3Error(http.StatusForbidden, code))
		require.ErrorIs(t, err, ErrStorageAccessDenied, code)
		require.ErrorContains(t, err, "write data files: access denied by object storage: S3 PutObject refused by http://127.0.0.1:17071")
		require.ErrorContains(t, err, "catalog.s3 credentials")
		require.ErrorContains(t, err, code, "the store's own reason is kept")
		require.Equal(t, "access_denied", Reason(err))
		var oe *smithy.OperationError
		require.ErrorAs(t, err, &oe, "the SDK's error stays in the chain")
	}
	// A 403 without an error code in the body still counts.
	err := StorageError("stage data files", s3Error(http.StatusForbidden, ""))
	require.ErrorIs(t, err, ErrStorageAccessDenied)
	require.ErrorContains(t, err, "stage data files: access denied")

	// Other failures stay write errors, unchanged.
	err = StorageError("write data files", s3Error(http.StatusInternalServerError, "InternalError"))
	require.NotErrorIs(t, err, ErrStorageAccessDenied)
	require.Equal(t, "write", Reason(err))
	require.Equal(t, "write data files: disk full", StorageError("write data files", errors.New("disk full")).Error())
}
