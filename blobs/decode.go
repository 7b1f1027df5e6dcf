package blobs

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/sealpost/sealpost/blobs/api"
)

// CreateRequest is a decoded create body (spec/attachments.md §4.3). Its
// ranges are not checked: Size may be anything, Digest any length.
type CreateRequest struct {
	Size   int64
	Digest []byte
}

// DecodeCreate decodes the body of POST /v1/blobs/uploads strictly, as
// spec/keyserver.md §2.1 asks of every request body: exactly one JSON
// object whose members are "size" (an integer) and "digest" (canonical
// unpadded base64url), each at most once, spelled exactly, null counting
// as omitted; nothing after the object but white space. On error
// ErrorCode(err) is malformed_json, unknown_field or bad_base64.
func DecodeCreate(data []byte) (CreateRequest, error) {
	var out CreateRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	malformed := func(format string, args ...any) (CreateRequest, error) {
		return CreateRequest{}, newError(http.StatusBadRequest, api.CodeMalformedJSON, format, args...)
	}
	tok, err := dec.Token()
	if err != nil {
		return malformed("not a JSON object")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return malformed("request body is not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return malformed("malformed JSON object")
		}
		name, ok := tok.(string)
		if !ok {
			return malformed("malformed JSON object")
		}
		if name != "size" && name != "digest" {
			return CreateRequest{}, newError(http.StatusBadRequest, api.CodeUnknownField, "unknown field %q", truncate(name))
		}
		if seen[name] {
			return malformed("field %q repeated", name)
		}
		seen[name] = true
		v, err := dec.Token()
		if err != nil {
			return malformed("malformed JSON")
		}
		switch v := v.(type) {
		case nil:
			// null counts as omitted.
		case json.Number:
			if name != "size" {
				return malformed("field %q has the wrong type", name)
			}
			n, ok := parseInt(string(v))
			if !ok {
				return malformed("field %q is not an integer in range", name)
			}
			out.Size = n
		case string:
			if name != "digest" {
				return malformed("field %q has the wrong type", name)
			}
			b, ok := api.DecodeDigest(v)
			if !ok {
				return CreateRequest{}, newError(http.StatusBadRequest, api.CodeBadBase64, "digest is not unpadded base64url")
			}
			out.Digest = b
		default:
			return malformed("field %q has the wrong type", name)
		}
	}
	if _, err := dec.Token(); err != nil {
		return malformed("malformed JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed("data after the JSON object")
	}
	return out, nil
}

// parseInt parses a JSON number that is an integer without fraction or
// exponent, in int64's range.
func parseInt(s string) (int64, bool) {
	if strings.ContainsAny(s, ".eE") {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// truncate shortens a client-supplied string for an error message.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// ParsePartHeaders parses the headers of a part (spec/attachments.md
// §4.4): Upload-Offset, a decimal integer of at most 18 digits without
// sign or leading zeros, and the request's Content-Length (-1 when absent,
// as http.Request.ContentLength). On error ErrorCode(err) is bad_part.
func ParsePartHeaders(offset string, contentLength int64) (off, length int64, err error) {
	off, ok := parseDecimal(offset)
	if !ok {
		return 0, 0, newError(http.StatusBadRequest, api.CodeBadPart, "no valid Upload-Offset")
	}
	if contentLength < 0 {
		return 0, 0, newError(http.StatusBadRequest, api.CodeBadPart, "no Content-Length")
	}
	return off, contentLength, nil
}

// parseDecimal parses a canonical decimal: 1 to 18 digits, no sign, no
// leading zero but in "0" (so it cannot overflow int64).
func parseDecimal(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
