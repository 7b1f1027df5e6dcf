package blobs

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/meta"
)

// offset handles HEAD /v1/blobs/uploads/{U} (spec/attachments.md §4.5):
// 200 with Upload-Offset, Upload-Length and Part-Size, or 404. An upload
// whose every part is committed is finished first, and is then no longer
// open: 404, and a create of the same size and digest answers its blob.
func (s *Server) offset(w http.ResponseWriter, r *http.Request, idText string) *apiError {
	u, e := s.openUpload(r, idText)
	if e != nil {
		return e
	}
	if u.Offset == u.Size {
		if _, e := s.finish(r.Context(), u); e != nil {
			return e
		}
		return errUnknownUpload()
	}
	h := w.Header()
	h.Set(api.HeaderOffset, strconv.FormatInt(u.Offset, 10))
	h.Set(api.HeaderLength, strconv.FormatInt(u.Size, 10))
	h.Set(api.HeaderPartSize, strconv.FormatInt(u.PartSize, 10))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

// cancel handles DELETE /v1/blobs/uploads/{U} (spec/attachments.md §4.5):
// the upload and its parts are deleted, its size no longer counts. It
// takes the upload's lease first, so a part being stored is not cut off
// (409 upload_busy). An upload whose every part is committed is a blob
// already: it is finished, and the answer is 404.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request, idText string) *apiError {
	u, e := s.openUpload(r, idText)
	if e != nil {
		return e
	}
	ctx, now, id := r.Context(), s.cfg.Now(), u.ID
	if u.Offset == u.Size {
		if _, e := s.finish(ctx, u); e != nil {
			return e
		}
		return errUnknownUpload()
	}
	tok := s.leaseToken()
	switch err := s.meta.Lease(ctx, id, u.Offset, tok, now.Add(cleanupTimeout), now); {
	case errors.Is(err, meta.ErrBusy), errors.Is(err, meta.ErrOffset):
		return newError(http.StatusConflict, api.CodeUploadBusy, "another request is storing a part of this upload")
	case err != nil:
		return s.uploadError(err)
	}
	s.drop(ctx, u)
	s.m.failed.WithLabelValues("cancelled").Inc()
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// openUpload is the first step of every request on an upload: the
// caller's token, the upload id of the path, and the caller's open upload
// by that id as of now (404 unknown_upload for any of them wrong).
func (s *Server) openUpload(r *http.Request, idText string) (meta.Upload, *apiError) {
	account, e := s.authenticate(r)
	if e != nil {
		return meta.Upload{}, e
	}
	id, err := api.ParseID(idText)
	if err != nil {
		return meta.Upload{}, errUnknownUpload()
	}
	u, err := s.meta.Upload(r.Context(), account, id, s.cfg.Now())
	if err != nil {
		return meta.Upload{}, s.uploadError(err)
	}
	return u, nil
}
