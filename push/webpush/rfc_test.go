package webpush

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"testing"
)

// rfc8291 is the example of RFC 8291 Appendix A.
var rfc8291 = struct {
	plaintext, asPrivate, asPublic, uaPrivate, uaPublic, salt, auth, body string
}{
	plaintext: "V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24",
	asPrivate: "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
	asPublic:  "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
	uaPrivate: "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
	uaPublic:  "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
	salt:      "DGv6ra1nlYgDCS1FRnbzlw",
	auth:      "BTBZMqHH6r4Tts7J_aSIgg",
	body: "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_" +
		"yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Encrypt, given the RFC's salt and ephemeral key through rand, writes the
// RFC's body byte for byte, and Decrypt with the RFC's user agent key
// gives the plaintext back.
func TestRFC8291AppendixA(t *testing.T) {
	v := rfc8291
	sub := Subscription{Endpoint: "https://push.example.net/p/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV", P256dh: b64(t, v.uaPublic), Auth: b64(t, v.auth)}
	if err := sub.Validate(); err != nil {
		t.Fatal(err)
	}
	rand := bytes.NewReader(append(b64(t, v.salt), b64(t, v.asPrivate)...))
	body, err := Encrypt(rand, sub, b64(t, v.plaintext))
	if err != nil {
		t.Fatal(err)
	}
	if want := b64(t, v.body); !bytes.Equal(body, want) {
		t.Fatalf("body\n got %x\nwant %x", body, want)
	}
	if !bytes.Equal(body[headerSize-PublicKeySize:headerSize], b64(t, v.asPublic)) {
		t.Fatal("keyid is not the RFC's as_public")
	}
	ua, err := ecdh.P256().NewPrivateKey(b64(t, v.uaPrivate))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := Decrypt(body, ua, sub.Auth)
	if err != nil || !bytes.Equal(pt, b64(t, v.plaintext)) {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
	if _, err := Decrypt(body, ua, make([]byte, AuthSize)); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong auth: %v", err)
	}
}

// The intermediate values RFC 8291 Appendix A prints, from deriveKeys.
func TestRFC8291Intermediates(t *testing.T) {
	v := rfc8291
	as, err := ecdh.P256().NewPrivateKey(b64(t, v.asPrivate))
	if err != nil {
		t.Fatal(err)
	}
	ua, err := ecdh.P256().NewPublicKey(b64(t, v.uaPublic))
	if err != nil {
		t.Fatal(err)
	}
	k, err := deriveKeys(b64(t, v.salt), as, ua, b64(t, v.uaPublic), b64(t, v.asPublic), b64(t, v.auth))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		got  []byte
		want string
	}{
		"ecdh_secret": {k.ecdhSecret, "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs"},
		"IKM":         {k.ikm, "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg"},
		"PRK":         {k.prk, "09_eUZGrsvxChDCGRCdkLiDXrReGOEVeSCdCcPBSJSc"},
		"CEK":         {k.cek, "oIhVW04MRdy2XN9CiKLxTg"},
		"NONCE":       {k.nonce, "4h_95klXJ5E_qnoN"},
	} {
		if !bytes.Equal(c.got, b64(t, c.want)) {
			t.Errorf("%s = %s, want %s", name, base64.RawURLEncoding.EncodeToString(c.got), c.want)
		}
	}
}
