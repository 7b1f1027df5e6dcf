package blobs

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/blobs/store"
)

// partGrace is added to the time a part's body may take at MinRate, so a
// short part is not held to a deadline shorter than a round trip.
const partGrace = 10 * time.Second

// leaseSlack is how long a lease outlives its part's read deadline: the
// part is made durable and committed after its last byte arrives. A
// handler that fails releases its lease at once; the slack matters only
// when the process dies holding one.
const leaseSlack = 30 * time.Second

// cleanupTimeout bounds what a request does after its client may have
// gone: committing a stored part and finishing the upload, releasing a
// lease, aborting an engine upload.
const cleanupTimeout = time.Minute

// patch handles PATCH /v1/blobs/uploads/{U} (spec/attachments.md §4.4).
// Checks in order: token (401); an open upload U of the account (404
// unknown_upload); Upload-Offset and Content-Length present (400
// bad_part); the committed offset (409 offset_mismatch); Content-Length =
// min(Z, S−O) (400 bad_part); the lease (409 upload_busy). An upload
// whose every part is committed is finished and answered with its blob
// (the recovery of a crash, §5).
func (s *Server) patch(w http.ResponseWriter, r *http.Request, idText string) *apiError {
	u, e := s.openUpload(r, idText)
	if e != nil {
		return e
	}
	ctx, now, id, account := r.Context(), s.cfg.Now(), u.ID, u.Account
	if u.Offset == u.Size {
		b, e := s.finish(ctx, u)
		if e != nil {
			return e
		}
		writeJSON(w, http.StatusOK, api.BlobReady{BlobID: api.EncodeID(b.ID), Expires: unix(b.Expires)})
		return nil
	}
	off, length, err := ParsePartHeaders(r.Header.Get(api.HeaderOffset), r.ContentLength)
	if err != nil {
		return err.(*apiError)
	}
	if off != u.Offset {
		return offsetMismatch(u.Offset)
	}
	want := min(u.PartSize, u.Size-u.Offset)
	if length != want {
		return newError(http.StatusBadRequest, api.CodeBadPart, "part of %d bytes, want %d", length, want)
	}

	tok := s.leaseToken()
	start := time.Now()
	deadline := start.Add(s.partDeadline(length))
	err = s.meta.Lease(ctx, id, u.Offset, tok, now.Add(deadline.Sub(start)+leaseSlack), now)
	switch {
	case errors.Is(err, meta.ErrOffset):
		cur, err := s.meta.Upload(ctx, account, id, now)
		if err != nil {
			return s.uploadError(err)
		}
		return offsetMismatch(cur.Offset)
	case errors.Is(err, meta.ErrBusy):
		return newError(http.StatusConflict, api.CodeUploadBusy, "another request is storing a part of this upload")
	case err != nil:
		return s.uploadError(err)
	}
	s.m.inProgress.Inc()
	defer s.m.inProgress.Dec()
	b, last, e := s.storePart(w, r, u, tok, length, deadline)
	if e == errAborted {
		// The lease is released; close the connection without an answer
		// (spec/attachments.md §4.4).
		panic(http.ErrAbortHandler)
	}
	if e != nil {
		return e
	}
	if !last {
		w.Header().Set(api.HeaderOffset, strconv.FormatInt(u.Offset+length, 10))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(w, http.StatusOK, api.BlobReady{BlobID: api.EncodeID(b.ID), Expires: unix(b.Expires)})
	return nil
}

// errAborted is storePart's answer when the client's body ended early,
// broke or stalled: the connection is closed, nothing answered.
var errAborted = &apiError{}

// partDeadline is how long a part of length bytes may take to arrive: at
// MinRate on average, and at most PartTimeout (spec/attachments.md §4.4).
func (s *Server) partDeadline(length int64) time.Duration {
	d := partGrace + time.Duration(float64(length)/float64(s.cfg.MinRate)*float64(time.Second))
	return min(d, s.cfg.PartTimeout)
}

// storePart streams the part into the engine while hashing it, under the
// lease tok, and commits it; after the last part it checks the digest and
// finishes the upload. Any failure releases the lease with nothing
// committed; for a body that stops early, breaks or arrives too slowly it
// returns errAborted.
func (s *Server) storePart(w http.ResponseWriter, r *http.Request, u meta.Upload, tok [16]byte, length int64, deadline time.Time) (meta.Blob, bool, *apiError) {
	ctx := r.Context()
	committed := false
	defer func() {
		if !committed {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			if err := s.meta.Release(cctx, u.ID, tok); err != nil && !errors.Is(err, meta.ErrNotFound) {
				s.log.Warn("blobs: releasing a lease failed; it expires by itself", "upload", short(u.ID), "err", err)
			}
		}
	}()
	h, err := restoreHash(u.HashState)
	if err != nil {
		return meta.Blob{}, false, internal("hash state of upload "+short(u.ID), err)
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(deadline); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return meta.Blob{}, false, internal("read deadline", err)
	}
	// The answer comes after the part is durable: the write deadline
	// (sealpostd's is 30 s from the request's start) must outlast it.
	_ = rc.SetWriteDeadline(deadline.Add(leaseSlack))

	body := &hashingReader{r: r.Body, h: h}
	n := int(u.Offset/u.PartSize) + 1
	p, err := s.engine.PutPart(ctx, u.Key, u.Handle, n, body, length)
	if err == nil && body.n != length {
		err = fmt.Errorf("the engine read %d bytes of a part of %d", body.n, length)
	}
	if err != nil {
		switch {
		case isTimeout(err):
			s.m.failed.WithLabelValues("timeout").Inc()
			s.log.Info("blobs: part arrived too slowly", "upload", short(u.ID), "part", n)
			return meta.Blob{}, false, errAborted
		case body.failed || errors.Is(err, store.ErrShortPart) || ctx.Err() != nil:
			s.m.failed.WithLabelValues("aborted").Inc()
			s.log.Info("blobs: part not received whole", "upload", short(u.ID), "part", n)
			return meta.Blob{}, false, errAborted
		case errors.Is(err, store.ErrNotFound):
			s.m.failed.WithLabelValues("cancelled").Inc()
			return meta.Blob{}, false, errUnknownUpload() // cancelled meanwhile
		}
		s.m.failed.WithLabelValues("store").Inc()
		return meta.Blob{}, false, internal("engine put part", hideKey(err, u.Key))
	}
	s.m.add(s.m.bytesIn, length)
	// The part is durable: commit it (and finish the upload) even if the
	// client goes now, so its bytes are not lost to a resume.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return meta.Blob{}, false, internal("hash state", err)
	}
	last := u.Offset+length == u.Size
	if last {
		sum := h.Sum(nil)
		if subtle.ConstantTimeCompare(sum, u.Digest[:]) != 1 {
			s.m.failed.WithLabelValues("digest_mismatch").Inc()
			s.drop(ctx, u)
			committed = true // the upload is gone with its lease
			return meta.Blob{}, false, newError(http.StatusUnprocessableEntity, api.CodeDigestMismatch, "the ciphertext's SHA-256 is not the digest declared")
		}
	}
	part := meta.Part{Number: p.Number, Size: p.Size, Tag: p.Tag}
	now := s.cfg.Now()
	if err := s.meta.CommitPart(ctx, u.ID, tok, u.Offset, part, state, now.Add(s.cfg.UploadTTL)); err != nil {
		if errors.Is(err, meta.ErrBusy) || errors.Is(err, meta.ErrOffset) {
			// The lease ran out and another request took it: this part
			// is not kept.
			return meta.Blob{}, false, newError(http.StatusConflict, api.CodeUploadBusy, "the upload changed while the part was stored")
		}
		if errors.Is(err, meta.ErrNotFound) {
			return meta.Blob{}, false, errUnknownUpload()
		}
		return meta.Blob{}, false, internal("commit part", err)
	}
	committed = true
	if !last {
		return meta.Blob{}, false, nil
	}
	u.Offset, u.HashState = u.Size, state
	u.Parts = append(u.Parts, part)
	b, e := s.finish(ctx, u)
	return b, true, e
}

// finish turns an upload whose every part is committed into its blob: the
// digest checked once more, the engine upload completed (idempotent), then
// the row (spec/attachments.md §5). Run by the request that committed the
// last part and by any later request that finds such an upload after a
// crash; when two race, the loser finds the winner's blob.
func (s *Server) finish(ctx context.Context, u meta.Upload) (meta.Blob, *apiError) {
	h, err := restoreHash(u.HashState)
	if err != nil {
		return meta.Blob{}, internal("hash state of upload "+short(u.ID), err)
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), u.Digest[:]) != 1 {
		// Not reached: the last part is committed only after its check.
		s.m.failed.WithLabelValues("digest_mismatch").Inc()
		s.drop(ctx, u)
		return meta.Blob{}, newError(http.StatusUnprocessableEntity, api.CodeDigestMismatch, "the ciphertext's SHA-256 is not the digest declared")
	}
	parts := make([]store.Part, len(u.Parts))
	for i, p := range u.Parts {
		parts[i] = store.Part{Number: p.Number, Size: p.Size, Tag: p.Tag}
	}
	if err := s.engine.CompleteUpload(ctx, u.Key, u.Handle, parts); err != nil {
		return meta.Blob{}, internal("engine complete upload", hideKey(err, u.Key))
	}
	now := s.cfg.Now()
	b := meta.Blob{ID: randomID(), Account: u.Account, Size: u.Size, Digest: u.Digest, Key: u.Key, Created: now, Expires: now.Add(s.cfg.BlobTTL)}
	switch err := s.meta.CompleteUpload(ctx, u.ID, b); {
	case errors.Is(err, meta.ErrNotFound):
		// Finished by another request meanwhile.
		found, err := s.meta.FindBlob(ctx, u.Account, u.Size, u.Digest, now)
		if err != nil {
			return meta.Blob{}, s.uploadError(err)
		}
		return found, nil
	case err != nil:
		return meta.Blob{}, internal("complete upload", err)
	}
	s.m.completed.Inc()
	s.log.Info("blobs: upload complete", "upload", short(u.ID), "blob", short(b.ID), "size", b.Size)
	return b, nil
}

// drop deletes an upload with its parts: the engine's first, then the row.
func (s *Server) drop(ctx context.Context, u meta.Upload) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.engine.AbortUpload(ctx, u.Key, u.Handle); err != nil {
		s.log.Warn("blobs: aborting an engine upload failed; the sweeper retries", "upload", short(u.ID), "err", hideKey(err, u.Key))
		return
	}
	if err := s.engine.Delete(ctx, u.Key); err != nil {
		s.log.Warn("blobs: deleting an upload's blob failed; the sweeper retries", "upload", short(u.ID), "err", hideKey(err, u.Key))
		return
	}
	if err := s.meta.DeleteUpload(ctx, u.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
		s.log.Warn("blobs: deleting an upload failed; the sweeper retries", "upload", short(u.ID), "err", err)
	}
}

// uploadError maps a meta error about an upload to its answer.
func (s *Server) uploadError(err error) *apiError {
	if errors.Is(err, meta.ErrNotFound) {
		return errUnknownUpload()
	}
	return internal("upload", err)
}

func offsetMismatch(committed int64) *apiError {
	e := newError(http.StatusConflict, api.CodeOffsetMismatch, "the committed offset is %d", committed)
	e.header = map[string]string{api.HeaderOffset: strconv.FormatInt(committed, 10)}
	return e
}

// restoreHash returns a SHA-256 in the marshaled state st (a fresh one for
// an empty st).
func restoreHash(st []byte) (hash.Hash, error) {
	h := sha256.New()
	if len(st) == 0 {
		return h, nil
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st); err != nil {
		return nil, err
	}
	return h, nil
}

// hashingReader reads a part's body into the running SHA-256 as the engine
// reads it, counting the bytes; failed records an error of the body itself
// (the client's), as opposed to the engine's.
type hashingReader struct {
	r      io.Reader
	h      hash.Hash
	n      int64
	failed bool
}

func (t *hashingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.h.Write(p[:n])
	t.n += int64(n)
	if err != nil && err != io.EOF {
		t.failed = true
	}
	return n, err
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) && te.Timeout()
}
