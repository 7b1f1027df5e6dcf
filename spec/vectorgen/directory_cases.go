package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/directory/dirtest"
	"github.com/sealpost/sealpost/keyserver/kt/kttest"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

func genDirectory() ([]byte, error) {
	w, err := newDirWorld("world")
	if err != nil {
		return nil, err
	}
	if err := w.build(); err != nil {
		return nil, err
	}
	var cases []vectors.DirectoryCase
	add := func(c vectors.DirectoryCase) { cases = append(cases, c) }
	for _, gen := range []func(*dirWorld, func(vectors.DirectoryCase)) error{
		dirLeafCases, dirCommitCases, dirLookupCases, dirHistoryCases, dirAuditCases, dirOriginCases,
	} {
		if err := gen(w, add); err != nil {
			return nil, err
		}
	}
	return encode(&vectors.File[vectors.DirectoryCase]{
		Description: "Key transparency v2 directory: log leaves, commitments, lookups (proof of latest), histories, audit steps and domain separation",
		Spec:        "spec/transparency-v2.md §5, §6, §8, §9",
		Cases:       cases,
	})
}

func dirLeafCases(w *dirWorld, add func(vectors.DirectoryCase)) error {
	vk, root, digest := make([]byte, 32), make([]byte, 32), make([]byte, 32)
	for i := range 32 {
		vk[i], root[i], digest[i] = byte(i), byte(0x40+i), byte(0x80+i)
	}
	type leafCase struct {
		id, comment string
		enc         []byte
		err         string
	}
	good := dirLeaf(1, 1767225600, vk, root, 3, digest)
	mut := func(off int, v uint64, n int) []byte {
		b := bytes.Clone(good)
		switch n {
		case 1:
			b[off] = byte(v)
		case 4:
			binary.BigEndian.PutUint32(b[off:], uint32(v))
		case 8:
			binary.BigEndian.PutUint64(b[off:], v)
		}
		return b
	}
	first := w.d.Epoch(1).Leaf
	lcs := []leafCase{
		{"leaf-fields", "every field distinct", good, ""},
		{"leaf-max", "largest epoch, time and count", dirLeaf(1<<64-1, 1<<63-1, vk, root, vmap.MaxBatch, digest), ""},
		{"leaf-epoch-1-of-the-vectors-log", "the first leaf of the log of the lookup vectors", first, ""},
		{"leaf-short", "116 bytes", good[:116], "malformed"},
		{"leaf-long", "118 bytes", append(bytes.Clone(good), 0), "malformed"},
		{"leaf-empty", "no bytes", []byte{}, "malformed"},
		{"leaf-version-1", "first byte 0x01 (a version 1 entry's)", mut(0, 1, 1), "malformed"},
		{"leaf-epoch-0", "epoch 0 is the empty map and has no leaf", mut(1, 0, 8), "malformed"},
		{"leaf-time-2^63", "time above 2^63-1", mut(9, 1<<63, 8), "malformed"},
		{"leaf-count-above-maxbatch", "count 2^20 + 1", mut(81, vmap.MaxBatch+1, 4), "malformed"},
	}
	for _, c := range lcs {
		lc := &vectors.DirectoryLeafCase{Encoding: c.enc}
		l, err := directory.ParseLeaf(c.enc)
		if err := dirCheck(c.id, err, c.err); err != nil {
			return err
		}
		if err == nil {
			if !bytes.Equal(l.Marshal(), c.enc) {
				return fmt.Errorf("%s: does not re-encode", c.id)
			}
			lc.Epoch, lc.Time, lc.VRFKey, lc.MapRoot, lc.Count, lc.BatchDigest = l.Epoch, l.Time, l.VRFKey[:], l.MapRoot[:], l.Count, l.BatchDigest[:]
		}
		add(vectors.DirectoryCase{ID: c.id, Comment: c.comment, Type: "leaf", Leaf: lc, Error: c.err})
	}
	return nil
}

func dirCommitCases(w *dirWorld, add func(vectors.DirectoryCase)) error {
	vs := w.d.Versions("alice")
	zero := make([]byte, 32)
	for _, c := range []struct {
		id, comment    string
		opening, entry []byte
	}{
		{"commit-alice-1", "alice's first entry with the opening the server drew", vs[0].Opening[:], vs[0].Entry},
		{"commit-alice-3", "alice's third sequenced entry (key-set version 4)", vs[2].Opening[:], vs[2].Entry},
		{"commit-zero-opening-empty-entry", "the hash of the label and 32 zero bytes", zero, []byte{}},
	} {
		want := dirCommit(c.opening, c.entry)
		if got := directory.Commit((*[32]byte)(c.opening), c.entry); !bytes.Equal(got[:], want) {
			return fmt.Errorf("%s: Commit differs from the spec", c.id)
		}
		add(vectors.DirectoryCase{ID: c.id, Comment: c.comment, Type: "commit",
			Commit: &vectors.DirectoryCommitCase{Opening: c.opening, Entry: c.entry, Commitment: want}})
	}
	return nil
}

func dirLookupCases(w *dirWorld, add func(vectors.DirectoryCase)) error {
	bob, err := w.lookupCase("bob", 5, 5, nil)
	if err != nil {
		return err
	}
	older, err := w.lookupCase("alice", 4, 5, nil)
	if err != nil {
		return err
	}
	alice, err := w.lookupCase("alice", 5, 5, nil)
	if err != nil {
		return err
	}
	type lc struct {
		id, comment string
		handle      string
		epoch, size uint64
		change      func(*vectors.DirectoryLookupCase)
		err         string
		present     bool
	}
	for _, c := range []lc{
		{"lookup-present", "alice's latest entry (map version 3, key-set version 4) under the checkpoint of size 5", "alice", 5, 5, nil, "", true},
		{"lookup-present-older-checkpoint", "alice under the checkpoint of size 3: her second entry is the latest there", "alice", 3, 3, nil, "", true},
		{"lookup-absent", "carol was never registered: the map proof proves her index absent", "carol", 5, 5, nil, "", false},
		{"lookup-vrf-proof-truncated", "79-byte VRF proof", "alice", 5, 5, func(c *vectors.DirectoryLookupCase) { c.VRFProof = c.VRFProof[:79] }, "malformed", false},
		{"lookup-vrf-proof-changed", "one bit of c flipped", "alice", 5, 5, func(c *vectors.DirectoryLookupCase) { c.VRFProof[40] ^= 1 }, "proof_invalid", false},
		{"lookup-vrf-proof-of-another-handle", "bob's VRF proof in alice's answer", "alice", 5, 5, func(c *vectors.DirectoryLookupCase) { c.VRFProof = bytes.Clone(bob.VRFProof) }, "proof_invalid", false},
		{"lookup-answer-for-another-handle", "bob's whole answer, asked for alice", "bob", 5, 5, func(c *vectors.DirectoryLookupCase) { c.Handle = "alice" }, "proof_invalid", false},
		{"lookup-older-epoch", "a valid answer from epoch 4 under the checkpoint of size 5: not the latest", "alice", 4, 5, nil, "not_latest", false},
		{"lookup-leaf-of-another-epoch", "the leaf of epoch 4 in an answer for epoch 5", "alice", 5, 5, func(c *vectors.DirectoryLookupCase) { c.Leaf = bytes.Clone(older.Leaf) }, "not_latest", false},
		{"lookup-leaf-truncated", "116-byte leaf", "alice", 5, 5, func(c *vectors.DirectoryLookupCase) { c.Leaf = c.Leaf[:116] }, "malformed", false},
		{"lookup-wrong-vrf-key", "the client pinned another VRF key than the leaf names", "alice", 5, 5, func(c *vectors.DirectoryLookupCase) { c.VRFKey = bytes.Clone(w.otherVRFPublic) }, "wrong_key", false},
		{"lookup-inclusion-changed", "one bit of the first inclusion hash flipped", "alice", 5, 5, func(c *vectors.DirectoryLookupCase) { c.Inclusion[0][0] ^= 1 }, "proof_invalid", false},
		{"lookup-map-proof-for-another-root", "alice's map proof of epoch 4 against the leaf of epoch 5", "alice", 5, 5, func(c *vectors.DirectoryLookupCase) { c.MapProof = bytes.Clone(older.MapProof) }, "proof_invalid", false},
		{"lookup-map-proof-of-another-index", "bob's map proof in alice's answer", "alice", 5, 5, func(c *vectors.DirectoryLookupCase) { c.MapProof = bytes.Clone(bob.MapProof) }, "proof_invalid", false},
		{"lookup-wrong-opening", "one bit of the opening flipped: the commitment does not open", "alice", 5, 5, func(c *vectors.DirectoryLookupCase) { c.Opening[0] ^= 1 }, "proof_invalid", false},
		{"lookup-wrong-entry", "alice's older entry with the latest opening", "alice", 5, 5, func(c *vectors.DirectoryLookupCase) { c.Entry = bytes.Clone(w.aliceV[1]) }, "proof_invalid", false},
		{"lookup-entry-withheld", "the map holds alice's index but the answer gives no entry", "alice", 5, 5, func(c *vectors.DirectoryLookupCase) { c.Entry, c.Opening = nil, nil }, "proof_invalid", false},
		{"lookup-entry-for-an-absent-handle", "an entry and opening in carol's absence answer", "carol", 5, 5, func(c *vectors.DirectoryLookupCase) {
			c.Entry, c.Opening = bytes.Clone(alice.Entry), bytes.Clone(alice.Opening)
		}, "proof_invalid", false},
	} {
		lcase, err := w.lookupCase(c.handle, c.epoch, c.size, c.change)
		if err != nil {
			return err
		}
		present, err := runLookup(lcase)
		if err := dirCheck(c.id, err, c.err); err != nil {
			return err
		}
		if c.err == "" && present != c.present {
			return fmt.Errorf("%s: present %v", c.id, present)
		}
		lcase.Present = c.present
		add(vectors.DirectoryCase{ID: c.id, Comment: c.comment, Type: "lookup", Lookup: lcase, Error: c.err})
	}
	return nil
}

// reprove replaces a history's proofs with the real ones for the epochs
// its (altered) versions name.
func reprove(d *dirtest.Directory, h *directory.History, size uint64) {
	h.Proofs = nil
	for _, e := range directory.HistoryEpochs(h.Versions, size) {
		p, err := d.ProveEpoch(h.Handle, e, size)
		if err != nil {
			panic(err)
		}
		h.Proofs = append(h.Proofs, p)
	}
}

func dirHistoryCases(w *dirWorld, add func(vectors.DirectoryCase)) error {
	for _, c := range []struct {
		id, comment string
		handle      string
		size        uint64
		change      func(*directory.History)
		err         string
		entries     int
	}{
		{"history-alice", "three versions at epochs 1, 2, 4; proofs at epochs 1, 2, 3, 4, 5", "alice", 5, nil, "", 3},
		{"history-bob", "two versions at epochs 2, 4; proofs at 1, 2, 3, 4, 5", "bob", 5, nil, "", 2},
		{"history-absent", "carol: no version, one proof of absence at epoch 5", "carol", 5, nil, "", 0},
		{"history-gap-in-seq", "alice's version 2 left out", "alice", 5, func(h *directory.History) { h.Versions = slices.Delete(h.Versions, 1, 2) }, "history", 0},
		{"history-epochs-decreasing", "version 2 claimed at epoch 1", "alice", 5, func(h *directory.History) { h.Versions[1].Epoch = 1 }, "history", 0},
		{"history-missing-proof", "the proof of epoch 3 left out", "alice", 5, func(h *directory.History) { h.Proofs = slices.Delete(h.Proofs, 2, 3) }, "history", 0},
		{"history-change-hidden", "alice's version 2 claimed at epoch 3 with real proofs: at epoch 2 the index already holds version 2", "alice", 5, func(h *directory.History) {
			h.Versions[1].Epoch = 3
			reprove(w.d, h, 5)
		}, "proof_invalid", 0},
		{"history-present-before-the-first", "bob's version 1 claimed at epoch 3 with real proofs: the index is not absent at epoch 2", "bob", 5, func(h *directory.History) {
			h.Versions[0].Epoch = 3
			reprove(w.d, h, 5)
		}, "proof_invalid", 0},
		{"history-wrong-opening", "one bit of version 2's opening flipped", "alice", 5, func(h *directory.History) { h.Versions[1].Opening[0] ^= 1 }, "proof_invalid", 0},
	} {
		hc, err := w.historyCase(c.handle, c.size, c.change)
		if err != nil {
			return err
		}
		n, err := runHistory(hc)
		if err := dirCheck(c.id, err, c.err); err != nil {
			return err
		}
		if c.err == "" && n != c.entries {
			return fmt.Errorf("%s: %d entries", c.id, n)
		}
		hc.Entries = c.entries
		add(vectors.DirectoryCase{ID: c.id, Comment: c.comment, Type: "history", History: hc, Error: c.err})
	}
	return nil
}

// misbehaving returns a directory whose epoch 3 (of 4) a hook spoils.
func misbehaving(label string, spoil func(d *dirtest.Directory)) (*dirtest.Directory, error) {
	w, err := newDirWorld("audit/" + label)
	if err != nil {
		return nil, err
	}
	a, err := dirtest.NewAccount("alice", testrand.New("vectors/directory/audit/alice"))
	if err != nil {
		return nil, err
	}
	e := func() ([][]byte, error) { b, err := a.AddDevice(); return [][]byte{b}, err }
	none := func() ([][]byte, error) { return nil, nil }
	if err := dirSequence(w.d, 3, e, none); err != nil {
		return nil, err
	}
	spoil(w.d)
	if err := dirSequence(w.d, 3, e); err != nil {
		return nil, err
	}
	w.d.LeafHook, w.d.Publish = nil, nil
	return w.d, dirSequence(w.d, 3, none)
}

func dirAuditCases(w *dirWorld, add func(vectors.DirectoryCase)) error {
	type ac struct {
		id, comment string
		d           *dirtest.Directory
		old, size   uint64
		change      func([]directory.AuditEpoch)
		err         string
	}
	cases := []ac{
		{"audit-from-genesis", "the five epochs of the lookup vectors, from the empty log", w.d, 0, 5, nil, ""},
		{"audit-step", "from the state at epoch 2 to the checkpoint of size 5", w.d, 2, 5, nil, ""},
		{"audit-batch-digest-mismatch", "one bit of epoch 4's batch flipped", w.d, 2, 5, func(es []directory.AuditEpoch) { es[1].Batch[len(es[1].Batch)-1] ^= 1 }, "audit"},
		{"audit-batch-version-lowered", "epoch 4's first entry goes from version 2 to 1", w.d, 2, 5, func(es []directory.AuditEpoch) {
			binary.BigEndian.PutUint64(es[1].Batch[4+32:], 2)
			binary.BigEndian.PutUint64(es[1].Batch[4+40:], 1)
		}, "audit"},
		{"audit-batch-proof-of-another-epoch", "epoch 3's batch proof given for epoch 4", w.d, 2, 5, func(es []directory.AuditEpoch) { es[1].BatchProof = bytes.Clone(es[0].BatchProof) }, "proof_invalid"},
		{"audit-leaves-not-the-checkpoint-root", "epoch 5's leaf with a later time: every epoch checks, the tree root does not", w.d, 2, 5, func(es []directory.AuditEpoch) {
			binary.BigEndian.PutUint64(es[2].Leaf[9:], binary.BigEndian.Uint64(es[2].Leaf[9:])+100)
		}, "proof_invalid"},
		{"audit-epoch-missing", "epoch 4's data given twice, epoch 5's left out", w.d, 2, 5, func(es []directory.AuditEpoch) { es[2] = es[1] }, "audit"},
	}
	for _, m := range []struct {
		id, comment string
		spoil       func(d *dirtest.Directory)
		err         string
	}{
		{"audit-update-touching-an-unclaimed-leaf", "epoch 3 changes an index its public batch does not name", func(d *dirtest.Directory) {
			d.Publish = func(ups []vmap.Update) []vmap.Update { return ups[1:] }
		}, "proof_invalid"},
		{"audit-count-mismatch", "epoch 3's leaf counts one entry more than its batch has", func(d *dirtest.Directory) {
			d.LeafHook = func(l *directory.Leaf) { l.Count++ }
		}, "audit"},
		{"audit-epoch-gap", "the leaf at index 2 says epoch 4", func(d *dirtest.Directory) {
			d.LeafHook = func(l *directory.Leaf) { l.Epoch++ }
		}, "audit"},
		{"audit-time-backwards", "epoch 3's leaf is 10 s older than epoch 2's", func(d *dirtest.Directory) {
			d.LeafHook = func(l *directory.Leaf) { l.Time -= 10 }
		}, "audit"},
		{"audit-vrf-key-change", "epoch 3's leaf names another VRF key", func(d *dirtest.Directory) {
			d.LeafHook = func(l *directory.Leaf) { l.VRFKey = [32]byte(w.otherVRFPublic) }
		}, "wrong_key"},
	} {
		d, err := misbehaving(m.id, m.spoil)
		if err != nil {
			return err
		}
		cases = append(cases, ac{m.id, m.comment, d, 2, 4, nil, m.err})
	}
	// A fork sharing epochs 1–2 with the honest log, shown to an auditor
	// at epoch 3 of the honest one.
	fork, err := newDirWorld("world")
	if err != nil {
		return err
	}
	alice, err := dirtest.NewAccount("alice", testrand.New("vectors/directory/alice"))
	if err != nil {
		return err
	}
	bob, err := dirtest.NewAccount("bob", testrand.New("vectors/directory/bob"))
	if err != nil {
		return err
	}
	if err := dirSequence(fork.d, 6,
		func() ([][]byte, error) { a, err := alice.AddDevice(); return [][]byte{a}, err },
		func() ([][]byte, error) {
			b, err := bob.AddDevice()
			if err != nil {
				return nil, err
			}
			a, err := alice.AddDevice()
			return [][]byte{b, a}, err
		}); err != nil {
		return err
	}
	if !bytes.Equal(fork.d.Epoch(2).Leaf, w.d.Epoch(2).Leaf) {
		return fmt.Errorf("the fork does not share epoch 2")
	}
	for range 3 {
		if _, err := fork.d.Sequence(nil, 2); err != nil {
			return err
		}
	}
	for _, c := range cases {
		ad, err := auditCase(c.d, w.verifierKey, c.old, c.size, c.change)
		if err != nil {
			return err
		}
		if err := addAudit(add, c.id, c.comment, ad, c.err); err != nil {
			return err
		}
	}
	ad, err := auditCase(fork.d, w.verifierKey, 3, 5, nil)
	if err != nil {
		return err
	}
	honest, err := auditCase(w.d, w.verifierKey, 3, 5, nil)
	if err != nil {
		return err
	}
	ad.Old = honest.Old
	return addAudit(add, "audit-fork", "a log that shares epochs 1-2 and then differs, shown to an auditor at epoch 3 of the other", ad, "proof_invalid")
}

func addAudit(add func(vectors.DirectoryCase), id, comment string, ad *vectors.DirectoryAuditCase, want string) error {
	st, err := runAudit(ad)
	if err := dirCheck(id, err, want); err != nil {
		return err
	}
	if err == nil {
		v := auditStateVector(st)
		ad.New = &v
	}
	add(vectors.DirectoryCase{ID: id, Comment: comment, Type: "audit", Audit: ad, Error: want})
	return nil
}

func dirOriginCases(w *dirWorld, add func(vectors.DirectoryCase)) error {
	v2signed, err := w.d.Checkpoint(5)
	if err != nil {
		return err
	}
	// The same tree, signed by the same key under the version 1 origin.
	sameKeyV1, err := kttest.New(dirOriginV1, w.logKey)
	if err != nil {
		return err
	}
	for e := int64(0); e < 5; e++ {
		if _, err := sameKeyV1.Append(w.d.Log.Leaf(e)); err != nil {
			return err
		}
	}
	v1signed, err := sameKeyV1.Checkpoint(5)
	if err != nil {
		return err
	}
	// A version 1 log with its own key and a version 1 entry.
	s, err := dirSeed("vectors/directory/v1-log", ed25519.SeedSize)
	if err != nil {
		return err
	}
	v1key := ed25519.NewKeyFromSeed(s)
	v1log, err := kttest.New(dirOriginV1, v1key)
	if err != nil {
		return err
	}
	if _, err := v1log.Append(w.aliceV[0]); err != nil {
		return err
	}
	v1logSigned, err := v1log.Checkpoint(1)
	if err != nil {
		return err
	}
	v1logKey, err := kt.VerifierKey(dirOriginV1, v1key.Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	v2bare, err := kt.VerifierKey("/sealpost-kt/v2", w.logKey.Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	for _, c := range []struct {
		id, comment string
		o           vectors.DirectoryOrigin
		err         string
	}{
		{"origin-v2-accepted", "the version 2 checkpoint of size 5 with the version 2 verifier", vectors.DirectoryOrigin{Verifier: "v2", VerifierKey: w.verifierKey, Checkpoint: string(v2signed)}, ""},
		{"origin-v1-origin-same-key", "the same tree signed by the same key under the version 1 origin, given to the version 2 verifier", vectors.DirectoryOrigin{Verifier: "v2", VerifierKey: w.verifierKey, Checkpoint: string(v1signed)}, "bad_signature"},
		{"origin-v1-checkpoint", "a version 1 log's checkpoint given to the version 2 verifier", vectors.DirectoryOrigin{Verifier: "v2", VerifierKey: w.verifierKey, Checkpoint: string(v1logSigned)}, "bad_signature"},
		{"origin-v1-verifier-key", "a version 1 verifier key (origin example.org/keyserver) refused by the version 2 verifier", vectors.DirectoryOrigin{Verifier: "v2", VerifierKey: w.verifierKeyV1}, "origin"},
		{"origin-suffix-without-name", "origin /sealpost-kt/v2 alone", vectors.DirectoryOrigin{Verifier: "v2", VerifierKey: v2bare}, "origin"},
		{"origin-v1-accepted", "the version 1 log's checkpoint with its own version 1 verifier (kt.NewVerifier): the control of the case above", vectors.DirectoryOrigin{Verifier: "v1", VerifierKey: v1logKey, Checkpoint: string(v1logSigned)}, ""},
		{"origin-v2-checkpoint-to-v1-verifier", "the version 2 checkpoint given to a version 1 verifier of the same key", vectors.DirectoryOrigin{Verifier: "v1", VerifierKey: w.verifierKeyV1, Checkpoint: string(v2signed)}, "bad_signature"},
	} {
		o := c.o
		if err := dirCheck(c.id, runOrigin(&o), c.err); err != nil {
			return err
		}
		add(vectors.DirectoryCase{ID: c.id, Comment: c.comment, Type: "origin", Origin: &o, Error: c.err})
	}
	return nil
}
