package main

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/seal"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
	"golang.org/x/crypto/chacha20poly1305"
)

func init() { register("seal.json", genSeal) }

// sealCreated is the creation time of every sender certificate:
// 2026-01-01T00:00:00Z.
const sealCreated = 1767225600

// sealSpec describes one case. The zero value of each field is the honest
// choice.
type sealSpec struct {
	id, comment string
	handle      string
	msgLen      int
	unrelated   bool // the certificate is signed by an unrelated key
	lies        bool // the static agreement uses a key the certificate does not name
	wrongTo     bool // sealed to another device than the one that opens
	certBlock   func(b []byte)
	msgBlock    func(b []byte) []byte
	mutation    string
	mutate      func(env []byte) []byte
	err         string // "", "malformed" or "decrypt"
}

func flipBit(i int, bit byte) func([]byte) []byte {
	return func(env []byte) []byte { env[i] ^= bit; return env }
}

// ephemeralKey is a case whose ephemeral key is replaced by a key the
// X25519 public key check refuses (spec/keys.md §2.1).
func ephemeralKey(id, what, key string) sealSpec {
	return sealSpec{id: id, comment: "ephemeral key replaced by " + what, handle: "alice", msgLen: 64,
		mutation: "bytes 1..32 = " + key, mutate: func(env []byte) []byte { copy(env[1:33], unhex(key)); return env }, err: "decrypt"}
}

func sealSpecs() []sealSpec {
	const c2 = 1 + 32 + seal.CertBlockSize + 16
	return []sealSpec{
		{id: "empty", comment: "empty message, smallest envelope", handle: "alice"},
		{id: "bucket-boundary-512", comment: "237-byte message fills the 512-byte envelope exactly: no message padding", handle: "alice", msgLen: 512 - 275},
		{id: "next-bucket-1024", comment: "238-byte message, one byte over, takes the 1024-byte envelope", handle: "alice", msgLen: 512 - 274},
		{id: "message-1kib", comment: "1024-byte message in a 2048-byte envelope", handle: "carol.smith", msgLen: 1024},
		{id: "longest-handle", comment: "32-byte handle: the certificate fills the certificate block, no padding", handle: "abcdefghijklmnopqrstuvwxyz012345", msgLen: 300},
		{id: "shortest-handle", comment: "3-byte handle: 29 bytes of certificate block padding", handle: "bob", msgLen: 5},

		{id: "wrong-recipient", comment: "sealed to another device's identity key", handle: "alice", msgLen: 64, wrongTo: true, err: "decrypt"},
		{id: "unrelated-signer", comment: "certificate names the sender's account key but is signed by an unrelated key", handle: "alice", msgLen: 64, unrelated: true, err: "decrypt"},
		{id: "flip-ephemeral", comment: "bit flipped in the ephemeral key", handle: "alice", msgLen: 64,
			mutation: "byte 6 ^= 0x01", mutate: flipBit(6, 0x01), err: "decrypt"},
		{id: "ephemeral-high-bit", comment: "ephemeral key with bit 255 set: not canonical", handle: "alice", msgLen: 64,
			mutation: "byte 32 ^= 0x80", mutate: flipBit(32, 0x80), err: "decrypt"},
		{id: "ephemeral-zero", comment: "ephemeral key replaced by u = 0, a low-order point", handle: "alice", msgLen: 64,
			mutation: "bytes 1..32 = 0", mutate: func(env []byte) []byte { clear(env[1:33]); return env }, err: "decrypt"},
		ephemeralKey("ephemeral-one", "u = 1, a low-order point", "0100000000000000000000000000000000000000000000000000000000000000"),
		ephemeralKey("ephemeral-order-8-a", "a point of order 8", x25519LowOrder),
		ephemeralKey("ephemeral-order-8-b", "the other point of order 8", "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
		ephemeralKey("ephemeral-p-minus-1", "u = p − 1, a low-order point", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
		ephemeralKey("ephemeral-p", "u = p: not reduced", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
		ephemeralKey("ephemeral-p-plus-1", "u = p + 1: not reduced", x25519NotReduced),
		{id: "flip-c1", comment: "bit flipped in the encrypted certificate block", handle: "alice", msgLen: 64,
			mutation: "byte 83 ^= 0x80", mutate: flipBit(83, 0x80), err: "decrypt"},
		{id: "flip-c1-tag", comment: "bit flipped in the certificate block's tag", handle: "alice", msgLen: 64,
			mutation: fmt.Sprintf("byte %d ^= 0x01", c2-1), mutate: flipBit(c2-1, 0x01), err: "decrypt"},
		{id: "flip-c2", comment: "bit flipped in the encrypted message block", handle: "alice", msgLen: 64,
			mutation: fmt.Sprintf("byte %d ^= 0x04", c2+2), mutate: flipBit(c2+2, 0x04), err: "decrypt"},
		{id: "flip-c2-tag", comment: "bit flipped in the message block's tag", handle: "alice", msgLen: 64,
			mutation: "byte 511 ^= 0x01", mutate: flipBit(511, 0x01), err: "decrypt"},
		{id: "version", comment: "unknown version byte", handle: "alice", msgLen: 64,
			mutation: "byte 0 = 0x02", mutate: func(env []byte) []byte { env[0] = 2; return env }, err: "malformed"},
		{id: "truncated", comment: "last byte removed: not an envelope size", handle: "alice", msgLen: 64,
			mutation: "last byte removed", mutate: func(env []byte) []byte { return env[:len(env)-1] }, err: "malformed"},
		{id: "extended", comment: "zero byte appended: not an envelope size", handle: "alice", msgLen: 64,
			mutation: "0x00 appended", mutate: func(env []byte) []byte { return append(env, 0) }, err: "malformed"},
		{id: "cut-to-smaller-bucket", comment: "1024-byte envelope cut to its first 512 bytes: a valid size that does not authenticate", handle: "alice", msgLen: 300,
			mutation: "first 512 bytes kept", mutate: func(env []byte) []byte { return env[:512] }, err: "decrypt"},

		{id: "sender-lies", comment: "static agreement with a key the certificate does not name (Seal refuses this)", handle: "alice", msgLen: 64, lies: true, err: "decrypt"},
		{id: "cert-padding-nonzero", comment: "last byte of the certificate block padding is 0x01", handle: "alice", msgLen: 64,
			certBlock: func(b []byte) { b[len(b)-1] = 1 }, err: "decrypt"},
		{id: "cert-handle-length-33", comment: "certificate handle length byte 33: the certificate would overrun the block", handle: "alice", msgLen: 64,
			certBlock: func(b []byte) { b[1] = 33 }, err: "decrypt"},
		{id: "message-padding-nonzero", comment: "last byte of the message block padding is 0x01", handle: "alice", msgLen: 64,
			msgBlock: func(b []byte) []byte { b[len(b)-1] = 1; return b }, err: "decrypt"},
		{id: "message-length-too-large", comment: "length field one more than the block holds", handle: "alice", msgLen: 64,
			msgBlock: func(b []byte) []byte { binary.BigEndian.PutUint32(b, uint32(len(b)-3)); return b }, err: "decrypt"},
		{id: "larger-bucket", comment: "10-byte message padded into a 1024-byte envelope: Open accepts a larger bucket than the smallest", handle: "alice", msgLen: 10,
			msgBlock: func(b []byte) []byte { return append(b, make([]byte, 512)...) }},
	}
}

func genSeal() (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("seal: %v", r)
		}
	}()
	var cases []vectors.SealCase
	for _, s := range sealSpecs() {
		cases = append(cases, sealCase(s))
	}
	return encode(&vectors.File[vectors.SealCase]{
		Description: "Sealpost sealed envelopes. Every secret and intermediate value is recorded; " +
			"sealed is the envelope built from cert_block and message_block, envelope is what Open is given, error what it returns.",
		Spec:  "spec/seal.md",
		Cases: cases,
	})
}

func sealCheck[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func read32(r io.Reader) []byte {
	b := make([]byte, 32)
	sealCheck(io.ReadFull(r, b))
	return b
}

func dhPublic(priv []byte) []byte {
	return sealCheck(ecdh.X25519().NewPrivateKey(priv)).PublicKey().Bytes()
}

// sealCase builds one case and checks it against crypto/seal: Seal must
// return the reference envelope when the case says so, and Open must return
// the recorded result.
func sealCase(s sealSpec) vectors.SealCase {
	r := testrand.New("seal.json " + s.id)
	c := vectors.SealCase{ID: s.id, Comment: s.comment, SenderHandle: s.handle, SenderDevice: 3, SenderCreated: sealCreated, Mutation: s.mutation, Error: s.err}
	c.SenderAccountSeed = read32(r)
	c.CertSignerSeed = c.SenderAccountSeed
	if s.unrelated {
		c.CertSignerSeed = read32(r)
	}
	c.SenderSigningSeed, c.SenderDHPrivate = read32(r), read32(r)
	c.StaticDHPrivate = c.SenderDHPrivate
	if s.lies {
		c.StaticDHPrivate = read32(r)
	}
	c.RecipientSigningSeed, c.RecipientDHPrivate = read32(r), read32(r)
	c.SealedTo = dhPublic(c.RecipientDHPrivate)
	if s.wrongTo {
		c.SealedTo = dhPublic(read32(r))
	}
	c.EphemeralPrivate = read32(r)
	c.EphemeralPublic = dhPublic(c.EphemeralPrivate)
	c.Message = make([]byte, s.msgLen)
	sealCheck(io.ReadFull(r, c.Message))

	account := sealCheck(keys.NewAccountPrivateKey(c.SenderAccountSeed))
	signer := sealCheck(keys.NewAccountPrivateKey(c.CertSignerSeed))
	device := sealCheck(keys.NewDevicePrivateKeys(c.SenderSigningSeed, c.SenderDHPrivate))
	cert := sealCheck(signer.CertifyDevice(s.handle, keys.DeviceID(c.SenderDevice), device.Public(), time.Unix(sealCreated, 0)))
	cert.AccountKey = account.Public()
	c.SenderCertificate = cert.Marshal()

	c.CertBlock = make([]byte, seal.CertBlockSize)
	copy(c.CertBlock, c.SenderCertificate)
	size := sealCheck(seal.BucketSize(s.msgLen))
	c.MessageBlock = make([]byte, size-seal.Overhead)
	binary.BigEndian.PutUint32(c.MessageBlock, uint32(s.msgLen))
	copy(c.MessageBlock[4:], c.Message)
	c.SealedBy = "seal"
	if s.certBlock != nil {
		s.certBlock(c.CertBlock)
		c.SealedBy = "blocks"
	}
	if s.msgBlock != nil {
		c.MessageBlock = s.msgBlock(c.MessageBlock)
		c.SealedBy = "blocks"
	}
	if s.lies {
		c.SealedBy = "blocks"
	}
	c.Sealed, c.EphemeralDH, c.OKM1, c.StaticDH, c.OKM2 = sealReference(c.EphemeralPrivate, c.StaticDHPrivate, c.SealedTo, c.CertBlock, c.MessageBlock)

	if c.SealedBy == "seal" {
		sender := sealCheck(keys.NewDevicePrivateKeys(c.SenderSigningSeed, c.StaticDHPrivate))
		got := sealCheck(seal.Seal(bytes.NewReader(c.EphemeralPrivate), sender, cert, keys.DevicePublicKeys{DH: [32]byte(c.SealedTo)}, c.Message))
		if !bytes.Equal(got, c.Sealed) {
			panic(s.id + ": seal.Seal disagrees with the reference construction")
		}
	}
	c.Envelope = bytes.Clone(c.Sealed)
	if s.mutate != nil {
		c.Envelope = s.mutate(c.Envelope)
	}

	recipient := sealCheck(keys.NewDevicePrivateKeys(c.RecipientSigningSeed, c.RecipientDHPrivate))
	o, err := seal.Open(recipient, c.Envelope)
	var got string
	switch {
	case err == nil:
		if !bytes.Equal(o.Message, c.Message) || !bytes.Equal(o.Sender.Marshal(), c.SenderCertificate) {
			panic(s.id + ": Open returned the wrong message or sender")
		}
	case errors.Is(err, seal.ErrMalformed):
		got = "malformed"
	case errors.Is(err, seal.ErrDecrypt):
		got = "decrypt"
	default:
		got = err.Error()
	}
	if got != c.Error {
		panic(fmt.Sprintf("%s: Open returned %q, want %q", s.id, got, c.Error))
	}
	return c
}

// sealReference seals the two blocks as spec/seal.md §4 says, written
// independently of crypto/seal from the standard library and x/crypto, so
// the generator checks the package against the spec rather than itself.
func sealReference(ephPriv, static, R, certBlock, msgBlock []byte) (env, eDH, okm1, sDH, okm2 []byte) {
	x := ecdh.X25519()
	e := sealCheck(x.NewPrivateKey(ephPriv))
	E := e.PublicKey().Bytes()
	rPub := sealCheck(x.NewPublicKey(R))
	eDH = sealCheck(e.ECDH(rPub))
	okm1 = sealCheck(hkdf.Key(sha256.New, eDH, concat(E, R), "sealpost/v1/seal-ephemeral", 76))
	header := concat([]byte{0x01}, E)
	c1 := sealCheck(chacha20poly1305.New(okm1[32:64])).Seal(nil, okm1[64:76], certBlock, header)
	header = concat(header, c1)

	sDH = sealCheck(sealCheck(x.NewPrivateKey(static)).ECDH(rPub))
	okm2 = sealCheck(hkdf.Key(sha256.New, sDH, concat(okm1[:32], c1), "sealpost/v1/seal-static", 44))
	c2 := sealCheck(chacha20poly1305.New(okm2[:32])).Seal(nil, okm2[32:44], msgBlock, header)
	return concat(header, c2), eDH, okm1, sDH, okm2
}

func concat(a, b []byte) []byte {
	return append(append(make([]byte, 0, len(a)+len(b)), a...), b...)
}
