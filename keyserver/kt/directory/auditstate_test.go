package directory_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// TestAuditStateEncoding: a state kept and read back goes on as the
// original; every malformed encoding is refused with ErrMalformed.
func TestAuditStateEncoding(t *testing.T) {
	w := honest(t)
	for _, size := range []uint64{0, 1, 3, 5} {
		a := must[*directory.Auditor](t)(directory.NewAuditor(genesis(t, w.d)))
		if size > 0 {
			if err := audit(t, a, w.d, 0, size); err != nil {
				t.Fatal(err)
			}
		}
		st := a.State()
		b := st.Marshal()
		if len(b) != 114+32*len(st.Edge) {
			t.Fatalf("size %d: %d bytes", size, len(b))
		}
		back, err := directory.ParseAuditState(b)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		unchanged(t, st, back)
		if !bytes.Equal(back.Marshal(), b) {
			t.Fatalf("size %d: encoding not canonical", size)
		}
	}
	a := must[*directory.Auditor](t)(directory.NewAuditor(genesis(t, w.d)))
	if err := audit(t, a, w.d, 0, 3); err != nil {
		t.Fatal(err)
	}
	good := a.State().Marshal()
	for name, edit := range map[string]func([]byte) []byte{
		"empty":             func([]byte) []byte { return nil },
		"version":           func(b []byte) []byte { b[0] = 2; return b },
		"truncated":         func(b []byte) []byte { return b[:len(b)-1] },
		"trailing":          func(b []byte) []byte { return append(b, 0) },
		"edge count":        func(b []byte) []byte { b[113]++; return b },
		"size":              func(b []byte) []byte { b[8] = 4; return b },
		"tree root":         func(b []byte) []byte { b[9] ^= 1; return b },
		"edge hash":         func(b []byte) []byte { b[114] ^= 1; return b },
		"VRF key not a key": func(b []byte) []byte { copy(b[81:113], make([]byte, 32)); return b },
	} {
		if _, err := directory.ParseAuditState(edit(bytes.Clone(good))); !errors.Is(err, directory.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// TestAuditInPages: Check takes epochs without a checkpoint and Advance
// ties them to the checkpoint at the end; a tampered page is refused by
// Check or, if only the final root can show it, by Advance, and the state
// does not move on a refusal.
func TestAuditInPages(t *testing.T) {
	w := honest(t)
	a := must[*directory.Auditor](t)(directory.NewAuditor(genesis(t, w.d)))
	es, _, err := w.d.Audit(0, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(es[:2]); err != nil {
		t.Fatal(err)
	}
	if err := a.Check(es[2:4]); err != nil {
		t.Fatal(err)
	}
	_, proof, err := w.d.Audit(4, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Advance(must[*kt.Checkpoint](t)(w.d.Open(5)), proof, es[4:]); err != nil {
		t.Fatal(err)
	}
	whole := must[*directory.Auditor](t)(directory.NewAuditor(genesis(t, w.d)))
	if err := audit(t, whole, w.d, 0, 5); err != nil {
		t.Fatal(err)
	}
	unchanged(t, whole.State(), a.State())

	// A page with a batch byte flipped: refused by Check, state kept.
	b := must[*directory.Auditor](t)(directory.NewAuditor(genesis(t, w.d)))
	es, _, _ = w.d.Audit(0, 5)
	es[1].Batch[len(es[1].Batch)-1] ^= 1
	before := b.State()
	if err := b.Check(es[:2]); !errors.Is(err, directory.ErrAudit) {
		t.Fatalf("tampered page: %v", err)
	}
	unchanged(t, before, b.State())
}
