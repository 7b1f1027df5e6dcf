package seal

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
)

func TestConstants(t *testing.T) {
	// spec/seal.md §2.
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"CertBlockSize", CertBlockSize, 206},
		{"Overhead", Overhead, 271},
		{"offC1", offC1, 33},
		{"offC2", offC2, 255},
		{"MaxMessageSize", MaxMessageSize, 262144 - 275},
		{"certFixed", certFixed, 174},
		{"okm1Size", okm1Size, 76},
		{"okm2Size", okm2Size, 44},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	alice := newDevice(t, "alice", "alice")
	bob := newDevice(t, "bob", "bob")
	rand := testrand.New("round trip")
	for _, n := range []int{0, 1, 237, 238, 1024, 4096 - 275, 100000, MaxMessageSize} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			msg := make([]byte, n)
			rand.Read(msg)
			env := sealOK(t, rand, alice, bob, msg)
			want, _ := BucketSize(n)
			if len(env) != want || !ValidEnvelopeSize(len(env)) {
				t.Fatalf("envelope of %d bytes, want %d", len(env), want)
			}
			o, err := Open(bob.keys, env)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(o.Message, msg) {
				t.Fatal("message changed")
			}
			if !bytes.Equal(o.Sender.Marshal(), alice.cert.Marshal()) {
				t.Fatal("sender certificate changed")
			}
			// What the caller does next: check the certificate against
			// the account key from the key directory.
			if err := o.Sender.VerifyFor("alice", alice.account.Public()); err != nil {
				t.Fatal(err)
			}
			// The relay sees neither the sender's handle nor its keys.
			for _, secret := range [][]byte{[]byte("alice"), alice.cert.AccountKey[:], alice.cert.Keys.DH[:], alice.cert.Keys.Signing[:]} {
				if bytes.Contains(env, secret) {
					t.Fatalf("envelope contains %x in the clear", secret)
				}
			}
		})
	}
}

func TestFreshEphemeral(t *testing.T) {
	alice, bob := newDevice(t, "alice", "alice"), newDevice(t, "bob", "bob")
	rand := testrand.New("fresh")
	a := sealOK(t, rand, alice, bob, []byte("hi"))
	b := sealOK(t, rand, alice, bob, []byte("hi"))
	if bytes.Equal(a[offEphemeral:offC1], b[offEphemeral:offC1]) || bytes.Equal(a, b) {
		t.Fatal("two envelopes of one message share their ephemeral key")
	}
}

func TestBucketSize(t *testing.T) {
	// spec/seal.md §3.3: each bucket b holds b-275 message bytes; one more
	// takes the next bucket.
	n := 0
	for b := MinEnvelopeSize; b <= MaxEnvelopeSize; b <<= 1 {
		n++
		for _, c := range []struct{ msg, want int }{{b - 275, b}, {b - 276, b}, {b - 274, 2 * b}} {
			if c.msg > MaxMessageSize {
				continue
			}
			if got, err := BucketSize(c.msg); err != nil || got != c.want {
				t.Errorf("BucketSize(%d) = %d, %v; want %d", c.msg, got, err, c.want)
			}
		}
		if !ValidEnvelopeSize(b) {
			t.Errorf("ValidEnvelopeSize(%d) = false", b)
		}
	}
	if n != 10 {
		t.Errorf("%d buckets, want 10", n)
	}
	if got, err := BucketSize(0); err != nil || got != 512 {
		t.Errorf("BucketSize(0) = %d, %v", got, err)
	}
	for _, bad := range []int{MaxMessageSize + 1, -1, 1 << 40} {
		if got, err := BucketSize(bad); !errors.Is(err, ErrTooLarge) || got != 0 {
			t.Errorf("BucketSize(%d) = %d, %v; want ErrTooLarge", bad, got, err)
		}
	}
	for _, bad := range []int{-512, 0, 1, 256, 511, 513, 768, 1000, 262143, 262145, 524288} {
		if ValidEnvelopeSize(bad) {
			t.Errorf("ValidEnvelopeSize(%d) = true", bad)
		}
	}
}

func TestMaxSize(t *testing.T) {
	alice, bob := newDevice(t, "alice", "alice"), newDevice(t, "bob", "bob")
	msg := bytes.Repeat([]byte{0xa5}, MaxMessageSize)
	env := sealOK(t, testrand.New("max"), alice, bob, msg)
	if len(env) != MaxEnvelopeSize {
		t.Fatalf("envelope of %d bytes", len(env))
	}
	if o, err := Open(bob.keys, env); err != nil || !bytes.Equal(o.Message, msg) {
		t.Fatalf("Open: %v", err)
	}
	mustRefuseSeal(t, alice, alice.cert, bob.keys.Public(), append(msg, 0), ErrTooLarge)
	// A full last bucket with a length field of block size + 1 is refused
	// by the length check; one of exactly the block size is the case above.
}

func TestSealRefuses(t *testing.T) {
	alice, bob, mallory := newDevice(t, "alice", "alice"), newDevice(t, "bob", "bob"), newDevice(t, "mallory", "mallory")
	msg := []byte("hello")
	to := bob.keys.Public()

	t.Run("sender keys not certified", func(t *testing.T) {
		mustRefuseSeal(t, mallory, alice.cert, to, msg, ErrSenderMismatch)
	})
	t.Run("certificate for other agreement key", func(t *testing.T) {
		c := *alice.cert
		c.Keys.DH = mallory.keys.Public().DH
		mustRefuseSeal(t, alice, &c, to, msg, ErrSenderMismatch)
	})
	t.Run("certificate that does not parse", func(t *testing.T) {
		c := *alice.cert
		c.Handle = "Alice"
		mustRefuseSeal(t, alice, &c, to, msg, keys.ErrMalformed)
	})
	t.Run("handle too long for the block", func(t *testing.T) {
		c := *alice.cert
		c.Handle = string(bytes.Repeat([]byte("a"), 40))
		mustRefuseSeal(t, alice, &c, to, msg, keys.ErrMalformed)
	})
	t.Run("nil certificate", func(t *testing.T) {
		mustRefuseSeal(t, alice, nil, to, msg, nil)
	})
	for name, dh := range map[string][32]byte{
		"zero recipient key":          {},
		"low-order recipient key":     {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
		"non-canonical recipient key": {9, 31: 0x80},
	} {
		t.Run(name, func(t *testing.T) {
			mustRefuseSeal(t, alice, alice.cert, keys.DevicePublicKeys{DH: dh}, msg, nil)
		})
	}
	t.Run("randomness fails", func(t *testing.T) {
		env, err := Seal(bytes.NewReader(make([]byte, 31)), alice.keys, alice.cert, to, msg)
		if err == nil || env != nil {
			t.Fatalf("Seal = %d bytes, %v", len(env), err)
		}
	})
	t.Run("nil sender", func(t *testing.T) {
		for _, k := range []*keys.DevicePrivateKeys{nil, {}} {
			env, err := Seal(testrand.New("x"), k, alice.cert, to, msg)
			if err == nil || env != nil {
				t.Fatalf("Seal = %d bytes, %v", len(env), err)
			}
		}
	})
	t.Run("zero certificate", func(t *testing.T) {
		mustRefuseSeal(t, alice, &keys.DeviceCertificate{}, to, msg, nil)
	})
}

func TestSealReadsExactlyOneKey(t *testing.T) {
	alice, bob := newDevice(t, "alice", "alice"), newDevice(t, "bob", "bob")
	rand := &countingReader{r: testrand.New("count")}
	sealOK(t, rand, alice, bob, []byte("x"))
	if rand.n != prim.X25519Size {
		t.Fatalf("Seal read %d random bytes, want 32", rand.n)
	}
}
