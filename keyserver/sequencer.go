package keyserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"github.com/sealpost/sealpost/keyserver/store"
)

// DefaultEpochInterval is the default Config.EpochInterval.
const DefaultEpochInterval = time.Second

// MaxEpochUpdates bounds the handles one epoch changes; when more key
// sets are pending, the next round starts at once.
const MaxEpochUpdates = 10000

// maxEpochAttempts bounds the rounds one sequencing pass retries after a
// conflict (another process committed the epoch first).
const maxEpochAttempts = 3

// runSequencer turns the key-set changes of the v1 store into directory
// epochs (spec/transparency-v2.md §4.3, §5, §6.1) until Close: a round
// every EpochInterval, at once after a change made through this server,
// and at once again while a full epoch leaves changes pending.
func (s *Server) runSequencer() {
	d := s.dir
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		if s.sequenceRound(ctx) {
			select {
			case <-s.stop:
				return
			default:
				continue
			}
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-d.kick:
		}
	}
}

// kickSequencer starts a sequencer round soon: a key set changed.
func (s *Server) kickSequencer() {
	if s.dir == nil {
		return
	}
	select {
	case s.dir.kick <- struct{}{}:
	default:
	}
}

// sequenceRound takes the sequencer role and, if no other process holds
// it, sequences one epoch of pending changes. It reports whether changes
// may remain pending (the epoch was full).
func (s *Server) sequenceRound(ctx context.Context) (more bool) {
	release, ok, err := s.store.Sequencer(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("keyserver: sequencer role", "err", err)
		}
		return false
	}
	if !ok {
		return false // another process sequences
	}
	defer release()
	for attempt := 1; ; attempt++ {
		n, err := s.sequenceEpoch(ctx)
		if errors.Is(err, store.ErrConflict) && attempt < maxEpochAttempts {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("keyserver: sequencing an epoch", "err", err)
			}
			return false
		}
		return n == MaxEpochUpdates
	}
}

// sequenceEpoch commits the next epoch with every pending key-set change
// (at most MaxEpochUpdates) and returns how many pending accounts it read;
// with nothing pending it commits nothing, except the first epoch, which
// it commits empty: from then on every lookup has a checkpoint to prove
// a handle absent under (spec/transparency-v2.md §5.2).
// store.ErrConflict: another process committed an epoch meanwhile; nothing
// was written.
func (s *Server) sequenceEpoch(ctx context.Context) (int, error) {
	d := s.dir
	accts, err := s.store.Unsequenced(ctx, MaxEpochUpdates)
	if err != nil {
		return 0, err
	}
	first := false
	if len(accts) == 0 {
		latest, err := s.store.LatestEpoch(ctx)
		if err != nil || latest > 0 {
			return 0, err
		}
		first = true
	}
	var c store.EpochCommit
	ves, fresh, err := d.vrfEntries(ctx, s.store, accts)
	if err != nil {
		return 0, err
	}
	c.NewVRF = fresh
	ups := make([]vmap.Update, 0, len(accts))
	for i, a := range accts {
		ve := ves[i]
		hist, err := s.store.History(ctx, a.Handle)
		if err != nil {
			return 0, fmt.Errorf("history: %w", err)
		}
		var seq uint64
		var lastEntry []byte
		if n := len(hist); n > 0 {
			seq, lastEntry = hist[n-1].Seq, hist[n-1].Entry
		}
		e, err := entryOf(a)
		if err != nil {
			return 0, fmt.Errorf("stored key set: %w", err)
		}
		entry := e.Marshal()
		if bytes.Equal(entry, lastEntry) {
			continue // sequenced meanwhile by another process
		}
		// An account deleted and registered again has a lower key-set
		// version than its last sequenced value: its new key set is the
		// handle's next value all the same (clients see the new account
		// key, spec/client.md §6.2).
		// spec/transparency-v2.md §6.1: a fresh opening for each
		// sequenced value; the map holds only the commitment.
		var opening [directory.OpeningSize]byte
		if _, err := io.ReadFull(s.rand, opening[:]); err != nil {
			return 0, fmt.Errorf("opening: %w", err)
		}
		// §4.3: the map version is 1 for a new index, +1 per epoch that
		// changes it; it is not the key-set Version.
		ups = append(ups, vmap.Update{Index: vmap.Index(ve.Index), Value: vmap.Value{Version: seq + 1, Commitment: directory.Commit(&opening, entry)}})
		c.Versions = append(c.Versions, store.SequencedVersion{Handle: a.Handle, Seq: seq + 1, Version: a.Version, Opening: opening, Entry: entry})
	}
	if len(ups) == 0 && !first {
		return 0, nil
	}
	root, nodes, batch, err := d.m.Prepare(ctx, ups)
	if err != nil {
		return 0, fmt.Errorf("map update: %w", err)
	}
	leaf := directory.Leaf{
		Epoch:       root.Epoch,
		Time:        s.now().Unix(),
		MapRoot:     root.Hash(),
		Count:       uint32(len(batch)),
		BatchDigest: vmap.BatchDigest(batch),
	}
	copy(leaf.VRFKey[:], d.vrfPub.Bytes())
	if root.Epoch > 1 {
		// §8: leaf times never decrease, whatever the clocks of the
		// processes that sequence.
		prev, err := s.store.EpochLeaves(ctx, int64(root.Epoch)-2, int64(root.Epoch)-1)
		if err != nil || len(prev) != 1 {
			return 0, fmt.Errorf("previous leaf: %w", errors.Join(err, errors.New("leaf missing")))
		}
		pl, err := directory.ParseLeaf(prev[0])
		if err != nil {
			return 0, fmt.Errorf("previous leaf: %w", err)
		}
		leaf.Time = max(leaf.Time, pl.Time)
	}
	for i := range c.Versions {
		c.Versions[i].Epoch = root.Epoch
	}
	c.Root, c.Nodes, c.Leaf, c.Batch = root, nodes, leaf.Marshal(), vmap.MarshalBatch(batch)
	if err := s.store.CommitEpoch(ctx, c); err != nil {
		return 0, fmt.Errorf("commit epoch %d: %w", root.Epoch, err)
	}
	d.nodes.advance(root, nodes)
	d.cache.committed(&c)
	d.epochCommitted()
	s.metrics.epoch(len(batch))
	s.log.Info("keyserver: directory epoch sequenced", "epoch", root.Epoch, "updates", len(batch), "new_handles", len(c.NewVRF))
	if d.cps.cos != nil {
		d.cps.cos.wake()
	}
	return len(accts), nil
}

// vrfEntries returns the VRF entry of each account, read from the store
// or, for a handle entering the map, proved now (spec/transparency-v2.md
// §3.4: once per handle, then stored with the epoch); fresh are the ones
// proved. Proofs are computed on every core: a proof costs about 130 µs,
// more than the rest of a handle's share of an epoch.
func (d *dirServer) vrfEntries(ctx context.Context, st store.Store, accts []*store.Account) (ves, fresh []store.VRFEntry, err error) {
	ves = make([]store.VRFEntry, len(accts))
	var missing []int
	for i, a := range accts {
		ves[i], err = st.VRF(ctx, a.Handle)
		switch {
		case errors.Is(err, store.ErrNotFound):
			missing = append(missing, i)
		case err != nil:
			return nil, nil, fmt.Errorf("VRF entry: %w", err)
		}
	}
	errs := make([]error, len(missing))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(missing)) {
		wg.Go(func() {
			for j := int(next.Add(1)) - 1; j < len(missing); j = int(next.Add(1)) - 1 {
				i := missing[j]
				ves[i], errs[j] = d.prove(accts[i].Handle)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	for _, i := range missing {
		fresh = append(fresh, ves[i])
	}
	return ves, fresh, nil
}

// prove computes handle's VRF proof and map index
// (spec/transparency-v2.md §3.3, §3.4).
func (d *dirServer) prove(handle string) (store.VRFEntry, error) {
	alpha, err := vrf.HandleInput(handle)
	if err != nil {
		return store.VRFEntry{}, err
	}
	beta, pi, err := d.vrfKey.Prove(alpha)
	if err != nil {
		return store.VRFEntry{}, fmt.Errorf("VRF: %w", err)
	}
	return store.VRFEntry{Handle: handle, Index: vrf.Index(&beta), Proof: pi}, nil
}

// maxSequenceWait bounds how long a key-set change waits for the epoch
// that sequences it.
const maxSequenceWait = 10 * time.Second

// sequencePoll is how often a waiting change looks for an epoch committed
// by another process (on PostgreSQL another node may hold the sequencer
// role).
const sequencePoll = 50 * time.Millisecond

// awaitSequenced starts a sequencer round and waits until the key set e,
// or a later one of the same account, is in a committed epoch, so that a
// client told its change succeeded finds it proven in the directory
// (spec/keyserver.md §9). It gives up after maxSequenceWait, logging it:
// the change stands and is sequenced later.
func (s *Server) awaitSequenced(ctx context.Context, e *kt.Entry) {
	if s.dir == nil {
		return
	}
	want := e.Marshal()
	s.kickSequencer()
	deadline := time.NewTimer(maxSequenceWait)
	defer deadline.Stop()
	poll := time.NewTicker(sequencePoll)
	defer poll.Stop()
	for {
		committed := s.dir.nextEpoch()
		hist, err := s.store.History(ctx, e.Handle)
		if err == nil && sequenced(hist, want, e) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			s.log.WarnContext(ctx, "keyserver: a key-set change is not in the directory yet; answering anyway", "wait", maxSequenceWait)
			return
		case <-committed:
		case <-poll.C:
		}
	}
}

// sequenced reports whether the handle's sequenced values hist hold the
// key set want (e, encoded), or a later key set of the same account
// (several changes in one epoch are one value: the last).
func sequenced(hist []store.SequencedVersion, want []byte, e *kt.Entry) bool {
	for i := len(hist) - 1; i >= 0; i-- {
		if bytes.Equal(hist[i].Entry, want) {
			return true
		}
	}
	n := len(hist)
	if n == 0 || hist[n-1].Version <= e.Version {
		return false
	}
	last, err := kt.ParseEntry(hist[n-1].Entry)
	return err == nil && last.AccountKey == e.AccountKey
}

// nextEpoch returns a channel closed when this process next commits an
// epoch.
func (d *dirServer) nextEpoch() <-chan struct{} {
	d.epochMu.Lock()
	defer d.epochMu.Unlock()
	if d.committed == nil {
		d.committed = make(chan struct{})
	}
	return d.committed
}

// epochCommitted wakes the changes waiting for an epoch.
func (d *dirServer) epochCommitted() {
	d.epochMu.Lock()
	defer d.epochMu.Unlock()
	if d.committed != nil {
		close(d.committed)
		d.committed = nil
	}
}
