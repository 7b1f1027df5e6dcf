package keys_test

import (
	"bytes"
	"crypto/mlkem"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
)

var allKinds = []keys.PrekeyKind{keys.SignedPrekey, keys.OneTimePrekey, keys.LastResortKEMPrekey, keys.OneTimeKEMPrekey}

func TestPrekeyKinds(t *testing.T) {
	names := map[keys.PrekeyKind]string{1: "signed-prekey", 2: "one-time-prekey", 3: "last-resort-kem-prekey", 4: "one-time-kem-prekey"}
	for k, n := range names {
		if k.String() != n {
			t.Errorf("kind %d: %q, want %q", k, k.String(), n)
		}
		if k.IsKEM() != (k >= 3) {
			t.Errorf("kind %d: IsKEM = %v", k, k.IsKEM())
		}
	}
	if keys.PrekeyKind(9).String() != "prekey-kind-9" || keys.PrekeyKind(0).IsKEM() {
		t.Error("unknown kind")
	}
}

func TestPrekeyRoundTrip(t *testing.T) {
	d := newDevice(t, "alice")
	for _, kind := range allKinds {
		src := randBytes("prekey "+kind.String(), 100)
		r := bytes.NewReader(src)
		priv, pub, err := d.GeneratePrekey(r, kind, 0x01020304)
		if err != nil {
			t.Fatal(err)
		}
		secret, public := 32, 32
		if kind.IsKEM() {
			secret, public = keys.KEMSeedSize, keys.KEMKeySize
		}
		if r.Len() != 100-secret {
			t.Fatalf("%v: read %d bytes, want %d", kind, 100-r.Len(), secret)
		}
		sameBytes(t, "secret", priv.Secret, src[:secret])
		if priv.Kind != kind || priv.ID != 0x01020304 || pub.Kind != kind || pub.ID != 0x01020304 || len(pub.Public) != public {
			t.Fatalf("%v: %+v", kind, pub)
		}
		enc := pub.Marshal()
		if len(enc) != 1+4+public+keys.SignatureSize {
			t.Fatalf("%v: size %d", kind, len(enc))
		}
		p, err := keys.ParsePrekey(enc)
		if err != nil {
			t.Fatal(err)
		}
		sameBytes(t, "Marshal(Parse(x))", p.Marshal(), enc)
		if err := p.Verify(d.Public().Signing); err != nil {
			t.Fatalf("%v: %v", kind, err)
		}
		checkPrekeyPrivate(t, priv, pub)
		loaded, err := keys.LoadPrekeyPrivate(kind, 0x01020304, src[:secret])
		if err != nil || loaded.Kind != kind || loaded.ID != 0x01020304 {
			t.Fatalf("LoadPrekeyPrivate: %v", err)
		}
		sameBytes(t, "loaded secret", loaded.Secret, src[:secret])
		checkPrekeyPrivate(t, loaded, pub)
		checkPrekeyPrivate(t, loaded, p)
	}
}

func TestLoadPrekeyPrivateRefusals(t *testing.T) {
	for _, k := range []keys.PrekeyKind{0, 5, 255} {
		p, err := keys.LoadPrekeyPrivate(k, 1, make([]byte, 32))
		if p != nil || !errors.Is(err, keys.ErrWrongKind) {
			t.Fatalf("kind %d: %v %v", k, p, err)
		}
	}
	for _, c := range []struct {
		kind keys.PrekeyKind
		n    int
	}{{keys.SignedPrekey, 31}, {keys.OneTimePrekey, 64}, {keys.LastResortKEMPrekey, 32}, {keys.OneTimeKEMPrekey, 65}} {
		p, err := keys.LoadPrekeyPrivate(c.kind, 1, make([]byte, c.n))
		if p != nil || !errors.Is(err, keys.ErrMalformed) {
			t.Fatalf("%v with %d bytes: %v %v, want ErrMalformed", c.kind, c.n, p, err)
		}
	}
	// The loaded key uses the caller's memory in place (the client's
	// locked buffer); Forget drops it without writing, Zero wipes it.
	secret := randBytes("load", 32)
	p, err := keys.LoadPrekeyPrivate(keys.OneTimePrekey, 1, secret)
	if err != nil {
		t.Fatal(err)
	}
	if &p.Secret[0] != &secret[0] {
		t.Fatal("LoadPrekeyPrivate copied its argument")
	}
	p.Forget()
	if p.Secret != nil || bytes.Equal(secret, make([]byte, 32)) {
		t.Fatal("Forget kept the secret or wrote to it")
	}
	p, _ = keys.LoadPrekeyPrivate(keys.OneTimePrekey, 1, secret)
	p.Zero()
	if !bytes.Equal(secret, make([]byte, 32)) {
		t.Fatal("Zero did not wipe the secret")
	}
}

func TestEncapsulationKey(t *testing.T) {
	d := newDevice(t, "alice")
	spk := newPrekey(t, d, keys.SignedPrekey, 1)
	if ek, err := spk.EncapsulationKey(); ek != nil || !errors.Is(err, keys.ErrWrongKind) {
		t.Fatalf("X25519 prekey: %v %v", ek, err)
	}
	kem := newPrekey(t, d, keys.LastResortKEMPrekey, 1)
	for _, p := range []*keys.Prekey{kem, mustParsePrekey(t, kem.Marshal())} {
		ek, err := p.EncapsulationKey()
		if err != nil {
			t.Fatal(err)
		}
		sameBytes(t, "encapsulation key", ek.Bytes(), kem.Public)
	}
	// A caller who replaces Public gets the new key checked, not the cache.
	p := mustParsePrekey(t, kem.Marshal())
	p.Public = clone(p.Public)
	p.Public[0], p.Public[1] = 0xff, 0xff
	if ek, err := p.EncapsulationKey(); ek != nil || !errors.Is(err, keys.ErrMalformed) {
		t.Fatalf("changed key: %v %v", ek, err)
	}
	wantErr(t, p.Verify(d.Public().Signing), keys.ErrMalformed)
	other := newPrekey(t, d, keys.OneTimeKEMPrekey, 1)
	p.Public = other.Public
	ek, err := p.EncapsulationKey()
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "replaced key", ek.Bytes(), other.Public)
}

func mustParsePrekey(t *testing.T, b []byte) *keys.Prekey {
	t.Helper()
	p, err := keys.ParsePrekey(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkPrekeyPrivate checks the private half works with the public half.
func checkPrekeyPrivate(t *testing.T, priv *keys.PrekeyPrivate, pub *keys.Prekey) {
	t.Helper()
	if priv.Kind.IsKEM() {
		dk, err := priv.KEM()
		if err != nil {
			t.Fatal(err)
		}
		ek, err := mlkem.NewEncapsulationKey768(pub.Public)
		if err != nil {
			t.Fatal(err)
		}
		shared, ct := ek.Encapsulate()
		got, err := dk.Decapsulate(ct)
		if err != nil || !bytes.Equal(got, shared) {
			t.Fatalf("ML-KEM round trip: %v", err)
		}
		_, err = priv.X25519()
		wantErr(t, err, keys.ErrWrongKind)
		return
	}
	k, err := priv.X25519()
	if err != nil {
		t.Fatal(err)
	}
	kpub, err := prim.X25519Public(k)
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "X25519 public", kpub[:], pub.Public)
	_, err = priv.KEM()
	wantErr(t, err, keys.ErrWrongKind)
}

func TestGeneratePrekeyRefusals(t *testing.T) {
	d := newDevice(t, "alice")
	for _, k := range []keys.PrekeyKind{0, 5, 255} {
		r := bytes.NewReader(make([]byte, 100))
		priv, pub, err := d.GeneratePrekey(r, k, 1)
		if priv != nil || pub != nil || !errors.Is(err, keys.ErrWrongKind) || r.Len() != 100 {
			t.Fatalf("kind %d: %v %v %v, read %d", k, priv, pub, err, 100-r.Len())
		}
	}
	for _, kind := range allKinds {
		priv, pub, err := d.GeneratePrekey(bytes.NewReader(make([]byte, 31)), kind, 1)
		if priv != nil || pub != nil || err == nil {
			t.Fatalf("%v: short randomness accepted", kind)
		}
	}
	bad := &keys.PrekeyPrivate{Kind: keys.LastResortKEMPrekey, Secret: make([]byte, 63)}
	_, err := bad.KEM()
	wantErr(t, err, keys.ErrMalformed)
	unknown := &keys.PrekeyPrivate{Kind: 7, Secret: make([]byte, 32)}
	_, err = unknown.X25519()
	wantErr(t, err, keys.ErrWrongKind)
}

func TestParsePrekeyRefusals(t *testing.T) {
	d := newDevice(t, "alice")
	refuse := func(name string, in []byte) {
		t.Helper()
		p, err := keys.ParsePrekey(in)
		if p != nil || !errors.Is(err, keys.ErrMalformed) {
			t.Fatalf("%s: got %v, %v; want ErrMalformed", name, p, err)
		}
	}
	for _, kind := range allKinds {
		enc := newPrekey(t, d, kind, 1).Marshal()
		for n := range len(enc) {
			refuse("truncated", enc[:n])
		}
		eachTrailing(enc, func(_ byte, in []byte) { refuse("trailing byte", in) })
	}
	spk := newPrekey(t, d, keys.SignedPrekey, 1).Marshal()
	for k := range 256 {
		if k < 1 || k > 4 {
			in := clone(spk)
			in[0] = byte(k)
			refuse("unknown kind", in)
		}
	}
	for _, h := range badX25519 {
		in := clone(spk)
		copy(in[5:], unhex(t, h))
		refuse("X25519 key "+h, in)
	}
	// ML-KEM-768: a 12-bit coefficient ≥ q = 3329 fails the FIPS 203 §7.2
	// modulus check; q - 1 passes it (and then fails the signature).
	kem := newPrekey(t, d, keys.OneTimeKEMPrekey, 1).Marshal()
	for _, c := range []struct {
		i  int
		v  uint16
		ok bool
	}{{0, 3329, false}, {0, 4095, false}, {767, 3329, false}, {1, 3329, false}, {0, 3328, true}, {767, 0, true}} {
		in := clone(kem)
		setCoefficient(in[5:5+1152], c.i, c.v)
		if !c.ok {
			refuse("ML-KEM key coefficient", in)
			continue
		}
		p := mustParsePrekey(t, in)
		if bytes.Equal(in, kem) {
			continue
		}
		wantErr(t, p.Verify(d.Public().Signing), keys.ErrBadSignature)
	}
}

// setCoefficient sets coefficient i of ByteEncode12 output b to v (FIPS 203
// Algorithm 5: two 12-bit values, little-endian, in each 3 bytes).
func setCoefficient(b []byte, i int, v uint16) {
	j := i / 2 * 3
	if i%2 == 0 {
		b[j] = byte(v)
		b[j+1] = b[j+1]&0xf0 | byte(v>>8)
	} else {
		b[j+1] = b[j+1]&0x0f | byte(v<<4)
		b[j+2] = byte(v >> 4)
	}
}

// TestPrekeyBitFlips flips every bit of an X25519 and an ML-KEM prekey:
// each flip is refused when parsing or when verifying.
func TestPrekeyBitFlips(t *testing.T) {
	d := newDevice(t, "alice")
	for _, kind := range []keys.PrekeyKind{keys.SignedPrekey, keys.LastResortKEMPrekey} {
		enc := newPrekey(t, d, kind, 1).Marshal()
		step := 1
		if testing.Short() && kind.IsKEM() {
			step = 7
		}
		for i := 0; i < len(enc)*8; i += step {
			in := clone(enc)
			in[i/8] ^= 1 << (i % 8)
			p, err := keys.ParsePrekey(in)
			if err != nil {
				wantErr(t, err, keys.ErrMalformed)
				continue
			}
			wantErr(t, p.Verify(d.Public().Signing), keys.ErrBadSignature)
			sameBytes(t, "prekey after a refused Verify", p.Marshal(), in)
		}
	}
}

func TestPrekeyVerifyRefusals(t *testing.T) {
	d, other := newDevice(t, "alice"), newDevice(t, "mallory")
	p := newPrekey(t, d, keys.SignedPrekey, 1)
	enc := p.Marshal()
	wantErr(t, p.Verify(other.Public().Signing), keys.ErrBadSignature)
	for _, h := range badEd25519 {
		wantErr(t, p.Verify([32]byte(unhex(t, h))), keys.ErrMalformed)
	}
	// Kind and id are signed.
	p.Kind = keys.OneTimePrekey
	wantErr(t, p.Verify(d.Public().Signing), keys.ErrBadSignature)
	p.Kind, p.ID = keys.SignedPrekey, 2
	wantErr(t, p.Verify(d.Public().Signing), keys.ErrBadSignature)
	p.ID = 1
	sameBytes(t, "prekey after refusals", p.Marshal(), enc)

	// Hand-built prekeys with a key that does not fit the kind.
	for _, hb := range []*keys.Prekey{
		{Kind: keys.SignedPrekey, Public: make([]byte, 31)},
		{Kind: keys.LastResortKEMPrekey, Public: make([]byte, 32)},
		{Kind: 9, Public: make([]byte, 32)},
		{Kind: keys.OneTimePrekey, Public: make([]byte, 32)}, // u = 0
		{Kind: keys.OneTimePrekey},
	} {
		wantErr(t, hb.Verify(d.Public().Signing), keys.ErrMalformed)
	}
}
