package blobs

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"io"
	"net/http"

	"github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/meta"
)

// create handles POST /v1/blobs/uploads (spec/attachments.md §4.3). Checks
// in order: token (401); body (400 malformed_json, unknown_field,
// bad_base64; 413 body_too_large); size ≥ 1 and a 32-byte digest (400
// bad_request); the account's own blob of this size and digest (200,
// dedup); size ≤ MaxBlobSize (413 blob_too_large); quota and open uploads
// (403 quota_exceeded).
func (s *Server) create(w http.ResponseWriter, r *http.Request) *apiError {
	account, e := s.authenticate(r)
	if e != nil {
		return e
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxCreateBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newError(http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge, "request body larger than %d bytes", api.MaxCreateBody)
		}
		return newError(http.StatusBadRequest, api.CodeMalformedJSON, "could not read the request body")
	}
	req, err := DecodeCreate(data)
	if err != nil {
		return err.(*apiError)
	}
	if req.Size < 1 {
		return newError(http.StatusBadRequest, api.CodeBadRequest, "size must be 1 or more")
	}
	if len(req.Digest) != sha256.Size {
		return newError(http.StatusBadRequest, api.CodeBadRequest, "digest must be %d bytes", sha256.Size)
	}
	digest := [sha256.Size]byte(req.Digest)
	ctx := r.Context()
	now := s.cfg.Now()

	// The per-account dedup: never across accounts.
	b, err := s.meta.FindBlob(ctx, account, req.Size, digest, now)
	switch {
	case err == nil:
		expires := now.Add(s.cfg.BlobTTL)
		if err := s.meta.ExtendBlob(ctx, b.ID, expires, now); err != nil {
			if errors.Is(err, meta.ErrNotFound) {
				break // expired or deleted meanwhile: upload it again
			}
			return internal("extend blob", err)
		}
		s.m.dedup.Inc()
		writeJSON(w, http.StatusOK, api.BlobReady{BlobID: api.EncodeID(b.ID), Expires: unix(expires)})
		return nil
	case !errors.Is(err, meta.ErrNotFound):
		return internal("find blob", err)
	}

	if req.Size > s.cfg.MaxBlobSize {
		return newError(http.StatusRequestEntityTooLarge, api.CodeBlobTooLarge, "blob larger than %d bytes", s.cfg.MaxBlobSize)
	}
	// A cheap look at the quota before the engine is asked for anything;
	// meta.CreateUpload decides in its transaction.
	use, err := s.meta.Usage(ctx, account, now)
	if err != nil {
		return internal("usage", err)
	}
	if s.overQuota(use, req.Size) {
		return s.quotaRefused()
	}

	key := randomKey()
	handle, err := s.engine.CreateUpload(ctx, key)
	if err != nil {
		return internal("engine create upload", hideKey(err, key))
	}
	u := meta.Upload{
		ID: randomID(), Account: account, Size: req.Size, Digest: digest,
		PartSize: s.cfg.PartSize, Key: key, Handle: handle,
		HashState: freshState(), Created: now, Expires: now.Add(s.cfg.UploadTTL),
	}
	err = s.meta.CreateUpload(ctx, u, meta.Limits{Quota: s.cfg.AccountQuota, MaxOpenUploads: s.cfg.MaxOpenUploads}, now)
	if err != nil {
		if aerr := s.engine.AbortUpload(context.WithoutCancel(ctx), key, handle); aerr != nil {
			s.log.Warn("blobs: aborting a refused upload's engine upload failed", "err", hideKey(aerr, key))
		}
		if errors.Is(err, meta.ErrQuota) {
			return s.quotaRefused()
		}
		return internal("create upload", err)
	}
	s.m.started.Inc()
	w.Header().Set("Location", api.UploadsPath+"/"+api.EncodeID(u.ID))
	writeJSON(w, http.StatusCreated, api.UploadCreated{
		UploadID: api.EncodeID(u.ID), PartSize: u.PartSize, Offset: 0, Expires: unix(u.Expires),
	})
	return nil
}

// overQuota reports whether an upload of size would pass the account's
// quota or open-upload limit (spec/attachments.md §4.3).
func (s *Server) overQuota(u meta.Usage, size int64) bool {
	if u.OpenUploads >= s.cfg.MaxOpenUploads {
		return true
	}
	// Stored, Open and size are each at most 2^63-1: compare without
	// overflowing.
	room := s.cfg.AccountQuota - u.Stored - u.Open
	return u.Stored > s.cfg.AccountQuota || u.Open > s.cfg.AccountQuota || size > room
}

func (s *Server) quotaRefused() *apiError {
	s.m.quota.Inc()
	return newError(http.StatusForbidden, api.CodeQuotaExceeded, "the account's quota or open-upload limit would be passed")
}

// freshState is the marshaled state of a SHA-256 over nothing.
func freshState() []byte {
	st, _ := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	return st
}
