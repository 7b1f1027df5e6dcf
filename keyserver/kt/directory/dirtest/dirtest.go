// Package dirtest is an in-memory key transparency version 2 directory for
// tests, benchmarks, fuzzing and the vector generator
// (spec/transparency-v2.md §5, §6, §8): it sequences key-set entries into
// epochs with a vmap.Map on a vmap.MemStore, appends each epoch's leaf to a
// kttest.Log, and answers lookups, histories and audit data exactly as a
// key server must. It also builds valid entries (Account). It is not safe
// for concurrent use, and its randomness comes from the reader it is given.
package dirtest

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/kttest"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"golang.org/x/mod/sumdb/tlog"
)

// Version is one sequenced value of a handle.
type Version struct {
	Seq, Epoch uint64
	Opening    [directory.OpeningSize]byte
	Entry      []byte
}

type handle struct {
	index    vmap.Index
	proof    []byte
	versions []Version
}

// Epoch is the public data of one epoch.
type Epoch struct {
	Leaf       []byte
	Batch      []byte
	BatchProof []byte
}

// Directory is the key server's side of the protocol, in memory.
type Directory struct {
	Origin string
	VRF    *vrf.PrivateKey
	Log    *kttest.Log
	Map    *vmap.Map
	// Time is the time the next epoch's leaf records; Sequence adds one
	// second after each epoch.
	Time int64
	// LeafHook, if set, changes each leaf before it is appended, and
	// Publish the updates the public batch and its proof show: a
	// misbehaving key server, for the tests of refusals.
	LeafHook func(*directory.Leaf)
	Publish  func([]vmap.Update) []vmap.Update
	logKey   ed25519.PrivateKey
	rand     io.Reader
	handles  map[string]*handle
	epochs   []Epoch
}

// New returns an empty directory: log origin origin (which should end in
// directory.OriginSuffix) signed by logKey, VRF key vrfKey, openings read
// from rand.
func New(origin string, logKey ed25519.PrivateKey, vrfKey *vrf.PrivateKey, rand io.Reader) (*Directory, error) {
	l, err := kttest.New(origin, logKey)
	if err != nil {
		return nil, err
	}
	return &Directory{Origin: origin, VRF: vrfKey, Log: l, Map: vmap.New(vmap.NewMemStore()),
		Time: 1767225600, logKey: logKey, rand: rand, handles: map[string]*handle{}}, nil
}

// VerifierKey returns the log's verifier key.
func (d *Directory) VerifierKey() string {
	vk, err := kt.VerifierKey(d.Origin, d.logKey.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err)
	}
	return vk
}

// Size returns the number of epochs.
func (d *Directory) Size() uint64 { return uint64(len(d.epochs)) }

// Epoch returns the public data of epoch e ≥ 1.
func (d *Directory) Epoch(e uint64) Epoch { return d.epochs[e-1] }

// Index returns the map index of handle and its VRF proof.
func (d *Directory) Index(h string) (vmap.Index, []byte, error) {
	if st, ok := d.handles[h]; ok {
		return st.index, slices.Clone(st.proof), nil
	}
	alpha, err := vrf.HandleInput(h)
	if err != nil {
		return vmap.Index{}, nil, err
	}
	beta, pi, err := d.VRF.Prove(alpha)
	if err != nil {
		return vmap.Index{}, nil, err
	}
	return vmap.Index(vrf.Index(&beta)), pi, nil
}

// Sequence makes the next epoch from the entries (at most one per handle,
// each an encoding kt.Entry.Marshal wrote) and random filler indices
// (other accounts whose entries the tests never open), and returns the
// epoch number.
func (d *Directory) Sequence(entries [][]byte, filler int) (uint64, error) {
	handles := make([]string, len(entries))
	for i, b := range entries {
		e, err := kt.ParseEntry(b)
		if err != nil {
			return 0, err
		}
		handles[i] = e.Handle
	}
	return d.SequenceFor(handles, entries, filler)
}

// SequenceFor is Sequence with entries[i] put at the index of handles[i],
// whatever handle the entry names (a misbehaving key server).
func (d *Directory) SequenceFor(handles []string, entries [][]byte, filler int) (uint64, error) {
	ctx := context.Background()
	epoch := d.Size() + 1
	var ups []vmap.Update
	type change struct {
		name string
		h    *handle
		v    Version
	}
	var changes []change
	for i, b := range entries {
		name := handles[i]
		st := d.handles[name]
		if slices.ContainsFunc(changes, func(c change) bool { return c.name == name }) {
			return 0, fmt.Errorf("dirtest: handle %q twice in one epoch", name)
		}
		if st == nil {
			st = &handle{}
			var err error
			if st.index, st.proof, err = d.Index(name); err != nil {
				return 0, err
			}
		}
		v := Version{Seq: uint64(len(st.versions)) + 1, Epoch: epoch, Entry: slices.Clone(b)}
		if _, err := io.ReadFull(d.rand, v.Opening[:]); err != nil {
			return 0, err
		}
		ups = append(ups, vmap.Update{Index: st.index, Value: vmap.Value{Version: v.Seq, Commitment: directory.Commit(&v.Opening, b)}})
		changes = append(changes, change{name, st, v})
	}
	for range filler {
		var u vmap.Update
		if _, err := io.ReadFull(d.rand, u.Index[:]); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(d.rand, u.Value.Commitment[:]); err != nil {
			return 0, err
		}
		u.Value.Version = 1
		ups = append(ups, u)
	}
	public := ups
	if d.Publish != nil {
		public = d.Publish(slices.Clone(ups))
	}
	batch, proof, err := d.Map.ProveBatch(ctx, epoch-1, public)
	if err != nil {
		return 0, err
	}
	root, err := d.Map.Apply(ctx, ups)
	if err != nil {
		return 0, err
	}
	if root.Epoch != epoch {
		return 0, fmt.Errorf("dirtest: map at epoch %d, log at %d", root.Epoch, epoch)
	}
	leaf := directory.Leaf{Epoch: epoch, Time: d.Time, VRFKey: [32]byte(d.VRF.Public().Bytes()),
		MapRoot: root.Hash(), Count: uint32(len(batch)), BatchDigest: vmap.BatchDigest(batch)}
	if d.LeafHook != nil {
		d.LeafHook(&leaf)
	}
	lb := leaf.Marshal()
	if _, err := d.Log.Append(lb); err != nil {
		return 0, err
	}
	d.epochs = append(d.epochs, Epoch{Leaf: lb, Batch: vmap.MarshalBatch(batch), BatchProof: proof})
	for _, c := range changes {
		c.h.versions = append(c.h.versions, c.v)
		d.handles[c.name] = c.h
	}
	d.Time++
	return epoch, nil
}

// Checkpoint returns the signed checkpoint of the first size epochs.
func (d *Directory) Checkpoint(size uint64) ([]byte, error) { return d.Log.Checkpoint(int64(size)) }

// Open signs and opens the checkpoint of size epochs with the v2 verifier.
func (d *Directory) Open(size uint64) (*kt.Checkpoint, error) {
	signed, err := d.Checkpoint(size)
	if err != nil {
		return nil, err
	}
	v, err := directory.NewVerifier(d.VerifierKey())
	if err != nil {
		return nil, err
	}
	return v.OpenCheckpoint(signed)
}

// Versions returns the sequenced versions of handle, oldest first.
func (d *Directory) Versions(h string) []Version {
	if st := d.handles[h]; st != nil {
		return slices.Clone(st.versions)
	}
	return nil
}

// valueAt returns the newest version of handle sequenced at or before
// epoch, or nil.
func (d *Directory) valueAt(h string, epoch uint64) *Version {
	st := d.handles[h]
	if st == nil {
		return nil
	}
	var v *Version
	for i := range st.versions {
		if st.versions[i].Epoch <= epoch {
			v = &st.versions[i]
		}
	}
	return v
}

// ProveEpoch returns the leaf, inclusion and map proof of handle at epoch
// under the tree of size epochs.
func (d *Directory) ProveEpoch(h string, epoch, size uint64) (directory.EpochProof, error) {
	index, _, err := d.Index(h)
	if err != nil {
		return directory.EpochProof{}, err
	}
	return d.proveEpoch(epoch, size, index)
}

func (d *Directory) proveEpoch(epoch, size uint64, index vmap.Index) (directory.EpochProof, error) {
	incl, err := d.Log.ProveInclusion(int64(epoch-1), int64(size))
	if err != nil {
		return directory.EpochProof{}, err
	}
	mp, err := d.Map.Prove(context.Background(), epoch, index)
	if err != nil {
		return directory.EpochProof{}, err
	}
	return directory.EpochProof{Epoch: epoch, Leaf: slices.Clone(d.Log.Leaf(int64(epoch - 1))), Inclusion: incl, MapProof: mp}, nil
}

// Lookup answers a lookup of handle from epoch, proven under the tree of
// size epochs (an honest key server answers from epoch = size).
func (d *Directory) Lookup(h string, epoch, size uint64) (*directory.Lookup, error) {
	index, proof, err := d.Index(h)
	if err != nil {
		return nil, err
	}
	p, err := d.proveEpoch(epoch, size, index)
	if err != nil {
		return nil, err
	}
	l := &directory.Lookup{Handle: h, VRFProof: proof, Epoch: epoch, Leaf: p.Leaf, MapProof: p.MapProof, Inclusion: p.Inclusion}
	if v := d.valueAt(h, epoch); v != nil {
		l.Entry = slices.Clone(v.Entry)
		l.Opening = slices.Clone(v.Opening[:])
	}
	return l, nil
}

// History answers the history of handle under the tree of size epochs.
func (d *Directory) History(h string, size uint64) (*directory.History, error) {
	index, proof, err := d.Index(h)
	if err != nil {
		return nil, err
	}
	hist := &directory.History{Handle: h, VRFProof: proof}
	for _, v := range d.Versions(h) {
		if v.Epoch <= size {
			hist.Versions = append(hist.Versions, directory.HistoryVersion{Version: v.Seq, Epoch: v.Epoch, Entry: slices.Clone(v.Entry), Opening: slices.Clone(v.Opening[:])})
		}
	}
	for _, e := range directory.HistoryEpochs(hist.Versions, size) {
		p, err := d.proveEpoch(e, size, index)
		if err != nil {
			return nil, err
		}
		hist.Proofs = append(hist.Proofs, p)
	}
	return hist, nil
}

// Audit returns the public data of epochs old+1 … size and the
// consistency proof from size old to size.
func (d *Directory) Audit(old, size uint64) ([]directory.AuditEpoch, tlog.TreeProof, error) {
	var es []directory.AuditEpoch
	for e := old + 1; e <= size; e++ {
		ep := d.epochs[e-1]
		es = append(es, directory.AuditEpoch{Leaf: slices.Clone(ep.Leaf), Batch: slices.Clone(ep.Batch), BatchProof: slices.Clone(ep.BatchProof)})
	}
	p, err := d.Log.ProveConsistency(int64(old), int64(size))
	return es, p, err
}

// Account builds the valid entries of one account (spec/transparency.md
// §2): registration with one device, then devices added and revoked, one
// key-set change at a time.
type Account struct {
	Handle string
	Key    *keys.AccountPrivateKey
	Entry  kt.Entry
	rand   io.Reader
	time   time.Time
}

// NewAccount returns an account with no entry yet; its keys come from
// rand.
func NewAccount(h string, rand io.Reader) (*Account, error) {
	k, err := keys.GenerateAccountKey(rand)
	if err != nil {
		return nil, err
	}
	return &Account{Handle: h, Key: k, rand: rand, Entry: kt.Entry{Handle: h, AccountKey: k.Public()},
		time: time.Unix(1767225600, 0).UTC()}, nil
}

// AddDevice certifies the next device and returns the new entry's
// encoding.
func (a *Account) AddDevice() ([]byte, error) {
	dev, err := keys.GenerateDeviceKeys(a.rand)
	if err != nil {
		return nil, err
	}
	id := keys.DeviceID(1)
	if n := len(a.Entry.Devices); n > 0 {
		id = a.Entry.Devices[n-1].Certificate.Device + 1
	}
	c, err := a.Key.CertifyDevice(a.Handle, id, dev.Public(), a.time)
	if err != nil {
		return nil, err
	}
	a.Entry.Devices = append(slices.Clone(a.Entry.Devices), kt.Device{Certificate: c})
	a.Entry.Version++
	return a.marshal()
}

// Revoke revokes the i-th device and returns the new entry's encoding.
func (a *Account) Revoke(i int) ([]byte, error) {
	r, err := a.Key.RevokeDevice(a.Handle, a.Entry.Devices[i].Certificate.Device, a.time.Add(time.Hour))
	if err != nil {
		return nil, err
	}
	a.Entry.Devices = slices.Clone(a.Entry.Devices)
	a.Entry.Devices[i].Revocation = r
	a.Entry.Version++
	return a.marshal()
}

func (a *Account) marshal() ([]byte, error) {
	if err := a.Entry.Verify(); err != nil {
		return nil, err
	}
	return a.Entry.Marshal(), nil
}
