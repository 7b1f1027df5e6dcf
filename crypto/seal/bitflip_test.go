package seal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
)

// TestEveryBitFlip flips each bit of an envelope carrying a 1 KiB message
// (a 2048-byte envelope, 16384 bits) and checks Open refuses every one:
// ErrMalformed for the version byte, ErrDecrypt anywhere else.
//
// Under the race detector every Open is about seven times slower, so the
// test flips every bit of the header (version, E and c1, 2040 bits) and one
// bit of each byte of c2, rotating which bit, instead of all 16384.
func TestEveryBitFlip(t *testing.T) {
	alice, bob := newDevice(t, "alice", "alice"), newDevice(t, "bob", "bob")
	env := sealOK(t, testrand.New("bit flip"), alice, bob, bytes.Repeat([]byte{0x5a}, 1024))
	if len(env) != 2048 {
		t.Fatalf("envelope of %d bytes", len(env))
	}
	if _, err := Open(bob.keys, env); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(env)
	for i := range len(env) * 8 {
		if raceEnabled && i/8 >= offC2 && i%8 != (i/8)%8 {
			continue
		}
		bad[i/8] ^= 1 << (i % 8)
		want := ErrDecrypt
		if i < 8 {
			want = ErrMalformed
		}
		o, err := Open(bob.keys, bad)
		if o != nil || err == nil || (err != want && (want != ErrMalformed || !isMalformed(err))) {
			t.Fatalf("bit %d (byte %d): Open = %v, %v; want %v", i, i/8, o, err, want)
		}
		bad[i/8] ^= 1 << (i % 8)
	}
	if !bytes.Equal(bad, env) {
		t.Fatal("envelope changed")
	}
}

// TestHybridEveryBitFlip is TestEveryBitFlip for a version 2 envelope
// carrying a 100-byte message (2048 bytes, 16384 bits): a flipped version
// byte is ErrMalformed, a flipped key id ErrUnknownKEMKey (the recipient
// holds no key of that id), anything else ErrDecrypt.
//
// Under the race detector it flips every bit of the version, E and the key
// id, and one bit of each later byte, rotating which bit.
func TestHybridEveryBitFlip(t *testing.T) {
	alice := newDevice(t, "alice", "alice")
	bob := newKEMDevice(t, "bob", "bob", 2)
	env := sealHybridOK(t, testrand.New("hybrid bit flip"), alice, bob, bob.pub[0], bytes.Repeat([]byte{0x5a}, 100))
	if len(env) != 2048 {
		t.Fatalf("envelope of %d bytes", len(env))
	}
	if _, err := OpenHybrid(bob.keys, bob.lookup, env); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(env)
	for i := range len(env) * 8 {
		if raceEnabled && i/8 >= offCT2 && i%8 != (i/8)%8 {
			continue
		}
		bad[i/8] ^= 1 << (i % 8)
		want := ErrDecrypt
		switch {
		case i < 8:
			want = ErrMalformed
		case i/8 >= offKeyID2 && i/8 < offCT2:
			want = ErrUnknownKEMKey
		}
		o, err := OpenHybrid(bob.keys, bob.lookup, bad)
		if o != nil || !errors.Is(err, want) || (want == ErrDecrypt && err != ErrDecrypt) {
			t.Fatalf("bit %d (byte %d): OpenHybrid = %v, %v; want %v", i, i/8, o, err, want)
		}
		bad[i/8] ^= 1 << (i % 8)
	}
	if !bytes.Equal(bad, env) {
		t.Fatal("envelope changed")
	}
}
