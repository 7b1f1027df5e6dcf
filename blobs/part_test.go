package blobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/blobclient"
	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/blobs/store"
)

// TestPartRefusals: every refusal of a part (spec/attachments.md §4.4)
// answers its code and leaves the offset and the usage as they were.
func TestPartRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		e := newEnv(t, open, nil)
		data, _ := ciphertext("refusals", MinPartSize+100)
		cr := e.create("alice", data)
		ctx := context.Background()
		if _, _, err := e.client("alice").PutPart(ctx, cr.UploadID, 0, bytes.NewReader(data[:MinPartSize]), MinPartSize); err != nil {
			t.Fatal(err)
		}
		path := api.UploadsPath + "/" + api.EncodeID(cr.UploadID)
		rest := data[MinPartSize:]
		good := e.bearer("alice")
		before := e.usage("alice")
		tests := []struct {
			name   string
			path   string
			bearer string
			offset string
			body   []byte
			status int
			code   string
		}{
			{"no token", path, "", strconv.Itoa(MinPartSize), rest, 401, api.CodeInvalidToken},
			{"other account", path, e.bearer("bob"), strconv.Itoa(MinPartSize), rest, 404, api.CodeUnknownUpload},
			{"unknown upload", api.UploadsPath + "/" + api.EncodeID([32]byte{1}), good, strconv.Itoa(MinPartSize), rest, 404, api.CodeUnknownUpload},
			{"malformed id", api.UploadsPath + "/abc", good, strconv.Itoa(MinPartSize), rest, 404, api.CodeUnknownUpload},
			{"no offset", path, good, "", rest, 400, api.CodeBadPart},
			{"signed offset", path, good, "+" + strconv.Itoa(MinPartSize), rest, 400, api.CodeBadPart},
			{"resume at 0", path, good, "0", data[:MinPartSize], 409, api.CodeOffsetMismatch},
			{"offset ahead", path, good, strconv.Itoa(MinPartSize + 50), rest[:50], 409, api.CodeOffsetMismatch},
			{"short part", path, good, strconv.Itoa(MinPartSize), rest[:99], 400, api.CodeBadPart},
			{"long part", path, good, strconv.Itoa(MinPartSize), append(bytes.Clone(rest), 0), 400, api.CodeBadPart},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				h := map[string]string{}
				if tc.offset != "" {
					h[api.HeaderOffset] = tc.offset
				}
				r := e.do(http.MethodPatch, tc.path, tc.bearer, tc.body, h)
				if r.status != tc.status || r.code() != tc.code {
					t.Fatalf("%d %s, want %d %s", r.status, r.code(), tc.status, tc.code)
				}
				if tc.code == api.CodeOffsetMismatch && r.header.Get(api.HeaderOffset) != strconv.Itoa(MinPartSize) {
					t.Fatalf("Upload-Offset %q", r.header.Get(api.HeaderOffset))
				}
				if got := e.offsetOf("alice", cr.UploadID); got != MinPartSize {
					t.Fatalf("offset %d", got)
				}
				if u := e.usage("alice"); u != before {
					t.Fatalf("usage %+v, was %+v", u, before)
				}
			})
		}
		// The client reports the committed offset of a mismatch.
		_, _, err := e.client("alice").PutPart(ctx, cr.UploadID, 0, bytes.NewReader(data[:MinPartSize]), MinPartSize)
		var be *blobclient.Error
		if !errors.As(err, &be) || !errors.Is(err, blobclient.ErrOffsetMismatch) || be.Offset != MinPartSize {
			t.Fatalf("resume at the wrong offset: %v", err)
		}
		// A chunked body has no Content-Length.
		req, _ := http.NewRequest(http.MethodPatch, e.ts.URL+path, io.NopCloser(bytes.NewReader(rest)))
		req.Header.Set("Authorization", "Bearer "+good)
		req.Header.Set(api.HeaderOffset, strconv.Itoa(MinPartSize))
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("chunked part: %d", resp.StatusCode)
		}
		if got := e.offsetOf("alice", cr.UploadID); got != MinPartSize {
			t.Fatalf("offset %d", got)
		}
		// And the right part completes it.
		if _, blob, err := e.client("alice").PutPart(ctx, cr.UploadID, MinPartSize, bytes.NewReader(rest), int64(len(rest))); err != nil || blob == nil {
			t.Fatalf("last part: %v, %v", blob, err)
		}
	})
}

// TestConcurrentPatch: while one request stores a part, another for the
// same upload is refused upload_busy and changes nothing.
func TestConcurrentPatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		data, _ := ciphertext("busy", 5000)
		cr := e.create("alice", data)
		c := e.client("alice")
		pr, pw := io.Pipe()
		type result struct {
			blob *[32]byte
			err  error
		}
		done := make(chan result, 1)
		go func() {
			_, blob, err := c.PutPart(ctx, cr.UploadID, 0, pr, int64(len(data)))
			done <- result{blob, err}
		}()
		if _, err := pw.Write(data[:100]); err != nil {
			t.Fatal(err)
		}
		// The first request holds the lease once the server reads its body.
		waitFor(t, func() bool { return testutilCounter(e.s.m.inProgress) == 1 })
		_, _, err := c.PutPart(ctx, cr.UploadID, 0, bytes.NewReader(data), int64(len(data)))
		if !errors.Is(err, blobclient.ErrUploadBusy) {
			t.Fatalf("second PATCH: %v", err)
		}
		if err := c.Cancel(ctx, cr.UploadID); !errors.Is(err, blobclient.ErrUploadBusy) {
			t.Fatalf("DELETE during a part: %v", err)
		}
		if u := e.usage("alice"); u.OpenUploads != 1 || u.Open != int64(len(data)) {
			t.Fatalf("usage %+v", u)
		}
		if _, err := pw.Write(data[100:]); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		r := <-done
		if r.err != nil || r.blob == nil {
			t.Fatalf("first PATCH: %v", r.err)
		}
		if got, err := e.download(*r.blob); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("download: %v", err)
		}
	})
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawPatch sends a PATCH whose body is the first sent bytes of a part of
// length bytes, then, if closeWrite, ends its side of the connection; it
// returns once the server has closed the connection, and what it read.
func (e *env) rawPatch(id [32]byte, offset, length int64, sent []byte, closeWrite bool) string {
	e.t.Helper()
	conn, err := tls.Dial("tcp", e.ts.Listener.Addr().String(), &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true})
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s/%s HTTP/1.1\r\nHost: blobs\r\nAuthorization: Bearer %s\r\n%s: %d\r\nContent-Length: %d\r\n\r\n",
		api.UploadsPath, api.EncodeID(id), e.bearer("alice"), api.HeaderOffset, offset, length)
	if _, err := conn.Write(sent); err != nil {
		e.t.Fatal(err)
	}
	if closeWrite {
		if err := conn.CloseWrite(); err != nil {
			e.t.Fatal(err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, io.EOF) && !isReset(err) {
		e.t.Fatalf("reading the answer: %v", err)
	}
	return string(got)
}

func isReset(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && !ne.Timeout()
}

// TestShortBody: a body that ends before its Content-Length keeps nothing
// and releases the upload at once.
func TestShortBody(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		e := newEnv(t, open, nil)
		data, _ := ciphertext("short", 8000)
		cr := e.create("alice", data)
		if got := e.rawPatch(cr.UploadID, 0, int64(len(data)), data[:3000], true); got != "" {
			t.Fatalf("answered %q", got)
		}
		if got := e.offsetOf("alice", cr.UploadID); got != 0 {
			t.Fatalf("offset %d", got)
		}
		// Not busy: the whole part goes through now.
		if _, blob, err := e.client("alice").PutPart(context.Background(), cr.UploadID, 0, bytes.NewReader(data), int64(len(data))); err != nil || blob == nil {
			t.Fatalf("PutPart: %v, %v", blob, err)
		}
	})
}

// TestStalledClient: a body that stops arriving loses its lease at the
// part's deadline; nothing of it is kept.
func TestStalledClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		e := newEnv(t, open, func(c *Config) { c.PartTimeout = 500 * time.Millisecond })
		data, _ := ciphertext("stall", 8000)
		cr := e.create("alice", data)
		if got := e.rawPatch(cr.UploadID, 0, int64(len(data)), data[:3000], false); got != "" {
			t.Fatalf("answered %q", got)
		}
		if got := e.offsetOf("alice", cr.UploadID); got != 0 {
			t.Fatalf("offset %d", got)
		}
		if got := testutilCounter(e.s.m.failed.WithLabelValues("timeout")); got != 1 {
			t.Fatalf("timeouts counted %v", got)
		}
		if _, blob, err := e.client("alice").PutPart(context.Background(), cr.UploadID, 0, bytes.NewReader(data), int64(len(data))); err != nil || blob == nil {
			t.Fatalf("PutPart: %v, %v", blob, err)
		}
	})
}

// TestStalledClientHTTP2: the same over HTTP/2, where the deadline resets
// the stream, not the connection.
func TestStalledClientHTTP2(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.PartTimeout = 500 * time.Millisecond })
	data, _ := ciphertext("stall h2", 8000)
	cr := e.create("alice", data)
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(data[:3000])
	c := e.client("alice")
	_, _, err := c.PutPart(context.Background(), cr.UploadID, 0, pr, int64(len(data)))
	if err == nil {
		t.Fatal("a stalled part was answered")
	}
	if got := e.offsetOf("alice", cr.UploadID); got != 0 {
		t.Fatalf("offset %d", got)
	}
	waitFor(t, func() bool { return testutilCounter(e.s.m.inProgress) == 0 })
	if _, blob, err := c.PutPart(context.Background(), cr.UploadID, 0, bytes.NewReader(data), int64(len(data))); err != nil || blob == nil {
		t.Fatalf("PutPart: %v, %v", blob, err)
	}
}

// TestCompletionRecovery: a crash after the last part was committed (and
// maybe after the engine completed the upload) but before the upload row
// became a blob is finished by the next HEAD or PATCH of the upload.
func TestCompletionRecovery(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		for _, tc := range []struct {
			name           string
			engineComplete bool
			method         string
		}{
			{"head before engine completion", false, http.MethodHead},
			{"head after engine completion", true, http.MethodHead},
			{"patch after engine completion", true, http.MethodPatch},
			{"patch before engine completion", false, http.MethodPatch},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, open, nil)
				ctx := context.Background()
				data, _ := ciphertext("recovery", 7000)
				cr := e.create("alice", data)
				// What storePart does up to the crash.
				now := e.clock.Now()
				u, err := e.meta.Upload(ctx, "alice", cr.UploadID, now)
				if err != nil {
					t.Fatal(err)
				}
				p, err := e.engine.PutPart(ctx, u.Key, u.Handle, 1, bytes.NewReader(data), int64(len(data)))
				if err != nil {
					t.Fatal(err)
				}
				h := sha256.New()
				h.Write(data)
				state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
				tok := [16]byte{9}
				if err := e.meta.Lease(ctx, u.ID, 0, tok, now.Add(time.Minute), now); err != nil {
					t.Fatal(err)
				}
				if err := e.meta.CommitPart(ctx, u.ID, tok, 0, meta.Part{Number: p.Number, Size: p.Size, Tag: p.Tag}, state, now.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
				if tc.engineComplete {
					if err := e.engine.CompleteUpload(ctx, u.Key, u.Handle, []store.Part{p}); err != nil {
						t.Fatal(err)
					}
				}
				var id [32]byte
				c := e.client("alice")
				if tc.method == http.MethodHead {
					if _, _, _, err := c.Offset(ctx, cr.UploadID); !errors.Is(err, blobclient.ErrUnknownUpload) {
						t.Fatalf("Offset: %v", err)
					}
					again, err := c.Create(ctx, int64(len(data)), sha256.Sum256(data))
					if err != nil || again.BlobID == nil {
						t.Fatalf("Create again: %+v, %v", again, err)
					}
					id = *again.BlobID
				} else {
					// The client retries the last part it sent.
					_, blob, err := c.PutPart(ctx, cr.UploadID, 0, bytes.NewReader(data), int64(len(data)))
					if err != nil || blob == nil {
						t.Fatalf("PutPart: %v, %v", blob, err)
					}
					id = *blob
				}
				if got, err := e.download(id); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("download: %v", err)
				}
				if u := e.usage("alice"); u.Stored != int64(len(data)) || u.OpenUploads != 0 {
					t.Fatalf("usage %+v", u)
				}
			})
		}
	})
}
