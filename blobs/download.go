package blobs

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/blobs/store"
)

// downloadChunk is how much of a blob is written between two extensions
// of the write deadline.
const downloadChunk = 256 << 10

// download handles GET and HEAD /v1/blobs/{B} (spec/attachments.md §4.6):
// no token; 404 not_found for an id that is malformed, unknown or expired
// (the expiry is checked here, not left to the sweeper); one range.
func (s *Server) download(w http.ResponseWriter, r *http.Request, idText string) *apiError {
	id, err := api.ParseID(idText)
	if err != nil {
		return errNotFound()
	}
	ctx := r.Context()
	now := s.cfg.Now()
	b, err := s.meta.Blob(ctx, id, now)
	if errors.Is(err, meta.ErrNotFound) || err == nil && !now.Before(b.Expires) {
		return errNotFound()
	}
	if err != nil {
		return internal("blob", err)
	}
	start, length, partial, err := ParseRange(r.Header.Get("Range"), b.Size)
	if err != nil {
		return err.(*apiError)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(s.blobHeaders(w, b, now, start, length, partial))
		return nil
	}
	rd, err := s.engine.Open(ctx, b.Key, start, length)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound() // deleted by the sweeper meanwhile
		}
		return internal("engine open", hideKey(err, b.Key))
	}
	defer rd.Close()
	s.m.downloads.Inc()
	w.WriteHeader(s.blobHeaders(w, b, now, start, length, partial))
	n, err := s.copyPaced(w, rd, length)
	s.m.add(s.m.bytesOut, n)
	if err != nil && ctx.Err() == nil {
		s.log.Info("blobs: download cut short", "blob", short(b.ID), "sent", n, "of", length, "err", err)
	}
	return nil
}

// blobHeaders sets the headers of a download (spec/attachments.md §4.6)
// and returns its status.
func (s *Server) blobHeaders(w http.ResponseWriter, b meta.Blob, now time.Time, start, length int64, partial bool) int {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", `"`+api.EncodeID(b.Digest)+`"`)
	h.Set("Cache-Control", "public, max-age="+strconv.FormatInt(int64(b.Expires.Sub(now)/time.Second), 10)+", immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(start+length-1, 10)+"/"+strconv.FormatInt(b.Size, 10))
	}
	return status
}

// copyPaced copies n bytes from r to w, moving the write deadline ahead
// chunk by chunk, so a download may take as long as it needs at MinRate
// while a reader that stops reading is cut off (sealpostd's server-wide
// write timeout is 30 s from the request's start).
func (s *Server) copyPaced(w http.ResponseWriter, r io.Reader, n int64) (int64, error) {
	rc := http.NewResponseController(w)
	perChunk := partGrace + time.Duration(float64(downloadChunk)/float64(s.cfg.MinRate)*float64(time.Second))
	buf := make([]byte, 32<<10)
	var done int64
	for done < n {
		if err := rc.SetWriteDeadline(time.Now().Add(perChunk)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return done, err
		}
		c, err := io.CopyBuffer(w, io.LimitReader(r, min(downloadChunk, n-done)), buf)
		done += c
		if err != nil {
			return done, err
		}
		if c == 0 {
			return done, io.ErrUnexpectedEOF
		}
	}
	return done, nil
}
