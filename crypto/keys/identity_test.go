package keys_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"errors"
	"io"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
)

func randBytes(label string, n int) []byte {
	b := make([]byte, n)
	io.ReadFull(testrand.New(label), b)
	return b
}

// TestGenerateAccountKey checks spec/keys.md §4: the key is the Ed25519 key
// whose seed is the first 32 bytes read, and nothing more is read.
func TestGenerateAccountKey(t *testing.T) {
	src := randBytes("account", 40)
	r := bytes.NewReader(src)
	k, err := keys.GenerateAccountKey(r)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 8 {
		t.Fatalf("read %d bytes, want 32", 40-r.Len())
	}
	sameBytes(t, "seed", k.Seed(), src[:32])
	pub := k.Public()
	sameBytes(t, "public", pub[:], ed25519.NewKeyFromSeed(src[:32]).Public().(ed25519.PublicKey))
	k2, err := keys.NewAccountPrivateKey(src[:32])
	if err != nil || k2.Public() != pub {
		t.Fatalf("NewAccountPrivateKey: %v", err)
	}
	if p, err := keys.ParseAccountPublicKey(pub[:]); err != nil || p != pub {
		t.Fatalf("ParseAccountPublicKey: %v", err)
	}
	// Seed returns a copy.
	s := k.Seed()
	s[0] ^= 1
	sameBytes(t, "seed after caller's write", k.Seed(), src[:32])
}

func TestGenerateKeysShortRandomness(t *testing.T) {
	for n := range 32 {
		k, err := keys.GenerateAccountKey(bytes.NewReader(make([]byte, n)))
		if k != nil || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			t.Fatalf("account, %d bytes: %v %v", n, k, err)
		}
	}
	for n := range 64 {
		d, err := keys.GenerateDeviceKeys(bytes.NewReader(make([]byte, n)))
		if d != nil || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			t.Fatalf("device, %d bytes: %v %v", n, d, err)
		}
	}
}

func TestNewAccountPrivateKeyLength(t *testing.T) {
	for _, n := range []int{0, 1, 31, 33, 64} {
		k, err := keys.NewAccountPrivateKey(make([]byte, n))
		if k != nil {
			t.Fatalf("length %d accepted", n)
		}
		wantErr(t, err, keys.ErrMalformed)
	}
}

func TestParseAccountPublicKeyRefusals(t *testing.T) {
	for _, h := range badEd25519 {
		k, err := keys.ParseAccountPublicKey(unhex(t, h))
		if k != (keys.AccountPublicKey{}) {
			t.Fatalf("%s: key returned", h)
		}
		wantErr(t, err, keys.ErrMalformed)
	}
	pub := newAccount(t, "a").Public()
	for _, b := range [][]byte{nil, pub[:31], append(pub[:], 0)} {
		_, err := keys.ParseAccountPublicKey(b)
		wantErr(t, err, keys.ErrMalformed)
	}
}

// TestGenerateDeviceKeys checks spec/keys.md §5: 32 bytes of Ed25519 seed,
// then 32 bytes of X25519 private key, and nothing more.
func TestGenerateDeviceKeys(t *testing.T) {
	src := randBytes("device", 70)
	r := bytes.NewReader(src)
	d, err := keys.GenerateDeviceKeys(r)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 6 {
		t.Fatalf("read %d bytes, want 64", 70-r.Len())
	}
	sameBytes(t, "signing seed", d.SigningSeed(), src[:32])
	sameBytes(t, "X25519 private key", d.DHPrivate(), src[32:64])
	d2, err := keys.NewDevicePrivateKeys(src[:32], src[32:64])
	if err != nil || d2.Public() != d.Public() {
		t.Fatalf("NewDevicePrivateKeys: %v", err)
	}
	pub := d.Public()
	sameBytes(t, "signing public", pub.Signing[:], ed25519.NewKeyFromSeed(src[:32]).Public().(ed25519.PublicKey))
	sameBytes(t, "DH()", d.DH(), src[32:64])
	dhPub, err := ecdh.X25519().NewPrivateKey(src[32:64])
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "DH public", dhPub.PublicKey().Bytes(), pub.DH[:])

	sig := d.Sign("sealpost/v1/test", []byte("msg"))
	if !ed25519.Verify(pub.Signing[:], []byte("sealpost/v1/test\x00msg"), sig) {
		t.Fatal("Sign does not sign label || 0x00 || msg")
	}
}

func TestNewDevicePrivateKeysLength(t *testing.T) {
	for _, c := range [][2]int{{31, 32}, {33, 32}, {32, 31}, {32, 33}, {0, 0}, {64, 0}} {
		d, err := keys.NewDevicePrivateKeys(make([]byte, c[0]), make([]byte, c[1]))
		if d != nil {
			t.Fatalf("lengths %v accepted", c)
		}
		wantErr(t, err, keys.ErrMalformed)
	}
}

func TestZero(t *testing.T) {
	k := newAccount(t, "zero")
	k.Zero()
	sameBytes(t, "account seed after Zero", k.Seed(), make([]byte, 32))
	d := newDevice(t, "zero")
	d.Zero()
	sameBytes(t, "device seed after Zero", d.SigningSeed(), make([]byte, 32))
	p, _, err := d.GeneratePrekey(testrand.New("zero"), keys.OneTimeKEMPrekey, 1)
	if err != nil {
		t.Fatal(err)
	}
	p.Zero()
	sameBytes(t, "prekey secret after Zero", p.Secret, make([]byte, keys.KEMSeedSize))
}

// TestAccountKeysDiffer guards against a generator that ignores its reader.
func TestAccountKeysDiffer(t *testing.T) {
	if newAccount(t, "x").Public() == newAccount(t, "y").Public() {
		t.Fatal("different randomness gave the same account key")
	}
	if newDevice(t, "x").Public() == newDevice(t, "y").Public() {
		t.Fatal("different randomness gave the same device keys")
	}
}

// TestKeysInPlace: device keys over the caller's memory read the X25519
// key in place, agree and sign like copied keys, and Zero drops that key
// without writing to it (the client keeps it read-only and wipes it
// itself). The signing key is copied and its seed checked against its
// public half.
func TestKeysInPlace(t *testing.T) {
	src := randBytes("in place", 64)
	owned, err := keys.NewDevicePrivateKeys(src[:32], src[32:])
	if err != nil {
		t.Fatal(err)
	}
	ownedPub := owned.Public()
	signing := append(clone(src[:32]), ownedPub.Signing[:]...)
	dh := clone(src[32:])
	d, err := keys.DevicePrivateKeysInPlace(signing, dh)
	if err != nil {
		t.Fatal(err)
	}
	if d.Public() != owned.Public() || &d.DH()[0] != &dh[0] {
		t.Fatal("in-place keys differ from copied ones or copied the X25519 key")
	}
	sig := d.Sign("sealpost/v1/test", []byte("m"))
	if !ed25519.Verify(ownedPub.Signing[:], []byte("sealpost/v1/test\x00m"), sig) {
		t.Fatal("in-place signing key does not sign")
	}
	d.Zero()
	if !bytes.Equal(signing[:32], src[:32]) || !bytes.Equal(dh, src[32:]) {
		t.Fatal("Zero wrote to the caller's memory")
	}
	if d.DH() != nil {
		t.Fatal("X25519 key still usable after Zero")
	}
	for _, c := range [][2]int{{32, 32}, {64, 31}, {65, 32}} {
		if _, err := keys.DevicePrivateKeysInPlace(make([]byte, c[0]), make([]byte, c[1])); !errors.Is(err, keys.ErrMalformed) {
			t.Fatalf("lengths %v: %v", c, err)
		}
	}
	// A seed paired with another public key is refused.
	other := newDevice(t, "other").Public()
	wrong := append(clone(src[:32]), other.Signing[:]...)
	if _, err := keys.DevicePrivateKeysInPlace(wrong, dh); !errors.Is(err, keys.ErrMalformed) {
		t.Fatalf("mismatched signing key: %v", err)
	}

	acct := newAccount(t, "in place")
	pub := acct.Public()
	priv := append(acct.Seed(), pub[:]...)
	a, err := keys.AccountPrivateKeyFromKey(priv)
	if err != nil || a.Public() != acct.Public() {
		t.Fatalf("AccountPrivateKeyFromKey: %v", err)
	}
	a.Zero()
	if !bytes.Equal(priv[:32], acct.Seed()) {
		t.Fatal("account Zero wrote to the caller's memory")
	}
	if _, err := keys.AccountPrivateKeyFromKey(priv[:32]); !errors.Is(err, keys.ErrMalformed) {
		t.Fatalf("32-byte account key: %v", err)
	}
	copy(priv[32:], other.Signing[:])
	if _, err := keys.AccountPrivateKeyFromKey(priv); !errors.Is(err, keys.ErrMalformed) {
		t.Fatalf("mismatched account key: %v", err)
	}
}
