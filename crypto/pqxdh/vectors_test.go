package pqxdh

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/vectors"
)

// TestVectors walks spec/vectors/pqxdh.json: it rebuilds both parties from
// the recorded secrets, checks every encoding byte for byte, runs both sides
// with the recorded randomness, and checks every intermediate value.
func TestVectors(t *testing.T) {
	f, err := vectors.Load[vectors.PQXDHCase]("pqxdh.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range f.Cases {
		t.Run(v.ID, func(t *testing.T) {
			alice := vectorDevice(t, v.Initiator)
			bob := vectorDevice(t, v.Responder)
			var pk Prekeys
			b := &keys.Bundle{Certificate: bob.cert}
			pk.Signed, b.SignedPrekey = vectorPrekey(t, bob.device, v.Signed)
			if v.OneTime != nil {
				pk.OneTime, b.OneTimePrekey = vectorPrekey(t, bob.device, *v.OneTime)
			}
			pk.KEM, b.KEMPrekey = vectorPrekey(t, bob.device, v.KEM)
			if !bytes.Equal(b.Marshal(), v.Bundle) {
				t.Fatal("bundle encoding differs")
			}
			parsed, err := keys.ParseBundle(v.Bundle)
			if err != nil {
				t.Fatal(err)
			}

			rnd := io.MultiReader(bytes.NewReader(v.EphemeralPrivate), bytes.NewReader(v.KEMRandomness))
			sa, err := Initiate(rnd, alice.device, alice.cert, v.Responder.Handle, bob.account.Public(), parsed)
			if err != nil {
				t.Fatalf("Initiate: %v", err)
			}
			if !bytes.Equal(sa.Initial, v.InitialMessage) || !bytes.Equal(sa.AD, v.AD) || !bytes.Equal(sa.SharedSecret[:], v.SharedSecret) {
				t.Fatal("initiator's initial message, AD or shared secret differs")
			}
			m, err := ParseInitialMessage(v.InitialMessage)
			if err != nil || !bytes.Equal(m.Marshal(), v.InitialMessage) {
				t.Fatalf("initial message does not round-trip: %v", err)
			}
			sb, err := Respond(bob.device, bob.cert, alice.cert, m, pk)
			if err != nil {
				t.Fatalf("Respond: %v", err)
			}
			if !bytes.Equal(sb.SharedSecret[:], v.SharedSecret) || !bytes.Equal(sb.AD, v.AD) {
				t.Fatal("responder's shared secret or AD differs")
			}
			checkIntermediates(t, v, m)
			for i, r := range v.Refusals {
				t.Run(fmt.Sprintf("refusal-%d", i), func(t *testing.T) { testRefusal(t, r, bob, alice, pk) })
			}
		})
	}
}

// checkIntermediates checks the recorded DH outputs, KEM secret, salt and
// their combination into SK (spec/pqxdh.md §5).
func checkIntermediates(t *testing.T, v vectors.PQXDHCase, m *InitialMessage) {
	t.Helper()
	dh := func(priv, pub []byte) []byte {
		out, err := prim.DH(priv, pub)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	eph, err := ecdh.X25519().NewPrivateKey(v.EphemeralPrivate)
	if err != nil || !bytes.Equal(eph.PublicKey().Bytes(), m.EphemeralKey[:]) {
		t.Fatal("ephemeral private key does not give the message's ephemeral key")
	}
	want := map[string][2][]byte{
		"DH1": {dh(v.Initiator.DeviceDHPrivate, v.Signed.Encoded[5:37]), v.DH1},
		"DH2": {dh(v.EphemeralPrivate, bobDH(t, v)), v.DH2},
	}
	want["DH3"] = [2][]byte{dh(v.EphemeralPrivate, v.Signed.Encoded[5:37]), v.DH3}
	if v.OneTime != nil {
		want["DH4"] = [2][]byte{dh(v.EphemeralPrivate, v.OneTime.Encoded[5:37]), v.DH4}
	} else if len(v.DH4) != 0 {
		t.Fatal("DH4 recorded without a one-time prekey")
	}
	for name, w := range want {
		if !bytes.Equal(w[0], w[1]) {
			t.Fatalf("%s differs", name)
		}
	}
	dk, err := mlkem.NewDecapsulationKey768(v.KEM.Secret)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := dk.Decapsulate(m.KEMCiphertext[:])
	if err != nil || !bytes.Equal(ss, v.KEMSharedSecret) {
		t.Fatal("KEM shared secret differs")
	}
	h := sha256.Sum256(append(append([]byte(LabelTranscript+"\x00"), v.AD...), v.InitialMessage...))
	if !bytes.Equal(h[:], v.Salt) {
		t.Fatal("transcript salt differs")
	}
	ikm := bytes.Repeat([]byte{0xff}, 32)
	for _, x := range [][]byte{v.DH1, v.DH2, v.DH3, v.DH4, v.KEMSharedSecret} {
		ikm = append(ikm, x...)
	}
	if !bytes.Equal(prim.HKDF(v.Salt, ikm, LabelKDF, 32), v.SharedSecret) {
		t.Fatal("SK is not HKDF of the recorded intermediates")
	}
}

// bobDH returns the responder's X25519 identity key from its certificate.
func bobDH(t *testing.T, v vectors.PQXDHCase) []byte {
	c, err := keys.ParseDeviceCertificate(v.Responder.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	return c.Keys.DH[:]
}

type vectorParty struct {
	account *keys.AccountPrivateKey
	device  *keys.DevicePrivateKeys
	cert    *keys.DeviceCertificate
}

func vectorDevice(t *testing.T, d vectors.PQXDHDevice) *vectorParty {
	t.Helper()
	var p vectorParty
	var err error
	if p.account, err = keys.NewAccountPrivateKey(d.AccountSeed); err != nil {
		t.Fatal(err)
	}
	if p.device, err = keys.NewDevicePrivateKeys(d.DeviceSigningSeed, d.DeviceDHPrivate); err != nil {
		t.Fatal(err)
	}
	if p.cert, err = p.account.CertifyDevice(d.Handle, keys.DeviceID(d.DeviceID), p.device.Public(), time.Unix(d.Created, 0)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.cert.Marshal(), d.Certificate) {
		t.Fatalf("%s: certificate encoding differs", d.Handle)
	}
	return &p
}

func vectorPrekey(t *testing.T, d *keys.DevicePrivateKeys, v vectors.PQXDHPrekey) (*keys.PrekeyPrivate, *keys.Prekey) {
	t.Helper()
	priv, pub, err := d.GeneratePrekey(bytes.NewReader(v.Secret), keys.PrekeyKind(v.Kind), v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub.Marshal(), v.Encoded) {
		t.Fatalf("%v %d: encoding differs", pub.Kind, v.ID)
	}
	return priv, pub
}

var refusalErrors = map[string]error{
	"malformed":         ErrMalformed,
	"identity_mismatch": ErrIdentityMismatch,
	"prekey_mismatch":   ErrPrekeyMismatch,
}

// testRefusal checks that the responder refuses r.InitialMessage at r.Stage
// with r.Error, and that its prekeys are left as they were.
func testRefusal(t *testing.T, r vectors.PQXDHRefusal, bob, alice *vectorParty, pk Prekeys) {
	t.Logf("%s", r.Comment)
	want, ok := refusalErrors[r.Error]
	if !ok {
		t.Fatalf("unknown error %q", r.Error)
	}
	m, err := ParseInitialMessage(r.InitialMessage)
	switch r.Stage {
	case "parse":
		if !errors.Is(err, want) || m != nil {
			t.Fatalf("ParseInitialMessage = %v, want %v", err, want)
		}
		return
	case "respond":
		if err != nil {
			t.Fatalf("ParseInitialMessage: %v", err)
		}
	default:
		t.Fatalf("unknown stage %q", r.Stage)
	}
	secrets := func() [][]byte {
		var out [][]byte
		for _, p := range []*keys.PrekeyPrivate{pk.Signed, pk.OneTime, pk.KEM} {
			if p != nil {
				out = append(out, bytes.Clone(p.Secret))
			}
		}
		return out
	}
	before := secrets()
	s, err := Respond(bob.device, bob.cert, alice.cert, m, pk)
	if !errors.Is(err, want) || s != nil {
		t.Fatalf("Respond = %v, want %v", err, want)
	}
	for i, b := range secrets() {
		if !bytes.Equal(b, before[i]) {
			t.Fatal("Respond changed a prekey")
		}
	}
}
