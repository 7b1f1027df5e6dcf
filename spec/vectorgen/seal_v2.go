package main

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
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

func init() { register("seal-v2.json", genSealHybrid) }

// Offsets of a version 2 envelope (spec/seal.md §10.2).
const (
	v2KeyID = 33
	v2CT    = 41
	v2C1    = 1129
	v2C2    = 1351
)

// sealHybridSpec describes one version 2 case. The zero value of each field
// is the honest choice: the opener holds one last-resort KEM prekey and the
// envelope is sealed to it.
type sealHybridSpec struct {
	id, comment string
	handle      string
	msgLen      int
	held        int  // last-resort KEM prekeys the opener holds (default 1)
	sealedTo    int  // index of the held prekey sealed to; -1: one it does not hold
	noLookup    bool // Open is given no KEM key lookup
	lies        bool
	wrongTo     bool
	msgBlock    func(b []byte) []byte
	mutation    string
	mutate      func(env []byte, c *vectors.SealHybridCase) []byte
	err         string
}

func flipV2(i int, bit byte) func([]byte, *vectors.SealHybridCase) []byte {
	return func(env []byte, _ *vectors.SealHybridCase) []byte { env[i] ^= bit; return env }
}

func sealHybridSpecs() []sealHybridSpec {
	return []sealHybridSpec{
		{id: "empty", comment: "empty message, smallest version 2 envelope (2048 bytes)", handle: "alice"},
		{id: "message-100", comment: "100-byte message, the typical text: 2048 bytes (512 in version 1)", handle: "alice", msgLen: 100},
		{id: "bucket-boundary-2048", comment: "677-byte message fills the 2048-byte envelope exactly: no message padding", handle: "alice", msgLen: 2048 - 1371},
		{id: "next-bucket-4096", comment: "678-byte message, one byte over, takes the 4096-byte envelope", handle: "alice", msgLen: 2048 - 1370},
		{id: "longest-handle", comment: "32-byte handle: the certificate fills the certificate block", handle: "abcdefghijklmnopqrstuvwxyz012345", msgLen: 300},
		{id: "retained-key", comment: "opener holds two last-resort KEM prekeys; sealed to the replaced one it still keeps", handle: "alice", msgLen: 64, held: 2, sealedTo: 1},
		{id: "larger-bucket", comment: "10-byte message padded into a 4096-byte envelope: Open accepts a larger bucket than the smallest", handle: "alice", msgLen: 10,
			msgBlock: func(b []byte) []byte { return append(b, make([]byte, 2048)...) }},

		{id: "no-kem-lookup", comment: "a version 2 envelope opened without KEM keys (Open, or OpenHybrid with a nil lookup)", handle: "alice", msgLen: 64, noLookup: true, err: "no_kem_keys"},
		{id: "unknown-key-id", comment: "sealed honestly to a last-resort KEM prekey of the recipient device that the opener no longer holds", handle: "alice", msgLen: 64, sealedTo: -1, err: "unknown_kem_key"},
		{id: "flip-key-id", comment: "bit flipped in the key id", handle: "alice", msgLen: 64,
			mutation: "byte 33 ^= 0x01", mutate: flipV2(33, 0x01), err: "unknown_kem_key"},
		{id: "key-id-of-other-held-key", comment: "key id replaced by that of the other prekey the opener holds: decapsulation with the wrong key", handle: "alice", msgLen: 64, held: 2,
			mutation: "bytes 33..40 = recipient_kem_prekeys[1].key_id",
			mutate: func(env []byte, c *vectors.SealHybridCase) []byte {
				copy(env[v2KeyID:v2CT], c.RecipientKEMPrekeys[1].KeyID)
				return env
			}, err: "decrypt"},
		{id: "flip-kem-ciphertext", comment: "bit flipped in the first byte of the ML-KEM ciphertext", handle: "alice", msgLen: 64,
			mutation: "byte 41 ^= 0x01", mutate: flipV2(41, 0x01), err: "decrypt"},
		{id: "flip-kem-ciphertext-last", comment: "bit flipped in the last byte of the ML-KEM ciphertext", handle: "alice", msgLen: 64,
			mutation: "byte 1128 ^= 0x80", mutate: flipV2(1128, 0x80), err: "decrypt"},
		{id: "flip-ephemeral", comment: "bit flipped in the ephemeral key", handle: "alice", msgLen: 64,
			mutation: "byte 6 ^= 0x01", mutate: flipV2(6, 0x01), err: "decrypt"},
		{id: "ephemeral-zero", comment: "ephemeral key replaced by u = 0, a low-order point", handle: "alice", msgLen: 64,
			mutation: "bytes 1..32 = 0", mutate: func(env []byte, _ *vectors.SealHybridCase) []byte { clear(env[1:33]); return env }, err: "decrypt"},
		{id: "flip-c1", comment: "bit flipped in the encrypted certificate block", handle: "alice", msgLen: 64,
			mutation: "byte 1200 ^= 0x80", mutate: flipV2(1200, 0x80), err: "decrypt"},
		{id: "flip-c2", comment: "bit flipped in the encrypted message block", handle: "alice", msgLen: 64,
			mutation: "byte 1353 ^= 0x04", mutate: flipV2(v2C2+2, 0x04), err: "decrypt"},
		{id: "flip-c2-tag", comment: "bit flipped in the message block's tag", handle: "alice", msgLen: 64,
			mutation: "byte 2047 ^= 0x01", mutate: flipV2(2047, 0x01), err: "decrypt"},
		{id: "version-1", comment: "byte 0 changed to 0x01: read as a version 1 envelope, which does not authenticate", handle: "alice", msgLen: 64,
			mutation: "byte 0 = 0x01", mutate: func(env []byte, _ *vectors.SealHybridCase) []byte { env[0] = 1; return env }, err: "decrypt"},
		{id: "version-3", comment: "unknown version byte", handle: "alice", msgLen: 64,
			mutation: "byte 0 = 0x03", mutate: func(env []byte, _ *vectors.SealHybridCase) []byte { env[0] = 3; return env }, err: "malformed"},
		{id: "truncated", comment: "last byte removed: not an envelope size", handle: "alice", msgLen: 64,
			mutation: "last byte removed", mutate: func(env []byte, _ *vectors.SealHybridCase) []byte { return env[:len(env)-1] }, err: "malformed"},
		{id: "cut-to-1024", comment: "cut to its first 1024 bytes: an envelope size, but below the smallest version 2 envelope", handle: "alice", msgLen: 64,
			mutation: "first 1024 bytes kept", mutate: func(env []byte, _ *vectors.SealHybridCase) []byte { return env[:1024] }, err: "malformed"},
		{id: "cut-to-smaller-bucket", comment: "4096-byte envelope cut to its first 2048 bytes: a valid size that does not authenticate", handle: "alice", msgLen: 1000,
			mutation: "first 2048 bytes kept", mutate: func(env []byte, _ *vectors.SealHybridCase) []byte { return env[:2048] }, err: "decrypt"},
		{id: "wrong-recipient", comment: "sealed to the recipient's KEM prekey but another device's X25519 key: the KEM part alone does not open it", handle: "alice", msgLen: 64, wrongTo: true, err: "decrypt"},
		{id: "sender-lies", comment: "static agreement with a key the certificate does not name (SealHybrid refuses this)", handle: "alice", msgLen: 64, lies: true, err: "decrypt"},
		{id: "message-padding-nonzero", comment: "last byte of the message block padding is 0x01", handle: "alice", msgLen: 64,
			msgBlock: func(b []byte) []byte { b[len(b)-1] = 1; return b }, err: "decrypt"},
	}
}

func genSealHybrid() (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("seal-v2: %v", r)
		}
	}()
	var cases []vectors.SealHybridCase
	for _, s := range sealHybridSpecs() {
		cases = append(cases, sealHybridCase(s))
	}
	return encode(&vectors.File[vectors.SealHybridCase]{
		Description: "Sealpost sealed envelopes, version 2 (X25519 + ML-KEM-768). Every secret and intermediate value is recorded; " +
			"sealed is the envelope built from cert_block and message_block, envelope is what Open is given, error what it returns.",
		Spec:  "spec/seal.md",
		Cases: cases,
	})
}

// kemPrekey makes the recipient device's last-resort KEM prekey from a
// 64-byte seed.
func kemPrekey(device *keys.DevicePrivateKeys, id uint32, seed []byte) vectors.SealKEMPrekey {
	_, pub := sealCheck2(device.GeneratePrekey(bytes.NewReader(seed), keys.LastResortKEMPrekey, id))
	K := sha256.Sum256(pub.Public)
	return vectors.SealKEMPrekey{ID: id, Seed: bytes.Clone(seed), Prekey: pub.Marshal(), KeyID: K[:8]}
}

func sealCheck2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

func read64(r io.Reader) []byte {
	b := make([]byte, 64)
	sealCheck(io.ReadFull(r, b))
	return b
}

// sealHybridCase builds one case and checks it against crypto/seal.
func sealHybridCase(s sealHybridSpec) vectors.SealHybridCase {
	r := testrand.New("seal-v2.json " + s.id)
	c := vectors.SealHybridCase{ID: s.id, Comment: s.comment, SenderHandle: s.handle, SenderDevice: 3, SenderCreated: sealCreated,
		KEMLookup: !s.noLookup, Mutation: s.mutation, Error: s.err}
	c.SenderAccountSeed = read32(r)
	c.SenderSigningSeed, c.SenderDHPrivate = read32(r), read32(r)
	c.StaticDHPrivate = c.SenderDHPrivate
	if s.lies {
		c.StaticDHPrivate = read32(r)
	}
	c.RecipientSigningSeed, c.RecipientDHPrivate = read32(r), read32(r)
	recipient := sealCheck(keys.NewDevicePrivateKeys(c.RecipientSigningSeed, c.RecipientDHPrivate))
	held := max(s.held, 1)
	for i := range held {
		c.RecipientKEMPrekeys = append(c.RecipientKEMPrekeys, kemPrekey(recipient, uint32(1000+i), read64(r)))
	}
	to := vectors.SealKEMPrekey{}
	if s.sealedTo < 0 {
		to = kemPrekey(recipient, 999, read64(r))
	} else {
		to = c.RecipientKEMPrekeys[s.sealedTo]
	}
	c.SealedToKEM = to.Prekey
	c.SealedTo = dhPublic(c.RecipientDHPrivate)
	if s.wrongTo {
		c.SealedTo = dhPublic(read32(r))
	}
	c.EphemeralPrivate = read32(r)
	c.EphemeralPublic = dhPublic(c.EphemeralPrivate)
	c.KEMRandomness = read32(r)
	c.Message = make([]byte, s.msgLen)
	sealCheck(io.ReadFull(r, c.Message))

	account := sealCheck(keys.NewAccountPrivateKey(c.SenderAccountSeed))
	device := sealCheck(keys.NewDevicePrivateKeys(c.SenderSigningSeed, c.SenderDHPrivate))
	cert := sealCheck(account.CertifyDevice(s.handle, keys.DeviceID(c.SenderDevice), device.Public(), time.Unix(sealCreated, 0)))
	c.SenderCertificate = cert.Marshal()

	c.CertBlock = make([]byte, seal.CertBlockSize)
	copy(c.CertBlock, c.SenderCertificate)
	size := sealCheck(seal.BucketSizeHybrid(s.msgLen))
	c.MessageBlock = make([]byte, size-seal.OverheadHybrid)
	binary.BigEndian.PutUint32(c.MessageBlock, uint32(s.msgLen))
	copy(c.MessageBlock[4:], c.Message)
	c.SealedBy = "seal"
	if s.msgBlock != nil {
		c.MessageBlock = s.msgBlock(c.MessageBlock)
		c.SealedBy = "blocks"
	}
	if s.lies {
		c.SealedBy = "blocks"
	}
	prekey := sealCheck(keys.ParsePrekey(c.SealedToKEM))
	ref := sealHybridReference(c.EphemeralPrivate, c.KEMRandomness, c.StaticDHPrivate, c.SealedTo, prekey.Public, c.CertBlock, c.MessageBlock)
	c.Sealed, c.KEMKeyHash, c.KeyID, c.KEMCiphertext, c.KEMSharedSecret = ref.env, ref.K, ref.K[:8], ref.ct, ref.ss
	c.EphemeralDH, c.Salt, c.OKM1, c.StaticDH, c.OKM2 = ref.eDH, ref.salt, ref.okm1, ref.sDH, ref.okm2

	to2 := keys.DevicePublicKeys{Signing: recipient.Public().Signing, DH: [32]byte(c.SealedTo)}
	if c.SealedBy == "seal" {
		sender := sealCheck(keys.NewDevicePrivateKeys(c.SenderSigningSeed, c.StaticDHPrivate))
		rnd := bytes.NewReader(concat(c.EphemeralPrivate, c.KEMRandomness))
		got := sealCheck(seal.SealHybrid(rnd, sender, cert, to2, prekey, c.Message))
		if !bytes.Equal(got, c.Sealed) || rnd.Len() != 0 {
			panic(s.id + ": seal.SealHybrid disagrees with the reference construction")
		}
	}
	c.Envelope = bytes.Clone(c.Sealed)
	if s.mutate != nil {
		c.Envelope = s.mutate(c.Envelope, &c)
	}

	var lookup seal.KEMKeys
	if !s.noLookup {
		lookup = func(id seal.KeyID) (*keys.PrekeyPrivate, bool) {
			for _, p := range c.RecipientKEMPrekeys {
				if bytes.Equal(p.KeyID, id[:]) {
					return sealCheck(keys.LoadPrekeyPrivate(keys.LastResortKEMPrekey, p.ID, bytes.Clone(p.Seed))), true
				}
			}
			return nil, false
		}
	}
	o, err := seal.OpenHybrid(recipient, lookup, c.Envelope)
	var got string
	switch {
	case err == nil:
		if !bytes.Equal(o.Message, c.Message) || !bytes.Equal(o.Sender.Marshal(), c.SenderCertificate) {
			panic(s.id + ": OpenHybrid returned the wrong message or sender")
		}
	case errors.Is(err, seal.ErrMalformed):
		got = "malformed"
	case errors.Is(err, seal.ErrNoKEMKeys):
		got = "no_kem_keys"
	case errors.Is(err, seal.ErrUnknownKEMKey):
		got = "unknown_kem_key"
	case errors.Is(err, seal.ErrDecrypt):
		got = "decrypt"
	default:
		got = err.Error()
	}
	if got != c.Error {
		panic(fmt.Sprintf("%s: OpenHybrid returned %q, want %q", s.id, got, c.Error))
	}
	return c
}

type hybridRef struct {
	env, K, ct, ss, eDH, salt, okm1, sDH, okm2 []byte
}

// sealHybridReference seals the two blocks as spec/seal.md §10.5 says,
// written from the standard library and x/crypto independently of
// crypto/seal.
func sealHybridReference(ephPriv, m, static, R, ekBytes, certBlock, msgBlock []byte) hybridRef {
	var out hybridRef
	x := ecdh.X25519()
	e := sealCheck(x.NewPrivateKey(ephPriv))
	E := e.PublicKey().Bytes()
	rPub := sealCheck(x.NewPublicKey(R))
	out.eDH = sealCheck(e.ECDH(rPub))
	ek := sealCheck(mlkem.NewEncapsulationKey768(ekBytes))
	out.ss, out.ct = sealCheck2(mlkemtest.Encapsulate768(ek, m))
	K := sha256.Sum256(ekBytes)
	out.K = K[:]

	prefix := concat(concat(concat([]byte{0x02}, E), out.K[:8]), out.ct)
	h := sha256.New()
	h.Write([]byte("sealpost/v2/seal-transcript\x00"))
	h.Write(prefix)
	h.Write(R)
	h.Write(out.K)
	out.salt = h.Sum(nil)
	out.okm1 = sealCheck(hkdf.Key(sha256.New, concat(out.eDH, out.ss), out.salt, "sealpost/v2/seal-ephemeral", 76))
	c1 := sealCheck(chacha20poly1305.New(out.okm1[32:64])).Seal(nil, out.okm1[64:76], certBlock, prefix)
	header := concat(prefix, c1)

	out.sDH = sealCheck(sealCheck(x.NewPrivateKey(static)).ECDH(rPub))
	out.okm2 = sealCheck(hkdf.Key(sha256.New, out.sDH, concat(out.okm1[:32], c1), "sealpost/v2/seal-static", 44))
	c2 := sealCheck(chacha20poly1305.New(out.okm2[:32])).Seal(nil, out.okm2[32:44], msgBlock, header)
	out.env = concat(header, c2)
	return out
}
