package directory_test

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/directory/dirtest"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"golang.org/x/mod/sumdb/tlog"
)

func genesis(t testing.TB, d *dirtest.Directory) *directory.AuditState {
	t.Helper()
	return must[*directory.AuditState](t)(directory.NewAuditState(d.VRF.Public()))
}

// audit runs an Auditor over d from size old to size.
func audit(t testing.TB, a *directory.Auditor, d *dirtest.Directory, old, size uint64) error {
	t.Helper()
	es, proof, err := d.Audit(old, size)
	if err != nil {
		t.Fatal(err)
	}
	return a.Advance(must[*kt.Checkpoint](t)(d.Open(size)), proof, es)
}

func TestAudit(t *testing.T) {
	w := honest(t)
	cp := w.open(t, 5)
	// All at once, and in steps of every size.
	one := must[*directory.Auditor](t)(directory.NewAuditor(genesis(t, w.d)))
	if err := audit(t, one, w.d, 0, 5); err != nil {
		t.Fatal(err)
	}
	st := one.State()
	root := must[vmap.Root](t)(w.d.Map.Latest(t.Context()))
	if st.Size != 5 || st.TreeRoot != cp.Root || st.MapRoot != root.Hash() || st.VRFKey != [32]byte(w.vrfPub().Bytes()) {
		t.Fatalf("state after 5 epochs: %+v", st)
	}
	leaf := must[*directory.Leaf](t)(directory.ParseLeaf(w.d.Epoch(5).Leaf))
	if st.Time != leaf.Time {
		t.Fatalf("state time %d, want %d", st.Time, leaf.Time)
	}
	steps := must[*directory.Auditor](t)(directory.NewAuditor(genesis(t, w.d)))
	for _, s := range [][2]uint64{{0, 1}, {1, 1}, {1, 3}, {3, 4}, {4, 5}, {5, 5}} {
		if err := audit(t, steps, w.d, s[0], s[1]); err != nil {
			t.Fatalf("%d to %d: %v", s[0], s[1], err)
		}
		// A state kept and restored goes on the same way.
		steps = must[*directory.Auditor](t)(directory.NewAuditor(steps.State()))
	}
	unchanged(t, st, steps.State())
}

// tampered is an audit that a test makes wrong.
type tampered struct {
	name string
	// setup, if set, makes a directory that misbehaves in epoch 3.
	setup func(d *dirtest.Directory)
	// change, if set, alters what the auditor is given for epochs 3–5.
	change func(es []directory.AuditEpoch, proof *tlog.TreeProof, cp **kt.Checkpoint)
	want   error
}

func TestAuditRefusals(t *testing.T) {
	w := honest(t)
	other := vrfKey(t, "directory/other-vrf").Public()
	cases := []tampered{
		{name: "batch-digest-mismatch", change: func(es []directory.AuditEpoch, _ *tlog.TreeProof, _ **kt.Checkpoint) {
			es[1].Batch[len(es[1].Batch)-1] ^= 1
		}, want: directory.ErrAudit},
		{name: "batch-count-mismatch", setup: func(d *dirtest.Directory) {
			d.LeafHook = func(l *directory.Leaf) { l.Count++ }
		}, want: directory.ErrAudit},
		{name: "batch-malformed", change: func(es []directory.AuditEpoch, _ *tlog.TreeProof, _ **kt.Checkpoint) {
			es[0].Batch = es[0].Batch[:len(es[0].Batch)-1]
		}, want: directory.ErrMalformed},
		{name: "batch-version-lowered", change: func(es []directory.AuditEpoch, _ *tlog.TreeProof, _ **kt.Checkpoint) {
			b := es[1].Batch
			binary.BigEndian.PutUint64(b[4+32:], 2) // old version 2 …
			binary.BigEndian.PutUint64(b[4+40:], 1) // … new version 1
		}, want: directory.ErrAudit},
		{name: "update-touching-an-unclaimed-leaf", setup: func(d *dirtest.Directory) {
			d.Publish = func(ups []vmap.Update) []vmap.Update { return ups[1:] }
		}, want: directory.ErrProofInvalid},
		{name: "update-claimed-but-not-made", setup: func(d *dirtest.Directory) {
			d.Publish = func(ups []vmap.Update) []vmap.Update {
				extra := vmap.Update{Value: vmap.Value{Version: 1}}
				extra.Index[0] = 0x42
				return append(ups, extra)
			}
		}, want: directory.ErrProofInvalid},
		{name: "batch-proof-of-another-epoch", change: func(es []directory.AuditEpoch, _ *tlog.TreeProof, _ **kt.Checkpoint) {
			es[1].BatchProof = slices.Clone(es[0].BatchProof)
		}, want: directory.ErrProofInvalid},
		{name: "batch-proof-malformed", change: func(es []directory.AuditEpoch, _ *tlog.TreeProof, _ **kt.Checkpoint) {
			es[1].BatchProof = []byte{0x07}
		}, want: directory.ErrMalformed},
		{name: "epoch-numbering-gap", setup: func(d *dirtest.Directory) {
			d.LeafHook = func(l *directory.Leaf) { l.Epoch++ }
		}, want: directory.ErrAudit},
		{name: "epochs-out-of-order", change: func(es []directory.AuditEpoch, _ *tlog.TreeProof, _ **kt.Checkpoint) {
			es[0], es[1] = es[1], es[0]
		}, want: directory.ErrAudit},
		{name: "time-going-backwards", setup: func(d *dirtest.Directory) {
			d.LeafHook = func(l *directory.Leaf) { l.Time -= 10 }
		}, want: directory.ErrAudit},
		{name: "vrf-key-change", setup: func(d *dirtest.Directory) {
			d.LeafHook = func(l *directory.Leaf) { l.VRFKey = [32]byte(other.Bytes()) }
		}, want: directory.ErrWrongKey},
		{name: "leaf-malformed", change: func(es []directory.AuditEpoch, _ *tlog.TreeProof, _ **kt.Checkpoint) {
			es[2].Leaf = es[2].Leaf[1:]
		}, want: directory.ErrMalformed},
		{name: "leaves-not-the-checkpoint-root", change: func(es []directory.AuditEpoch, _ *tlog.TreeProof, _ **kt.Checkpoint) {
			binary.BigEndian.PutUint64(es[2].Leaf[9:], binary.BigEndian.Uint64(es[2].Leaf[9:])+100) // a later time
		}, want: directory.ErrProofInvalid},
		{name: "a-leaf-missing", change: func(es []directory.AuditEpoch, _ *tlog.TreeProof, _ **kt.Checkpoint) {
			es[2] = es[1]
		}, want: directory.ErrAudit},
		{name: "consistency-proof-changed", change: func(_ []directory.AuditEpoch, p *tlog.TreeProof, _ **kt.Checkpoint) {
			(*p)[0][0] ^= 1
		}, want: directory.ErrProofInvalid},
		{name: "checkpoint-of-another-log", change: func(_ []directory.AuditEpoch, _ *tlog.TreeProof, cp **kt.Checkpoint) {
			c := **cp
			c.Origin = "example.org/keyserver"
			*cp = &c
		}, want: directory.ErrOrigin},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := w.d
			if c.setup != nil {
				// Epochs 1–2 honest, 3 misbehaving, 4–5 honest.
				d = newDirectory(t, "audit/"+c.name)
				a := newAccount(t, "alice")
				sequence(t, d, 5, must[[]byte](t)(a.AddDevice()))
				sequence(t, d, 5)
				c.setup(d)
				sequence(t, d, 5, must[[]byte](t)(a.AddDevice()))
				d.LeafHook, d.Publish = nil, nil
				sequence(t, d, 5)
				sequence(t, d, 5)
			}
			aud := must[*directory.Auditor](t)(directory.NewAuditor(genesis(t, d)))
			if err := audit(t, aud, d, 0, 2); err != nil {
				t.Fatal(err)
			}
			before := aud.State()
			es, proof := must2(t)(d.Audit(2, 5))
			cp := must[*kt.Checkpoint](t)(d.Open(5))
			if c.change != nil {
				c.change(es, &proof, &cp)
			}
			refused(t, aud.Advance(cp, proof, es), c.want)
			unchanged(t, before, aud.State())
			// The pure function leaves its input alone too.
			st := aud.State()
			if _, err := directory.Audit(st, cp, proof, es); err == nil {
				t.Fatal("Audit accepted what Advance refused")
			}
			unchanged(t, before, st)
		})
	}
}

func must2(t testing.TB) func([]directory.AuditEpoch, tlog.TreeProof, error) ([]directory.AuditEpoch, tlog.TreeProof) {
	return func(es []directory.AuditEpoch, p tlog.TreeProof, err error) ([]directory.AuditEpoch, tlog.TreeProof) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return es, p
	}
}

func TestAuditorStateRefusals(t *testing.T) {
	w := honest(t)
	aud := must[*directory.Auditor](t)(directory.NewAuditor(genesis(t, w.d)))
	if err := audit(t, aud, w.d, 0, 3); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(st *directory.AuditState){
		"edge-too-short":    func(st *directory.AuditState) { st.Edge = st.Edge[:1] },
		"edge-hash-wrong":   func(st *directory.AuditState) { st.Edge[0][0] ^= 1 },
		"tree-root-wrong":   func(st *directory.AuditState) { st.TreeRoot[0] ^= 1 },
		"size-wrong":        func(st *directory.AuditState) { st.Size = 4 },
		"vrf-key-not-a-key": func(st *directory.AuditState) { st.VRFKey = [32]byte{} },
	} {
		t.Run(name, func(t *testing.T) {
			st := aud.State()
			change(st)
			_, err := directory.NewAuditor(st)
			refused(t, err, directory.ErrMalformed)
			es, proof := must2(t)(w.d.Audit(3, 5))
			_, err = directory.Audit(st, w.open(t, 5), proof, es)
			refused(t, err, directory.ErrMalformed)
		})
	}
	if _, err := directory.NewAuditState(nil); err == nil {
		t.Fatal("NewAuditState(nil) accepted")
	}
}

// An auditor that has seen the honest log up to epoch 3 refuses a fork
// that shares epochs 1–2, whatever the fork shows: its own leaves and
// consistency proof, or the honest leaves under the fork's checkpoint.
func TestAuditFork(t *testing.T) {
	w := honest(t)
	// A fork: same keys and first two epochs, then other epochs.
	fork := newDirectory(t, "world")
	alice, bob := newAccount(t, "alice"), newAccount(t, "bob")
	sequence(t, fork, 20, must[[]byte](t)(alice.AddDevice()))
	sequence(t, fork, 30, must[[]byte](t)(bob.AddDevice()), must[[]byte](t)(alice.AddDevice()))
	if fork.Log.Leaf(1) == nil || string(fork.Log.Leaf(1)) != string(w.d.Log.Leaf(1)) {
		t.Fatal("the fork does not share the first two epochs")
	}
	for range 4 {
		sequence(t, fork, 3)
	}
	forkCP := must[*kt.Checkpoint](t)(fork.Open(6))
	forkProof := must[tlog.TreeProof](t)(fork.Log.ProveConsistency(3, 6))
	forkEpochs, _ := must2(t)(fork.Audit(3, 6))

	aud := must[*directory.Auditor](t)(directory.NewAuditor(genesis(t, w.d)))
	if err := audit(t, aud, w.d, 0, 3); err != nil {
		t.Fatal(err)
	}
	before := aud.State()
	refused(t, aud.Advance(forkCP, forkProof, forkEpochs), directory.ErrProofInvalid)
	unchanged(t, before, aud.State())
	honestEpochs, honestProof := must2(t)(w.d.Audit(3, 5))
	honestEpochs = append(honestEpochs, forkEpochs[2])
	refused(t, aud.Advance(forkCP, honestProof, honestEpochs), directory.ErrProofInvalid)
	unchanged(t, before, aud.State())
	// The fork is a valid log on its own: an auditor that saw only
	// epochs 1–2 accepts it.
	other := must[*directory.Auditor](t)(directory.NewAuditor(genesis(t, w.d)))
	if err := audit(t, other, w.d, 0, 2); err != nil {
		t.Fatal(err)
	}
	es, p := must2(t)(fork.Audit(2, 6))
	if err := other.Advance(forkCP, p, es); err != nil {
		t.Fatal(err)
	}
}
