package catalog

import (
	"context"
	"fmt"
	"maps"
	"net/http"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/glue"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// glueWrites are the Glue operations that change the catalog. The SDK never
// sends one twice: a repeated UpdateTable whose first try landed fails with
// ConcurrentModificationException, which iceberg-go reports as a clean
// conflict (table.ErrCommitFailed) — the commit protocol would then take a
// commit that landed for one that did not, and delete its data files. A
// write that fails on the network is an unknown outcome instead, which the
// protocol resolves by reading the table.
var glueWrites = map[string]bool{
	"CreateTable": true, "UpdateTable": true, "DeleteTable": true,
	"CreateDatabase": true, "UpdateDatabase": true, "DeleteDatabase": true,
}

// openGlueCatalog opens an AWS Glue catalog whose HTTP client is rt (floe's
// catalog transport: its connection and in-flight limits, request timeout
// and per-operation metrics). Reads are retried by the AWS SDK
// (catalog.http.read-retries, backoff up to retry-max); writes are not
// (glueWrites).
//
// The Glue client's AWS settings are also those iceberg-go reads a table's
// metadata file with when it loads the table (catalog.s3's endpoint and
// keys still apply on top); data files, manifests and new metadata files
// go through floe's S3 client.
func openGlueCatalog(ctx context.Context, cfg Config, rt http.RoundTripper) (catalog.Catalog, error) {
	g := cfg.Glue
	h := cfg.HTTP.withDefaults()
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.HTTP.ReadRetries + 1
				o.MaxBackoff = h.RetryMax
			})
		}),
		awsconfig.WithAPIOptions([]func(*middleware.Stack) error{func(s *middleware.Stack) error {
			if !glueWrites[s.ID()] {
				return nil
			}
			_, err := s.Finalize.Swap("Retry", retry.NewAttemptMiddleware(aws.NopRetryer{}, smithyhttp.RequestCloner))
			return err
		}}),
	}
	if g.Region != "" {
		opts = append(opts, awsconfig.WithRegion(g.Region))
	}
	if g.Endpoint != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(g.Endpoint))
	}
	if g.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(g.AccessKeyID, g.SecretAccessKey, g.SessionToken)))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration: %w", err)
	}
	// The SDK refuses a custom CA bundle (AWS_CA_BUNDLE, ca_bundle) for a
	// client it cannot reconfigure, so it loads with its own client, and
	// floe's transport takes over that client's TLS settings.
	if bc, ok := awsCfg.HTTPClient.(*awshttp.BuildableClient); ok {
		if tlsCfg := bc.GetTransport().TLSClientConfig; tlsCfg != nil {
			if rt, err = transportWithTLS(rt, tlsCfg.Clone()); err != nil {
				return nil, err
			}
		}
	}
	awsCfg.HTTPClient = &http.Client{Transport: rt}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("catalog.glue.region: no region set here, in AWS_REGION or in the AWS profile")
	}

	props := iceberg.Properties{"warehouse": cfg.Warehouse}
	if g.CatalogID != "" {
		props[glue.CatalogIdKey] = g.CatalogID
	}
	maps.Copy(props, s3Properties(cfg.S3))
	maps.Copy(props, cfg.Properties)
	// "warehouse" places new tables (<warehouse>/<database>.db/<table>)
	// in databases without a location, as floe creates them.
	cat, err := glue.NewCatalog(glue.WithAwsConfig(awsCfg), glue.WithAwsProperties(glue.AwsProperties(props)))
	if err != nil {
		return nil, err
	}
	return cat, nil
}
