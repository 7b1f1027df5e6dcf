package pqxdh

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
)

// party is one account with one device, its certificate and prekeys.
type party struct {
	handle  string
	account *keys.AccountPrivateKey
	device  *keys.DevicePrivateKeys
	cert    *keys.DeviceCertificate
	spk     *keys.PrekeyPrivate
	opk     *keys.PrekeyPrivate
	kem     *keys.PrekeyPrivate
	bundle  *keys.Bundle
}

func newParty(t testing.TB, r io.Reader, handle string, oneTime bool) *party {
	t.Helper()
	p := &party{handle: handle}
	var err error
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p.account, err = keys.GenerateAccountKey(r)
	must(err)
	p.device, err = keys.GenerateDeviceKeys(r)
	must(err)
	p.cert, err = p.account.CertifyDevice(handle, 1, p.device.Public(), time.Unix(1_700_000_000, 0))
	must(err)
	p.bundle = &keys.Bundle{Certificate: p.cert}
	p.spk, p.bundle.SignedPrekey, err = p.device.GeneratePrekey(r, keys.SignedPrekey, 7)
	must(err)
	kind := keys.LastResortKEMPrekey
	if oneTime {
		p.opk, p.bundle.OneTimePrekey, err = p.device.GeneratePrekey(r, keys.OneTimePrekey, 8)
		must(err)
		kind = keys.OneTimeKEMPrekey
	}
	p.kem, p.bundle.KEMPrekey, err = p.device.GeneratePrekey(r, kind, 9)
	must(err)
	return p
}

func (p *party) prekeys() Prekeys { return Prekeys{Signed: p.spk, OneTime: p.opk, KEM: p.kem} }

// handshake runs both sides and returns them.
func handshake(t *testing.T, r io.Reader, a, b *party) (*Session, *Session) {
	t.Helper()
	sa, err := Initiate(r, a.device, a.cert, b.handle, b.account.Public(), b.bundle)
	if err != nil {
		t.Fatalf("Initiate: %v", err)
	}
	m, err := ParseInitialMessage(sa.Initial)
	if err != nil {
		t.Fatalf("ParseInitialMessage: %v", err)
	}
	sb, err := Respond(b.device, b.cert, a.cert, m, b.prekeys())
	if err != nil {
		t.Fatalf("Respond: %v", err)
	}
	return sa, sb
}

func TestAgreement(t *testing.T) {
	for _, tc := range []struct {
		name    string
		oneTime bool
		rand    io.Reader
	}{
		{"one-time", true, testrand.New("pqxdh one-time")},
		{"last-resort", false, testrand.New("pqxdh last-resort")},
		{"system-rand", true, rand.Reader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newParty(t, tc.rand, "alice", true)
			b := newParty(t, tc.rand, "bob", tc.oneTime)
			sa, sb := handshake(t, tc.rand, a, b)
			if sa.SharedSecret != sb.SharedSecret {
				t.Fatal("shared secrets differ")
			}
			if !bytes.Equal(sa.AD, sb.AD) || len(sa.AD) != ADSize {
				t.Fatalf("associated data differs or has length %d", len(sa.AD))
			}
			if sa.PeerRatchetKey != [32]byte(b.bundle.SignedPrekey.Public) {
				t.Fatal("peer ratchet key is not the signed prekey")
			}
			m, _ := ParseInitialMessage(sa.Initial)
			if m.HasOneTime != tc.oneTime || (m.KEMKind == keys.OneTimeKEMPrekey) != tc.oneTime {
				t.Fatalf("initial message prekeys: one-time %v, KEM kind %v", m.HasOneTime, m.KEMKind)
			}
			if len(sa.Initial) != map[bool]int{true: MaxInitialMessageSize, false: MinInitialMessageSize}[tc.oneTime] {
				t.Fatalf("initial message length %d", len(sa.Initial))
			}
		})
	}
}

// TestFreshSecrets checks two handshakes against the same bundle give
// different secrets (the ephemeral key and KEM randomness are fresh).
func TestFreshSecrets(t *testing.T) {
	r := testrand.New("pqxdh fresh")
	a, b := newParty(t, r, "alice", true), newParty(t, r, "bob", true)
	s1, _ := handshake(t, r, a, b)
	s2, _ := handshake(t, r, a, b)
	if s1.SharedSecret == s2.SharedSecret {
		t.Fatal("two handshakes gave the same secret")
	}
}

func TestInitiateRefusesBadBundle(t *testing.T) {
	r := testrand.New("pqxdh bad bundle")
	a, b := newParty(t, r, "alice", true), newParty(t, r, "bob", true)
	mallory := newParty(t, r, "mallory", true)

	forgedSPK := *b.bundle
	forgedSPK.SignedPrekey = mallory.bundle.SignedPrekey // signed by another device
	wrongKind := *b.bundle
	wrongKind.KEMPrekey = b.bundle.SignedPrekey
	sigFlip := *b.bundle
	k := *b.bundle.KEMPrekey
	k.Signature[3] ^= 1
	sigFlip.KEMPrekey = &k

	for _, tc := range []struct {
		name   string
		handle string
		aik    keys.AccountPublicKey
		bundle *keys.Bundle
		want   error
		part   string
	}{
		{"wrong handle", "carol", b.account.Public(), b.bundle, keys.ErrWrongAccount, "certificate"},
		{"wrong account key", "bob", mallory.account.Public(), b.bundle, keys.ErrWrongAccount, "certificate"},
		{"prekey from another device", "bob", b.account.Public(), &forgedSPK, keys.ErrBadSignature, "signed prekey"},
		{"wrong kind", "bob", b.account.Public(), &wrongKind, keys.ErrWrongKind, "KEM prekey"},
		{"flipped signature", "bob", b.account.Public(), &sigFlip, keys.ErrBadSignature, "KEM prekey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Initiate(r, a.device, a.cert, tc.handle, tc.aik, tc.bundle)
			var be *keys.BundleError
			if !errors.Is(err, tc.want) || !errors.As(err, &be) || be.Part != tc.part {
				t.Fatalf("got %v, want %v in %s", err, tc.want, tc.part)
			}
		})
	}
	if _, err := Initiate(r, a.device, mallory.cert, "bob", b.account.Public(), b.bundle); !errors.Is(err, ErrIdentityMismatch) {
		t.Fatalf("own certificate of another device: got %v", err)
	}
}

func TestRespondRefuses(t *testing.T) {
	r := testrand.New("pqxdh respond refuses")
	a, b := newParty(t, r, "alice", true), newParty(t, r, "bob", true)
	mallory := newParty(t, r, "mallory", true)
	sa, err := Initiate(r, a.device, a.cert, "bob", b.account.Public(), b.bundle)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseInitialMessage(sa.Initial)
	if err != nil {
		t.Fatal(err)
	}
	pk := b.prekeys()
	noOTK := pk
	noOTK.OneTime = nil
	swapped := pk
	swapped.Signed = b.opk
	wrongKEM := pk
	wrongKEM.KEM = mallory.kem

	for _, tc := range []struct {
		name string
		peer *keys.DeviceCertificate
		pk   Prekeys
		want error
	}{
		{"sender certificate of another device", mallory.cert, pk, ErrIdentityMismatch},
		{"one-time prekey missing", a.cert, noOTK, ErrPrekeyMismatch},
		{"one-time prekey as signed prekey", a.cert, swapped, ErrPrekeyMismatch},
		{"KEM prekey of another device with the same id", a.cert, wrongKEM, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Respond(b.device, b.cert, tc.peer, m, tc.pk)
			if tc.want == nil {
				// Same kind and id but a different key: ML-KEM's implicit
				// rejection yields a different secret, never an error.
				if err != nil || s.SharedSecret == sa.SharedSecret {
					t.Fatalf("got err %v, equal secret %v", err, err == nil && s.SharedSecret == sa.SharedSecret)
				}
				return
			}
			if !errors.Is(err, tc.want) || s != nil {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestTamperedInitialMessage flips every bit of an initial message: each
// flip is refused at parse or yields a different shared secret.
func TestTamperedInitialMessage(t *testing.T) {
	r := testrand.New("pqxdh tamper")
	a, b := newParty(t, r, "alice", true), newParty(t, r, "bob", true)
	sa, err := Initiate(r, a.device, a.cert, "bob", b.account.Public(), b.bundle)
	if err != nil {
		t.Fatal(err)
	}
	// Each flip costs a whole Respond; a stride of 5 (coprime with 8)
	// still flips a bit of every byte, at every bit position in turn.
	step := 5
	if testing.Short() {
		step = 37
	}
	for bit := 0; bit < len(sa.Initial)*8; bit += step {
		msg := bytes.Clone(sa.Initial)
		msg[bit/8] ^= 1 << (bit % 8)
		m, err := ParseInitialMessage(msg)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("bit %d: parse error %v", bit, err)
			}
			continue
		}
		s, err := Respond(b.device, b.cert, a.cert, m, b.prekeys())
		if err == nil && s.SharedSecret == sa.SharedSecret {
			t.Fatalf("bit %d: tampered initial message gave the same secret", bit)
		}
	}
}

func TestParseInitialMessage(t *testing.T) {
	r := testrand.New("pqxdh parse")
	a, b := newParty(t, r, "alice", true), newParty(t, r, "bob", true)
	sa, err := Initiate(r, a.device, a.cert, "bob", b.account.Public(), b.bundle)
	if err != nil {
		t.Fatal(err)
	}
	good := sa.Initial
	m, err := ParseInitialMessage(good)
	if err != nil || !bytes.Equal(m.Marshal(), good) {
		t.Fatalf("round trip: %v", err)
	}
	lowOrder := bytes.Clone(good)
	copy(lowOrder[1:33], make([]byte, 32))
	highBit := bytes.Clone(good)
	highBit[64] |= 0x80
	badVersion := bytes.Clone(good)
	badVersion[0] = 2
	badPresence := bytes.Clone(good)
	badPresence[1+32+32+4] = 2
	badKind := bytes.Clone(good)
	badKind[1+32+32+4+1+4] = byte(keys.SignedPrekey)
	for name, in := range map[string][]byte{
		"empty":              nil,
		"truncated":          good[:len(good)-1],
		"trailing":           append(bytes.Clone(good), 0),
		"low-order identity": lowOrder,
		"high-bit ephemeral": highBit,
		"version":            badVersion,
		"presence byte":      badPresence,
		"KEM kind":           badKind,
	} {
		if _, err := ParseInitialMessage(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
