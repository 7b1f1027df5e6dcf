package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/internal/vectors"
)

var vectorErrors = map[string]error{
	"malformed":        ErrMalformed,
	"decrypt":          ErrDecrypt,
	"old_message":      ErrOldMessage,
	"too_many_skipped": ErrTooManySkipped,
}

// TestVectors replays every case of spec/vectors/ratchet.json: both sides
// start from the recorded inputs; each encrypt, given the recorded
// randomness, must return the recorded message with the recorded
// intermediate keys; each decrypt must return the recorded plaintext or
// error; after every event the acting side's state must equal the recorded
// one, and restore from it.
func TestVectors(t *testing.T) {
	file, err := vectors.Load[vectors.RatchetCase]("ratchet.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range file.Cases {
		t.Run(v.ID, func(t *testing.T) { testVector(t, v) })
	}
}

func testVector(t *testing.T, v vectors.RatchetCase) {
	bob, err := ecdh.X25519().NewPrivateKey(v.ResponderRatchetPrivate)
	if err != nil || !bytes.Equal(bob.PublicKey().Bytes(), v.ResponderRatchetPublic) {
		t.Fatalf("responder ratchet public key does not match its private key (%v)", err)
	}
	rnd := bytes.NewReader(v.InitiatorRandom)
	a, err := NewInitiator(rnd, [KeySize]byte(v.SharedSecret), v.AD, [KeySize]byte(v.ResponderRatchetPublic), v.Initial)
	if err != nil {
		t.Fatal(err)
	}
	if rnd.Len() != 0 {
		t.Fatal("NewInitiator did not read all of initiator_random")
	}
	b, err := NewResponder([KeySize]byte(v.SharedSecret), v.AD, [KeySize]byte(v.ResponderRatchetPrivate))
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, "initiator", a, v.InitiatorState)
	checkState(t, "responder", b, v.ResponderState)

	for i, e := range v.Events {
		s := map[string]*State{"initiator": a, "responder": b}[e.Party]
		if s == nil {
			t.Fatalf("event %d: unknown party %q", i, e.Party)
		}
		before := s.Marshal()
		switch e.Op {
		case "encrypt":
			checkIntermediates(t, i, s, e)
			rnd := bytes.NewReader(e.Random)
			m, err := s.Encrypt(rnd, e.Plaintext)
			if err != nil {
				t.Fatalf("event %d: Encrypt: %v", i, err)
			}
			if rnd.Len() != 0 {
				t.Fatalf("event %d: Encrypt did not read all of random", i)
			}
			if !bytes.Equal(m, e.Message) {
				t.Fatalf("event %d: Encrypt = %x, want %x", i, m, e.Message)
			}
		case "decrypt":
			pt, err := s.Decrypt(e.Message)
			if e.Error == "" {
				if err != nil {
					t.Fatalf("event %d: Decrypt: %v", i, err)
				}
				if !bytes.Equal(pt, e.Plaintext) {
					t.Fatalf("event %d: Decrypt = %q, want %q", i, pt, e.Plaintext)
				}
			} else {
				want, ok := vectorErrors[e.Error]
				if !ok {
					t.Fatalf("event %d: unknown error %q", i, e.Error)
				}
				if !errors.Is(err, want) || pt != nil || len(e.Plaintext) != 0 {
					t.Fatalf("event %d: Decrypt = %q, %v; want %v", i, pt, err, want)
				}
			}
		case "advance":
			if e.Count == 0 || len(e.Message) != 0 || len(e.Plaintext) != 0 || len(e.Random) != 0 || e.Error != "" {
				t.Fatalf("event %d: advance with fields other than count and state", i)
			}
			if !s.hasCKs {
				t.Fatalf("event %d: advance on a chain that has not started", i)
			}
			for range e.Count {
				if _, err := s.Encrypt(bytes.NewReader(nil), nil); err != nil {
					t.Fatalf("event %d: Encrypt: %v", i, err)
				}
			}
		default:
			t.Fatalf("event %d: unknown op %q", i, e.Op)
		}
		if e.Op != "advance" && e.Count != 0 {
			t.Fatalf("event %d: count on a %s event", i, e.Op)
		}
		if e.Error != "" {
			// A refusal leaves the state byte for byte as it was.
			if !bytes.Equal(s.Marshal(), before) {
				t.Fatalf("event %d: refused, but the state changed", i)
			}
		}
		if len(e.StateSHA256) != 0 {
			if len(e.State) != 0 {
				t.Fatalf("event %d: both state and state_sha256", i)
			}
			checkStateDigest(t, e.Party, s, e.StateSHA256)
			continue
		}
		checkState(t, e.Party, s, e.State)
	}
}

// checkState checks that s marshals to want and that want unmarshals to a
// State that marshals to want again.
func checkState(t *testing.T, who string, s *State, want []byte) {
	t.Helper()
	if got := s.Marshal(); !bytes.Equal(got, want) {
		t.Fatalf("%s state = %x, want %x", who, got, want)
	}
	u, err := Unmarshal(want)
	if err != nil {
		t.Fatalf("%s state: Unmarshal: %v", who, err)
	}
	if !bytes.Equal(u.Marshal(), want) {
		t.Fatalf("%s state does not round-trip", who)
	}
}

// checkStateDigest checks that s marshals to bytes whose SHA-256 is want,
// and that they unmarshal and marshal again unchanged.
func checkStateDigest(t *testing.T, who string, s *State, want []byte) {
	t.Helper()
	got := s.Marshal()
	if d := sha256.Sum256(got); !bytes.Equal(d[:], want) {
		t.Fatalf("%s state SHA-256 = %x, want %x", who, d, want)
	}
	if len(got) <= 4096 {
		t.Fatalf("%s state of %d bytes given as a digest", who, len(got))
	}
	u, err := Unmarshal(got)
	if err != nil || !bytes.Equal(u.Marshal(), got) {
		t.Fatalf("%s state does not round-trip (%v)", who, err)
	}
}

// checkIntermediates derives the keys of the next message of s with the
// package's KDFs (spec/ratchet.md §3) and compares them with the event's.
func checkIntermediates(t *testing.T, i int, s *State, e vectors.RatchetEvent) {
	t.Helper()
	ck := s.cks
	if !s.hasCKs {
		dh, err := prim.DH(e.Random, s.dhr[:])
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !bytes.Equal(dh, e.DH) {
			t.Fatalf("event %d: DH output differs", i)
		}
		_, ck = kdfRK(&s.rk, dh)
	} else if len(e.DH) != 0 || len(e.Random) != 0 {
		t.Fatalf("event %d: DH output or randomness recorded for a continuing chain", i)
	}
	if !bytes.Equal(ck[:], e.ChainKey) {
		t.Fatalf("event %d: chain key differs", i)
	}
	mk, _ := kdfCK(&ck)
	if !bytes.Equal(mk[:], e.MessageKey) {
		t.Fatalf("event %d: message key differs", i)
	}
	key, nonce := messageCipher(&mk)
	if !bytes.Equal(key[:], e.AEADKey) || !bytes.Equal(nonce[:], e.AEADNonce) {
		t.Fatalf("event %d: AEAD key or nonce differs", i)
	}
}
