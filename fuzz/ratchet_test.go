package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/ratchet"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
)

// ratchetSeeds returns, from spec/vectors/ratchet.json, the receiving
// side's state before every decrypt event with the message it was given,
// and every state recorded.
func ratchetSeeds(f *testing.F) (receivers, messages, states [][]byte) {
	file, err := vectors.Load[vectors.RatchetCase]("ratchet.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range file.Cases {
		cur := map[string][]byte{"initiator": v.InitiatorState, "responder": v.ResponderState}
		states = append(states, v.InitiatorState, v.ResponderState)
		for _, e := range v.Events {
			// A state recorded only as its digest (state_sha256) leaves
			// the party without a seed state until its next full one.
			if e.Op == "decrypt" && cur[e.Party] != nil {
				receivers = append(receivers, cur[e.Party])
				messages = append(messages, e.Message)
			}
			cur[e.Party] = nil
			if len(e.State) != 0 {
				cur[e.Party] = e.State
				states = append(states, e.State)
			}
		}
	}
	if len(receivers) == 0 {
		f.Fatal("no decrypt events in ratchet.json")
	}
	return receivers, messages, states
}

// FuzzRatchetDecrypt decrypts arbitrary bytes into a live session: one of
// the receiving states of spec/vectors/ratchet.json, picked by which. It
// checks that nothing panics; that a refusal is one of the documented
// errors, agrees with InitialMessage about malformed input, and leaves the
// state's Marshal bytes unchanged; and that after an accepted message the
// state still marshals canonically.
func FuzzRatchetDecrypt(f *testing.F) {
	receivers, messages, _ := ratchetSeeds(f)
	for i, m := range messages {
		f.Add(uint8(i), bytes.Clone(m))
	}
	f.Fuzz(func(t *testing.T, which uint8, msg []byte) {
		st := receivers[int(which)%len(receivers)]
		s, err := ratchet.Unmarshal(st)
		if err != nil {
			t.Fatalf("recorded state refused: %v", err)
		}
		_, _, parseErr := ratchet.InitialMessage(msg)
		pt, err := s.Decrypt(msg)
		after := s.Marshal()
		if err != nil {
			switch {
			case errors.Is(err, ratchet.ErrMalformed), errors.Is(err, ratchet.ErrDecrypt),
				errors.Is(err, ratchet.ErrOldMessage), errors.Is(err, ratchet.ErrTooManySkipped):
			default:
				t.Fatalf("Decrypt error of unknown kind: %v", err)
			}
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
			if !bytes.Equal(after, st) {
				t.Fatalf("refused message (%v) changed the state", err)
			}
		}
		if errors.Is(err, ratchet.ErrMalformed) != errors.Is(parseErr, ratchet.ErrMalformed) {
			t.Fatalf("Decrypt (%v) and InitialMessage (%v) disagree about malformed input", err, parseErr)
		}
		u, uerr := ratchet.Unmarshal(after)
		if uerr != nil {
			t.Fatalf("state after Decrypt does not unmarshal: %v", uerr)
		}
		if !bytes.Equal(u.Marshal(), after) {
			t.Fatal("state after Decrypt does not round-trip")
		}
	})
}

// FuzzRatchetState unmarshals arbitrary bytes as a ratchet state
// (spec/ratchet.md §8). An accepted state must marshal to the same bytes
// (a version 0x01 state, read for compatibility, to the current version
// and then round-trip, §8.3), and must encrypt and decrypt without
// panicking; a refusal must be ErrInvalidState.
func FuzzRatchetState(f *testing.F) {
	_, messages, states := ratchetSeeds(f)
	for _, s := range states {
		f.Add(bytes.Clone(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ratchet.Unmarshal(data)
		if err != nil {
			if !errors.Is(err, ratchet.ErrInvalidState) {
				t.Fatalf("Unmarshal error of unknown kind: %v", err)
			}
			return
		}
		if enc := s.Marshal(); data[0] == 0x01 {
			u, err := ratchet.Unmarshal(enc)
			if enc[0] != ratchet.StateVersion || err != nil || !bytes.Equal(u.Marshal(), enc) {
				t.Fatalf("version 1 state re-encoded as version %d, which does not round-trip (%v)", enc[0], err)
			}
		} else if !bytes.Equal(enc, data) {
			t.Fatal("accepted state does not re-encode to the same bytes")
		}
		for _, m := range messages[:min(4, len(messages))] {
			s.Decrypt(m)
		}
		if _, err := s.Encrypt(testrand.New("fuzz ratchet state"), []byte("x")); err != nil &&
			!errors.Is(err, ratchet.ErrNotReady) && !errors.Is(err, ratchet.ErrExhausted) {
			t.Fatalf("Encrypt error of unknown kind: %v", err)
		}
		if _, err := ratchet.Unmarshal(s.Marshal()); err != nil {
			t.Fatalf("state after use does not unmarshal: %v", err)
		}
	})
}
