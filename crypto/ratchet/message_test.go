package ratchet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// refusedAny checks that Decrypt refuses m with one of the package's
// errors and leaves s unchanged.
func refusedAny(t *testing.T, s *State, m []byte, what string) {
	t.Helper()
	before := s.Marshal()
	pt, err := s.Decrypt(m)
	if err == nil {
		t.Fatalf("%s: accepted", what)
	}
	if pt != nil {
		t.Fatalf("%s: plaintext returned with error", what)
	}
	if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrDecrypt) &&
		!errors.Is(err, ErrOldMessage) && !errors.Is(err, ErrTooManySkipped) {
		t.Fatalf("%s: unexpected error %v", what, err)
	}
	if !bytes.Equal(before, s.Marshal()) {
		t.Fatalf("%s: refused Decrypt changed the state", what)
	}
}

// flipEveryBit checks that every single-bit change of m is refused by s
// without changing it, then that m itself still decrypts.
func flipEveryBit(t *testing.T, s *State, m []byte, want string) {
	t.Helper()
	for i := range len(m) * 8 {
		bad := bytes.Clone(m)
		bad[i/8] ^= 1 << (i % 8)
		refusedAny(t, s, bad, "bit flip")
	}
	recv(t, s, m, want)
}

func TestBitFlipsRefused(t *testing.T) {
	p := newPair(t, "bit flips")
	// A first message, carrying the initial message, to a fresh responder.
	flipEveryBit(t, p.b, p.send(t, p.a, "first"), "first")
	// A message on the current chain.
	flipEveryBit(t, p.b, p.send(t, p.a, "second"), "second")
	// A reply starting a new chain, to the initiator.
	flipEveryBit(t, p.a, p.send(t, p.b, "reply"), "reply")
	// A message found in the skipped key store.
	skippedMsg := p.send(t, p.b, "skipped")
	recv(t, p.a, p.send(t, p.b, "later"), "later")
	flipEveryBit(t, p.a, skippedMsg, "skipped")
}

func TestLengthChangesRefused(t *testing.T) {
	p := newPair(t, "lengths")
	m := p.send(t, p.a, "hello")
	for n := range len(m) {
		refusedAny(t, p.b, m[:n], "truncated")
	}
	refusedAny(t, p.b, append(bytes.Clone(m), 0), "extended")
	recv(t, p.b, m, "hello")
}

func TestMalformedMessages(t *testing.T) {
	p := newPair(t, "malformed")
	first := p.send(t, p.a, "first")
	recv(t, p.b, first, "first")
	recv(t, p.a, p.send(t, p.b, "reply"), "reply")
	plain := p.send(t, p.a, "plain") // no initial message
	if plain[1] != 0 {
		t.Fatal("initial message still attached")
	}
	off := 2 + 2 + len(p.init) // ratchet key offset in first

	edit := func(m []byte, f func(b []byte) []byte) []byte { return f(bytes.Clone(m)) }
	cases := []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"short", plain[:MinMessageSize-1]},
		{"version 0", edit(plain, func(b []byte) []byte { b[0] = 0; return b })},
		{"version 2", edit(plain, func(b []byte) []byte { b[0] = 2; return b })},
		{"unknown flag 0x02", edit(plain, func(b []byte) []byte { b[1] = 0x02; return b })},
		{"unknown flag 0x80", edit(first, func(b []byte) []byte { b[1] |= 0x80; return b })},
		{"initial length 0", edit(first, func(b []byte) []byte { b[2], b[3] = 0, 0; return b })},
		{"initial length too big", edit(first, func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[2:], MaxInitialSize+1)
			return b
		})},
		{"initial length past end", edit(first, func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[2:], uint16(len(b)-4-HeaderSize+2-15))
			return b
		})},
		{"flag without initial", edit(plain, func(b []byte) []byte { b[1] = flagInitial; return b })},
		{"non-canonical ratchet key", edit(plain, func(b []byte) []byte {
			copy(b[2:], bytes.Repeat([]byte{0xff}, 32))
			b[2], b[33] = 0xee, 0x7f
			return b
		})},
		{"ratchet key bit 255", edit(plain, func(b []byte) []byte { b[33] |= 0x80; return b })},
		{"low-order ratchet key", edit(plain, func(b []byte) []byte { clear(b[2:34]); b[2] = 1; return b })},
		{"low-order ratchet key with initial", edit(first, func(b []byte) []byte { clear(b[off : off+32]); return b })},
		{"N = 2^32-1", edit(plain, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[38:], 1<<32-1)
			return b
		})},
		{"ciphertext shorter than tag", plain[:HeaderSize+15]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			refused(t, p.b, c.msg, ErrMalformed)
			if _, _, err := InitialMessage(c.msg); !errors.Is(err, ErrMalformed) {
				t.Fatalf("InitialMessage: %v, want ErrMalformed", err)
			}
		})
	}
	recv(t, p.b, plain, "plain")
}

func TestInitialMessageCopies(t *testing.T) {
	p := newPair(t, "initial copy")
	m := p.send(t, p.a, "x")
	got, ok, err := InitialMessage(m)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	got[0] ^= 1
	recv(t, p.b, m, "x")
}
