package config

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/consumer"
)

func TestRedacted(t *testing.T) {
	c := validConfig()
	c.Catalog.REST.Token = "tok-123"
	c.Catalog.REST.Credential = "floe:s3cr3t"
	c.Catalog.REST.Headers = map[string]string{"Authorization": "Bearer tok-123", "X-Tenant": "acme"}
	c.Catalog.S3.AccessKeyID = "AKIAEXAMPLE"
	c.Catalog.S3.SecretAccessKey = "wJalrXUtnFEMI"
	c.Catalog.S3.SessionToken = "FwoGZXIvYXdzE"
	c.Catalog.SQL.DSN = "postgres://floe:pa55@db:5432/catalog?sslmode=require"
	c.Catalog.Glue = catalog.GlueConfig{Region: "eu-west-1", AccessKeyID: "AKIAGLUE", SecretAccessKey: "glue-s3cret-5", SessionToken: "glue-tok-6"}
	c.Catalog.GCS.CredentialsJSON = `{"type":"service_account","private_key":"gcs-pk-1"}`
	c.Catalog.Azure.AccountKey = "YXp1cmUta2V5LTI="
	c.Catalog.Azure.SASToken = "sv=2024&sig=azure-sig-3"
	c.Catalog.Properties = map[string]string{"s3.secret-access-key": "x", "gcs.oauth2.token": "y", "write.format.default": "parquet"}
	c.Tables[0].Properties = map[string]string{"api-key": "k"}
	c.Kafka.SASL = consumer.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "floe", Password: "kafka-pw-9",
		// Not a valid combination with SCRAM; Redacted masks every field anyway.
		OAuth: consumer.OAuthConfig{Token: "eyJoauth-tok", ClientID: "floe-client", ClientSecret: "oauth-cs-7",
			Extensions: map[string]string{"logicalCluster": "lkc-1", "apiToken": "ext-tok-3"}}}

	r := c.Redacted()
	require.Equal(t, "REDACTED", r.Kafka.SASL.Password)
	require.Equal(t, "floe", r.Kafka.SASL.Username)
	require.Equal(t, "REDACTED", r.Kafka.SASL.OAuth.Token)
	require.Equal(t, "REDACTED", r.Kafka.SASL.OAuth.ClientSecret)
	require.Equal(t, "floe-client", r.Kafka.SASL.OAuth.ClientID)
	require.Equal(t, map[string]string{"logicalCluster": "lkc-1", "apiToken": "REDACTED"}, r.Kafka.SASL.OAuth.Extensions)
	require.Equal(t, "REDACTED", r.Catalog.REST.Token)
	require.Equal(t, "floe:REDACTED", r.Catalog.REST.Credential)
	require.Equal(t, map[string]string{"Authorization": "REDACTED", "X-Tenant": "acme"}, r.Catalog.REST.Headers)
	require.Equal(t, "AKIAEXAMPLE", r.Catalog.S3.AccessKeyID)
	require.Equal(t, "REDACTED", r.Catalog.S3.SecretAccessKey)
	require.Equal(t, "REDACTED", r.Catalog.S3.SessionToken)
	require.Equal(t, catalog.GlueConfig{Region: "eu-west-1", AccessKeyID: "AKIAGLUE", SecretAccessKey: "REDACTED", SessionToken: "REDACTED"}, r.Catalog.Glue)
	require.Equal(t, "postgres://floe:REDACTED@db:5432/catalog?sslmode=require", r.Catalog.SQL.DSN)
	require.Equal(t, "REDACTED", r.Catalog.GCS.CredentialsJSON)
	require.Equal(t, "REDACTED", r.Catalog.Azure.AccountKey)
	require.Equal(t, "REDACTED", r.Catalog.Azure.SASToken)
	require.Equal(t, map[string]string{"s3.secret-access-key": "REDACTED", "gcs.oauth2.token": "REDACTED", "write.format.default": "parquet"}, r.Catalog.Properties)
	require.Equal(t, map[string]string{"api-key": "REDACTED"}, r.Tables[0].Properties)

	// Nothing secret is left anywhere in the printed copy.
	printed := fmt.Sprintf("%+v", r)
	for _, secret := range []string{"tok-123", "s3cr3t", "wJalrXUtnFEMI", "FwoGZXIvYXdzE", "pa55", "kafka-pw-9", "eyJoauth-tok", "oauth-cs-7", "ext-tok-3",
		"glue-s3cret-5", "glue-tok-6", "gcs-pk-1", "YXp1cmUta2V5LTI=", "azure-sig-3"} {
		require.NotContains(t, printed, secret)
	}

	// The original is untouched.
	require.Equal(t, "tok-123", c.Catalog.REST.Token)
	require.Equal(t, "kafka-pw-9", c.Kafka.SASL.Password)
	require.Equal(t, "Bearer tok-123", c.Catalog.REST.Headers["Authorization"])
	require.Equal(t, "x", c.Catalog.Properties["s3.secret-access-key"])
	require.Equal(t, "k", c.Tables[0].Properties["api-key"])

	// Empty secrets stay empty: the log shows they were not set.
	require.Empty(t, validConfig().Redacted().Catalog.REST.Token)
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"file:/var/lib/floe/catalog.db", "file:/var/lib/floe/catalog.db"},
		{"postgres://floe@db/catalog", "postgres://floe@db/catalog"},
		{"postgres://floe:pa55@db/catalog", "postgres://floe:REDACTED@db/catalog"},
		{"postgres://floe:p@55@db/catalog", "postgres://floe:REDACTED@db/catalog"},
		{"postgres://db/catalog?user=floe&password=pa55", "postgres://db/catalog?password=REDACTED&user=floe"},
		{"postgres://floe:pa%zz@db/catalog", "postgres://floe:REDACTED@db/catalog"}, // unparseable
		{"host=db user=floe password=pa55 dbname=catalog", "host=db user=floe password=REDACTED dbname=catalog"},
		{"host=db password='pa 55' dbname=catalog", "host=db password=REDACTED dbname=catalog"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, redactDSN(tt.dsn), tt.dsn)
	}
}

func TestRedactAzureConnectionString(t *testing.T) {
	for in, want := range map[string]string{
		"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0==;EndpointSuffix=core.windows.net": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=REDACTED;EndpointSuffix=core.windows.net",
		"BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2024&sig=abc":                "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=REDACTED",
		"": "",
	} {
		c := validConfig()
		c.Catalog.Azure.ConnectionString = in
		require.Equal(t, want, c.Redacted().Catalog.Azure.ConnectionString)
	}
}
