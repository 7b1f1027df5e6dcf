package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/senderkey"
	"github.com/sealpost/sealpost/internal/vectors"
)

// senderKeySeeds returns, from spec/vectors/senderkey.json, the receiving
// chain's state before every decrypt event with the message it was given,
// every state recorded, and every distribution.
func senderKeySeeds(f *testing.F) (receivers, messages, states, dists [][]byte) {
	file, err := vectors.Load[vectors.SenderKeyCase]("senderkey.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range file.Cases {
		cur := map[string][]byte{}
		states = append(states, v.SendingState)
		for _, e := range v.Events {
			if len(e.Distribution) != 0 {
				dists = append(dists, e.Distribution)
			}
			if e.Op == "decrypt" && cur[e.Receiver] != nil {
				receivers = append(receivers, cur[e.Receiver])
				messages = append(messages, e.Message)
			}
			if e.Op == "distribute" || e.Op == "decrypt" {
				// A state recorded only as its digest leaves the
				// receiver without a seed state until its next full one.
				cur[e.Receiver] = nil
				if len(e.State) != 0 {
					cur[e.Receiver] = e.State
				}
			}
			if len(e.State) != 0 {
				states = append(states, e.State)
			}
		}
	}
	if len(receivers) == 0 || len(dists) == 0 {
		f.Fatal("no decrypt or distribution events in senderkey.json")
	}
	return receivers, messages, states, dists
}

// FuzzSenderKeyMessage decrypts arbitrary bytes as a group message with one
// of the receiving chains of spec/vectors/senderkey.json, picked by which
// (spec/senderkey.md §6). It checks that nothing panics; that a refusal is
// one of the documented errors, agrees with ParseHeader about malformed
// input, returns no plaintext and leaves the chain's Marshal bytes
// unchanged; and that the chain still marshals canonically afterwards.
func FuzzSenderKeyMessage(f *testing.F) {
	receivers, messages, _, _ := senderKeySeeds(f)
	for i, m := range messages {
		f.Add(uint8(i), bytes.Clone(m))
	}
	f.Fuzz(func(t *testing.T, which uint8, msg []byte) {
		st := receivers[int(which)%len(receivers)]
		r, err := senderkey.UnmarshalReceivingChain(st)
		if err != nil {
			t.Fatalf("recorded state refused: %v", err)
		}
		_, parseErr := senderkey.ParseHeader(msg)
		pt, err := r.Decrypt(msg)
		after := r.Marshal()
		if err != nil {
			switch {
			case errors.Is(err, senderkey.ErrMalformed), errors.Is(err, senderkey.ErrUnknownChain),
				errors.Is(err, senderkey.ErrBadSignature), errors.Is(err, senderkey.ErrDecrypt),
				errors.Is(err, senderkey.ErrOldMessage), errors.Is(err, senderkey.ErrTooManySkipped):
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
		if errors.Is(err, senderkey.ErrMalformed) != (parseErr != nil) {
			t.Fatalf("Decrypt (%v) and ParseHeader (%v) disagree about malformed input", err, parseErr)
		}
		u, uerr := senderkey.UnmarshalReceivingChain(after)
		if uerr != nil || !bytes.Equal(u.Marshal(), after) {
			t.Fatalf("state after Decrypt does not round-trip (%v)", uerr)
		}
	})
}

// FuzzSenderKeyState unmarshals arbitrary bytes as a sending and as a
// receiving chain (spec/senderkey.md §7). An accepted state must re-encode
// to the same bytes and still work: a sending chain encrypts a message that
// a receiving chain made from its distribution decrypts; a receiving chain
// decrypts the recorded messages without panicking and stays canonical. A
// refusal must be ErrInvalidState.
func FuzzSenderKeyState(f *testing.F) {
	_, messages, states, _ := senderKeySeeds(f)
	for _, s := range states {
		f.Add(bytes.Clone(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := senderkey.UnmarshalSendingChain(data); err != nil {
			if !errors.Is(err, senderkey.ErrInvalidState) {
				t.Fatalf("UnmarshalSendingChain error of unknown kind: %v", err)
			}
		} else {
			if !bytes.Equal(s.Marshal(), data) {
				t.Fatal("accepted sending chain does not re-encode to the same bytes")
			}
			d := s.Distribution()
			m, err := s.Encrypt([]byte("x"))
			if errors.Is(err, senderkey.ErrExhausted) {
				return
			}
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			r, err := senderkey.NewReceivingChain(d)
			if err != nil {
				t.Fatalf("NewReceivingChain of a working chain's distribution: %v", err)
			}
			if pt, err := r.Decrypt(m); err != nil || string(pt) != "x" {
				t.Fatalf("round trip through a restored sending chain: %q, %v", pt, err)
			}
		}
		r, err := senderkey.UnmarshalReceivingChain(data)
		if err != nil {
			if !errors.Is(err, senderkey.ErrInvalidState) {
				t.Fatalf("UnmarshalReceivingChain error of unknown kind: %v", err)
			}
			return
		}
		if !bytes.Equal(r.Marshal(), data) {
			t.Fatal("accepted receiving chain does not re-encode to the same bytes")
		}
		for _, m := range messages[:min(8, len(messages))] {
			r.Decrypt(m)
		}
		if _, err := senderkey.UnmarshalReceivingChain(r.Marshal()); err != nil {
			t.Fatalf("state after use does not unmarshal: %v", err)
		}
	})
}

// FuzzSenderKeyDistribution parses arbitrary bytes as a distribution
// (spec/senderkey.md §5). An accepted one re-encodes to the same bytes and
// makes a receiving chain; a refusal is ErrMalformed.
func FuzzSenderKeyDistribution(f *testing.F) {
	_, _, _, dists := senderKeySeeds(f)
	for _, d := range dists {
		f.Add(bytes.Clone(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := senderkey.ParseDistribution(data)
		if err != nil {
			if !errors.Is(err, senderkey.ErrMalformed) {
				t.Fatalf("ParseDistribution error of unknown kind: %v", err)
			}
			return
		}
		if !bytes.Equal(d.Marshal(), data) {
			t.Fatal("accepted distribution does not re-encode to the same bytes")
		}
		if _, err := senderkey.NewReceivingChain(d); err != nil {
			t.Fatalf("NewReceivingChain of a parsed distribution: %v", err)
		}
	})
}
