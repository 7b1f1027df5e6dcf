package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
)

func init() { register("sendtoken.json", genSendToken) }

const (
	sendTokenIssuer = "keys.example.org"
	// sendTokenEpoch is the epoch of 2026-01-01 (tokenBase / 86400).
	sendTokenEpoch = tokenBase / sendtoken.EpochSeconds
)

// sendTokenKey decodes one of the fixed keys of sendtoken_keys.go and
// returns it with its PKCS#8 encoding.
func sendTokenKey(p string) (*sendtoken.PrivateKey, []byte, error) {
	blk, _ := pem.Decode([]byte(p))
	if blk == nil {
		return nil, nil, fmt.Errorf("bad PEM")
	}
	der := blk.Bytes
	if blk.Type == "RSA PRIVATE KEY" {
		k, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return nil, nil, err
		}
		if der, err = x509.MarshalPKCS8PrivateKey(k); err != nil {
			return nil, nil, err
		}
	}
	k, err := sendtoken.ParsePrivateKey(der)
	return k, der, err
}

// readLog keeps every read of the client's randomness, so the vectors can
// list each token's nonce, salt and blind.
type readLog struct {
	r     io.Reader
	reads [][]byte
}

func (r *readLog) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.reads = append(r.reads, bytes.Clone(p[:n]))
	return n, err
}

// issueCase runs a whole issuance of n tokens under k for epoch.
func issueCase(k *sendtoken.PrivateKey, der []byte, epoch uint64, n int, label string) (*vectors.SendTokenIssueCase, []sendtoken.Token, error) {
	ch := sendtoken.Challenge{Issuer: sendTokenIssuer, Epoch: epoch}
	chb, err := ch.Marshal()
	if err != nil {
		return nil, nil, err
	}
	rec := &readLog{r: testrand.New(label)}
	reqs, p, err := sendtoken.PrepareBatch(rec, k.Public(), ch, n)
	if err != nil {
		return nil, nil, err
	}
	// Per token: nonce (32), salt (48), then r (256) as crypto/rand.Int
	// reads it, once unless a candidate was not below n.
	if len(rec.reads) != 3*n {
		return nil, nil, fmt.Errorf("%d reads of randomness for %d tokens", len(rec.reads), n)
	}
	resps, err := k.Issue(reqs)
	if err != nil {
		return nil, nil, err
	}
	toks, err := p.Finalize(resps)
	if err != nil {
		return nil, nil, err
	}
	id := k.Public().ID()
	c := &vectors.SendTokenIssueCase{
		IssuerKey: der, PublicKey: k.Public().Bytes(), KeyID: id[:],
		Issuer: sendTokenIssuer, Epoch: epoch, Challenge: chb,
		MaxBatch: sendtoken.MaxBatchSize, Result: "ok",
	}
	for i := range reqs {
		c.Items = append(c.Items, vectors.SendTokenItem{
			Nonce: rec.reads[3*i], Salt: rec.reads[3*i+1], Blind: rec.reads[3*i+2],
			Request: reqs[i].Marshal(), Response: resps[i][:], Token: toks[i].Marshal(),
		})
	}
	if c.BatchRequest, err = sendtoken.MarshalBatchRequest(reqs); err != nil {
		return nil, nil, err
	}
	if c.BatchResponse, err = sendtoken.MarshalBatchResponse(resps); err != nil {
		return nil, nil, err
	}
	return c, toks, nil
}

func genSendToken() ([]byte, error) {
	kA, derA, err := sendTokenKey(sendTokenKeyA)
	if err != nil {
		return nil, fmt.Errorf("key A: %w", err)
	}
	kB, derB, err := sendTokenKey(sendTokenKeyB)
	if err != nil {
		return nil, fmt.Errorf("key B: %w", err)
	}
	const e = sendTokenEpoch
	f := &vectors.File[vectors.SendTokenCase]{
		Description: "Blind-signed one-time send tokens: issuer keys, challenges, issuance and relay verification",
		Spec:        "spec/anonymous.md",
	}
	add := func(id, comment string, c vectors.SendTokenCase) {
		c.ID, c.Comment = id, comment
		f.Cases = append(f.Cases, c)
	}

	// §3.1 public keys.
	pkA, pkB := kA.Public().Bytes(), kB.Public().Bytes()
	idA, idB := kA.Public().ID(), kB.Public().ID()
	pkCase := func(id, comment string, enc []byte, keyID []byte, errName string) {
		add(id, comment, vectors.SendTokenCase{Type: "public-key", PublicKey: &vectors.SendTokenPublicKeyCase{Encoding: enc, KeyID: keyID, Error: errName}})
	}
	alter := func(b []byte, f func([]byte)) []byte { b = bytes.Clone(b); f(b); return b }
	const modAt = sendtoken.PublicKeySize - 5 - sendtoken.ModulusSize
	pkCase("public-key-a", "the RFC 9578 Appendix A.2 issuer key (pkS)", pkA, idA[:], "")
	pkCase("public-key-b", "RFC 9500 testRSA2048", pkB, idB[:], "")
	pkCase("public-key-rsaencryption", "rsaEncryption in place of id-RSASSA-PSS", alter(pkA, func(b []byte) { b[16] = 0x01 }), nil, "malformed")
	pkCase("public-key-salt-32", "saltLength 32, not 48", alter(pkA, func(b []byte) { b[70] = 0x20 }), nil, "malformed")
	pkCase("public-key-exponent-3", "public exponent 3", append(bytes.Clone(pkA[:sendtoken.PublicKeySize-5]), 0x02, 0x03, 0x00, 0x00, 0x03), nil, "malformed")
	pkCase("public-key-even-modulus", "modulus is even", alter(pkA, func(b []byte) { b[modAt+sendtoken.ModulusSize-1] &^= 1 }), nil, "malformed")
	pkCase("public-key-2047-bit", "modulus top bit clear", alter(pkA, func(b []byte) { b[modAt] &= 0x7f }), nil, "malformed")
	pkCase("public-key-short", "one byte missing", pkA[:sendtoken.PublicKeySize-1], nil, "malformed")
	pkCase("public-key-trailing", "one byte more", append(bytes.Clone(pkA), 0), nil, "malformed")

	// §4.2 challenges.
	chCase := func(id, comment, issuer string, epoch uint64, enc []byte, errName string) {
		c := &vectors.SendTokenChallengeCase{Issuer: issuer, Epoch: epoch, Encoding: enc, Error: errName}
		if errName == "" {
			d, err := sendtoken.Challenge{Issuer: issuer, Epoch: epoch}.Digest()
			if err != nil {
				panic(err)
			}
			c.Digest = d[:]
		}
		add(id, comment, vectors.SendTokenCase{Type: "challenge", Challenge: c})
	}
	chE, _ := sendtoken.Challenge{Issuer: sendTokenIssuer, Epoch: e}.Marshal()
	chCase("challenge-epoch", "the challenge of every token of epoch "+fmt.Sprint(e), sendTokenIssuer, e, chE, "")
	chMax, _ := sendtoken.Challenge{Issuer: "k", Epoch: 0xffffffffffffffff}.Marshal()
	chCase("challenge-short-name-max-epoch", "one-byte issuer name, largest epoch", "k", 0xffffffffffffffff, chMax, "")
	n := 4 + len(sendTokenIssuer)
	chCase("challenge-type-1", "token type 0x0001", "", 0, alter(chE, func(b []byte) { b[1] = 1 }), "malformed")
	chCase("challenge-context-not-epoch", "a non-zero byte in the first 24 of the redemption context", "", 0, alter(chE, func(b []byte) { b[n+1] = 1 }), "malformed")
	chCase("challenge-empty-context", "empty redemption context", "", 0, append(bytes.Clone(chE[:n]), 0, 0, 0), "malformed")
	chCase("challenge-origin", "a non-empty origin_info", "", 0, append(append(bytes.Clone(chE[:len(chE)-2]), 0, 1), 'r'), "malformed")
	chCase("challenge-space-in-name", "issuer name with a space", "", 0, alter(chE, func(b []byte) { b[8] = ' ' }), "malformed")
	chCase("challenge-trailing", "one byte more", "", 0, append(bytes.Clone(chE), 0), "malformed")

	// §5 issuance.
	issA, toksA, err := issueCase(kA, derA, e, 3, "vectors/sendtoken/a")
	if err != nil {
		return nil, err
	}
	add("issue-a-3", "three tokens of epoch e under key A", vectors.SendTokenCase{Type: "issue", Issue: issA})
	issB, toksB, err := issueCase(kB, derB, e+1, 1, "vectors/sendtoken/b")
	if err != nil {
		return nil, err
	}
	add("issue-b-1", "one token of epoch e+1 under key B", vectors.SendTokenCase{Type: "issue", Issue: issB})
	// Tokens under key A with a challenge that is not epoch e's.
	_, toksAe2, err := issueCase(kA, derA, e+2, 1, "vectors/sendtoken/a-e2")
	if err != nil {
		return nil, err
	}
	refuse := func(id, comment string, batch []byte, max int, result string) {
		c := *issA
		c.Items, c.BatchResponse = nil, nil
		c.BatchRequest, c.MaxBatch, c.Result = batch, max, result
		add(id, comment, vectors.SendTokenCase{Type: "issue", Issue: &c})
	}
	reqA := issA.BatchRequest
	const item = sendtoken.RequestSize
	refuse("issue-other-key", "request 1 names key B (its truncated key id)", append(append(bytes.Clone(reqA[:2+item]), issB.BatchRequest[2:]...), reqA[2+2*item:]...), sendtoken.MaxBatchSize, "unknown_key")
	modA := kA.Public().Bytes()[modAt : modAt+sendtoken.ModulusSize]
	refuse("issue-blinded-equals-modulus", "request 2's blinded message is the modulus", alter(reqA, func(b []byte) { copy(b[2+2*item+3:], modA) }), sendtoken.MaxBatchSize, "malformed")
	refuse("issue-blinded-all-ones", "request 0's blinded message is 0xff…ff", alter(reqA, func(b []byte) {
		for i := 0; i < sendtoken.ModulusSize; i++ {
			b[2+3+i] = 0xff
		}
	}), sendtoken.MaxBatchSize, "malformed")
	refuse("issue-type-1", "request 1 of token type 0x0001", alter(reqA, func(b []byte) { b[2+item+1] = 1 }), sendtoken.MaxBatchSize, "malformed")
	refuse("issue-over-limit", "3 requests, the issuer's limit is 2", reqA, 2, "malformed")
	refuse("issue-count-zero", "count 0", []byte{0, 0}, sendtoken.MaxBatchSize, "malformed")
	refuse("issue-count-mismatch", "count 4, three requests", alter(reqA, func(b []byte) { b[1] = 4 }), sendtoken.MaxBatchSize, "malformed")
	refuse("issue-trailing", "one byte after the last request", append(bytes.Clone(reqA), 0), sendtoken.MaxBatchSize, "malformed")
	refuse("issue-short", "one byte missing", reqA[:len(reqA)-1], sendtoken.MaxBatchSize, "malformed")

	// §6 verification.
	keysA := []vectors.SendTokenEpochKey{{Epoch: e, PublicKey: pkA}}
	keysAB := []vectors.SendTokenEpochKey{{Epoch: e, PublicKey: pkA}, {Epoch: e + 1, PublicKey: pkB}}
	start := func(ep uint64) int64 { return sendtoken.EpochStart(ep) }
	tA := toksA[0].Marshal()
	verify := func(id, comment string, keys []vectors.SendTokenEpochKey, now int64, tok []byte, result string) {
		c := &vectors.SendTokenVerifyCase{Issuer: sendTokenIssuer, Keys: keys, VerifyTime: now, Token: tok, Result: result}
		if result == "ok" {
			p, err := sendtoken.ParseToken(tok)
			if err != nil {
				panic(err)
			}
			c.SpentNonce = p.Nonce[:]
			for _, k := range keys {
				if pk, _ := sendtoken.ParsePublicKey(k.PublicKey); pk.ID() == p.KeyID {
					c.SpentEpoch = k.Epoch
				}
			}
		}
		add(id, comment, vectors.SendTokenCase{Type: "verify", Verify: c})
	}
	mid := start(e) + 43200
	verify("verify-ok", "a token of epoch e in epoch e", keysA, mid, tA, "ok")
	verify("verify-ok-second", "another token of the same batch", keysA, mid, toksA[1].Marshal(), "ok")
	verify("verify-ok-next-epoch", "in epoch e+1", keysA, start(e+1)+43200, tA, "ok")
	verify("verify-ok-skew-start", "ClockSkew before epoch e", keysA, start(e)-sendtoken.ClockSkew, tA, "ok")
	verify("verify-ok-skew-end", "one second before the end of e+1 plus ClockSkew", keysA, start(e+2)+sendtoken.ClockSkew-1, tA, "ok")
	verify("verify-wrong-epoch-early", "one second too early", keysA, start(e)-sendtoken.ClockSkew-1, tA, "wrong_epoch")
	verify("verify-wrong-epoch-late", "at the end of e+1 plus ClockSkew", keysA, start(e+2)+sendtoken.ClockSkew, tA, "wrong_epoch")
	verify("verify-ok-key-b", "verifier holding keys of e and e+1, token of e+1", keysAB, start(e+1)+60, toksB[0].Marshal(), "ok")
	verify("verify-unknown-key", "token of key B, verifier holding only A", keysA, start(e+1)+60, toksB[0].Marshal(), "unknown_key")
	verify("verify-wrong-challenge", "under key A (epoch e) with the challenge of epoch e+2", keysA, mid, toksAe2[0].Marshal(), "wrong_challenge")
	flip := func(off int) []byte { return alter(tA, func(b []byte) { b[off] ^= 1 }) }
	const (
		offNonce  = 2
		offDigest = offNonce + sendtoken.NonceSize
		offKeyID  = offDigest + sendtoken.DigestSize
		offAuth   = offKeyID + sendtoken.KeyIDSize
	)
	verify("verify-nonce-altered", "first nonce byte flipped", keysA, mid, flip(offNonce), "bad_signature")
	verify("verify-digest-altered", "last challenge digest byte flipped", keysA, mid, flip(offKeyID-1), "bad_signature")
	verify("verify-key-id-altered", "last key id byte flipped", keysA, mid, flip(offAuth-1), "unknown_key")
	verify("verify-authenticator-altered", "last authenticator byte flipped", keysA, mid, flip(sendtoken.TokenSize-1), "bad_signature")
	verify("verify-authenticator-swapped", "the authenticator of another token of the batch", keysA, mid, append(bytes.Clone(tA[:offAuth]), toksA[1].Authenticator[:]...), "bad_signature")
	// s + n in place of s, for the first token where it fits in 256 bytes.
	for i := range toksA {
		s := new(big.Int).SetBytes(toksA[i].Authenticator[:])
		s.Add(s, new(big.Int).SetBytes(modA))
		if s.BitLen() <= 8*sendtoken.ModulusSize {
			tok := toksA[i].Marshal()
			s.FillBytes(tok[offAuth:])
			verify("verify-authenticator-plus-n", fmt.Sprintf("token %d of issue-a-3 with s + n in place of its authenticator s", i), keysA, mid, tok, "bad_signature")
			break
		}
	}
	verify("verify-authenticator-all-ones", "authenticator 0xff…ff, above n", keysA, mid, alter(tA, func(b []byte) {
		for i := offAuth; i < sendtoken.TokenSize; i++ {
			b[i] = 0xff
		}
	}), "bad_signature")
	verify("verify-authenticator-zero", "authenticator 0", keysA, mid, alter(tA, func(b []byte) { clear(b[offAuth:]) }), "bad_signature")
	verify("verify-empty", "no bytes", keysA, mid, []byte{}, "malformed")
	verify("verify-short", "one byte missing", keysA, mid, tA[:sendtoken.TokenSize-1], "malformed")
	verify("verify-trailing", "one byte more", keysA, mid, append(bytes.Clone(tA), 0), "malformed")
	verify("verify-type-1", "token type 0x0001", keysA, mid, alter(tA, func(b []byte) { b[1] = 1 }), "malformed")
	verify("verify-type-3", "token type 0x0003", keysA, mid, alter(tA, func(b []byte) { b[1] = 3 }), "malformed")
	verify("verify-malformed-late", "malformed is found first: wrong type, also out of its epoch", keysA, start(e+9), alter(tA, func(b []byte) { b[0] = 0xff }), "malformed")
	verify("verify-bad-signature-late", "the signature is checked before the epoch", keysA, start(e+9), flip(offNonce), "bad_signature")
	return encode(f)
}
