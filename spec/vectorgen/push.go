package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/push/webpush"
)

func init() {
	register("push.json", genPush)
}

// The example of RFC 8291 Appendix A, base64url as the RFC prints it.
const (
	rfc8291Plaintext = "V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24"
	rfc8291ASPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
	rfc8291UAPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
	rfc8291Salt      = "DGv6ra1nlYgDCS1FRnbzlw"
	rfc8291Auth      = "BTBZMqHH6r4Tts7J_aSIgg"
	rfc8291Body      = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_" +
		"yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)

// pushHMAC is HMAC-SHA-256; HKDF-Expand to at most 32 bytes is one HMAC of
// info || 0x01 (RFC 5869 §2.3), written out here rather than borrowed from
// the code under test.
func pushHMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// pushMessage is the sender's side of one case (spec/push.md §4.3–§4.4).
type pushMessage struct {
	ua        *ecdh.PrivateKey
	auth      []byte
	salt      []byte
	as        *ecdh.PrivateKey
	rs        uint32
	idlen     byte
	record    []byte // the plaintext record: plaintext || delimiter || padding
	plaintext []byte
	padding   int
}

// seal derives the keys and encrypts m's record, filling c.
func (m *pushMessage) seal(c *vectors.PushCase) error {
	uaPub, asPub := m.ua.PublicKey().Bytes(), m.as.PublicKey().Bytes()
	secret, err := m.as.ECDH(m.ua.PublicKey())
	if err != nil {
		return err
	}
	prkKey := pushHMAC(m.auth, secret)
	ikm := pushHMAC(prkKey, []byte("WebPush: info\x00"), uaPub, asPub, []byte{1})
	prk := pushHMAC(m.salt, ikm)
	cek := pushHMAC(prk, []byte("Content-Encoding: aes128gcm\x00\x01"))[:16]
	nonce := pushHMAC(prk, []byte("Content-Encoding: nonce\x00\x01"))[:12]
	b, err := aes.NewCipher(cek)
	if err != nil {
		return err
	}
	gcm, err := cipher.NewGCM(b)
	if err != nil {
		return err
	}
	body := append([]byte{}, m.salt...)
	body = binary.BigEndian.AppendUint32(body, m.rs)
	body = append(body, m.idlen)
	body = append(body, asPub...)
	body = gcm.Seal(body, nonce, m.record, nil)

	c.UAPrivate, c.UAPublic, c.AuthSecret = m.ua.Bytes(), uaPub, m.auth
	c.Salt, c.ASPrivate, c.ASPublic = m.salt, m.as.Bytes(), asPub
	c.ECDHSecret, c.IKM, c.PRK, c.CEK, c.Nonce = secret, ikm, prk, cek, nonce
	c.Body = body
	return nil
}

func genPush() ([]byte, error) {
	r := testrand.New("vectors/push")
	key := func() *ecdh.PrivateKey {
		for {
			b := make([]byte, 32)
			r.Read(b)
			if k, err := ecdh.P256().NewPrivateKey(b); err == nil {
				return k
			}
		}
	}
	rnd := func(n int) []byte { b := make([]byte, n); r.Read(b); return b }
	d := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			panic(err)
		}
		return b
	}
	marker := []byte(webpush.WakeMarker)
	message := func(ua *ecdh.PrivateKey, plaintext []byte, padding int) *pushMessage {
		rec := append(append(bytes.Clone(plaintext), 2), make([]byte, padding)...)
		return &pushMessage{ua: ua, auth: rnd(16), salt: rnd(16), as: key(), rs: 4096, idlen: 65, record: rec, plaintext: plaintext, padding: padding}
	}

	var cases []vectors.PushCase
	// ok adds an accepted case; one without padding must be what
	// webpush.Encrypt writes, given the salt and ephemeral key.
	ok := func(id, comment string, m *pushMessage) error {
		c := vectors.PushCase{ID: id, Comment: comment, Plaintext: m.plaintext, Padding: m.padding, Result: "ok"}
		if err := m.seal(&c); err != nil {
			return err
		}
		if m.padding == 0 && m.rs == 4096 {
			sub := webpush.Subscription{Endpoint: "https://push.example.net/p/1", P256dh: c.UAPublic, Auth: c.AuthSecret}
			got, err := webpush.Encrypt(io.MultiReader(bytes.NewReader(c.Salt), bytes.NewReader(c.ASPrivate)), sub, m.plaintext)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, c.Body) {
				return fmt.Errorf("%s: webpush.Encrypt disagrees with the generator", id)
			}
		}
		cases = append(cases, c)
		return nil
	}
	// refuse adds a refused case: only the user agent's side and the body.
	refuse := func(id, comment string, ua *ecdh.PrivateKey, auth, body []byte) {
		cases = append(cases, vectors.PushCase{ID: id, Comment: comment, UAPrivate: ua.Bytes(), UAPublic: ua.PublicKey().Bytes(), AuthSecret: auth, Body: body, Result: "decrypt"})
	}
	sealed := func(m *pushMessage) []byte {
		var c vectors.PushCase
		if err := m.seal(&c); err != nil {
			panic(err)
		}
		return c.Body
	}

	rfcUA, err := ecdh.P256().NewPrivateKey(d(rfc8291UAPrivate))
	if err != nil {
		return nil, err
	}
	rfcAS, err := ecdh.P256().NewPrivateKey(d(rfc8291ASPrivate))
	if err != nil {
		return nil, err
	}
	rfc := &pushMessage{ua: rfcUA, auth: d(rfc8291Auth), salt: d(rfc8291Salt), as: rfcAS, rs: 4096, idlen: 65,
		record: append(d(rfc8291Plaintext), 2), plaintext: d(rfc8291Plaintext)}
	if err := ok("rfc8291-appendix-a", "RFC 8291 Appendix A", rfc); err != nil {
		return nil, err
	}
	if !bytes.Equal(cases[0].Body, d(rfc8291Body)) {
		return nil, fmt.Errorf("the generator does not reproduce RFC 8291 Appendix A")
	}

	ua1, ua2 := key(), key()
	if err := ok("wake-1", "the wake-up marker (spec/push.md §4.1)", message(ua1, marker, 0)); err != nil {
		return nil, err
	}
	if err := ok("wake-2", "the wake-up marker to another user agent", message(ua2, marker, 0)); err != nil {
		return nil, err
	}
	if err := ok("empty", "an empty plaintext: the record is the delimiter alone", message(ua1, nil, 0)); err != nil {
		return nil, err
	}
	if err := ok("padded", "the marker with 10 zero bytes of padding after the delimiter", message(ua1, marker, 10)); err != nil {
		return nil, err
	}
	small := message(ua1, marker, 0)
	small.rs = uint32(len(small.record) + 16 + 1)
	if err := ok("rs-just-above", "rs one more than the record's length", small); err != nil {
		return nil, err
	}

	good := message(ua1, marker, 0)
	body := sealed(good)
	flip := func(i int) []byte { b := bytes.Clone(body); b[i] ^= 0x01; return b }
	refuse("truncated-header", "85 bytes: the header alone is 86", ua1, good.auth, body[:85])
	refuse("no-record", "the header without a record", ua1, good.auth, body[:86])
	refuse("truncated-tag", "the last byte of the tag missing", ua1, good.auth, body[:len(body)-1])
	refuse("tag-altered", "one bit of the tag changed", ua1, good.auth, flip(len(body)-1))
	refuse("ciphertext-altered", "one bit of the ciphertext changed", ua1, good.auth, flip(86))
	refuse("salt-altered", "one bit of the salt changed", ua1, good.auth, flip(0))
	refuse("keyid-altered", "one bit of the ephemeral key's x changed: another point or none", ua1, good.auth, flip(22))
	refuse("wrong-auth", "the right key, another authentication secret", ua1, rnd(16), body)
	refuse("wrong-key", "another user agent's key", ua2, good.auth, body)

	m := message(ua1, marker, 0)
	m.idlen = 64
	refuse("idlen-64", "idlen is not 65", ua1, m.auth, sealed(m))
	offCurve := bytes.Clone(body)
	offCurve[21] = 4
	copy(offCurve[22:86], make([]byte, 64))
	refuse("keyid-off-curve", "keyid is 0x04 followed by zeros, not a point", ua1, good.auth, offCurve)
	m = message(ua1, marker, 0)
	m.rs = uint32(len(m.record) + 16)
	refuse("rs-equal", "rs equal to the record's length: not greater (RFC 8291 §4)", ua1, m.auth, sealed(m))
	m = message(ua1, marker, 0)
	m.rs = 17
	refuse("rs-17", "rs below the minimum of 18 (RFC 8188 §2)", ua1, m.auth, sealed(m))
	m = message(ua1, marker, 0)
	m.record[len(m.record)-1] = 1
	refuse("delimiter-1", "the delimiter of a record that is not the last", ua1, m.auth, sealed(m))
	m = message(ua1, marker, 0)
	m.record = bytes.Clone(marker)
	refuse("no-delimiter", "the plaintext without a delimiter", ua1, m.auth, sealed(m))
	m = message(ua1, marker, 3)
	m.record[len(m.record)-2] = 1
	refuse("padding-not-zero", "a non-zero byte in the padding", ua1, m.auth, sealed(m))
	m = message(ua1, nil, 0)
	m.record = make([]byte, 5)
	refuse("all-zero-record", "a record of zeros: no delimiter", ua1, m.auth, sealed(m))
	m = message(ua1, bytes.Repeat([]byte{'a'}, 4096-86-17+1), 0)
	refuse("too-large", "a body of 4097 bytes, one over the limit", ua1, m.auth, sealed(m))
	// Two records of rs = 40: 23 bytes and delimiter 0x01, then the rest
	// and 0x02, each sealed under its own nonce (RFC 8188 §2.3). One record
	// only is accepted (RFC 8291 §4).
	m = message(ua1, marker, 0)
	var c vectors.PushCase
	m.rs = 40
	m.record = append(bytes.Repeat([]byte{'b'}, 23), 1)
	if err := m.seal(&c); err != nil {
		return nil, err
	}
	b2, _ := aes.NewCipher(c.CEK)
	gcm, _ := cipher.NewGCM(b2)
	n2 := bytes.Clone(c.Nonce)
	n2[11] ^= 1
	two := gcm.Seal(c.Body, n2, []byte("bb\x02"), nil)
	refuse("two-records", "two records of rs 40", ua1, m.auth, two)

	return encode(&vectors.File[vectors.PushCase]{
		Description: "Web Push message bodies (RFC 8291, aes128gcm of RFC 8188) and what a user agent makes of them",
		Spec:        "spec/push.md §4.10",
		Cases:       cases,
	})
}
