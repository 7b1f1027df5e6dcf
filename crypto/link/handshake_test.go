package link

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/internal/testrand"
)

var codePattern = regexp.MustCompile(`^[0-9]{3} [0-9]{3}$`)

func TestHandshake(t *testing.T) {
	x := handshake(t, "handshake")
	if x.nCode != x.eCode {
		t.Fatalf("codes differ: N %q, E %q", x.nCode, x.eCode)
	}
	if !codePattern.MatchString(x.nCode) {
		t.Fatalf("code %q is not six digits with a space", x.nCode)
	}
	if x.replyID != testReplyID {
		t.Fatalf("reply id %x, want %x", x.replyID, testReplyID)
	}
	if len(x.msg1) != Msg1Size || len(x.msg2) != Msg2Size {
		t.Fatalf("msg1 %d bytes, msg2 %d bytes", len(x.msg1), len(x.msg2))
	}
	if x.nch.Transcript() != x.ech.Transcript() {
		t.Fatal("transcripts differ")
	}
	if got := x.init.Offer(); got.Device != x.dev.Public() {
		t.Fatalf("initiator's offer %+v", got)
	}
	if got := x.init.Name(); got != "Laptop" {
		t.Fatalf("initiator's name of N %q", got)
	}
	if len(x.offer) > MaxOffer {
		t.Fatalf("offer of %d bytes", len(x.offer))
	}
	if s := x.uri.String(); len(s) > MaxURILen {
		t.Fatalf("URI of %d bytes", len(s))
	}
}

// N's name travels in msg2, sealed and zero-padded to MaxNameLen: a
// 1-byte and a 64-byte name give msg2s of the same size, Msg2Size, and E
// learns the name only from Finish (spec/linking.md §4.3, §4.4, §10.2).
func TestMsg2CarriesName(t *testing.T) {
	sizes := map[int]string{}
	for _, name := range []string{"n", "Zoé's phone 📱", strings.Repeat("n", MaxNameLen), "日本語のラップトップ", strings.Repeat("é", MaxNameLen/2)} {
		dev, _ := newResponder(t, "name dev")
		n, err := NewResponder(testrand.New("name N "+name), testRelay, testLinkID, dev.Public(), name, testExpires)
		if err != nil {
			t.Fatal(err)
		}
		offer := n.Offer()
		// (A name of a few bytes may occur in random key bytes by chance.)
		if len(name) > 4 && bytes.Contains(offer, []byte(name)) {
			t.Fatalf("%q: the offer holds the name", name)
		}
		i, o, msg1, err := Initiate(testrand.New("name E"), n.URI(), offer, testReplyID, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if i.Name() != "" || o.Device != dev.Public() {
			t.Fatalf("%q: name %q before Finish", name, i.Name())
		}
		_, _, msg2, nCode, err := n.Accept(msg1)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg2) != Msg2Size {
			t.Fatalf("%q (%d bytes): msg2 of %d bytes, want %d", name, len(name), len(msg2), Msg2Size)
		}
		sizes[len(msg2)] = name
		if len(name) > 4 && bytes.Contains(msg2, []byte(name)) {
			t.Fatalf("%q: msg2 holds the name in the clear", name)
		}
		_, eCode, err := i.Finish(msg2)
		if err != nil || eCode != nCode || i.Name() != name {
			t.Fatalf("%q: Finish %v, name %q", name, err, i.Name())
		}
	}
	if len(sizes) != 1 {
		t.Fatalf("msg2 sizes differ with the name's length: %v", sizes)
	}
}

// N's msg2 plaintext is r_N || u8(len(name)) || name || zeros, 97 bytes
// (spec/linking.md §4.3).
func TestMsg2Plaintext(t *testing.T) {
	_, n := newResponder(t, "plaintext")
	rN := n.r // Accept wipes it
	i, _, msg1, err := Initiate(testrand.New("plaintext E"), n.URI(), n.Offer(), testReplyID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	_, _, msg2, _, err := n.Accept(msg1)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := prim.AEADOpen(nil, i.keys.n2e[:], nonce(0), msg2[1:], ad(i.keys.th, dirN2E, typeMsg2))
	if err != nil {
		t.Fatal(err)
	}
	if want := msg2PlaintextForTest(rN[:], byte(len("Laptop")), []byte("Laptop")); len(pt) != 97 || !bytes.Equal(pt, want) {
		t.Fatalf("msg2 plaintext %x, want %x", pt, want)
	}
}

// With the system's randomness (crypto/mlkem draws the KEM randomness
// itself) the two sides agree too.
func TestHandshakeSystemRandomness(t *testing.T) {
	dev, _ := newResponder(t, "system")
	r, err := NewResponder(rand.Reader, testRelay, testLinkID, dev.Public(), "Phone", testExpires)
	if err != nil {
		t.Fatal(err)
	}
	i, _, msg1, err := Initiate(rand.Reader, r.URI(), r.Offer(), testReplyID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	_, _, msg2, nCode, err := r.Accept(msg1)
	if err != nil {
		t.Fatal(err)
	}
	_, eCode, err := i.Finish(msg2)
	if err != nil || eCode != nCode {
		t.Fatalf("Finish: %v, codes %q %q", err, nCode, eCode)
	}
}

// A man in the middle who replaced the URI with one of its own (its own
// link id and offer hash) runs one handshake with each side: the two
// codes differ, because it had to fix its own commitment before E's key
// share and its msg1 to N before N revealed r_N (spec/linking.md §6.2).
func TestMITMSwappedURIGivesDifferentCodes(t *testing.T) {
	for _, seed := range []string{"mitm 1", "mitm 2", "mitm 3"} {
		_, n := newResponder(t, seed+" N")
		mdev, _ := newResponder(t, seed+" M dev")
		// M's own offer, in M's own mailbox, under M's URI.
		m, err := NewResponder(testrand.New(seed+" M"), testRelay, [IDSize]byte{0xee}, mdev.Public(), "Laptop", testExpires)
		if err != nil {
			t.Fatal(err)
		}
		mURI := m.URI()
		if mURI.LinkID == n.URI().LinkID || mURI.OfferHash == n.URI().OfferHash {
			t.Fatal("M's URI is N's")
		}
		// E scanned M's URI.
		e, _, msg1E, err := Initiate(testrand.New(seed+" E"), mURI, m.Offer(), testReplyID, testNow)
		if err != nil {
			t.Fatal(err)
		}
		_, _, msg2M, _, err := m.Accept(msg1E)
		if err != nil {
			t.Fatal(err)
		}
		_, eCode, err := e.Finish(msg2M)
		if err != nil {
			t.Fatal(err)
		}
		// M plays E towards N, with N's real URI.
		mi, _, msg1M, err := Initiate(testrand.New(seed+" M as E"), n.URI(), n.Offer(), [IDSize]byte{0xef}, testNow)
		if err != nil {
			t.Fatal(err)
		}
		_, _, msg2N, nCode, err := n.Accept(msg1M)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := mi.Finish(msg2N); err != nil {
			t.Fatal(err)
		}
		if eCode == nCode {
			t.Fatalf("%s: codes match (%q) through a man in the middle", seed, eCode)
		}
		// M cannot give E N's r_N instead of its own: E checks it against
		// M's commitment.
		_, _, err = e.Finish(msg2N)
		wantErr(t, err, ErrWrongState)
	}
}

// A URI whose hash was swapped (the offer in the mailbox is not the one it
// names) is refused; so is one whose link id, relay or expiry was changed
// while the offer was copied (the offer names its own mailbox).
func TestSwappedURIFieldsRefused(t *testing.T) {
	_, n := newResponder(t, "swap N")
	_, other := newResponder(t, "swap other")
	offer := n.Offer()
	for name, edit := range map[string]func(u *URI){
		"hash":    func(u *URI) { u.OfferHash = other.URI().OfferHash },
		"link id": func(u *URI) { u.LinkID[0] ^= 1 },
		"relay":   func(u *URI) { u.Relay = "wss://evil.example/v1/relay" },
		"expiry":  func(u *URI) { u.Expires = u.Expires.Add(-time.Second) },
	} {
		u := n.URI()
		edit(u)
		if name != "hash" {
			// The hash still matches: the offer is N's, copied.
			u.OfferHash = OfferHash(offer)
		}
		_, _, _, err := Initiate(testrand.New("swap E"), u, offer, testReplyID, testNow)
		if !errorsIs(err, ErrOfferMismatch) {
			t.Errorf("%s swapped: %v, want offer_mismatch", name, err)
		}
	}
	// The other offer under N's URI: its hash is not h.
	_, _, _, err := Initiate(testrand.New("swap E"), n.URI(), other.Offer(), testReplyID, testNow)
	wantErr(t, err, ErrOfferMismatch)
}

func TestInitiateExpiry(t *testing.T) {
	_, n := newResponder(t, "expiry")
	u, offer := n.URI(), n.Offer()
	for _, c := range []struct {
		now  time.Time
		want error
	}{
		{testExpires, ErrExpired},
		{testExpires.Add(time.Hour), ErrExpired},
		{testExpires.Add(-MaxOfferLifetime - time.Second), ErrExpiryTooFar},
		{testExpires.Add(-MaxOfferLifetime), nil},
		{testExpires.Add(-time.Second), nil},
	} {
		_, _, _, err := Initiate(testrand.New("expiry E"), u, offer, testReplyID, c.now)
		if c.want == nil && err != nil || c.want != nil && !errorsIs(err, c.want) {
			t.Errorf("now = expiry %v: %v, want %v", c.now.Sub(testExpires), err, c.want)
		}
	}
	// An expired URI is refused before the offer is looked at.
	_, _, _, err := Initiate(testrand.New("expiry E"), u, nil, testReplyID, testExpires)
	wantErr(t, err, ErrExpired)
}

func TestInitiateRefusesOwnLinkIDAsReply(t *testing.T) {
	_, n := newResponder(t, "reply")
	_, _, _, err := Initiate(testrand.New("reply E"), n.URI(), n.Offer(), testLinkID, testNow)
	wantErr(t, err, ErrMalformed)
}

// msg1 made for one Responder does not open at another (replayed to a
// second new device, or to a second offer of the same device).
func TestMsg1ReplayedToSecondResponder(t *testing.T) {
	x := handshake(t, "replay")
	_, n2 := newResponder(t, "replay second")
	_, _, _, _, err := n2.Accept(x.msg1)
	wantErr(t, err, ErrDecrypt)
	// Same device keys, a fresh offer.
	n3, err := NewResponder(testrand.New("replay third"), testRelay, testLinkID, x.dev.Public(), "Laptop", testExpires)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, _, err = n3.Accept(x.msg1)
	wantErr(t, err, ErrDecrypt)
	// The refused Responder still accepts its own msg1.
	_, _, msg1, err := Initiate(testrand.New("replay E2"), n2.URI(), n2.Offer(), testReplyID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, err := n2.Accept(msg1); err != nil {
		t.Fatalf("Accept after a refused msg1: %v", err)
	}
}

func TestAcceptRefusals(t *testing.T) {
	_, n := newResponder(t, "accept")
	_, _, msg1, err := Initiate(testrand.New("accept E"), n.URI(), n.Offer(), testReplyID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	offerBefore := n.Offer()
	for name, c := range map[string]struct {
		msg  []byte
		want error
	}{
		"empty":          {nil, ErrMalformed},
		"short":          {msg1[:len(msg1)-1], ErrMalformed},
		"long":           {append(bytes.Clone(msg1), 0), ErrMalformed},
		"type":           {append([]byte{typeMsg2}, msg1[1:]...), ErrMalformed},
		"x_E zero":       {append(append([]byte{typeMsg1}, make([]byte, 32)...), msg1[33:]...), ErrMalformed},
		"x_E flipped":    {flip(msg1, 5), ErrDecrypt},
		"ct flipped":     {flip(msg1, 40), ErrDecrypt},
		"reply flipped":  {flip(msg1, Msg1Size-tagSize-1), ErrDecrypt},
		"tag flipped":    {flip(msg1, Msg1Size-1), ErrDecrypt},
		"x_E non-canon.": {nonCanonicalXE(msg1), ErrMalformed},
	} {
		_, _, _, _, err := n.Accept(c.msg)
		if !errorsIs(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if !bytes.Equal(n.Offer(), offerBefore) || n.state != stateWaiting {
		t.Fatal("a refused msg1 changed the Responder")
	}
	if _, _, _, _, err := n.Accept(msg1); err != nil {
		t.Fatalf("the real msg1 after refusals: %v", err)
	}
	// Redelivered: duplicate; another msg1 after acceptance: wrong state.
	_, _, _, _, err = n.Accept(msg1)
	wantErr(t, err, ErrDuplicate)
	_, _, msg1b, err := Initiate(testrand.New("accept E2"), n.URI(), n.Offer(), testReplyID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, _, err = n.Accept(msg1b)
	wantErr(t, err, ErrWrongState)
}

// nonCanonicalXE replaces x_E with p + 1, an encoding of u = 1 that is
// not reduced.
func nonCanonicalXE(msg1 []byte) []byte {
	m := bytes.Clone(msg1)
	copy(m[1:33], bytes.Repeat([]byte{0xff}, 32))
	m[1] = 0xee
	m[32] = 0x7f
	return m
}

// A reply link id equal to the offer's own is refused by N too.
func TestAcceptRefusesOwnLinkIDAsReply(t *testing.T) {
	_, n := newResponder(t, "own reply")
	_, _, msg1, err := Initiate(testrand.New("own reply E"), n.URI(), n.Offer(), testReplyID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	// Re-seal msg1's body with N's own link id, as a peer skipping
	// Initiate's check would.
	k := respondKeysForTest(t, n, msg1[1:33], msg1[33:33+kemCiphertextSize])
	bad := prim.AEADSeal(bytes.Clone(msg1[:33+kemCiphertextSize]), k.e2n[:], nonce(0), testLinkID[:], ad(k.th, dirE2N, typeMsg1))
	_, _, _, _, err = n.Accept(bad)
	wantErr(t, err, ErrMalformed)
	if n.state != stateWaiting {
		t.Fatal("refused msg1 changed the state")
	}
	if _, _, _, _, err := n.Accept(msg1); err != nil {
		t.Fatal(err)
	}
}

func TestFinishRefusals(t *testing.T) {
	_, n := newResponder(t, "finish")
	rN := n.r // Accept wipes it
	i, _, msg1, err := Initiate(testrand.New("finish E"), n.URI(), n.Offer(), testReplyID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	_, _, msg2, _, err := n.Accept(msg1)
	if err != nil {
		t.Fatal(err)
	}
	// msg2s that open under the Initiator's keys (as one from N, or from
	// whoever E's msg1 reached, could be): r || name_len || field, the
	// field padded or cut to 64 bytes.
	withName := func(r []byte, n int, field string) []byte {
		return sealMsg2ForTest(i, msg2PlaintextForTest(r, byte(n), []byte(field)))
	}
	named := func(r []byte, name string) []byte { return withName(r, len(name), name) }
	// Another r: commit_mismatch.
	wrongR := named(bytes.Repeat([]byte{7}, 32), "Laptop")
	nonZeroLast := msg2PlaintextForTest(rN[:], 6, []byte("Laptop"))
	nonZeroLast[len(nonZeroLast)-1] = 1
	for name, c := range map[string]struct {
		msg  []byte
		want error
	}{
		"empty":              {nil, ErrMalformed},
		"short":              {msg2[:Msg2Size-1], ErrMalformed},
		"long":               {append(bytes.Clone(msg2), 0), ErrMalformed},
		"type":               {append([]byte{typeMsg1}, msg2[1:]...), ErrMalformed},
		"flipped":            {flip(msg2, 3), ErrDecrypt},
		"name flipped":       {flip(msg2, 1+HashSize+1), ErrDecrypt},
		"padding flipped":    {flip(msg2, Msg2Size-tagSize-1), ErrDecrypt},
		"tag":                {flip(msg2, len(msg2)-1), ErrDecrypt},
		"wrong r":            {wrongR, ErrCommitMismatch},
		"unpadded":           {sealMsg2ForTest(i, append(bytes.Clone(rN[:]), "Laptop"...)), ErrMalformed},
		"name_len 0":         {withName(rN[:], 0, ""), ErrMalformed},
		"name_len 0, bytes":  {withName(rN[:], 0, "Laptop"), ErrMalformed},
		"name_len 65":        {withName(rN[:], MaxNameLen+1, strings.Repeat("n", MaxNameLen)), ErrMalformed},
		"name_len 255":       {withName(rN[:], 255, strings.Repeat("n", MaxNameLen)), ErrMalformed},
		"name_len short":     {withName(rN[:], 3, "Laptop"), ErrMalformed}, // "top" is non-zero padding
		"padding last byte":  {sealMsg2ForTest(i, nonZeroLast), ErrMalformed},
		"name ends in NUL":   {withName(rN[:], 7, "Laptop"), ErrMalformed}, // a zero inside name_len is not padding
		"name newline":       {named(rN[:], "Lap\ntop"), ErrMalformed},
		"name rlo":           {named(rN[:], "evil\u202egpj.exe"), ErrMalformed},
		"name not UTF-8":     {named(rN[:], "Lap\xfftop"), ErrMalformed},
		"wrong r bad name":   {named(bytes.Repeat([]byte{7}, 32), "\n"), ErrCommitMismatch},
		"wrong r name_len 0": {withName(bytes.Repeat([]byte{7}, 32), 0, ""), ErrCommitMismatch},
	} {
		_, _, err := i.Finish(c.msg)
		if !errorsIs(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		// An invalid name is malformed, never invalid_name: the caller
		// did not supply it.
		if errorsIs(err, ErrInvalidName) {
			t.Errorf("%s: %v is invalid_name", name, err)
		}
	}
	if i.state != stateWaiting || i.Name() != "" {
		t.Fatalf("a refused msg2 changed the Initiator (name %q)", i.Name())
	}
	if _, _, err := i.Finish(msg2); err != nil {
		t.Fatalf("the real msg2 after refusals: %v", err)
	}
	if i.Name() != "Laptop" {
		t.Fatalf("name %q after Finish", i.Name())
	}
	_, _, err = i.Finish(msg2)
	wantErr(t, err, ErrDuplicate)
	_, _, err = i.Finish(wrongR)
	wantErr(t, err, ErrWrongState)
}

func TestDestroy(t *testing.T) {
	_, n := newResponder(t, "destroy")
	i, _, msg1, err := Initiate(testrand.New("destroy E"), n.URI(), n.Offer(), testReplyID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	x, seed := n.x, n.kemSeed
	n.Destroy()
	if !allZero(x) || !allZero(seed) || !allZero(n.r[:]) {
		t.Fatal("Destroy left the Responder's secrets")
	}
	_, _, _, _, err = n.Accept(msg1)
	wantErr(t, err, ErrWrongState)

	k := i.keys
	i.Destroy()
	if !allZero(k.e2n[:]) || !allZero(k.n2e[:]) || !allZero(k.sas[:]) {
		t.Fatal("Destroy left the Initiator's keys")
	}
	_, _, err = i.Finish(make([]byte, Msg2Size))
	wantErr(t, err, ErrWrongState)

	// Accept and Finish wipe what they no longer need.
	ex := handshake(t, "destroy 2")
	if ex.resp.x != nil || ex.resp.kemSeed != nil || !allZero(ex.resp.r[:]) || !allZero(ex.init.keys.sas[:]) {
		t.Fatal("secrets left after the handshake")
	}
	ex.nch.Destroy()
	if !allZero(ex.nch.sendKey[:]) || !allZero(ex.nch.recvKey[:]) {
		t.Fatal("Channel.Destroy left keys")
	}
	_, err = ex.nch.Seal(&Linked{Device: 7})
	wantErr(t, err, ErrWrongState)
	_, err = ex.nch.Open(make([]byte, 40))
	wantErr(t, err, ErrWrongState)
}

func TestCode(t *testing.T) {
	// The reduction of spec/linking.md §6.1, by hand.
	k := bytes.Repeat([]byte{1}, 32)
	r := bytes.Repeat([]byte{2}, 32)
	code := verificationCode(k, r)
	mac := hmacSHA256(k, r)
	var n uint64
	for _, b := range mac[:8] {
		n = n<<8 | uint64(b)
	}
	n %= 1_000_000
	want := []byte("000 000")
	for i := 6; i >= 0; i-- {
		if i == 3 {
			continue
		}
		want[i] = byte('0' + n%10)
		n /= 10
	}
	if code != string(want) {
		t.Fatalf("code %q, want %q", code, want)
	}
	// Leading zeros are kept.
	for i := range 2000 {
		c := verificationCode(k, sha256Of(i))
		if !codePattern.MatchString(c) {
			t.Fatalf("code %q", c)
		}
	}
}

func sha256Of(i int) []byte {
	s := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
	return s[:]
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
