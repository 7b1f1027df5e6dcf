package keyserver

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/store"
)

// updateAttempts is how many times a device change is tried when the
// account changes under it (store.ErrConflict).
const updateAttempts = 4

// parseCertificate parses a certificate field.
func parseCertificate(b []byte) (*keys.DeviceCertificate, *apiError) {
	if len(b) == 0 {
		return nil, badRequest(api.CodeMalformedKey, "certificate missing")
	}
	if len(b) > keys.MaxCertificateSize {
		return nil, badRequest(api.CodeBadKeyLength, "certificate longer than %d bytes", keys.MaxCertificateSize)
	}
	cert, err := keys.ParseDeviceCertificate(b)
	if err != nil {
		return nil, badRequest(api.CodeMalformedKey, "certificate is not a valid device certificate")
	}
	return cert, nil
}

// signatureError maps a keys verification error.
func signatureError(what string, err error) *apiError {
	if errors.Is(err, keys.ErrWrongAccount) {
		return badRequest(api.CodeBadSignature, "%s names another handle or account key", what)
	}
	if errors.Is(err, keys.ErrMalformed) {
		return badRequest(api.CodeMalformedKey, "%s is malformed", what)
	}
	return badRequest(api.CodeBadSignature, "%s signature does not verify", what)
}

// handleRegister answers POST /v1/accounts (spec/keyserver.md §5.2).
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	if e := s.limitIP(r); e != nil {
		return 0, nil, e
	}
	var req api.RegisterRequest
	if e := s.decodeBody(w, r, &req); e != nil {
		return 0, nil, e
	}
	if err := keys.CheckHandle(req.Handle); err != nil {
		return 0, nil, badRequest(api.CodeInvalidHandle, "invalid handle")
	}
	if len(req.AccountKey) != keys.AccountKeySize {
		return 0, nil, badRequest(api.CodeBadKeyLength, "account_key must be %d bytes", keys.AccountKeySize)
	}
	aik, err := keys.ParseAccountPublicKey(req.AccountKey)
	if err != nil {
		return 0, nil, badRequest(api.CodeMalformedKey, "account_key is not a valid Ed25519 public key")
	}
	cert, e := parseCertificate(req.Certificate)
	if e != nil {
		return 0, nil, e
	}
	s.sigChecks.Add(1)
	if err := cert.VerifyFor(req.Handle, aik); err != nil {
		return 0, nil, signatureError("certificate", err)
	}
	if _, e := s.checkChallengeFields(req.Challenge, req.ChallengeSignature, s.audience); e != nil {
		return 0, nil, e
	}
	var invite []byte
	if s.invite {
		if req.Invite == "" {
			return 0, nil, newError(http.StatusForbidden, api.CodeInviteRequired, "registration needs an invite code")
		}
		h := inviteHash(req.Invite)
		invite = h[:]
	}
	if _, err := s.store.Account(r.Context(), req.Handle); err == nil {
		return 0, nil, newError(http.StatusConflict, api.CodeHandleTaken, "handle taken")
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, nil, internal("account", err)
	}
	if e := s.useChallenge(r, cert.Keys.Signing, req.Handle, cert.Device, req.Challenge, req.ChallengeSignature); e != nil {
		return 0, nil, e
	}
	entry := &kt.Entry{Handle: req.Handle, AccountKey: aik, Version: 1, Devices: []kt.Device{{Certificate: cert}}}
	if err := entry.Verify(); err != nil {
		return 0, nil, signatureError("certificate", err)
	}
	idx, err := s.store.UpdateKeySet(r.Context(), store.KeySetUpdate{
		Handle:     req.Handle,
		AccountKey: aik,
		Invite:     invite,
		AddDevice:  &store.Device{ID: uint32(cert.Device), Certificate: cert.Marshal()},
		Leaf:       entry.Marshal(),
		Now:        s.now(),
	})
	if e := updateError(err); e != nil {
		return 0, nil, e
	}
	s.metrics.appended()
	s.awaitSequenced(r.Context(), entry)
	s.log.InfoContext(r.Context(), "keyserver: account registered", "log_index", idx)
	return http.StatusCreated, api.KeySetResponse{Version: 1, LogIndex: idx}, nil
}

// updateError maps a store.UpdateKeySet error.
func updateError(err error) *apiError {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrHandleTaken):
		return newError(http.StatusConflict, api.CodeHandleTaken, "handle taken")
	case errors.Is(err, store.ErrInvite):
		return newError(http.StatusForbidden, api.CodeInviteRequired, "invite code unknown or already used")
	case errors.Is(err, store.ErrDeviceExists):
		return newError(http.StatusConflict, api.CodeDeviceExists, "device id already used by this account")
	case errors.Is(err, store.ErrDeviceRevoked):
		return newError(http.StatusConflict, api.CodeDeviceRevoked, "device already revoked")
	case errors.Is(err, store.ErrNotFound):
		return newError(http.StatusNotFound, api.CodeUnknownDevice, "no such account or device")
	case errors.Is(err, store.ErrConflict):
		return newError(http.StatusConflict, api.CodeConflict, "account changed concurrently; retry")
	}
	return internal("update key set", err)
}

// handleAddDevice answers POST /v1/accounts/{handle}/devices
// (spec/keyserver.md §5.4).
func (s *Server) handleAddDevice(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	if e := s.limitIP(r); e != nil {
		return 0, nil, e
	}
	handle := r.PathValue("handle")
	if err := keys.CheckHandle(handle); err != nil {
		return 0, nil, badRequest(api.CodeInvalidHandle, "invalid handle")
	}
	var req api.AddDeviceRequest
	if e := s.decodeBody(w, r, &req); e != nil {
		return 0, nil, e
	}
	cert, e := parseCertificate(req.Certificate)
	if e != nil {
		return 0, nil, e
	}
	if _, e := s.checkChallengeFields(req.Challenge, req.ChallengeSignature, s.audience); e != nil {
		return 0, nil, e
	}
	acct, e := s.account(r, handle)
	if e != nil {
		return 0, nil, e
	}
	s.sigChecks.Add(1)
	if err := cert.VerifyFor(handle, keys.AccountPublicKey(acct.AccountKey)); err != nil {
		return 0, nil, signatureError("certificate", err)
	}
	if e := checkNewID(acct, uint32(cert.Device)); e != nil {
		return 0, nil, e
	}
	if e := checkNotRevokedKeys(acct, cert); e != nil {
		return 0, nil, e
	}
	if e := s.useChallenge(r, cert.Keys.Signing, handle, cert.Device, req.Challenge, req.ChallengeSignature); e != nil {
		return 0, nil, e
	}
	add := &store.Device{ID: uint32(cert.Device), Certificate: cert.Marshal()}
	return s.changeKeySet(r, acct, func(a *store.Account) (*store.KeySetUpdate, *apiError) {
		if e := checkNewID(a, add.ID); e != nil {
			return nil, e
		}
		if e := checkNotRevokedKeys(a, cert); e != nil {
			return nil, e
		}
		a.Devices = append(a.Devices, *add)
		return &store.KeySetUpdate{AddDevice: add}, nil
	})
}

// handleRevoke answers POST /v1/accounts/{handle}/devices/{id}/revoke
// (spec/keyserver.md §5.5, authority in §1.1): the account key signs the
// revocation, and the caller's key server token names another device of
// the same account that is active in the key set the change is made to.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	if e := s.limitIP(r); e != nil {
		return 0, nil, e
	}
	t, e := s.authenticate(r)
	if e != nil {
		return 0, nil, e
	}
	handle := r.PathValue("handle")
	if err := keys.CheckHandle(handle); err != nil {
		return 0, nil, badRequest(api.CodeInvalidHandle, "invalid handle")
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 32)
	if err != nil || id == 0 || strconv.FormatUint(id, 10) != r.PathValue("id") {
		return 0, nil, badRequest(api.CodeBadRequest, "device id must be a decimal integer in [1, 2^32-1]")
	}
	var req api.RevokeDeviceRequest
	if e := s.decodeBody(w, r, &req); e != nil {
		return 0, nil, e
	}
	rev, err := keys.ParseDeviceRevocation(req.Revocation)
	if err != nil {
		return 0, nil, badRequest(api.CodeMalformedKey, "revocation is not a valid device revocation")
	}
	if uint64(rev.Device) != id || rev.Handle != handle {
		return 0, nil, badRequest(api.CodeBadRequest, "revocation names another handle or device than the path")
	}
	if t.Handle != handle {
		return 0, nil, newError(http.StatusForbidden, api.CodeForbidden, "the token is for a device of another account")
	}
	if uint64(t.Device) == id {
		return 0, nil, badRequest(api.CodeBadRequest, "a device cannot revoke itself; revoke it from another active device")
	}
	acct, e := s.account(r, handle)
	if e != nil {
		return 0, nil, e
	}
	if _, e := activeDevice(acct, uint32(t.Device)); e != nil {
		return 0, nil, e
	}
	s.sigChecks.Add(1)
	if err := rev.VerifyFor(handle, keys.AccountPublicKey(acct.AccountKey)); err != nil {
		return 0, nil, signatureError("revocation", err)
	}
	revoke := &store.Device{ID: uint32(id), Revocation: rev.Marshal()}
	return s.changeKeySet(r, acct, func(a *store.Account) (*store.KeySetUpdate, *apiError) {
		// Checked again on the key set this change is made to: the store
		// writes it only if the account is still at this version, so a
		// caller revoked meanwhile is refused here on the retry.
		if _, e := activeDevice(a, uint32(t.Device)); e != nil {
			return nil, e
		}
		i := slices.IndexFunc(a.Devices, func(d store.Device) bool { return d.ID == revoke.ID })
		if i < 0 {
			return nil, newError(http.StatusNotFound, api.CodeUnknownDevice, "no such device in this account")
		}
		if a.Devices[i].Revocation != nil {
			return nil, newError(http.StatusConflict, api.CodeDeviceRevoked, "device already revoked")
		}
		a.Devices[i].Revocation = revoke.Revocation
		return &store.KeySetUpdate{Revoke: revoke}, nil
	})
}

// changeKeySet applies a device change to acct, built by change from the
// account as read (which it modifies into the new key set), appending the
// new entry to the log. When the account changed meanwhile it reads it
// again and retries.
func (s *Server) changeKeySet(r *http.Request, acct *store.Account, change func(*store.Account) (*store.KeySetUpdate, *apiError)) (int, any, *apiError) {
	for attempt := 1; ; attempt++ {
		read := acct.Version
		prev, err := entryOf(acct)
		if err != nil {
			return 0, nil, internal("stored key set", err)
		}
		u, e := change(acct)
		if e != nil {
			return 0, nil, e
		}
		acct.Version = read + 1
		entry, err := entryOf(acct)
		if err != nil {
			return 0, nil, internal("stored key set", err)
		}
		// The request was checked; these catch a server bug before it
		// reaches the log, where monitors would see it
		// (spec/transparency.md §7.3).
		if err := entry.Verify(); err != nil {
			return 0, nil, internal("new key set", err)
		}
		if err := kt.CheckSuccessor(prev, entry); err != nil {
			return 0, nil, internal("new key set", err)
		}
		u.Handle, u.ExpectedVersion, u.Leaf, u.Now = acct.Handle, read, entry.Marshal(), s.now()
		idx, err := s.store.UpdateKeySet(r.Context(), *u)
		if errors.Is(err, store.ErrConflict) && attempt < updateAttempts {
			var e *apiError
			if acct, e = s.account(r, acct.Handle); e != nil {
				return 0, nil, e
			}
			continue
		}
		if e := updateError(err); e != nil {
			return 0, nil, e
		}
		s.metrics.appended()
		s.awaitSequenced(r.Context(), entry)
		return http.StatusOK, api.KeySetResponse{Version: acct.Version, LogIndex: idx}, nil
	}
}

// checkNewID checks that id may name a new device of a: it must be above
// every id the account has used, so that the device is added at the end
// of the entry's list (spec/keyserver.md §5.4, spec/transparency.md §7.3).
func checkNewID(a *store.Account, id uint32) *apiError {
	var highest uint32
	for _, d := range a.Devices {
		highest = max(highest, d.ID)
	}
	if id <= highest {
		return newError(http.StatusConflict, api.CodeDeviceExists, "device id %d not above the highest id this account has used (%d)", id, highest)
	}
	if len(a.Devices) >= kt.MaxDevices {
		return newError(http.StatusConflict, api.CodeTooManyDevices, "an account has at most %d devices, revoked ones included", kt.MaxDevices)
	}
	return nil
}

// checkNotRevokedKeys refuses a new device whose signing or agreement key
// is a revoked device's of a (spec/keyserver.md §1.1): a revoked device's
// keys are never certified again, under any id.
func checkNotRevokedKeys(a *store.Account, cert *keys.DeviceCertificate) *apiError {
	for _, d := range a.Devices {
		if d.Revocation == nil {
			continue
		}
		old, err := keys.ParseDeviceCertificate(d.Certificate)
		if err != nil {
			return internal("stored certificate", err)
		}
		if subtle.ConstantTimeCompare(old.Keys.Signing[:], cert.Keys.Signing[:]) == 1 ||
			subtle.ConstantTimeCompare(old.Keys.DH[:], cert.Keys.DH[:]) == 1 {
			return newError(http.StatusForbidden, api.CodeDeviceRevoked, "these device keys belong to a revoked device")
		}
	}
	return nil
}
