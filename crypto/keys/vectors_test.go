package keys_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/vectors"
)

// TestVectors walks every case of spec/vectors/keys.json: it re-derives each
// issued encoding from the recorded secrets, rebuilds each signed message
// from the layout of spec/keys.md, and checks what a receiver concludes.
func TestVectors(t *testing.T) {
	f, err := vectors.Load[vectors.KeysCase]("keys.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range f.Cases {
		t.Run(c.ID, func(t *testing.T) {
			if seen[c.ID] {
				t.Fatalf("duplicate case id")
			}
			seen[c.ID] = true
			set := 0
			for _, p := range []bool{c.Certificate != nil, c.Revocation != nil, c.Prekey != nil, c.Bundle != nil, c.SafetyNumber != nil,
				c.Ed25519 != nil, c.X25519 != nil} {
				if p {
					set++
				}
			}
			if set != 1 {
				t.Fatalf("%d payloads set, want 1", set)
			}
			switch {
			case c.Type == "certificate" && c.Certificate != nil:
				testCertificateVector(t, c.Certificate)
			case c.Type == "revocation" && c.Revocation != nil:
				testRevocationVector(t, c.Revocation)
			case c.Type == "prekey" && c.Prekey != nil:
				testPrekeyVector(t, c.Prekey)
			case c.Type == "bundle" && c.Bundle != nil:
				testBundleVector(t, c.Bundle)
			case c.Type == "safety-number" && c.SafetyNumber != nil:
				testSafetyNumberVector(t, c.SafetyNumber)
			case c.Type == "ed25519" && c.Ed25519 != nil:
				testEd25519Vector(t, c.Ed25519)
			case c.Type == "x25519" && c.X25519 != nil:
				testX25519Vector(t, c.X25519)
			default:
				t.Fatalf("type %q does not match its payload", c.Type)
			}
		})
	}
}

// vectorError maps an error name of keys.json to the sentinel it stands for.
func vectorError(t *testing.T, name string) error {
	t.Helper()
	switch name {
	case "malformed":
		return keys.ErrMalformed
	case "bad_signature":
		return keys.ErrBadSignature
	case "wrong_account":
		return keys.ErrWrongAccount
	case "wrong_kind":
		return keys.ErrWrongKind
	case "safety_number_mismatch":
		return keys.ErrSafetyNumberMismatch
	}
	t.Fatalf("unknown error name %q", name)
	return nil
}

// checkOutcome checks the error of one stage against r.
func checkOutcome(t *testing.T, r vectors.KeysReceive, stage string, err error) (stop bool) {
	t.Helper()
	if r.Stage != stage {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", stage, err)
		}
		return false
	}
	want := vectorError(t, r.Error)
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", stage, err, want)
	}
	if r.Part != "" {
		var be *keys.BundleError
		if !errors.As(err, &be) || be.Part != r.Part {
			t.Fatalf("%s: got %v, want a BundleError for part %q", stage, err, r.Part)
		}
	}
	return true
}

// checkReceiveShape checks that r is consistent and returns the public key
// of its mutation seed, if any.
func checkReceiveShape(t *testing.T, r vectors.KeysReceive, issued []byte) (mutationKey []byte) {
	t.Helper()
	if (r.Stage == "") != (r.Error == "") || (r.Stage != "" && r.Stage != "parse" && r.Stage != "verify") {
		t.Fatalf("bad stage %q / error %q", r.Stage, r.Error)
	}
	if r.Stage == "" && (r.Mutation != "" || !bytes.Equal(r.Input, issued)) {
		t.Fatalf("an accepted case must be the issued encoding, unchanged")
	}
	if r.Stage != "" && r.Mutation == "" {
		t.Fatalf("a refused case must say what was changed")
	}
	if len(r.MutationSeed) == 0 {
		return nil
	}
	return ed25519.NewKeyFromSeed(r.MutationSeed).Public().(ed25519.PublicKey)
}

// checkVerifyKey checks that a case whose mutation used another key used it
// as verify_key or, when label is set, as the signer of the input: the
// input's trailing signature verifies under it with label.
func checkVerifyKey(t *testing.T, r vectors.KeysReceive, mutationKey []byte, label string) {
	t.Helper()
	if mutationKey == nil || bytes.Equal(mutationKey, r.VerifyKey) {
		return
	}
	in := r.Input
	if label == "" || len(in) < keys.SignatureSize ||
		!ed25519.Verify(mutationKey, append(append([]byte(label), 0), in[:len(in)-keys.SignatureSize]...), in[len(in)-keys.SignatureSize:]) {
		t.Fatalf("mutation_seed's key is neither verify_key nor the input's signer")
	}
}

func deriveAccount(t *testing.T, a vectors.KeysAccount) *keys.AccountPrivateKey {
	t.Helper()
	k, err := keys.NewAccountPrivateKey(a.Seed)
	if err != nil {
		t.Fatal(err)
	}
	g, err := keys.GenerateAccountKey(bytes.NewReader(a.Seed))
	if err != nil {
		t.Fatal(err)
	}
	if pub, gpub := k.Public(), g.Public(); !bytes.Equal(pub[:], a.Public) || pub != gpub || !bytes.Equal(k.Seed(), a.Seed) {
		t.Fatalf("account public key %x, want %x", pub, a.Public)
	}
	return k
}

// deriveDevice checks spec/keys.md §5: the Ed25519 seed is read first, the
// X25519 private key second.
func deriveDevice(t *testing.T, d vectors.KeysDevice) *keys.DevicePrivateKeys {
	t.Helper()
	k, err := keys.NewDevicePrivateKeys(d.SigningSeed, d.DHPrivate)
	if err != nil {
		t.Fatal(err)
	}
	g, err := keys.GenerateDeviceKeys(bytes.NewReader(append(append([]byte(nil), d.SigningSeed...), d.DHPrivate...)))
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public()
	if !bytes.Equal(pub.Signing[:], d.SigningPublic) || !bytes.Equal(pub.DH[:], d.DHPublic) || pub != g.Public() {
		t.Fatalf("device public keys %x %x, want %x %x", pub.Signing, pub.DH, d.SigningPublic, d.DHPublic)
	}
	dh, err := ecdh.X25519().NewPrivateKey(d.DHPrivate)
	if err != nil || !bytes.Equal(dh.PublicKey().Bytes(), d.DHPublic) {
		t.Fatalf("X25519 public key does not follow from dh_private")
	}
	if !bytes.Equal(k.SigningSeed(), d.SigningSeed) || !bytes.Equal(k.DHPrivate(), d.DHPrivate) {
		t.Fatalf("secrets do not round-trip")
	}
	return k
}

// checkSigned checks that enc is signed_message minus its label, followed by
// an Ed25519 signature by pub over signed_message.
func checkSigned(t *testing.T, label string, signed, enc, pub []byte) {
	t.Helper()
	prefix := append([]byte(label), 0)
	if !bytes.HasPrefix(signed, prefix) || !bytes.Equal(enc[:len(enc)-keys.SignatureSize], signed[len(prefix):]) {
		t.Fatalf("encoding is not body || signature of signed_message")
	}
	if !ed25519.Verify(pub, signed, enc[len(enc)-keys.SignatureSize:]) {
		t.Fatalf("signature does not verify over signed_message")
	}
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v int64) []byte  { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func testCertificateVector(t *testing.T, c *vectors.KeysCertificateCase) {
	ak := deriveAccount(t, c.Account)
	dk := deriveDevice(t, c.Device)
	cert, err := ak.CertifyDevice(c.Handle, keys.DeviceID(c.DeviceID), dk.Public(), time.Unix(c.Created, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cert.Marshal(), c.Certificate) {
		t.Fatalf("certificate\n got %x\nwant %x", cert.Marshal(), c.Certificate)
	}
	want := bytes.Join([][]byte{[]byte(keys.LabelDeviceCertificate), {0, keys.Version, byte(len(c.Handle))}, []byte(c.Handle),
		c.Account.Public, u32(c.DeviceID), c.Device.SigningPublic, c.Device.DHPublic, u64(c.Created)}, nil)
	if !bytes.Equal(c.SignedMessage, want) {
		t.Fatalf("signed_message does not follow spec/keys.md §6")
	}
	checkSigned(t, keys.LabelDeviceCertificate, c.SignedMessage, c.Certificate, c.Account.Public)

	r := c.Receive
	checkVerifyKey(t, r, checkReceiveShape(t, r, c.Certificate), keys.LabelDeviceCertificate)
	got, err := keys.ParseDeviceCertificate(r.Input)
	if checkOutcome(t, r, "parse", err) {
		return
	}
	if !bytes.Equal(got.Marshal(), r.Input) {
		t.Fatalf("Marshal(Parse(input)) != input")
	}
	err = got.VerifyFor(r.VerifyHandle, keys.AccountPublicKey(r.VerifyKey))
	if !checkOutcome(t, r, "verify", err) && r.Stage != "" {
		t.Fatalf("accepted, want %s at %s", r.Error, r.Stage)
	}
	if !bytes.Equal(got.Marshal(), r.Input) {
		t.Fatalf("VerifyFor changed the certificate")
	}
}

func testRevocationVector(t *testing.T, c *vectors.KeysRevocationCase) {
	ak := deriveAccount(t, c.Account)
	rev, err := ak.RevokeDevice(c.Handle, keys.DeviceID(c.DeviceID), time.Unix(c.Revoked, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rev.Marshal(), c.Revocation) {
		t.Fatalf("revocation\n got %x\nwant %x", rev.Marshal(), c.Revocation)
	}
	want := bytes.Join([][]byte{[]byte(keys.LabelDeviceRevocation), {0, keys.Version, byte(len(c.Handle))}, []byte(c.Handle),
		c.Account.Public, u32(c.DeviceID), u64(c.Revoked)}, nil)
	if !bytes.Equal(c.SignedMessage, want) {
		t.Fatalf("signed_message does not follow spec/keys.md §7")
	}
	checkSigned(t, keys.LabelDeviceRevocation, c.SignedMessage, c.Revocation, c.Account.Public)

	r := c.Receive
	checkVerifyKey(t, r, checkReceiveShape(t, r, c.Revocation), keys.LabelDeviceRevocation)
	got, err := keys.ParseDeviceRevocation(r.Input)
	if checkOutcome(t, r, "parse", err) {
		return
	}
	if !bytes.Equal(got.Marshal(), r.Input) {
		t.Fatalf("Marshal(Parse(input)) != input")
	}
	err = got.VerifyFor(r.VerifyHandle, keys.AccountPublicKey(r.VerifyKey))
	if !checkOutcome(t, r, "verify", err) && r.Stage != "" {
		t.Fatalf("accepted, want %s at %s", r.Error, r.Stage)
	}
}

func testPrekeyVector(t *testing.T, c *vectors.KeysPrekeyCase) {
	dk := deriveDevice(t, c.Device)
	kind := keys.PrekeyKind(c.Kind)
	if kind.String() != c.KindName {
		t.Fatalf("kind %d is %q, want %q", c.Kind, kind, c.KindName)
	}
	priv, pub, err := dk.GeneratePrekey(bytes.NewReader(c.Secret), kind, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(priv.Secret, c.Secret) || !bytes.Equal(pub.Public, c.Public) || !bytes.Equal(pub.Marshal(), c.Prekey) {
		t.Fatalf("prekey\n got %x\nwant %x", pub.Marshal(), c.Prekey)
	}
	// The public key follows from the secret by the standard algorithms.
	if kind.IsKEM() {
		dk, err := mlkem.NewDecapsulationKey768(c.Secret)
		if err != nil || !bytes.Equal(dk.EncapsulationKey().Bytes(), c.Public) || len(c.Public) != keys.KEMKeySize {
			t.Fatalf("ML-KEM-768 encapsulation key does not follow from the seed")
		}
		if k, err := priv.KEM(); err != nil || !bytes.Equal(k.Bytes(), c.Secret) {
			t.Fatalf("PrekeyPrivate.KEM: %v", err)
		}
	} else {
		k, err := ecdh.X25519().NewPrivateKey(c.Secret)
		if err != nil || !bytes.Equal(k.PublicKey().Bytes(), c.Public) {
			t.Fatalf("X25519 public key does not follow from the secret")
		}
		if k, err := priv.X25519(); err != nil || !bytes.Equal(k, c.Secret) {
			t.Fatalf("PrekeyPrivate.X25519: %v", err)
		}
	}
	want := bytes.Join([][]byte{[]byte(keys.LabelPrekey), {0, c.Kind}, u32(c.ID), c.Public}, nil)
	if !bytes.Equal(c.SignedMessage, want) {
		t.Fatalf("signed_message does not follow spec/keys.md §8")
	}
	checkSigned(t, keys.LabelPrekey, c.SignedMessage, c.Prekey, c.Device.SigningPublic)

	r := c.Receive
	checkVerifyKey(t, r, checkReceiveShape(t, r, c.Prekey), keys.LabelPrekey)
	got, err := keys.ParsePrekey(r.Input)
	if checkOutcome(t, r, "parse", err) {
		return
	}
	if !bytes.Equal(got.Marshal(), r.Input) {
		t.Fatalf("Marshal(Parse(input)) != input")
	}
	err = got.Verify([keys.SigningKeySize]byte(r.VerifyKey))
	if !checkOutcome(t, r, "verify", err) && r.Stage != "" {
		t.Fatalf("accepted, want %s at %s", r.Error, r.Stage)
	}
}
