package ksclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
)

// securityError reports a key server shown to misbehave: it wraps
// kt.ErrSecurity and, if not nil, the error underneath.
func securityError(cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if cause == nil {
		return fmt.Errorf("ksclient: %s: %w", msg, kt.ErrSecurity)
	}
	if errors.Is(cause, kt.ErrSecurity) {
		return fmt.Errorf("ksclient: %s: %w", msg, cause)
	}
	return fmt.Errorf("ksclient: %s: %w: %w", msg, kt.ErrSecurity, cause)
}

// hashes converts the hashes of a proof; a value that is not a hash is
// the server's fault.
func hashes(bs []api.Bytes) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		if len(b) != tlog.HashSize {
			return nil, securityError(nil, "a proof hash of %d bytes", len(b))
		}
		out[i] = tlog.Hash(b)
	}
	return out, nil
}

// refusedProof reports whether err is the key server refusing, as a bad
// request, a consistency proof between sizes its own log key signed: its
// log no longer holds the larger tree (a rollback).
func refusedProof(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusBadRequest
}

// ErrStale reports an answer verified under a checkpoint older than one the
// client has pinned, or older than the client's maximum age
// (spec/client.md §6.1). It is not evidence of misbehaviour on its own (a
// replica may lag, a cache may replay): the caller retries later.
var ErrStale = errors.New("ksclient: stale answer")

// Freshness is the age rule of spec/client.md §6.1: a checkpoint's log
// timestamp (spec/transparency.md §5.3) must be at most MaxAge before Now.
type Freshness struct {
	Now    time.Time
	MaxAge time.Duration
}

// Check applies the rule to cp. A checkpoint without a timestamp is stale;
// a timestamp ahead of Now is accepted (the local clock may be behind).
func (f Freshness) Check(cp *kt.Checkpoint) error {
	if f.MaxAge <= 0 || f.Now.IsZero() {
		return errors.New("ksclient: no freshness rule given")
	}
	if cp.Time.IsZero() {
		return fmt.Errorf("%w: the checkpoint of size %d carries no timestamp", ErrStale, cp.Size)
	}
	if age := f.Now.Sub(cp.Time); age > f.MaxAge {
		return fmt.Errorf("%w: the checkpoint of size %d was signed %v ago, more than %v", ErrStale, cp.Size, age.Round(time.Second), f.MaxAge)
	}
	return nil
}

// advance checks cp against the pinned checkpoint and returns the
// checkpoint to pin next (spec/transparency.md §7.1): the larger of the
// two, which must be consistent. A cp older than the pin is accepted only
// with a proof that it is a prefix of the pin; the pin never moves back.
func advance(ctx context.Context, c *Client, v *kt.Verifier, pinned, cp *kt.Checkpoint) (*kt.Checkpoint, error) {
	if pinned == nil {
		return v.Advance(nil, cp, nil)
	}
	older, newer := pinned, cp
	if cp.Size < pinned.Size {
		older, newer = cp, pinned
	}
	proof, err := consistency(ctx, c, uint64(older.Size), uint64(newer.Size))
	if err != nil {
		return nil, err
	}
	// Advance opens both notes again with v and, with older and newer in
	// this order, returns newer: the pin or a later checkpoint.
	next, err := v.Advance(older, newer, proof)
	if err != nil {
		return nil, securityError(err, "checkpoint of size %d against the pinned size %d", cp.Size, pinned.Size)
	}
	return next, nil
}

// CheckClaim checks one claimed bundle against the handle's verified entry
// (spec/keyserver.md §5.8, spec/keys.md §9.2) and returns the parsed
// bundle: it must verify under the entry's account key, and its
// certificate must be byte for byte the certificate of an active device of
// the entry with the id the claim names. Any failure wraps kt.ErrSecurity
// (and the crypto/keys error, if there is one): the key server served keys
// the log does not show.
func CheckClaim(entry *kt.Entry, cb api.ClaimedBundle) (*keys.Bundle, error) {
	if entry == nil {
		return nil, errors.New("ksclient: no verified entry to check a bundle against")
	}
	b, err := keys.ParseBundle(cb.Bundle)
	if err != nil {
		return nil, securityError(err, "the bundle of %s device %d", entry.Handle, cb.Device)
	}
	if err := keys.VerifyBundle(entry.Handle, entry.AccountKey, b); err != nil {
		return nil, securityError(err, "the bundle of %s device %d", entry.Handle, cb.Device)
	}
	if uint32(b.Certificate.Device) != cb.Device {
		return nil, securityError(nil, "the bundle claimed for %s device %d certifies device %d", entry.Handle, cb.Device, b.Certificate.Device)
	}
	for _, d := range entry.Devices {
		if uint32(d.Certificate.Device) != cb.Device {
			continue
		}
		if d.Revocation != nil {
			return nil, securityError(nil, "a bundle for %s device %d, which the log shows revoked", entry.Handle, cb.Device)
		}
		if !bytes.Equal(d.Certificate.Marshal(), b.Certificate.Marshal()) {
			return nil, securityError(nil, "the bundle of %s device %d carries another certificate than the log", entry.Handle, cb.Device)
		}
		return b, nil
	}
	return nil, securityError(nil, "a bundle for %s device %d, which the log does not show", entry.Handle, cb.Device)
}
