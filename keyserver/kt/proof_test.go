package kt_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/kttest"
	"golang.org/x/mod/sumdb/tlog"
)

const testLogSize = 13

func TestInclusionProofsVerify(t *testing.T) {
	l, k := buildLog(t, "inc", testLogSize)
	v := newVerifier(t, testOrigin, k)
	for size := int64(1); size <= l.Size(); size++ {
		cp := mustOpen(t, v, l, size)
		for i := int64(0); i < size; i++ {
			p, err := l.ProveInclusion(i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := kt.VerifyInclusion(cp, i, l.Leaf(i), p); err != nil {
				t.Fatalf("leaf %d in size %d: %v", i, size, err)
			}
		}
	}
}

func TestInclusionRefuses(t *testing.T) {
	l, k := buildLog(t, "inc", testLogSize)
	v := newVerifier(t, testOrigin, k)
	cp := mustOpen(t, v, l, l.Size())
	saved := cloneCheckpoint(cp)
	const i = 6
	leaf := l.Leaf(i)
	p, err := l.ProveInclusion(i, l.Size())
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(leaf)
	tampered[len(tampered)-1] ^= 1
	badProof := append(tlog.RecordProof(nil), p...)
	badProof[0][0] ^= 1
	cases := []struct {
		name  string
		index int64
		leaf  []byte
		proof tlog.RecordProof
	}{
		{"tampered leaf", i, tampered, p},
		{"another leaf", i, l.Leaf(i + 1), p},
		{"wrong index", i + 1, leaf, p},
		{"tampered proof", i, leaf, badProof},
		{"proof too short", i, leaf, p[:len(p)-1]},
		{"proof too long", i, leaf, append(append(tlog.RecordProof(nil), p...), p[0])},
		{"no proof", i, leaf, nil},
		{"index past the tree", l.Size(), leaf, p},
		{"negative index", -1, leaf, p},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := kt.VerifyInclusion(cp, c.index, c.leaf, c.proof); !errors.Is(err, kt.ErrSecurity) {
				t.Fatalf("VerifyInclusion = %v; want ErrSecurity", err)
			}
			if cp.Size != saved.Size || cp.Root != saved.Root || !bytes.Equal(cp.Signed, saved.Signed) {
				t.Fatal("VerifyInclusion changed the checkpoint")
			}
		})
	}
}

func TestConsistencyProofsVerify(t *testing.T) {
	l, k := buildLog(t, "con", testLogSize)
	v := newVerifier(t, testOrigin, k)
	for older := int64(0); older <= l.Size(); older++ {
		cpOld := mustOpen(t, v, l, older)
		for newer := older; newer <= l.Size(); newer++ {
			cpNew := mustOpen(t, v, l, newer)
			p, err := l.ProveConsistency(older, newer)
			if err != nil {
				t.Fatal(err)
			}
			if err := kt.VerifyConsistency(cpOld, cpNew, p); err != nil {
				t.Fatalf("%d -> %d: %v", older, newer, err)
			}
			pin, err := v.Advance(cpOld, cpNew, p)
			if err != nil || pin.Size != newer {
				t.Fatalf("Advance %d -> %d = %v, %v", older, newer, pin, err)
			}
		}
	}
}

// forkedLog returns a log with the same key and the same first k leaves as
// l, then different ones, up to n leaves.
func forkedLog(t *testing.T, l *kttest.Log, k, n int64) *kttest.Log {
	t.Helper()
	f, err := kttest.New(testOrigin, logKey(t, "kt/log"))
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < n; i++ {
		leaf := l.Leaf(i % l.Size())
		if i >= k {
			leaf = append(bytes.Clone(leaf), 0) // a different leaf
		}
		if _, err := f.Append(leaf); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestForkAndRollbackRefused(t *testing.T) {
	l, k := buildLog(t, "fork", testLogSize)
	v := newVerifier(t, testOrigin, k)
	fork := forkedLog(t, l, 5, testLogSize+3)

	pinned := mustOpen(t, v, l, 8)
	saved := cloneCheckpoint(pinned)
	honest := mustOpen(t, v, l, testLogSize)
	honestProof, _ := l.ProveConsistency(8, testLogSize)

	forkSame := mustOpen(t, v, fork, 8)          // same size, different root
	forkLarger := mustOpen(t, v, fork, 15)       // larger, not an extension
	forkProof, _ := fork.ProveConsistency(8, 15) // proves the fork's own history
	older := mustOpen(t, v, l, 6)
	olderProof, _ := l.ProveConsistency(6, 8)
	badProof := append(tlog.TreeProof(nil), honestProof...)
	badProof[len(badProof)-1][3] ^= 1

	cases := []struct {
		name  string
		newer *kt.Checkpoint
		proof tlog.TreeProof
	}{
		{"fork at the same size", forkSame, nil},
		{"fork at the same size, with a proof", forkSame, forkProof},
		{"larger fork with its own proof", forkLarger, forkProof},
		{"larger fork with the honest proof", forkLarger, honestProof},
		{"rollback", older, olderProof},
		{"rollback without a proof", older, nil},
		{"honest checkpoint, tampered proof", honest, badProof},
		{"honest checkpoint, no proof", honest, nil},
		{"honest checkpoint, truncated proof", honest, honestProof[1:]},
		{"equal checkpoint, non-empty proof", mustOpen(t, v, l, 8), honestProof},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := kt.VerifyConsistency(pinned, c.newer, c.proof); !errors.Is(err, kt.ErrSecurity) {
				t.Fatalf("VerifyConsistency = %v; want ErrSecurity", err)
			}
			pin, err := v.Advance(pinned, c.newer, c.proof)
			if !errors.Is(err, kt.ErrSecurity) || pin != nil {
				t.Fatalf("Advance = %v, %v; want ErrSecurity", pin, err)
			}
			if pinned.Size != saved.Size || pinned.Root != saved.Root || !bytes.Equal(pinned.Signed, saved.Signed) {
				t.Fatal("the pinned checkpoint changed")
			}
		})
	}

	// The honest path still works after the refusals.
	pin, err := v.Advance(pinned, honest, honestProof)
	if err != nil || pin.Size != testLogSize {
		t.Fatalf("Advance(honest) = %v, %v", pin, err)
	}
	if pin, err := v.Advance(pinned, mustOpen(t, v, l, 8), nil); err != nil || pin != pinned {
		t.Fatalf("Advance(equal) = %v, %v; want the pinned checkpoint", pin, err)
	}
}

func TestAdvanceChecksSignatures(t *testing.T) {
	l, k := buildLog(t, "adv", 4)
	v := newVerifier(t, testOrigin, k)
	cp := mustOpen(t, v, l, 4)
	if pin, err := v.Advance(nil, cp, nil); err != nil || pin != cp {
		t.Fatalf("Advance(nil pin) = %v, %v", pin, err)
	}
	// A Checkpoint whose fields do not match its signed note.
	lied := cloneCheckpoint(cp)
	lied.Size = 3
	if _, err := v.Advance(nil, &lied, nil); !errors.Is(err, kt.ErrMalformed) {
		t.Fatalf("Advance(edited fields) = %v", err)
	}
	// A checkpoint of another log's key.
	other := newVerifier(t, testOrigin, logKey(t, "kt/other"))
	if _, err := other.Advance(nil, cp, nil); !errors.Is(err, kt.ErrBadSignature) {
		t.Fatalf("Advance with another key = %v", err)
	}
	if _, err := v.Advance(&lied, cp, nil); !errors.Is(err, kt.ErrMalformed) {
		t.Fatalf("Advance(edited pin) = %v", err)
	}
	if _, err := v.Advance(cp, nil, nil); err == nil {
		t.Fatal("Advance(nil) succeeded")
	}
}

func TestVerifyNilCheckpoints(t *testing.T) {
	if err := kt.VerifyInclusion(nil, 0, nil, nil); err == nil || errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("VerifyInclusion(nil) = %v", err)
	}
	if err := kt.VerifyConsistency(nil, nil, nil); err == nil || errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("VerifyConsistency(nil) = %v", err)
	}
	a := &kt.Checkpoint{Origin: "a", Size: 1}
	b := &kt.Checkpoint{Origin: "b", Size: 2}
	if err := kt.VerifyConsistency(a, b, nil); !errors.Is(err, kt.ErrMalformed) {
		t.Fatalf("VerifyConsistency(two logs) = %v", err)
	}
}

func TestLeafHash(t *testing.T) {
	// RFC 6962 §2.1: SHA-256(0x00 || leaf); the empty leaf's hash is
	// 6e340b9c ffb37a98 9ca544e6 bb780a2c 78901d3f b3373876 8511a306 17afa01d.
	h := kt.LeafHash(nil)
	if h.String() != "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=" {
		t.Fatalf("LeafHash(empty) = %s", h)
	}
}
