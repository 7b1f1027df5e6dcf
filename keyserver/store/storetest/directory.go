package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"github.com/sealpost/sealpost/keyserver/kt/vmap/vmaptest"
	"github.com/sealpost/sealpost/keyserver/store"
)

// The key transparency v2 directory (spec/transparency-v2.md §4.7). The
// suite builds its epochs with vmap.Map.Prepare over store.NodeStore, as
// the sequencer does; the store keeps leaves, batches, proofs, entries and
// openings as opaque bytes, so the suite makes them up.

// dir is the test's model of the directory the store should hold.
type dir struct {
	f       *fixture
	m       *vmap.Map
	roots   []vmap.Root // roots[e-1] is epoch e's
	leaves  [][]byte
	batches [][]byte
	nodes   map[vmap.Label][]vmap.Node // versions, oldest first
	vrf     map[string]store.VRFEntry
	hist    map[string][]store.SequencedVersion
}

func newDir(f *fixture) *dir {
	return &dir{
		f: f, m: vmap.New(store.NodeStore(f.s)),
		nodes: map[vmap.Label][]vmap.Node{},
		vrf:   map[string]store.VRFEntry{}, hist: map[string][]store.SequencedVersion{},
	}
}

func (d *dir) epoch() uint64 { return uint64(len(d.roots)) }

// index stands for the VRF output of handle (the store keeps it as bytes).
func index(handle string) vmap.Index { return sha256.Sum256([]byte("storetest index " + handle)) }

// next prepares the next epoch sequencing each account at its current
// version: the EpochCommit a sequencer would commit.
func (d *dir) next(accts ...*account) store.EpochCommit {
	d.f.t.Helper()
	e := d.epoch() + 1
	var c store.EpochCommit
	var ups []vmap.Update
	for _, a := range accts {
		v := store.SequencedVersion{
			Handle: a.handle, Seq: uint64(len(d.hist[a.handle])) + 1, Version: a.version, Epoch: e,
			Entry: leaf(a, a.version, a.set),
		}
		_, err := io.ReadFull(d.f.rand(), v.Opening[:])
		must(d.f.t, "opening", err)
		if v.Seq == 1 {
			c.NewVRF = append(c.NewVRF, store.VRFEntry{Handle: a.handle, Index: index(a.handle), Proof: []byte("vrf proof of " + a.handle)})
		}
		c.Versions = append(c.Versions, v)
		ups = append(ups, vmap.Update{Index: index(a.handle), Value: vmap.Value{Version: v.Seq, Commitment: sha256.Sum256(append(v.Opening[:], v.Entry...))}})
	}
	root, nodes, batch, err := d.m.Prepare(d.f.ctx, ups)
	must(d.f.t, "Prepare", err)
	c.Root, c.Nodes, c.Batch = root, nodes, vmap.MarshalBatch(batch)
	digest, h := vmap.BatchDigest(batch), root.Hash()
	c.Leaf = binary.BigEndian.AppendUint64([]byte("storetest leaf"), e)
	c.Leaf = append(append(c.Leaf, h[:]...), digest[:]...)
	return c
}

// commit commits c, which must succeed, and moves the model with it.
func (d *dir) commit(c store.EpochCommit) {
	d.f.t.Helper()
	must(d.f.t, fmt.Sprintf("CommitEpoch(%d)", c.Root.Epoch), d.f.s.CommitEpoch(d.f.ctx, c))
	d.roots = append(d.roots, c.Root)
	d.leaves = append(d.leaves, c.Leaf)
	d.batches = append(d.batches, c.Batch)
	for _, n := range c.Nodes {
		d.nodes[n.Label] = append(d.nodes[n.Label], n)
	}
	for _, v := range c.NewVRF {
		d.vrf[v.Handle] = v
	}
	for _, v := range c.Versions {
		d.hist[v.Handle] = append(d.hist[v.Handle], v)
	}
}

// wantNotFound fails unless err matches both vmap.ErrNotFound and
// store.ErrNotFound.
func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, vmap.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: got error %v, want vmap.ErrNotFound and store.ErrNotFound", what, err)
	}
}

// check fails unless the store holds exactly the model: every root,
// every version of every node at every epoch, lookups at every epoch, the
// epoch log and its hashes, batches, VRF entries and histories.
func (d *dir) check() {
	t, f := d.f.t, d.f
	t.Helper()
	latest, err := f.s.LatestEpoch(f.ctx)
	must(t, "LatestEpoch", err)
	if latest != d.epoch() {
		t.Fatalf("LatestEpoch = %d, want %d", latest, d.epoch())
	}
	_, err = f.s.MapRoot(f.ctx, 0)
	wantNotFound(t, "MapRoot(0)", err)
	_, err = f.s.MapRoot(f.ctx, d.epoch()+1)
	wantNotFound(t, "MapRoot(latest+1)", err)
	_, err = f.s.EpochBatch(f.ctx, d.epoch()+1)
	wantErr(t, "EpochBatch(latest+1)", err, store.ErrNotFound)
	_, err = f.s.EpochBatch(f.ctx, 0)
	wantErr(t, "EpochBatch(0)", err, store.ErrNotFound)
	for i, want := range d.roots {
		e := uint64(i + 1)
		got, err := f.s.MapRoot(f.ctx, e)
		if err != nil || got != want {
			t.Fatalf("MapRoot(%d) = %+v, %v; want %+v", e, got, err, want)
		}
		b, err := f.s.EpochBatch(f.ctx, e)
		if err != nil || !bytes.Equal(b, d.batches[i]) {
			t.Fatalf("EpochBatch(%d) = %x, %v; want %x", e, b, err, d.batches[i])
		}
	}
	for l, versions := range d.nodes {
		for e := uint64(0); e <= d.epoch()+1; e++ {
			var want *vmap.Node
			for i := range versions {
				if versions[i].Epoch <= e {
					want = &versions[i]
				}
			}
			got, err := f.s.MapNode(f.ctx, l, e)
			if want == nil {
				wantNotFound(t, fmt.Sprintf("MapNode(%d %x, %d)", l.Depth, l.Prefix[:4], e), err)
				continue
			}
			if err != nil || got != *want {
				t.Fatalf("MapNode(%d %x, %d) = %+v, %v; want %+v", l.Depth, l.Prefix[:4], e, got, err, *want)
			}
		}
	}
	_, err = f.s.MapNode(f.ctx, vmap.Label{Depth: vmap.IndexBits, Prefix: index("nobody")}, d.epoch())
	wantNotFound(t, "MapNode of an unknown label", err)
	d.checkLookups()

	got, err := f.s.EpochLeaves(f.ctx, 0, int64(d.epoch()))
	must(t, "EpochLeaves", err)
	if !reflect.DeepEqual(got, d.leaves) && (len(got) != 0 || len(d.leaves) != 0) {
		t.Fatalf("EpochLeaves(0, %d) = %q, want %q", d.epoch(), got, d.leaves)
	}
	if _, err := f.s.EpochLeaves(f.ctx, 0, int64(d.epoch())+1); err == nil {
		t.Fatalf("EpochLeaves past the %d leaves succeeded", d.epoch())
	}
	if _, err := f.s.EpochLeaves(f.ctx, 1, 0); err == nil {
		t.Fatal("EpochLeaves(1, 0) succeeded")
	}
	if len(d.leaves) > 0 {
		f.checkHashes(d.leaves, f.s.EpochHashes)
	}
	if _, err := f.s.EpochHashes(f.ctx, []int64{tlog.StoredHashCount(int64(d.epoch()))}); err == nil {
		t.Fatal("EpochHashes past the stored hashes succeeded")
	}

	handles := []string{"nobody"}
	for h := range d.hist {
		handles = append(handles, h)
	}
	for _, h := range handles {
		v, err := f.s.VRF(f.ctx, h)
		want, ok := d.vrf[h]
		switch {
		case !ok:
			wantErr(t, "VRF("+h+")", err, store.ErrNotFound)
		case err != nil || !reflect.DeepEqual(v, want):
			t.Fatalf("VRF(%s) = %+v, %v; want %+v", h, v, err, want)
		}
		hist, err := f.s.History(f.ctx, h)
		must(t, "History("+h+")", err)
		if len(hist) != len(d.hist[h]) || (len(hist) > 0 && !reflect.DeepEqual(hist, d.hist[h])) {
			t.Fatalf("History(%s) = %+v, want %+v", h, hist, d.hist[h])
		}
	}
}

// checkLookups proves every handle at every epoch through the store and
// checks the proof against the epoch's root: absent before the handle's
// first epoch, then its newest version at or before the epoch.
func (d *dir) checkLookups() {
	t := d.f.t
	t.Helper()
	for h, hist := range d.hist {
		x := index(h)
		for e := uint64(1); e <= d.epoch(); e++ {
			p, err := d.m.Prove(d.f.ctx, e, x)
			must(t, "Prove", err)
			v, err := vmap.VerifyLookup(d.roots[e-1].Hash(), x, p)
			must(t, fmt.Sprintf("VerifyLookup(%s at %d)", h, e), err)
			var want *store.SequencedVersion
			for i := range hist {
				if hist[i].Epoch <= e {
					want = &hist[i]
				}
			}
			switch {
			case want == nil && v != nil:
				t.Fatalf("%s at epoch %d: present, want absent", h, e)
			case want != nil && (v == nil || v.Version != want.Seq ||
				v.Commitment != sha256.Sum256(append(want.Opening[:], want.Entry...))):
				t.Fatalf("%s at epoch %d: %+v, want seq %d", h, e, v, want.Seq)
			}
		}
	}
}

// wantUnsequenced fails unless Unsequenced lists exactly the accounts
// given (handle order), each as Account returns it.
func (f *fixture) wantUnsequenced(accts ...*account) {
	f.t.Helper()
	got, err := f.s.Unsequenced(f.ctx, 100)
	must(f.t, "Unsequenced", err)
	names := func(as []*store.Account) string {
		var b strings.Builder
		for _, a := range as {
			fmt.Fprintf(&b, "%s@%d ", a.Handle, a.Version)
		}
		return b.String()
	}
	var want []*store.Account
	for _, a := range accts {
		acc, err := f.s.Account(f.ctx, a.handle)
		must(f.t, "Account", err)
		want = append(want, acc)
	}
	slices.SortFunc(want, func(a, b *store.Account) int { return strings.Compare(a.Handle, b.Handle) })
	if names(got) != names(want) {
		f.t.Fatalf("Unsequenced = %s; want %s", names(got), names(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.AccountKey != w.AccountKey || g.LogIndex != w.LogIndex || !g.Created.Equal(w.Created) {
			f.t.Fatalf("Unsequenced: %s differs from Account", g.Handle)
		}
		if err := sameDevices(g.Devices, w.Devices); err != nil {
			f.t.Fatalf("Unsequenced: %s: %v", g.Handle, err)
		}
	}
}

func testDirectory(t *testing.T, f *fixture) {
	d := newDir(f)
	d.check()
	f.wantUnsequenced()
	alice, bob, carol := f.create("alice", 1), f.create("bob", 1), f.create("carol", 1)
	f.wantUnsequenced(alice, bob, carol)
	got, err := f.s.Unsequenced(f.ctx, 2)
	must(t, "Unsequenced(2)", err)
	if len(got) != 2 || got[0].Handle != "alice" || got[1].Handle != "bob" {
		t.Fatalf("Unsequenced(2) = %d accounts, want alice and bob", len(got))
	}
	_, err = f.s.Unsequenced(f.ctx, 0)
	wantErr(t, "Unsequenced(0)", err, store.ErrInvalid)

	d.commit(d.next(alice, bob)) // epoch 1
	f.wantUnsequenced(carol)
	d.check()

	f.addDevice(alice, 2) // a later key-set change: alice is back
	f.wantUnsequenced(alice, carol)
	d.commit(d.next(alice, carol)) // epoch 2
	f.wantUnsequenced()
	d.commit(d.next()) // epoch 3: an empty batch
	d.check()

	f.addDevice(bob, 2)
	f.revoke(bob, 1)
	f.wantUnsequenced(bob)
	d.commit(d.next(bob)) // epoch 4: map version 2 is key-set version 3
	f.wantUnsequenced()

	// The account changes again between the read and the commit: it
	// stays unsequenced at its newer version.
	f.addDevice(carol, 2)
	c := d.next(carol)
	f.addDevice(carol, 3)
	d.commit(c) // epoch 5
	f.wantUnsequenced(carol)
	d.commit(d.next(carol)) // epoch 6
	d.check()
	if h := d.hist["bob"]; len(h) != 2 || h[1].Seq != 2 || h[1].Version != 3 || h[1].Epoch != 4 {
		t.Fatalf("bob's history in the model: %+v", h)
	}
}

// dirState is what a refused CommitEpoch must leave as it was.
type dirState struct {
	latest      uint64
	root        string
	nodes       []string
	leaves      [][]byte
	batch       string
	vrf         []string
	hist        []string
	unsequenced []string
}

// state reads the directory around the epoch c would commit: the latest
// epoch and root, c's node labels at its epoch, the epoch log, c's batch
// slot, and the VRF entries, histories and unsequenced accounts of
// handles.
func (d *dir) state(c *store.EpochCommit, handles ...string) dirState {
	f := d.f
	f.t.Helper()
	var s dirState
	var err error
	s.latest, err = f.s.LatestEpoch(f.ctx)
	must(f.t, "LatestEpoch", err)
	r, err := f.s.MapRoot(f.ctx, c.Root.Epoch)
	s.root = fmt.Sprintf("%+v %v", r, err)
	for _, n := range c.Nodes {
		got, err := f.s.MapNode(f.ctx, n.Label, c.Root.Epoch)
		s.nodes = append(s.nodes, fmt.Sprintf("%+v %v", got, err))
	}
	s.leaves, err = f.s.EpochLeaves(f.ctx, 0, int64(s.latest))
	must(f.t, "EpochLeaves", err)
	if _, err := f.s.EpochLeaves(f.ctx, 0, int64(s.latest)+1); err == nil {
		f.t.Fatal("EpochLeaves past the log succeeded")
	}
	b, err := f.s.EpochBatch(f.ctx, c.Root.Epoch)
	s.batch = fmt.Sprintf("%x %v", b, err)
	for _, h := range handles {
		v, err := f.s.VRF(f.ctx, h)
		s.vrf = append(s.vrf, fmt.Sprintf("%+v %v", v, err))
		hist, err := f.s.History(f.ctx, h)
		s.hist = append(s.hist, fmt.Sprintf("%+v %v", hist, err))
	}
	us, err := f.s.Unsequenced(f.ctx, 100)
	must(f.t, "Unsequenced", err)
	for _, a := range us {
		s.unsequenced = append(s.unsequenced, fmt.Sprintf("%s@%d", a.Handle, a.Version))
	}
	return s
}

// cloneCommit copies c deeply enough that changing the copy's slices
// leaves c alone.
func cloneCommit(c store.EpochCommit) store.EpochCommit {
	c.Nodes = slices.Clone(c.Nodes)
	c.NewVRF = slices.Clone(c.NewVRF)
	c.Versions = slices.Clone(c.Versions)
	return c
}

// withEpoch moves c and everything in it to epoch e.
func withEpoch(c *store.EpochCommit, e uint64) {
	c.Root.Epoch = e
	for i := range c.Nodes {
		c.Nodes[i].Epoch = e
	}
	for i := range c.Versions {
		c.Versions[i].Epoch = e
	}
}

func testDirectoryRefusals(t *testing.T, f *fixture) {
	d := newDir(f)
	alice, bob := f.create("alice", 1), f.create("bob", 1)
	d.commit(d.next(alice)) // epoch 1
	f.addDevice(alice, 2)
	good := d.next(alice, bob) // epoch 2: alice seq 2 at version 2, bob new
	if len(good.NewVRF) != 1 || len(good.Versions) != 2 || len(good.Nodes) < 2 {
		t.Fatalf("epoch 2 commit: %d VRF entries, %d versions, %d nodes", len(good.NewVRF), len(good.Versions), len(good.Nodes))
	}
	ai, bi := 0, 1 // alice's and bob's versions in good
	if good.Versions[0].Handle != "alice" {
		ai, bi = 1, 0
	}
	before := d.state(&good, "alice", "bob", "nobody")
	for _, tc := range []struct {
		name string
		mod  func(c *store.EpochCommit)
		want error
	}{
		{"EpochSkipped", func(c *store.EpochCommit) { withEpoch(c, 3) }, store.ErrConflict},
		{"EpochAgain", func(c *store.EpochCommit) { withEpoch(c, 1) }, store.ErrConflict},
		{"EpochZero", func(c *store.EpochCommit) { withEpoch(c, 0) }, store.ErrConflict},
		{"VRFExists", func(c *store.EpochCommit) {
			c.NewVRF = append(c.NewVRF, store.VRFEntry{Handle: "alice", Index: index("alice"), Proof: []byte("p")})
		}, store.ErrConflict},
		{"SeqSkips", func(c *store.EpochCommit) { c.Versions[bi].Seq = 2 }, store.ErrConflict},
		{"SeqRepeats", func(c *store.EpochCommit) { c.Versions[ai].Seq = 1 }, store.ErrConflict},
		{"VersionAboveAccount", func(c *store.EpochCommit) { c.Versions[bi].Version = 2 }, store.ErrConflict},
		{"NoAccount", func(c *store.EpochCommit) {
			v := c.Versions[bi]
			v.Handle = "nobody"
			c.Versions = append(c.Versions, v)
		}, store.ErrConflict},
		{"NodeOfAnotherEpoch", func(c *store.EpochCommit) { c.Nodes[len(c.Nodes)-1].Epoch = 1 }, store.ErrInvalid},
		{"NodeTwice", func(c *store.EpochCommit) { c.Nodes = append(c.Nodes, c.Nodes[0]) }, store.ErrInvalid},
		{"HandleTwice", func(c *store.EpochCommit) { c.Versions = append(c.Versions, c.Versions[bi]) }, store.ErrInvalid},
		{"VRFTwice", func(c *store.EpochCommit) { c.NewVRF = append(c.NewVRF, c.NewVRF[0]) }, store.ErrInvalid},
		{"VersionOfAnotherEpoch", func(c *store.EpochCommit) { c.Versions[bi].Epoch = 3 }, store.ErrInvalid},
		{"SeqZero", func(c *store.EpochCommit) { c.Versions[bi].Seq = 0 }, store.ErrInvalid},
		{"NoLeaf", func(c *store.EpochCommit) { c.Leaf = nil }, store.ErrInvalid},
		{"NoBatch", func(c *store.EpochCommit) { c.Batch = nil }, store.ErrInvalid},
	} {
		c := cloneCommit(good)
		tc.mod(&c)
		wantErr(t, tc.name, f.s.CommitEpoch(f.ctx, c), tc.want)
		if after := d.state(&good, "alice", "bob", "nobody"); !reflect.DeepEqual(after, before) {
			t.Fatalf("%s: the refused commit changed the directory:\n%+v\nbefore:\n%+v", tc.name, after, before)
		}
	}
	d.commit(good)
	d.check()
	f.wantUnsequenced()
	wantErr(t, "CommitEpoch of epoch 2 again", f.s.CommitEpoch(f.ctx, good), store.ErrConflict)
	d.check()
}

// testDirectoryConcurrentCommit races committers of the same epoch, each
// with its own leaf: exactly one wins each epoch, the others get
// ErrConflict, and the log holds the winners' leaves.
func testDirectoryConcurrentCommit(t *testing.T, f *fixture) {
	const epochs, racers = 4, 6
	d := newDir(f)
	for range epochs {
		c := d.next()
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins []store.EpochCommit
		)
		for r := range racers {
			rc := c
			rc.Leaf = fmt.Appendf(nil, "racer %d of epoch %d", r, c.Root.Epoch)
			wg.Go(func() {
				err := f.s.CommitEpoch(f.ctx, rc)
				if err != nil && !errors.Is(err, store.ErrConflict) {
					t.Errorf("CommitEpoch: %v", err)
				}
				if err == nil {
					mu.Lock()
					wins = append(wins, rc)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(wins) != 1 {
			t.Fatalf("epoch %d committed %d times", c.Root.Epoch, len(wins))
		}
		d.roots = append(d.roots, wins[0].Root)
		d.leaves = append(d.leaves, wins[0].Leaf)
		d.batches = append(d.batches, wins[0].Batch)
	}
	d.check()
}

// testSequencer checks the interface's part of Sequencer: it is granted
// when nobody holds it, and release (twice is harmless) gives it back.
// Exclusivity between processes is the engines' test (PostgreSQL).
func testSequencer(t *testing.T, f *fixture) {
	for range 3 {
		release, ok, err := f.s.Sequencer(f.ctx)
		must(t, "Sequencer", err)
		if !ok {
			t.Fatal("Sequencer refused with nobody holding it")
		}
		release()
		release()
	}
}

// mapStore is a vmap.NodeStore whose Commit is a CommitEpoch with a
// made-up leaf and an empty batch, so that the map suite (vmaptest) runs
// on each engine.
type mapStore struct{ s store.Store }

func (m mapStore) Node(ctx context.Context, l vmap.Label, epoch uint64) (vmap.Node, error) {
	return m.s.MapNode(ctx, l, epoch)
}

func (m mapStore) Root(ctx context.Context, epoch uint64) (vmap.Root, error) {
	return m.s.MapRoot(ctx, epoch)
}

func (m mapStore) Latest(ctx context.Context) (uint64, error) { return m.s.LatestEpoch(ctx) }

func (m mapStore) Commit(ctx context.Context, root vmap.Root, nodes []vmap.Node) error {
	return m.s.CommitEpoch(ctx, store.EpochCommit{
		Root: root, Nodes: nodes, Batch: vmap.MarshalBatch(nil),
		Leaf: fmt.Appendf(nil, "vmaptest epoch %d", root.Epoch),
	})
}

// runMap runs the vmap NodeStore suite on the engine's directory.
func runMap(t *testing.T, open func(t *testing.T) store.Store) {
	vmaptest.Run(t, func(t *testing.T) vmap.NodeStore { return mapStore{open(t)} })
	t.Run("ReadOnlyAdapter", func(t *testing.T) {
		ns := store.NodeStore(open(t))
		if err := ns.Commit(t.Context(), vmap.Root{Epoch: 1, Empty: true}, nil); err == nil {
			t.Fatal("store.NodeStore accepted a Commit")
		}
		if e, err := ns.Latest(t.Context()); err != nil || e != 0 {
			t.Fatalf("a refused Commit left epoch %d (%v)", e, err)
		}
	})
}
