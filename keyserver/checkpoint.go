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

// checkpointer signs checkpoints of the log on demand (spec/keyserver.md
// §6.1) and keeps the latest one: a checkpoint is signed once per tree
// size, and again when its timestamp (spec/transparency.md §5.3) is older
// than refresh, so that an unchanged tree is still served fresh.
type checkpointer struct {
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

func newCheckpointer(origin string, key ed25519.PrivateKey, refresh time.Duration, now func() time.Time) (*checkpointer, error) {
	signer, err := kt.NewSigner(origin, key)
	if err != nil {
		return nil, err
	}
	vkey, err := kt.VerifierKey(origin, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &checkpointer{origin: origin, key: key, signer: signer, verifier: vkey, refresh: refresh, now: now}, nil
}

// hashReader reads the log's stored hashes through st.
func hashReader(ctx context.Context, st store.Store) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return st.ReadHashes(ctx, idx)
	})
}

// checkpoint returns the signed checkpoint of the log at size with the
// witnesses' cosignature lines for that size appended
// (spec/transparency-v2.md §7.3), if there are witnesses.
func (c *checkpointer) checkpoint(ctx context.Context, st store.Store, size int64) ([]byte, error) {
	signed, err := c.plain(ctx, st, size)
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
func (c *checkpointer) plain(ctx context.Context, st store.Store, size int64) ([]byte, error) {
	now := c.now()
	c.mu.Lock()
	if c.signed != nil && c.size == size && now.Sub(c.signedAt) < c.refresh {
		signed := c.signed
		c.mu.Unlock()
		return signed, nil
	}
	c.mu.Unlock()
	root, err := tlog.TreeHash(size, hashReader(ctx, st))
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
