package senderkey

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
)

var vectorErrors = map[string]error{
	"malformed":        ErrMalformed,
	"unknown_chain":    ErrUnknownChain,
	"bad_signature":    ErrBadSignature,
	"decrypt":          ErrDecrypt,
	"old_message":      ErrOldMessage,
	"too_many_skipped": ErrTooManySkipped,
}

// TestVectors replays every case of spec/vectors/senderkey.json: the
// sending chain starts from the recorded randomness; each encrypt must
// return the recorded message with the recorded intermediates; each
// distribute the recorded distribution and receiving chain; each decrypt
// the recorded plaintext or error; after every event the acting chain's
// state must be the recorded one, and restore from it.
func TestVectors(t *testing.T) {
	file, err := vectors.Load[vectors.SenderKeyCase]("senderkey.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range file.Cases {
		t.Run(v.ID, func(t *testing.T) { testVector(t, v) })
	}
}

func testVector(t *testing.T, v vectors.SenderKeyCase) {
	rnd := bytes.NewReader(v.Random)
	s, err := NewSendingChain(rnd, GroupID(v.GroupID))
	if err != nil || rnd.Len() != 0 {
		t.Fatalf("NewSendingChain: %v, %d bytes unread", err, rnd.Len())
	}
	if pub := s.SigningKey(); !bytes.Equal(pub[:], v.SigningPublic) {
		t.Fatal("signing public key differs")
	}
	if !bytes.Equal(s.Marshal(), v.SendingState) {
		t.Fatal("sending state differs")
	}
	receivers := map[string]*ReceivingChain{}
	for i, e := range v.Events {
		var state []byte
		switch e.Op {
		case "encrypt":
			ck := s.ck
			mk, _ := kdfCK(&ck)
			key, nonce := messageCipher(&mk)
			if !bytes.Equal(ck[:], e.ChainKey) || !bytes.Equal(mk[:], e.MessageKey) || !bytes.Equal(key[:], e.AEADKey) || !bytes.Equal(nonce[:], e.AEADNonce) {
				t.Fatalf("event %d: intermediates differ", i)
			}
			m, err := s.Encrypt(e.Plaintext)
			if err != nil || !bytes.Equal(m, e.Message) {
				t.Fatalf("event %d: Encrypt = %x, %v; want %x", i, m, err, e.Message)
			}
			state = s.Marshal()
		case "advance":
			for range e.Count {
				if _, err := s.Encrypt(nil); err != nil {
					t.Fatal(err)
				}
			}
			state = s.Marshal()
		case "distribute":
			if d := s.Distribution().Marshal(); !bytes.Equal(d, e.Distribution) {
				t.Fatalf("event %d: distribution %x, want %x", i, d, e.Distribution)
			}
			d, err := ParseDistribution(e.Distribution)
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewReceivingChain(d)
			if err != nil {
				t.Fatal(err)
			}
			receivers[e.Receiver] = r
			state = r.Marshal()
		case "parse_distribution":
			_, err := ParseDistribution(e.Distribution)
			checkErr(t, i, err, e.Error)
			continue
		case "decrypt":
			r := receivers[e.Receiver]
			if r == nil {
				t.Fatalf("event %d: unknown receiver %q", i, e.Receiver)
			}
			before := r.Marshal()
			pt, err := r.Decrypt(e.Message)
			checkErr(t, i, err, e.Error)
			if err == nil && !bytes.Equal(pt, e.Plaintext) {
				t.Fatalf("event %d: Decrypt = %q, want %q", i, pt, e.Plaintext)
			}
			if err != nil && (pt != nil || len(e.Plaintext) != 0 || !bytes.Equal(r.Marshal(), before)) {
				t.Fatalf("event %d: refused, but returned a plaintext or changed the state", i)
			}
			state = r.Marshal()
		default:
			t.Fatalf("event %d: unknown op %q", i, e.Op)
		}
		if len(e.StateSHA256) != 0 {
			if h := sha256.Sum256(state); len(e.State) != 0 || !bytes.Equal(h[:], e.StateSHA256) {
				t.Fatalf("event %d: state digest differs", i)
			}
		} else if !bytes.Equal(state, e.State) {
			t.Fatalf("event %d: state %x, want %x", i, state, e.State)
		}
		// Every recorded state restores to itself.
		var enc []byte
		if state[1] == kindSending {
			u, err := UnmarshalSendingChain(state)
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			enc = u.Marshal()
		} else {
			u, err := UnmarshalReceivingChain(state)
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			enc = u.Marshal()
		}
		if !bytes.Equal(enc, state) {
			t.Fatalf("event %d: state does not round-trip", i)
		}
	}
}

func checkErr(t *testing.T, i int, err error, name string) {
	t.Helper()
	if name == "" {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		return
	}
	want, ok := vectorErrors[name]
	if !ok {
		t.Fatalf("event %d: unknown error %q", i, name)
	}
	if !errors.Is(err, want) {
		t.Fatalf("event %d: %v, want %s", i, err, name)
	}
}
