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
