package keyserver

import (
	"context"
	"sync"

	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

// maxCachedNodes bounds the nodes nodeCache keeps (about 300 bytes each
// with the map's overhead) beyond those of depth below sharedDepth, which
// it always keeps (at most 2^sharedDepth − 1 of them, on every lookup's
// path): every node of a directory of about 128k handles, the upper
// levels of a larger one.
const (
	maxCachedNodes = 1 << 18
	sharedDepth    = 16
)

// admit reports whether a node labelled l may be added; c.mu is held.
func (c *nodeCache) admit(l vmap.Label) bool {
	return l.Depth < sharedDepth || len(c.nodes) < maxCachedNodes
}

// nodeCache is the NodeStore the directory's map reads through: it keeps
// the nodes and the root of the newest epoch read, so that a lookup reads
// from the store at most the nodes not read before
// (spec/transparency-v2.md §4.7). It is exact because a committed epoch's
// tree never changes: Node(l, e) and Root(e) for an epoch e that Latest
// has returned answer the same forever, whichever process committed it.
// A newer epoch read empties the cache, except after this process's own
// commit of the next epoch (advance), which it knows in full.
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
	if c.epoch == epoch && c.admit(l) {
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

// advance moves a cache of epoch root.Epoch−1 to root.Epoch, just
// committed with nodes (every node written at root.Epoch): the newest
// version at or before root.Epoch of a label is its node in nodes if
// there is one, else its newest at or before root.Epoch−1, already
// cached. A cache of any other epoch is left to renew.
func (c *nodeCache) advance(root vmap.Root, nodes []vmap.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch+1 != root.Epoch {
		return
	}
	if c.nodes == nil {
		c.nodes = make(map[vmap.Label]vmap.Node)
	}
	// Every cached node stays right: a partial cache only misses.
	c.epoch, c.root = root.Epoch, &root
	for _, n := range nodes {
		// A label cached must take its new version; one not cached may
		// stay out.
		if _, ok := c.nodes[n.Label]; ok || c.admit(n.Label) {
			c.nodes[n.Label] = n
		}
	}
}
