package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/internal/testrand"
)

// pair is a session's two sides, built from deterministic randomness.
type pair struct {
	rand    io.Reader
	a, b    *State // initiator, responder
	ad      []byte
	init    []byte // the PQXDH initial message stand-in
	sk      [KeySize]byte
	bobPriv [KeySize]byte
}

func newPair(t testing.TB, label string) *pair {
	t.Helper()
	r := testrand.New("ratchet " + label)
	var sk, bobPriv [KeySize]byte
	r.Read(sk[:])
	r.Read(bobPriv[:])
	ad := make([]byte, 128)
	r.Read(ad)
	initial := make([]byte, 1200)
	r.Read(initial)
	bobPub, err := prim.X25519Public(bobPriv[:])
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewInitiator(r, sk, ad, bobPub, initial)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewResponder(sk, ad, bobPriv)
	if err != nil {
		t.Fatal(err)
	}
	return &pair{rand: r, a: a, b: b, ad: ad, init: initial, sk: sk, bobPriv: bobPriv}
}

func (p *pair) send(t testing.TB, from *State, pt string) []byte {
	t.Helper()
	m, err := from.Encrypt(p.rand, []byte(pt))
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return m
}

func recv(t testing.TB, to *State, m []byte, want string) {
	t.Helper()
	pt, err := to.Decrypt(m)
	if err != nil {
		t.Fatalf("Decrypt(%q): %v", want, err)
	}
	if string(pt) != want {
		t.Fatalf("Decrypt = %q, want %q", pt, want)
	}
}

// refused checks that Decrypt refuses m with err and leaves s unchanged.
func refused(t testing.TB, s *State, m []byte, want error) {
	t.Helper()
	before := s.Marshal()
	pt, err := s.Decrypt(m)
	if !errors.Is(err, want) {
		t.Fatalf("Decrypt error = %v, want %v", err, want)
	}
	if pt != nil {
		t.Fatalf("Decrypt returned plaintext with error %v", err)
	}
	if after := s.Marshal(); !bytes.Equal(before, after) {
		t.Fatalf("refused Decrypt (%v) changed the state", err)
	}
}

func TestRoundTripBothWays(t *testing.T) {
	p := newPair(t, "round trip")
	// Runs of different lengths in each direction, so both chain
	// advancement and DH ratchet steps are exercised.
	n := 0
	for round := range 40 {
		from, to := p.a, p.b
		if round%2 == 1 {
			from, to = p.b, p.a
		}
		for range round%4 + 1 {
			msg := fmt.Sprintf("message %d, round %d", n, round)
			recv(t, to, p.send(t, from, msg), msg)
			n++
		}
	}
	// Empty and large plaintexts.
	recv(t, p.b, p.send(t, p.a, ""), "")
	big := string(bytes.Repeat([]byte("x"), 1<<16))
	recv(t, p.b, p.send(t, p.a, big), big)
}

func TestEncryptBeforeFirstMessage(t *testing.T) {
	p := newPair(t, "not ready")
	before := p.b.Marshal()
	if _, err := p.b.Encrypt(p.rand, []byte("hi")); !errors.Is(err, ErrNotReady) {
		t.Fatalf("responder Encrypt before receiving: %v, want ErrNotReady", err)
	}
	if !bytes.Equal(before, p.b.Marshal()) {
		t.Fatal("refused Encrypt changed the state")
	}
}

func TestEncryptRandomnessFailure(t *testing.T) {
	p := newPair(t, "rand failure")
	recv(t, p.b, p.send(t, p.a, "hello"), "hello")
	before := p.b.Marshal()
	if _, err := p.b.Encrypt(bytes.NewReader(make([]byte, 31)), []byte("x")); err == nil {
		t.Fatal("Encrypt succeeded with 31 random bytes")
	}
	if !bytes.Equal(before, p.b.Marshal()) {
		t.Fatal("failed Encrypt changed the state")
	}
	recv(t, p.a, p.send(t, p.b, "reply"), "reply")
}

func TestSendingChainExhausted(t *testing.T) {
	p := newPair(t, "exhausted")
	p.a.ns = 1<<32 - 2
	m := p.send(t, p.a, "last")
	before := p.a.Marshal()
	if _, err := p.a.Encrypt(p.rand, []byte("one too many")); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Encrypt at Ns = 2^32-1: %v, want ErrExhausted", err)
	}
	if !bytes.Equal(before, p.a.Marshal()) {
		t.Fatal("refused Encrypt changed the state")
	}
	// The receiver would have to skip 2^32-2 keys to read it.
	refused(t, p.b, m, ErrTooManySkipped)
}

func TestForwardSecrecy(t *testing.T) {
	p := newPair(t, "forward secrecy")
	m := p.send(t, p.a, "secret")
	recv(t, p.b, m, "secret")
	// The state after decrypting holds no key that opens m again, whether
	// marshalled and restored or not.
	saved, err := Unmarshal(p.b.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	refused(t, saved, m, ErrOldMessage)
	refused(t, p.b, m, ErrOldMessage)
	// Out of order: the skipped key is used up too.
	m1 := p.send(t, p.a, "one")
	m2 := p.send(t, p.a, "two")
	recv(t, p.b, m2, "two")
	recv(t, p.b, m1, "one")
	refused(t, p.b, m1, ErrOldMessage)
	refused(t, p.b, m2, ErrOldMessage)
}

func TestPostCompromiseRecovery(t *testing.T) {
	p := newPair(t, "post compromise")
	recv(t, p.b, p.send(t, p.a, "hello"), "hello")
	recv(t, p.a, p.send(t, p.b, "hi"), "hi")
	// The attacker copies both states.
	stolenA, _ := Unmarshal(p.a.Marshal())
	stolenB, _ := Unmarshal(p.b.Marshal())
	// While no new DH output is mixed in, the copy reads on.
	m := p.send(t, p.a, "still readable")
	recv(t, stolenB, m, "still readable")
	recv(t, p.b, m, "still readable")
	// One DH round trip with fresh key pairs the attacker did not see.
	recv(t, p.a, p.send(t, p.b, "fresh"), "fresh")
	recv(t, p.b, p.send(t, p.a, "fresh too"), "fresh too")
	toB := p.send(t, p.a, "private again")
	toA := p.send(t, p.b, "private again")
	refused(t, stolenB, toB, ErrDecrypt)
	refused(t, stolenA, toA, ErrDecrypt)
	recv(t, p.b, toB, "private again")
	recv(t, p.a, toA, "private again")
}

func TestWrongADRefused(t *testing.T) {
	p := newPair(t, "wrong ad")
	ad := bytes.Clone(p.ad)
	ad[0] ^= 1
	bad, err := NewResponder(p.sk, ad, p.bobPriv)
	if err != nil {
		t.Fatal(err)
	}
	m := p.send(t, p.a, "hello")
	refused(t, bad, m, ErrDecrypt)
	recv(t, p.b, m, "hello")
	// And the other way: a reply checked under a different AD.
	reply := p.send(t, p.b, "reply")
	p.a.ad[len(p.a.ad)-1] ^= 1
	refused(t, p.a, reply, ErrDecrypt)
	p.a.ad[len(p.a.ad)-1] ^= 1
	recv(t, p.a, reply, "reply")
}

func TestInitialMessageUntilFirstReply(t *testing.T) {
	p := newPair(t, "initial attached")
	for i := range 3 {
		if !p.a.AttachesInitial() {
			t.Fatal("initiator stopped attaching before a reply")
		}
		m := p.send(t, p.a, fmt.Sprint(i))
		got, ok, err := InitialMessage(m)
		if err != nil || !ok || !bytes.Equal(got, p.init) {
			t.Fatalf("InitialMessage of message %d = %x, %v, %v", i, got, ok, err)
		}
		recv(t, p.b, m, fmt.Sprint(i))
	}
	if p.b.AttachesInitial() {
		t.Fatal("responder attaches an initial message")
	}
	reply := p.send(t, p.b, "reply")
	if _, ok, err := InitialMessage(reply); ok || err != nil {
		t.Fatalf("responder's message carries an initial message (%v, %v)", ok, err)
	}
	// A refused reply does not stop the attachment.
	bad := bytes.Clone(reply)
	bad[len(bad)-1] ^= 1
	refused(t, p.a, bad, ErrDecrypt)
	if !p.a.AttachesInitial() {
		t.Fatal("a refused reply stopped the attachment")
	}
	recv(t, p.a, reply, "reply")
	if p.a.AttachesInitial() {
		t.Fatal("initiator still attaches after a reply decrypted")
	}
	m := p.send(t, p.a, "after")
	if _, ok, err := InitialMessage(m); ok || err != nil {
		t.Fatalf("message after the reply carries an initial message (%v, %v)", ok, err)
	}
	if len(m) != HeaderSize+len("after")+prim.AEADTagSize {
		t.Fatalf("message of %d bytes", len(m))
	}
	recv(t, p.b, m, "after")
	if !bytes.Equal(p.a.AD(), p.ad) || !bytes.Equal(p.b.AD(), p.ad) {
		t.Fatal("AD() differs from the session AD")
	}
}

func TestConstructorsRefuseBadInput(t *testing.T) {
	r := testrand.New("ratchet constructors")
	var sk, pub [KeySize]byte
	pub[0] = 9 // the base point, a valid public key
	ok := []byte("ad")
	cases := []struct {
		name string
		err  error
	}{
		{"empty AD", func() error { _, err := NewInitiator(r, sk, nil, pub, []byte{1}); return err }()},
		{"long AD", func() error {
			_, err := NewInitiator(r, sk, make([]byte, MaxADSize+1), pub, []byte{1})
			return err
		}()},
		{"empty initial", func() error { _, err := NewInitiator(r, sk, ok, pub, nil); return err }()},
		{"long initial", func() error {
			_, err := NewInitiator(r, sk, ok, pub, make([]byte, MaxInitialSize+1))
			return err
		}()},
		{"low-order key", func() error { _, err := NewInitiator(r, sk, ok, [KeySize]byte{1}, []byte{1}); return err }()},
		{"short randomness", func() error {
			_, err := NewInitiator(bytes.NewReader(nil), sk, ok, pub, []byte{1})
			return err
		}()},
		{"responder empty AD", func() error { _, err := NewResponder(sk, nil, sk); return err }()},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if _, err := NewInitiator(r, sk, ok, pub, []byte{1}); err != nil {
		t.Fatalf("valid NewInitiator: %v", err)
	}
}

func TestDestroy(t *testing.T) {
	p := newPair(t, "destroy")
	recv(t, p.b, p.send(t, p.a, "x"), "x")
	p.b.Destroy()
	if !reflect.DeepEqual(*p.b, State{}) {
		t.Fatal("Destroy left fields set")
	}
	if _, err := p.b.Encrypt(p.rand, nil); err == nil {
		t.Fatal("destroyed State encrypts")
	}
	if _, err := p.b.Decrypt(p.send(t, p.a, "y")); err == nil {
		t.Fatal("destroyed State decrypts")
	}
}
