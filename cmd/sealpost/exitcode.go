package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"syscall"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/link"
	"github.com/sealpost/sealpost/tlsconfig"
)

// Exit statuses (documented in the package comment and in help).
const (
	exitOK        = 0
	exitFailure   = 1
	exitUsage     = 2
	exitLocal     = 3
	exitSecurity  = 4
	exitNetwork   = 5
	exitNoAccount = 6
)

// exitCode maps an error to sealpost's exit status. Security comes first:
// a refused certificate reaches us wrapped in network errors.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if isSecurity(err) {
		return exitSecurity
	}
	for _, target := range []error{
		client.ErrWrongPassphrase, client.ErrWrongIdentity, client.ErrLocked,
		client.ErrNoStore, client.ErrNotRegistered, client.ErrAlreadyRegistered,
		client.ErrCorrupt, errStoreExists, client.ErrUnknownMessage, client.ErrNotSender, client.ErrBlocked, client.ErrUnknownGroup,
	} {
		if errors.Is(err, target) {
			return exitLocal
		}
	}
	var u *usageError
	if errors.As(err, &u) || errors.Is(err, client.ErrInvalidHandle) || errors.Is(err, keys.ErrInvalidHandle) ||
		errors.Is(err, client.ErrInvalidContent) || errors.Is(err, client.ErrInvalidPushTarget) ||
		errors.Is(err, link.ErrMalformedURI) || errors.Is(err, link.ErrUnsupportedVersion) {
		return exitUsage
	}
	if errors.Is(err, client.ErrUnknownHandle) {
		return exitNoAccount
	}
	if isNetwork(err) || errors.Is(err, client.ErrQueued) {
		return exitNetwork
	}
	return exitFailure
}

// isSecurity reports whether err is a security failure: exit status 4.
func isSecurity(err error) bool {
	for _, target := range []error{
		client.ErrSecurity, client.ErrKeyChanged, keys.ErrSafetyNumberMismatch,
		tlsconfig.ErrPinMismatch, errSecurityEvents, client.ErrDeviceRevoked,
		client.ErrAttachmentCorrupt,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var (
		verr  *tls.CertificateVerificationError
		uaerr x509.UnknownAuthorityError
		herr  x509.HostnameError
		cerr  x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &uaerr) || errors.As(err, &herr) || errors.As(err, &cerr)
}

// isNetwork reports whether err says the server could not be reached or
// did not answer in time: exit status 5.
func isNetwork(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, client.ErrStale) || errors.Is(err, client.ErrNoQuorum) ||
		errors.Is(err, client.ErrNotConnected) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var (
		nerr  net.Error
		dnerr *net.DNSError
		operr *net.OpError
	)
	return errors.As(err, &nerr) || errors.As(err, &dnerr) || errors.As(err, &operr)
}

// errStoreExists refuses to init or restore over an existing store.
var errStoreExists = errors.New("already holds a sealpost store")

// errSecurityEvents ends a listen or chat that saw security events.
var errSecurityEvents = errors.New("the client reported security events (see above)")

// hint suggests what to do about err, or returns "".
func hint(err error) string {
	switch {
	case errors.Is(err, client.ErrQueued) && errors.Is(err, errFileQueued):
		return "the file is kept in DIR and its upload goes on the next time sealpost runs ('sealpost uploads --resume' finishes it now); do not send it again"
	case errors.Is(err, client.ErrQueued):
		return "the message is queued in DIR and is sent the next time sealpost runs with the relay reachable; do not send it again"
	case errors.Is(err, client.ErrAttachmentCorrupt):
		return "the blob service served bytes that are not the sender's file: nothing was written; try again later, and tell the server's operator if it lasts"
	case errors.Is(err, client.ErrAttachmentGone):
		return "the blob service no longer has the file (files expire); ask the sender to send it again"
	case errors.Is(err, client.ErrFileRefused):
		return "the blob service refused the file (too large, or over your account's quota); nothing was sent"
	case errors.Is(err, client.ErrPushRefused):
		return "'sealpost push info' shows which wake-ups this relay sends; the registration was left as it was"
	case errors.Is(err, client.ErrKeyChanged):
		return "compare safety numbers with 'sealpost verify HANDLE', then 'sealpost accept HANDLE'"
	case errors.Is(err, tlsconfig.ErrPinMismatch):
		return "the server's certificate is not the pinned one; check --pin in init"
	case isSecurity(err) && !errors.Is(err, client.ErrSecurity) && !errors.Is(err, keys.ErrSafetyNumberMismatch) && !errors.Is(err, errSecurityEvents):
		return "for a self-signed sealpostd, pass --pin with the fingerprint it prints"
	case errors.Is(err, client.ErrNoStore):
		return "run 'sealpost init HANDLE' first, or pass --dir"
	case errors.Is(err, client.ErrUnknownMessage):
		return "'sealpost history HANDLE' lists the messages this device has; run 'sealpost listen' to receive what is waiting"
	case errors.Is(err, client.ErrNotSender):
		return "only the message's sender can edit or delete it; react or reply instead"
	case errors.Is(err, client.ErrNotRegistered):
		return "registration did not finish: remove the directory and run 'sealpost init' again"
	case errors.Is(err, client.ErrLocked):
		return "another sealpost process is using this directory"
	case errors.Is(err, client.ErrHandleTaken):
		return "choose another handle"
	case errors.Is(err, client.ErrNoAccountKey):
		return "do this on the account's first device, which holds the account key"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, client.ErrNoQuorum):
		return "the witnesses have not cosigned the key server's newest checkpoint: try again in a minute; if it lasts, the key server may be showing this device a log the witnesses refused"
	case isNetwork(err) && !isSecurity(err):
		return "is sealpostd running, and are --server and --relay in DIR/config.json right?"
	}
	return ""
}
