package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"syscall"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/tlsconfig"
)

// This file is the presentation layer of errors: what a person (or, with
// --json, a script) is told when a command fails. The libraries' error
// strings begin with their package name ("client: ", "ksclient: "), as Go
// errors do; people are shown the same text without those prefixes, and a
// network failure as the address and the cause.

// packagePrefix matches a package name that begins an error message or
// one of its ": "-separated parts. Only the module's own packages (and
// the standard library's crypto/tls) are listed, so an ordinary word
// followed by a colon is left alone.
var packagePrefix = regexp.MustCompile(`(^|: |\()(?:client|ksclient|localstore|relaylink|relayclient|keys|kt|seal|pqxdh|ratchet|token|api|wire|tlsconfig|keyserver|relay|revocation|tls|x509): `)

// httpPrefix matches what the key server client puts before a failed
// request's error: "GET /v2/accounts/bob: ".
var httpPrefix = regexp.MustCompile(`(?:GET|POST|PUT|DELETE) /\S*: $`)

// stripPrefixes removes package-name prefixes from msg, and a reason
// that only repeats the message once they are gone ("wrong passphrase
// (wrong passphrase)").
func stripPrefixes(msg string) string {
	for {
		s := packagePrefix.ReplaceAllString(msg, "$1")
		if s == msg {
			break
		}
		msg = s
	}
	if head, ok := strings.CutSuffix(msg, ")"); ok {
		if i := strings.LastIndex(head, " ("); i > 0 && head[:i] == head[i+2:] {
			return head[:i]
		}
	}
	return msg
}

// describe is the one-line message that err is shown as, free of package
// prefixes; a network failure says which address could not be reached
// and why.
func describe(err error) string {
	msg := err.Error()
	var ue *unreachableError
	var uerr *url.Error
	switch {
	case errors.As(err, &ue):
		// Already worded for people (probe.go).
	case errors.As(err, &uerr) && (isNetwork(err) || isTLSFailure(err)):
		// "client: looking up bob: ksclient: GET /v2/accounts/bob: Get
		// "https://…": dial tcp 127.0.0.1:8443: connect: connection
		// refused" becomes "looking up bob: cannot reach https://…
		// (127.0.0.1:8443): connection refused".
		inner := uerr.Error()
		before, after := "", ""
		if i := strings.Index(msg, inner); i >= 0 {
			before, after = msg[:i], msg[i+len(inner):]
		}
		before = httpPrefix.ReplaceAllString(before, "")
		msg = before + "cannot reach " + serverOf(uerr.URL) + ": " + netCause(uerr.Err) + after
	}
	return oneLine(stripPrefixes(msg))
}

// serverOf is "https://host:port (host:port)" for a request URL: the
// server, without the path.
func serverOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

// isTLSFailure reports a refused server certificate.
func isTLSFailure(err error) bool {
	var (
		verr  *tls.CertificateVerificationError
		uaerr x509.UnknownAuthorityError
		herr  x509.HostnameError
		cerr  x509.CertificateInvalidError
	)
	return errors.Is(err, tlsconfig.ErrPinMismatch) || errors.As(err, &verr) || errors.As(err, &uaerr) ||
		errors.As(err, &herr) || errors.As(err, &cerr)
}

// netCause says in words why a connection failed.
func netCause(err error) string {
	var (
		dnerr *net.DNSError
		herr  x509.HostnameError
		uaerr x509.UnknownAuthorityError
		cerr  x509.CertificateInvalidError
		rherr tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, tlsconfig.ErrPinMismatch):
		return "TLS pin mismatch: the server's certificate is not the one pinned with --pin"
	case errors.As(err, &herr):
		return fmt.Sprintf("TLS certificate not valid for this name (%v)", stripPrefixes(herr.Error()))
	case errors.As(err, &uaerr):
		return "TLS certificate signed by an unknown authority (pass --ca with the server's certificate, or --pin)"
	case errors.As(err, &cerr):
		return fmt.Sprintf("TLS certificate refused (%v)", stripPrefixes(cerr.Error()))
	case errors.As(err, &rherr):
		return "it does not speak TLS"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the server"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &dnerr):
		if dnerr.IsNotFound {
			return fmt.Sprintf("no such host %q", dnerr.Name)
		}
		return fmt.Sprintf("looking up %q failed", dnerr.Name)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timed out"
	}
	return stripPrefixes(oneLine(err.Error()))
}

func isTimeout(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// noAccountError is a handle the key server does not know.
type noAccountError struct {
	handle string
	err    error
}

func (e *noAccountError) Error() string {
	return fmt.Sprintf("there is no account %q on the key server (check the spelling)", e.handle)
}

func (e *noAccountError) Unwrap() error { return e.err }

// checkAccount turns the client's ErrUnknownHandle for handle into a
// noAccountError; a key server that denies an account this device knows
// is a security failure and stays one.
func checkAccount(handle string, err error) error {
	if errors.Is(err, client.ErrUnknownHandle) && !errors.Is(err, client.ErrSecurity) {
		return &noAccountError{handle: handle, err: err}
	}
	return err
}

// errorCode is the --json "error" code of err: a short stable word a
// script can switch on (documented in help and README). The exit status
// groups them.
func errorCode(err error) string {
	var (
		ue *unreachableError
		u  *usageError
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, tlsconfig.ErrPinMismatch):
		return "tls_pin_mismatch"
	case isTLSFailure(err):
		return "tls_untrusted"
	case errors.Is(err, errSecurityEvents):
		return "security_events"
	case errors.As(err, &u):
		return "usage"
	case errors.Is(err, errStoreExists):
		return "store_exists"
	}
	if code := client.ErrorCode(err); code != "" {
		return code
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.As(err, &ue) && ue.timeout():
		return "timeout"
	case isNetwork(err) && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err)):
		return "timeout"
	case isNetwork(err):
		return "unreachable"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return "failure"
}

// errorCodesHelp lists every --json error code by exit status, for help
// (README.md has the same table).
const errorCodesHelp = `With --json, a failure is one JSON object on standard error, such as
  {"error":"connection_refused","message":"cannot reach the key server at
  127.0.0.1:8443: connection refused ...","exit":5}
(the human line otherwise). The codes, by exit status:
  1  failure, handle_taken, interrupted, closed, group_refused, attachment_gone,
     file_refused, push_refused, link_expired, link_not_found,
     link_declined, link_aborted, link_timeout, link_relay, link_not_stored
  2  usage, invalid_content
  3  wrong_passphrase, locked, no_store, not_registered, store_exists,
     corrupt_store, unknown_message, not_sender, blocked, unknown_group
  4  tls_pin_mismatch, tls_untrusted, safety_number_mismatch, key_changed,
     device_revoked, security_events, security, attachment_corrupt
  5  connection_refused, timeout, unreachable, stale, no_quorum, queued,
     not_connected
  6  no_such_account
`

// jsonError is a failure with --json, on standard error.
type jsonError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	Command string `json:"command,omitempty"`
	Exit    int    `json:"exit"`
}
