package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/directory/dirtest"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"golang.org/x/mod/sumdb/tlog"
)

func init() { register("directory.json", genDirectory) }

// The server name of the vectors' logs: the version 2 log is
// dirName + "/sealpost-kt/v2", the version 1 log dirName + "/keyserver".
const (
	dirName     = "example.org"
	dirOriginV2 = dirName + "/sealpost-kt/v2"
	dirOriginV1 = dirName + "/keyserver"
)

// dirLeaf encodes a leaf as spec/transparency-v2.md §5.1 writes it, here
// from the spec rather than from the package under test.
func dirLeaf(epoch uint64, t int64, vrfKey, mapRoot []byte, count uint32, digest []byte) []byte {
	b := []byte{0x02}
	b = binary.BigEndian.AppendUint64(b, epoch)
	b = binary.BigEndian.AppendUint64(b, uint64(t))
	b = append(b, vrfKey...)
	b = append(b, mapRoot...)
	b = binary.BigEndian.AppendUint32(b, count)
	return append(b, digest...)
}

// dirCommit is the commitment of §6.1, from the spec.
func dirCommit(opening, entry []byte) []byte {
	h := sha256.New()
	h.Write([]byte("sealpost/v2/kt-commit"))
	h.Write(opening)
	h.Write(entry)
	return h.Sum(nil)
}

// dirWorld is the directory of the vectors: five epochs,
//
//	1: alice registers; 2: bob registers, alice adds a device;
//	3: others only; 4: alice adds a device and revokes one (two key-set
//	changes, one map version), bob adds a device; 5: others only.
type dirWorld struct {
	d              *dirtest.Directory
	aliceV, bobV   [][]byte
	logKey         ed25519.PrivateKey
	vrfKey         *vrf.PrivateKey
	verifierKey    string
	verifierKeyV1  string
	otherVRFPublic []byte
}

func dirSeed(label string, n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(testrand.New(label), b)
	return b, err
}

func dirKeys() (ed25519.PrivateKey, *vrf.PrivateKey, error) {
	ls, err := dirSeed("vectors/directory/log", ed25519.SeedSize)
	if err != nil {
		return nil, nil, err
	}
	vs, err := dirSeed("vectors/directory/vrf", vrf.SeedSize)
	if err != nil {
		return nil, nil, err
	}
	vk, err := vrf.NewPrivateKey(vs)
	return ed25519.NewKeyFromSeed(ls), vk, err
}

// dirSequence sequences each step's entries (one function per epoch,
// returning its entries) with filler other accounts.
func dirSequence(d *dirtest.Directory, filler int, steps ...func() ([][]byte, error)) error {
	for _, s := range steps {
		es, err := s()
		if err != nil {
			return err
		}
		if _, err := d.Sequence(es, filler); err != nil {
			return err
		}
	}
	return nil
}

func newDirWorld(label string) (*dirWorld, error) {
	lk, vk, err := dirKeys()
	if err != nil {
		return nil, err
	}
	d, err := dirtest.New(dirOriginV2, lk, vk, testrand.New("vectors/directory/"+label))
	if err != nil {
		return nil, err
	}
	w := &dirWorld{d: d, logKey: lk, vrfKey: vk}
	pub := lk.Public().(ed25519.PublicKey)
	if w.verifierKey, err = kt.VerifierKey(dirOriginV2, pub); err != nil {
		return nil, err
	}
	if w.verifierKeyV1, err = kt.VerifierKey(dirOriginV1, pub); err != nil {
		return nil, err
	}
	os, err := dirSeed("vectors/directory/other-vrf", vrf.SeedSize)
	if err != nil {
		return nil, err
	}
	ok, err := vrf.NewPrivateKey(os)
	if err != nil {
		return nil, err
	}
	w.otherVRFPublic = ok.Public().Bytes()
	return w, nil
}

func (w *dirWorld) build() error {
	alice, err := dirtest.NewAccount("alice", testrand.New("vectors/directory/alice"))
	if err != nil {
		return err
	}
	bob, err := dirtest.NewAccount("bob", testrand.New("vectors/directory/bob"))
	if err != nil {
		return err
	}
	var a1, a2, a3, b1, b2 []byte
	err = dirSequence(w.d, 6,
		func() ([][]byte, error) { a1, err = alice.AddDevice(); return [][]byte{a1}, err },
		func() ([][]byte, error) {
			if b1, err = bob.AddDevice(); err != nil {
				return nil, err
			}
			a2, err = alice.AddDevice()
			return [][]byte{b1, a2}, err
		},
		func() ([][]byte, error) { return nil, nil },
		func() ([][]byte, error) {
			if _, err = alice.AddDevice(); err != nil {
				return nil, err
			}
			if a3, err = alice.Revoke(0); err != nil {
				return nil, err
			}
			b2, err = bob.AddDevice()
			return [][]byte{a3, b2}, err
		},
		func() ([][]byte, error) { return nil, nil },
	)
	w.aliceV, w.bobV = [][]byte{a1, a2, a3}, [][]byte{b1, b2}
	return err
}

func tlogHexes(hs []tlog.Hash) []vectors.Hex {
	out := []vectors.Hex{}
	for _, h := range hs {
		out = append(out, vectors.Hex(bytes.Clone(h[:])))
	}
	return out
}

func (w *dirWorld) checkpoint(size uint64) (string, *kt.Checkpoint, error) {
	signed, err := w.d.Checkpoint(size)
	if err != nil {
		return "", nil, err
	}
	cp, err := w.d.Open(size)
	return string(signed), cp, err
}

func (w *dirWorld) lookupCase(handle string, epoch, size uint64, change func(*vectors.DirectoryLookupCase)) (*vectors.DirectoryLookupCase, error) {
	l, err := w.d.Lookup(handle, epoch, size)
	if err != nil {
		return nil, err
	}
	signed, _, err := w.checkpoint(size)
	if err != nil {
		return nil, err
	}
	index, _, err := w.d.Index(handle)
	if err != nil {
		return nil, err
	}
	c := &vectors.DirectoryLookupCase{VerifierKey: w.verifierKey, VRFKey: w.vrfKey.Public().Bytes(), Checkpoint: signed,
		Handle: handle, VRFProof: l.VRFProof, Epoch: l.Epoch, Leaf: l.Leaf, MapProof: l.MapProof,
		Inclusion: tlogHexes(l.Inclusion), Entry: l.Entry, Opening: l.Opening, Index: index[:]}
	if change != nil {
		change(c)
	}
	return c, nil
}

// runLookup verifies a lookup case as a client does: open the checkpoint
// with the version 2 verifier, then VerifyLookup.
func runLookup(c *vectors.DirectoryLookupCase) (present bool, err error) {
	v, err := directory.NewVerifier(c.VerifierKey)
	if err != nil {
		return false, err
	}
	cp, err := v.OpenCheckpoint([]byte(c.Checkpoint))
	if err != nil {
		return false, err
	}
	key, err := vrf.ParsePublicKey(c.VRFKey)
	if err != nil {
		return false, err
	}
	var incl []tlog.Hash
	for _, h := range c.Inclusion {
		incl = append(incl, tlog.Hash(h))
	}
	e, err := directory.VerifyLookup(cp, key, &directory.Lookup{Handle: c.Handle, VRFProof: c.VRFProof, Epoch: c.Epoch,
		Leaf: c.Leaf, MapProof: c.MapProof, Inclusion: incl, Entry: c.Entry, Opening: c.Opening})
	return e != nil, err
}

func (w *dirWorld) historyCase(handle string, size uint64, change func(h *directory.History)) (*vectors.DirectoryHistory, error) {
	h, err := w.d.History(handle, size)
	if err != nil {
		return nil, err
	}
	if change != nil {
		change(h)
	}
	signed, _, err := w.checkpoint(size)
	if err != nil {
		return nil, err
	}
	c := &vectors.DirectoryHistory{VerifierKey: w.verifierKey, VRFKey: w.vrfKey.Public().Bytes(), Checkpoint: signed,
		Handle: handle, VRFProof: h.VRFProof, Versions: []vectors.DirectoryVersion{}, Proofs: []vectors.DirectoryEpochProof{}}
	for _, v := range h.Versions {
		c.Versions = append(c.Versions, vectors.DirectoryVersion{Version: v.Version, Epoch: v.Epoch, Entry: v.Entry, Opening: v.Opening})
	}
	for _, p := range h.Proofs {
		c.Proofs = append(c.Proofs, vectors.DirectoryEpochProof{Epoch: p.Epoch, Leaf: p.Leaf, Inclusion: tlogHexes(p.Inclusion), MapProof: p.MapProof})
	}
	return c, nil
}

func runHistory(c *vectors.DirectoryHistory) (int, error) {
	v, err := directory.NewVerifier(c.VerifierKey)
	if err != nil {
		return 0, err
	}
	cp, err := v.OpenCheckpoint([]byte(c.Checkpoint))
	if err != nil {
		return 0, err
	}
	key, err := vrf.ParsePublicKey(c.VRFKey)
	if err != nil {
		return 0, err
	}
	h := &directory.History{Handle: c.Handle, VRFProof: c.VRFProof}
	for _, x := range c.Versions {
		h.Versions = append(h.Versions, directory.HistoryVersion{Version: x.Version, Epoch: x.Epoch, Entry: x.Entry, Opening: x.Opening})
	}
	for _, p := range c.Proofs {
		var incl []tlog.Hash
		for _, x := range p.Inclusion {
			incl = append(incl, tlog.Hash(x))
		}
		h.Proofs = append(h.Proofs, directory.EpochProof{Epoch: p.Epoch, Leaf: p.Leaf, Inclusion: incl, MapProof: p.MapProof})
	}
	es, err := directory.VerifyHistory(cp, key, h)
	return len(es), err
}

func auditStateVector(st *directory.AuditState) vectors.DirectoryAuditState {
	return vectors.DirectoryAuditState{Size: st.Size, TreeRoot: bytes.Clone(st.TreeRoot[:]), MapRoot: bytes.Clone(st.MapRoot[:]),
		Time: st.Time, VRFKey: bytes.Clone(st.VRFKey[:]), Edge: tlogHexes(st.Edge), Encoded: st.Marshal()}
}

func auditStateOf(v *vectors.DirectoryAuditState) *directory.AuditState {
	st := &directory.AuditState{Size: v.Size, TreeRoot: tlog.Hash(v.TreeRoot), MapRoot: vmap.Hash(v.MapRoot), Time: v.Time, VRFKey: [32]byte(v.VRFKey)}
	for _, h := range v.Edge {
		st.Edge = append(st.Edge, tlog.Hash(h))
	}
	return st
}

// auditCase audits d from old to size; the state at old comes from an
// honest audit of d.
func auditCase(d *dirtest.Directory, verifierKey string, old, size uint64, change func(es []directory.AuditEpoch)) (*vectors.DirectoryAuditCase, error) {
	st, err := directory.NewAuditState(d.VRF.Public())
	if err != nil {
		return nil, err
	}
	if old > 0 {
		es, p, err := d.Audit(0, old)
		if err != nil {
			return nil, err
		}
		cp, err := d.Open(old)
		if err != nil {
			return nil, err
		}
		if st, err = directory.Audit(st, cp, p, es); err != nil {
			return nil, err
		}
	}
	es, proof, err := d.Audit(old, size)
	if err != nil {
		return nil, err
	}
	if change != nil {
		change(es)
	}
	signed, err := d.Checkpoint(size)
	if err != nil {
		return nil, err
	}
	c := &vectors.DirectoryAuditCase{VerifierKey: verifierKey, Checkpoint: string(signed), Old: auditStateVector(st),
		Consistency: tlogHexes(proof), Epochs: []vectors.DirectoryAuditEpoch{}}
	for _, e := range es {
		c.Epochs = append(c.Epochs, vectors.DirectoryAuditEpoch{Leaf: e.Leaf, Batch: e.Batch, BatchProof: e.BatchProof})
	}
	return c, nil
}

func runAudit(c *vectors.DirectoryAuditCase) (*directory.AuditState, error) {
	v, err := directory.NewVerifier(c.VerifierKey)
	if err != nil {
		return nil, err
	}
	cp, err := v.OpenCheckpoint([]byte(c.Checkpoint))
	if err != nil {
		return nil, err
	}
	var proof tlog.TreeProof
	for _, h := range c.Consistency {
		proof = append(proof, tlog.Hash(h))
	}
	var es []directory.AuditEpoch
	for _, e := range c.Epochs {
		es = append(es, directory.AuditEpoch{Leaf: e.Leaf, Batch: e.Batch, BatchProof: e.BatchProof})
	}
	return directory.Audit(auditStateOf(&c.Old), cp, proof, es)
}

func runOrigin(c *vectors.DirectoryOrigin) error {
	var v *kt.Verifier
	var err error
	switch c.Verifier {
	case "v2":
		v, err = directory.NewVerifier(c.VerifierKey)
	case "v1":
		v, err = kt.NewVerifier(c.VerifierKey)
	default:
		return fmt.Errorf("verifier %q", c.Verifier)
	}
	if err != nil || c.Checkpoint == "" {
		return err
	}
	_, err = v.OpenCheckpoint([]byte(c.Checkpoint))
	return err
}

// dirErrors maps the names directory.json uses to the sentinels.
var dirErrors = map[string]error{
	"malformed": directory.ErrMalformed, "proof_invalid": directory.ErrProofInvalid,
	"wrong_key": directory.ErrWrongKey, "not_latest": directory.ErrNotLatest,
	"origin": directory.ErrOrigin, "history": directory.ErrHistory, "audit": directory.ErrAudit,
	"bad_signature": kt.ErrBadSignature,
}

// dirCheck fails the generation if err is not what the case says.
func dirCheck(id string, err error, want string) error {
	if want == "" {
		if err != nil {
			return fmt.Errorf("%s: refused: %w", id, err)
		}
		return nil
	}
	if !errors.Is(err, dirErrors[want]) {
		return fmt.Errorf("%s: got %v, want %s", id, err, want)
	}
	return nil
}
