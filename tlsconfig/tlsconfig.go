// Package tlsconfig holds the TLS settings Sealpost's servers and their
// clients share: TLS 1.3 only, a self-signed certificate generated on first
// start and kept in the data directory, and certificate pinning by the
// SHA-256 fingerprint of the server's leaf certificate.
//
// A self-signed server has no name a public CA vouches for, so its clients
// pin it instead: the server prints Fingerprint(leaf) at start and a client
// built with ClientConfig accepts exactly that certificate, whatever name it
// dials.
package tlsconfig

import (
	"crypto/tls"
	"errors"
)

// ServerConfig returns a server configuration serving cert over TLS 1.3
// only; a client offering only TLS 1.2 or older fails the handshake.
func ServerConfig(cert tls.Certificate) (*tls.Config, error) {
	if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
		return nil, errors.New("tlsconfig: certificate without leaf or key")
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
	}, nil
}

// ClientConfig returns a TLS 1.3-only client configuration that accepts
// only a server whose leaf certificate has fingerprint pin. Chain and name
// are not checked: the pin replaces them. The check runs on every
// connection, resumed ones included (tls.Config.VerifyConnection).
func ClientConfig(pin Fingerprint) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The pin, checked in VerifyConnection, replaces the chain and
		// name verification.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			raw := make([][]byte, len(cs.PeerCertificates))
			for i, c := range cs.PeerCertificates {
				raw[i] = c.Raw
			}
			return pin.VerifyPeerCertificate(raw, nil)
		},
	}
}
