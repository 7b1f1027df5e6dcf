package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/sealpost/sealpost/tlsconfig"
)

// probeTimeout bounds the check that the servers answer, before a command
// talks to them: a server that is down or unreachable is reported within
// it, with its address and the cause, instead of after the command's own
// timeout (the client library retries; a person wants to know now).
const probeTimeout = 4 * time.Second

// unreachableError is a server that the probe could not reach: which one,
// at which address, and why (the wrapped error).
type unreachableError struct {
	what string // "key server" or "relay"
	addr string // host:port
	step string // "dial" or "tls"
	err  error
}

func (e *unreachableError) Error() string {
	cause := netCause(e.err)
	if e.timeout() {
		switch e.step {
		case "dial":
			cause = fmt.Sprintf("dial timeout (no TCP connection within %v)", probeTimeout)
		default:
			cause = fmt.Sprintf("TLS handshake timeout (connected, but no TLS answer within %v)", probeTimeout)
		}
	}
	return fmt.Sprintf("cannot reach the %s at %s: %s", e.what, e.addr, cause)
}

func (e *unreachableError) Unwrap() error { return e.err }

func (e *unreachableError) timeout() bool {
	return errors.Is(e.err, context.DeadlineExceeded) || isTimeout(e.err)
}

// probeTarget is one server to check.
type probeTarget struct {
	what string
	addr string // host:port
	host string
}

// targetOf parses a server URL into the address to dial.
func targetOf(what, raw string) (probeTarget, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return probeTarget{}, fmt.Errorf("%s URL %q: not a URL", what, raw)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return probeTarget{what: what, addr: net.JoinHostPort(u.Hostname(), port), host: u.Hostname()}, nil
}

// probeTLS is the TLS trust of fc for a server named host, as the client
// library builds it: the pin, else the CA file, else the system roots.
func probeTLS(fc *fileConfig, host string) (*tls.Config, error) {
	if fc.Pin != "" {
		fp, err := tlsconfig.ParseFingerprint(fc.Pin)
		if err != nil {
			return nil, usagef("pin %q: want 64 hex digits", fc.Pin)
		}
		return tlsconfig.ClientConfig(fp), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: host}
	if fc.CAFile != "" {
		pem, err := os.ReadFile(fc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("the CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the CA file %s holds no PEM certificate", fc.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// checkServers checks within probeTimeout that the key server and the
// relay of fc accept a TCP connection and complete a TLS handshake under
// the configured trust. The first failure is returned as an
// *unreachableError naming the server, its address and the cause (dial
// timeout, connection refused, TLS pin mismatch, ...).
func checkServers(ctx context.Context, fc *fileConfig) error {
	targets := []probeTarget{}
	ks, err := targetOf("key server", fc.Server)
	if err != nil {
		return err
	}
	targets = append(targets, ks)
	if fc.Relay != "" {
		r, err := targetOf("relay", fc.Relay)
		if err != nil {
			return err
		}
		if r.addr != ks.addr {
			targets = append(targets, r)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	errs := make(chan error, len(targets))
	for _, t := range targets {
		go func() { errs <- probe(ctx, fc, t) }()
	}
	var first error
	for range targets {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// probe dials one server and completes a TLS handshake.
func probe(ctx context.Context, fc *fileConfig, t probeTarget) error {
	cfg, err := probeTLS(fc, t.host)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		if ctx.Err() != nil && !isTimeout(err) {
			if errors.Is(ctx.Err(), context.Canceled) {
				return ctx.Err()
			}
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return &unreachableError{what: t.what, addr: t.addr, step: "dial", err: err}
	}
	defer conn.Close()
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !isTimeout(err) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return &unreachableError{what: t.what, addr: t.addr, step: "tls", err: err}
	}
	return nil
}
