package fuzz

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/sealpost/sealpost/blobs"
	"github.com/sealpost/sealpost/blobs/api"
)

// FuzzRange parses arbitrary Range headers (blobs.ParseRange,
// spec/attachments.md §4.6) for blobs of a fuzzed size. Seeds are the
// forms of RFC 9110 §14.1.2 the service serves and those it refuses.
//
// Checks: no panic; a refusal is range_not_satisfiable; an accepted range
// lies within the blob, is not empty, is the whole blob when not partial,
// and its canonical form "bytes=a-b" parses to the same range.
func FuzzRange(f *testing.F) {
	for _, h := range []string{
		"", "bytes=0-0", "bytes=0-", "bytes=-1", "bytes=5-9", "bytes=-0", "bytes=9-5",
		"bytes=0-1,2-3", "BYTES=1-", "bytes = 1-2", "bytes=99999999999999999999-",
		"bytes=-99999999999999999999", "items=1-2", "bytes=\t1-2\t", "bytes",
	} {
		f.Add(h, int64(1000))
		f.Add(h, int64(1))
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 1 {
			size = 1 // blobs are never empty (spec/attachments.md §4.3)
		}
		start, length, partial, err := blobs.ParseRange(header, size)
		if err != nil {
			if code := blobs.ErrorCode(err); code != api.CodeRangeNotSatisfy {
				t.Fatalf("%q: code %q", header, code)
			}
			return
		}
		if start < 0 || length < 1 || start > size-length {
			t.Fatalf("%q of %d: range %d+%d", header, size, start, length)
		}
		if !partial && (start != 0 || length != size) {
			t.Fatalf("%q: not partial but %d+%d of %d", header, start, length, size)
		}
		canon := "bytes=" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(start+length-1, 10)
		s2, l2, p2, err := blobs.ParseRange(canon, size)
		if err != nil || s2 != start || l2 != length || !p2 {
			t.Fatalf("%q: canonical %q parses to %d+%d %v %v", header, canon, s2, l2, p2, err)
		}
	})
}

// uploadCodes are the codes the create body and part headers may be
// refused with (spec/attachments.md §4.8).
var uploadCodes = map[string]bool{
	api.CodeMalformedJSON: true, api.CodeUnknownField: true, api.CodeBadBase64: true, api.CodeBadPart: true,
}

// FuzzUploadRequest decodes arbitrary bytes as the body of a create
// (blobs.DecodeCreate) and arbitrary Upload-Offset and Content-Length
// values as the headers of a part (blobs.ParsePartHeaders). Seeds are
// well-formed bodies and headers and broken variants of them.
//
// Checks: no panic; the input is not modified; a refusal has a documented
// code; an accepted body re-encodes to one that decodes to the same value;
// an accepted offset is non-negative and formats back to the header.
func FuzzUploadRequest(f *testing.F) {
	digest := api.EncodeID([32]byte{1, 2, 3})
	for _, b := range []string{
		`{"size":4160,"digest":"` + digest + `"}`,
		`{"digest":"` + digest + `","size":1}`,
		`{"size":4160,"digest":"` + digest + `"} x`,
		`{"size":4160,"size":1}`,
		`{"size":1.5}`, `{"size":1e3}`, `{"size":-1}`, `{"size":"1"}`,
		`{"digest":"` + digest + `="}`, `{"Digest":""}`, `{"name":"a"}`, ` null `, `{}`, `[]`,
	} {
		f.Add([]byte(b), "0", int64(4160))
		f.Add([]byte(b), "5242880", int64(-1))
		f.Add([]byte(b), "007", int64(0))
	}
	f.Fuzz(func(t *testing.T, body []byte, offset string, contentLength int64) {
		orig := bytes.Clone(body)
		req, err := blobs.DecodeCreate(body)
		if !bytes.Equal(body, orig) {
			t.Fatal("DecodeCreate modified its input")
		}
		if err != nil {
			if !uploadCodes[blobs.ErrorCode(err)] {
				t.Fatalf("DecodeCreate(%q): undocumented error %v", body, err)
			}
		} else {
			again, _ := json.Marshal(map[string]any{"size": req.Size, "digest": encode(req.Digest)})
			req2, err := blobs.DecodeCreate(again)
			if err != nil || req2.Size != req.Size || !bytes.Equal(req2.Digest, req.Digest) {
				t.Fatalf("%q re-encoded as %q: %+v, %v", body, again, req2, err)
			}
		}
		off, length, err := blobs.ParsePartHeaders(offset, contentLength)
		if err != nil {
			if blobs.ErrorCode(err) != api.CodeBadPart {
				t.Fatalf("ParsePartHeaders(%q, %d): %v", offset, contentLength, err)
			}
			return
		}
		if off < 0 || length != contentLength || strconv.FormatInt(off, 10) != offset {
			t.Fatalf("ParsePartHeaders(%q, %d) = %d, %d", offset, contentLength, off, length)
		}
	})
}

// encode is a digest field's text.
func encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
