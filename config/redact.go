package config

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// redacted replaces secrets in [Config.Redacted].
const redacted = "REDACTED"

// Redacted returns a copy of c that is safe to log: the REST token, the
// secret half of the OAuth2 credential, the S3 secret key and session token,
// the GCS JSON key, the Azure account key, SAS token and the key (or
// signature) inside the Azure connection string,
// a password inside the SQL DSN, Kafka's SASL password, OAUTHBEARER token
// and client secret, and property or header values whose names
// look secret (token, secret, password, credential, authorization, api-key)
// are replaced with "REDACTED". c itself is not changed.
func (c Config) Redacted() Config {
	out := c
	cat := &out.Catalog
	cat.REST.Token = mask(cat.REST.Token)
	if id, _, ok := strings.Cut(cat.REST.Credential, ":"); ok {
		cat.REST.Credential = id + ":" + redacted // the client ID helps debugging
	} else {
		cat.REST.Credential = mask(cat.REST.Credential)
	}
	cat.REST.Headers = redactMap(cat.REST.Headers)
	cat.S3.SecretAccessKey = mask(cat.S3.SecretAccessKey)
	cat.S3.SessionToken = mask(cat.S3.SessionToken)
	cat.Glue.SecretAccessKey = mask(cat.Glue.SecretAccessKey)
	cat.Glue.SessionToken = mask(cat.Glue.SessionToken)
	cat.GCS.CredentialsJSON = mask(cat.GCS.CredentialsJSON)
	cat.Azure.ConnectionString = redactConnectionString(cat.Azure.ConnectionString)
	cat.Azure.AccountKey = mask(cat.Azure.AccountKey)
	cat.Azure.SASToken = mask(cat.Azure.SASToken)
	cat.SQL.DSN = redactDSN(cat.SQL.DSN)
	out.Kafka.SASL.Password = mask(out.Kafka.SASL.Password)
	out.Kafka.SASL.OAuth.Token = mask(out.Kafka.SASL.OAuth.Token)
	out.Kafka.SASL.OAuth.ClientSecret = mask(out.Kafka.SASL.OAuth.ClientSecret)
	out.Kafka.SASL.OAuth.Extensions = redactMap(out.Kafka.SASL.OAuth.Extensions)
	out.SchemaRegistry.Password = mask(out.SchemaRegistry.Password)
	out.SchemaRegistry.Token = mask(out.SchemaRegistry.Token)
	cat.Properties = redactMap(cat.Properties)
	out.Tables = slices.Clone(c.Tables)
	for i := range out.Tables {
		out.Tables[i].Properties = redactMap(out.Tables[i].Properties)
	}
	return out
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// secretWords mark a property, header or query parameter name as secret.
var secretWords = []string{"secret", "token", "password", "passwd", "credential", "authorization", "api-key", "apikey", "api_key", "cookie"}

func isSecret(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// redactMap returns a copy of m with secret-looking values masked.
func redactMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k, v := range out {
		if isSecret(k) {
			out[k] = mask(v)
		}
	}
	return out
}

// dsnPassword finds password=… in a key/value DSN ("host=h password=p").
var dsnPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// redactDSN masks the password of a URL DSN (user:pass@, ?password=) or of a
// key/value DSN.
func redactDSN(dsn string) string {
	if !strings.Contains(dsn, "://") {
		return dsnPassword.ReplaceAllString(dsn, "${1}"+redacted)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// Unparseable (say, an unescaped "@" in the password): mask all
		// that follows the user name up to the last "@".
		scheme, rest, _ := strings.Cut(dsn, "://")
		at := strings.LastIndex(rest, "@")
		if at < 0 {
			return dsnPassword.ReplaceAllString(dsn, "${1}"+redacted)
		}
		user, _, _ := strings.Cut(rest[:at], ":")
		return scheme + "://" + user + ":" + redacted + rest[at:]
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	q := u.Query()
	changed := false
	for k := range q {
		if isSecret(k) {
			q[k] = []string{redacted}
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// connStringSecret finds the secrets of an Azure connection string.
var connStringSecret = regexp.MustCompile(`(?i)\b(AccountKey|SharedAccessSignature)=[^;]*`)

// redactConnectionString masks the account key and SAS of an Azure
// connection string, keeping the account name and endpoints for debugging.
func redactConnectionString(s string) string {
	return connStringSecret.ReplaceAllString(s, "${1}="+redacted)
}
