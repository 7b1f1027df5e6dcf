package sendtoken

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
)

func TestRoundTrip(t *testing.T) {
	k, _ := testKeys(t)
	ch := Challenge{Issuer: testIssuer, Epoch: testEpoch}
	toks := issue(t, k, ch, 5, "round-trip")
	v, err := NewVerifier(testIssuer, EpochKey{testEpoch, k.Public()})
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := ch.Digest()
	seen := map[[NonceSize]byte]bool{}
	for i := range toks {
		tok := &toks[i]
		if tok.KeyID != k.Public().ID() || tok.ChallengeDigest != digest {
			t.Fatalf("token %d: key id or challenge digest", i)
		}
		b := tok.Marshal()
		if len(b) != TokenSize {
			t.Fatalf("token of %d bytes", len(b))
		}
		p, err := ParseToken(b)
		if err != nil || p != *tok || !bytes.Equal(p.Marshal(), b) {
			t.Fatalf("parse(marshal(token)) differs: %v", err)
		}
		sp, err := v.Verify(b, at(testEpoch, 3600))
		if err != nil {
			t.Fatal(err)
		}
		if sp != (Spent{Epoch: testEpoch, Nonce: tok.Nonce}) {
			t.Fatalf("spent %v", sp)
		}
		if seen[sp.Nonce] {
			t.Fatal("two tokens share a nonce")
		}
		seen[sp.Nonce] = true
	}
}

func TestBatchFraming(t *testing.T) {
	k, _ := testKeys(t)
	reqs, _, err := PrepareBatch(testrand.New("framing"), k.Public(), Challenge{testIssuer, testEpoch}, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalBatchRequest(reqs)
	if err != nil || len(b) != 2+3*RequestSize || binary.BigEndian.Uint16(b) != 3 {
		t.Fatalf("batch request framing: %v", err)
	}
	got, err := ParseBatchRequest(b, MaxBatchSize)
	if err != nil || len(got) != 3 || got[2] != reqs[2] {
		t.Fatalf("ParseBatchRequest: %v", err)
	}
	resps, err := k.Issue(got)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := MarshalBatchResponse(resps)
	if err != nil || len(rb) != 2+3*ResponseSize {
		t.Fatal(err)
	}
	if back, err := ParseBatchResponse(rb, 3); err != nil || back[1] != resps[1] {
		t.Fatalf("ParseBatchResponse: %v", err)
	}

	badReq := bytes.Clone(b)
	badReq[2+RequestSize+1] = 0x01 // request 1's token type
	for name, c := range map[string]struct {
		b   []byte
		max int
	}{
		"empty":           {nil, 0},
		"count only":      {[]byte{0, 1}, 0},
		"zero count":      {[]byte{0, 0}, 0},
		"over max":        {b, 2},
		"over default":    {append([]byte{0, 101}, make([]byte, 101*RequestSize)...), 0},
		"short":           {b[:len(b)-1], 0},
		"trailing":        {append(bytes.Clone(b), 0), 0},
		"count too large": {append([]byte{0, 4}, b[2:]...), 0},
		"bad item":        {badReq, 0},
	} {
		_, err := ParseBatchRequest(c.b, c.max)
		t.Run("request/"+name, func(t *testing.T) { wantKind(t, err, ErrMalformed) })
	}
	var ie *ItemError
	if _, err := ParseBatchRequest(badReq, 0); !errors.As(err, &ie) || ie.Index != 1 {
		t.Fatalf("bad item: %v, want item 1", err)
	}
	for name, c := range map[string]struct {
		b []byte
		n int
	}{
		"wrong count": {rb, 2},
		"zero":        {rb, 0},
		"short":       {rb[:len(rb)-1], 3},
		"trailing":    {append(bytes.Clone(rb), 0), 3},
		"header lies": {append([]byte{0, 2}, rb[2:]...), 3},
		"no header":   {rb[:1], 3},
		"empty":       {nil, 3},
	} {
		_, err := ParseBatchResponse(c.b, c.n)
		t.Run("response/"+name, func(t *testing.T) { wantKind(t, err, ErrMalformed) })
	}
}

func TestVerifyRefusals(t *testing.T) {
	kA, kB := testKeys(t)
	ch := Challenge{Issuer: testIssuer, Epoch: testEpoch}
	tok := issue(t, kA, ch, 1, "refusals")[0]
	good := tok.Marshal()
	otherKey := issue(t, kB, Challenge{testIssuer, testEpoch + 1}, 1, "refusals-b")[0].Marshal()
	// Tokens under kA with a challenge that is not kA's epoch's.
	otherEpoch := issue(t, kA, Challenge{testIssuer, testEpoch + 5}, 1, "refusals-e")[0].Marshal()
	otherIssuer := issue(t, kA, Challenge{"evil.example", testEpoch}, 1, "refusals-i")[0].Marshal()
	v, err := NewVerifier(testIssuer, EpochKey{testEpoch, kA.Public()})
	if err != nil {
		t.Fatal(err)
	}

	flip := func(off int) []byte { b := bytes.Clone(good); b[off] ^= 0x01; return b }
	high := bytes.Clone(good)
	for i := TokenSize - ModulusSize; i < TokenSize; i++ {
		high[i] = 0xff // authenticator ≥ n
	}
	forged := bytes.Clone(good)
	testrand.New("forged").Read(forged[TokenSize-ModulusSize:])
	forged[TokenSize-ModulusSize] &= 0x7f

	cases := []struct {
		name string
		b    []byte
		now  int64 // seconds from the start of testEpoch
		want error
	}{
		{"empty", nil, 100, ErrMalformed},
		{"short", good[:TokenSize-1], 100, ErrMalformed},
		{"trailing", append(bytes.Clone(good), 0), 100, ErrMalformed},
		{"type 1", func() []byte { b := bytes.Clone(good); b[1] = 1; return b }(), 100, ErrMalformed},
		{"type 0x0102", flip(0), 100, ErrMalformed},
		{"nonce altered", flip(2), 100, ErrBadSignature},
		{"nonce last byte", flip(2 + NonceSize - 1), 100, ErrBadSignature},
		{"challenge digest altered", flip(2 + NonceSize), 100, ErrBadSignature},
		{"key id altered", flip(2 + NonceSize + DigestSize), 100, ErrUnknownKey},
		{"key id last byte", flip(2 + NonceSize + DigestSize + KeyIDSize - 1), 100, ErrUnknownKey},
		{"authenticator altered", flip(TokenSize - ModulusSize), 100, ErrBadSignature},
		{"authenticator last byte", flip(TokenSize - 1), 100, ErrBadSignature},
		{"authenticator above modulus", high, 100, ErrBadSignature},
		{"forged authenticator", forged, 100, ErrBadSignature},
		{"another issuer key", otherKey, 100, ErrUnknownKey},
		{"two epochs later", good, 2*EpochSeconds + ClockSkew, ErrWrongEpoch},
		{"a year later", good, 365 * EpochSeconds, ErrWrongEpoch},
		{"before the epoch", good, -ClockSkew - 1, ErrWrongEpoch},
		{"challenge of another epoch", otherEpoch, 100, ErrWrongChallenge},
		{"challenge of another issuer", otherIssuer, 100, ErrWrongChallenge},
		{"ok at skewed start", good, -ClockSkew, nil},
		{"ok in next epoch", good, EpochSeconds + 100, nil},
		{"ok at skewed end", good, 2*EpochSeconds + ClockSkew - 1, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := bytes.Clone(c.b)
			sp, err := v.Verify(c.b, at(testEpoch, c.now))
			if !bytes.Equal(in, c.b) {
				t.Fatal("Verify modified its input")
			}
			if c.want == nil {
				if err != nil || sp.Epoch != testEpoch || sp.Nonce != tok.Nonce {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantKind(t, err, c.want)
			if sp != (Spent{}) {
				t.Fatal("a refusal returned a spent value")
			}
		})
	}
}

func TestIssueRefusals(t *testing.T) {
	kA, kB := testKeys(t)
	ch := Challenge{Issuer: testIssuer, Epoch: testEpoch}
	reqs, _, err := PrepareBatch(testrand.New("issue-refusals"), kA.Public(), ch, 4)
	if err != nil {
		t.Fatal(err)
	}
	bReqs, _, err := PrepareBatch(testrand.New("issue-refusals-b"), kB.Public(), ch, 1)
	if err != nil {
		t.Fatal(err)
	}
	if kA.Public().ID()[KeyIDSize-1] == kB.Public().ID()[KeyIDSize-1] {
		t.Skip("the two test keys share a truncated key id")
	}
	withItem := func(i int, r Request) []Request {
		rs := append([]Request(nil), reqs...)
		rs[i] = r
		return rs
	}
	high := reqs[0]
	for i := range high.BlindedMsg {
		high.BlindedMsg[i] = 0xff
	}
	atN := reqs[0]
	kA.sk.N.FillBytes(atN.BlindedMsg[:])
	many := make([]Request, MaxBatchSize+1)
	for i := range many {
		many[i] = reqs[0]
	}
	cases := []struct {
		name  string
		reqs  []Request
		want  error
		index int // -1: not an item error
	}{
		{"empty", nil, ErrMalformed, -1},
		{"over the batch limit", many, ErrMalformed, -1},
		{"request for another key", withItem(2, bReqs[0]), ErrUnknownKey, 2},
		{"blinded message all ones", withItem(3, high), ErrMalformed, 3},
		{"blinded message equal to the modulus", withItem(1, atN), ErrMalformed, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resps, err := kA.Issue(c.reqs)
			wantKind(t, err, c.want)
			if resps != nil {
				t.Fatal("a refused batch returned responses")
			}
			var ie *ItemError
			if errors.As(err, &ie) != (c.index >= 0) || (ie != nil && ie.Index != c.index) {
				t.Fatalf("error %v, want item %d", err, c.index)
			}
		})
	}
	// A full batch of MaxBatchSize is accepted.
	if _, err := kA.Issue(many[:MaxBatchSize]); err != nil {
		t.Fatal(err)
	}
}

func TestFinalizeRefusals(t *testing.T) {
	kA, kB := testKeys(t)
	ch := Challenge{Issuer: testIssuer, Epoch: testEpoch}
	reqs, p, err := PrepareBatch(testrand.New("finalize"), kA.Public(), ch, 3)
	if err != nil {
		t.Fatal(err)
	}
	resps, err := kA.Issue(reqs)
	if err != nil {
		t.Fatal(err)
	}
	// kB signing the same blinded messages, as a issuer using another key.
	bResps := make([]Response, 3)
	for i := range reqs {
		s, err := kB.signer.BlindSign(reqs[i].BlindedMsg[:])
		if err == nil {
			copy(bResps[i][:], s)
		}
	}
	altered := append([]Response(nil), resps...)
	altered[2][100] ^= 1
	swapped := []Response{resps[1], resps[0], resps[2]}
	zero := append([]Response(nil), resps...)
	zero[1] = Response{}
	cases := []struct {
		name  string
		resps []Response
		want  error
		index int
	}{
		{"too few", resps[:2], ErrMalformed, -1},
		{"too many", append(append([]Response(nil), resps...), resps[0]), ErrMalformed, -1},
		{"altered response", altered, ErrBadSignature, 2},
		{"swapped responses", swapped, ErrBadSignature, 0},
		{"zero response", zero, ErrBadSignature, 1},
		{"another key's signatures", bResps, ErrBadSignature, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			toks, err := p.Finalize(c.resps)
			wantKind(t, err, c.want)
			if toks != nil {
				t.Fatal("a refused batch returned tokens")
			}
			var ie *ItemError
			if errors.As(err, &ie) != (c.index >= 0) || (ie != nil && ie.Index != c.index) {
				t.Fatalf("error %v, want item %d", err, c.index)
			}
		})
	}
	// The refusals used up nothing: the right responses still finalize.
	if _, err := p.Finalize(resps); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, MaxBatchSize + 1} {
		if _, _, err := PrepareBatch(testrand.New("n"), kA.Public(), ch, n); !errors.Is(err, ErrMalformed) {
			t.Fatalf("PrepareBatch(%d): %v", n, err)
		}
	}
	if _, _, err := PrepareBatch(nil, kA.Public(), ch, 1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("PrepareBatch without randomness: %v", err)
	}
	if _, _, err := PrepareBatch(testrand.New("n"), nil, ch, 1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("PrepareBatch without a key: %v", err)
	}
	if _, _, err := PrepareBatch(testrand.New("n"), kA.Public(), Challenge{"", testEpoch}, 1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("PrepareBatch with an empty issuer: %v", err)
	}
}

func TestPublicKeyEncoding(t *testing.T) {
	k, _ := testKeys(t)
	enc := k.Public().Bytes()
	if len(enc) != PublicKeySize {
		t.Fatalf("public key of %d bytes", len(enc))
	}
	p, err := ParsePublicKey(enc)
	if err != nil || !p.Equal(k.Public()) || !bytes.Equal(p.Bytes(), enc) {
		t.Fatalf("parse(marshal(key)): %v", err)
	}
	der, err := k.MarshalPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if k2, err := ParsePrivateKey(der); err != nil || !k2.Public().Equal(k.Public()) {
		t.Fatalf("private key round trip: %v", err)
	}
	if _, err := ParsePrivateKey(der[:len(der)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated private key: %v", err)
	}
	// Every byte of the fixed parts matters; so do the modulus' top and
	// bottom bits (2048 bits, odd) and the length.
	for i := 0; i < PublicKeySize; i++ {
		mod := i >= len(spkiPrefix) && i < len(spkiPrefix)+ModulusSize
		if mod && i != len(spkiPrefix) && i != len(spkiPrefix)+ModulusSize-1 {
			continue
		}
		b := bytes.Clone(enc)
		if mod && i == len(spkiPrefix) {
			b[i] &= 0x7f
		} else {
			b[i] ^= 0x01
		}
		if _, err := ParsePublicKey(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("byte %d altered: %v", i, err)
		}
	}
	for _, b := range [][]byte{nil, enc[:PublicKeySize-1], append(bytes.Clone(enc), 0)} {
		if _, err := ParsePublicKey(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("key of %d bytes: %v", len(b), err)
		}
	}
}

func TestChallengeEncoding(t *testing.T) {
	c := Challenge{Issuer: "k", Epoch: 0x0102030405060708}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x00, 0x02, 0x00, 0x01, 'k', 0x20}
	want = append(want, make([]byte, 24)...)
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x00)
	if !bytes.Equal(b, want) {
		t.Fatalf("challenge %x, want %x", b, want)
	}
	if p, err := ParseChallenge(b); err != nil || p != c {
		t.Fatalf("ParseChallenge: %v %v", p, err)
	}
	for name, s := range map[string]string{"empty": "", "space": "a b", "65 bytes": string(make([]byte, 65)), "non-ASCII": "é"} {
		if _, err := (Challenge{Issuer: s}).Marshal(); !errors.Is(err, ErrMalformed) {
			t.Errorf("issuer %s: %v", name, err)
		}
	}
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(want)) }
	for name, bad := range map[string][]byte{
		"type 1":            mod(func(b []byte) []byte { b[1] = 1; return b }),
		"name length 2":     mod(func(b []byte) []byte { b[3] = 2; return b }),
		"name length 0":     append([]byte{0, 2, 0, 0}, want[5:]...),
		"context length 0":  append(bytes.Clone(want[:5]), 0, 0, 0),
		"context not epoch": mod(func(b []byte) []byte { b[6] = 1; return b }),
		"origin info":       append(append(bytes.Clone(want[:len(want)-2]), 0, 1), 'o'),
		"trailing":          append(bytes.Clone(want), 0),
		"short":             want[:len(want)-1],
		"empty":             nil,
	} {
		if _, err := ParseChallenge(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestEpochs(t *testing.T) {
	if EpochAt(at(7, 0)) != 7 || EpochAt(at(7, EpochSeconds-1)) != 7 || EpochAt(at(7, EpochSeconds)) != 8 {
		t.Fatal("EpochAt")
	}
	if EpochAt(at(0, -5)) != 0 {
		t.Fatal("EpochAt before 1970")
	}
	for _, c := range []struct {
		s  int64
		ok bool
	}{{-ClockSkew - 1, false}, {-ClockSkew, true}, {0, true}, {2*EpochSeconds + ClockSkew - 1, true}, {2*EpochSeconds + ClockSkew, false}} {
		if InWindow(9, at(9, c.s)) != c.ok {
			t.Errorf("InWindow(9, start+%d) != %v", c.s, c.ok)
		}
	}
	if InWindow(^uint64(0), at(0, 0)) || InWindow(maxEpoch+1, at(0, 0)) {
		t.Fatal("InWindow of a huge epoch")
	}
}

func TestNewVerifier(t *testing.T) {
	kA, kB := testKeys(t)
	if _, err := NewVerifier("", EpochKey{1, kA.Public()}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty issuer: %v", err)
	}
	if _, err := NewVerifier(testIssuer, EpochKey{1, kA.Public()}, EpochKey{2, kA.Public()}); err == nil {
		t.Fatal("a key given twice")
	}
	if _, err := NewVerifier(testIssuer, EpochKey{1, nil}); err == nil {
		t.Fatal("a nil key")
	}
	// Two keys of one epoch (an emergency re-key) are both accepted.
	v, err := NewVerifier(testIssuer, EpochKey{testEpoch, kA.Public()}, EpochKey{testEpoch, kB.Public()})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []*PrivateKey{kA, kB} {
		tok := issue(t, k, Challenge{testIssuer, testEpoch}, 1, "two-keys")[0]
		if _, err := v.Verify(tok.Marshal(), at(testEpoch, 0)); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
}
