package sendtoken

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/vectors"
)

// errName is the spec/errors.md §3.18 name of err ("" for nil).
func errName(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	for name, k := range map[string]error{
		"malformed": ErrMalformed, "unknown_key": ErrUnknownKey, "bad_signature": ErrBadSignature,
		"wrong_epoch": ErrWrongEpoch, "wrong_challenge": ErrWrongChallenge,
	} {
		if errors.Is(err, k) {
			return name
		}
	}
	t.Fatalf("error %v is of no documented kind", err)
	return ""
}

func okName(s string) string {
	if s == "" {
		return "ok"
	}
	return s
}

// TestVectors checks every case of spec/vectors/sendtoken.json
// (spec/anonymous.md §9).
func TestVectors(t *testing.T) {
	f, err := vectors.Load[vectors.SendTokenCase]("sendtoken.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, c := range f.Cases {
		seen[c.Type]++
		t.Run(c.ID, func(t *testing.T) {
			set := 0
			for _, p := range []bool{c.Issue != nil, c.Verify != nil, c.PublicKey != nil, c.Challenge != nil} {
				if p {
					set++
				}
			}
			if set != 1 {
				t.Fatalf("%d case bodies set", set)
			}
			switch c.Type {
			case "public-key":
				checkPublicKeyVector(t, c.PublicKey)
			case "challenge":
				checkChallengeVector(t, c.Challenge)
			case "issue":
				checkIssueVector(t, c.Issue)
			case "verify":
				checkVerifyVector(t, c.Verify)
			default:
				t.Fatalf("unknown type %q", c.Type)
			}
		})
	}
	for _, ty := range []string{"public-key", "challenge", "issue", "verify"} {
		if seen[ty] == 0 {
			t.Errorf("no %s cases", ty)
		}
	}
}

func checkPublicKeyVector(t *testing.T, c *vectors.SendTokenPublicKeyCase) {
	k, err := ParsePublicKey(c.Encoding)
	if got := errName(t, err); got != c.Error {
		t.Fatalf("error %q, want %q", got, c.Error)
	}
	if err != nil {
		return
	}
	id := k.ID()
	if !bytes.Equal(id[:], c.KeyID) || !bytes.Equal(k.Bytes(), c.Encoding) {
		t.Fatal("key id or re-encoding differs")
	}
}

func checkChallengeVector(t *testing.T, c *vectors.SendTokenChallengeCase) {
	p, err := ParseChallenge(c.Encoding)
	if got := errName(t, err); got != c.Error {
		t.Fatalf("error %q, want %q", got, c.Error)
	}
	if err != nil {
		return
	}
	want := Challenge{Issuer: c.Issuer, Epoch: c.Epoch}
	b, err := want.Marshal()
	d, _ := want.Digest()
	if err != nil || p != want || !bytes.Equal(b, c.Encoding) || !bytes.Equal(d[:], c.Digest) {
		t.Fatalf("challenge differs: %v", err)
	}
}

func checkIssueVector(t *testing.T, c *vectors.SendTokenIssueCase) {
	k, err := ParsePrivateKey(c.IssuerKey)
	if err != nil {
		t.Fatal(err)
	}
	id := k.Public().ID()
	if !bytes.Equal(k.Public().Bytes(), c.PublicKey) || !bytes.Equal(id[:], c.KeyID) {
		t.Fatal("public key or key id differs")
	}
	ch := Challenge{Issuer: c.Issuer, Epoch: c.Epoch}
	if b, err := ch.Marshal(); err != nil || !bytes.Equal(b, c.Challenge) {
		t.Fatalf("challenge differs: %v", err)
	}
	reqs, err := ParseBatchRequest(c.BatchRequest, c.MaxBatch)
	var resps []Response
	if err == nil {
		resps, err = k.Issue(reqs)
	}
	if got := okName(errName(t, err)); got != c.Result {
		t.Fatalf("result %q, want %q", got, c.Result)
	}
	if err != nil {
		if len(c.Items) != 0 || len(c.BatchResponse) != 0 || resps != nil {
			t.Fatal("a refused batch has items or responses")
		}
		return
	}
	if b, err := MarshalBatchResponse(resps); err != nil || !bytes.Equal(b, c.BatchResponse) {
		t.Fatalf("batch response differs: %v", err)
	}
	// The client side, from the recorded randomness.
	var rnd []byte
	for _, it := range c.Items {
		rnd = append(append(append(rnd, it.Nonce...), it.Salt...), it.Blind...)
	}
	creqs, p, err := PrepareBatch(bytes.NewReader(rnd), k.Public(), ch, len(c.Items))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := MarshalBatchRequest(creqs); err != nil || !bytes.Equal(b, c.BatchRequest) {
		t.Fatalf("batch request differs: %v", err)
	}
	toks, err := p.Finalize(resps)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range c.Items {
		if !bytes.Equal(creqs[i].Marshal(), it.Request) || !bytes.Equal(resps[i][:], it.Response) || !bytes.Equal(toks[i].Marshal(), it.Token) {
			t.Fatalf("item %d differs", i)
		}
		if !bytes.Equal(toks[i].Nonce[:], it.Nonce) {
			t.Fatalf("item %d: nonce", i)
		}
	}
}

func checkVerifyVector(t *testing.T, c *vectors.SendTokenVerifyCase) {
	var keys []EpochKey
	for _, k := range c.Keys {
		pk, err := ParsePublicKey(k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, EpochKey{Epoch: k.Epoch, Key: pk})
	}
	v, err := NewVerifier(c.Issuer, keys...)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := v.Verify(c.Token, time.Unix(c.VerifyTime, 0))
	if got := okName(errName(t, err)); got != c.Result {
		t.Fatalf("result %q, want %q", got, c.Result)
	}
	if err != nil {
		if sp != (Spent{}) || c.SpentEpoch != 0 || len(c.SpentNonce) != 0 {
			t.Fatal("a refusal with a spent value")
		}
		return
	}
	if sp.Epoch != c.SpentEpoch || !bytes.Equal(sp.Nonce[:], c.SpentNonce) {
		t.Fatalf("spent %d/%x, want %d/%x", sp.Epoch, sp.Nonce, c.SpentEpoch, c.SpentNonce)
	}
	tok, err := ParseToken(c.Token)
	if err != nil || !bytes.Equal(tok.Marshal(), c.Token) {
		t.Fatalf("parse(marshal(token)): %v", err)
	}
}
