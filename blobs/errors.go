package blobs

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sealpost/sealpost/internal/httpjson"

	"github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/internal/dbfault"
)

// unavailableRetry is the Retry-After, in seconds, of an unavailable
// answer (spec/keyserver.md §3.1).
const unavailableRetry = 2

// apiError is an error answered to the client: a status, a code of
// spec/attachments.md §4.8 and a message that holds no key material.
type apiError struct {
	status  int
	code    string
	message string
	// header holds extra headers (Upload-Offset, Content-Range, Allow).
	header map[string]string
	// cause, for 5xx, is the fault to log (never sent to the client).
	cause error
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// ErrorCode returns the spec/attachments.md §4.8 code of an error returned
// by DecodeCreate, ParsePartHeaders or ParseRange, or "" if err carries
// none.
func ErrorCode(err error) string {
	var e *apiError
	if errors.As(err, &e) {
		return e.code
	}
	return ""
}

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// unavailable reports whether err is the database, the disk or the object
// store failing for now (spec/keyserver.md §3.1): answered 503, not 500.
func unavailable(err error) bool {
	return errors.Is(err, meta.ErrUnavailable) || dbfault.Unavailable(err)
}

// internal reports a server fault: 503 unavailable when the database or
// disk fails, else 500 internal; the cause is logged, never sent.
func internal(what string, cause error) *apiError {
	cause = fmt.Errorf("%s: %w", what, cause)
	if unavailable(cause) {
		return &apiError{status: http.StatusServiceUnavailable, code: api.CodeUnavailable,
			message: "temporarily unavailable, retry later", cause: cause,
			header: map[string]string{"Retry-After": strconv.Itoa(unavailableRetry)}}
	}
	return &apiError{status: http.StatusInternalServerError, code: api.CodeInternal, message: "internal error", cause: cause}
}

// Errors the handlers share.
var (
	errUnknownUpload = func() *apiError {
		return newError(http.StatusNotFound, api.CodeUnknownUpload, "no open upload by that id for this account")
	}
	errNotFound = func() *apiError { return newError(http.StatusNotFound, api.CodeNotFound, "no such blob") }
)

// writeJSON answers status with v as JSON (spec/keyserver.md §2.4).
func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }

// writeError answers e (spec/keyserver.md §3).
func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	if e.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="sealpost"`)
	}
	for k, v := range e.header {
		h.Set(k, v)
	}
	writeJSON(w, e.status, api.ErrorResponse{Error: e.code, Message: e.message})
}

// hideKey returns err with every occurrence of the engine key cut to its
// first 8 characters in its text, for logs; errors.Is still sees through
// it.
func hideKey(err error, key string) error {
	if err == nil || len(key) <= 8 {
		return err
	}
	return &keyHidden{err: err, key: key}
}

type keyHidden struct {
	err error
	key string
}

func (e *keyHidden) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.key, e.key[:8]+"…")
}

func (e *keyHidden) Unwrap() error { return e.err }
