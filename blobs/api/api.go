// Package api holds the blob service's wire protocol (spec/attachments.md
// §4): paths, headers, JSON bodies and error codes. The server (package
// blobs) and its client (package blobs/blobclient) both import it; it
// imports neither.
package api

import (
	"encoding/base64"
	"errors"
)

// Paths (spec/attachments.md §4.3–§4.6).
const (
	// Prefix is the path prefix of every blob service endpoint.
	Prefix = "/v1/blobs/"
	// UploadsPath creates uploads (POST); UploadsPath + "/" + U is one
	// upload (PATCH, HEAD, DELETE).
	UploadsPath = "/v1/blobs/uploads"
)

// AudiencePrefix is the audience form of the blob service's tokens:
// "blobs:<server name>" (spec/attachments.md §4.2).
const AudiencePrefix = "blobs:"

// Headers (spec/attachments.md §4.4, §4.5).
const (
	HeaderOffset   = "Upload-Offset"
	HeaderLength   = "Upload-Length"
	HeaderPartSize = "Part-Size"
)

// IDSize is the size of blob and upload ids (spec/attachments.md §4.1);
// IDTextLen the length of their base64url text.
const (
	IDSize    = 32
	IDTextLen = 43
)

// MaxCreateBody bounds the body of a create request: {"size": S,
// "digest": D} is under 100 bytes.
const MaxCreateBody = 1024

// Error codes (spec/attachments.md §4.8).
const (
	CodeMalformedJSON    = "malformed_json"
	CodeUnknownField     = "unknown_field"
	CodeBadBase64        = "bad_base64"
	CodeBodyTooLarge     = "body_too_large"
	CodeBadRequest       = "bad_request"
	CodeBadPart          = "bad_part"
	CodeInvalidToken     = "invalid_token"
	CodeTokenExpired     = "token_expired"
	CodeWrongAudience    = "wrong_audience"
	CodeQuotaExceeded    = "quota_exceeded"
	CodeUnknownUpload    = "unknown_upload"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeOffsetMismatch   = "offset_mismatch"
	CodeUploadBusy       = "upload_busy"
	CodeBlobTooLarge     = "blob_too_large"
	CodeRangeNotSatisfy  = "range_not_satisfiable"
	CodeDigestMismatch   = "digest_mismatch"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// CreateRequest is the body of POST /v1/blobs/uploads (spec/attachments.md
// §4.3); the digest is base64url in JSON.
type CreateRequest struct {
	Size   int64  `json:"size"`
	Digest string `json:"digest"`
}

// UploadCreated answers a create with 201.
type UploadCreated struct {
	UploadID string `json:"upload_id"`
	PartSize int64  `json:"part_size"`
	Offset   int64  `json:"offset"`
	Expires  int64  `json:"expires"`
}

// BlobReady answers a create that found the blob (200) and the last part
// of an upload (200).
type BlobReady struct {
	BlobID  string `json:"blob_id"`
	Expires int64  `json:"expires"`
}

// ErrorResponse is every error body (spec/keyserver.md §3).
type ErrorResponse struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// b64 is the strict unpadded base64url of spec/keyserver.md §2.2.
var b64 = base64.RawURLEncoding.Strict()

// ErrBadID reports an id that is not 43 characters of canonical base64url.
var ErrBadID = errors.New("api: malformed id")

// EncodeID returns the text form of a blob or upload id.
func EncodeID(id [IDSize]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// ParseID parses the text form of a blob or upload id.
func ParseID(s string) ([IDSize]byte, error) {
	var id [IDSize]byte
	if len(s) != IDTextLen {
		return id, ErrBadID
	}
	n, err := b64.Decode(id[:], []byte(s))
	if err != nil || n != IDSize {
		return [IDSize]byte{}, ErrBadID
	}
	return id, nil
}

// DecodeDigest decodes a digest field: canonical unpadded base64url
// (ok false otherwise); its length is the caller's to check.
func DecodeDigest(s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return nil, false
		}
	}
	b, err := b64.DecodeString(s)
	return b, err == nil
}
