package fuzz

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/push/webpush"
)

// FuzzWebPushDecrypt opens arbitrary bytes as a Web Push message body
// (push/webpush.Decrypt, spec/push.md §4.5) with the user agent key and
// secret of one case of spec/vectors/push.json, chosen by the second input.
// Seeds are every case's body with its own case.
//
// Checks: no panic; the input is not modified; a refusal is ErrDecrypt
// with no plaintext; an accepted body is at most 4096 bytes, its plaintext
// at most MaxPlaintext, a second Decrypt agrees, and changing its last
// byte (the tag's) makes it refused; a plaintext that was accepted
// encrypts (Encrypt) to a body that opens to it again.
func FuzzWebPushDecrypt(f *testing.F) {
	file, err := vectors.Load[vectors.PushCase]("push.json")
	if err != nil {
		f.Fatal(err)
	}
	type ua struct {
		key  *ecdh.PrivateKey
		auth []byte
	}
	var uas []ua
	for i, c := range file.Cases {
		k, err := ecdh.P256().NewPrivateKey(c.UAPrivate)
		if err != nil {
			f.Fatalf("%s: %v", c.ID, err)
		}
		uas = append(uas, ua{k, c.AuthSecret})
		f.Add(bytes.Clone(c.Body), uint8(i))
	}

	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		u := uas[int(which)%len(uas)]
		in := bytes.Clone(body)
		pt, err := webpush.Decrypt(body, u.key, u.auth)
		if !bytes.Equal(in, body) {
			t.Fatal("input modified")
		}
		if err != nil {
			if !errors.Is(err, webpush.ErrDecrypt) || pt != nil {
				t.Fatalf("refusal %v of the wrong kind, or with a plaintext", err)
			}
			return
		}
		if len(body) > webpush.MaxBody || len(pt) > webpush.MaxPlaintext {
			t.Fatalf("accepted a body of %d bytes, plaintext %d", len(body), len(pt))
		}
		again, err := webpush.Decrypt(body, u.key, u.auth)
		if err != nil || !bytes.Equal(again, pt) {
			t.Fatal("a second Decrypt disagrees")
		}
		altered := bytes.Clone(body)
		altered[len(altered)-1] ^= 0x80
		if _, err := webpush.Decrypt(altered, u.key, u.auth); !errors.Is(err, webpush.ErrDecrypt) {
			t.Fatalf("an altered tag is accepted: %v", err)
		}
		sub := webpush.Subscription{Endpoint: "https://push.example.net/p/1", P256dh: u.key.PublicKey().Bytes(), Auth: u.auth}
		re, err := webpush.Encrypt(rand.Reader, sub, pt)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := webpush.Decrypt(re, u.key, u.auth); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("re-encryption does not open: %v", err)
		}
	})
}
