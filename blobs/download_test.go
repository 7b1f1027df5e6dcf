package blobs

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/blobclient"
	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/blobs/store"
)

// TestDownloadRanges: the ranges of spec/attachments.md §4.6 over HTTPS.
func TestDownloadRanges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		e := newEnv(t, open, nil)
		data, _ := ciphertext("ranges", 5000)
		id := e.upload("alice", data)
		path := api.Prefix + api.EncodeID(id)
		size := strconv.Itoa(len(data))
		tests := []struct {
			rng    string
			status int
			from   int
			to     int // exclusive
		}{
			{"", 200, 0, 5000},
			{"bytes=0-0", 206, 0, 1},
			{"bytes=10-19", 206, 10, 20},
			{"bytes=4990-", 206, 4990, 5000},
			{"bytes=4000-9999", 206, 4000, 5000},
			{"bytes=-10", 206, 4990, 5000},
			{"bytes=-9999", 206, 0, 5000},
			{"bytes=5000-", 416, 0, 0},
			{"bytes=5000-5001", 416, 0, 0},
			{"bytes=-0", 416, 0, 0},
			{"bytes=0-1,3-4", 416, 0, 0},
			{"bytes=5-1", 416, 0, 0},
			{"bytes=x-", 416, 0, 0},
			{"pages=1-2", 200, 0, 5000},
		}
		for _, tc := range tests {
			h := map[string]string{}
			if tc.rng != "" {
				h["Range"] = tc.rng
			}
			r := e.do(http.MethodGet, path, "", nil, h)
			if r.status != tc.status {
				t.Fatalf("%q: %d, want %d", tc.rng, r.status, tc.status)
			}
			switch tc.status {
			case 416:
				if r.code() != api.CodeRangeNotSatisfy || r.header.Get("Content-Range") != "bytes */"+size {
					t.Fatalf("%q: %s %v", tc.rng, r.code(), r.header)
				}
			case 206:
				want := "bytes " + strconv.Itoa(tc.from) + "-" + strconv.Itoa(tc.to-1) + "/" + size
				if r.header.Get("Content-Range") != want {
					t.Fatalf("%q: Content-Range %q, want %q", tc.rng, r.header.Get("Content-Range"), want)
				}
				fallthrough
			default:
				if !bytes.Equal(r.body, data[tc.from:tc.to]) {
					t.Fatalf("%q: wrong bytes", tc.rng)
				}
			}
		}
		_, _, err := e.client("x").Get(context.Background(), id, int64(len(data)))
		if !errors.Is(err, blobclient.ErrRange) {
			t.Fatalf("Get past the end: %v", err)
		}
		for _, p := range []string{api.Prefix + "abc", api.Prefix + api.EncodeID([32]byte{1}), api.Prefix + api.EncodeID(id) + "="} {
			if r := e.do(http.MethodGet, p, "", nil, nil); r.status != 404 || r.code() != api.CodeNotFound {
				t.Fatalf("GET %s: %d %s", p, r.status, r.code())
			}
		}
		if r := e.do(http.MethodDelete, path, e.bearer("alice"), nil, nil); r.status != http.StatusMethodNotAllowed {
			t.Fatalf("DELETE of a blob: %d", r.status)
		}
	})
}

// TestExpiry: an expired blob is 404 before the sweeper runs; the sweeper
// then deletes it from the engine and the database, and expired uploads
// too.
func TestExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) meta.Store) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		data, _ := ciphertext("expiry", 3000)
		id := e.upload("alice", data)
		pending, _ := ciphertext("pending", 3000)
		cr := e.create("bob", pending)
		e.clock.Advance(DefaultUploadTTL)
		if _, _, _, err := e.client("bob").Offset(ctx, cr.UploadID); !errors.Is(err, blobclient.ErrUnknownUpload) {
			t.Fatalf("Offset of an expired upload: %v", err)
		}
		e.clock.Advance(DefaultBlobTTL - DefaultUploadTTL)
		if _, err := e.download(id); !errors.Is(err, blobclient.ErrNotFound) {
			t.Fatalf("download of an expired blob: %v", err)
		}
		b, err := e.meta.Blob(ctx, id, e.clock.Now().Add(-time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.engine.Size(ctx, b.Key); err != nil {
			t.Fatalf("the bytes are gone before the sweep: %v", err)
		}
		blobs, uploads, err := e.s.Sweep(ctx, e.clock.Now())
		if err != nil || blobs != 1 || uploads != 1 {
			t.Fatalf("Sweep = %d, %d, %v", blobs, uploads, err)
		}
		if _, err := e.engine.Size(ctx, b.Key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("engine Size after the sweep: %v", err)
		}
		if u := e.usage("alice"); u.Stored != 0 {
			t.Fatalf("usage %+v", u)
		}
		if blobs, uploads, err := e.s.Sweep(ctx, e.clock.Now()); err != nil || blobs+uploads != 0 {
			t.Fatalf("second Sweep = %d, %d, %v", blobs, uploads, err)
		}
	})
}

// TestRun: the sweeper Run starts deletes what has expired, on its own.
func TestRun(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.SweepInterval = 10 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	data, _ := ciphertext("run", 3000)
	id := e.upload("alice", data)
	b, err := e.meta.Blob(context.Background(), id, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultBlobTTL)
	waitFor(t, func() bool {
		_, err := e.engine.Size(context.Background(), b.Key)
		return errors.Is(err, store.ErrNotFound)
	})
	waitFor(t, func() bool {
		_, err := e.meta.Blob(context.Background(), id, e.clock.Now().Add(-DefaultBlobTTL))
		return errors.Is(err, meta.ErrNotFound)
	})
}
