package keyserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/store"
)

// wellKnown builds the body of GET /.well-known/sealpost-keyserver
// (spec/keyserver.md §5.0); it never changes while the server runs.
func (s *Server) wellKnown() ([]byte, error) {
	relays := s.relayAuds
	if relays == nil {
		relays = []string{}
	}
	wk := api.WellKnown{
		Name:           s.name,
		TokenKey:       api.Bytes(s.tokenPub),
		TokenKeyID:     api.Bytes(s.tokenKID[:]),
		Audience:       s.audience,
		RelayAudiences: relays,
		InviteOnly:     s.invite,
		Limits: api.PublicLimits{
			MaxBodyBytes:        s.limits.MaxBodyBytes,
			MaxOneTimePerUpload: s.limits.MaxOneTimePerUpload,
			MaxOneTimePerDevice: s.limits.MaxOneTimePerDevice,
			TokenLifetime:       int64(s.limits.TokenLifetime.Seconds()),
			MaxLeaves:           s.limits.MaxLeaves,
			SendTokenBatch:      s.limits.SendTokenBatch,
			SendTokensPerEpoch:  s.limits.SendTokensPerEpoch,
		},
		SendTokenKeys: api.SendTokenKeysPath,
	}
	if s.dir != nil {
		wk.DirectoryOrigin = s.dir.cps.origin
		wk.DirectoryVerifierKey = s.dir.cps.verifier
		wk.VRFKey = s.dir.vrfPub.Bytes()
	}
	return json.Marshal(wk)
}

func (s *Server) handleWellKnown(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	return http.StatusOK, json.RawMessage(s.wellKnownBody), nil
}

// logHandlers are the public endpoints of the directory's log: GET
// /v2/log/checkpoint, /consistency and /leaves (spec/keyserver.md §9.3).
type logHandlers struct {
	s  *Server
	cp *checkpointer
}

// checkpoint answers GET /v2/log/checkpoint (spec/keyserver.md §9.3): the
// checkpoint of the log's current size.
func (h logHandlers) checkpoint(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	size, err := h.cp.src.size(r.Context())
	if err != nil {
		return 0, nil, internal("log size", err)
	}
	signed, err := h.cp.checkpoint(r.Context(), size)
	if err != nil {
		return 0, nil, internal("checkpoint", err)
	}
	return http.StatusOK, api.CheckpointResponse{Checkpoint: string(signed)}, nil
}

// queryInt parses the non-negative decimal query parameter name.
func queryInt(r *http.Request, name string) (int64, *apiError) {
	v := r.URL.Query().Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != v {
		return 0, badRequest(api.CodeBadRequest, "query parameter %q must be a non-negative decimal integer", name)
	}
	return n, nil
}

// consistency answers GET /v2/log/consistency?old=N&new=M
// (spec/keyserver.md §9.3): the RFC 6962 proof that the tree of size N is
// a prefix of the tree of size M, 1 ≤ N ≤ M ≤ the log's size.
func (h logHandlers) consistency(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	oldSize, e := queryInt(r, "old")
	if e != nil {
		return 0, nil, e
	}
	newSize, e := queryInt(r, "new")
	if e != nil {
		return 0, nil, e
	}
	size, err := h.cp.src.size(r.Context())
	if err != nil {
		return 0, nil, internal("log size", err)
	}
	if oldSize < 1 || oldSize > newSize || newSize > size {
		return 0, nil, badRequest(api.CodeBadRequest, "need 1 <= old <= new <= %d", size)
	}
	proof, err := tlog.ProveTree(newSize, oldSize, h.cp.src.hashReader(r.Context()))
	if err != nil {
		return 0, nil, internal("consistency proof", err)
	}
	return http.StatusOK, api.ConsistencyResponse{Proof: hashesOut(proof)}, nil
}

// leaves answers GET /v2/log/leaves?start=N&end=M (spec/keyserver.md §9.3):
// the leaves with index in [N, M), at most MaxLeaves of them.
func (h logHandlers) leaves(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	start, e := queryInt(r, "start")
	if e != nil {
		return 0, nil, e
	}
	end, e := queryInt(r, "end")
	if e != nil {
		return 0, nil, e
	}
	size, err := h.cp.src.size(r.Context())
	if err != nil {
		return 0, nil, internal("log size", err)
	}
	limit := int64(h.s.limits.MaxLeaves)
	if start >= end || end > size || end-start > limit {
		return 0, nil, badRequest(api.CodeBadRequest, "need start < end <= %d and end - start <= %d", size, limit)
	}
	leaves, err := h.cp.src.leaves(r.Context(), start, end)
	if err != nil {
		return 0, nil, internal("leaves", err)
	}
	out := make([]api.Bytes, len(leaves))
	for i, l := range leaves {
		out[i] = l
	}
	return http.StatusOK, api.LeavesResponse{Leaves: out}, nil
}

func hashesOut(hs []tlog.Hash) []api.Bytes {
	out := make([]api.Bytes, len(hs))
	for i := range hs {
		out[i] = api.Bytes(hs[i][:])
	}
	return out
}

// account reads handle's account: 404 unknown_handle if there is none.
func (s *Server) account(r *http.Request, handle string) (*store.Account, *apiError) {
	acct, err := s.store.Account(r.Context(), handle)
	if errors.Is(err, store.ErrNotFound) {
		return nil, newError(http.StatusNotFound, api.CodeUnknownHandle, "no account with this handle")
	}
	if err != nil {
		return nil, internal("account", err)
	}
	return acct, nil
}

// entryOf returns the kt.Entry of a stored account (spec/transparency.md
// §2). The stored certificates and revocations were checked when they were
// accepted, so a failure here is a fault of the store.
func entryOf(acct *store.Account) (*kt.Entry, error) {
	e := &kt.Entry{Handle: acct.Handle, AccountKey: keys.AccountPublicKey(acct.AccountKey), Version: acct.Version}
	for _, d := range acct.Devices {
		cert, err := keys.ParseDeviceCertificate(d.Certificate)
		if err != nil {
			return nil, err
		}
		dev := kt.Device{Certificate: cert}
		if d.Revocation != nil {
			if dev.Revocation, err = keys.ParseDeviceRevocation(d.Revocation); err != nil {
				return nil, err
			}
		}
		e.Devices = append(e.Devices, dev)
	}
	return e, nil
}
