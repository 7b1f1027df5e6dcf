package seal

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/vectors"
)

// TestVectors walks spec/vectors/seal.json: it rebuilds each case's keys and
// certificate, recomputes every intermediate value, seals the recorded
// blocks with the recorded ephemeral key, re-seals with Seal where the case
// says Seal produced the envelope, and opens the given envelope.
func TestVectors(t *testing.T) {
	f, err := vectors.Load[vectors.SealCase]("seal.json")
	if err != nil {
		t.Fatal(err)
	}
	if f.Spec != "spec/seal.md" {
		t.Errorf("spec %q", f.Spec)
	}
	for _, c := range f.Cases {
		t.Run(c.ID, func(t *testing.T) { testVector(t, &c) })
	}
}

func testVector(t *testing.T, c *vectors.SealCase) {
	if c.Comment == "" {
		t.Error("no comment")
	}
	// The certificate, rebuilt from its seeds (spec/keys.md §6).
	account, err := keys.NewAccountPrivateKey(c.SenderAccountSeed)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.NewAccountPrivateKey(c.CertSignerSeed)
	if err != nil {
		t.Fatal(err)
	}
	device, err := keys.NewDevicePrivateKeys(c.SenderSigningSeed, c.SenderDHPrivate)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := signer.CertifyDevice(c.SenderHandle, keys.DeviceID(c.SenderDevice), device.Public(), time.Unix(c.SenderCreated, 0))
	if err != nil {
		t.Fatal(err)
	}
	rebuilt.AccountKey = account.Public()
	if !bytes.Equal(rebuilt.Marshal(), c.SenderCertificate) {
		t.Fatal("sender_certificate is not the certificate the seeds give")
	}
	cert, err := keys.ParseDeviceCertificate(c.SenderCertificate)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Verify() == nil && !bytes.Equal(c.CertSignerSeed, c.SenderAccountSeed) {
		t.Fatal("certificate signed by another key verifies")
	}

	sender, err := keys.NewDevicePrivateKeys(c.SenderSigningSeed, c.StaticDHPrivate)
	if err != nil {
		t.Fatal(err)
	}
	recipient, err := keys.NewDevicePrivateKeys(c.RecipientSigningSeed, c.RecipientDHPrivate)
	if err != nil {
		t.Fatal(err)
	}
	eph := c.EphemeralPrivate
	if ephPub, err := prim.X25519Public(eph); err != nil || !bytes.Equal(ephPub[:], c.EphemeralPublic) {
		t.Fatal("ephemeral_public is not the public key of ephemeral_private")
	}

	// The sealed envelope from the recorded blocks (spec/seal.md §4).
	if len(c.CertBlock) != CertBlockSize || !ValidEnvelopeSize(Overhead+len(c.MessageBlock)) {
		t.Fatalf("blocks of %d and %d bytes", len(c.CertBlock), len(c.MessageBlock))
	}
	out := make([]byte, Overhead+len(c.MessageBlock))
	out[0] = Version
	copy(out[offC1:], c.CertBlock)
	copy(out[offC2:], c.MessageBlock)
	if err := sealInPlace(out, eph, sender.DH(), c.SealedTo); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, c.Sealed) {
		t.Fatal("sealing the blocks does not give sealed")
	}

	// Intermediate values (spec/seal.md §4.1, §4.2).
	eDH, err := prim.DH(eph, c.SealedTo)
	if err != nil || !bytes.Equal(eDH, c.EphemeralDH) {
		t.Fatalf("e_dh: %v", err)
	}
	okm1, chainKey, _, _ := ephemeralKeys(eDH, c.EphemeralPublic, c.SealedTo)
	if !bytes.Equal(okm1, c.OKM1) {
		t.Fatal("okm1")
	}
	sDH, err := prim.DH(sender.DH(), c.SealedTo)
	if err != nil || !bytes.Equal(sDH, c.StaticDH) {
		t.Fatalf("s_dh: %v", err)
	}
	if okm2, _, _ := staticKeys(chainKey, c.Sealed[offC1:offC2], sDH); !bytes.Equal(okm2, c.OKM2) {
		t.Fatal("okm2")
	}

	// Re-sealing with the recorded randomness.
	if len(c.SealedTo) != 32 {
		t.Fatalf("sealed_to of %d bytes", len(c.SealedTo))
	}
	rand := bytes.NewReader(c.EphemeralPrivate)
	env, err := Seal(rand, sender, cert, keys.DevicePublicKeys{DH: [32]byte(c.SealedTo)}, c.Message)
	switch c.SealedBy {
	case "seal":
		if err != nil || !bytes.Equal(env, c.Sealed) || rand.Len() != 0 {
			t.Fatalf("Seal does not reproduce sealed: %v", err)
		}
		if !bytes.Equal(c.CertBlock, certBlockOf(cert)) || !bytes.Equal(c.MessageBlock, msgBlockOf(len(env), c.Message)) {
			t.Fatal("blocks are not the canonical ones")
		}
	case "blocks":
		if err == nil && bytes.Equal(env, c.Sealed) {
			t.Fatal("Seal reproduces an envelope the case says it cannot")
		}
	default:
		t.Fatalf("sealed_by %q", c.SealedBy)
	}

	if (c.Mutation == "") != bytes.Equal(c.Envelope, c.Sealed) {
		t.Fatalf("mutation %q does not match envelope", c.Mutation)
	}
	checkOpen(t, c, recipient)
}

func checkOpen(t *testing.T, c *vectors.SealCase, recipient *keys.DevicePrivateKeys) {
	t.Helper()
	before := bytes.Clone(c.Envelope)
	o, err := Open(recipient, c.Envelope)
	if !bytes.Equal(before, c.Envelope) {
		t.Fatal("Open modified the envelope")
	}
	switch c.Error {
	case "":
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(o.Message, c.Message) || !bytes.Equal(o.Sender.Marshal(), c.SenderCertificate) {
			t.Fatal("Open returned another message or sender")
		}
	case "malformed", "decrypt":
		want := ErrMalformed
		if c.Error == "decrypt" {
			want = ErrDecrypt
		}
		if !errors.Is(err, want) || o != nil {
			t.Fatalf("Open = %v, %v; want %v", o, err, want)
		}
	default:
		t.Fatalf("error %q", c.Error)
	}
}

// TestHybridVectors walks spec/vectors/seal-v2.json (spec/seal.md §10.8):
// it rebuilds each case's keys, prekeys and certificate, recomputes every
// intermediate value, seals the recorded blocks, re-seals with SealHybrid
// where the case says SealHybrid produced the envelope, and opens the given
// envelope with the recorded prekeys (or no KEM lookup).
func TestHybridVectors(t *testing.T) {
	f, err := vectors.Load[vectors.SealHybridCase]("seal-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	if f.Spec != "spec/seal.md" {
		t.Errorf("spec %q", f.Spec)
	}
	for _, c := range f.Cases {
		t.Run(c.ID, func(t *testing.T) { testHybridVector(t, &c) })
	}
}

func testHybridVector(t *testing.T, c *vectors.SealHybridCase) {
	if c.Comment == "" {
		t.Error("no comment")
	}
	account, err := keys.NewAccountPrivateKey(c.SenderAccountSeed)
	if err != nil {
		t.Fatal(err)
	}
	device, err := keys.NewDevicePrivateKeys(c.SenderSigningSeed, c.SenderDHPrivate)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := account.CertifyDevice(c.SenderHandle, keys.DeviceID(c.SenderDevice), device.Public(), time.Unix(c.SenderCreated, 0))
	if err != nil || !bytes.Equal(cert.Marshal(), c.SenderCertificate) {
		t.Fatalf("sender_certificate is not the certificate the seeds give: %v", err)
	}
	sender, err := keys.NewDevicePrivateKeys(c.SenderSigningSeed, c.StaticDHPrivate)
	if err != nil {
		t.Fatal(err)
	}
	recipient, err := keys.NewDevicePrivateKeys(c.RecipientSigningSeed, c.RecipientDHPrivate)
	if err != nil {
		t.Fatal(err)
	}

	// The recipient's prekeys: each encoding is what its seed gives, signed
	// by the recipient device, and its key id is KEMKeyID's.
	held := map[KeyID]*keys.PrekeyPrivate{}
	for _, p := range c.RecipientKEMPrekeys {
		priv, pub, err := recipient.GeneratePrekey(bytes.NewReader(p.Seed), keys.LastResortKEMPrekey, p.ID)
		if err != nil || !bytes.Equal(pub.Marshal(), p.Prekey) {
			t.Fatalf("prekey %d is not what its seed gives: %v", p.ID, err)
		}
		id, err := KEMKeyID(pub)
		if err != nil || !bytes.Equal(id[:], p.KeyID) {
			t.Fatalf("prekey %d key id: %v", p.ID, err)
		}
		held[id] = priv
	}
	prekey, err := keys.ParsePrekey(c.SealedToKEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := prekey.Verify(recipient.Public().Signing); err != nil {
		t.Fatalf("sealed_to_kem: %v", err)
	}
	K := kemKeyHash(prekey.Public)
	if !bytes.Equal(K[:], c.KEMKeyHash) || !bytes.Equal(K[:KeyIDSize], c.KeyID) {
		t.Fatal("kem_key_hash or key_id")
	}

	// The KEM values and the sealed envelope from the recorded blocks
	// (spec/seal.md §10.5).
	ek, err := prekey.EncapsulationKey()
	if err != nil {
		t.Fatal(err)
	}
	ss, ct, err := prim.Encapsulate768(bytes.NewReader(c.KEMRandomness), ek)
	if err != nil || !bytes.Equal(ss, c.KEMSharedSecret) || !bytes.Equal(ct, c.KEMCiphertext) {
		t.Fatalf("kem_shared_secret or kem_ciphertext: %v", err)
	}
	if len(c.CertBlock) != CertBlockSize || !ValidEnvelopeSize(OverheadHybrid+len(c.MessageBlock)) {
		t.Fatalf("blocks of %d and %d bytes", len(c.CertBlock), len(c.MessageBlock))
	}
	out := make([]byte, OverheadHybrid+len(c.MessageBlock))
	out[0] = VersionHybrid
	copy(out[offKeyID2:], c.KeyID)
	copy(out[offCT2:], ct)
	copy(out[offC1v2:], c.CertBlock)
	copy(out[offC2v2:], c.MessageBlock)
	if err := sealHybridInPlace(out, c.EphemeralPrivate, sender.DH(), c.SealedTo, ss, K); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, c.Sealed) {
		t.Fatal("sealing the blocks does not give sealed")
	}

	// Intermediate values (spec/seal.md §10.4).
	if ephPub, err := prim.X25519Public(c.EphemeralPrivate); err != nil || !bytes.Equal(ephPub[:], c.EphemeralPublic) {
		t.Fatal("ephemeral_public")
	}
	eDH, err := prim.DH(c.EphemeralPrivate, c.SealedTo)
	if err != nil || !bytes.Equal(eDH, c.EphemeralDH) {
		t.Fatalf("e_dh: %v", err)
	}
	salt := hybridSalt(c.Sealed[:offC1v2], c.SealedTo, K)
	if !bytes.Equal(salt[:], c.Salt) {
		t.Fatal("salt")
	}
	okm1, chainKey, _, _ := ephemeralKeysHybrid(eDH, ss, salt)
	if !bytes.Equal(okm1, c.OKM1) {
		t.Fatal("okm1")
	}
	sDH, err := prim.DH(sender.DH(), c.SealedTo)
	if err != nil || !bytes.Equal(sDH, c.StaticDH) {
		t.Fatalf("s_dh: %v", err)
	}
	if okm2, _, _ := staticKeysLabel(chainKey, c.Sealed[offC1v2:offC2v2], sDH, LabelStaticHybrid); !bytes.Equal(okm2, c.OKM2) {
		t.Fatal("okm2")
	}

	// Re-sealing with the recorded randomness.
	rnd := bytes.NewReader(append(bytes.Clone(c.EphemeralPrivate), c.KEMRandomness...))
	to := keys.DevicePublicKeys{Signing: recipient.Public().Signing, DH: [32]byte(c.SealedTo)}
	env, err := SealHybrid(rnd, sender, cert, to, prekey, c.Message)
	switch c.SealedBy {
	case "seal":
		if err != nil || !bytes.Equal(env, c.Sealed) || rnd.Len() != 0 {
			t.Fatalf("SealHybrid does not reproduce sealed: %v", err)
		}
		if !bytes.Equal(c.CertBlock, certBlockOf(cert)) {
			t.Fatal("certificate block is not the canonical one")
		}
	case "blocks":
		if err == nil && bytes.Equal(env, c.Sealed) {
			t.Fatal("SealHybrid reproduces an envelope the case says it cannot")
		}
	default:
		t.Fatalf("sealed_by %q", c.SealedBy)
	}
	if (c.Mutation == "") != bytes.Equal(c.Envelope, c.Sealed) {
		t.Fatalf("mutation %q does not match envelope", c.Mutation)
	}

	// Opening.
	var lookup KEMKeys
	if c.KEMLookup {
		lookup = func(id KeyID) (*keys.PrekeyPrivate, bool) { p, ok := held[id]; return p, ok }
	}
	before := bytes.Clone(c.Envelope)
	o, err := OpenHybrid(recipient, lookup, c.Envelope)
	if !bytes.Equal(before, c.Envelope) {
		t.Fatal("OpenHybrid modified the envelope")
	}
	want := map[string]error{"malformed": ErrMalformed, "no_kem_keys": ErrNoKEMKeys, "unknown_kem_key": ErrUnknownKEMKey, "decrypt": ErrDecrypt}
	switch {
	case c.Error == "":
		if err != nil {
			t.Fatalf("OpenHybrid: %v", err)
		}
		if !bytes.Equal(o.Message, c.Message) || !bytes.Equal(o.Sender.Marshal(), c.SenderCertificate) || o.Version != VersionHybrid {
			t.Fatal("OpenHybrid returned another message, sender or version")
		}
	case want[c.Error] != nil:
		if !errors.Is(err, want[c.Error]) || o != nil {
			t.Fatalf("OpenHybrid = %v, %v; want %v", o, err, c.Error)
		}
	default:
		t.Fatalf("error %q", c.Error)
	}
	// Open (version 1 only) refuses every version 2 envelope of a valid
	// size with ErrNoKEMKeys.
	if ValidEnvelopeSize(len(c.Envelope)) && len(c.Envelope) >= MinHybridEnvelopeSize && c.Envelope[0] == VersionHybrid {
		if o, err := Open(recipient, c.Envelope); !errors.Is(err, ErrNoKEMKeys) || o != nil {
			t.Fatalf("Open = %v, %v; want ErrNoKEMKeys", o, err)
		}
	}
}
