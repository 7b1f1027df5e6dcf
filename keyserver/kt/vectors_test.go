package kt_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/kttest"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var ktErrors = map[string]error{"malformed": kt.ErrMalformed, "bad_signature": kt.ErrBadSignature, "security": kt.ErrSecurity}

// checkErr checks err against a vector's error name ("" for none).
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	sentinel, ok := ktErrors[want]
	if !ok {
		t.Fatalf("unknown error name %q", want)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v; want %s", err, want)
	}
}

func hashes(hs []vectors.Hex) []tlog.Hash {
	out := make([]tlog.Hash, len(hs))
	for i, h := range hs {
		copy(out[i][:], h)
	}
	return out
}

func TestVectors(t *testing.T) {
	f, err := vectors.Load[vectors.KTCase]("kt.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Cases {
		t.Run(c.ID, func(t *testing.T) {
			switch c.Type {
			case "entry":
				testEntryVector(t, c.Entry, c.Error)
			case "checkpoint":
				testCheckpointVector(t, c.Checkpoint, c.Error)
			case "inclusion":
				testInclusionVector(t, c.Inclusion, c.Error)
			case "consistency":
				testConsistencyVector(t, c.Consistency, c.Error)
			default:
				t.Fatalf("unknown type %q", c.Type)
			}
		})
	}
}

func testEntryVector(t *testing.T, c *vectors.KTEntryCase, want string) {
	if h := kt.LeafHash(c.Leaf); !bytes.Equal(h[:], c.LeafHash) {
		t.Fatalf("LeafHash = %x, want %x", h, c.LeafHash)
	}
	if pub := ed25519.NewKeyFromSeed(c.AccountSeed).Public().(ed25519.PublicKey); !bytes.Equal(pub, c.AccountKey) {
		t.Fatal("account key does not match its seed")
	}
	e, err := kt.ParseEntry(c.Leaf)
	if want == "malformed" {
		checkErr(t, err, want)
		return
	}
	if err != nil {
		t.Fatalf("ParseEntry: %v", err)
	}
	if !bytes.Equal(e.Marshal(), c.Leaf) {
		t.Fatal("Marshal(ParseEntry(leaf)) != leaf")
	}
	if e.Handle != c.Handle || !bytes.Equal(e.AccountKey[:], c.AccountKey) || e.Version != c.Version || len(e.Devices) != len(c.Devices) {
		t.Fatalf("parsed %+v", e)
	}
	for i, d := range c.Devices {
		got := e.Devices[i]
		if !bytes.Equal(got.Certificate.Marshal(), d.Certificate) || (got.Revocation == nil) != (d.Revocation == nil) ||
			(got.Revocation != nil && !bytes.Equal(got.Revocation.Marshal(), d.Revocation)) {
			t.Fatalf("device %d differs", i)
		}
	}
	checkErr(t, e.Verify(), want)
}

func testCheckpointVector(t *testing.T, c *vectors.KTCheckpointCase, want string) {
	logPub := ed25519.NewKeyFromSeed(c.LogSeed).Public().(ed25519.PublicKey)
	vk, err := kt.VerifierKey(c.Origin, logPub)
	if err != nil || vk != c.VerifierKey {
		t.Fatalf("VerifierKey = %q, %v; want %q", vk, err, c.VerifierKey)
	}
	if !bytes.Contains([]byte(vk), []byte("+"+c.KeyID+"+")) {
		t.Fatal("key id not in verifier key")
	}
	v, err := kt.NewVerifier(c.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	if want == "" {
		s, err := kt.NewSigner(c.Origin, ed25519.NewKeyFromSeed(c.SignerSeed))
		if err != nil {
			t.Fatal(err)
		}
		var extra []note.Signer
		if c.Time != 0 {
			ts, err := kt.NewTimestampSigner(c.Origin, ed25519.NewKeyFromSeed(c.LogSeed), time.Unix(c.Time, 0))
			if err != nil {
				t.Fatal(err)
			}
			extra = append(extra, ts)
		}
		signed, err := kt.SignCheckpoint(s, c.Origin, c.Size, tlog.Hash(c.Root), extra...)
		if err != nil || string(signed) != c.Signed {
			t.Fatalf("SignCheckpoint = %q, %v", signed, err)
		}
		if !bytes.HasPrefix(signed, []byte(c.Body+"\n")) {
			t.Fatal("signed note does not start with the body and a blank line")
		}
	}
	cp, err := v.OpenCheckpoint([]byte(c.Signed))
	checkErr(t, err, want)
	if want == "" && (cp.Origin != c.Origin || cp.Size != c.Size || !bytes.Equal(cp.Root[:], c.Root) || string(cp.Signed) != c.Signed || cp.Time.Unix() != c.Time && !(c.Time == 0 && cp.Time.IsZero())) {
		t.Fatalf("opened %+v", cp)
	}
}

// vectorLog builds a kttest log of leaves and checks its root.
func vectorLog(t *testing.T, leaves []vectors.Hex) *kttest.Log {
	l, err := kttest.New("vectors", logKey(t, "kt/vectors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, leaf := range leaves {
		if _, err := l.Append(leaf); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func testInclusionVector(t *testing.T, c *vectors.KTInclusionCase, want string) {
	l := vectorLog(t, c.Leaves)
	if root, err := l.Root(c.Size); err != nil || !bytes.Equal(root[:], c.Root) {
		t.Fatalf("root of %d leaves = %x, %v; want %x", c.Size, root, err, c.Root)
	}
	cp := &kt.Checkpoint{Origin: "vectors", Size: c.Size, Root: tlog.Hash(c.Root)}
	checkErr(t, kt.VerifyInclusion(cp, c.Index, c.Leaf, hashes(c.Proof)), want)
	if want == "" {
		p, err := l.ProveInclusion(c.Index, c.Size)
		if err != nil || !equalProof(p, hashes(c.Proof)) {
			t.Fatalf("ProveInclusion = %v, %v", p, err)
		}
	}
}

func testConsistencyVector(t *testing.T, c *vectors.KTConsistencyCase, want string) {
	l := vectorLog(t, c.Leaves)
	if root, err := l.Root(c.NewSize); err != nil || !bytes.Equal(root[:], c.NewRoot) {
		t.Fatalf("root of %d leaves = %x, %v; want %x", c.NewSize, root, err, c.NewRoot)
	}
	older := &kt.Checkpoint{Origin: "vectors", Size: c.OldSize, Root: tlog.Hash(c.OldRoot)}
	newer := &kt.Checkpoint{Origin: "vectors", Size: c.NewSize, Root: tlog.Hash(c.NewRoot)}
	checkErr(t, kt.VerifyConsistency(older, newer, hashes(c.Proof)), want)
	if want == "" {
		p, err := l.ProveConsistency(c.OldSize, c.NewSize)
		if err != nil || !equalProof(p, hashes(c.Proof)) {
			t.Fatalf("ProveConsistency = %v, %v", p, err)
		}
	}
}

func equalProof[P ~[]tlog.Hash](a P, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
