package sendtoken

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
)

// issuerView is everything the key server sees and could record while
// issuing: each batch's request and response bytes (spec/anonymous.md §8).
type issuerView struct{ records [][]byte }

func (v *issuerView) record(b []byte) { v.records = append(v.records, bytes.Clone(b)) }

// window is the length of the substrings searched for: long enough that a
// chance match among random bytes is out of the question (2^-64 each).
const window = 8

// link returns a description of the first value derived from tok that
// occurs, as a whole or as any window-byte substring, in the issuer's
// records; "" when there is none.
func (v *issuerView) link(tok *Token) string {
	in := tok.input()
	s256 := func(b []byte) []byte { h := sha256.Sum256(b); return h[:] }
	s384 := func(b []byte) []byte { h := sha512.Sum384(b); return h[:] }
	raw := tok.Marshal()
	derived := map[string][]byte{
		"nonce":                   tok.Nonce[:],
		"authenticator":           tok.Authenticator[:],
		"token":                   raw,
		"SHA-256(token)":          s256(raw),
		"SHA-256(nonce)":          s256(tok.Nonce[:]),
		"SHA-256(authenticator)":  s256(tok.Authenticator[:]),
		"SHA-256(token_input)":    s256(in[:]),
		"SHA-384(token_input)":    s384(in[:]),
		"SHA-384(nonce)":          s384(tok.Nonce[:]),
		"SHA-384(authenticator)":  s384(tok.Authenticator[:]),
		"token_input (w/o const)": in[2 : 2+NonceSize],
	}
	for name, d := range derived {
		for _, r := range v.records {
			for i := 0; i+window <= len(d); i++ {
				if bytes.Contains(r, d[i:i+window]) {
					return fmt.Sprintf("%s (bytes %d..%d)", name, i, i+window)
				}
			}
		}
	}
	return ""
}

// TestUnlinkability is the issue's "issuance records cannot be joined with
// spent tokens" test at the crypto layer: several clients obtain batches,
// the issuer records every request and response byte, and the relay's view
// is every finalized token. No token's nonce, authenticator, or any of
// their hashes (or of the token, or of the signed token_input) equals or
// appears inside anything the issuer recorded. The values a relay sees in
// common with the issuer — key id and challenge digest — are the same for
// every token of the epoch, so they split no one from anyone.
//
// A positive control shows the search finds a link where one exists: an
// issuer that signed token inputs in the clear (no blinding) would have
// recorded the authenticator.
func TestUnlinkability(t *testing.T) {
	k, _ := testKeys(t)
	ch := Challenge{Issuer: testIssuer, Epoch: testEpoch}
	var view issuerView
	var tokens []Token
	for client := 0; client < 4; client++ {
		reqs, p, err := PrepareBatch(testrand.New(fmt.Sprint("unlink-", client)), k.Public(), ch, 8)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := MarshalBatchRequest(reqs)
		if err != nil {
			t.Fatal(err)
		}
		view.record(rb)
		got, err := ParseBatchRequest(rb, MaxBatchSize)
		if err != nil {
			t.Fatal(err)
		}
		resps, err := k.Issue(got)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := MarshalBatchResponse(resps)
		if err != nil {
			t.Fatal(err)
		}
		view.record(sb)
		toks, err := p.Finalize(resps)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, toks...)
	}
	if len(tokens) != 32 {
		t.Fatalf("%d tokens", len(tokens))
	}
	digest, _ := ch.Digest()
	for i := range tokens {
		tok := &tokens[i]
		if tok.KeyID != k.Public().ID() || tok.ChallengeDigest != digest {
			t.Fatalf("token %d carries a key id or challenge digest of its own", i)
		}
		if l := view.link(tok); l != "" {
			t.Errorf("token %d: the issuer recorded its %s", i, l)
		}
	}

	// Positive control: sign token_input directly, as a scheme without
	// blinding would, and record the answer.
	var naive issuerView
	in := tokens[5].input()
	c := tokens[5]
	naive.record(in[:])
	naive.record(c.Authenticator[:])
	if naive.link(&c) == "" {
		t.Fatal("the search did not find the link of an unblinded issuance")
	}
}
