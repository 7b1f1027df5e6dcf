package ratchet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"
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
		{"version 3", set(both, func(b []byte) { b[0] = 3 })},
		{"version 1 with version 2 entries", set(both, func(b []byte) { b[0] = 1 })},
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

// toV1 rewrites a version 2 encoding as version 0x01: the same fields,
// skipped entries without their stored time (spec/ratchet.md §8.3).
func toV1(t *testing.T, b []byte) []byte {
	t.Helper()
	adLen := int(binary.BigEndian.Uint16(b[stFixedSize:]))
	oInit := stFixedSize + 2 + adLen
	oCount := oInit + 2 + int(binary.BigEndian.Uint16(b[oInit:]))
	count := int(binary.BigEndian.Uint16(b[oCount:]))
	out := append([]byte(nil), b[:oCount+2]...)
	out[0] = stateVersion1
	for i := range count {
		e := b[oCount+2+i*skippedKeyLen:]
		out = append(out, e[:skippedKeyLenV1]...)
	}
	if len(b) != oCount+2+count*skippedKeyLen {
		t.Fatalf("state of %d bytes with %d entries", len(b), count)
	}
	return out
}

// TestUnmarshalVersion1: a state stored before skipped keys carried a time
// is read, its skipped keys unstamped, and re-encoded as version 2; it
// goes on decrypting.
func TestUnmarshalVersion1(t *testing.T) {
	p := newPair(t, "state v1")
	m0 := p.send(t, p.a, "m0")
	recv(t, p.b, p.send(t, p.a, "m1"), "m1")
	p.b.ExpireSkipped(time.Unix(1_900_000_000, 0)) // stamp the one skipped key
	v2 := p.b.Marshal()
	v1 := toV1(t, v2)
	s, err := Unmarshal(v1)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.skipped) != 1 || s.skipped[0].stored != 0 {
		t.Fatalf("version 1 skipped keys: %+v", s.skipped)
	}
	if got := s.Marshal(); got[0] != StateVersion || len(got) != len(v2) {
		t.Fatalf("re-encoded as version %d, %d bytes; want version %d, %d bytes", got[0], len(got), StateVersion, len(v2))
	}
	recv(t, s, m0, "m0")
}

// TestExpireSkipped: skipped keys are stamped when ExpireSkipped first
// sees them and discarded, oldest first, once older than
// MaxSkippedKeyAge; the message whose key went is then refused, and the
// rest of the session goes on.
func TestExpireSkipped(t *testing.T) {
	p := newPair(t, "expire skipped")
	t0 := time.Unix(1_900_000_000, 0)
	var old []([]byte)
	for i := range 3 {
		old = append(old, p.send(t, p.a, fmt.Sprint("old ", i)))
	}
	recv(t, p.b, p.send(t, p.a, "skips three"), "skips three")
	if n := p.b.ExpireSkipped(t0); n != 0 || len(p.b.skipped) != 3 {
		t.Fatalf("first pass discarded %d, kept %d", n, len(p.b.skipped))
	}
	// Ten days later, two more are skipped.
	var newer [][]byte
	for i := range 2 {
		newer = append(newer, p.send(t, p.a, fmt.Sprint("newer ", i)))
	}
	recv(t, p.b, p.send(t, p.a, "skips two"), "skips two")
	if n := p.b.ExpireSkipped(t0.Add(10 * 24 * time.Hour)); n != 0 || len(p.b.skipped) != 5 {
		t.Fatalf("second pass discarded %d, kept %d", n, len(p.b.skipped))
	}
	// Exactly MaxSkippedKeyAge after the first stamp nothing goes; a
	// second later the three oldest do.
	if n := p.b.ExpireSkipped(t0.Add(MaxSkippedKeyAge)); n != 0 {
		t.Fatalf("at the bound: discarded %d", n)
	}
	before := p.b.Marshal()
	if n := p.b.ExpireSkipped(t0.Add(MaxSkippedKeyAge + time.Second)); n != 3 || len(p.b.skipped) != 2 {
		t.Fatalf("past the bound: discarded %d, kept %d", n, len(p.b.skipped))
	}
	if bytes.Equal(before, p.b.Marshal()) {
		t.Fatal("expiry did not change the state")
	}
	roundTrip(t, p.b)
	for _, m := range old {
		after := p.b.Marshal()
		if _, err := p.b.Decrypt(m); !errors.Is(err, ErrOldMessage) {
			t.Fatalf("message whose key expired: %v, want ErrOldMessage", err)
		}
		if !bytes.Equal(after, p.b.Marshal()) {
			t.Fatal("refused message changed the state")
		}
	}
	for i, m := range newer {
		recv(t, p.b, m, fmt.Sprint("newer ", i))
	}
	if n := p.b.ExpireSkipped(t0.Add(365 * 24 * time.Hour)); n != 0 || len(p.b.skipped) != 0 {
		t.Fatalf("empty store: discarded %d, kept %d", n, len(p.b.skipped))
	}
	recv(t, p.a, p.send(t, p.b, "still talking"), "still talking")
}
