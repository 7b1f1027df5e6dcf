package keyserver

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sealpost/sealpost/keyserver/store"
)

// Bounds of lookupCache.
const (
	maxCachedHandles    = 1 << 18
	maxCachedEntryBytes = 64 << 20
)

// lookupCache keeps what a directory lookup reads from the store that
// never changes once written (spec/keyserver.md §9.1): each sequenced
// handle's VRF entry (proved once, stored once) and the sequenced version
// of its newest map version read (a handle's map version n names one
// stored version forever). A lookup uses the version only when the map
// proof it serves holds that map version, so the cache cannot serve an
// entry the proof does not commit to. When full, an arbitrary entry goes.
type lookupCache struct {
	mu       sync.Mutex
	vrf      map[string]store.VRFEntry
	versions map[string]store.SequencedVersion
	bytes    int // of the versions' entries
}

func newLookupCache() *lookupCache {
	return &lookupCache{vrf: make(map[string]store.VRFEntry), versions: make(map[string]store.SequencedVersion)}
}

// vrfEntry returns handle's stored VRF entry, or store.ErrNotFound.
func (c *lookupCache) vrfEntry(ctx context.Context, st store.Store, handle string) (store.VRFEntry, error) {
	c.mu.Lock()
	ve, ok := c.vrf[handle]
	c.mu.Unlock()
	if ok {
		return ve, nil
	}
	ve, err := st.VRF(ctx, handle)
	if err != nil {
		return ve, err
	}
	c.mu.Lock()
	c.putVRF(ve)
	c.mu.Unlock()
	return ve, nil
}

// putVRF caches a stored VRF entry; c.mu is held.
func (c *lookupCache) putVRF(ve store.VRFEntry) {
	if _, ok := c.vrf[ve.Handle]; !ok && len(c.vrf) >= maxCachedHandles {
		for h := range c.vrf {
			delete(c.vrf, h)
			break
		}
	}
	c.vrf[ve.Handle] = ve
}

// committed caches what an epoch this process committed stored: its new
// VRF entries and sequenced versions.
func (c *lookupCache) committed(ep *store.EpochCommit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ve := range ep.NewVRF {
		c.putVRF(ve)
	}
	for _, v := range ep.Versions {
		c.putVersion(v)
	}
}

// version returns handle's sequenced version with map version seq.
func (c *lookupCache) version(ctx context.Context, st store.Store, handle string, seq uint64) (store.SequencedVersion, error) {
	c.mu.Lock()
	v, ok := c.versions[handle]
	c.mu.Unlock()
	if ok && v.Seq == seq {
		return v, nil
	}
	hist, err := st.History(ctx, handle)
	if err != nil {
		return store.SequencedVersion{}, err
	}
	if seq < 1 || seq > uint64(len(hist)) || hist[seq-1].Seq != seq {
		return store.SequencedVersion{}, errors.Join(store.ErrNotFound, fmt.Errorf("map version %d of a handle not in its %d stored versions", seq, len(hist)))
	}
	v = hist[seq-1]
	c.mu.Lock()
	c.putVersion(v)
	c.mu.Unlock()
	return v, nil
}

// putVersion caches v as its handle's newest version read, unless a newer
// one is cached; c.mu is held.
func (c *lookupCache) putVersion(v store.SequencedVersion) {
	if old, ok := c.versions[v.Handle]; ok {
		if old.Seq > v.Seq {
			return
		}
		c.bytes -= len(old.Entry)
		delete(c.versions, v.Handle)
	}
	for h, old := range c.versions {
		if len(c.versions) < maxCachedHandles && c.bytes+len(v.Entry) <= maxCachedEntryBytes {
			break
		}
		c.bytes -= len(old.Entry)
		delete(c.versions, h)
	}
	c.versions[v.Handle] = v
	c.bytes += len(v.Entry)
}
