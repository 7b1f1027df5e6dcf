package prim

import (
	"bytes"
	"crypto/ecdh"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"slices"
	"testing"

	"github.com/sealpost/sealpost/internal/memscan"
	"github.com/sealpost/sealpost/internal/testrand"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestX25519RFC7748 runs the test vectors of RFC 7748 §5.2 (two single
// multiplications, and the iteration k, u = X25519(k, u), k from k = u = 9
// after 1 and 1000 rounds) and the Diffie-Hellman example of §6.1.
func TestX25519RFC7748(t *testing.T) {
	for _, v := range []struct{ k, u, out string }{
		{"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
			"e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
			"c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
		{"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
			"e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
			"95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
	} {
		got := make([]byte, X25519Size)
		X25519(got, unhex(t, v.k), unhex(t, v.u))
		if hex.EncodeToString(got) != v.out {
			t.Errorf("X25519(%s, %s) = %x, want %s", v.k, v.u, got, v.out)
		}
	}

	k, u := slices.Clone(basepoint[:]), slices.Clone(basepoint[:])
	out := make([]byte, X25519Size)
	for i := 1; i <= 1000; i++ {
		X25519(out, k, u)
		copy(u, k)
		copy(k, out)
		want := map[int]string{
			1:    "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
			1000: "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
		}[i]
		if want != "" && hex.EncodeToString(k) != want {
			t.Fatalf("after %d iterations k = %x, want %s", i, k, want)
		}
	}

	a := unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	b := unhex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
	pa, err := X25519Public(a)
	if err != nil || hex.EncodeToString(pa[:]) != "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" {
		t.Fatalf("Alice's public key %x, %v", pa, err)
	}
	pb, err := X25519Public(b)
	if err != nil || hex.EncodeToString(pb[:]) != "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f" {
		t.Fatalf("Bob's public key %x, %v", pb, err)
	}
	const shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
	ab, err1 := DH(a, pb[:])
	ba, err2 := DH(b, pa[:])
	if err1 != nil || err2 != nil || hex.EncodeToString(ab) != shared || hex.EncodeToString(ba) != shared {
		t.Fatalf("shared secrets %x (%v), %x (%v), want %s", ab, err1, ba, err2, shared)
	}
}

// TestX25519MatchesECDH compares the ladder with crypto/ecdh on random
// keys, including scalars with every clamped bit set the wrong way, and
// checks that X25519 does not modify its scalar.
func TestX25519MatchesECDH(t *testing.T) {
	rand := testrand.New("prim X25519 vs ecdh")
	for i := range 200 {
		scalar, peer := make([]byte, 32), make([]byte, 32)
		io.ReadFull(rand, scalar)
		io.ReadFull(rand, peer)
		switch i % 3 {
		case 1: // bits clamping clears set, bit 254 clear
			scalar[0] |= 7
			scalar[31] |= 0x80
			scalar[31] &^= 0x40
		case 2:
			scalar[0] &^= 7
			scalar[31] |= 0xc0
		}
		before := slices.Clone(scalar)
		pk, err := ecdh.X25519().NewPrivateKey(peer)
		if err != nil {
			t.Fatal(err)
		}
		pub := pk.PublicKey().Bytes()
		own, err := ecdh.X25519().NewPrivateKey(scalar)
		if err != nil {
			t.Fatal(err)
		}
		want, err := own.ECDH(pk.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		got, err := DH(scalar, pub)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("DH = %x, %v; crypto/ecdh %x", got, err, want)
		}
		gotPub, _ := X25519Public(scalar)
		if !bytes.Equal(gotPub[:], own.PublicKey().Bytes()) {
			t.Fatalf("X25519Public = %x, crypto/ecdh %x", gotPub, own.PublicKey().Bytes())
		}
		if !bytes.Equal(scalar, before) {
			t.Fatal("X25519 modified the scalar")
		}
	}
}

func TestX25519WrongLengthPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("X25519 with a 31-byte scalar did not panic")
		}
	}()
	X25519(make([]byte, 32), make([]byte, 31), basepoint[:])
}

// TestX25519LeavesNoKeyCopy: 100 agreements and public-key derivations
// with a private key kept outside the Go heap leave no copy of it (bytes
// 1-30, which clamping does not change) anywhere in memory, while the same
// with crypto/ecdh does — which is what the scan must be able to see.
func TestX25519LeavesNoKeyCopy(t *testing.T) {
	priv, err := memscan.Alloc(X25519Size)
	if errors.Is(err, memscan.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer memscan.Free(priv)
	// crypto/rand fills priv in place (a seeded reader would keep the
	// bytes in its own buffer).
	cryptorand.Read(priv)
	priv[0] |= 7 // make the clamped key differ from the stored one
	needle := priv[1:31]
	peer, _ := X25519Public(unhex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))

	for range 100 {
		out, err := DH(priv, peer[:])
		if err != nil {
			t.Fatal(err)
		}
		Zero(out)
		if _, err := X25519Public(priv); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	n, err := memscan.Count(needle, memscan.RangeOf(priv))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prim.X25519: %d copies after 100 operations", n)
	if n != 0 {
		t.Errorf("prim.X25519 left %d copies of the private key in memory", n)
	}

	// The control: crypto/ecdh's key objects copy the key.
	for range 100 {
		k, err := ecdh.X25519().NewPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		pk, _ := ecdh.X25519().NewPublicKey(peer[:])
		k.ECDH(pk)
	}
	runtime.GC()
	m, err := memscan.Count(needle, memscan.RangeOf(priv))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("crypto/ecdh: %d copies after 100 operations", m)
	if m == 0 {
		t.Error("the scan found no copy after crypto/ecdh key objects: it cannot see heap copies")
	}
}

func BenchmarkX25519(b *testing.B) {
	scalar := unhex(b, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	peer := unhex(b, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
	b.Run("prim", func(b *testing.B) {
		out := make([]byte, X25519Size)
		for b.Loop() {
			X25519(out, scalar, peer)
		}
	})
	b.Run("prim-DH", func(b *testing.B) {
		for b.Loop() {
			out, _ := DH(scalar, peer)
			Zero(out)
		}
	})
	b.Run("crypto-ecdh", func(b *testing.B) {
		pub, _ := ecdh.X25519().NewPublicKey(peer)
		k, _ := ecdh.X25519().NewPrivateKey(scalar)
		for b.Loop() {
			k.ECDH(pub)
		}
	})
	b.Run("crypto-ecdh-new-key", func(b *testing.B) {
		pub, _ := ecdh.X25519().NewPublicKey(peer)
		for b.Loop() {
			k, _ := ecdh.X25519().NewPrivateKey(scalar)
			k.ECDH(pub)
		}
	})
}
