package fuzz

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"golang.org/x/mod/sumdb/tlog"
)

func directoryVectors(f *testing.F) []vectors.DirectoryCase {
	f.Helper()
	v, err := vectors.Load[vectors.DirectoryCase]("directory.json")
	if err != nil {
		f.Fatal(err)
	}
	return v.Cases
}

// directoryError reports whether err is one of the named errors of
// spec/errors.md §3.16.
func directoryError(err error, kinds ...error) bool {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

func openDirectoryCheckpoint(f *testing.F, verifierKey, signed string) *kt.Checkpoint {
	f.Helper()
	v, err := directory.NewVerifier(verifierKey)
	if err != nil {
		f.Fatal(err)
	}
	cp, err := v.OpenCheckpoint([]byte(signed))
	if err != nil {
		f.Fatal(err)
	}
	return cp
}

// splitHashes cuts b into 32-byte hashes, dropping a short tail.
func splitHashes(b []byte) []tlog.Hash {
	var hs []tlog.Hash
	for ; len(b) >= tlog.HashSize; b = b[tlog.HashSize:] {
		hs = append(hs, tlog.Hash(b[:tlog.HashSize]))
	}
	return hs
}

func joinHashes(hs []vectors.Hex) []byte {
	var b []byte
	for _, h := range hs {
		b = append(b, h...)
	}
	return b
}

// FuzzDirectoryLeaf parses arbitrary bytes as a log leaf
// (spec/transparency-v2.md §5.1). Seeds are every leaf encoding of
// spec/vectors/directory.json, valid and refused.
//
// Checks: no panic; a refusal is ErrMalformed with no leaf; an accepted
// leaf re-encodes to the same bytes; the input is left alone.
func FuzzDirectoryLeaf(f *testing.F) {
	n := 0
	for _, c := range directoryVectors(f) {
		if c.Leaf != nil {
			f.Add([]byte(c.Leaf.Encoding))
			n++
		}
	}
	if n == 0 {
		f.Fatal("no leaf vectors")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		l, err := directory.ParseLeaf(data)
		if !bytes.Equal(in, data) {
			t.Fatal("ParseLeaf modified its input")
		}
		if err != nil {
			if !errors.Is(err, directory.ErrMalformed) || l != nil {
				t.Fatalf("ParseLeaf = %v, %v", l, err)
			}
			return
		}
		if !bytes.Equal(l.Marshal(), data) {
			t.Fatal("accepted leaf does not re-encode to the same bytes")
		}
	})
}

// FuzzDirectoryLookup verifies lookup answers (spec/transparency-v2.md
// §6.3) whose fields are arbitrary bytes, under the checkpoint and VRF
// key of the lookup vector which selects. Seeds are every lookup of
// spec/vectors/directory.json whose checkpoint opens, valid and refused.
//
// Checks: no panic; a refusal is one of ErrMalformed, ErrProofInvalid,
// ErrWrongKey, ErrNotLatest and returns no entry; an accepted answer with
// an entry returns exactly that entry, validly signed, and the handle's;
// the inputs are left alone.
func FuzzDirectoryLookup(f *testing.F) {
	type base struct {
		cp     *kt.Checkpoint
		key    *vrf.PublicKey
		handle string
	}
	var bases []base
	for _, c := range directoryVectors(f) {
		l := c.Lookup
		if l == nil {
			continue
		}
		key, err := vrf.ParsePublicKey(l.VRFKey)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(len(bases)), l.Epoch, []byte(l.VRFProof), []byte(l.Leaf), []byte(l.MapProof),
			joinHashes(l.Inclusion), []byte(l.Entry), []byte(l.Opening))
		bases = append(bases, base{openDirectoryCheckpoint(f, l.VerifierKey, l.Checkpoint), key, l.Handle})
	}
	if len(bases) == 0 {
		f.Fatal("no lookup vectors")
	}
	f.Fuzz(func(t *testing.T, which uint8, epoch uint64, vrfProof, leaf, mapProof, inclusion, entry, opening []byte) {
		b := bases[int(which)%len(bases)]
		l := &directory.Lookup{Handle: b.handle, VRFProof: vrfProof, Epoch: epoch, Leaf: leaf, MapProof: mapProof,
			Inclusion: splitHashes(inclusion), Entry: entry, Opening: opening}
		in := [][]byte{bytes.Clone(vrfProof), bytes.Clone(leaf), bytes.Clone(mapProof), bytes.Clone(inclusion), bytes.Clone(entry), bytes.Clone(opening)}
		e, err := directory.VerifyLookup(b.cp, b.key, l)
		for i, x := range [][]byte{vrfProof, leaf, mapProof, inclusion, entry, opening} {
			if !bytes.Equal(in[i], x) {
				t.Fatal("VerifyLookup modified its input")
			}
		}
		if err != nil {
			if e != nil || !directoryError(err, directory.ErrMalformed, directory.ErrProofInvalid, directory.ErrWrongKey, directory.ErrNotLatest) {
				t.Fatalf("VerifyLookup = %v, %v", e, err)
			}
			return
		}
		if e != nil && (!bytes.Equal(e.Marshal(), entry) || e.Handle != b.handle || e.Verify() != nil) {
			t.Fatal("accepted entry is not the answer's, the handle's, validly signed")
		}
		if e == nil && (len(entry) != 0 || len(opening) != 0) {
			t.Fatal("absence accepted with an entry")
		}
	})
}

// FuzzDirectoryAudit runs the auditor (spec/transparency-v2.md §8.2) over
// the audit vector which selects, with the epoch at pos replaced by
// arbitrary leaf, batch and batch proof bytes. Seeds are every epoch of
// every audit vector of spec/vectors/directory.json, as it is.
//
// Checks: no panic; a refusal is one of ErrMalformed, ErrProofInvalid,
// ErrWrongKey, ErrAudit and returns no state; the old state is never
// changed; an accepted audit of an accepted vector gives exactly the
// vector's new state (the checkpoint root fixes every leaf, and each leaf
// fixes its batch). A refused vector may be accepted once the fuzzer has
// undone its change.
func FuzzDirectoryAudit(f *testing.F) {
	type base struct {
		cp     *kt.Checkpoint
		old    *directory.AuditState
		proof  tlog.TreeProof
		epochs []directory.AuditEpoch
		new    *directory.AuditState
	}
	state := func(v *vectors.DirectoryAuditState) *directory.AuditState {
		st := &directory.AuditState{Size: v.Size, TreeRoot: tlog.Hash(v.TreeRoot), MapRoot: vmap.Hash(v.MapRoot),
			Time: v.Time, VRFKey: [32]byte(v.VRFKey)}
		for _, h := range v.Edge {
			st.Edge = append(st.Edge, tlog.Hash(h))
		}
		return st
	}
	var bases []base
	for _, c := range directoryVectors(f) {
		a := c.Audit
		if a == nil || len(a.Epochs) == 0 {
			continue
		}
		b := base{cp: openDirectoryCheckpoint(f, a.VerifierKey, a.Checkpoint), old: state(&a.Old)}
		for _, h := range a.Consistency {
			b.proof = append(b.proof, tlog.Hash(h))
		}
		for i, e := range a.Epochs {
			b.epochs = append(b.epochs, directory.AuditEpoch{Leaf: e.Leaf, Batch: e.Batch, BatchProof: e.BatchProof})
			f.Add(uint8(len(bases)), uint8(i), []byte(e.Leaf), []byte(e.Batch), []byte(e.BatchProof))
		}
		if a.New != nil {
			b.new = state(a.New)
		}
		bases = append(bases, b)
	}
	if len(bases) == 0 {
		f.Fatal("no audit vectors")
	}
	f.Fuzz(func(t *testing.T, which, pos uint8, leaf, batch, batchProof []byte) {
		b := bases[int(which)%len(bases)]
		es := append([]directory.AuditEpoch(nil), b.epochs...)
		es[int(pos)%len(es)] = directory.AuditEpoch{Leaf: leaf, Batch: batch, BatchProof: batchProof}
		old := *b.old
		old.Edge = append([]tlog.Hash(nil), b.old.Edge...)
		st, err := directory.Audit(b.old, b.cp, b.proof, es)
		if !reflect.DeepEqual(&old, b.old) {
			t.Fatal("Audit changed the old state")
		}
		if err != nil {
			if st != nil || !directoryError(err, directory.ErrMalformed, directory.ErrProofInvalid, directory.ErrWrongKey, directory.ErrAudit) {
				t.Fatalf("Audit = %v, %v", st, err)
			}
			return
		}
		if b.new == nil {
			return // the fuzzer undid the vector's change
		}
		if !reflect.DeepEqual(st, b.new) {
			t.Fatal("accepted audit gives another state than the vector's")
		}
	})
}
