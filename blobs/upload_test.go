package blobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/blobclient"
	"github.com/sealpost/sealpost/blobs/meta"
)

// TestUploadDownload sends a blob of two parts, asks the offset between
// them, and downloads it whole and from offsets, on every backend.
func TestUploadDownload(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		data, digest := ciphertext("two parts", MinPartSize+1000)
		c := e.client("alice")
		cr, err := c.Create(ctx, int64(len(data)), digest)
		if err != nil {
			t.Fatal(err)
		}
		if cr.PartSize != MinPartSize || cr.Offset != 0 || cr.BlobID != nil {
			t.Fatalf("Create = %+v", cr)
		}
		if u := e.usage("alice"); u.Open != int64(len(data)) || u.OpenUploads != 1 || u.Stored != 0 {
			t.Fatalf("usage after create %+v", u)
		}
		next, blob, err := c.PutPart(ctx, cr.UploadID, 0, bytes.NewReader(data[:MinPartSize]), MinPartSize)
		if err != nil || next != MinPartSize || blob != nil {
			t.Fatalf("first part: %d, %v, %v", next, blob, err)
		}
		off, size, z, err := c.Offset(ctx, cr.UploadID)
		if err != nil || off != MinPartSize || size != int64(len(data)) || z != MinPartSize {
			t.Fatalf("Offset = %d, %d, %d, %v", off, size, z, err)
		}
		next, blob, err = c.PutPart(ctx, cr.UploadID, off, bytes.NewReader(data[off:]), int64(len(data))-off)
		if err != nil || blob == nil || next != int64(len(data)) {
			t.Fatalf("last part: %d, %v, %v", next, blob, err)
		}
		if u := e.usage("alice"); u.Stored != int64(len(data)) || u.Open != 0 || u.OpenUploads != 0 {
			t.Fatalf("usage after completion %+v", u)
		}
		if _, _, _, err := c.Offset(ctx, cr.UploadID); !errors.Is(err, blobclient.ErrUnknownUpload) {
			t.Fatalf("Offset of a completed upload: %v", err)
		}
		got, err := e.download(*blob)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("download: %d bytes, %v", len(got), err)
		}
		for _, from := range []int64{1, MinPartSize - 1, MinPartSize, int64(len(data)) - 1} {
			rc, total, err := c.Get(ctx, *blob, from)
			if err != nil {
				t.Fatalf("Get from %d: %v", from, err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || total != int64(len(data)) || !bytes.Equal(b, data[from:]) {
				t.Fatalf("Get from %d: %d bytes of %d, %v", from, len(b), total, err)
			}
		}
		r := e.do(http.MethodHead, api.Prefix+api.EncodeID(*blob), "", nil, nil)
		h := r.header
		if r.status != http.StatusOK || h.Get("Content-Type") != "application/octet-stream" || h.Get("Accept-Ranges") != "bytes" ||
			h.Get("ETag") != `"`+api.EncodeID(digest)+`"` || h.Get("Content-Length") != strconv.Itoa(len(data)) ||
			h.Get("Cache-Control") != "public, max-age="+strconv.Itoa(int(DefaultBlobTTL.Seconds()))+", immutable" {
			t.Fatalf("HEAD: %d %v", r.status, h)
		}
	})
}

// TestCreateRefusals: every refusal of a create (spec/attachments.md §4.3,
// §4.8) answers its code and creates nothing.
func TestCreateRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		e := newEnv(t, open, func(c *Config) { c.MaxBlobSize = 10 << 20 })
		d := api.EncodeID(sha256.Sum256([]byte("x")))
		good := e.bearer("alice")
		tests := []struct {
			name   string
			bearer string
			body   string
			status int
			code   string
		}{
			{"no token", "", `{"size":10,"digest":"` + d + `"}`, 401, api.CodeInvalidToken},
			{"garbage token", "abc", `{"size":10,"digest":"` + d + `"}`, 401, api.CodeInvalidToken},
			{"relay token", e.mint("alice", "relay:"+serverName), `{"size":10,"digest":"` + d + `"}`, 401, api.CodeWrongAudience},
			{"not json", good, `size=10`, 400, api.CodeMalformedJSON},
			{"array", good, `[1]`, 400, api.CodeMalformedJSON},
			{"trailing", good, `{"size":10,"digest":"` + d + `"} {}`, 400, api.CodeMalformedJSON},
			{"repeated", good, `{"size":10,"size":11,"digest":"` + d + `"}`, 400, api.CodeMalformedJSON},
			{"fraction", good, `{"size":10.0,"digest":"` + d + `"}`, 400, api.CodeMalformedJSON},
			{"exponent", good, `{"size":1e3,"digest":"` + d + `"}`, 400, api.CodeMalformedJSON},
			{"huge", good, `{"size":99999999999999999999,"digest":"` + d + `"}`, 400, api.CodeMalformedJSON},
			{"size string", good, `{"size":"10","digest":"` + d + `"}`, 400, api.CodeMalformedJSON},
			{"unknown field", good, `{"size":10,"digest":"` + d + `","name":"x"}`, 400, api.CodeUnknownField},
			{"case", good, `{"Size":10,"digest":"` + d + `"}`, 400, api.CodeUnknownField},
			{"padded base64", good, `{"size":10,"digest":"` + d + `="}`, 400, api.CodeBadBase64},
			{"std base64", good, `{"size":10,"digest":"+/"}`, 400, api.CodeBadBase64},
			{"size 0", good, `{"size":0,"digest":"` + d + `"}`, 400, api.CodeBadRequest},
			{"size negative", good, `{"size":-5,"digest":"` + d + `"}`, 400, api.CodeBadRequest},
			{"no size", good, `{"digest":"` + d + `"}`, 400, api.CodeBadRequest},
			{"null digest", good, `{"size":10,"digest":null}`, 400, api.CodeBadRequest},
			{"short digest", good, `{"size":10,"digest":"` + d[:40] + `"}`, 400, api.CodeBadRequest},
			{"too large", good, `{"size":10485761,"digest":"` + d + `"}`, 413, api.CodeBlobTooLarge},
			{"body too large", good, `{"size":10,"digest":"` + d + `"}` + string(bytes.Repeat([]byte(" "), api.MaxCreateBody)), 413, api.CodeBodyTooLarge},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do(http.MethodPost, api.UploadsPath, tc.bearer, []byte(tc.body), nil)
				if r.status != tc.status || r.code() != tc.code {
					t.Fatalf("%d %s, want %d %s (%s)", r.status, r.code(), tc.status, tc.code, r.body)
				}
				if r.status == 401 && r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if r.header.Get("Content-Type") != "application/json" || r.header.Get("Cache-Control") != "no-store" {
					t.Errorf("headers %v", r.header)
				}
				if u := e.usage("alice"); u != (meta.Usage{}) {
					t.Fatalf("usage changed: %+v", u)
				}
			})
		}
		r := e.do(http.MethodGet, api.UploadsPath, good, nil, nil)
		if r.status != http.StatusMethodNotAllowed || r.code() != api.CodeMethodNotAllowed || r.header.Get("Allow") != "POST" {
			t.Fatalf("GET uploads: %d %s %v", r.status, r.code(), r.header)
		}
		if r := e.do(http.MethodGet, "/v1/blobs/a/b", "", nil, nil); r.status != 404 || r.code() != api.CodeNotFound {
			t.Fatalf("GET a/b: %d %s", r.status, r.code())
		}
	})
}

// TestQuota: an upload past the account's quota or open-upload limit is
// refused and changes nothing; another account is not affected.
func TestQuota(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		e := newEnv(t, open, func(c *Config) { c.AccountQuota = 10000; c.MaxOpenUploads = 2 })
		ctx := context.Background()
		big, _ := ciphertext("big", 6000)
		other, _ := ciphertext("other", 5000)
		e.upload("alice", big)
		before := e.usage("alice")
		_, err := e.client("alice").Create(ctx, int64(len(other)), sha256.Sum256(other))
		wantCode(t, err, api.CodeQuotaExceeded)
		if !errors.Is(err, blobclient.ErrQuotaExceeded) {
			t.Fatalf("errors.Is(%v, ErrQuotaExceeded) false", err)
		}
		if u := e.usage("alice"); u != before {
			t.Fatalf("usage %+v, was %+v", u, before)
		}
		// The open-upload limit.
		a, _ := ciphertext("a", 100)
		b, _ := ciphertext("b", 100)
		c, _ := ciphertext("c", 100)
		e.create("alice", a)
		e.create("alice", b)
		before = e.usage("alice")
		_, err = e.client("alice").Create(ctx, int64(len(c)), sha256.Sum256(c))
		wantCode(t, err, api.CodeQuotaExceeded)
		if u := e.usage("alice"); u != before {
			t.Fatalf("usage %+v, was %+v", u, before)
		}
		// Bob has his own quota.
		e.upload("bob", other)
		if got := testutilCounter(e.s.m.quota); got != 2 {
			t.Fatalf("quota refusals counted %v, want 2", got)
		}
	})
}

// TestDedup: an account creating a blob it holds gets that blob, with its
// expiry moved; another account holding the same ciphertext gets an upload
// of its own.
func TestDedup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		data, digest := ciphertext("dedup", 3000)
		id := e.upload("alice", data)
		e.clock.Advance(DefaultBlobTTL / 2)
		cr, err := e.client("alice").Create(ctx, int64(len(data)), digest)
		if err != nil || cr.BlobID == nil || *cr.BlobID != id {
			t.Fatalf("alice's second create: %+v, %v", cr, err)
		}
		if want := e.clock.Now().Add(DefaultBlobTTL); !cr.Expires.Equal(want) {
			t.Fatalf("expiry %v, want %v", cr.Expires, want)
		}
		if u := e.usage("alice"); u.OpenUploads != 0 || u.Stored != int64(len(data)) {
			t.Fatalf("alice's usage %+v", u)
		}
		// Past the first expiry the blob still serves.
		e.clock.Advance(DefaultBlobTTL/2 + 1)
		if got, err := e.download(id); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("download after extension: %v", err)
		}
		cr, err = e.client("bob").Create(ctx, int64(len(data)), digest)
		if err != nil || cr.BlobID != nil {
			t.Fatalf("bob's create: %+v, %v", cr, err)
		}
		if u := e.usage("bob"); u.OpenUploads != 1 {
			t.Fatalf("bob's usage %+v", u)
		}
		// Same digest, other size: no dedup.
		cr, err = e.client("alice").Create(ctx, int64(len(data))+1, digest)
		if err != nil || cr.BlobID != nil {
			t.Fatalf("create of another size: %+v, %v", cr, err)
		}
		if got := testutilCounter(e.s.m.dedup); got != 1 {
			t.Fatalf("dedup hits %v, want 1", got)
		}
	})
}

// TestDigestMismatch: a last part that does not give the declared digest
// is refused and the upload is gone with its parts.
func TestDigestMismatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		data, _ := ciphertext("mismatch", MinPartSize+10)
		cr := e.create("alice", data)
		c := e.client("alice")
		if _, _, err := c.PutPart(ctx, cr.UploadID, 0, bytes.NewReader(data[:MinPartSize]), MinPartSize); err != nil {
			t.Fatal(err)
		}
		bad := bytes.Clone(data[MinPartSize:])
		bad[3] ^= 1
		_, blob, err := c.PutPart(ctx, cr.UploadID, MinPartSize, bytes.NewReader(bad), int64(len(bad)))
		if !errors.Is(err, blobclient.ErrDigestMismatch) || blob != nil {
			t.Fatalf("PutPart = %v, %v", blob, err)
		}
		var be *blobclient.Error
		if errors.As(err, &be); be.Status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d", be.Status)
		}
		if _, _, _, err := c.Offset(ctx, cr.UploadID); !errors.Is(err, blobclient.ErrUnknownUpload) {
			t.Fatalf("Offset after mismatch: %v", err)
		}
		if u := e.usage("alice"); u != (meta.Usage{}) {
			t.Fatalf("usage %+v", u)
		}
		// The right bytes now need a new upload, which works.
		id := e.upload("alice", data)
		if got, err := e.download(id); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("download: %v", err)
		}
	})
}

// TestCancel: DELETE removes the upload; its size no longer counts.
func TestCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		data, _ := ciphertext("cancel", MinPartSize+10)
		cr := e.create("alice", data)
		c := e.client("alice")
		if _, _, err := c.PutPart(ctx, cr.UploadID, 0, bytes.NewReader(data[:MinPartSize]), MinPartSize); err != nil {
			t.Fatal(err)
		}
		if err := e.client("bob").Cancel(ctx, cr.UploadID); !errors.Is(err, blobclient.ErrUnknownUpload) {
			t.Fatalf("bob cancels alice's upload: %v", err)
		}
		if got := e.offsetOf("alice", cr.UploadID); got != MinPartSize {
			t.Fatalf("offset %d after bob's cancel", got)
		}
		if err := c.Cancel(ctx, cr.UploadID); err != nil {
			t.Fatal(err)
		}
		if u := e.usage("alice"); u != (meta.Usage{}) {
			t.Fatalf("usage %+v", u)
		}
		if _, _, err := c.PutPart(ctx, cr.UploadID, MinPartSize, bytes.NewReader(data[MinPartSize:]), 10); !errors.Is(err, blobclient.ErrUnknownUpload) {
			t.Fatalf("PutPart after cancel: %v", err)
		}
		if err := c.Cancel(ctx, cr.UploadID); !errors.Is(err, blobclient.ErrUnknownUpload) {
			t.Fatalf("second cancel: %v", err)
		}
	})
}
