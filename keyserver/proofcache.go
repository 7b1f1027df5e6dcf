package keyserver

import (
	"context"
	"sync"

	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

// maxCachedProofBytes bounds the bytes of the map proofs proofCache keeps
// (a proof holds a hash per level of the walk: under a kilobyte for a
// directory of a million handles).
const maxCachedProofBytes = 32 << 20

// proofCache keeps the map proofs lookups served at the newest epoch read,
// by index, with what a lookup needs of each (its kind and proven
// version). It is exact for the same reason as nodeCache: a committed
// epoch's map never changes, so the proof of an index at epoch e is the
// same bytes forever (spec/transparency-v2.md §4.7). A proof of a newer
// epoch empties it; when full, an arbitrary proof goes.
type proofCache struct {
	mu     sync.Mutex
	epoch  uint64
	proofs map[vmap.Index]cachedProof
	bytes  int
}

type cachedProof struct {
	proof   []byte // as vmap.Map.Prove returned it; never modified
	kind    byte
	version uint64 // the proven value's version, for vmap.KindPresent
}

// prove returns the map proof of index at epoch, its kind and, when
// present, the proven version: cached, or from m.
func (c *proofCache) prove(ctx context.Context, m *vmap.Map, epoch uint64, index vmap.Index) (cachedProof, error) {
	c.mu.Lock()
	p, ok := c.proofs[index]
	ok = ok && c.epoch == epoch
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	b, err := m.Prove(ctx, epoch, index)
	if err != nil {
		return cachedProof{}, err
	}
	parsed, err := vmap.ParseProof(b)
	if err != nil {
		return cachedProof{}, err
	}
	p = cachedProof{proof: b, kind: parsed.Kind}
	if parsed.Kind == vmap.KindPresent {
		p.version = parsed.Value.Version
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch > c.epoch || c.proofs == nil {
		c.epoch, c.proofs, c.bytes = max(epoch, c.epoch), make(map[vmap.Index]cachedProof), 0
	}
	if epoch != c.epoch {
		return p, nil // an older epoch's proof: served, not kept
	}
	if old, ok := c.proofs[index]; ok {
		c.bytes -= len(old.proof)
		delete(c.proofs, index)
	}
	for i, old := range c.proofs {
		if c.bytes+len(b) <= maxCachedProofBytes {
			break
		}
		c.bytes -= len(old.proof)
		delete(c.proofs, i)
	}
	c.proofs[index] = p
	c.bytes += len(b)
	return p, nil
}
