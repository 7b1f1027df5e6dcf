package fuzz

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/seal"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
)

// FuzzSealOpen opens arbitrary envelopes for an arbitrary recipient device,
// then seals the fuzzed message to that device and opens it again. Seeds are
// every case of spec/vectors/seal.json.
//
// Checks: no panic; Open never modifies its input and refuses with exactly
// ErrMalformed (for a wrong size or version, and only then) or the bare
// ErrDecrypt; an accepted envelope has a valid size, a message that fits,
// and a sender certificate that verifies and re-encodes to itself. Sealing
// is deterministic given its randomness, and Open inverts Seal.
//
// There is no marshal(parse(x)) == x check for Open itself: re-sealing needs
// the sender's private key and the ephemeral key, which the receiver never
// has. The seal-then-open half checks the inverse direction instead.
func FuzzSealOpen(f *testing.F) {
	vf, err := vectors.Load[vectors.SealCase]("seal.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range vf.Cases {
		f.Add([]byte(c.RecipientSigningSeed), []byte(c.RecipientDHPrivate), []byte(c.Envelope), []byte(c.Message))
	}

	r := testrand.New("fuzz seal sender")
	account, err := keys.GenerateAccountKey(r)
	if err != nil {
		f.Fatal(err)
	}
	sender, err := keys.GenerateDeviceKeys(r)
	if err != nil {
		f.Fatal(err)
	}
	cert, err := account.CertifyDevice("fuzz.sender", 7, sender.Public(), time.Unix(1767225600, 0))
	if err != nil {
		f.Fatal(err)
	}
	ephemeral := make([]byte, 32)
	r.Read(ephemeral)

	f.Fuzz(func(t *testing.T, signingSeed, dhPrivate, envelope, message []byte) {
		recipient, err := keys.NewDevicePrivateKeys(signingSeed, dhPrivate)
		if err != nil {
			return
		}
		fuzzOpen(t, recipient, envelope)

		// Seal, twice with the same randomness, then open.
		env, err := seal.Seal(bytes.NewReader(ephemeral), sender, cert, recipient.Public(), message)
		if len(message) > seal.MaxMessageSize {
			if !errors.Is(err, seal.ErrTooLarge) || env != nil {
				t.Fatalf("Seal of %d bytes = %v", len(message), err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		again, err := seal.Seal(bytes.NewReader(ephemeral), sender, cert, recipient.Public(), message)
		if err != nil || !bytes.Equal(env, again) {
			t.Fatalf("Seal is not deterministic given its randomness: %v", err)
		}
		if want, _ := seal.BucketSize(len(message)); len(env) != want {
			t.Fatalf("envelope of %d bytes for a %d-byte message, want %d", len(env), len(message), want)
		}
		o, err := seal.Open(recipient, env)
		if err != nil {
			t.Fatalf("Open(Seal(m)): %v", err)
		}
		if !bytes.Equal(o.Message, message) || !bytes.Equal(o.Sender.Marshal(), cert.Marshal()) {
			t.Fatal("Open(Seal(m)) returned another message or sender")
		}
	})
}

func fuzzOpen(t *testing.T, recipient *keys.DevicePrivateKeys, envelope []byte) {
	before := bytes.Clone(envelope)
	o, err := seal.Open(recipient, envelope)
	if !bytes.Equal(envelope, before) {
		t.Fatal("Open modified its input")
	}
	structural := !seal.ValidEnvelopeSize(len(envelope)) || (envelope[0] != seal.Version && !hybridShape(envelope))
	if err != nil {
		if o != nil {
			t.Fatal("Open returned a result with an error")
		}
		// A version 2 envelope needs KEM keys (spec/seal.md §10.6 step 3).
		if hybridShape(envelope) {
			if !errors.Is(err, seal.ErrNoKEMKeys) {
				t.Fatalf("Open error %v for a version 2 envelope", err)
			}
			return
		}
		if errors.Is(err, seal.ErrMalformed) != structural || (!structural && err != seal.ErrDecrypt) {
			t.Fatalf("Open error %v for an envelope of %d bytes", err, len(envelope))
		}
		return
	}
	if structural || envelope[0] != seal.Version || o.Version != seal.Version || len(o.Message) > len(envelope)-seal.Overhead-seal.LengthFieldSize {
		t.Fatalf("Open accepted a %d-byte envelope with a %d-byte message", len(envelope), len(o.Message))
	}
	if err := o.Sender.Verify(); err != nil {
		t.Fatalf("accepted sender certificate does not verify: %v", err)
	}
	enc := o.Sender.Marshal()
	c, err := keys.ParseDeviceCertificate(enc)
	if err != nil || !bytes.Equal(c.Marshal(), enc) {
		t.Fatalf("accepted sender certificate does not round-trip: %v", err)
	}
}

// hybridShape reports whether envelope passes the structural checks of a
// version 2 envelope (spec/seal.md §10.6 steps 1-2).
func hybridShape(envelope []byte) bool {
	return seal.ValidEnvelopeSize(len(envelope)) && len(envelope) >= seal.MinHybridEnvelopeSize && envelope[0] == seal.VersionHybrid
}

// FuzzSealOpenHybrid is FuzzSealOpen for version 2 envelopes: the recipient
// device holds one last-resort ML-KEM-768 prekey, made from the fuzzed
// 64-byte seed, and opens arbitrary envelopes with OpenHybrid; then the
// fuzzed message is sealed to that prekey with SealHybrid and opened again.
// Seeds are every case of spec/vectors/seal-v2.json.
//
// Checks: no panic; OpenHybrid never modifies its input and refuses with
// exactly ErrMalformed (for a wrong size or version, and only then),
// ErrUnknownKEMKey (for a well-shaped version 2 envelope naming another
// key id, and only then) or the bare ErrDecrypt; Open without KEM keys
// refuses every well-shaped version 2 envelope with ErrNoKEMKeys; an
// accepted envelope has a valid size, a message that fits and a sender
// certificate that verifies; SealHybrid is deterministic given its 64
// bytes of randomness, and OpenHybrid inverts it.
func FuzzSealOpenHybrid(f *testing.F) {
	vf, err := vectors.Load[vectors.SealHybridCase]("seal-v2.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range vf.Cases {
		f.Add([]byte(c.RecipientSigningSeed), []byte(c.RecipientDHPrivate), []byte(c.RecipientKEMPrekeys[0].Seed), []byte(c.Envelope), []byte(c.Message))
	}

	r := testrand.New("fuzz seal hybrid sender")
	account, err := keys.GenerateAccountKey(r)
	if err != nil {
		f.Fatal(err)
	}
	sender, err := keys.GenerateDeviceKeys(r)
	if err != nil {
		f.Fatal(err)
	}
	cert, err := account.CertifyDevice("fuzz.sender", 7, sender.Public(), time.Unix(1767225600, 0))
	if err != nil {
		f.Fatal(err)
	}
	randomness := make([]byte, 64)
	r.Read(randomness)

	f.Fuzz(func(t *testing.T, signingSeed, dhPrivate, kemSeed, envelope, message []byte) {
		recipient, err := keys.NewDevicePrivateKeys(signingSeed, dhPrivate)
		if err != nil || len(kemSeed) != keys.KEMSeedSize {
			return
		}
		priv, pub, err := recipient.GeneratePrekey(bytes.NewReader(kemSeed), keys.LastResortKEMPrekey, 1)
		if err != nil {
			t.Fatal(err)
		}
		kid, err := seal.KEMKeyID(pub)
		if err != nil {
			t.Fatal(err)
		}
		lookups := 0
		lookup := func(id seal.KeyID) (*keys.PrekeyPrivate, bool) {
			lookups++
			return priv, id == kid
		}

		// Open without KEM keys, then with them.
		fuzzOpen(t, recipient, envelope)
		before := bytes.Clone(envelope)
		o, err := seal.OpenHybrid(recipient, lookup, envelope)
		if !bytes.Equal(envelope, before) {
			t.Fatal("OpenHybrid modified its input")
		}
		if lookups > 1 {
			t.Fatalf("%d lookups", lookups)
		}
		hybrid := hybridShape(envelope)
		structural := !seal.ValidEnvelopeSize(len(envelope)) || (envelope[0] != seal.Version && !hybrid)
		otherKey := hybrid && seal.KeyID(envelope[33:41]) != kid
		if err != nil {
			if o != nil {
				t.Fatal("OpenHybrid returned a result with an error")
			}
			switch {
			case structural:
				if !errors.Is(err, seal.ErrMalformed) {
					t.Fatalf("OpenHybrid error %v for a malformed envelope of %d bytes", err, len(envelope))
				}
			case otherKey:
				if !errors.Is(err, seal.ErrUnknownKEMKey) {
					t.Fatalf("OpenHybrid error %v for another key id", err)
				}
			case err != seal.ErrDecrypt:
				t.Fatalf("OpenHybrid error %v for an envelope of %d bytes", err, len(envelope))
			}
		} else {
			overhead := seal.Overhead
			if hybrid {
				overhead = seal.OverheadHybrid
			}
			if structural || otherKey || o.Version != envelope[0] || len(o.Message) > len(envelope)-overhead-seal.LengthFieldSize {
				t.Fatalf("OpenHybrid accepted a %d-byte envelope with a %d-byte message", len(envelope), len(o.Message))
			}
			if err := o.Sender.Verify(); err != nil {
				t.Fatalf("accepted sender certificate does not verify: %v", err)
			}
		}

		// SealHybrid, twice with the same randomness, then open.
		to := recipient.Public()
		env, err := seal.SealHybrid(bytes.NewReader(randomness), sender, cert, to, pub, message)
		if len(message) > seal.MaxHybridMessageSize {
			if !errors.Is(err, seal.ErrTooLarge) || env != nil {
				t.Fatalf("SealHybrid of %d bytes = %v", len(message), err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		again, err := seal.SealHybrid(bytes.NewReader(randomness), sender, cert, to, pub, message)
		if err != nil || !bytes.Equal(env, again) {
			t.Fatalf("SealHybrid is not deterministic given its randomness: %v", err)
		}
		if want, _ := seal.BucketSizeHybrid(len(message)); len(env) != want {
			t.Fatalf("envelope of %d bytes for a %d-byte message, want %d", len(env), len(message), want)
		}
		o, err = seal.OpenHybrid(recipient, lookup, env)
		if err != nil {
			t.Fatalf("OpenHybrid(SealHybrid(m)): %v", err)
		}
		if !bytes.Equal(o.Message, message) || !bytes.Equal(o.Sender.Marshal(), cert.Marshal()) || o.Version != seal.VersionHybrid {
			t.Fatal("OpenHybrid(SealHybrid(m)) returned another message, sender or version")
		}
	})
}
