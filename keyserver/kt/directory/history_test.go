package directory_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/directory/dirtest"
	"golang.org/x/mod/sumdb/tlog"
)

func (w *world) history(t testing.TB, handle string, size uint64) *directory.History {
	t.Helper()
	return must[*directory.History](t)(w.d.History(handle, size))
}

func cloneHistory(h *directory.History) *directory.History {
	c := *h
	c.VRFProof = slices.Clone(h.VRFProof)
	c.Versions = nil
	for _, v := range h.Versions {
		v.Entry, v.Opening = slices.Clone(v.Entry), slices.Clone(v.Opening)
		c.Versions = append(c.Versions, v)
	}
	c.Proofs = nil
	for _, p := range h.Proofs {
		p.Leaf, p.MapProof, p.Inclusion = slices.Clone(p.Leaf), slices.Clone(p.MapProof), slices.Clone(p.Inclusion)
		c.Proofs = append(c.Proofs, p)
	}
	return &c
}

func TestHistoryEpochs(t *testing.T) {
	vs := []directory.HistoryVersion{{Version: 1, Epoch: 1}, {Version: 2, Epoch: 2}, {Version: 3, Epoch: 7}}
	if got, want := directory.HistoryEpochs(vs, 9), []uint64{1, 2, 6, 7, 9}; !slices.Equal(got, want) {
		t.Fatalf("HistoryEpochs = %v, want %v", got, want)
	}
	if got, want := directory.HistoryEpochs(vs[:2], 2), []uint64{1, 2}; !slices.Equal(got, want) {
		t.Fatalf("HistoryEpochs = %v, want %v", got, want)
	}
	if got := directory.HistoryEpochs(nil, 0); len(got) != 0 {
		t.Fatalf("HistoryEpochs(nil, 0) = %v", got)
	}
}

func TestHistory(t *testing.T) {
	w := honest(t)
	for _, c := range []struct {
		handle string
		size   uint64
		want   [][]byte
	}{
		{"alice", 5, w.aliceV}, {"bob", 5, w.bobV}, {"carol", 5, nil},
		{"alice", 3, w.aliceV[:2]}, {"alice", 1, w.aliceV[:1]}, {"bob", 1, nil},
	} {
		es, err := directory.VerifyHistory(w.open(t, c.size), w.vrfPub(), w.history(t, c.handle, c.size))
		if err != nil {
			t.Fatalf("%s at %d: %v", c.handle, c.size, err)
		}
		if len(es) != len(c.want) {
			t.Fatalf("%s at %d: %d entries, want %d", c.handle, c.size, len(es), len(c.want))
		}
		for i := range es {
			if !bytes.Equal(es[i].Marshal(), c.want[i]) {
				t.Fatalf("%s at %d: entry %d differs", c.handle, c.size, i)
			}
		}
	}
}

// reproved replaces the proofs of h with the real ones for the epochs its
// (possibly altered) versions name: the key server tells a consistent lie
// about when versions were sequenced, backed by real proofs.
func reproved(t *testing.T, d *dirtest.Directory, h *directory.History, size uint64) {
	t.Helper()
	h.Proofs = nil
	for _, e := range directory.HistoryEpochs(h.Versions, size) {
		h.Proofs = append(h.Proofs, must[directory.EpochProof](t)(d.ProveEpoch(h.Handle, e, size)))
	}
}

func TestHistoryRefusals(t *testing.T) {
	w := honest(t)
	cp := w.open(t, 5)
	alice := w.history(t, "alice", 5)
	bob := w.history(t, "bob", 5)
	cases := []struct {
		name   string
		base   *directory.History
		change func(h *directory.History)
		want   error
	}{
		{"gap-in-seq", alice, func(h *directory.History) { h.Versions = slices.Delete(h.Versions, 1, 2) }, directory.ErrHistory},
		{"seq-renumbered-over-a-gap", alice, func(h *directory.History) {
			h.Versions = slices.Delete(h.Versions, 1, 2)
			h.Versions[1].Version = 2
			reproved(t, w.d, h, 5)
		}, directory.ErrProofInvalid},
		{"seq-not-from-1", alice, func(h *directory.History) { h.Versions = h.Versions[1:] }, directory.ErrHistory},
		{"versions-swapped", alice, func(h *directory.History) {
			h.Versions[0], h.Versions[1] = h.Versions[1], h.Versions[0]
			h.Versions[0].Version, h.Versions[1].Version = 1, 2
		}, directory.ErrHistory},
		{"epochs-decreasing", alice, func(h *directory.History) { h.Versions[1].Epoch = 1 }, directory.ErrHistory},
		{"epoch-beyond-checkpoint", alice, func(h *directory.History) { h.Versions[2].Epoch = 6 }, directory.ErrHistory},
		{"epoch-zero", alice, func(h *directory.History) { h.Versions[0].Epoch = 0 }, directory.ErrHistory},
		{"missing-proof-epoch", alice, func(h *directory.History) { h.Proofs = slices.Delete(h.Proofs, 2, 3) }, directory.ErrHistory},
		{"missing-checkpoint-epoch", alice, func(h *directory.History) { h.Proofs = h.Proofs[:len(h.Proofs)-1] }, directory.ErrHistory},
		{"extra-proof", alice, func(h *directory.History) { h.Proofs = append(h.Proofs, h.Proofs[len(h.Proofs)-1]) }, directory.ErrHistory},
		{"proof-epoch-mislabelled", alice, func(h *directory.History) { h.Proofs[1].Leaf = h.Proofs[0].Leaf }, directory.ErrProofInvalid},
		// Versions claimed later than they were sequenced: at the epoch
		// before the claimed one, the index already holds the version.
		{"change-hidden-by-a-later-epoch", alice, func(h *directory.History) {
			h.Versions[1].Epoch = 3
			reproved(t, w.d, h, 5)
		}, directory.ErrProofInvalid},
		{"absent-before-the-first", bob, func(h *directory.History) {
			h.Versions[0].Epoch = 3
			reproved(t, w.d, h, 5)
		}, directory.ErrProofInvalid},
		{"wrong-opening", alice, func(h *directory.History) { h.Versions[1].Opening[5] ^= 1 }, directory.ErrProofInvalid},
		{"opening-too-short", alice, func(h *directory.History) { h.Versions[1].Opening = h.Versions[1].Opening[:31] }, directory.ErrMalformed},
		{"wrong-entry", alice, func(h *directory.History) { h.Versions[0].Entry = slices.Clone(w.aliceV[1]) }, directory.ErrProofInvalid},
		{"map-proof-for-another-root", alice, func(h *directory.History) { h.Proofs[0].MapProof = slices.Clone(h.Proofs[1].MapProof) }, directory.ErrProofInvalid},
		{"inclusion-changed", alice, func(h *directory.History) { h.Proofs[2].Inclusion[0][3] ^= 1 }, directory.ErrProofInvalid},
		{"inclusion-missing", alice, func(h *directory.History) { h.Proofs[2].Inclusion = []tlog.Hash{} }, directory.ErrProofInvalid},
		{"vrf-proof-of-another-handle", alice, func(h *directory.History) { h.VRFProof = slices.Clone(bob.VRFProof) }, directory.ErrProofInvalid},
		{"vrf-proof-malformed", alice, func(h *directory.History) { h.VRFProof = nil }, directory.ErrMalformed},
		{"history-of-another-handle", bob, func(h *directory.History) { h.Handle = "alice" }, directory.ErrProofInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := cloneHistory(c.base)
			c.change(h)
			before := cloneHistory(h)
			es, err := directory.VerifyHistory(cp, w.vrfPub(), h)
			refused(t, err, c.want)
			if es != nil {
				t.Fatal("refusal returned entries")
			}
			unchanged(t, before, h)
		})
	}
	t.Run("wrong-vrf-key", func(t *testing.T) {
		_, err := directory.VerifyHistory(cp, vrfKey(t, "directory/other-vrf").Public(), cloneHistory(alice))
		refused(t, err, directory.ErrWrongKey)
	})
	t.Run("v1-checkpoint", func(t *testing.T) {
		_, err := directory.VerifyHistory(&kt.Checkpoint{Origin: "example.org/keyserver", Size: 5, Root: cp.Root}, w.vrfPub(), cloneHistory(alice))
		refused(t, err, directory.ErrOrigin)
	})
}

// Entries whose sequence no account key could have made are refused even
// though every proof holds: the key server committed them.
func TestHistoryEntrySuccession(t *testing.T) {
	cases := []struct {
		name  string
		build func(t *testing.T, a *dirtest.Account) [][]byte
		want  error
	}{
		{"same-entry-twice", func(t *testing.T, a *dirtest.Account) [][]byte {
			e := must[[]byte](t)(a.AddDevice())
			return [][]byte{e, e}
		}, directory.ErrHistory},
		{"version-skips-a-change", func(t *testing.T, a *dirtest.Account) [][]byte {
			e1 := must[[]byte](t)(a.AddDevice())
			a.Entry.Version++ // one change, counted twice
			return [][]byte{e1, must[[]byte](t)(a.AddDevice())}
		}, directory.ErrHistory},
		{"key-set-version-decreasing", func(t *testing.T, a *dirtest.Account) [][]byte {
			e1 := must[[]byte](t)(a.AddDevice())
			e2 := must[[]byte](t)(a.AddDevice())
			return [][]byte{e2, e1}
		}, directory.ErrHistory},
		{"first-entry-not-a-registration", func(t *testing.T, a *dirtest.Account) [][]byte {
			a.Entry.Version = 4
			return [][]byte{must[[]byte](t)(a.AddDevice())}
		}, directory.ErrHistory},
		{"device-dropped", func(t *testing.T, a *dirtest.Account) [][]byte {
			e1 := must[[]byte](t)(a.AddDevice())
			must[[]byte](t)(a.AddDevice())
			a.Entry.Devices = a.Entry.Devices[1:]
			a.Entry.Version++
			return [][]byte{e1, must[[]byte](t)(a.AddDevice())}
		}, directory.ErrHistory},
		{"three-changes-in-one-epoch", func(t *testing.T, a *dirtest.Account) [][]byte {
			e1 := must[[]byte](t)(a.AddDevice())
			must[[]byte](t)(a.AddDevice())
			must[[]byte](t)(a.Revoke(0))
			return [][]byte{e1, must[[]byte](t)(a.AddDevice())}
		}, nil},
		{"registered-with-two-devices", func(t *testing.T, a *dirtest.Account) [][]byte {
			must[[]byte](t)(a.AddDevice())
			return [][]byte{must[[]byte](t)(a.AddDevice())}
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDirectory(t, "succession/"+c.name)
			a := newAccount(t, "dave")
			for _, e := range c.build(t, a) {
				sequence(t, d, 2, e)
			}
			h := must[*directory.History](t)(d.History("dave", d.Size()))
			cp := must[*kt.Checkpoint](t)(d.Open(d.Size()))
			_, err := directory.VerifyHistory(cp, d.VRF.Public(), h)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			refused(t, err, c.want)
		})
	}
}
