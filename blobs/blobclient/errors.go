package blobclient

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/sealpost/sealpost/blobs/api"
)

// Error is a refusal by the service (spec/attachments.md §4.8): its HTTP
// status and error code, and for offset_mismatch the committed offset
// (-1 otherwise).
type Error struct {
	Status  int
	Code    string
	Message string
	Offset  int64
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("blobclient: %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("blobclient: %d %s: %s", e.Status, e.Code, e.Message)
}

// Is matches the sentinels below by code: errors.Is(err,
// blobclient.ErrOffsetMismatch).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == 0 && t.Code == e.Code
}

// Sentinels for the codes a client acts on; match with errors.Is.
var (
	// ErrOffsetMismatch: the part was not at the committed offset; Offset
	// gives it (resume there).
	ErrOffsetMismatch = &Error{Code: api.CodeOffsetMismatch}
	// ErrUploadBusy: another request is storing a part; retry later.
	ErrUploadBusy = &Error{Code: api.CodeUploadBusy}
	// ErrUnknownUpload: no open upload by that id (expired, cancelled,
	// completed): create it again.
	ErrUnknownUpload = &Error{Code: api.CodeUnknownUpload}
	// ErrNotFound: no such blob, or it has expired.
	ErrNotFound = &Error{Code: api.CodeNotFound}
	// ErrQuotaExceeded: the account's quota or open-upload limit.
	ErrQuotaExceeded = &Error{Code: api.CodeQuotaExceeded}
	// ErrBlobTooLarge: the blob is larger than the service takes.
	ErrBlobTooLarge = &Error{Code: api.CodeBlobTooLarge}
	// ErrDigestMismatch: the ciphertext sent was not the digest declared;
	// the upload is gone.
	ErrDigestMismatch = &Error{Code: api.CodeDigestMismatch}
	// ErrRange: a download from past the end of the blob.
	ErrRange = &Error{Code: api.CodeRangeNotSatisfy}
)

// readError reads an error answer.
func readError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode, Offset: -1}
	var body api.ErrorResponse
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if json.Unmarshal(b, &body) == nil {
		e.Code, e.Message = body.Error, body.Message
	}
	if e.Code == api.CodeOffsetMismatch {
		if n, err := strconv.ParseInt(resp.Header.Get(api.HeaderOffset), 10, 64); err == nil && n >= 0 {
			e.Offset = n
		}
	}
	return e
}
