package keyserver

import (
	"context"
	"crypto/ed25519"
	"sync"
	"time"

	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/store"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// logSource reads the published transparency log from the store: the
// version 2 log of directory epochs (spec/transparency-v2.md §5), an RFC
// 6962 tree kept as tlog stored hashes. Everything built on it
// (checkpoints, cosigning, the /v2/log endpoints) reads it through this.
// The version 1 log of key-set changes is kept in the store too, but only
// internally (its indexes are the revocation feed's cursor): nothing
// publishes or signs it (spec/keyserver.md §6).
type logSource struct {
	size   func(ctx context.Context) (int64, error)
	hashes func(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	leaves func(ctx context.Context, start, end int64) ([][]byte, error)
}

// v2Log is the version 2 log: one leaf per epoch, epoch e at index e−1, so
// its size is the latest epoch (spec/transparency-v2.md §5).
func v2Log(st store.Store) logSource {
	return logSource{
		size: func(ctx context.Context) (int64, error) {
			e, err := st.LatestEpoch(ctx)
			return int64(e), err
		},
		hashes: st.EpochHashes,
		leaves: st.EpochLeaves,
	}
}

// hashReader reads the log's stored hashes.
func (l *logSource) hashReader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return l.hashes(ctx, idx)
	})
}

// checkpointer signs checkpoints of the directory's log on demand
// (spec/keyserver.md §9.3) with the log key and keeps the latest one: a
// checkpoint is signed once per tree size, and again when its timestamp
// (spec/transparency.md §5.3) is older than refresh, so that an unchanged
// tree is still served fresh.
type checkpointer struct {
	src      logSource
	origin   string
	key      ed25519.PrivateKey
	signer   note.Signer
	verifier string // kt.VerifierKey text
	refresh  time.Duration
	now      func() time.Time
	cos      *cosigner // nil without witnesses

	mu       sync.Mutex
	size     int64
	signedAt time.Time
	signed   []byte // nil until the first checkpoint is signed
}

func newCheckpointer(src logSource, origin string, key ed25519.PrivateKey, refresh time.Duration, now func() time.Time) (*checkpointer, error) {
	signer, err := kt.NewSigner(origin, key)
	if err != nil {
		return nil, err
	}
	vkey, err := kt.VerifierKey(origin, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &checkpointer{src: src, origin: origin, key: key, signer: signer, verifier: vkey, refresh: refresh, now: now}, nil
}

// checkpoint returns the signed checkpoint of the log at size with the
// witnesses' cosignature lines for that size appended
// (spec/transparency-v2.md §7.3), if there are witnesses.
func (c *checkpointer) checkpoint(ctx context.Context, size int64) ([]byte, error) {
	signed, err := c.plain(ctx, size)
	if err != nil || c.cos == nil {
		return signed, err
	}
	lines := c.cos.linesFor(size)
	if len(lines) == 0 {
		c.cos.wake()
		return signed, nil
	}
	return kt.AppendCosignatures(signed, lines)
}

// plain returns the signed checkpoint of the log at size, signing it
// if the one kept is of another size or older than refresh.
func (c *checkpointer) plain(ctx context.Context, size int64) ([]byte, error) {
	now := c.now()
	c.mu.Lock()
	if c.signed != nil && c.size == size && now.Sub(c.signedAt) < c.refresh {
		signed := c.signed
		c.mu.Unlock()
		return signed, nil
	}
	c.mu.Unlock()
	root, err := tlog.TreeHash(size, c.src.hashReader(ctx))
	if err != nil {
		return nil, err
	}
	stamp, err := kt.NewTimestampSigner(c.origin, c.key, now)
	if err != nil {
		return nil, err
	}
	signed, err := kt.SignCheckpoint(c.signer, c.origin, size, root, stamp)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if size > c.size || (size == c.size && now.After(c.signedAt)) {
		c.size, c.signedAt, c.signed = size, now, signed
	}
	c.mu.Unlock()
	return signed, nil
}
