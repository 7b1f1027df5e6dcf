package keyserver

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store"
)

// authenticate checks the request's bearer token (spec/keyserver.md §2.3):
// a token of this server for audience "keyserver:<Name>".
func (s *Server) authenticate(r *http.Request) (*token.Token, *apiError) {
	h := r.Header.Get("Authorization")
	scheme, text, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || text == "" {
		return nil, newError(http.StatusUnauthorized, api.CodeInvalidToken, "missing bearer token")
	}
	t, err := s.verifier.Verify(text, s.now())
	switch {
	case err == nil:
		return t, nil
	case errors.Is(err, token.ErrExpired), errors.Is(err, token.ErrNotYetValid):
		// Outside its validity window: the client fetches a new token. Not
		// yet valid is token_expired too, as at the relay (spec/errors.md §2).
		return nil, newError(http.StatusUnauthorized, api.CodeTokenExpired, "token expired or not yet valid")
	case errors.Is(err, token.ErrWrongAudience):
		return nil, newError(http.StatusUnauthorized, api.CodeWrongAudience, "token is for another service")
	default:
		return nil, newError(http.StatusUnauthorized, api.CodeInvalidToken, "token refused")
	}
}

// parsePrekey parses one uploaded prekey and checks its kind: the cheap
// checks, made for the whole upload before any signature is verified.
func parsePrekey(b []byte, want keys.PrekeyKind) (*keys.Prekey, *apiError) {
	p, err := keys.ParsePrekey(b)
	if err != nil {
		return nil, badRequest(api.CodeMalformedKey, "%v is not a valid prekey", want)
	}
	if p.Kind != want {
		return nil, badRequest(api.CodeWrongPrekeyKind, "a %v where a %v belongs", p.Kind, want)
	}
	return p, nil
}

// parseBatch parses a batch of one-time prekeys: each of its kind, ids
// distinct within the batch and not among held, the ids the device holds
// (ascending), and the device left holding at most max.
func parseBatch(batch []api.Bytes, want keys.PrekeyKind, held []uint32, max int) ([]*keys.Prekey, *apiError) {
	out := make([]*keys.Prekey, 0, len(batch))
	ids := make(map[uint32]bool, len(batch))
	for _, b := range batch {
		p, e := parsePrekey(b, want)
		if e != nil {
			return nil, e
		}
		if ids[p.ID] {
			return nil, newError(http.StatusConflict, api.CodeDuplicatePrekey, "%v id repeated in the upload", want)
		}
		ids[p.ID] = true
		out = append(out, p)
	}
	for _, p := range out {
		if _, found := slices.BinarySearch(held, p.ID); found {
			return nil, newError(http.StatusConflict, api.CodeDuplicatePrekey, "a %v id is already held for this device", want)
		}
	}
	if len(out) > 0 && len(held)+len(out) > max {
		return nil, newError(http.StatusConflict, api.CodeTooManyPrekeys, "a device holds at most %d one-time prekeys of each kind", max)
	}
	return out, nil
}

// verifyPrekeys verifies parsed prekeys under the device signing key,
// returning them as the store keeps them.
func (s *Server) verifyPrekeys(ps []*keys.Prekey, raw []api.Bytes, signing [keys.SigningKeySize]byte) ([]store.Prekey, *apiError) {
	out := make([]store.Prekey, 0, len(ps))
	for i, p := range ps {
		s.sigChecks.Add(1)
		if err := p.Verify(signing); err != nil {
			if errors.Is(err, keys.ErrBadSignature) {
				return nil, badRequest(api.CodeBadSignature, "%v signature does not verify under the device key", p.Kind)
			}
			return nil, badRequest(api.CodeMalformedKey, "%v is not a valid prekey", p.Kind)
		}
		out = append(out, store.Prekey{ID: p.ID, Encoded: raw[i]})
	}
	return out, nil
}

// handleUpload answers PUT /v1/prekeys (spec/keyserver.md §5.7). Every
// check that needs no signature runs first — sizes, encodings, kinds, ids
// repeated or already held, the per-device cap — so a refused upload costs
// at most one store read unless its signatures are what is wrong.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	t, e := s.authenticate(r)
	if e != nil {
		return 0, nil, e
	}
	if e := s.limitUpload(t.Handle, uint32(t.Device)); e != nil {
		return 0, nil, e
	}
	var req api.PrekeyUpload
	if e := s.decodeBody(w, r, &req); e != nil {
		return 0, nil, e
	}
	if n := max(len(req.OneTimePrekeys), len(req.OneTimeKEMPrekeys)); n > s.limits.MaxOneTimePerUpload {
		return 0, nil, badRequest(api.CodeTooManyPrekeys, "at most %d one-time prekeys of each kind per upload", s.limits.MaxOneTimePerUpload)
	}
	acct, e := s.account(r, t.Handle)
	if e != nil {
		return 0, nil, e
	}
	cert, e := activeDevice(acct, uint32(t.Device))
	if e != nil {
		return 0, nil, e
	}
	var medium []*keys.Prekey // the signed and last-resort prekeys sent
	var mediumRaw []api.Bytes
	for _, f := range []struct {
		raw  api.Bytes
		kind keys.PrekeyKind
	}{{req.SignedPrekey, keys.SignedPrekey}, {req.LastResortKEMPrekey, keys.LastResortKEMPrekey}} {
		if f.raw == nil {
			continue
		}
		p, e := parsePrekey(f.raw, f.kind)
		if e != nil {
			return 0, nil, e
		}
		medium, mediumRaw = append(medium, p), append(mediumRaw, f.raw)
	}
	var held store.HeldIDs
	if len(req.OneTimePrekeys) > 0 || len(req.OneTimeKEMPrekeys) > 0 {
		var err error
		if held, err = s.store.PrekeyIDs(r.Context(), t.Handle, uint32(t.Device)); err != nil {
			return 0, nil, uploadError(err, s.limits.MaxOneTimePerDevice)
		}
	}
	oneTime, e := parseBatch(req.OneTimePrekeys, keys.OneTimePrekey, held.OneTime, s.limits.MaxOneTimePerDevice)
	if e != nil {
		return 0, nil, e
	}
	oneTimeKEM, e := parseBatch(req.OneTimeKEMPrekeys, keys.OneTimeKEMPrekey, held.OneTimeKEM, s.limits.MaxOneTimePerDevice)
	if e != nil {
		return 0, nil, e
	}
	signing := cert.Keys.Signing
	u := store.Upload{Handle: t.Handle, Device: uint32(t.Device), MaxOneTime: s.limits.MaxOneTimePerDevice}
	checked, e := s.verifyPrekeys(medium, mediumRaw, signing)
	if e != nil {
		return 0, nil, e
	}
	for i := range checked {
		if medium[i].Kind == keys.SignedPrekey {
			u.Signed = &checked[i]
		} else {
			u.LastResort = &checked[i]
		}
	}
	if u.OneTime, e = s.verifyPrekeys(oneTime, req.OneTimePrekeys, signing); e != nil {
		return 0, nil, e
	}
	if u.OneTimeKEM, e = s.verifyPrekeys(oneTimeKEM, req.OneTimeKEMPrekeys, signing); e != nil {
		return 0, nil, e
	}
	if err := s.store.UploadPrekeys(r.Context(), u); err != nil {
		return 0, nil, uploadError(err, s.limits.MaxOneTimePerDevice)
	}
	return s.counts(r, t)
}

// uploadError maps a store error of an upload.
func uploadError(err error, max int) *apiError {
	switch {
	case errors.Is(err, store.ErrTooManyPrekeys):
		return newError(http.StatusConflict, api.CodeTooManyPrekeys, "a device holds at most %d one-time prekeys of each kind", max)
	case errors.Is(err, store.ErrDuplicatePrekey):
		return newError(http.StatusConflict, api.CodeDuplicatePrekey, "a prekey id is already held for this device")
	case errors.Is(err, store.ErrDeviceRevoked):
		return newError(http.StatusForbidden, api.CodeDeviceRevoked, "device revoked")
	case errors.Is(err, store.ErrNotFound):
		return newError(http.StatusNotFound, api.CodeUnknownDevice, "no such device in this account")
	}
	return internal("upload prekeys", err)
}

// handleCount answers GET /v1/prekeys/count (spec/keyserver.md §5.7).
func (s *Server) handleCount(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	t, e := s.authenticate(r)
	if e != nil {
		return 0, nil, e
	}
	return s.counts(r, t)
}

func (s *Server) counts(r *http.Request, t *token.Token) (int, any, *apiError) {
	c, err := s.store.CountPrekeys(r.Context(), t.Handle, uint32(t.Device))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil, newError(http.StatusNotFound, api.CodeUnknownDevice, "no such device in this account")
	case errors.Is(err, store.ErrDeviceRevoked):
		return 0, nil, newError(http.StatusForbidden, api.CodeDeviceRevoked, "device revoked")
	case err != nil:
		return 0, nil, internal("count prekeys", err)
	}
	return http.StatusOK, api.PrekeyCounts{OneTime: c.OneTime, OneTimeKEM: c.OneTimeKEM}, nil
}

// handleClaim answers POST /v1/accounts/{handle}/claim (spec/keyserver.md
// §5.8): one bundle per active device of handle that has published its
// signed and last-resort prekeys.
func (s *Server) handleClaim(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	return s.bundles(r, false)
}

// handleSealKeys is GET /v1/accounts/{handle}/seal-keys (spec/keyserver.md
// §5.11): every active device's signed prekey and last-resort KEM prekey,
// as a claim past the target's limit answers them, taking nothing. A
// sender seals to the last-resort KEM prekey (spec/seal.md, version 2).
func (s *Server) handleSealKeys(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	return s.bundles(r, true)
}

// bundles answers a claim, or with peek the seal keys, of {handle}: the
// checks and the per-caller limit are the same; only a claim takes
// one-time prekeys.
func (s *Server) bundles(r *http.Request, peek bool) (int, any, *apiError) {
	t, e := s.authenticate(r)
	if e != nil {
		return 0, nil, e
	}
	if ok, wait := s.claimLim.allow(t.Handle, s.now()); !ok {
		return 0, nil, rateLimited(wait, "too many claims; retry later")
	}
	handle := r.PathValue("handle")
	if err := keys.CheckHandle(handle); err != nil {
		return 0, nil, badRequest(api.CodeInvalidHandle, "invalid handle")
	}
	// The claimer's own device must be active now, not only when its
	// token was issued (spec/keyserver.md §1.1).
	caller, e := s.account(r, t.Handle)
	if e != nil {
		if e.code == api.CodeUnknownHandle {
			e = newError(http.StatusNotFound, api.CodeUnknownDevice, "the token's account does not exist")
		}
		return 0, nil, e
	}
	if _, e := activeDevice(caller, uint32(t.Device)); e != nil {
		return 0, nil, e
	}
	// Past the target's limit the claim still answers, without one-time
	// prekeys: first contact stays possible (spec/keyserver.md §5.8).
	withheld := peek || !s.targetAllowsOneTime(handle)
	var (
		claimed []store.Claimed
		err     error
	)
	if withheld {
		claimed, err = s.store.Bundles(r.Context(), handle)
	} else {
		claimed, err = s.store.ClaimPrekeys(r.Context(), handle)
	}
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, newError(http.StatusNotFound, api.CodeUnknownHandle, "no account with this handle")
	}
	if err != nil {
		return 0, nil, internal("claim prekeys", err)
	}
	slices.SortFunc(claimed, func(a, b store.Claimed) int { return cmp.Compare(a.Device, b.Device) })
	resp := api.ClaimResponse{Bundles: make([]api.ClaimedBundle, 0, len(claimed)), OneTimeWithheld: withheld}
	for _, c := range claimed {
		exhausted := c.OneTime == nil && !c.KEMOneTime
		resp.Bundles = append(resp.Bundles, api.ClaimedBundle{Device: c.Device, Bundle: bundleBytes(&c), Exhausted: exhausted})
		switch {
		case peek:
			s.metrics.claim("seal_keys")
		case withheld:
			s.metrics.claim("withheld")
		case exhausted:
			s.metrics.claim("exhausted")
		case c.OneTime == nil:
			s.metrics.claim("no_one_time_x25519")
		case !c.KEMOneTime:
			s.metrics.claim("no_one_time_kem")
		default:
			s.metrics.claim("one_time")
		}
	}
	return http.StatusOK, resp, nil
}

// bundleBytes is the bundle encoding of spec/keys.md §9.1, built from the
// stored encodings, each checked when it was accepted: version, the
// certificate, the signed prekey, 0x01 and the one-time prekey or 0x00,
// then the KEM prekey.
func bundleBytes(c *store.Claimed) []byte {
	n := 1 + len(c.Certificate) + len(c.Signed) + 1 + len(c.OneTime) + len(c.KEM)
	b := make([]byte, 0, n)
	b = append(b, keys.Version)
	b = append(b, c.Certificate...)
	b = append(b, c.Signed...)
	if c.OneTime != nil {
		b = append(b, 1)
		b = append(b, c.OneTime...)
	} else {
		b = append(b, 0)
	}
	return append(b, c.KEM...)
}
