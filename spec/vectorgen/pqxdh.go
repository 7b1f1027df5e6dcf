package main

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/pqxdh"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
)

func init() { register("pqxdh.json", genPQXDH) }

func genPQXDH() ([]byte, error) {
	f := &vectors.File[vectors.PQXDHCase]{
		Description: "PQXDH agreements on both sides, with and without a one-time prekey. Every secret input, the randomness the initiator read, and every intermediate value are recorded.",
		Spec:        "spec/pqxdh.md",
	}
	for _, c := range []struct {
		id, comment string
		oneTime     bool
	}{
		{"pqxdh-one-time", "one-time X25519 prekey and one-time ML-KEM-768 prekey", true},
		{"pqxdh-last-resort", "no one-time prekey left: signed prekey and last-resort ML-KEM-768 prekey", false},
	} {
		v, err := pqxdhCase(c.id, c.comment, c.oneTime)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.id, err)
		}
		f.Cases = append(f.Cases, *v)
	}
	return encode(f)
}

// recordingReader records everything read through it.
type recordingReader struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

// take returns and forgets what was read so far.
func (r *recordingReader) take() []byte {
	b := bytes.Clone(r.buf.Bytes())
	r.buf.Reset()
	return b
}

type vectorDevice struct {
	v       vectors.PQXDHDevice
	account *keys.AccountPrivateKey
	device  *keys.DevicePrivateKeys
	cert    *keys.DeviceCertificate
}

func newVectorDevice(r *recordingReader, handle string, id keys.DeviceID) (*vectorDevice, error) {
	d := &vectorDevice{}
	var err error
	if d.account, err = keys.GenerateAccountKey(r); err != nil {
		return nil, err
	}
	accountSeed := r.take()
	if d.device, err = keys.GenerateDeviceKeys(r); err != nil {
		return nil, err
	}
	devSecrets := r.take()
	created := time.Unix(1_767_225_600, 0) // 2026-01-01T00:00:00Z
	if d.cert, err = d.account.CertifyDevice(handle, id, d.device.Public(), created); err != nil {
		return nil, err
	}
	d.v = vectors.PQXDHDevice{
		Handle: handle, DeviceID: uint32(id), Created: created.Unix(),
		AccountSeed: accountSeed, DeviceSigningSeed: devSecrets[:32], DeviceDHPrivate: devSecrets[32:],
		Certificate: d.cert.Marshal(),
	}
	return d, nil
}

func vectorPrekey(r *recordingReader, d *keys.DevicePrivateKeys, kind keys.PrekeyKind, id uint32) (*keys.PrekeyPrivate, *keys.Prekey, vectors.PQXDHPrekey, error) {
	priv, pub, err := d.GeneratePrekey(r, kind, id)
	if err != nil {
		return nil, nil, vectors.PQXDHPrekey{}, err
	}
	return priv, pub, vectors.PQXDHPrekey{Kind: uint8(kind), ID: id, Secret: r.take(), Encoded: pub.Marshal()}, nil
}

func pqxdhCase(id, comment string, oneTime bool) (*vectors.PQXDHCase, error) {
	r := &recordingReader{r: testrand.New("vectors " + id)}
	alice, err := newVectorDevice(r, "alice", 1)
	if err != nil {
		return nil, err
	}
	bob, err := newVectorDevice(r, "bob", 3)
	if err != nil {
		return nil, err
	}
	v := &vectors.PQXDHCase{ID: id, Comment: comment, Initiator: alice.v, Responder: bob.v}
	b := &keys.Bundle{Certificate: bob.cert}
	var pk pqxdh.Prekeys
	if pk.Signed, b.SignedPrekey, v.Signed, err = vectorPrekey(r, bob.device, keys.SignedPrekey, 100); err != nil {
		return nil, err
	}
	kemKind := keys.LastResortKEMPrekey
	if oneTime {
		var ot vectors.PQXDHPrekey
		if pk.OneTime, b.OneTimePrekey, ot, err = vectorPrekey(r, bob.device, keys.OneTimePrekey, 200); err != nil {
			return nil, err
		}
		v.OneTime = &ot
		kemKind = keys.OneTimeKEMPrekey
	}
	if pk.KEM, b.KEMPrekey, v.KEM, err = vectorPrekey(r, bob.device, kemKind, 300); err != nil {
		return nil, err
	}
	v.Bundle = b.Marshal()
	parsed, err := keys.ParseBundle(v.Bundle)
	if err != nil {
		return nil, err
	}

	sa, err := pqxdh.Initiate(r, alice.device, alice.cert, "bob", bob.account.Public(), parsed)
	if err != nil {
		return nil, err
	}
	rnd := r.take()
	v.EphemeralPrivate, v.KEMRandomness = rnd[:32], rnd[32:]
	v.InitialMessage, v.AD, v.SharedSecret = sa.Initial, sa.AD, sa.SharedSecret[:]

	m, err := pqxdh.ParseInitialMessage(sa.Initial)
	if err != nil {
		return nil, err
	}
	sb, err := pqxdh.Respond(bob.device, bob.cert, alice.cert, m, pk)
	if err != nil {
		return nil, err
	}
	if sb.SharedSecret != sa.SharedSecret {
		return nil, fmt.Errorf("sides disagree")
	}
	if err := pqxdhIntermediates(v, m, pk); err != nil {
		return nil, err
	}
	if v.Refusals, err = pqxdhRefusals(v.InitialMessage, oneTime, bob, alice, pk); err != nil {
		return nil, err
	}
	return v, nil
}

// pqxdhIntermediates recomputes DH1..DH4, the KEM secret, the salt and SK
// from spec/pqxdh.md §3.2 and §5 independently of package pqxdh, and checks
// they give the recorded SK.
func pqxdhIntermediates(v *vectors.PQXDHCase, m *pqxdh.InitialMessage, pk pqxdh.Prekeys) error {
	dh := func(priv, pub []byte) []byte {
		k, err := ecdh.X25519().NewPrivateKey(priv)
		if err != nil {
			panic(err)
		}
		p, err := ecdh.X25519().NewPublicKey(pub)
		if err != nil {
			panic(err)
		}
		out, err := k.ECDH(p)
		if err != nil {
			panic(err)
		}
		return out
	}
	v.DH1 = dh(pk.Signed.Secret, m.IdentityKey[:])
	v.DH2 = dh(v.Responder.DeviceDHPrivate, m.EphemeralKey[:])
	v.DH3 = dh(pk.Signed.Secret, m.EphemeralKey[:])
	v.DH4 = []byte{}
	if pk.OneTime != nil {
		v.DH4 = dh(pk.OneTime.Secret, m.EphemeralKey[:])
	}
	dk, err := mlkem.NewDecapsulationKey768(pk.KEM.Secret)
	if err != nil {
		return err
	}
	if v.KEMSharedSecret, err = dk.Decapsulate(m.KEMCiphertext[:]); err != nil {
		return err
	}
	h := sha256.New()
	h.Write([]byte(pqxdh.LabelTranscript + "\x00"))
	h.Write(v.AD)
	h.Write(v.InitialMessage)
	v.Salt = h.Sum(nil)
	ikm := bytes.Repeat([]byte{0xff}, 32)
	for _, x := range [][]byte{v.DH1, v.DH2, v.DH3, v.DH4, v.KEMSharedSecret} {
		ikm = append(ikm, x...)
	}
	sk, err := hkdf.Key(sha256.New, ikm, v.Salt, pqxdh.LabelKDF, 32)
	if err != nil {
		return err
	}
	if !bytes.Equal(sk, v.SharedSecret) {
		return fmt.Errorf("independent derivation disagrees with package pqxdh")
	}
	return nil
}
