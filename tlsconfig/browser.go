package tlsconfig

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// ErrBrowserTrust is returned in the browser build (GOOS=js) for a client
// TLS configuration that sets its own certificate trust: roots from a CA
// file, a pinned fingerprint, client certificates or a server name. The
// browser makes every TLS connection (fetch, WebSocket) and checks
// certificates against its own roots; Go's TLS settings cannot reach it, so
// they are refused rather than silently ignored. It wraps
// errors.ErrUnsupported.
var ErrBrowserTrust = fmt.Errorf("tlsconfig: custom certificate trust (a CA file or a pinned certificate) cannot apply in the browser, which checks certificates itself: %w", errors.ErrUnsupported)

// BrowserCheck returns an error wrapping ErrBrowserTrust if c sets
// anything the browser's own TLS cannot honour; nil and a configuration
// that only bounds the TLS version pass. (The version bound is the
// server's to enforce there: Sealpost's servers speak TLS 1.3 only.)
func BrowserCheck(c *tls.Config) error {
	if c == nil {
		return nil
	}
	var set []string
	if c.RootCAs != nil {
		set = append(set, "RootCAs")
	}
	if c.InsecureSkipVerify {
		set = append(set, "InsecureSkipVerify")
	}
	if c.VerifyPeerCertificate != nil || c.VerifyConnection != nil {
		set = append(set, "certificate verification callbacks")
	}
	if len(c.Certificates) > 0 || c.GetClientCertificate != nil {
		set = append(set, "client certificates")
	}
	if c.ServerName != "" {
		set = append(set, "ServerName")
	}
	if len(set) > 0 {
		return fmt.Errorf("%w (%v)", ErrBrowserTrust, set)
	}
	return nil
}
