package link

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// sealRaw seals plaintext pt as record seq with c's sending key, skipping
// Seal's checks: what a faulty or hostile peer holding the keys could send.
func sealRaw(c *Channel, seq uint64, pt []byte) []byte {
	out := make([]byte, recordHeaderSize)
	out[0] = typeRecord
	binary.BigEndian.PutUint64(out[1:], seq)
	return prim.AEADSeal(out, c.sendKey[:], nonce(seq), pt, ad(c.th, c.sendDir, typeRecord))
}

func TestChannelBothWays(t *testing.T) {
	x := handshake(t, "channel")
	aik, cert := testCert(t, x.dev.Public())
	snapshot := bytes.Repeat([]byte("snapshot "), 20000) // 180000 bytes: 3 chunks
	chunks, size, sum, err := SplitSnapshot(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 3 || len(chunks[0].Data) != MaxChunk || len(chunks[2].Data) != len(snapshot)-2*MaxChunk {
		t.Fatalf("%d chunks", len(chunks))
	}
	acct := &Account{Certificate: cert, AccountSeed: aik.Seed(), SnapshotSize: size, SnapshotHash: sum}
	sent := []Record{acct}
	for _, c := range chunks {
		sent = append(sent, c)
	}
	sent = append(sent, &Abort{Reason: AbortTimeout, Text: "gave up"})
	var asm *SnapshotAssembler
	for i, rec := range sent {
		b, err := x.ech.Seal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if seq := binary.BigEndian.Uint64(b[1:9]); seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, seq)
		}
		got, err := x.nch.Open(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Fatalf("record %d: got %#v, want %#v", i, got, rec)
		}
		switch r := got.(type) {
		case *Account:
			asm = NewSnapshotAssembler(r)
		case *SnapshotChunk:
			if err := asm.Add(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := asm.Snapshot()
	if err != nil || !bytes.Equal(got, snapshot) {
		t.Fatalf("snapshot: %v", err)
	}
	// N → E.
	for i, rec := range []Record{&Linked{Device: 7}, &Abort{Reason: AbortRegister}} {
		b, err := x.nch.Seal(rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := x.ech.Open(b)
		if err != nil || !reflect.DeepEqual(got, rec) {
			t.Fatalf("N→E record %d: %v %#v", i, err, got)
		}
	}
}

func TestChannelDuplicateAndGap(t *testing.T) {
	x := handshake(t, "dup")
	r1, _ := x.ech.Seal(&SnapshotChunk{Data: []byte("one")})
	r2, _ := x.ech.Seal(&SnapshotChunk{Data: []byte("two")})
	r3, _ := x.ech.Seal(&SnapshotChunk{Data: []byte("three")})
	// Gap: r2 before r1.
	_, err := x.nch.Open(r2)
	wantErr(t, err, ErrGap)
	if x.nch.recvSeq != 1 {
		t.Fatal("a gap moved the channel")
	}
	if rec, err := x.nch.Open(r1); err != nil || string(rec.(*SnapshotChunk).Data) != "one" {
		t.Fatalf("r1 after the gap: %v", err)
	}
	// Duplicate: r1 again.
	_, err = x.nch.Open(r1)
	wantErr(t, err, ErrDuplicate)
	if x.nch.recvSeq != 2 {
		t.Fatal("a duplicate moved the channel")
	}
	if _, err := x.nch.Open(r2); err != nil {
		t.Fatal(err)
	}
	if _, err := x.nch.Open(r3); err != nil {
		t.Fatal(err)
	}
	_, err = x.nch.Open(r2)
	wantErr(t, err, ErrDuplicate)
}

func TestChannelRefusals(t *testing.T) {
	x := handshake(t, "refuse")
	other := handshake(t, "refuse other")
	rec, err := x.ech.Seal(&Abort{Reason: AbortDeclined, Text: "codes differ"})
	if err != nil {
		t.Fatal(err)
	}
	fromOther, err := other.ech.Seal(&Abort{Reason: AbortDeclined, Text: "codes differ"})
	if err != nil {
		t.Fatal(err)
	}
	// Seq 0 under the record type: msg1 and msg2 used nonce 0, with
	// another AD; a record never does.
	seq0 := sealRaw(x.ech, 0, []byte{byte(TypeAbort), 0, 0})
	// The header's seq changed: another nonce.
	reseq := bytes.Clone(rec)
	reseq[8] = 2
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"empty":              {nil, ErrMalformed},
		"header only":        {rec[:recordHeaderSize], ErrMalformed},
		"no plaintext":       {rec[:recordHeaderSize+tagSize], ErrMalformed},
		"type":               {append([]byte{typeMsg2}, rec[1:]...), ErrMalformed},
		"too long":           {make([]byte, MaxRecord+1), ErrMalformed},
		"flipped body":       {flip(rec, recordHeaderSize+1), ErrDecrypt},
		"flipped tag":        {flip(rec, len(rec)-1), ErrDecrypt},
		"seq changed":        {reseq, ErrDecrypt},
		"truncated":          {rec[:len(rec)-1], ErrDecrypt},
		"other transcript":   {fromOther, ErrDecrypt},
		"seq 0":              {seq0, ErrDuplicate},
		"own direction (E)":  {mustSeal(t, x.nch, &Abort{}), ErrDecrypt},
		"wrong type for E→N": {mustSeal(t, asRole(x.ech, roleN), &Linked{Device: 1}), ErrWrongDirection},
		"bad body":           {sealRaw(x.ech, 1, []byte{byte(TypeLinked), 0, 0, 0}), ErrMalformed},
		"unknown type":       {sealRaw(x.ech, 1, []byte{9}), ErrMalformed},
	} {
		_, err := x.nch.Open(c.b)
		if !errorsIs(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		if x.nch.recvSeq != 1 {
			t.Fatalf("%s moved the channel", name)
		}
	}
	// A record E sealed is not opened by E itself (the other direction).
	_, err = x.ech.Open(rec)
	wantErr(t, err, ErrDecrypt)
	// The real record still opens.
	if _, err := x.nch.Open(rec); err != nil {
		t.Fatal(err)
	}
	// Seal refuses types the side may not send, and bad records.
	for name, c := range map[string]struct {
		c    *Channel
		r    Record
		want error
	}{
		"N sends Account": {x.nch, &Account{}, ErrWrongDirection},
		"N sends chunk":   {x.nch, &SnapshotChunk{Data: []byte{1}}, ErrWrongDirection},
		"E sends Linked":  {x.ech, &Linked{Device: 1}, ErrWrongDirection},
		"nil":             {x.ech, nil, ErrMalformed},
		"empty chunk":     {x.ech, &SnapshotChunk{}, ErrMalformed},
		"Linked 0":        {x.nch, &Linked{}, ErrMalformed},
		"Account no cert": {x.ech, &Account{}, ErrMalformed},
		"long abort text": {x.nch, &Abort{Text: string(bytes.Repeat([]byte{'a'}, MaxAbortText+1))}, ErrMalformed},
		"abort text bidi": {x.nch, &Abort{Text: "a\u202eb"}, ErrMalformed},
		"abort text ctrl": {x.ech, &Abort{Text: "a\nb"}, ErrMalformed},
		"abort not UTF-8": {x.ech, &Abort{Text: "a\xffb"}, ErrMalformed},
		"chunk too large": {x.ech, &SnapshotChunk{Data: make([]byte, MaxChunk+1)}, ErrMalformed},
	} {
		before := c.c.sendSeq
		_, err := c.c.Seal(c.r)
		if !errorsIs(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		if c.c.sendSeq != before {
			t.Fatalf("%s moved the channel", name)
		}
	}
}

func mustSeal(t *testing.T, c *Channel, r Record) []byte {
	t.Helper()
	b, err := c.Seal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// asRole returns a copy of c that believes it has role r, to seal record 1
// of a type its real role may not send.
func asRole(c *Channel, r role) *Channel {
	d := *c
	d.role = r
	d.sendSeq = 1
	return &d
}
