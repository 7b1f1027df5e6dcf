package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
)

// kemDevice is a recipient device with the last-resort KEM prekeys it
// holds: the current one first, then replaced ones it still keeps.
type kemDevice struct {
	*device
	priv []*keys.PrekeyPrivate
	pub  []*keys.Prekey
	// lookups counts the calls of lookup.
	lookups int
}

func newKEMDevice(t testing.TB, label, handle string, n int) *kemDevice {
	t.Helper()
	d := &kemDevice{device: newDevice(t, label, handle)}
	for i := range n {
		d.addPrekey(t, keys.LastResortKEMPrekey, fmt.Sprintf("%s %d", label, i))
	}
	return d
}

func (d *kemDevice) addPrekey(t testing.TB, kind keys.PrekeyKind, label string) (*keys.PrekeyPrivate, *keys.Prekey) {
	t.Helper()
	priv, pub, err := d.keys.GeneratePrekey(testrand.New("seal test prekey "+label), kind, uint32(len(d.priv)+1))
	if err != nil {
		t.Fatal(err)
	}
	d.priv, d.pub = append(d.priv, priv), append(d.pub, pub)
	return priv, pub
}

// lookup is the recipient's KEMKeys: every prekey it holds, by key id.
func (d *kemDevice) lookup(id KeyID) (*keys.PrekeyPrivate, bool) {
	d.lookups++
	for i, p := range d.pub {
		if kid, err := KEMKeyID(p); err == nil && kid == id {
			return d.priv[i], true
		}
	}
	return nil, false
}

func sealHybridOK(t testing.TB, rnd io.Reader, from *device, to *kemDevice, kem *keys.Prekey, msg []byte) []byte {
	t.Helper()
	env, err := SealHybrid(rnd, from.keys, from.cert, to.keys.Public(), kem, msg)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// mustRefuseOpenHybrid checks that OpenHybrid refuses env with want,
// returns nothing, leaves env unchanged, and that an ErrDecrypt is the bare
// sentinel.
func mustRefuseOpenHybrid(t *testing.T, to *device, kemKeys KEMKeys, env []byte, want error) {
	t.Helper()
	before := bytes.Clone(env)
	o, err := OpenHybrid(to.keys, kemKeys, env)
	if !errors.Is(err, want) || o != nil {
		t.Fatalf("OpenHybrid = %v, %v; want nil, %v", o, err, want)
	}
	if want == ErrDecrypt && err != ErrDecrypt {
		t.Fatalf("OpenHybrid error %q carries detail", err)
	}
	if !bytes.Equal(env, before) {
		t.Fatal("OpenHybrid modified the envelope")
	}
}

// hybridReason returns the check openHybrid refused env at, or nil; the
// key id must name one of to's prekeys.
func hybridReason(t *testing.T, to *kemDevice, env []byte) error {
	t.Helper()
	dk, K, ok := lookupKEM(to.lookup, KeyID(env[offKeyID2:offCT2]))
	if !ok {
		t.Fatal("unknown key id")
	}
	_, err := openHybrid(to.keys, dk, K, env)
	return err
}

func TestHybridConstants(t *testing.T) {
	// spec/seal.md §10.1 - §10.3.
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"OverheadHybrid", OverheadHybrid, 1367},
		{"KEMCiphertextSize", KEMCiphertextSize, 1088},
		{"offKeyID2", offKeyID2, 33},
		{"offCT2", offCT2, 41},
		{"offC1v2", offC1v2, 1129},
		{"offC2v2", offC2v2, 1351},
		{"MinHybridEnvelopeSize", MinHybridEnvelopeSize, 2048},
		{"MaxHybridMessageSize", MaxHybridMessageSize, 260773},
		{"len(LabelTranscriptHybrid)", len(LabelTranscriptHybrid), 27},
		{"len(LabelEphemeralHybrid)", len(LabelEphemeralHybrid), 26},
		{"len(LabelStaticHybrid)", len(LabelStaticHybrid), 23},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	// The smallest bucket is the smallest power of two that holds the
	// overhead and the length field.
	if MinHybridEnvelopeSize/2 >= OverheadHybrid+LengthFieldSize || MinHybridEnvelopeSize < OverheadHybrid+LengthFieldSize {
		t.Error("MinHybridEnvelopeSize is not the smallest bucket")
	}
}

func TestBucketSizeHybrid(t *testing.T) {
	// spec/seal.md §10.3: each bucket b holds b-1371 message bytes; one
	// more takes the next bucket.
	n := 0
	for b := MinHybridEnvelopeSize; b <= MaxEnvelopeSize; b <<= 1 {
		n++
		for _, c := range []struct{ msg, want int }{{b - 1371, b}, {b - 1372, b}, {b - 1370, 2 * b}} {
			if c.msg > MaxHybridMessageSize {
				continue
			}
			if got, err := BucketSizeHybrid(c.msg); err != nil || got != c.want {
				t.Errorf("BucketSizeHybrid(%d) = %d, %v; want %d", c.msg, got, err, c.want)
			}
		}
	}
	if n != 8 {
		t.Errorf("%d buckets, want 8", n)
	}
	for msg, want := range map[int]int{0: 2048, 100: 2048, 677: 2048, 678: 4096, 1024: 4096} {
		if got, err := BucketSizeHybrid(msg); err != nil || got != want {
			t.Errorf("BucketSizeHybrid(%d) = %d, %v; want %d", msg, got, err, want)
		}
	}
	for _, bad := range []int{MaxHybridMessageSize + 1, -1, 1 << 40} {
		if got, err := BucketSizeHybrid(bad); !errors.Is(err, ErrTooLarge) || got != 0 {
			t.Errorf("BucketSizeHybrid(%d) = %d, %v; want ErrTooLarge", bad, got, err)
		}
	}
}

func TestHybridRoundTrip(t *testing.T) {
	alice := newDevice(t, "alice", "alice")
	bob := newKEMDevice(t, "bob", "bob", 1)
	kid, err := KEMKeyID(bob.pub[0])
	if err != nil {
		t.Fatal(err)
	}
	rnd := testrand.New("hybrid round trip")
	for _, n := range []int{0, 1, 100, 677, 678, 1024, 100000, MaxHybridMessageSize} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			msg := make([]byte, n)
			rnd.Read(msg)
			env := sealHybridOK(t, rnd, alice, bob, bob.pub[0], msg)
			want, _ := BucketSizeHybrid(n)
			if len(env) != want || !ValidEnvelopeSize(len(env)) {
				t.Fatalf("envelope of %d bytes, want %d", len(env), want)
			}
			if env[0] != VersionHybrid || KeyID(env[offKeyID2:offCT2]) != kid {
				t.Fatalf("header %x", env[:offCT2])
			}
			bob.lookups = 0
			o, err := OpenHybrid(bob.keys, bob.lookup, env)
			if err != nil {
				t.Fatal(err)
			}
			if bob.lookups != 1 {
				t.Fatalf("%d lookups", bob.lookups)
			}
			if !bytes.Equal(o.Message, msg) || !bytes.Equal(o.Sender.Marshal(), alice.cert.Marshal()) || o.Version != VersionHybrid {
				t.Fatal("OpenHybrid returned another message, sender or version")
			}
			if err := o.Sender.VerifyFor("alice", alice.account.Public()); err != nil {
				t.Fatal(err)
			}
			for _, secret := range [][]byte{[]byte("alice"), alice.cert.AccountKey[:], alice.cert.Keys.DH[:], alice.cert.Keys.Signing[:]} {
				if bytes.Contains(env, secret) {
					t.Fatalf("envelope contains %x in the clear", secret)
				}
			}
		})
	}
	// OpenHybrid opens version 1 envelopes as Open does, without asking
	// for a KEM key.
	env := sealOK(t, rnd, alice, bob.device, []byte("v1"))
	bob.lookups = 0
	if o, err := OpenHybrid(bob.keys, bob.lookup, env); err != nil || string(o.Message) != "v1" || o.Version != Version || bob.lookups != 0 {
		t.Fatalf("OpenHybrid(v1) = %v, %v after %d lookups", o, err, bob.lookups)
	}
	if o, err := OpenHybrid(bob.keys, nil, env); err != nil || string(o.Message) != "v1" {
		t.Fatalf("OpenHybrid(v1, nil) = %v, %v", o, err)
	}
}

// A recipient keeps replaced last-resort prekeys (spec/client.md §7.2): an
// envelope sealed to any of them opens, and each envelope names its key.
func TestHybridRetainedKeys(t *testing.T) {
	alice := newDevice(t, "alice", "alice")
	bob := newKEMDevice(t, "bob", "bob", 3)
	rnd := testrand.New("retained")
	for i, p := range bob.pub {
		env := sealHybridOK(t, rnd, alice, bob, p, []byte{byte(i)})
		if o, err := OpenHybrid(bob.keys, bob.lookup, env); err != nil || !bytes.Equal(o.Message, []byte{byte(i)}) {
			t.Fatalf("prekey %d: %v", i, err)
		}
	}
}

func TestHybridDeterministic(t *testing.T) {
	alice := newDevice(t, "alice", "alice")
	bob := newKEMDevice(t, "bob", "bob", 1)
	seed := make([]byte, 64)
	testrand.New("deterministic").Read(seed)
	a := sealHybridOK(t, bytes.NewReader(seed), alice, bob, bob.pub[0], []byte("hi"))
	b := sealHybridOK(t, bytes.NewReader(seed), alice, bob, bob.pub[0], []byte("hi"))
	if !bytes.Equal(a, b) {
		t.Fatal("SealHybrid is not deterministic given its randomness")
	}
	// Fresh randomness: another E and another KEM ciphertext.
	c := sealHybridOK(t, testrand.New("fresh"), alice, bob, bob.pub[0], []byte("hi"))
	if bytes.Equal(a[offEphemeral:offKeyID2], c[offEphemeral:offKeyID2]) || bytes.Equal(a[offCT2:offC1v2], c[offCT2:offC1v2]) {
		t.Fatal("two envelopes share their ephemeral key or KEM ciphertext")
	}
	// The system source: crypto/mlkem draws m itself.
	d := sealHybridOK(t, rand.Reader, alice, bob, bob.pub[0], []byte("hi"))
	if o, err := OpenHybrid(bob.keys, bob.lookup, d); err != nil || string(o.Message) != "hi" {
		t.Fatalf("crypto/rand.Reader: %v", err)
	}
}

func TestSealHybridReadsExactly64(t *testing.T) {
	alice := newDevice(t, "alice", "alice")
	bob := newKEMDevice(t, "bob", "bob", 1)
	r := &countingReader{r: testrand.New("count")}
	sealHybridOK(t, r, alice, bob, bob.pub[0], []byte("x"))
	if r.n != 64 {
		t.Fatalf("SealHybrid read %d random bytes, want 64", r.n)
	}
	for _, n := range []int{0, 31, 32, 63} {
		env, err := SealHybrid(bytes.NewReader(make([]byte, n)), alice.keys, alice.cert, bob.keys.Public(), bob.pub[0], []byte("x"))
		if err == nil || env != nil {
			t.Fatalf("%d random bytes: SealHybrid = %d bytes, %v", n, len(env), err)
		}
	}
}

// mustRefuseSealHybrid checks that SealHybrid refuses with want, returns
// nothing, read no randomness and left the message unchanged.
func mustRefuseSealHybrid(t *testing.T, from *device, cert *keys.DeviceCertificate, to keys.DevicePublicKeys, kem *keys.Prekey, msg []byte, want ...error) {
	t.Helper()
	r := &countingReader{r: testrand.New("refused seal")}
	before := bytes.Clone(msg)
	env, err := SealHybrid(r, from.keys, cert, to, kem, msg)
	if err == nil || env != nil {
		t.Fatalf("SealHybrid = %d bytes, %v; want nil, %v", len(env), err, want)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Fatalf("SealHybrid error %v, want %v", err, w)
		}
	}
	if r.n != 0 {
		t.Fatalf("refused SealHybrid read %d random bytes", r.n)
	}
	if !bytes.Equal(msg, before) {
		t.Fatal("SealHybrid modified the message")
	}
}

func TestSealHybridRefuses(t *testing.T) {
	alice, mallory := newDevice(t, "alice", "alice"), newDevice(t, "mallory", "mallory")
	bob := newKEMDevice(t, "bob", "bob", 1)
	carol := newKEMDevice(t, "carol", "carol", 1)
	_, oneTime := bob.addPrekey(t, keys.OneTimeKEMPrekey, "bob one-time")
	_, signed := bob.addPrekey(t, keys.SignedPrekey, "bob signed")
	msg := []byte("hello")
	to, kem := bob.keys.Public(), bob.pub[0]

	t.Run("too large", func(t *testing.T) {
		mustRefuseSealHybrid(t, alice, alice.cert, to, kem, make([]byte, MaxHybridMessageSize+1), ErrTooLarge)
	})
	t.Run("sender keys not certified", func(t *testing.T) {
		mustRefuseSealHybrid(t, mallory, alice.cert, to, kem, msg, ErrSenderMismatch)
	})
	t.Run("certificate that does not parse", func(t *testing.T) {
		c := *alice.cert
		c.Handle = "Alice"
		mustRefuseSealHybrid(t, alice, &c, to, kem, msg, keys.ErrMalformed)
	})
	t.Run("invalid recipient key", func(t *testing.T) {
		bad := to
		bad.DH = [32]byte{}
		mustRefuseSealHybrid(t, alice, alice.cert, bad, kem, msg)
	})
	t.Run("no KEM prekey", func(t *testing.T) {
		mustRefuseSealHybrid(t, alice, alice.cert, to, nil, msg, ErrBadKEMPrekey)
	})
	t.Run("one-time KEM prekey", func(t *testing.T) {
		mustRefuseSealHybrid(t, alice, alice.cert, to, oneTime, msg, ErrBadKEMPrekey, keys.ErrWrongKind)
	})
	t.Run("X25519 prekey", func(t *testing.T) {
		mustRefuseSealHybrid(t, alice, alice.cert, to, signed, msg, ErrBadKEMPrekey, keys.ErrWrongKind)
	})
	t.Run("another device's prekey", func(t *testing.T) {
		mustRefuseSealHybrid(t, alice, alice.cert, to, carol.pub[0], msg, ErrBadKEMPrekey, keys.ErrBadSignature)
	})
	t.Run("recipient signing key missing", func(t *testing.T) {
		mustRefuseSealHybrid(t, alice, alice.cert, keys.DevicePublicKeys{DH: to.DH}, kem, msg, ErrBadKEMPrekey, keys.ErrMalformed)
	})
	t.Run("KEM key changed", func(t *testing.T) {
		p := *kem
		p.Public = bytes.Clone(kem.Public)
		p.Public[1200-100] ^= 1
		mustRefuseSealHybrid(t, alice, alice.cert, to, &p, msg, ErrBadKEMPrekey)
	})
	t.Run("KEM key not reduced", func(t *testing.T) {
		p := *kem
		p.Public = bytes.Clone(kem.Public)
		p.Public[0], p.Public[1] = 0xff, 0xff // first coefficient 4095 >= q
		mustRefuseSealHybrid(t, alice, alice.cert, to, &p, msg, ErrBadKEMPrekey, keys.ErrMalformed)
	})
	t.Run("nil sender", func(t *testing.T) {
		env, err := SealHybrid(testrand.New("x"), nil, alice.cert, to, kem, msg)
		if err == nil || env != nil {
			t.Fatalf("SealHybrid = %d bytes, %v", len(env), err)
		}
	})
	t.Run("KEMKeyID of another kind", func(t *testing.T) {
		for _, p := range []*keys.Prekey{nil, oneTime, signed} {
			if id, err := KEMKeyID(p); !errors.Is(err, ErrBadKEMPrekey) || id != (KeyID{}) {
				t.Fatalf("KEMKeyID = %x, %v", id, err)
			}
		}
	})
}

func TestOpenHybridRefuses(t *testing.T) {
	alice := newDevice(t, "alice", "alice")
	bob := newKEMDevice(t, "bob", "bob", 2)
	carol := newKEMDevice(t, "carol", "carol", 1)
	env := sealHybridOK(t, testrand.New("open refuses"), alice, bob, bob.pub[0], []byte("hello"))

	t.Run("no KEM keys", func(t *testing.T) {
		mustRefuseOpenHybrid(t, bob.device, nil, env, ErrNoKEMKeys)
		mustRefuseOpen(t, bob.device, env, ErrNoKEMKeys)
	})
	t.Run("unknown key id", func(t *testing.T) {
		mustRefuseOpenHybrid(t, bob.device, carol.lookup, env, ErrUnknownKEMKey)
		none := func(KeyID) (*keys.PrekeyPrivate, bool) { return nil, false }
		mustRefuseOpenHybrid(t, bob.device, none, env, ErrUnknownKEMKey)
	})
	t.Run("flipped key id", func(t *testing.T) {
		for i := offKeyID2; i < offCT2; i++ {
			bad := bytes.Clone(env)
			bad[i] ^= 0x10
			mustRefuseOpenHybrid(t, bob.device, bob.lookup, bad, ErrUnknownKEMKey)
		}
	})
	t.Run("lookup answers with another key", func(t *testing.T) {
		for _, lie := range []KEMKeys{
			func(KeyID) (*keys.PrekeyPrivate, bool) { return bob.priv[1], true },
			func(KeyID) (*keys.PrekeyPrivate, bool) { return nil, true },
			func(KeyID) (*keys.PrekeyPrivate, bool) {
				return &keys.PrekeyPrivate{Kind: keys.LastResortKEMPrekey}, true
			},
		} {
			mustRefuseOpenHybrid(t, bob.device, lie, env, ErrUnknownKEMKey)
		}
	})
	t.Run("lookup answers with a one-time KEM prekey", func(t *testing.T) {
		priv, pub := bob.addPrekey(t, keys.OneTimeKEMPrekey, "bob one-time")
		// The same key as a one-time prekey: the key id matches, the kind
		// does not.
		K := kemKeyHash(pub.Public)
		bad := bytes.Clone(env)
		copy(bad[offKeyID2:offCT2], K[:KeyIDSize])
		lookup := func(KeyID) (*keys.PrekeyPrivate, bool) { return priv, true }
		mustRefuseOpenHybrid(t, bob.device, lookup, bad, ErrUnknownKEMKey)
	})
	t.Run("key id of another held key", func(t *testing.T) {
		// The lookup finds bob's other prekey; decapsulation gives an
		// unrelated secret and c1 does not authenticate.
		kid, _ := KEMKeyID(bob.pub[1])
		bad := bytes.Clone(env)
		copy(bad[offKeyID2:offCT2], kid[:])
		mustRefuseOpenHybrid(t, bob.device, bob.lookup, bad, ErrDecrypt)
		if got := hybridReason(t, bob, bad); got != errCertCipher {
			t.Fatalf("refused at %v", got)
		}
	})
	t.Run("flipped KEM ciphertext", func(t *testing.T) {
		for _, i := range []int{offCT2, offCT2 + 500, offC1v2 - 1} {
			bad := bytes.Clone(env)
			bad[i] ^= 0x01
			mustRefuseOpenHybrid(t, bob.device, bob.lookup, bad, ErrDecrypt)
			if got := hybridReason(t, bob, bad); got != errCertCipher {
				t.Fatalf("byte %d: refused at %v", i, got)
			}
		}
	})
	t.Run("KEM ciphertext of another envelope", func(t *testing.T) {
		// Same key, another ciphertext: the X25519 part is intact, the KEM
		// part is not.
		other := sealHybridOK(t, testrand.New("other"), alice, bob, bob.pub[0], []byte("hello"))
		bad := bytes.Clone(env)
		copy(bad[offCT2:offC1v2], other[offCT2:offC1v2])
		mustRefuseOpenHybrid(t, bob.device, bob.lookup, bad, ErrDecrypt)
	})
	t.Run("sealed to another device's X25519 key", func(t *testing.T) {
		// The KEM part is intact, the X25519 part is not.
		to := bob.keys.Public()
		to.DH = carol.keys.Public().DH
		wrong, err := SealHybrid(testrand.New("wrong"), alice.keys, alice.cert, to, bob.pub[0], []byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		mustRefuseOpenHybrid(t, bob.device, bob.lookup, wrong, ErrDecrypt)
	})
	t.Run("ephemeral key refused", func(t *testing.T) {
		bad := bytes.Clone(env)
		clear(bad[offEphemeral:offKeyID2])
		mustRefuseOpenHybrid(t, bob.device, bob.lookup, bad, ErrDecrypt)
		if got := hybridReason(t, bob, bad); got != errEphemeralKey {
			t.Fatalf("refused at %v", got)
		}
	})
	t.Run("structure", func(t *testing.T) {
		for name, bad := range map[string][]byte{
			"truncated":          env[:len(env)-1],
			"extended":           append(bytes.Clone(env), 0),
			"cut to 1024 bytes":  env[:1024],
			"cut to 512 bytes":   env[:512],
			"header":             env[:offC2v2],
			"version 3":          append([]byte{3}, env[1:]...),
			"version 0":          append([]byte{0}, env[1:]...),
			"version 0x82 (bit)": append([]byte{0x82}, env[1:]...),
		} {
			t.Run(name, func(t *testing.T) { mustRefuseOpenHybrid(t, bob.device, bob.lookup, bad, ErrMalformed) })
		}
	})
	t.Run("opened as version 1", func(t *testing.T) {
		// Byte 0 changed to 0x01: the version 1 layout over version 2
		// bytes does not authenticate.
		bad := append([]byte{Version}, env[1:]...)
		mustRefuseOpenHybrid(t, bob.device, bob.lookup, bad, ErrDecrypt)
	})
	t.Run("version 1 relabelled as version 2", func(t *testing.T) {
		v1 := sealOK(t, testrand.New("v1"), alice, bob.device, make([]byte, 1024)) // 2048 bytes
		bad := append([]byte{VersionHybrid}, v1[1:]...)
		mustRefuseOpenHybrid(t, bob.device, bob.lookup, bad, ErrUnknownKEMKey)
	})
	t.Run("wrong recipient", func(t *testing.T) {
		mustRefuseOpenHybrid(t, carol.device, bob.lookup, env, ErrDecrypt)
	})
}

// A version 2 envelope sealed with the version 1 static label, or the
// version 1 ephemeral derivation, does not open: the versions share no key.
func TestHybridLabels(t *testing.T) {
	alice := newDevice(t, "alice", "alice")
	bob := newKEMDevice(t, "bob", "bob", 1)
	env := sealHybridOK(t, testrand.New("labels"), alice, bob, bob.pub[0], []byte("x"))
	dk, K, ok := lookupKEM(bob.lookup, KeyID(env[offKeyID2:offCT2]))
	if !ok {
		t.Fatal("lookup")
	}
	R := bob.keys.Public().DH
	eDH, err := prim.DH(bob.keys.DH(), env[offEphemeral:offKeyID2])
	if err != nil {
		t.Fatal(err)
	}
	ss, err := dk.Decapsulate(env[offCT2:offC1v2])
	if err != nil {
		t.Fatal(err)
	}
	_, chainKey, k1, n1 := ephemeralKeysHybrid(eDH, ss, hybridSalt(env[:offC1v2], R[:], K))
	if _, err := openLayers(bob.keys, env, offC1v2, offC2v2, chainKey, k1, n1, LabelStatic); err != errMsgCipher {
		t.Fatalf("version 1 static label: %v", err)
	}
	if _, err := openLayers(bob.keys, env, offC1v2, offC2v2, chainKey, k1, n1, LabelStaticHybrid); err != nil {
		t.Fatalf("version 2 static label: %v", err)
	}
	_, _, k1, n1 = ephemeralKeys(eDH, env[offEphemeral:offKeyID2], R[:])
	if _, err := openLayers(bob.keys, env, offC1v2, offC2v2, chainKey, k1, n1, LabelStaticHybrid); err != errCertCipher {
		t.Fatalf("version 1 ephemeral derivation: %v", err)
	}
}
