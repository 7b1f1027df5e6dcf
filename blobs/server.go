// Package blobs is Sealpost's blob service (spec/attachments.md §4): an
// account uploads the ciphertext of an attachment in parts, resumably, and
// anyone holding the blob id it is given downloads it, with Range.
//
// Protocol flow:
//
//	uploader (token)                         service
//	POST /v1/blobs/uploads {size, digest} -> dedup (the account's own blob),
//	                                         else quota, engine upload, row
//	                                   <-    201 {upload_id, part_size}
//	PATCH /v1/blobs/uploads/U              -> lease the upload at offset O,
//	  Upload-Offset: O, L bytes              stream the part into the engine
//	                                         while hashing it, commit part,
//	                                         offset and hash state
//	                                   <-    204 Upload-Offset: O+L
//	  ... the last part                ->    digest checked, engine upload
//	                                         completed, row turned into a blob
//	                                   <-    200 {blob_id}
//	downloader (no token)
//	GET /v1/blobs/B  Range: bytes=a-   ->    206 the bytes
//
// Bytes live in a store.Engine (file system or S3); who owns what, the
// committed offsets, running SHA-256 states, leases, quotas and expiry in
// a meta.Store (SQLite or PostgreSQL), so several nodes can share one
// database and one bucket. Every step is ordered so that a crash loses at
// most the part being stored: an upload whose last part is committed but
// that is not yet a blob is finished by the next request that touches it.
package blobs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/blobs/store"
	"github.com/sealpost/sealpost/crypto/token"
)

// Server is the blob service, an http.Handler for /v1/blobs/. Create it
// with New; run its sweeper with Run.
type Server struct {
	cfg      Config
	meta     meta.Store
	engine   store.Engine
	log      *slog.Logger
	m        *metrics
	verifier *token.Verifier
}

// New returns a Server over the database md and the byte store eng, or
// every problem with cfg (errors.Join). It closes neither. A nil logger
// means slog.Default(); a nil Registerer means no metrics are exported.
func New(cfg Config, md meta.Store, eng store.Engine, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg = cfg.withDefaults()
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if md == nil {
		errs = append(errs, errors.New("blobs: no meta.Store"))
	}
	if eng == nil {
		errs = append(errs, errors.New("blobs: no store.Engine"))
	}
	m, err := newMetrics(reg)
	if err != nil {
		errs = append(errs, fmt.Errorf("blobs: metrics: %w", err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	v, err := token.NewVerifier(api.AudiencePrefix+cfg.Name, token.ClockSkew, cfg.TokenKeys...)
	if err != nil {
		return nil, fmt.Errorf("blobs: %w", err) // Validate checked it
	}
	if logger == nil {
		logger = slog.Default()
	}
	srv := &Server{cfg: cfg, meta: md, engine: eng, log: logger, m: m, verifier: v}
	if cfg.NodeID == ([8]byte{}) {
		rand.Read(srv.cfg.NodeID[:])
	} else if err := md.ReleaseNode(context.Background(), cfg.NodeID); err != nil {
		// Not fatal: the leases run out by themselves.
		logger.Warn("blobs: dropping the leases of a previous run", "err", err)
	}
	return srv, nil
}

// leaseToken is a fresh lease token: the node id, then 8 random bytes.
func (s *Server) leaseToken() [16]byte {
	var tok [16]byte
	copy(tok[:8], s.cfg.NodeID[:])
	rand.Read(tok[8:])
	return tok
}

// Audience returns the audience of the service's tokens, "blobs:<Name>".
func (s *Server) Audience() string { return s.verifier.Audience() }

// ServeHTTP routes /v1/blobs/... (spec/attachments.md §4.3–§4.6).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, api.Prefix)
	if !ok {
		writeError(w, newError(http.StatusNotFound, api.CodeNotFound, "no such path"))
		return
	}
	var e *apiError
	switch id, upload := strings.CutPrefix(rest, "uploads/"); {
	case rest == "uploads":
		if r.Method != http.MethodPost {
			e = notAllowed("POST")
			break
		}
		e = s.create(w, r)
	case upload && !strings.Contains(id, "/"):
		switch r.Method {
		case http.MethodPatch:
			e = s.patch(w, r, id)
		case http.MethodHead:
			e = s.offset(w, r, id)
		case http.MethodDelete:
			e = s.cancel(w, r, id)
		default:
			e = notAllowed("PATCH, HEAD, DELETE")
		}
	case rest != "" && !strings.Contains(rest, "/"):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			e = notAllowed("GET, HEAD")
			break
		}
		e = s.download(w, r, rest)
	default:
		e = newError(http.StatusNotFound, api.CodeNotFound, "no such path")
	}
	if e != nil {
		if e.cause != nil {
			s.log.Error("blobs: request failed", "method", r.Method, "err", e.cause)
		}
		writeError(w, e)
	}
}

func notAllowed(allow string) *apiError {
	e := newError(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "method not allowed")
	e.header = map[string]string{"Allow": allow}
	return e
}

// authenticate checks the request's bearer token (spec/attachments.md
// §4.2, spec/keyserver.md §2.3) and returns the uploader's account.
func (s *Server) authenticate(r *http.Request) (string, *apiError) {
	scheme, text, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || text == "" {
		return "", newError(http.StatusUnauthorized, api.CodeInvalidToken, "missing bearer token")
	}
	t, err := s.verifier.Verify(text, s.cfg.Now())
	switch {
	case err == nil:
		return t.Handle, nil
	case errors.Is(err, token.ErrExpired), errors.Is(err, token.ErrNotYetValid):
		return "", newError(http.StatusUnauthorized, api.CodeTokenExpired, "token expired or not yet valid")
	case errors.Is(err, token.ErrWrongAudience):
		return "", newError(http.StatusUnauthorized, api.CodeWrongAudience, "token is for another service")
	default:
		return "", newError(http.StatusUnauthorized, api.CodeInvalidToken, "token refused")
	}
}

// randomID returns 32 bytes from the secure random generator
// (spec/attachments.md §4.1).
func randomID() [api.IDSize]byte {
	var id [api.IDSize]byte
	rand.Read(id[:]) // never fails (crypto/rand)
	return id
}

// randomKey returns a fresh engine key: 43 characters of base64url,
// unrelated to any id a client sees.
func randomKey() string {
	id := randomID()
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// short is an id as logs show it: its first 8 characters, so a log never
// holds a capability (a blob id) or an upload handle whole.
func short(id [api.IDSize]byte) string {
	return api.EncodeID(id)[:8] + "…"
}

// unix is an expiry as the Unix seconds of the API (spec/attachments.md §4.3).
func unix(t time.Time) int64 { return t.Unix() }
