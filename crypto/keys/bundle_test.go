package keys_test

import (
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
)

func mustParseBundle(t *testing.T, b []byte) *keys.Bundle {
	t.Helper()
	p, err := keys.ParseBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBundleRoundTrip(t *testing.T) {
	f := newFixture(t, "alice")
	for _, c := range []struct {
		b         *keys.Bundle
		exhausted bool
	}{
		{f.bundle(true), false},
		{f.bundle(false), true},
		{&keys.Bundle{Certificate: f.cert, SignedPrekey: f.spk, KEMPrekey: f.pqopk}, false},
		{&keys.Bundle{Certificate: f.cert, SignedPrekey: f.spk, OneTimePrekey: f.opk, KEMPrekey: f.pqspk}, false},
	} {
		enc := c.b.Marshal()
		size := 1 + len(f.cert.Marshal()) + 101 + 1 + 1253
		if c.b.OneTimePrekey != nil {
			size += 101
		}
		if len(enc) != size {
			t.Fatalf("size %d, want %d", len(enc), size)
		}
		p := mustParseBundle(t, enc)
		sameBytes(t, "Marshal(Parse(x))", p.Marshal(), enc)
		if (p.OneTimePrekey == nil) != (c.b.OneTimePrekey == nil) || p.KEMPrekey.Kind != c.b.KEMPrekey.Kind {
			t.Fatalf("parsed %+v", p)
		}
		if c.b.Exhausted() != c.exhausted || p.Exhausted() != c.exhausted {
			t.Fatalf("Exhausted() = %v, want %v", p.Exhausted(), c.exhausted)
		}
		if err := keys.VerifyBundle("alice", f.aik, p); err != nil {
			t.Fatal(err)
		}
		if err := keys.VerifyBundle("alice", f.aik, c.b); err != nil {
			t.Fatal(err)
		}
	}
}

// bundleParts returns the end offsets of each part of a full bundle
// (spec/keys.md §9.1).
func bundleParts(f *fixture) (certEnd, spkEnd, opkEnd int) {
	certEnd = 1 + len(f.cert.Marshal())
	spkEnd = certEnd + len(f.spk.Marshal())
	return certEnd, spkEnd, spkEnd + 1 + len(f.opk.Marshal())
}

func TestParseBundleRefusals(t *testing.T) {
	f := newFixture(t, "alice")
	enc := f.bundle(true).Marshal()
	certEnd, spkEnd, opkEnd := bundleParts(f)
	refuse := func(name string, in []byte, part string, target error) {
		t.Helper()
		b, err := keys.ParseBundle(in)
		if b != nil {
			t.Fatalf("%s: accepted", name)
		}
		wantBundleErr(t, err, part, target)
	}
	for n := range len(enc) {
		part := "KEM prekey"
		switch {
		case n == 0:
			part = "version"
		case n < certEnd:
			part = "certificate"
		case n < spkEnd:
			part = "signed prekey"
		case n < opkEnd:
			part = "one-time prekey"
		}
		refuse("truncated", enc[:n], part, keys.ErrMalformed)
	}
	eachTrailing(enc, func(_ byte, in []byte) { refuse("trailing byte", in, "KEM prekey", keys.ErrMalformed) })
	for v := range 256 {
		in := clone(enc)
		in[0] = byte(v)
		if v != keys.Version {
			refuse("version", in, "version", keys.ErrMalformed)
		}
		if v > 1 {
			in := clone(enc)
			in[spkEnd] = byte(v)
			refuse("presence byte", in, "one-time prekey", keys.ErrMalformed)
		}
	}
	// A prekey of the wrong kind in each place.
	spk, opk, pqspk, pqopk := f.spk.Marshal(), f.opk.Marshal(), f.pqspk.Marshal(), f.pqopk.Marshal()
	cert := enc[:certEnd]
	for _, c := range []struct {
		in   [][]byte
		part string
	}{
		{[][]byte{cert, opk, {0}, pqopk}, "signed prekey"},
		{[][]byte{cert, pqspk, {0}, pqopk}, "signed prekey"},
		{[][]byte{cert, pqopk, {1}, opk, pqopk}, "signed prekey"},
		{[][]byte{cert, spk, {1}, spk, pqopk}, "one-time prekey"},
		{[][]byte{cert, spk, {1}, pqopk, pqopk}, "one-time prekey"},
		{[][]byte{cert, spk, {1}, pqspk, pqspk}, "one-time prekey"},
		{[][]byte{cert, spk, {0}, opk}, "KEM prekey"},
		{[][]byte{cert, spk, {1}, opk, spk}, "KEM prekey"},
	} {
		var in []byte
		for _, p := range c.in {
			in = append(in, p...)
		}
		refuse("wrong kind", in, c.part, keys.ErrWrongKind)
	}
	// A malformed certificate or prekey is reported as its part.
	in := clone(enc)
	in[1] = 2 // certificate version
	refuse("certificate version", in, "certificate", keys.ErrMalformed)
	in = clone(enc)
	in[certEnd] = 9
	refuse("unknown kind", in, "signed prekey", keys.ErrMalformed)
	in = clone(enc)
	in[opkEnd] = 0
	refuse("unknown KEM kind", in, "KEM prekey", keys.ErrMalformed)
	in = clone(enc)
	in[opkEnd-keys.SignatureSize-1] |= 0x80 // one-time prekey bit 255
	refuse("non-canonical one-time key", in, "one-time prekey", keys.ErrMalformed)
	if _, err := keys.ParseBundle(nil); err == nil {
		t.Fatal("empty bundle accepted")
	}
}

// TestBundleBitFlips flips bits at every byte of a bundle: each flip is
// refused when parsing or by VerifyBundle, naming the part the bit belongs
// to, except the bytes that give the structure (handle length, kinds,
// presence), after which any part may be the first to fail. Every bit is
// flipped, except in the 1184 bytes of the ML-KEM key, where one bit per
// byte is (they are all alike and each flip costs four signature checks).
func TestBundleBitFlips(t *testing.T) {
	f := newFixture(t, "alice")
	enc := f.bundle(true).Marshal()
	certEnd, spkEnd, opkEnd := bundleParts(f)
	structural := map[int]bool{2: true, certEnd: true, spkEnd: true, spkEnd + 1: true, opkEnd: true}
	kemKey := func(n int) bool { return n >= opkEnd+5 && n < opkEnd+5+keys.KEMKeySize }
	for i := 0; i < len(enc)*8; i++ {
		if n := i / 8; kemKey(n) && i%8 != n%8 || testing.Short() && i%3 != 0 {
			continue
		}
		in := clone(enc)
		in[i/8] ^= 1 << (i % 8)
		b, err := keys.ParseBundle(in)
		if err == nil {
			err = keys.VerifyBundle("alice", f.aik, b)
			if err == nil {
				t.Fatalf("bit %d: accepted", i)
			}
			sameBytes(t, "bundle after a refused VerifyBundle", b.Marshal(), in)
		}
		var be *keys.BundleError
		if !errors.As(err, &be) || !errors.Is(err, keys.ErrMalformed) && !errors.Is(err, keys.ErrBadSignature) &&
			!errors.Is(err, keys.ErrWrongAccount) && !errors.Is(err, keys.ErrWrongKind) {
			t.Fatalf("bit %d: %v", i, err)
		}
		if structural[i/8] {
			continue
		}
		want := "KEM prekey"
		switch n := i / 8; {
		case n == 0:
			want = "version"
		case n < certEnd:
			want = "certificate"
		case n < spkEnd:
			want = "signed prekey"
		case n < opkEnd:
			want = "one-time prekey"
		}
		if be.Part != want {
			t.Fatalf("bit %d: part %q, want %q (%v)", i, be.Part, want, err)
		}
	}
}

func TestVerifyBundleRefusals(t *testing.T) {
	f := newFixture(t, "alice")
	other := newFixture(t, "mallory")
	b := f.bundle(true)
	enc := b.Marshal()
	wantBundleErr(t, keys.VerifyBundle("bob", f.aik, b), "certificate", keys.ErrWrongAccount)
	wantBundleErr(t, keys.VerifyBundle("alice", other.aik, b), "certificate", keys.ErrWrongAccount)
	wantBundleErr(t, keys.VerifyBundle("mallory", other.aik, b), "certificate", keys.ErrWrongAccount)
	sameBytes(t, "bundle after refusals", b.Marshal(), enc)

	// Prekeys signed by another device.
	for part, mutate := range map[string]func(b *keys.Bundle){
		"signed prekey":   func(b *keys.Bundle) { b.SignedPrekey = other.spk },
		"one-time prekey": func(b *keys.Bundle) { b.OneTimePrekey = other.opk },
		"KEM prekey":      func(b *keys.Bundle) { b.KEMPrekey = other.pqopk },
		"certificate":     func(b *keys.Bundle) { b.Certificate = other.cert },
	} {
		b := f.bundle(true)
		mutate(b)
		before := b.Marshal()
		err := keys.VerifyBundle("alice", f.aik, b)
		if part == "certificate" {
			wantBundleErr(t, err, part, keys.ErrWrongAccount)
		} else {
			wantBundleErr(t, err, part, keys.ErrBadSignature)
		}
		sameBytes(t, part+": bundle after a refused VerifyBundle", b.Marshal(), before)
		// The same bytes are refused the same way after a round trip.
		err = keys.VerifyBundle("alice", f.aik, mustParseBundle(t, before))
		if !errors.Is(err, keys.ErrBadSignature) && !errors.Is(err, keys.ErrWrongAccount) {
			t.Fatalf("%s: %v", part, err)
		}
	}

	// Hand-built bundles: wrong kinds and missing parts, refused, no panic.
	for part, bb := range map[string]*keys.Bundle{
		"signed prekey":   {Certificate: f.cert, SignedPrekey: f.opk, KEMPrekey: f.pqopk},
		"one-time prekey": {Certificate: f.cert, SignedPrekey: f.spk, OneTimePrekey: f.pqopk, KEMPrekey: f.pqopk},
		"KEM prekey":      {Certificate: f.cert, SignedPrekey: f.spk, KEMPrekey: f.spk},
	} {
		wantBundleErr(t, keys.VerifyBundle("alice", f.aik, bb), part, keys.ErrWrongKind)
	}
	for part, bb := range map[string]*keys.Bundle{
		"certificate":   nil,
		"signed prekey": {Certificate: f.cert, KEMPrekey: f.pqopk},
		"KEM prekey":    {Certificate: f.cert, SignedPrekey: f.spk},
	} {
		wantBundleErr(t, keys.VerifyBundle("alice", f.aik, bb), part, keys.ErrMalformed)
	}
	wantBundleErr(t, keys.VerifyBundle("alice", f.aik, &keys.Bundle{SignedPrekey: f.spk, KEMPrekey: f.pqopk}), "certificate", keys.ErrMalformed)
}

func TestBundleErrorMessage(t *testing.T) {
	err := error(&keys.BundleError{Part: "signed prekey", Err: keys.ErrBadSignature})
	if err.Error() != "keys: bundle signed prekey: keys: bad signature" || !errors.Is(err, keys.ErrBadSignature) {
		t.Fatalf("%q", err.Error())
	}
}
