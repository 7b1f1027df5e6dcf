package ratchet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// roundTrip checks Marshal(Unmarshal(Marshal(s))) == Marshal(s) and returns
// the restored State.
func roundTrip(t *testing.T, s *State) *State {
	t.Helper()
	b := s.Marshal()
	u, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal(Marshal(s)): %v", err)
	}
	if !bytes.Equal(u.Marshal(), b) {
		t.Fatal("Marshal(Unmarshal(b)) != b")
	}
	return u
}

func TestStateRoundTrip(t *testing.T) {
	p := newPair(t, "state round trip")
	// Every reachable combination of keys, with skipped keys, and the
	// restored States carry on the session.
	a, b := roundTrip(t, p.a), roundTrip(t, p.b)
	m0 := p.send(t, a, "m0")
	m1 := p.send(t, a, "m1")
	m2 := p.send(t, a, "m2")
	recv(t, b, m2, "m2")
	b = roundTrip(t, b) // DHr and CKr only, two skipped keys
	recv(t, b, m0, "m0")
	reply := p.send(t, b, "reply")
	b = roundTrip(t, b) // all keys
	recv(t, a, reply, "reply")
	a = roundTrip(t, a)
	recv(t, b, m1, "m1")
	recv(t, b, p.send(t, a, "more"), "more")
	roundTrip(t, a)
	roundTrip(t, b)
}

func TestUnmarshalRefusesMalformed(t *testing.T) {
	p := newPair(t, "state malformed")
	m0 := p.send(t, p.a, "m0")
	m1 := p.send(t, p.a, "m1")
	recv(t, p.b, m1, "m1") // one skipped key
	_ = m0
	reply := p.send(t, p.b, "reply")
	recv(t, p.a, reply, "reply")
	valid := map[string][]byte{
		"initiator fresh": newPair(t, "state malformed fresh").a.Marshal(),
		"responder fresh": newPair(t, "state malformed fresh").b.Marshal(),
		"received":        p.a.Marshal(),
		"both":            p.b.Marshal(),
	}
	// Offsets, §8.1.
	const (
		oFlags = 1
		oDHs   = 2 + 32
		oDHr   = oDHs + 32
		oCKs   = oDHr + 32
		oCKr   = oCKs + 32
		oNs    = oCKr + 32
		oNr    = oNs + 4
		oPN    = oNr + 4
		oADLen = oPN + 4
	)
	adLen := len(p.ad)
	oInitLen := oADLen + 2 + adLen
	set := func(b []byte, f func(b []byte)) []byte { b = bytes.Clone(b); f(b); return b }
	both := valid["both"]
	oCount := oInitLen + 2
	oEntry := oCount + 2
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 0", set(both, func(b []byte) { b[0] = 0 })},
		{"version 2", set(both, func(b []byte) { b[0] = 2 })},
		{"unknown flag", set(both, func(b []byte) { b[oFlags] |= 0x20 })},
		{"trailing byte", append(bytes.Clone(both), 0)},
		{"no keys", set(both, func(b []byte) { b[oFlags] = 0 })},
		{"CKs without DHs", set(valid["received"], func(b []byte) { b[oFlags] |= stFlagCKs })},
		{"DHs and DHr without chains", set(valid["initiator fresh"], func(b []byte) { b[oFlags] = stFlagDHs | stFlagDHr; clear(b[oCKs : oCKs+32]) })},
		{"absent DHr not zero", set(valid["responder fresh"], func(b []byte) { b[oDHr] = 9 })},
		{"absent CKs not zero", set(valid["received"], func(b []byte) { b[oCKs] = 1 })},
		{"absent CKr not zero", set(valid["initiator fresh"], func(b []byte) { b[oCKr] = 1 })},
		{"absent DHs not zero", set(valid["received"], func(b []byte) { b[oDHs] = 1 })},
		{"Ns without CKs", set(valid["received"], func(b []byte) { b[oNs+3] = 1 })},
		{"Nr zero with CKr", set(both, func(b []byte) { clear(b[oNr : oNr+4]) })},
		{"Nr without CKr", set(valid["initiator fresh"], func(b []byte) { b[oNr+3] = 1 })},
		{"responder PN", set(valid["responder fresh"], func(b []byte) { b[oPN+3] = 1 })},
		{"low-order DHr", set(both, func(b []byte) { clear(b[oDHr : oDHr+32]); b[oDHr] = 1 })},
		{"AD length 0", set(both, func(b []byte) { clear(b[oADLen : oADLen+2]) })},
		{"AD length too long", set(both, func(b []byte) { binary.BigEndian.PutUint16(b[oADLen:], MaxADSize+1) })},
		{"initial attached without flag", set(valid["initiator fresh"], func(b []byte) { b[oFlags] &^= stFlagInitial })},
		{"initial flag on responder", set(valid["responder fresh"], func(b []byte) { b[oFlags] |= stFlagInitial })},
		{"initial flag after reply", set(both, func(b []byte) { b[oFlags] |= stFlagInitial })},
		{"skipped count too high", set(both, func(b []byte) { binary.BigEndian.PutUint16(b[oCount:], MaxSkippedKeys+1) })},
		{"skipped count short", set(both, func(b []byte) { binary.BigEndian.PutUint16(b[oCount:], 0) })},
		{"skipped count long", set(both, func(b []byte) { binary.BigEndian.PutUint16(b[oCount:], 2) })},
		{"skipped N = 2^32-1", set(both, func(b []byte) { binary.BigEndian.PutUint32(b[oEntry+32:], 1<<32-1) })},
		{"skipped key at Nr", set(both, func(b []byte) { binary.BigEndian.PutUint32(b[oEntry+32:], 2) })},
		{"skipped low-order key", set(both, func(b []byte) { clear(b[oEntry : oEntry+32]) })},
		{"duplicate skipped key", func() []byte {
			b := bytes.Clone(both)
			binary.BigEndian.PutUint16(b[oCount:], 2)
			return append(b, b[oEntry:oEntry+skippedKeyLen]...)
		}()},
	}
	for name, b := range valid {
		if _, err := Unmarshal(b); err != nil {
			t.Fatalf("valid %s refused: %v", name, err)
		}
		for n := range len(b) {
			if _, err := Unmarshal(b[:n]); !errors.Is(err, ErrInvalidState) {
				t.Fatalf("%s truncated to %d bytes: %v", name, n, err)
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Unmarshal(c.b)
			if !errors.Is(err, ErrInvalidState) || s != nil {
				t.Fatalf("Unmarshal = %v, %v; want ErrInvalidState", s, err)
			}
		})
	}
}

func TestUnmarshalFullStore(t *testing.T) {
	p := newPair(t, "state full store")
	for c := range 3 {
		for i := range MaxSkipPerChain {
			m := p.send(t, p.a, fmt.Sprint(i))
			if i == MaxSkipPerChain-1 {
				recv(t, p.b, m, fmt.Sprint(i))
			}
		}
		recv(t, p.a, p.send(t, p.b, fmt.Sprint(c)), fmt.Sprint(c))
	}
	if len(p.b.skipped) != MaxSkippedKeys {
		t.Fatalf("%d skipped keys", len(p.b.skipped))
	}
	roundTrip(t, p.b)
}
