package webpush

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"testing"
)

func newUA(t *testing.T) (*ecdh.PrivateKey, Subscription) {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, AuthSize)
	rand.Read(auth)
	return k, Subscription{Endpoint: "https://push.example.net/p/1", P256dh: k.PublicKey().Bytes(), Auth: auth}
}

func TestEncryptRoundTrip(t *testing.T) {
	ua, sub := newUA(t)
	for _, pt := range [][]byte{[]byte(WakeMarker), {}, bytes.Repeat([]byte{0}, 7), bytes.Repeat([]byte{0xab}, MaxPlaintext)} {
		body, err := Encrypt(rand.Reader, sub, pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(body) != headerSize+len(pt)+1+tagSize || len(body) > MaxBody {
			t.Fatalf("body of %d bytes for %d", len(body), len(pt))
		}
		if rs := binary.BigEndian.Uint32(body[16:]); rs != recordSize || body[20] != PublicKeySize {
			t.Fatalf("header rs %d idlen %d", rs, body[20])
		}
		got, err := Decrypt(body, ua, sub.Auth)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("round trip of %d bytes: %v", len(pt), err)
		}
	}
	// Two encryptions of the same plaintext share nothing.
	a, _ := Encrypt(rand.Reader, sub, []byte(WakeMarker))
	b, _ := Encrypt(rand.Reader, sub, []byte(WakeMarker))
	if bytes.Equal(a[:saltSize], b[:saltSize]) || bytes.Equal(a[21:86], b[21:86]) || bytes.Equal(a[86:], b[86:]) {
		t.Fatal("salt, ephemeral key or ciphertext repeated")
	}
}

func TestEncryptRefuses(t *testing.T) {
	_, sub := newUA(t)
	if _, err := Encrypt(rand.Reader, sub, make([]byte, MaxPlaintext+1)); err == nil {
		t.Error("plaintext over MaxPlaintext accepted")
	}
	bad := sub
	bad.Auth = bad.Auth[:15]
	if _, err := Encrypt(rand.Reader, bad, nil); !errors.Is(err, ErrInvalidSubscription) {
		t.Errorf("short auth: %v", err)
	}
	bad = sub
	bad.P256dh = append([]byte{4}, make([]byte, 64)...)
	if _, err := Encrypt(rand.Reader, bad, nil); !errors.Is(err, ErrInvalidSubscription) {
		t.Errorf("off-curve key: %v", err)
	}
	if _, err := Encrypt(bytes.NewReader(make([]byte, 20)), sub, nil); err == nil {
		t.Error("short rand accepted")
	}
}

// Every truncation, extension and single-bit change of a valid body is
// ErrDecrypt, and so are the wrong key and the wrong secret.
func TestDecryptRefusesEveryChange(t *testing.T) {
	ua, sub := newUA(t)
	body, err := Encrypt(rand.Reader, sub, []byte(WakeMarker))
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, b []byte, k *ecdh.PrivateKey, auth []byte) {
		t.Helper()
		pt, err := Decrypt(b, k, auth)
		if !errors.Is(err, ErrDecrypt) || pt != nil {
			t.Fatalf("%s: %q, %v", what, pt, err)
		}
	}
	for n := range len(body) {
		check("truncated", body[:n], ua, sub.Auth)
	}
	check("extended", append(bytes.Clone(body), 0), ua, sub.Auth)
	for i := range body {
		for bit := range 8 {
			b := bytes.Clone(body)
			b[i] ^= 1 << bit
			// rs is not authenticated; any rs above the record's length
			// reads the same single record.
			if i >= 16 && i < 20 {
				if binary.BigEndian.Uint32(b[16:]) > uint32(len(body)-headerSize) {
					continue
				}
			}
			check("flipped", b, ua, sub.Auth)
		}
	}
	other, _ := newUA(t)
	check("wrong key", body, other, sub.Auth)
	check("wrong auth", body, ua, make([]byte, AuthSize))
	check("short auth", body, ua, sub.Auth[:15])
	check("nil key", body, nil, sub.Auth)
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	check("X25519 key", body, x, sub.Auth)
}

// A padded record (delimiter then zeros) opens; one whose padding is not
// zero, or whose delimiter is not 2, does not.
func TestDecryptPadding(t *testing.T) {
	ua, sub := newUA(t)
	seal := func(record []byte) []byte {
		var salt [saltSize]byte
		rand.Read(salt[:])
		eph, _ := ecdh.P256().GenerateKey(rand.Reader)
		k, err := deriveKeys(salt[:], eph, ua.PublicKey(), sub.P256dh, eph.PublicKey().Bytes(), sub.Auth)
		if err != nil {
			t.Fatal(err)
		}
		aead, _ := newAEAD(k.cek)
		out := append(salt[:], 0, 0, 0x10, 0, PublicKeySize)
		out = append(out, eph.PublicKey().Bytes()...)
		return aead.Seal(out, k.nonce, record, nil)
	}
	if pt, err := Decrypt(seal([]byte("hi\x02\x00\x00\x00")), ua, sub.Auth); err != nil || string(pt) != "hi" {
		t.Fatalf("padded: %q %v", pt, err)
	}
	if pt, err := Decrypt(seal([]byte("\x02")), ua, sub.Auth); err != nil || len(pt) != 0 {
		t.Fatalf("empty: %q %v", pt, err)
	}
	for _, rec := range []string{"hi", "hi\x01", "hi\x01\x00", "hi\x02\x00\x01", "hi\x02\x01", "", "\x00\x00"} {
		if _, err := Decrypt(seal([]byte(rec)), ua, sub.Auth); !errors.Is(err, ErrDecrypt) {
			t.Errorf("record %q: %v", rec, err)
		}
	}
}

func TestSubscriptionValidate(t *testing.T) {
	_, sub := newUA(t)
	if err := sub.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(*Subscription){
		"http endpoint":  func(s *Subscription) { s.Endpoint = "http://push.example.net/p/1" },
		"no endpoint":    func(s *Subscription) { s.Endpoint = "" },
		"userinfo":       func(s *Subscription) { s.Endpoint = "https://a:b@push.example.net/" },
		"compressed key": func(s *Subscription) { s.P256dh = append([]byte{2}, s.P256dh[1:33]...) },
		"off-curve key":  func(s *Subscription) { s.P256dh = append([]byte{4}, make([]byte, 64)...) },
		"no key":         func(s *Subscription) { s.P256dh = nil },
		"short auth":     func(s *Subscription) { s.Auth = s.Auth[:15] },
		"long auth":      func(s *Subscription) { s.Auth = append(s.Auth, 0) },
	} {
		s := sub
		f(&s)
		if err := s.Validate(); !errors.Is(err, ErrInvalidSubscription) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
