package keyserver

import (
	"context"
	"sync"

	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

// maxCachedNodes bounds the inner nodes nodeCache keeps (about 250 bytes
// each): enough for every inner node of a directory of that many handles.
const maxCachedNodes = 1 << 18

// nodeCache is the NodeStore the directory's map reads through: it keeps
// the inner nodes and the root of the newest epoch read, so that a lookup
// reads from the store only the leaf on its path
// (spec/transparency-v2.md §4.7). It is correct because a committed
// epoch's tree never changes: Node(l, e) and Root(e) for an epoch e that
// Latest has returned answer the same forever, whichever process
// committed it. A newer epoch read replaces the cache.
type nodeCache struct {
	vmap.NodeStore

	mu    sync.RWMutex
	epoch uint64
	root  *vmap.Root
	nodes map[vmap.Label]vmap.Node
}

func newNodeCache(s vmap.NodeStore) *nodeCache { return &nodeCache{NodeStore: s} }

// renew moves the cache to epoch if it is newer; c.mu is held.
func (c *nodeCache) renew(epoch uint64) {
	if epoch > c.epoch {
		c.epoch, c.root, c.nodes = epoch, nil, make(map[vmap.Label]vmap.Node)
	}
}

// Node implements vmap.NodeStore.
func (c *nodeCache) Node(ctx context.Context, l vmap.Label, epoch uint64) (vmap.Node, error) {
	if l.Depth == vmap.IndexBits {
		return c.NodeStore.Node(ctx, l, epoch) // a leaf: one per handle
	}
	c.mu.RLock()
	n, ok := c.nodes[l]
	ok = ok && c.epoch == epoch
	c.mu.RUnlock()
	if ok {
		return n, nil
	}
	n, err := c.NodeStore.Node(ctx, l, epoch)
	if err != nil {
		return n, err
	}
	c.mu.Lock()
	c.renew(epoch)
	if c.epoch == epoch && len(c.nodes) < maxCachedNodes {
		c.nodes[l] = n
	}
	c.mu.Unlock()
	return n, nil
}

// Root implements vmap.NodeStore.
func (c *nodeCache) Root(ctx context.Context, epoch uint64) (vmap.Root, error) {
	c.mu.RLock()
	r := c.root
	ok := r != nil && c.epoch == epoch
	c.mu.RUnlock()
	if ok {
		return *r, nil
	}
	root, err := c.NodeStore.Root(ctx, epoch)
	if err != nil {
		return root, err
	}
	c.mu.Lock()
	c.renew(epoch)
	if c.epoch == epoch {
		c.root = &root
	}
	c.mu.Unlock()
	return root, nil
}
