package vmap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

var errEpoch = errors.New("vmap: commit of an epoch other than the next")

func versionError(old, new uint64) error {
	if old == 0 {
		return fmt.Errorf("%w: a new index must start at version 1, not %d", ErrVersion, new)
	}
	return fmt.Errorf("%w: version %d does not follow %d", ErrVersion, new, old)
}

// Update sets the value at Index.
type Update struct {
	Index Index
	Value Value
}

// Map is the sequencer's and the prover's view of a map kept in a
// NodeStore. Apply is serialized; proofs may be generated concurrently,
// for any committed epoch.
type Map struct {
	store NodeStore
	mu    sync.Mutex // serializes Apply
}

// New returns the map kept in store.
func New(store NodeStore) *Map { return &Map{store: store} }

// Root returns the root of epoch; epoch 0 is the empty map.
func (m *Map) Root(ctx context.Context, epoch uint64) (Root, error) {
	if epoch == 0 {
		return Root{Empty: true}, nil
	}
	return m.store.Root(ctx, epoch)
}

// Latest returns the root of the newest committed epoch.
func (m *Map) Latest(ctx context.Context) (Root, error) {
	e, err := m.store.Latest(ctx)
	if err != nil {
		return Root{}, err
	}
	return m.Root(ctx, e)
}

// sortBatch returns the updates as batch entries sorted by index, refusing
// duplicates, version 0 and oversized batches.
func sortBatch(batch []Update) ([]BatchEntry, error) {
	if len(batch) > MaxBatch {
		return nil, fmt.Errorf("vmap: batch of %d updates exceeds %d", len(batch), MaxBatch)
	}
	es := make([]BatchEntry, len(batch))
	for i, u := range batch {
		if u.Value.Version == 0 {
			return nil, versionError(0, 0)
		}
		es[i] = BatchEntry{Index: u.Index, Value: u.Value}
	}
	slices.SortFunc(es, func(a, b BatchEntry) int { return bytes.Compare(a.Index[:], b.Index[:]) })
	for i := 1; i < len(es); i++ {
		if es[i].Index == es[i-1].Index {
			return nil, ErrDuplicate
		}
	}
	return es, nil
}

// Apply applies one batch as the next epoch and returns its root
// (spec/transparency-v2.md §4.3). Each update must raise the version of
// its index (ErrVersion), or give a new index version 1; an index may
// appear once (ErrDuplicate). On any error nothing is written.
func (m *Map) Apply(ctx context.Context, batch []Update) (Root, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	root, nodes, _, err := m.prepare(ctx, batch)
	if err != nil {
		return Root{}, err
	}
	if err := m.store.Commit(ctx, root, nodes); err != nil {
		return Root{}, err
	}
	return root, nil
}

// Prepare computes the next epoch from batch as Apply does, refusing it
// for the same reasons, but writes nothing: it returns the new root, the
// nodes the epoch creates (to commit with the root, in one transaction
// with whatever else the caller records) and the public batch
// (spec/transparency-v2.md §4.6), sorted by index, each entry's old
// version filled in. A caller that commits the result itself must commit
// only one epoch at a time (the NodeStore refuses an epoch that is not
// the next one).
func (m *Map) Prepare(ctx context.Context, batch []Update) (Root, []Node, []BatchEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.prepare(ctx, batch)
}

func (m *Map) prepare(ctx context.Context, batch []Update) (Root, []Node, []BatchEntry, error) {
	es, err := sortBatch(batch)
	if err != nil {
		return Root{}, nil, nil, err
	}
	old, err := m.Latest(ctx)
	if err != nil {
		return Root{}, nil, nil, err
	}
	mg := &merger{epoch: old.Epoch + 1, record: true, out: make([]Node, 0, 2*len(es))}
	mg.open = func(c Child) (Node, error) { return m.store.Node(ctx, c.Label, old.Epoch) }
	root := Root{Epoch: old.Epoch + 1, Empty: old.Empty, Top: old.Top}
	switch {
	case len(es) == 0:
	case old.Empty:
		root.Empty = false
		root.Top, err = mg.fresh(es)
	default:
		root.Top, err = mg.merge(old.Top, es)
	}
	if err != nil {
		return Root{}, nil, nil, err
	}
	return root, mg.out, es, nil
}

// Prove returns the lookup proof of index in the map of epoch
// (spec/transparency-v2.md §4.4).
func (m *Map) Prove(ctx context.Context, epoch uint64, index Index) ([]byte, error) {
	p, err := m.proof(ctx, epoch, index)
	if err != nil {
		return nil, err
	}
	return p.Marshal(), nil
}

func (m *Map) proof(ctx context.Context, epoch uint64, index Index) (*Proof, error) {
	r, err := m.Root(ctx, epoch)
	if err != nil {
		return nil, err
	}
	p := &Proof{Kind: KindEmpty}
	if r.Empty {
		return p, nil
	}
	p.Steps = make([]Step, 0, 32)
	c := r.Top
	for {
		n, err := m.store.Node(ctx, c.Label, epoch)
		if err != nil {
			return nil, err
		}
		if n.IsLeaf() {
			if n.Label.Prefix == index {
				p.Kind = KindPresent
			} else {
				p.Kind, p.Neighbour = KindAbsentLeaf, n.Label.Prefix
			}
			p.Value = n.Value
			return p, nil
		}
		d := int(n.Label.Depth)
		if !hasPrefix(&n.Label.Prefix, (*[32]byte)(&index), d) {
			p.Kind, p.Depth, p.Prefix = KindAbsentInner, d, n.Label.Prefix
			p.Left, p.Right = n.Children[0].Hash, n.Children[1].Hash
			return p, nil
		}
		b := bit((*[32]byte)(&index), d)
		p.Steps = append(p.Steps, Step{Depth: d, Sibling: n.Children[1-b].Hash})
		c = n.Children[b]
	}
}

// ProveBatch returns batch as the public sees it (sorted, with the
// versions the indices had at oldEpoch) and the batch proof against the
// root of oldEpoch (spec/transparency-v2.md §4.6). It is what an auditor
// needs, with the roots of oldEpoch and the next, to run VerifyBatch.
func (m *Map) ProveBatch(ctx context.Context, oldEpoch uint64, batch []Update) ([]BatchEntry, []byte, error) {
	es, err := sortBatch(batch)
	if err != nil {
		return nil, nil, err
	}
	r, err := m.Root(ctx, oldEpoch)
	if err != nil {
		return nil, nil, err
	}
	if r.Empty {
		return es, []byte{batchEmpty}, nil
	}
	pr := &pruner{ctx: ctx, store: m.store, epoch: oldEpoch}
	if err := pr.prune(r.Top, es); err != nil {
		return nil, nil, err
	}
	return es, pr.out, nil
}

// pruner writes the batch proof: the old tree cut down to the walks of
// the batch's indices, in pre-order (spec/transparency-v2.md §4.6). It
// also fills in each entry's old version.
type pruner struct {
	ctx   context.Context
	store NodeStore
	epoch uint64
	out   []byte
}

func (p *pruner) prune(c Child, es []BatchEntry) error {
	if len(es) == 0 {
		p.out = append(append(p.out, batchStub), c.Hash[:]...)
		return nil
	}
	n, err := p.store.Node(p.ctx, c.Label, p.epoch)
	if err != nil {
		return err
	}
	if n.IsLeaf() {
		p.out = append(append(p.out, batchLeaf), n.Label.Prefix[:]...)
		p.out = appendValue(p.out, &n.Value)
		for i := range es {
			if es[i].Index == n.Label.Prefix {
				es[i].OldVersion = n.Value.Version
			}
		}
		return nil
	}
	d := int(n.Label.Depth)
	p.out = append(p.out, batchInner, byte(d))
	p.out = append(p.out, n.Label.Prefix[:]...)
	// es is sorted: the entries under n's prefix are contiguous.
	lo := 0
	for lo < len(es) && bytes.Compare(es[lo].Index[:], n.Label.Prefix[:]) < 0 && !hasPrefix((*[32]byte)(&es[lo].Index), &n.Label.Prefix, d) {
		lo++
	}
	hi := lo
	for hi < len(es) && hasPrefix((*[32]byte)(&es[hi].Index), &n.Label.Prefix, d) {
		hi++
	}
	under := es[lo:hi]
	k := split(under, d)
	if err := p.prune(n.Children[0], under[:k]); err != nil {
		return err
	}
	return p.prune(n.Children[1], under[k:])
}
