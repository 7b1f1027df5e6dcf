package directory_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"golang.org/x/mod/sumdb/tlog"
)

func (w *world) lookup(t testing.TB, handle string) *directory.Lookup {
	t.Helper()
	return must[*directory.Lookup](t)(w.d.Lookup(handle, w.d.Size(), w.d.Size()))
}

func cloneLookup(l *directory.Lookup) *directory.Lookup {
	c := *l
	c.VRFProof = slices.Clone(l.VRFProof)
	c.Leaf = slices.Clone(l.Leaf)
	c.MapProof = slices.Clone(l.MapProof)
	c.Inclusion = slices.Clone(l.Inclusion)
	c.Entry = slices.Clone(l.Entry)
	c.Opening = slices.Clone(l.Opening)
	return &c
}

func TestLookup(t *testing.T) {
	w := honest(t)
	cp := w.open(t, 5)
	for _, c := range []struct {
		handle string
		want   []byte
	}{{"alice", w.aliceV[2]}, {"bob", w.bobV[1]}, {"carol", nil}} {
		e, err := directory.VerifyLookup(cp, w.vrfPub(), w.lookup(t, c.handle))
		if err != nil {
			t.Fatalf("%s: %v", c.handle, err)
		}
		switch {
		case c.want == nil && e != nil:
			t.Fatalf("%s: entry for an absent handle", c.handle)
		case c.want != nil && (e == nil || !bytes.Equal(e.Marshal(), c.want)):
			t.Fatalf("%s: not the latest entry", c.handle)
		}
	}
	// Under an older checkpoint, the latest is the older value.
	cp3 := w.open(t, 3)
	l := must[*directory.Lookup](t)(w.d.Lookup("alice", 3, 3))
	e, err := directory.VerifyLookup(cp3, w.vrfPub(), l)
	if err != nil || !bytes.Equal(e.Marshal(), w.aliceV[1]) {
		t.Fatalf("alice at 3: %v", err)
	}
}

func TestLookupRefusals(t *testing.T) {
	w := honest(t)
	cp := w.open(t, 5)
	otherKey := vrfKey(t, "directory/other-vrf").Public()
	alice := w.lookup(t, "alice")
	bob := w.lookup(t, "bob")
	carol := w.lookup(t, "carol")
	older := must[*directory.Lookup](t)(w.d.Lookup("alice", 4, 5))
	cases := []struct {
		name   string
		base   *directory.Lookup
		key    *vrf.PublicKey
		cp     *kt.Checkpoint
		change func(l *directory.Lookup)
		want   error
	}{
		{"vrf-proof-truncated", alice, nil, nil, func(l *directory.Lookup) { l.VRFProof = l.VRFProof[:79] }, directory.ErrMalformed},
		{"vrf-proof-s-too-large", alice, nil, nil, func(l *directory.Lookup) { l.VRFProof[79] = 0xff }, directory.ErrMalformed},
		{"vrf-proof-wrong-c", alice, nil, nil, func(l *directory.Lookup) { l.VRFProof[40] ^= 1 }, directory.ErrProofInvalid},
		{"vrf-proof-of-another-handle", alice, nil, nil, func(l *directory.Lookup) { l.VRFProof = slices.Clone(bob.VRFProof) }, directory.ErrProofInvalid},
		{"answer-for-another-handle", bob, nil, nil, func(l *directory.Lookup) { l.Handle = "alice" }, directory.ErrProofInvalid},
		{"invalid-handle", alice, nil, nil, func(l *directory.Lookup) { l.Handle = "A" }, directory.ErrMalformed},
		{"leaf-of-another-epoch", alice, nil, nil, func(l *directory.Lookup) { l.Leaf = older.Leaf }, directory.ErrNotLatest},
		{"answer-of-an-older-epoch", older, nil, nil, func(*directory.Lookup) {}, directory.ErrNotLatest},
		{"epoch-field-not-the-leaf", alice, nil, nil, func(l *directory.Lookup) { l.Epoch = 4 }, directory.ErrNotLatest},
		{"leaf-truncated", alice, nil, nil, func(l *directory.Lookup) { l.Leaf = l.Leaf[:directory.LeafSize-1] }, directory.ErrMalformed},
		{"leaf-changed", alice, nil, nil, func(l *directory.Lookup) { l.Leaf[100] ^= 1 }, directory.ErrProofInvalid},
		{"wrong-vrf-key-pinned", alice, otherKey, nil, func(*directory.Lookup) {}, directory.ErrWrongKey},
		{"map-proof-for-another-root", alice, nil, nil, func(l *directory.Lookup) { l.MapProof = slices.Clone(older.MapProof) }, directory.ErrProofInvalid},
		{"map-proof-of-another-index", alice, nil, nil, func(l *directory.Lookup) { l.MapProof = slices.Clone(bob.MapProof) }, directory.ErrProofInvalid},
		{"map-proof-truncated", alice, nil, nil, func(l *directory.Lookup) { l.MapProof = l.MapProof[:len(l.MapProof)-1] }, directory.ErrMalformed},
		{"wrong-opening", alice, nil, nil, func(l *directory.Lookup) { l.Opening[0] ^= 1 }, directory.ErrProofInvalid},
		{"opening-too-short", alice, nil, nil, func(l *directory.Lookup) { l.Opening = l.Opening[:31] }, directory.ErrMalformed},
		{"wrong-entry-older-version", alice, nil, nil, func(l *directory.Lookup) { l.Entry = slices.Clone(w.aliceV[1]) }, directory.ErrProofInvalid},
		{"entry-withheld", alice, nil, nil, func(l *directory.Lookup) { l.Entry, l.Opening = nil, nil }, directory.ErrProofInvalid},
		{"entry-for-an-absent-handle", carol, nil, nil, func(l *directory.Lookup) { l.Entry, l.Opening = slices.Clone(alice.Entry), slices.Clone(alice.Opening) }, directory.ErrProofInvalid},
		{"inclusion-hash-changed", alice, nil, nil, func(l *directory.Lookup) { l.Inclusion[0][0] ^= 1 }, directory.ErrProofInvalid},
		{"inclusion-missing", alice, nil, nil, func(l *directory.Lookup) { l.Inclusion = nil }, directory.ErrProofInvalid},
		{"inclusion-extra-hash", alice, nil, nil, func(l *directory.Lookup) { l.Inclusion = append(l.Inclusion, tlog.Hash{}) }, directory.ErrProofInvalid},
		{"checkpoint-of-another-size", alice, nil, w.open(t, 4), func(*directory.Lookup) {}, directory.ErrNotLatest},
		{"checkpoint-of-another-log", alice, nil, &kt.Checkpoint{Origin: "example.org/keyserver", Size: cp.Size, Root: cp.Root}, func(*directory.Lookup) {}, directory.ErrOrigin},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := cloneLookup(c.base)
			c.change(l)
			before := cloneLookup(l)
			key, ccp := c.key, c.cp
			if key == nil {
				key = w.vrfPub()
			}
			if ccp == nil {
				ccp = cp
			}
			e, err := directory.VerifyLookup(ccp, key, l)
			refused(t, err, c.want)
			if e != nil {
				t.Fatal("refusal returned an entry")
			}
			unchanged(t, before, l)
		})
	}
}

// A key server that commits another handle's entry, or an entry whose
// signatures do not verify, at a handle's index is caught after the
// commitment opens.
func TestLookupCommittedEntryRefused(t *testing.T) {
	d := newDirectory(t, "bad-entry")
	alice, bob := newAccount(t, "alice"), newAccount(t, "bob")
	bobEntry := must[[]byte](t)(bob.AddDevice())
	aliceEntry := must[[]byte](t)(alice.AddDevice())
	forged := slices.Clone(aliceEntry)
	forged[len(forged)-2] ^= 1 // inside the certificate's signature
	if _, err := kt.ParseEntry(forged); err != nil {
		t.Fatalf("forged entry should parse: %v", err)
	}
	must[uint64](t)(d.SequenceFor([]string{"alice", "carol"}, [][]byte{bobEntry, forged}, 3))
	cp := must[*kt.Checkpoint](t)(d.Open(1))
	for _, h := range []string{"alice", "carol"} {
		l := must[*directory.Lookup](t)(d.Lookup(h, 1, 1))
		before := cloneLookup(l)
		e, err := directory.VerifyLookup(cp, d.VRF.Public(), l)
		refused(t, err, directory.ErrProofInvalid)
		if e != nil {
			t.Fatal("refusal returned an entry")
		}
		unchanged(t, before, l)
	}
}

// A leaf that names another VRF key than the pinned one, though signed
// into the log, is refused.
func TestLookupLeafWithAnotherVRFKey(t *testing.T) {
	d := newDirectory(t, "other-key-leaf")
	other := vrfKey(t, "directory/other-vrf").Public()
	d.LeafHook = func(l *directory.Leaf) { l.VRFKey = [32]byte(other.Bytes()) }
	a := newAccount(t, "alice")
	sequence(t, d, 2, must[[]byte](t)(a.AddDevice()))
	cp := must[*kt.Checkpoint](t)(d.Open(1))
	l := must[*directory.Lookup](t)(d.Lookup("alice", 1, 1))
	_, err := directory.VerifyLookup(cp, d.VRF.Public(), l)
	refused(t, err, directory.ErrWrongKey)
}

func TestLookupNilInputs(t *testing.T) {
	w := honest(t)
	cp := w.open(t, 5)
	l := w.lookup(t, "alice")
	refused(t, func() error { _, err := directory.VerifyLookup(nil, w.vrfPub(), l); return err }(), directory.ErrMalformed)
	refused(t, func() error { _, err := directory.VerifyLookup(cp, nil, l); return err }(), directory.ErrMalformed)
	refused(t, func() error { _, err := directory.VerifyLookup(cp, w.vrfPub(), nil); return err }(), directory.ErrMalformed)
}

// The commitment is SHA-256 of the label, the opening and the entry.
func TestCommit(t *testing.T) {
	var opening [32]byte
	for i := range opening {
		opening[i] = byte(i)
	}
	got := directory.Commit(&opening, []byte("entry"))
	want := vmap.Hash(sha256Sum(append(append([]byte("sealpost/v2/kt-commit"), opening[:]...), "entry"...)))
	if got != want {
		t.Fatalf("Commit = %x, want %x", got, want)
	}
}
