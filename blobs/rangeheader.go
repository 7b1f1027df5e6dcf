package blobs

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/sealpost/sealpost/blobs/api"
)

// ParseRange reads a Range header (RFC 9110 §14.2) for a blob of size
// bytes (size ≥ 1) and returns the one range to serve: start and length,
// with partial true when the answer is a 206. An empty header, or one of
// another unit than bytes, asks for the whole blob (partial false).
//
// One range is served (spec/attachments.md §4.6): "bytes=a-b" (b past the
// end is cut to the end), "bytes=a-" and "bytes=-k" (the last k bytes, all
// of them if k ≥ size). A range that starts at or past the end, a suffix
// of 0 bytes, several ranges, and anything malformed are refused: on error
// ErrorCode(err) is range_not_satisfiable.
func ParseRange(header string, size int64) (start, length int64, partial bool, err error) {
	if header == "" {
		return 0, size, false, nil
	}
	unit, set, ok := strings.Cut(header, "=")
	if !ok {
		return 0, 0, false, rangeError(size, "malformed Range")
	}
	unit = strings.TrimSpace(unit)
	if !strings.EqualFold(unit, "bytes") {
		if validToken(unit) {
			return 0, size, false, nil // another unit: ignored (RFC 9110 §14.2)
		}
		return 0, 0, false, rangeError(size, "malformed Range")
	}
	if strings.Contains(set, ",") {
		return 0, 0, false, rangeError(size, "several ranges are not served")
	}
	spec := strings.Trim(set, " \t")
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false, rangeError(size, "malformed range")
	}
	if first == "" {
		// bytes=-k: the last k bytes.
		k, ok := parseDigits(last)
		if !ok {
			return 0, 0, false, rangeError(size, "malformed range")
		}
		if k == 0 {
			return 0, 0, false, rangeError(size, "empty suffix range")
		}
		k = min(k, size)
		return size - k, k, true, nil
	}
	a, ok := parseDigits(first)
	if !ok {
		return 0, 0, false, rangeError(size, "malformed range")
	}
	end := size - 1
	if last != "" {
		b, ok := parseDigits(last)
		if !ok || b < a {
			return 0, 0, false, rangeError(size, "malformed range")
		}
		end = min(b, end)
	}
	if a >= size {
		return 0, 0, false, rangeError(size, "range starts past the end")
	}
	return a, end - a + 1, true, nil
}

// parseDigits parses 1*DIGIT; values past int64 saturate at its maximum
// (a position past any blob's end).
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	const maxInt = int64(^uint64(0) >> 1)
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (maxInt-int64(c-'0'))/10 {
			n = maxInt
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// validToken reports whether s is an RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func rangeError(size int64, msg string) *apiError {
	e := newError(http.StatusRequestedRangeNotSatisfiable, api.CodeRangeNotSatisfy, "%s", msg)
	e.header = map[string]string{"Content-Range": fmt.Sprintf("bytes */%d", size)}
	return e
}
