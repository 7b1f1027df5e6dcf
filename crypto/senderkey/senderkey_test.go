package senderkey

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testrand"
)

// newPair returns a sending chain and a receiving chain made from its
// distribution.
func newPair(t testing.TB, label string) (*SendingChain, *ReceivingChain) {
	t.Helper()
	var g GroupID
	copy(g[:], "group "+label)
	s, err := NewSendingChain(testrand.New("senderkey "+label), g)
	if err != nil {
		t.Fatal(err)
	}
	d := s.Distribution()
	r, err := NewReceivingChain(d)
	d.Destroy()
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

func encrypt(t testing.TB, s *SendingChain, pt string) []byte {
	t.Helper()
	m, err := s.Encrypt([]byte(pt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func decrypt(t testing.TB, r *ReceivingChain, m []byte, want string) {
	t.Helper()
	pt, err := r.Decrypt(m)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if string(pt) != want {
		t.Fatalf("Decrypt = %q, want %q", pt, want)
	}
}

// refuse checks that Decrypt refuses m with want and changes nothing.
func refuse(t testing.TB, r *ReceivingChain, m []byte, want error) {
	t.Helper()
	before := r.Marshal()
	pt, err := r.Decrypt(m)
	if !errors.Is(err, want) || pt != nil {
		t.Fatalf("Decrypt = %q, %v; want %v", pt, err, want)
	}
	if !bytes.Equal(r.Marshal(), before) {
		t.Fatalf("refused message (%v) changed the state", err)
	}
}

func TestInOrder(t *testing.T) {
	s, r := newPair(t, "in order")
	for i := range 5 {
		pt := fmt.Sprintf("message %d", i)
		m := encrypt(t, s, pt)
		if len(m) != Overhead+len(pt) {
			t.Fatalf("message of %d bytes, want %d", len(m), Overhead+len(pt))
		}
		decrypt(t, r, m, pt)
	}
	if s.Iteration() != 5 || r.Iteration() != 5 || r.Skipped() != 0 {
		t.Fatalf("iterations %d, %d, skipped %d", s.Iteration(), r.Iteration(), r.Skipped())
	}
}

func TestOutOfOrderAndReplay(t *testing.T) {
	s, r := newPair(t, "out of order")
	var ms [][]byte
	for i := range 6 {
		ms = append(ms, encrypt(t, s, fmt.Sprint(i)))
	}
	decrypt(t, r, ms[3], "3")
	if r.Skipped() != 3 {
		t.Fatalf("%d skipped keys, want 3", r.Skipped())
	}
	decrypt(t, r, ms[1], "1")
	decrypt(t, r, ms[5], "5")
	decrypt(t, r, ms[0], "0")
	decrypt(t, r, ms[4], "4")
	decrypt(t, r, ms[2], "2")
	if r.Skipped() != 0 {
		t.Fatalf("%d skipped keys left", r.Skipped())
	}
	for i, m := range ms {
		t.Run(fmt.Sprint("replay ", i), func(t *testing.T) { refuse(t, r, m, ErrOldMessage) })
	}
}

func TestRefusals(t *testing.T) {
	s, r := newPair(t, "refusals")
	m0 := encrypt(t, s, "zero")
	m1 := encrypt(t, s, "one")
	decrypt(t, r, m1, "one") // m0's key is skipped

	other, _ := newPair(t, "refusals other")
	om := encrypt(t, other, "other")

	change := func(m []byte, f func([]byte)) []byte {
		c := bytes.Clone(m)
		f(c)
		return c
	}
	// resign re-signs a changed message with the chain's own key: only the
	// check under test can refuse it.
	resign := func(m []byte, f func([]byte)) []byte {
		c := change(m, f)
		body := c[:len(c)-64]
		copy(c[len(c)-64:], ed25519.Sign(s.priv, signedMessage(nil, body)))
		return c
	}
	big := encrypt(t, s, "far")
	cases := []struct {
		name string
		m    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"short", m0[:MinMessageSize-1], ErrMalformed},
		{"version", change(m0, func(c []byte) { c[0] = 2 }), ErrMalformed},
		{"iteration max", resign(m0, func(c []byte) { binary.BigEndian.PutUint32(c[49:], 1<<32-1) }), ErrMalformed},
		{"other group", change(m0, func(c []byte) { c[1] ^= 1 }), ErrUnknownChain},
		{"other chain", change(m0, func(c []byte) { c[33] ^= 1 }), ErrUnknownChain},
		{"other sender", om, ErrUnknownChain},
		{"flipped ciphertext", change(m0, func(c []byte) { c[HeaderSize] ^= 1 }), ErrBadSignature},
		{"flipped tag", change(m0, func(c []byte) { c[len(c)-65] ^= 1 }), ErrBadSignature},
		{"flipped signature", change(m0, func(c []byte) { c[len(c)-1] ^= 1 }), ErrBadSignature},
		{"flipped iteration", change(m0, func(c []byte) { c[52] ^= 4 }), ErrBadSignature},
		{"signature S not reduced", change(m0, func(c []byte) { c[len(c)-1] |= 0xf0 }), ErrBadSignature},
		{"truncated", m0[:len(m0)-1], ErrBadSignature},
		{"re-signed, ciphertext changed", resign(m0, func(c []byte) { c[HeaderSize] ^= 1 }), ErrDecrypt},
		{"re-signed, skipped iteration moved", resign(m0, func(c []byte) { c[52] = 1 }), ErrOldMessage},
		{"re-signed, current iteration changed", resign(big, func(c []byte) { c[52] = 3 }), ErrDecrypt},
		{"replay", m1, ErrOldMessage},
		{"too far ahead", resign(big, func(c []byte) { binary.BigEndian.PutUint32(c[49:], 2+MaxSkip+1) }), ErrTooManySkipped},
		{"far ahead re-signed", resign(big, func(c []byte) { binary.BigEndian.PutUint32(c[49:], 2+MaxSkip) }), ErrDecrypt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { refuse(t, r, c.m, c.want) })
	}
	// Nothing above changed the chain: m0 still decrypts from its skipped
	// key, then is a replay.
	decrypt(t, r, m0, "zero")
	refuse(t, r, m0, ErrOldMessage)
	decrypt(t, r, big, "far")
}

// A receiver made from a later distribution reads nothing sent before it.
func TestDistributionIteration(t *testing.T) {
	s, _ := newPair(t, "late")
	early := encrypt(t, s, "before")
	d := s.Distribution()
	if d.Iteration != 1 {
		t.Fatalf("distribution at iteration %d, want 1", d.Iteration)
	}
	r, err := NewReceivingChain(d)
	if err != nil {
		t.Fatal(err)
	}
	refuse(t, r, early, ErrOldMessage)
	decrypt(t, r, encrypt(t, s, "after"), "after")
}

func TestMaxSkipBound(t *testing.T) {
	s, r := newPair(t, "bound")
	for range MaxSkip {
		encrypt(t, s, "")
	}
	m := encrypt(t, s, "at the bound") // iteration MaxSkip: skips exactly MaxSkip
	decrypt(t, r, m, "at the bound")
	if r.Skipped() != MaxSkip {
		t.Fatalf("%d skipped, want %d", r.Skipped(), MaxSkip)
	}
	// Skipping 5 more evicts the 5 oldest.
	for range 5 {
		encrypt(t, s, "")
	}
	decrypt(t, r, encrypt(t, s, "next"), "next")
	if r.Skipped() != MaxSkippedKeys || r.skipped[0].iteration != 5 {
		t.Fatalf("%d skipped, oldest %d; want %d, 5", r.Skipped(), r.skipped[0].iteration, MaxSkippedKeys)
	}
}

func TestEvictedKeyIsOld(t *testing.T) {
	s, r := newPair(t, "evicted")
	first := encrypt(t, s, "first")
	for range MaxSkip - 1 {
		encrypt(t, s, "")
	}
	decrypt(t, r, encrypt(t, s, "a"), "a") // skips 0..1999
	decrypt(t, r, encrypt(t, s, "b"), "b")
	decrypt(t, r, encrypt(t, s, ""), "")
	// Skip one more: iteration 0's key is the oldest and goes.
	encrypt(t, s, "")
	decrypt(t, r, encrypt(t, s, "c"), "c")
	refuse(t, r, first, ErrOldMessage)
}

func TestExhausted(t *testing.T) {
	s, _ := newPair(t, "exhausted")
	b := s.Marshal()
	binary.BigEndian.PutUint32(b[50:], MaxIteration)
	s, err := UnmarshalSendingChain(b)
	if err != nil {
		t.Fatal(err)
	}
	d := s.Distribution()
	r, err := NewReceivingChain(d)
	if err != nil {
		t.Fatal(err)
	}
	decrypt(t, r, encrypt(t, s, "last"), "last")
	before := s.Marshal()
	if _, err := s.Encrypt(nil); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Encrypt = %v, want ErrExhausted", err)
	}
	if !bytes.Equal(before, s.Marshal()) {
		t.Fatal("refused Encrypt changed the chain")
	}
	// A distribution of an exhausted chain cannot be made into a receiver.
	if _, err := NewReceivingChain(s.Distribution()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("NewReceivingChain of an exhausted chain = %v", err)
	}
	if _, err := ParseDistribution(s.Distribution().Marshal()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ParseDistribution of an exhausted chain = %v", err)
	}
}

func TestDistributionEncoding(t *testing.T) {
	s, _ := newPair(t, "distribution")
	encrypt(t, s, "x")
	d := s.Distribution()
	b := d.Marshal()
	if len(b) != DistributionSize {
		t.Fatalf("%d bytes, want %d", len(b), DistributionSize)
	}
	p, err := ParseDistribution(b)
	if err != nil || *p != *d {
		t.Fatalf("ParseDistribution = %+v, %v", p, err)
	}
	bad := map[string][]byte{
		"short":           b[:len(b)-1],
		"long":            append(bytes.Clone(b), 0),
		"version":         append([]byte{2}, b[1:]...),
		"iteration max":   func() []byte { c := bytes.Clone(b); binary.BigEndian.PutUint32(c[49:], 1<<32-1); return c }(),
		"low-order key":   append(bytes.Clone(b[:85]), make([]byte, 32)...),
		"non-canonical":   append(bytes.Clone(b[:85]), bytes.Repeat([]byte{0xff}, 32)...),
		"empty":           nil,
		"identity key":    append(bytes.Clone(b[:85]), append([]byte{1}, make([]byte, 31)...)...),
		"not on curve":    append(bytes.Clone(b[:85]), append([]byte{2}, make([]byte, 31)...)...),
		"signing key y=p": append(bytes.Clone(b[:85]), append([]byte{0xed}, append(bytes.Repeat([]byte{0xff}, 30), 0x7f)...)...),
	}
	for name, in := range bad {
		if _, err := ParseDistribution(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseDistribution = %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseHeader(t *testing.T) {
	s, _ := newPair(t, "header")
	encrypt(t, s, "")
	m := encrypt(t, s, "hello")
	h, err := ParseHeader(m)
	if err != nil || h.GroupID != s.GroupID() || h.ChainID != s.ChainID() || h.Iteration != 1 {
		t.Fatalf("ParseHeader = %+v, %v", h, err)
	}
}

func TestExpireSkipped(t *testing.T) {
	s, r := newPair(t, "expire")
	m0 := encrypt(t, s, "0")
	encrypt(t, s, "1")
	decrypt(t, r, encrypt(t, s, "2"), "2")
	now := time.Unix(1_800_000_000, 0)
	if n := r.ExpireSkipped(now); n != 0 {
		t.Fatalf("expired %d at stamping", n)
	}
	if n := r.ExpireSkipped(now.Add(MaxSkippedKeyAge)); n != 0 {
		t.Fatalf("expired %d at exactly the age", n)
	}
	u, err := UnmarshalReceivingChain(r.Marshal())
	if err != nil || !bytes.Equal(u.Marshal(), r.Marshal()) {
		t.Fatalf("stamped state does not round-trip: %v", err)
	}
	if n := r.ExpireSkipped(now.Add(MaxSkippedKeyAge + time.Second)); n != 2 {
		t.Fatalf("expired %d, want 2", n)
	}
	refuse(t, r, m0, ErrOldMessage)
}

func TestDestroy(t *testing.T) {
	s, r := newPair(t, "destroy")
	encrypt(t, s, "")
	decrypt(t, r, encrypt(t, s, "x"), "x")
	s.Destroy()
	r.Destroy()
	if s.ck != ([KeySize]byte{}) || s.priv != nil || r.ck != ([KeySize]byte{}) || r.skipped != nil {
		t.Fatal("Destroy left secrets")
	}
	if _, err := s.Encrypt(nil); err == nil {
		t.Fatal("Encrypt on a destroyed chain")
	}
}

func TestStateRoundTrip(t *testing.T) {
	s, r := newPair(t, "state")
	ms := [][]byte{encrypt(t, s, "0"), encrypt(t, s, "1"), encrypt(t, s, "2")}
	decrypt(t, r, ms[2], "2")

	sb := s.Marshal()
	s2, err := UnmarshalSendingChain(sb)
	if err != nil || !bytes.Equal(s2.Marshal(), sb) {
		t.Fatalf("sending chain does not round-trip: %v", err)
	}
	if !bytes.Equal(encrypt(t, s2, "3"), encrypt(t, s, "3")) {
		t.Fatal("restored sending chain encrypts differently")
	}
	rb := r.Marshal()
	if len(rb) != receivingFixedSize+2*skippedEntrySize {
		t.Fatalf("receiving state of %d bytes", len(rb))
	}
	r2, err := UnmarshalReceivingChain(rb)
	if err != nil || !bytes.Equal(r2.Marshal(), rb) {
		t.Fatalf("receiving chain does not round-trip: %v", err)
	}
	decrypt(t, r2, ms[0], "0")
	decrypt(t, r2, ms[1], "1")
}

func TestInvalidStates(t *testing.T) {
	s, r := newPair(t, "invalid")
	encrypt(t, s, "")
	encrypt(t, s, "")
	decrypt(t, r, encrypt(t, s, "x"), "x") // iteration 3, skipped 0 and 1
	sb, rb := s.Marshal(), r.Marshal()
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
	sending := map[string][]byte{
		"empty":     nil,
		"short":     sb[:len(sb)-1],
		"long":      append(bytes.Clone(sb), 0),
		"version":   mod(sb, func(c []byte) []byte { c[0] = 2; return c }),
		"kind":      mod(sb, func(c []byte) []byte { c[1] = kindReceiving; return c }),
		"receiving": rb,
	}
	for name, b := range sending {
		if _, err := UnmarshalSendingChain(b); !errors.Is(err, ErrInvalidState) {
			t.Errorf("sending %s: %v, want ErrInvalidState", name, err)
		}
	}
	entry := receivingFixedSize // first skipped entry
	receiving := map[string][]byte{
		"empty":              nil,
		"short":              rb[:len(rb)-1],
		"long":               append(bytes.Clone(rb), 0),
		"fixed only":         rb[:receivingFixedSize],
		"version":            mod(rb, func(c []byte) []byte { c[0] = 2; return c }),
		"kind":               mod(rb, func(c []byte) []byte { c[1] = kindSending; return c }),
		"sending":            sb,
		"low-order key":      mod(rb, func(c []byte) []byte { clear(c[50:82]); return c }),
		"count too big":      mod(rb, func(c []byte) []byte { binary.BigEndian.PutUint16(c[118:], MaxSkippedKeys+1); return c }),
		"count off":          mod(rb, func(c []byte) []byte { binary.BigEndian.PutUint16(c[118:], 1); return c }),
		"duplicate skipped":  mod(rb, func(c []byte) []byte { copy(c[entry+skippedEntrySize:], c[entry:entry+4]); return c }),
		"skipped at current": mod(rb, func(c []byte) []byte { binary.BigEndian.PutUint32(c[entry:], 3); return c }),
		"skipped after":      mod(rb, func(c []byte) []byte { binary.BigEndian.PutUint32(c[entry:], 7); return c }),
	}
	for name, b := range receiving {
		if _, err := UnmarshalReceivingChain(b); !errors.Is(err, ErrInvalidState) {
			t.Errorf("receiving %s: %v, want ErrInvalidState", name, err)
		}
	}
	// Order of skipped entries is kept, not checked: a reordered list is
	// valid and re-encodes as given.
	sw := mod(rb, func(c []byte) []byte {
		a := bytes.Clone(c[entry : entry+skippedEntrySize])
		copy(c[entry:], c[entry+skippedEntrySize:entry+2*skippedEntrySize])
		copy(c[entry+skippedEntrySize:], a)
		return c
	})
	if u, err := UnmarshalReceivingChain(sw); err != nil || !bytes.Equal(u.Marshal(), sw) {
		t.Fatalf("reordered skipped keys: %v", err)
	}
}

func TestEncryptDeterministic(t *testing.T) {
	s1, _ := newPair(t, "det")
	s2, _ := newPair(t, "det")
	if !bytes.Equal(encrypt(t, s1, "x"), encrypt(t, s2, "x")) {
		t.Fatal("same chain, same plaintext, different messages")
	}
}

func TestNewSendingChainShortRandom(t *testing.T) {
	if _, err := NewSendingChain(bytes.NewReader(make([]byte, 79)), GroupID{}); err == nil {
		t.Fatal("NewSendingChain with 79 bytes of randomness")
	}
}
