package keyserver

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store"
)

// Challenges (spec/keyserver.md §5.1). The store keeps, for each challenge
// handed out, SHA-256 of its exact bytes and its expiry: a response names
// a challenge by presenting the bytes, and is refused unless their hash is
// stored and unused; the first such response uses it up, whatever follows
// (spec/token.md §5.2).

// challengeKey is what the store keeps of a challenge.
func challengeKey(challenge []byte) []byte {
	h := sha256.Sum256(challenge)
	return h[:]
}

// allowedAudience reports whether the server issues tokens for aud.
func (s *Server) allowedAudience(aud string) bool {
	return aud == s.audience || slices.Contains(s.relayAuds, aud)
}

// handleChallenge answers POST /v1/challenges.
func (s *Server) handleChallenge(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	if e := s.limitIP(r); e != nil {
		return 0, nil, e
	}
	var req api.ChallengeRequest
	if e := s.decodeBody(w, r, &req); e != nil {
		return 0, nil, e
	}
	aud := req.Audience
	if aud == "" {
		aud = s.audience
	}
	if !s.allowedAudience(aud) {
		return 0, nil, badRequest(api.CodeWrongAudience, "this server issues no tokens for that audience")
	}
	c, err := token.BuildChallenge(s.rand, s.name, aud, s.now())
	if err != nil {
		return 0, nil, internal("build challenge", err)
	}
	b := c.Marshal()
	if err := s.store.PutChallenge(r.Context(), challengeKey(b), c.Expiry); err != nil {
		return 0, nil, internal("put challenge", err)
	}
	return http.StatusCreated, api.ChallengeResponse{Challenge: b, ExpiresAt: c.Expiry.Unix()}, nil
}

// checkChallengeFields checks a presented challenge and signature without
// state: sizes, encoding, this server's name and the audience wanted.
func (s *Server) checkChallengeFields(challenge, sig []byte, audience string) (*token.Challenge, *apiError) {
	if len(sig) != ed25519.SignatureSize {
		return nil, badRequest(api.CodeBadKeyLength, "challenge_signature must be %d bytes", ed25519.SignatureSize)
	}
	c, err := token.ParseChallenge(challenge)
	if err != nil {
		return nil, badRequest(api.CodeChallengeInvalid, "challenge is not one this server issued")
	}
	if c.Server != s.name {
		return nil, badRequest(api.CodeChallengeInvalid, "challenge is not one this server issued")
	}
	if c.Audience != audience {
		return nil, badRequest(api.CodeWrongAudience, "challenge was issued for another audience")
	}
	return c, nil
}

// useChallenge consumes a challenge and checks the device's response to it
// (spec/token.md §5.2, §5.5).
func (s *Server) useChallenge(r *http.Request, signing [keys.SigningKeySize]byte, handle string, device keys.DeviceID, challenge, sig []byte) *apiError {
	now := s.now()
	err := s.store.UseChallenge(r.Context(), challengeKey(challenge), now)
	if errors.Is(err, store.ErrChallenge) {
		return badRequest(api.CodeChallengeInvalid, "challenge unknown, already used or expired")
	}
	if err != nil {
		return internal("use challenge", err)
	}
	s.sigChecks.Add(1)
	_, err = token.VerifyChallengeResponse(signing, handle, device, challenge, sig, now)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, token.ErrBadSignature):
		return badRequest(api.CodeBadSignature, "challenge signature does not verify under the device key")
	case errors.Is(err, token.ErrExpired), errors.Is(err, token.ErrNotYetValid):
		return badRequest(api.CodeChallengeInvalid, "challenge expired")
	default:
		return badRequest(api.CodeChallengeInvalid, "challenge response refused")
	}
}

// handleToken answers POST /v1/tokens (spec/keyserver.md §5.6).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	if e := s.limitIP(r); e != nil {
		return 0, nil, e
	}
	var req api.TokenRequest
	if e := s.decodeBody(w, r, &req); e != nil {
		return 0, nil, e
	}
	if err := keys.CheckHandle(req.Handle); err != nil {
		return 0, nil, badRequest(api.CodeInvalidHandle, "invalid handle")
	}
	if req.Device == 0 {
		return 0, nil, badRequest(api.CodeBadRequest, "device id 0")
	}
	if !s.allowedAudience(req.Audience) {
		return 0, nil, badRequest(api.CodeWrongAudience, "this server issues no tokens for that audience")
	}
	if _, e := s.checkChallengeFields(req.Challenge, req.ChallengeSignature, req.Audience); e != nil {
		return 0, nil, e
	}
	acct, e := s.account(r, req.Handle)
	if e != nil {
		return 0, nil, e
	}
	cert, e := activeDevice(acct, req.Device)
	if e != nil {
		return 0, nil, e
	}
	if e := s.useChallenge(r, cert.Keys.Signing, req.Handle, keys.DeviceID(req.Device), req.Challenge, req.ChallengeSignature); e != nil {
		return 0, nil, e
	}
	now := s.now()
	t, err := token.Issue(s.rand, s.tokenKey, token.Claims{
		Handle:   req.Handle,
		Device:   keys.DeviceID(req.Device),
		Audience: req.Audience,
		IssuedAt: now,
		Expiry:   now.Add(s.limits.TokenLifetime),
	})
	if err != nil {
		return 0, nil, internal("issue token", err)
	}
	kind, _, _ := strings.Cut(req.Audience, ":")
	s.metrics.token(kind)
	return http.StatusCreated, api.TokenResponse{Token: t.Encode(), ExpiresAt: t.Expiry.Unix()}, nil
}

// activeDevice returns the certificate of device id of acct: 404
// unknown_device if there is none, 403 device_revoked if it is revoked.
func activeDevice(acct *store.Account, id uint32) (*keys.DeviceCertificate, *apiError) {
	for _, d := range acct.Devices {
		if d.ID != id {
			continue
		}
		if d.Revocation != nil {
			return nil, newError(http.StatusForbidden, api.CodeDeviceRevoked, "device revoked")
		}
		cert, err := keys.ParseDeviceCertificate(d.Certificate)
		if err != nil {
			return nil, internal("stored certificate", err)
		}
		return cert, nil
	}
	return nil, newError(http.StatusNotFound, api.CodeUnknownDevice, "no such device in this account")
}
