package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
)

// challengeBytes encodes a challenge (spec/token.md §5.1) without checks.
func challengeBytes(version byte, f *vectors.ChallengeFields) []byte {
	b := []byte{version}
	b = append(b, f.Nonce...)
	b = binary.BigEndian.AppendUint64(b, f.IssuedAt)
	b = binary.BigEndian.AppendUint64(b, f.Expiry)
	b = append(b, byte(len(f.Audience)))
	b = append(b, f.Audience...)
	b = append(b, byte(len(f.Server)))
	return append(b, f.Server...)
}

// respond signs the response message of spec/token.md §5.3 directly.
func respond(k ed25519.PrivateKey, handle string, device uint32, ch []byte) []byte {
	m := []byte{token.Version, byte(len(handle))}
	m = append(m, handle...)
	m = binary.BigEndian.AppendUint32(m, device)
	m = append(m, ch...)
	return ed25519.Sign(k, labeled(token.LabelChallenge, m))
}

func genTokenChallenge() ([]byte, error) {
	r := testrand.New("vectors/token-challenge")
	seed := func() []byte { b := make([]byte, ed25519.SeedSize); r.Read(b); return b }
	seedA, seedB := seed(), seed()
	devA, devB := ed25519.NewKeyFromSeed(seedA), ed25519.NewKeyFromSeed(seedB)
	const server = "example.org"
	fields := func(aud, srv string, lifetime uint64) *vectors.ChallengeFields {
		n := make([]byte, token.ChallengeNonceSize)
		r.Read(n)
		return &vectors.ChallengeFields{Nonce: n, IssuedAt: tokenBase, Expiry: tokenBase + lifetime, Audience: aud, Server: srv}
	}
	// build encodes f and checks that BuildChallenge agrees.
	build := func(f *vectors.ChallengeFields) ([]byte, error) {
		c, err := token.BuildChallenge(bytes.NewReader(f.Nonce), f.Server, f.Audience, time.Unix(int64(f.IssuedAt), 0))
		if err != nil {
			return nil, err
		}
		want := challengeBytes(token.Version, f)
		if !bytes.Equal(c.Marshal(), want) {
			return nil, fmt.Errorf("token.BuildChallenge disagrees with the generator's encoding")
		}
		return want, nil
	}

	var cases []vectors.ChallengeCase
	add := func(id, comment string, dseed []byte, handle string, device uint32, srv string, ch []byte, f *vectors.ChallengeFields, sig []byte, now int64, signResult, verifyResult string) {
		cases = append(cases, vectors.ChallengeCase{
			ID: id, Comment: comment, DeviceSeed: dseed, Handle: handle, Device: device, Server: srv,
			Challenge: ch, Fields: f, Signature: sig, VerifyTime: now, SignResult: signResult, VerifyResult: verifyResult,
		})
	}

	basic := fields("relay:example.org", server, 120)
	ch, err := build(basic)
	if err != nil {
		return nil, err
	}
	sig := respond(devA, "alice", 7, ch)
	add("ok", "verified 5 s after issue", seedA, "alice", 7, server, ch, basic, sig, tokenBase+5, "ok", "ok")
	add("ok-at-issue-time", "verified at issued_at", seedA, "alice", 7, server, ch, basic, sig, tokenBase, "ok", "ok")
	add("ok-last-second", "verified at expiry - 1", seedA, "alice", 7, server, ch, basic, sig, tokenBase+119, "ok", "ok")
	add("expired", "verified at expiry: no skew for challenges", seedA, "alice", 7, server, ch, basic, sig, tokenBase+120, "ok", "expired")
	add("not-yet-valid", "verified 1 s before issued_at", seedA, "alice", 7, server, ch, basic, sig, tokenBase-1, "ok", "not_yet_valid")
	add("bad-signature-other-key", "signed by another device key", seedA, "alice", 7, server, ch, basic,
		respond(devB, "alice", 7, ch), tokenBase+5, "ok", "bad_signature")
	add("bad-signature-other-handle", "the device signed for alice; the response claims bob", seedA, "bob", 7, server, ch, basic,
		sig, tokenBase+5, "ok", "bad_signature")
	add("bad-signature-other-device", "the device signed for device 7; the response claims device 8", seedA, "alice", 8, server, ch, basic,
		sig, tokenBase+5, "ok", "bad_signature")
	add("bad-signature-expired", "a bad signature after expiry: the signature is checked first", seedA, "alice", 7, server, ch, basic,
		respond(devB, "alice", 7, ch), tokenBase+500, "ok", "bad_signature")
	add("wrong-server", "the device meant to reach example.net; the server's own check passes", seedA, "alice", 7, "example.net", ch, basic,
		sig, tokenBase+5, "wrong_audience", "ok")

	big := fields("keyserver:"+strings.Repeat("k", 54), strings.Repeat("s", 64), 120)
	chBig, err := build(big)
	if err != nil {
		return nil, err
	}
	if len(chBig) != token.MaxChallengeSize {
		return nil, fmt.Errorf("max challenge is %d bytes", len(chBig))
	}
	add("ok-max-size", "64-byte audience and server name, 32-byte handle, largest device id", seedB,
		strings.Repeat("h", 32), 0xffffffff, big.Server, chBig, big, respond(devB, strings.Repeat("h", 32), 0xffffffff, chBig),
		tokenBase, "ok", "ok")

	// Malformed, each signed by the device so only parsing can refuse it.
	malformed := func(id, comment string, handle string, device uint32, ch []byte) {
		add(id, comment, seedA, handle, device, server, ch, nil, respond(devA, handle, device, ch), tokenBase+5, "malformed", "malformed")
	}
	malformed("malformed-trailing-byte", "a zero byte after the server name", "alice", 7, append(bytes.Clone(ch), 0))
	malformed("malformed-truncated", "last byte of the server name missing", "alice", 7, ch[:len(ch)-1])
	malformed("malformed-version", "version byte 0x02", "alice", 7, challengeBytes(0x02, basic))
	long := *basic
	long.Expiry = long.IssuedAt + 121
	malformed("malformed-lifetime-too-long", "expiry - issued_at = ChallengeLifetime + 1", "alice", 7, challengeBytes(token.Version, &long))
	zero := *basic
	zero.Expiry = zero.IssuedAt
	malformed("malformed-lifetime-zero", "expiry = issued_at", "alice", 7, challengeBytes(token.Version, &zero))
	noServer := *basic
	noServer.Server = ""
	malformed("malformed-server-empty", "empty server name", "alice", 7, challengeBytes(token.Version, &noServer))
	ctl := *basic
	ctl.Audience = "relay:example.org\x7f"
	malformed("malformed-audience-control", "audience with byte 0x7f", "alice", 7, challengeBytes(token.Version, &ctl))
	add("malformed-handle", "upper-case handle", seedA, "Alice", 7, server, ch, basic, respond(devA, "Alice", 7, ch), tokenBase+5, "malformed", "malformed")
	add("malformed-device-zero", "device id 0", seedA, "alice", 0, server, ch, basic, respond(devA, "alice", 0, ch), tokenBase+5, "malformed", "malformed")

	return encode(&vectors.File[vectors.ChallengeCase]{
		Description: "Sealpost token challenges: device signature and key-server checks",
		Spec:        "spec/token.md",
		Cases:       cases,
	})
}
