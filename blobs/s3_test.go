package blobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs/blobclient"
	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/blobs/store"
	"github.com/sealpost/sealpost/blobs/store/s3"
	"github.com/sealpost/sealpost/internal/versitygwtest"
)

// TestS3 runs the service over the S3 engine against a real S3 server
// (versitygw): a two-part upload and its ranged download, a digest
// mismatch, a completion finished after a crash, and the sweep.
func TestS3(t *testing.T) {
	gw := versitygwtest.Start(t)
	openS3 := func(t testing.TB) store.Engine {
		e, err := s3.Open(context.Background(), s3.Config{
			Endpoint: gw.Endpoint, Bucket: gw.Bucket, Prefix: "t/",
			AccessKey: gw.AccessKey, SecretKey: gw.SecretKey, Region: versitygwtest.Region,
		})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := newEnvEngine(t, nil, openS3, nil)
	ctx := context.Background()

	data, _ := ciphertext("s3 two parts", MinPartSize+5000)
	id := e.upload("alice", data)
	rc, total, err := e.client("bob").Get(ctx, id, MinPartSize-10)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(rc)
	rc.Close()
	if total != int64(len(data)) || !bytes.Equal(got.Bytes(), data[MinPartSize-10:]) {
		t.Fatalf("ranged download: %d bytes of %d", got.Len(), total)
	}

	bad, _ := ciphertext("s3 mismatch", 6000)
	cr := e.create("alice", bad)
	bad[0] ^= 1
	if _, _, err := e.client("alice").PutPart(ctx, cr.UploadID, 0, bytes.NewReader(bad), int64(len(bad))); !errors.Is(err, blobclient.ErrDigestMismatch) {
		t.Fatalf("mismatch: %v", err)
	}

	// A crash after the engine completed the upload, before its row
	// became a blob.
	rec, _ := ciphertext("s3 recovery", 7000)
	cr = e.create("alice", rec)
	now := e.clock.Now()
	u, err := e.meta.Upload(ctx, "alice", cr.UploadID, now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.engine.PutPart(ctx, u.Key, u.Handle, 1, bytes.NewReader(rec), int64(len(rec)))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write(rec)
	state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	tok := [16]byte{7}
	if err := e.meta.Lease(ctx, u.ID, 0, tok, now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := e.meta.CommitPart(ctx, u.ID, tok, 0, meta.Part{Number: p.Number, Size: p.Size, Tag: p.Tag}, state, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.engine.CompleteUpload(ctx, u.Key, u.Handle, []store.Part{p}); err != nil {
		t.Fatal(err)
	}
	_, blob, err := e.client("alice").PutPart(ctx, cr.UploadID, 0, bytes.NewReader(rec), int64(len(rec)))
	if err != nil || blob == nil {
		t.Fatalf("PutPart after the crash: %v, %v", blob, err)
	}
	if got, err := e.download(*blob); err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("download: %v", err)
	}

	b, err := e.meta.Blob(ctx, id, now)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultBlobTTL)
	if n, _, err := e.s.Sweep(ctx, e.clock.Now()); err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v", n, err)
	}
	if _, err := e.meta.Blob(ctx, id, now); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("blob row after the sweep: %v", err)
	}
	if _, err := e.engine.Size(ctx, b.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("object after the sweep: %v", err)
	}
}
