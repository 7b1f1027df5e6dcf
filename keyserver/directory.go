package keyserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"github.com/sealpost/sealpost/keyserver/store"
)

// dirServer is the server's version 2 key directory
// (spec/transparency-v2.md): the VRF key, the map over the store (through
// a cache of the newest epoch's nodes), a cache of the immutable data
// lookups read, the epoch log's checkpointer (origin
// "<name>/sealpost-kt/v2", the log key) and the sequencer's kick.
type dirServer struct {
	vrfKey   *vrf.PrivateKey
	vrfPub   *vrf.PublicKey
	m        *vmap.Map  // over nodes
	nodes    *nodeCache // over the store
	cache    *lookupCache
	proofs   *proofCache
	cps      *checkpointer
	epochs   *epochReader
	interval time.Duration
	kick     chan struct{}

	mu         sync.Mutex
	latest     epochProof // the newest epoch's leaf and inclusion, once read
	batches    map[uint64]api.BatchResponse
	batchBytes int

	epochMu   sync.Mutex
	committed chan struct{} // closed and replaced when this process commits an epoch
}

// maxCachedBatchBytes bounds the batch answers kept: an epoch's batch and
// its proof never change, and a full epoch's proof costs the reads of
// thousands of nodes, so auditors fetching the same recent epochs get
// them from memory.
const maxCachedBatchBytes = 32 << 20

// epochProof is an epoch's log leaf and its inclusion proof in the log of
// size Epoch (the epoch is the last leaf), which every lookup at that
// epoch serves.
type epochProof struct {
	epoch     uint64
	leaf      []byte
	inclusion []tlog.Hash
}

func newDirectory(s *Server, cfg Config, refresh time.Duration) (*dirServer, error) {
	cp, err := newCheckpointer(v2Log(s.store), cfg.Name+directory.OriginSuffix, cfg.LogKey, refresh, s.now)
	if err != nil {
		return nil, fmt.Errorf("keyserver: LogKey: %w", err)
	}
	interval := cfg.EpochInterval
	if interval == 0 {
		interval = DefaultEpochInterval
	}
	nodes := newNodeCache(store.NodeStore(s.store))
	return &dirServer{
		vrfKey:   cfg.VRFKey,
		vrfPub:   cfg.VRFKey.Public(),
		m:        vmap.New(nodes),
		nodes:    nodes,
		cache:    newLookupCache(),
		proofs:   &proofCache{},
		batches:  make(map[uint64]api.BatchResponse),
		cps:      cp,
		epochs:   &epochReader{st: s.store},
		interval: interval,
		kick:     make(chan struct{}, 1),
	}, nil
}

// latestProof returns the leaf of epoch, the latest, and its inclusion
// proof in the log of size epoch, kept for the next lookups.
func (s *Server) latestProof(ctx context.Context, epoch uint64) (epochProof, error) {
	d := s.dir
	d.mu.Lock()
	p := d.latest
	d.mu.Unlock()
	if p.epoch == epoch {
		return p, nil
	}
	p, err := s.proveEpoch(ctx, epoch, epoch)
	if err != nil {
		return p, err
	}
	d.mu.Lock()
	if epoch > d.latest.epoch {
		d.latest = p
	}
	d.mu.Unlock()
	return p, nil
}

// proveEpoch returns the leaf of epoch and its inclusion proof in the log
// of size size ≥ epoch.
func (s *Server) proveEpoch(ctx context.Context, epoch, size uint64) (epochProof, error) {
	leaves, err := s.store.EpochLeaves(ctx, int64(epoch)-1, int64(epoch))
	if err != nil || len(leaves) != 1 {
		return epochProof{}, fmt.Errorf("leaf of epoch %d: %w", epoch, errors.Join(err, errors.New("leaf missing")))
	}
	incl, err := tlog.ProveRecord(int64(size), int64(epoch)-1, s.dir.cps.src.hashReader(ctx))
	if err != nil {
		return epochProof{}, fmt.Errorf("inclusion of epoch %d: %w", epoch, err)
	}
	return epochProof{epoch: epoch, leaf: leaves[0], inclusion: incl}, nil
}

// latestEpoch reads the directory's latest epoch, in a read shared with
// concurrent requests that began after this one (epochReader); before the
// first epoch there is nothing to prove against: 503 unavailable.
func (s *Server) latestEpoch(ctx context.Context) (uint64, *apiError) {
	epoch, err := s.dir.epochs.latest(ctx)
	if err != nil {
		return 0, internal("latest epoch", err)
	}
	if epoch == 0 {
		return 0, &apiError{status: http.StatusServiceUnavailable, code: api.CodeUnavailable,
			message: "the directory has no epoch yet, retry later", retry: unavailableRetry,
			cause: errors.New("no directory epoch yet")}
	}
	return epoch, nil
}

// vrfOf returns handle's VRF proof and index: the stored one, or, for a
// handle never sequenced, computed now (it reveals only the index of the
// handle asked for, spec/transparency-v2.md §3.4).
func (s *Server) vrfOf(ctx context.Context, handle string) (store.VRFEntry, *apiError) {
	ve, err := s.dir.cache.vrfEntry(ctx, s.store, handle)
	if errors.Is(err, store.ErrNotFound) {
		if ve, err = s.dir.prove(handle); err != nil {
			return ve, internal("VRF proof", err)
		}
		return ve, nil
	}
	if err != nil {
		return ve, internal("VRF entry", err)
	}
	return ve, nil
}

// sequencedUpTo returns handle's sequenced versions at or before epoch:
// a version sequenced after the epoch was read is not in its map.
func (s *Server) sequencedUpTo(ctx context.Context, handle string, epoch uint64) ([]store.SequencedVersion, *apiError) {
	hist, err := s.store.History(ctx, handle)
	if err != nil {
		return nil, internal("history", err)
	}
	for len(hist) > 0 && hist[len(hist)-1].Epoch > epoch {
		hist = hist[:len(hist)-1]
	}
	return hist, nil
}

// handleDirectoryLookup answers GET /v2/accounts/{handle}
// (spec/keyserver.md §9.1, spec/transparency-v2.md §6.2): the proof of
// the handle's value in the map of the latest epoch, that epoch's leaf,
// its inclusion under the checkpoint of size epoch, and the entry and its
// opening when the handle is present. 200 also when it is absent: the
// answer proves it.
func (s *Server) handleDirectoryLookup(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	charged, _, e := s.limitLookup(r)
	if e != nil {
		return 0, nil, e
	}
	handle := r.PathValue("handle")
	if err := keys.CheckHandle(handle); err != nil {
		return 0, nil, badRequest(api.CodeInvalidHandle, "invalid handle")
	}
	ctx := r.Context()
	// The epoch first: everything else is read for it, and the checkpoint
	// served is of size epoch, so the leaf is its last (§6.3).
	epoch, e := s.latestEpoch(ctx)
	if e != nil {
		return 0, nil, e
	}
	ve, e := s.vrfOf(ctx, handle)
	if e != nil {
		return 0, nil, e
	}
	ep, err := s.latestProof(ctx, epoch)
	if err != nil {
		return 0, nil, internal("epoch proof", err)
	}
	mp, err := s.dir.proofs.prove(ctx, s.dir.m, epoch, vmap.Index(ve.Index))
	if err != nil {
		return 0, nil, internal("map proof", err)
	}
	signed, err := s.dir.cps.checkpoint(ctx, int64(epoch))
	if err != nil {
		return 0, nil, internal("checkpoint", err)
	}
	resp := api.DirectoryLookup{
		Handle:     handle,
		VRFProof:   ve.Proof,
		Epoch:      epoch,
		Leaf:       ep.leaf,
		MapProof:   mp.proof,
		Inclusion:  hashesOut(ep.inclusion),
		Checkpoint: string(signed),
	}
	// The entry served is the one whose commitment the map proof holds:
	// the stored version with the proven map version (§6.1).
	if mp.kind != vmap.KindPresent {
		s.chargeMiss(charged)
		return http.StatusOK, resp, nil
	}
	v, err := s.dir.cache.version(ctx, s.store, handle, mp.version)
	if err != nil {
		return 0, nil, internal("sequenced version", err)
	}
	resp.Entry, resp.Opening = v.Entry, v.Opening[:]
	return http.StatusOK, resp, nil
}

// handleDirectoryHistory answers GET /v2/accounts/{handle}/history
// (spec/keyserver.md §9.2, spec/transparency-v2.md §6.4) for a device of
// that account: every sequenced version of the handle and the proofs of
// its value at each epoch directory.HistoryEpochs names, under the
// checkpoint of the latest epoch.
func (s *Server) handleDirectoryHistory(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	// Limited as a lookup with a token (it costs more: one proof per
	// epoch that changed the handle, and its neighbours).
	_, t, e := s.limitLookup(r)
	if e != nil {
		return 0, nil, e
	}
	if t == nil {
		return 0, nil, newError(http.StatusUnauthorized, api.CodeInvalidToken, "missing bearer token")
	}
	handle := r.PathValue("handle")
	if err := keys.CheckHandle(handle); err != nil {
		return 0, nil, badRequest(api.CodeInvalidHandle, "invalid handle")
	}
	if t.Handle != handle {
		return 0, nil, newError(http.StatusForbidden, api.CodeForbidden, "the token is for a device of another account")
	}
	acct, e := s.account(r, handle)
	if e != nil {
		return 0, nil, e
	}
	if _, e := activeDevice(acct, uint32(t.Device)); e != nil {
		return 0, nil, e
	}
	ctx := r.Context()
	epoch, e := s.latestEpoch(ctx)
	if e != nil {
		return 0, nil, e
	}
	ve, e := s.vrfOf(ctx, handle)
	if e != nil {
		return 0, nil, e
	}
	hist, e := s.sequencedUpTo(ctx, handle, epoch)
	if e != nil {
		return 0, nil, e
	}
	signed, err := s.dir.cps.checkpoint(ctx, int64(epoch))
	if err != nil {
		return 0, nil, internal("checkpoint", err)
	}
	resp := api.DirectoryHistory{
		Handle:     handle,
		VRFProof:   ve.Proof,
		Checkpoint: string(signed),
		Versions:   make([]api.HistoryVersion, len(hist)),
	}
	versions := make([]directory.HistoryVersion, len(hist))
	for i, v := range hist {
		resp.Versions[i] = api.HistoryVersion{Version: v.Seq, Epoch: v.Epoch, Entry: v.Entry, Opening: v.Opening[:]}
		versions[i] = directory.HistoryVersion{Version: v.Seq, Epoch: v.Epoch, Entry: v.Entry, Opening: v.Opening[:]}
	}
	for _, ep := range directory.HistoryEpochs(versions, epoch) {
		p, err := s.proveEpoch(ctx, ep, epoch)
		if err != nil {
			return 0, nil, internal("epoch proof", err)
		}
		mp, err := s.dir.m.Prove(ctx, ep, vmap.Index(ve.Index))
		if err != nil {
			return 0, nil, internal("map proof", err)
		}
		resp.Proofs = append(resp.Proofs, api.EpochProof{Epoch: ep, Leaf: p.leaf, Inclusion: hashesOut(p.inclusion), MapProof: mp})
	}
	return http.StatusOK, resp, nil
}

// handleBatch answers GET /v2/log/batch?epoch=N (spec/keyserver.md §9.4,
// spec/transparency-v2.md §4.6, §8): epoch N's public batch and its batch
// proof against the map of epoch N−1, 1 ≤ N ≤ the latest epoch.
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	n, e := queryInt(r, "epoch")
	if e != nil {
		return 0, nil, e
	}
	ctx := r.Context()
	latest, err := s.store.LatestEpoch(ctx)
	if err != nil {
		return 0, nil, internal("latest epoch", err)
	}
	if n < 1 || uint64(n) > latest {
		return 0, nil, badRequest(api.CodeBadRequest, "need 1 <= epoch <= %d", latest)
	}
	epoch := uint64(n)
	d := s.dir
	d.mu.Lock()
	resp, ok := d.batches[epoch]
	d.mu.Unlock()
	if ok {
		return http.StatusOK, resp, nil
	}
	batch, err := s.store.EpochBatch(ctx, epoch)
	if err != nil {
		return 0, nil, internal("batch", err)
	}
	es, err := vmap.ParseBatch(batch)
	if err != nil {
		return 0, nil, internal("stored batch", err)
	}
	ups := make([]vmap.Update, len(es))
	for i := range es {
		ups[i] = vmap.Update{Index: es[i].Index, Value: es[i].Value}
	}
	_, proof, err := d.m.ProveBatch(ctx, epoch-1, ups)
	if err != nil {
		return 0, nil, internal("batch proof", err)
	}
	resp = api.BatchResponse{Batch: batch, Proof: proof}
	d.mu.Lock()
	size := len(batch) + len(proof)
	for e, old := range d.batches {
		if d.batchBytes+size <= maxCachedBatchBytes {
			break
		}
		d.batchBytes -= len(old.Batch) + len(old.Proof)
		delete(d.batches, e)
	}
	if _, ok := d.batches[epoch]; !ok && d.batchBytes+size <= maxCachedBatchBytes {
		d.batches[epoch] = resp
		d.batchBytes += size
	}
	d.mu.Unlock()
	return http.StatusOK, resp, nil
}
