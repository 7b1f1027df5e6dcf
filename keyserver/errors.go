package keyserver

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sealpost/sealpost/internal/httpjson"

	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store"
)

// unavailableRetry is the Retry-After, in seconds, of an unavailable
// answer (spec/keyserver.md §3): the database is down or the disk full,
// which an operator or PostgreSQL's restart mends in seconds to minutes.
const unavailableRetry = 2

// apiError is an error answered to the client: a status, a code of
// spec/keyserver.md §3 and a message that holds no key material.
type apiError struct {
	status  int
	code    string
	message string
	// retry, for 429 and 503, is the Retry-After value in seconds.
	retry int
	// cause, for 5xx, is the fault to log (never sent to the client).
	cause error
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// Code returns the error code, for callers of DecodeRequest.
func (e *apiError) Code() string { return e.code }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, code, format, args...)
}

// internal reports a server fault: logged with cause, answered with 500 —
// or, when the cause is the database or disk failing (store.IsUnavailable),
// with 503 unavailable and a Retry-After (spec/keyserver.md §3).
func internal(what string, cause error) *apiError {
	if store.IsUnavailable(cause) {
		return &apiError{status: http.StatusServiceUnavailable, code: api.CodeUnavailable,
			message: "temporarily unavailable, retry later", retry: unavailableRetry, cause: fmt.Errorf("%s: %w", what, cause)}
	}
	return &apiError{status: http.StatusInternalServerError, code: api.CodeInternal, message: "internal error", cause: fmt.Errorf("%s: %w", what, cause)}
}

// ErrorCode returns the spec/keyserver.md §3 code of an error returned by
// DecodeRequest, or "" if err carries none.
func ErrorCode(err error) string {
	var e *apiError
	if errors.As(err, &e) {
		return e.code
	}
	return ""
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }

// writeError answers e. 5xx causes are logged by the caller's middleware.
func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sealpost"`)
	}
	if e.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retry))
	}
	writeJSON(w, e.status, api.ErrorResponse{Error: e.code, Message: e.message})
}

// rawResponse is an answer that is not the default JSON: its bytes, media
// type, caching and extra headers.
type rawResponse struct {
	contentType  string
	cacheControl string // "" means no-store
	header       map[string]string
	body         []byte
}

func (r *rawResponse) write(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", r.contentType)
	cc := r.cacheControl
	if cc == "" {
		cc = "no-store"
	}
	h.Set("Cache-Control", cc)
	h.Set("X-Content-Type-Options", "nosniff")
	for k, v := range r.header {
		h.Set(k, v)
	}
	w.WriteHeader(status)
	_, _ = w.Write(r.body)
}
