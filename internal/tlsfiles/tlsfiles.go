// Package tlsfiles reads the PEM files a TLS section of floe's config
// names (catalog.rest.tls, kafka.tls), with errors that name the setting.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// RootCAs reads the CA certificates in the PEM file path; section names
// the config section ("kafka.tls") in errors.
func RootCAs(section, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s.ca-file: %w", section, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s.ca-file: no PEM certificate in %s", section, path)
	}
	return pool, nil
}

// KeyPair loads a client certificate and its key.
func KeyPair(section, certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s.cert-file: load key pair: %w", section, err)
	}
	return cert, nil
}

// Files are the TLS settings a section names.
type Files struct {
	CAFile, CertFile, KeyFile string
	ServerName                string
	InsecureSkipVerify        bool
}

// Client is the client TLS config of f: TLS 1.2 or later, the system's roots
// unless f.CAFile names others, and a client certificate when f.CertFile is
// set (the caller checks that KeyFile goes with it); section names f's
// config section in errors.
func Client(section string, f Files) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName, InsecureSkipVerify: f.InsecureSkipVerify} //nolint:gosec // opt-in
	if f.CAFile != "" {
		pool, err := RootCAs(section, f.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if f.CertFile != "" {
		cert, err := KeyPair(section, f.CertFile, f.KeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
