package webpush

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"io"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
)

// Every case of spec/vectors/push.json (spec/push.md §4.10): an ok body
// decrypts to its plaintext and, unpadded, is what Encrypt writes from the
// case's salt and ephemeral key, through every intermediate value; a
// decrypt case is refused with ErrDecrypt.
func TestVectors(t *testing.T) {
	f, err := vectors.Load[vectors.PushCase]("push.json")
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]int{}
	for _, c := range f.Cases {
		t.Run(c.ID, func(t *testing.T) {
			results[c.Result]++
			ua, err := ecdh.P256().NewPrivateKey(c.UAPrivate)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ua.PublicKey().Bytes(), c.UAPublic) {
				t.Fatal("ua_public is not ua_private's")
			}
			in := bytes.Clone(c.Body)
			pt, err := Decrypt(c.Body, ua, c.AuthSecret)
			if !bytes.Equal(in, c.Body) {
				t.Fatal("Decrypt modified its input")
			}
			switch c.Result {
			case "ok":
				if err != nil || !bytes.Equal(pt, c.Plaintext) {
					t.Fatalf("Decrypt = %x, %v; want %x", pt, err, []byte(c.Plaintext))
				}
			case "decrypt":
				if !errors.Is(err, ErrDecrypt) || pt != nil {
					t.Fatalf("Decrypt = %x, %v; want ErrDecrypt", pt, err)
				}
				if len(c.Salt)+len(c.ASPrivate)+len(c.Plaintext)+len(c.CEK) != 0 || c.Padding != 0 {
					t.Fatal("a refusal case with sender values")
				}
				return
			default:
				t.Fatalf("unknown result %q", c.Result)
			}

			as, err := ecdh.P256().NewPrivateKey(c.ASPrivate)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(as.PublicKey().Bytes(), c.ASPublic) || !bytes.Equal(c.Body[headerSize-PublicKeySize:headerSize], c.ASPublic) {
				t.Fatal("as_public is not as_private's or not the keyid")
			}
			k, err := deriveKeys(c.Salt, as, ua.PublicKey(), c.UAPublic, c.ASPublic, c.AuthSecret)
			if err != nil {
				t.Fatal(err)
			}
			for name, p := range map[string][2][]byte{
				"ecdh_secret": {k.ecdhSecret, c.ECDHSecret}, "ikm": {k.ikm, c.IKM}, "prk": {k.prk, c.PRK},
				"cek": {k.cek, c.CEK}, "nonce": {k.nonce, c.Nonce},
			} {
				if !bytes.Equal(p[0], p[1]) {
					t.Errorf("%s = %x, want %x", name, p[0], p[1])
				}
			}
			if c.Padding != 0 || !bytes.Equal(c.Body[16:20], []byte{0, 0, 0x10, 0}) {
				return // not what Encrypt writes
			}
			sub := Subscription{Endpoint: "https://push.example.net/p/1", P256dh: c.UAPublic, Auth: c.AuthSecret}
			body, err := Encrypt(io.MultiReader(bytes.NewReader(c.Salt), bytes.NewReader(c.ASPrivate)), sub, c.Plaintext)
			if err != nil || !bytes.Equal(body, c.Body) {
				t.Fatalf("Encrypt = %x, %v", body, err)
			}
		})
	}
	if results["ok"] == 0 || results["decrypt"] == 0 {
		t.Fatalf("results %v: want both kinds", results)
	}
	if f.Cases[0].ID != "rfc8291-appendix-a" {
		t.Fatal("the first case is not RFC 8291 Appendix A")
	}
}
