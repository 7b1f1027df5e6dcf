package keyserver

import (
	"context"
	"crypto/ed25519"
	"sync"

	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/store"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// checkpointer signs checkpoints of the log on demand (spec/keyserver.md
// §6.1) and keeps the latest one: a checkpoint is signed once per tree
// size.
type checkpointer struct {
	origin   string
	signer   note.Signer
	verifier string // kt.VerifierKey text

	mu     sync.Mutex
	size   int64
	signed []byte // nil until the first checkpoint is signed
}

func newCheckpointer(origin string, key ed25519.PrivateKey) (*checkpointer, error) {
	signer, err := kt.NewSigner(origin, key)
	if err != nil {
		return nil, err
	}
	vkey, err := kt.VerifierKey(origin, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &checkpointer{origin: origin, signer: signer, verifier: vkey}, nil
}

// hashReader reads the log's stored hashes through st.
func hashReader(ctx context.Context, st store.Store) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return st.ReadHashes(ctx, idx)
	})
}

// checkpoint returns the signed checkpoint of the log at size, signing it
// if it is not the one kept.
func (c *checkpointer) checkpoint(ctx context.Context, st store.Store, size int64) ([]byte, error) {
	c.mu.Lock()
	if c.signed != nil && c.size == size {
		signed := c.signed
		c.mu.Unlock()
		return signed, nil
	}
	c.mu.Unlock()
	root, err := tlog.TreeHash(size, hashReader(ctx, st))
	if err != nil {
		return nil, err
	}
	signed, err := kt.SignCheckpoint(c.signer, c.origin, size, root)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if size >= c.size {
		c.size, c.signed = size, signed
	}
	c.mu.Unlock()
	return signed, nil
}
