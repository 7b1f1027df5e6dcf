package keys_test

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/vectors"
)

// derivePrekey regenerates one prekey of a bundle case from its secret.
func derivePrekey(t *testing.T, dk *keys.DevicePrivateKeys, p vectors.KeysBundlePrekey) *keys.Prekey {
	t.Helper()
	_, pub, err := dk.GeneratePrekey(bytes.NewReader(p.Secret), keys.PrekeyKind(p.Kind), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub.Marshal(), p.Prekey) {
		t.Fatalf("%v %d\n got %x\nwant %x", keys.PrekeyKind(p.Kind), p.ID, pub.Marshal(), p.Prekey)
	}
	return pub
}

func testBundleVector(t *testing.T, c *vectors.KeysBundleCase) {
	ak := deriveAccount(t, c.Account)
	dk := deriveDevice(t, c.Device)
	cert, err := ak.CertifyDevice(c.Handle, keys.DeviceID(c.DeviceID), dk.Public(), time.Unix(c.Created, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cert.Marshal(), c.Certificate) {
		t.Fatalf("certificate\n got %x\nwant %x", cert.Marshal(), c.Certificate)
	}
	b := &keys.Bundle{
		Certificate:  cert,
		SignedPrekey: derivePrekey(t, dk, c.SignedPrekey),
		KEMPrekey:    derivePrekey(t, dk, c.KEMPrekey),
	}
	presence := []byte{0}
	var opk []byte
	if c.OneTimePrekey != nil {
		b.OneTimePrekey = derivePrekey(t, dk, *c.OneTimePrekey)
		presence, opk = []byte{1}, c.OneTimePrekey.Prekey
	}
	if !bytes.Equal(b.Marshal(), c.Bundle) {
		t.Fatalf("bundle\n got %x\nwant %x", b.Marshal(), c.Bundle)
	}
	want := bytes.Join([][]byte{{keys.Version}, c.Certificate, c.SignedPrekey.Prekey, presence, opk, c.KEMPrekey.Prekey}, nil)
	if !bytes.Equal(c.Bundle, want) {
		t.Fatalf("bundle does not follow spec/keys.md §9.1")
	}
	if b.Exhausted() != c.Exhausted {
		t.Fatalf("Exhausted() = %v, want %v", b.Exhausted(), c.Exhausted)
	}

	r := c.Receive
	mutationKey := checkReceiveShape(t, r, c.Bundle)
	got, err := keys.ParseBundle(r.Input)
	if checkOutcome(t, r, "parse", err) {
		return
	}
	if !bytes.Equal(got.Marshal(), r.Input) {
		t.Fatalf("Marshal(Parse(input)) != input")
	}
	if mutationKey != nil {
		// Either the bundle is checked against another account, or one of
		// its prekeys was signed by the device of the mutation seed.
		switch r.Part {
		case "certificate":
			// The certificate inside the bundle is the input whose signer
			// the mutation changed.
			cr := r
			cr.Input = got.Certificate.Marshal()
			checkVerifyKey(t, cr, mutationKey, keys.LabelDeviceCertificate)
		case "signed prekey":
			mustVerify(t, got.SignedPrekey, mutationKey)
		case "one-time prekey":
			mustVerify(t, got.OneTimePrekey, mutationKey)
		default:
			t.Fatalf("mutation_seed in part %q", r.Part)
		}
	}
	err = keys.VerifyBundle(r.VerifyHandle, keys.AccountPublicKey(r.VerifyKey), got)
	if !checkOutcome(t, r, "verify", err) && r.Stage != "" {
		t.Fatalf("accepted, want %s at %s", r.Error, r.Stage)
	}
	if !bytes.Equal(got.Marshal(), r.Input) {
		t.Fatalf("VerifyBundle changed the bundle")
	}
}

func mustVerify(t *testing.T, p *keys.Prekey, key []byte) {
	t.Helper()
	if p == nil || p.Verify([keys.SigningKeySize]byte(key)) != nil {
		t.Fatalf("the replaced prekey is not signed by the key of mutation_seed")
	}
}

// specFingerprint is spec/keys.md §10.1 written from the spec text.
func specFingerprint(handle string, aik []byte) []byte {
	in := bytes.Join([][]byte{[]byte("sealpost/v1/safety-number"), {0, byte(len(handle))}, []byte(handle), aik}, nil)
	h := sha512.Sum512(in)
	for range 5200 - 1 {
		h = sha512.Sum512(append(h[:], aik...))
	}
	return h[:30]
}

// specDigits is spec/keys.md §10.2 written from the spec text.
func specDigits(fp []byte) string {
	var sb strings.Builder
	for i := 0; i < 30; i += 5 {
		v := binary.BigEndian.Uint64(append(make([]byte, 3), fp[i:i+5]...))
		fmt.Fprintf(&sb, "%05d", v%100000)
	}
	return sb.String()
}

func testSafetyNumberVector(t *testing.T, c *vectors.KeysSafetyNumberCase) {
	a, b := deriveAccount(t, c.AccountA).Public(), deriveAccount(t, c.AccountB).Public()
	if fp := specFingerprint(c.HandleA, a[:]); !bytes.Equal(fp, c.FingerprintA) {
		t.Fatalf("fingerprint_a\n got %x\nwant %x", fp, c.FingerprintA)
	}
	if fp := specFingerprint(c.HandleB, b[:]); !bytes.Equal(fp, c.FingerprintB) {
		t.Fatalf("fingerprint_b\n got %x\nwant %x", fp, c.FingerprintB)
	}
	first, second := c.FingerprintA, c.FingerprintB
	if bytes.Compare(first, second) > 0 {
		first, second = second, first
	}
	if d := specDigits(first) + specDigits(second); d != c.Digits {
		t.Fatalf("digits %s, want %s", c.Digits, d)
	}
	if s := keys.SafetyNumberPrefix + base64.RawURLEncoding.EncodeToString(append(append([]byte(nil), first...), second...)); s != c.Compact {
		t.Fatalf("compact %s, want %s", c.Compact, s)
	}
	ab, err := keys.NewSafetyNumber(c.HandleA, a, c.HandleB, b)
	if err != nil {
		t.Fatal(err)
	}
	ba, err := keys.NewSafetyNumber(c.HandleB, b, c.HandleA, a)
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range []*keys.SafetyNumber{ab, ba} {
		if sn.Digits() != c.Digits || sn.Compact() != c.Compact || strings.Join(sn.Groups(), "") != c.Digits {
			t.Fatalf("got %s %s, want %s %s", sn.Digits(), sn.Compact(), c.Digits, c.Compact)
		}
	}
	if len(c.Scans) == 0 {
		t.Fatal("no scans")
	}
	for i, s := range c.Scans {
		err := ab.MatchCompact(s.Scanned)
		switch {
		case s.Error == "" && err != nil:
			t.Errorf("scan %d: %v, want a match", i, err)
		case s.Error == "malformed" && (!errors.Is(err, keys.ErrMalformed) || errors.Is(err, keys.ErrSafetyNumberMismatch)):
			t.Errorf("scan %d: %v, want ErrMalformed", i, err)
		case s.Error == "safety_number_mismatch" && err != keys.ErrSafetyNumberMismatch:
			t.Errorf("scan %d: %v, want ErrSafetyNumberMismatch", i, err)
		case s.Error != "" && s.Error != "malformed" && s.Error != "safety_number_mismatch":
			t.Errorf("scan %d: unknown error name %q", i, s.Error)
		}
	}
}
