package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// The labels of RFC 8291 §3.4 and RFC 8188 §2.2–§2.3, byte for byte
// (spec/push.md §4.3). Each is followed by one zero byte where it is used.
const (
	keyInfoLabel   = "WebPush: info"
	cekInfoLabel   = "Content-Encoding: aes128gcm"
	nonceInfoLabel = "Content-Encoding: nonce"
)

// The aes128gcm header of RFC 8188 §2.1 as RFC 8291 §4 fixes it
// (spec/push.md §4.4): salt(16) || rs(4, big-endian) || idlen(1) = 65 ||
// keyid = the sender's ephemeral public key (65).
const (
	saltSize   = 16
	headerSize = saltSize + 4 + 1 + PublicKeySize
	tagSize    = 16
	cekSize    = 16
	nonceSize  = 12
	// recordSize is the rs the sender writes.
	recordSize = 4096
	// delimiter ends the plaintext of the last (here, only) record.
	delimiter = 0x02
)

// Encrypt encrypts plaintext for sub (spec/push.md §4.3–§4.4): one
// aes128gcm record with rs 4096 and no padding. rand supplies the 16-byte
// salt and then the ephemeral P-256 key, in that order (the key by
// rejection sampling: 32 bytes at a time until they are a valid scalar);
// pass crypto/rand.Reader.
func Encrypt(rand io.Reader, sub Subscription, plaintext []byte) ([]byte, error) {
	if len(sub.P256dh) != PublicKeySize || len(sub.Auth) != AuthSize {
		return nil, fmt.Errorf("%w: key or secret of the wrong size", ErrInvalidSubscription)
	}
	var salt [saltSize]byte
	if _, err := io.ReadFull(rand, salt[:]); err != nil {
		return nil, fmt.Errorf("webpush: reading salt: %w", err)
	}
	eph, err := ephemeralKey(rand)
	if err != nil {
		return nil, err
	}
	return encrypt(salt, eph, sub.P256dh, sub.Auth, plaintext)
}

// ephemeralKey draws a P-256 private key from rand: the candidate scalar
// is 32 bytes read from rand, redrawn while it is zero or not below the
// group order (FIPS 186-5 A.4.2).
func ephemeralKey(rand io.Reader) (*ecdh.PrivateKey, error) {
	var b [32]byte
	for range 64 {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return nil, fmt.Errorf("webpush: reading ephemeral key: %w", err)
		}
		if k, err := ecdh.P256().NewPrivateKey(b[:]); err == nil {
			clear(b[:])
			return k, nil
		}
	}
	return nil, fmt.Errorf("webpush: rand gives no valid P-256 scalar")
}

// keys holds what spec/push.md §4.3 derives; the vector test compares each.
type keys struct {
	ecdhSecret []byte
	ikm        []byte
	prk        []byte
	cek        []byte
	nonce      []byte
}

// deriveKeys runs spec/push.md §4.3 (RFC 8291 §3.3–§3.4, RFC 8188 §2.2–§2.3).
// priv is this side's key (the ephemeral key when sending, the user
// agent's when receiving) and peer the other side's public key; uaPub and
// asPub are the user agent's and the sender's public keys as sent.
func deriveKeys(salt []byte, priv *ecdh.PrivateKey, peer *ecdh.PublicKey, uaPub, asPub, auth []byte) (*keys, error) {
	secret, err := priv.ECDH(peer)
	if err != nil {
		return nil, err
	}
	// key_info = "WebPush: info" || 0x00 || ua_public || as_public
	keyInfo := make([]byte, 0, len(keyInfoLabel)+1+2*PublicKeySize)
	keyInfo = append(append(append(append(keyInfo, keyInfoLabel...), 0), uaPub...), asPub...)
	// PRK_key = HMAC-SHA-256(auth_secret, ecdh_secret); IKM = HKDF-Expand(PRK_key, key_info, 32)
	ikm, err := hkdf.Key(sha256.New, secret, auth, string(keyInfo), 32)
	if err != nil {
		return nil, err
	}
	// PRK = HMAC-SHA-256(salt, IKM)
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, cekInfoLabel+"\x00", cekSize)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, nonceInfoLabel+"\x00", nonceSize)
	if err != nil {
		return nil, err
	}
	return &keys{ecdhSecret: secret, ikm: ikm, prk: prk, cek: cek, nonce: nonce}, nil
}

func (k *keys) clear() {
	clear(k.ecdhSecret)
	clear(k.ikm)
	clear(k.prk)
	clear(k.cek)
	clear(k.nonce)
}

// encrypt is Encrypt with the salt and ephemeral key given: the
// deterministic core the vectors test (spec/push.md §4.3–§4.4).
func encrypt(salt [saltSize]byte, eph *ecdh.PrivateKey, uaPub, auth, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("webpush: plaintext of %d bytes, at most %d", len(plaintext), MaxPlaintext)
	}
	if len(auth) != AuthSize {
		return nil, fmt.Errorf("%w: auth is %d bytes, want %d", ErrInvalidSubscription, len(auth), AuthSize)
	}
	ua, err := ecdh.P256().NewPublicKey(uaPub)
	if err != nil || len(uaPub) != PublicKeySize {
		return nil, fmt.Errorf("%w: p256dh is not an uncompressed P-256 point", ErrInvalidSubscription)
	}
	asPub := eph.PublicKey().Bytes()
	k, err := deriveKeys(salt[:], eph, ua, uaPub, asPub, auth)
	if err != nil {
		return nil, fmt.Errorf("webpush: key agreement: %w", err)
	}
	defer k.clear()
	aead, err := newAEAD(k.cek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerSize, headerSize+len(plaintext)+1+tagSize)
	copy(out, salt[:])
	binary.BigEndian.PutUint32(out[saltSize:], recordSize)
	out[saltSize+4] = PublicKeySize
	copy(out[saltSize+5:], asPub)
	// The only record is the last: plaintext || 0x02, no padding; its
	// sequence number is 0, so its nonce is NONCE itself (RFC 8188 §2.3).
	rec := append(append(make([]byte, 0, len(plaintext)+1), plaintext...), delimiter)
	out = aead.Seal(out, k.nonce, rec, nil)
	clear(rec)
	return out, nil
}

func newAEAD(cek []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("webpush: %w", err)
	}
	return cipher.NewGCM(b)
}

// Decrypt opens a Web Push message body for the user agent whose key is
// priv and whose authentication secret is auth (spec/push.md §4.5). It is
// strict: the body must be one aes128gcm record of at most MaxBody bytes,
// with idlen 65 and a P-256 key as keyid, an rs larger than the record,
// and a plaintext ending in 0x02 followed only by zeros. Every refusal is
// ErrDecrypt, whatever check failed.
func Decrypt(body []byte, priv *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if priv == nil || priv.Curve() != ecdh.P256() || len(auth) != AuthSize {
		return nil, ErrDecrypt
	}
	if len(body) > MaxBody || len(body) < headerSize+1+tagSize {
		return nil, ErrDecrypt
	}
	salt := body[:saltSize]
	rs := binary.BigEndian.Uint32(body[saltSize:])
	idlen := body[saltSize+4]
	asPub := body[saltSize+5 : headerSize]
	record := body[headerSize:]
	// RFC 8291 §4: rs greater than the record, so the record is the only
	// one; RFC 8188 §2: rs at least 18.
	if idlen != PublicKeySize || rs < 18 || uint64(rs) <= uint64(len(record)) {
		return nil, ErrDecrypt
	}
	as, err := ecdh.P256().NewPublicKey(asPub)
	if err != nil {
		return nil, ErrDecrypt
	}
	k, err := deriveKeys(salt, priv, as, priv.PublicKey().Bytes(), asPub, auth)
	if err != nil {
		return nil, ErrDecrypt
	}
	defer k.clear()
	aead, err := newAEAD(k.cek)
	if err != nil {
		return nil, ErrDecrypt
	}
	pt, err := aead.Open(nil, k.nonce, record, nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	// Padding: the last non-zero byte is the delimiter (RFC 8188 §2).
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 || pt[i] != delimiter {
		clear(pt)
		return nil, ErrDecrypt
	}
	return pt[:i:i], nil
}
