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
