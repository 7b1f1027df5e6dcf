package sendtoken

import (
	"fmt"
	"io"

	"github.com/cloudflare/circl/blindsign/blindrsa"
)

// Pending holds a client's secrets for one batch between its requests and
// the issuer's responses: each token's nonce and blinding state (the
// inverse of the blind). It must stay on the device and be dropped after
// Finalize; whoever holds it can link the batch's requests to its tokens.
type Pending struct {
	pub    *PublicKey
	client blindrsa.Client
	tokens []Token
	states []blindrsa.State
}

// PrepareBatch makes n token requests (1 ≤ n ≤ MaxBatchSize) for the
// issuer key pub and challenge ch (spec/anonymous.md §5.1, RFC 9578 §6.1):
// for each, a fresh 32-byte nonce, token_input = 0x0002 || nonce ||
// SHA-256(challenge) || key id, and its blinding (RFC 9474 §4.2 Blind,
// variant RSABSSA-SHA384-PSS-Deterministic: a 48-byte salt, then the blind
// r). rand supplies, per token and in this order, the nonce, the salt and
// r; it must be a secure source except in tests.
func PrepareBatch(rand io.Reader, pub *PublicKey, ch Challenge, n int) ([]Request, *Pending, error) {
	if n < 1 || n > MaxBatchSize {
		return nil, nil, fmt.Errorf("%w: batch of %d tokens", ErrMalformed, n)
	}
	if pub == nil || rand == nil {
		return nil, nil, fmt.Errorf("%w: no issuer key or random source", ErrMalformed)
	}
	digest, err := ch.Digest()
	if err != nil {
		return nil, nil, err
	}
	c, err := blindrsa.NewClient(blindrsa.SHA384PSSDeterministic, pub.pk)
	if err != nil {
		return nil, nil, fmt.Errorf("sendtoken: %w", err)
	}
	p := &Pending{pub: pub, client: c, tokens: make([]Token, n), states: make([]blindrsa.State, n)}
	reqs := make([]Request, n)
	for i := range reqs {
		t := &p.tokens[i]
		if _, err := io.ReadFull(rand, t.Nonce[:]); err != nil {
			return nil, nil, fmt.Errorf("sendtoken: random: %w", err)
		}
		t.ChallengeDigest = digest
		t.KeyID = pub.id
		in := t.input()
		blinded, state, err := c.Blind(rand, in[:])
		if err != nil || len(blinded) != ModulusSize {
			return nil, nil, fmt.Errorf("sendtoken: blind: %v", err)
		}
		p.states[i] = state
		reqs[i].TruncatedKeyID = pub.id[KeyIDSize-1]
		copy(reqs[i].BlindedMsg[:], blinded)
	}
	return reqs, p, nil
}

// Finalize turns the issuer's responses, in the order of the requests,
// into tokens (RFC 9474 §4.4 Finalize, RFC 9578 §6.3). Each signature is
// unblinded and verified before any token is returned; a response that
// does not verify is ErrBadSignature in an ItemError naming it, and no
// token of the batch is returned. A count other than the requests' is
// ErrMalformed.
func (p *Pending) Finalize(resps []Response) ([]Token, error) {
	if len(resps) != len(p.tokens) {
		return nil, fmt.Errorf("%w: %d responses for %d requests", ErrMalformed, len(resps), len(p.tokens))
	}
	out := make([]Token, len(resps))
	for i := range resps {
		sig, err := p.client.Finalize(p.states[i], resps[i][:])
		if err != nil || len(sig) != ModulusSize {
			return nil, &ItemError{i, ErrBadSignature}
		}
		out[i] = p.tokens[i]
		copy(out[i].Authenticator[:], sig)
		// Check the token exactly as a relay will (§6 step 3).
		in := out[i].input()
		if verifyPSS(p.pub.pk, in[:], out[i].Authenticator[:]) != nil {
			return nil, &ItemError{i, ErrBadSignature}
		}
	}
	return out, nil
}
