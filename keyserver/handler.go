package keyserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/sealpost/sealpost/keyserver/api"
)

// handlerFunc is one endpoint: it answers by returning a value to send as
// JSON with the given status (a *rawResponse is sent as it is), or an
// *apiError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) (int, any, *apiError)

// endpoint is one path with its handlers by method.
type endpoint struct {
	route   string // metric label: the path pattern
	methods map[string]handlerFunc
}

// Handler returns the server's HTTP handler: the /v1 API,
// /.well-known/sealpost-keyserver (spec/keyserver.md §5) and, with a VRF
// key, the /v2 directory (§9), which serves every lookup and the only
// public log. The version 1 lookup and log endpoints are gone (§5.3, §6):
// like every other path they answer 404 not_found. It does not serve
// /healthz or /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	add := func(pattern string, methods map[string]handlerFunc) {
		mux.Handle(pattern, s.serve(endpoint{route: pattern, methods: methods}))
	}
	add("/.well-known/sealpost-keyserver", map[string]handlerFunc{http.MethodGet: s.handleWellKnown})
	add("/v1/challenges", map[string]handlerFunc{http.MethodPost: s.handleChallenge})
	add("/v1/accounts", map[string]handlerFunc{http.MethodPost: s.handleRegister})
	add("/v1/accounts/{handle}/devices", map[string]handlerFunc{http.MethodPost: s.handleAddDevice})
	add("/v1/accounts/{handle}/devices/{id}/revoke", map[string]handlerFunc{http.MethodPost: s.handleRevoke})
	add("/v1/accounts/{handle}/claim", map[string]handlerFunc{http.MethodPost: s.handleClaim})
	add("/v1/accounts/{handle}/seal-keys", map[string]handlerFunc{http.MethodGet: s.handleSealKeys})
	add("/v1/tokens", map[string]handlerFunc{http.MethodPost: s.handleToken})
	add("/v1/prekeys", map[string]handlerFunc{http.MethodPut: s.handleUpload})
	add("/v1/prekeys/count", map[string]handlerFunc{http.MethodGet: s.handleCount})
	add("/v1/revocations", map[string]handlerFunc{http.MethodGet: s.handleRevocations})
	add(api.SendTokenKeysPath, map[string]handlerFunc{http.MethodGet: s.handleSendTokenKeys})
	add(api.SendTokensPath, map[string]handlerFunc{http.MethodPost: s.handleIssueSendTokens})
	if s.dir != nil {
		// spec/keyserver.md §9: the version 2 directory.
		h := logHandlers{s, s.dir.cps}
		add("/v2/accounts/{handle}", map[string]handlerFunc{http.MethodGet: s.handleDirectoryLookup})
		add("/v2/accounts/{handle}/history", map[string]handlerFunc{http.MethodGet: s.handleDirectoryHistory})
		add("/v2/log/checkpoint", map[string]handlerFunc{http.MethodGet: h.checkpoint})
		add("/v2/log/consistency", map[string]handlerFunc{http.MethodGet: h.consistency})
		add("/v2/log/leaves", map[string]handlerFunc{http.MethodGet: h.leaves})
		add("/v2/log/batch", map[string]handlerFunc{http.MethodGet: s.handleBatch})
	}
	add("/", map[string]handlerFunc{}) // everything else: not_found
	return mux
}

// serve wraps an endpoint: method dispatch (405 with Allow), the answer as
// JSON, metrics, and a log line for server faults.
func (s *Server) serve(ep endpoint) http.Handler {
	var allow []string
	for m := range ep.methods {
		allow = append(allow, m)
		if m == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	sort.Strings(allow)
	allowHeader := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status, body, e := s.dispatch(ep, allowHeader, w, r)
		if e != nil {
			status = e.status
			if e.status >= 500 {
				// Causes are store and encoding faults; they never
				// carry key material, tokens or challenges.
				s.log.LogAttrs(r.Context(), slog.LevelError, "keyserver: request failed",
					slog.String("route", ep.route), slog.String("method", r.Method),
					slog.Int("status", e.status), slog.String("error", e.cause.Error()))
			}
			if e.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", allowHeader)
			}
			writeError(w, e)
		} else if raw, ok := body.(*rawResponse); ok {
			raw.write(w, status)
		} else {
			writeJSON(w, status, body)
		}
		s.metrics.request(ep.route, status)
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "keyserver: request",
			slog.String("route", ep.route), slog.String("method", r.Method),
			slog.Int("status", status), slog.Duration("elapsed", time.Since(start)))
	})
}

func (s *Server) dispatch(ep endpoint, allow string, w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	if len(ep.methods) == 0 {
		return 0, nil, newError(http.StatusNotFound, api.CodeNotFound, "no such endpoint")
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	h, ok := ep.methods[method]
	if !ok {
		return 0, nil, newError(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "method %s not allowed here; allowed: %s", truncate(r.Method), allow)
	}
	status, body, e := h(w, r)
	if e != nil && e.status >= 500 && errors.Is(e.cause, context.Canceled) {
		// The client went away; nothing to report.
		e = &apiError{status: 499, code: api.CodeInternal, message: "request canceled", cause: e.cause}
	}
	return status, body, e
}
