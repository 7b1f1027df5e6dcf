package client

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/ratchet"
)

func TestPayloadRoundTrip(t *testing.T) {
	p := payload{kind: kindSentCopy, id: MessageID{1, 2, 3}, sent: time.UnixMilli(1_795_000_000_123).UTC(), to: "bob.b-c_d", body: []byte("hi")}
	got, err := parsePayload(p.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.kind != p.kind || got.id != p.id || !got.sent.Equal(p.sent) || got.to != p.to || !bytes.Equal(got.body, p.body) {
		t.Fatalf("round trip: %+v, want %+v", got, p)
	}
	// spec/client.md §2: the exact layout.
	want := append([]byte{0x01, 0x02, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x01, 0xa1, 0xee, 0x56, 0x5e, 0x7b, 9}, "bob.b-c_dhi"...)
	if b := p.marshal(); !bytes.Equal(b, want) {
		t.Fatalf("encoding\n got %x\nwant %x", b, want)
	}
}

func TestPayloadRefused(t *testing.T) {
	good := (&payload{kind: kindMessage, sent: time.UnixMilli(1), to: "bob", body: []byte("x")}).marshal()
	for name, b := range map[string][]byte{
		"empty":        nil,
		"short header": good[:26],
		"version":      append([]byte{0x02}, good[1:]...),
		"kind 0":       append([]byte{0x01, 0x00}, good[2:]...),
		"kind 3":       append([]byte{0x01, 0x03}, good[2:]...),
		"negative time": func() []byte {
			b := bytes.Clone(good)
			b[18] = 0x80
			return b
		}(),
		"to past end": func() []byte {
			b := bytes.Clone(good[:30])
			b[26] = 4
			return b
		}(),
		"invalid handle": func() []byte {
			b := bytes.Clone(good)
			b[27] = 'B'
			return b
		}(),
		"empty handle": func() []byte {
			b := bytes.Clone(good[:27])
			b[26] = 0
			return b
		}(),
	} {
		if _, err := parsePayload(b); !errors.Is(err, errBadPayload) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add((&payload{kind: kindMessage, sent: time.UnixMilli(5), to: "alice", body: []byte("hello")}).marshal())
	f.Add((&payload{kind: kindSentCopy, to: "bob"}).marshal())
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePayload(b)
		if err != nil {
			return
		}
		if got := p.marshal(); !bytes.Equal(got, b) {
			t.Fatalf("marshal(parse(x)) != x\n x %x\ngot %x", b, got)
		}
	})
}

// newTestStates returns a pair of ratchet states that talk to each other.
func newTestStates(t testing.TB) (*ratchet.State, *ratchet.State) {
	var sk [32]byte
	rand.Read(sk[:])
	var priv [32]byte
	rand.Read(priv[:])
	bob, err := ratchet.NewResponder(sk, []byte("ad"), priv)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x25519Public(priv)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := ratchet.NewInitiator(rand.Reader, sk, []byte("ad"), pub, []byte("initial"))
	if err != nil {
		t.Fatal(err)
	}
	return alice, bob
}

// TestSessionRecordCrossed: two sessions started at once from both sides
// still decrypt everything, and the record converges (spec/client.md §4.2).
func TestSessionRecordCrossed(t *testing.T) {
	a1, b1 := newTestStates(t) // alice's session to bob
	b2, a2 := newTestStates(t) // bob's session to alice, started at once
	// Alice's record: her initiator state a1, then the responder a2 from
	// bob's first message; bob's record likewise.
	alice := &sessionRecord{states: []*ratchet.State{a1}}
	bob := &sessionRecord{states: []*ratchet.State{b2}}
	m1, _ := a1.Encrypt(rand.Reader, []byte("a→b 1"))
	m2, _ := b2.Encrypt(rand.Reader, []byte("b→a 1"))
	if _, err := bob.decrypt(m1); err == nil {
		t.Fatal("bob's own initiator state decrypted alice's first message")
	}
	bob.push(b1)
	if pt, err := bob.decrypt(m1); err != nil || string(pt) != "a→b 1" {
		t.Fatal(pt, err)
	}
	alice.push(a2)
	if pt, err := alice.decrypt(m2); err != nil || string(pt) != "b→a 1" {
		t.Fatal(pt, err)
	}
	// Both encrypt with their current (responder) states; the other side
	// decrypts with its archived initiator state, which becomes current.
	m3, err := alice.states[0].Encrypt(rand.Reader, []byte("a→b 2"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := bob.decrypt(m3); err != nil || string(pt) != "a→b 2" {
		t.Fatal(pt, err)
	}
	if bob.states[0] != b2 {
		t.Fatal("the state that decrypted did not become current")
	}
	// Marshal and parse keep the order.
	got, err := parseSessionRecord(bob.marshal())
	if err != nil || len(got.states) != 2 || !bytes.Equal(got.states[0].Marshal(), b2.Marshal()) {
		t.Fatalf("record round trip: %v", err)
	}
	// A message nothing decrypts changes nothing.
	before := bob.marshal()
	if _, err := bob.decrypt(append(bytes.Clone(m3), 0)); err == nil {
		t.Fatal("tampered message decrypted")
	}
	if !bytes.Equal(before, bob.marshal()) {
		t.Fatal("failed decrypt changed the record")
	}
}

func TestSessionRecordArchiveBounded(t *testing.T) {
	r := &sessionRecord{}
	for range 6 {
		s, _ := newTestStates(t)
		r.push(s)
	}
	if len(r.states) != 1+maxArchived {
		t.Fatalf("%d states kept, want %d", len(r.states), 1+maxArchived)
	}
}

// recordAllCurrent reports whether b, a record that parses, is in the
// current record version with every state in the current state version:
// the inputs that marshal must reproduce byte for byte. A version 2
// record may hold version 1 states (written before the state version
// bump), which are read and written anew as version 2.
func recordAllCurrent(b []byte) bool {
	if b[0] != sessionRecordVersion {
		return false
	}
	n := int(b[1])
	b = b[2:]
	for range n {
		l := binary.BigEndian.Uint32(b[8:])
		if b[12] != ratchet.StateVersion {
			return false
		}
		b = b[12+l:]
	}
	return true
}

func FuzzSessionRecord(f *testing.F) {
	a, b := newTestStates(f)
	f.Add((&sessionRecord{states: []*ratchet.State{a}}).marshal())
	f.Add((&sessionRecord{states: []*ratchet.State{a, b}}).marshal())
	f.Add([]byte{1, 0})
	f.Add(recordV1([]*ratchet.State{a, b}))
	// A version 2 record holding a version 1 state without skipped
	// keys: same length when rewritten, one byte different.
	mixed := (&sessionRecord{states: []*ratchet.State{a}}).marshal()
	mixed[2+8+4] = 0x01
	f.Add(mixed)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseSessionRecord(data)
		if err != nil {
			return
		}
		// Version 1 records and states are read and written anew in
		// the current versions, so the encoding is a fixed point after
		// one round, and equal to the input for current versions.
		got := r.marshal()
		r2, err := parseSessionRecord(got)
		if err != nil || !bytes.Equal(r2.marshal(), got) {
			t.Fatalf("marshal(parse(marshal(parse(x)))) != marshal(parse(x)): %v", err)
		}
		if recordAllCurrent(data) && !bytes.Equal(got, data) {
			t.Fatalf("marshal(parse(x)) != x")
		}
	})
}

// TestRelaySendID pins spec/client.md §3.3's derivation.
func TestRelaySendID(t *testing.T) {
	msg := MessageID{0: 0xaa, 15: 0xbb}
	in := append([]byte("sealpost/v1/relay-send\x00"), msg[:]...)
	in = append(in, 3, 'b', 'o', 'b', 0, 0, 0, 7)
	want := sha256.Sum256(in)
	if got := relaySendID(msg, "bob", 7); !bytes.Equal(got[:], want[:16]) {
		t.Fatalf("relay send id %x, want %x", got, want[:16])
	}
	if relaySendID(msg, "bob", 7) == relaySendID(msg, "bob", 8) || relaySendID(msg, "bob", 7) == relaySendID(msg, "bo", 7) {
		t.Fatal("relay send ids collide")
	}
}
