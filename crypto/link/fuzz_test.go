package link

import (
	"bytes"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
)

// FuzzURI: ParseURI never panics, and what it accepts is canonical:
// String gives back the input and parses to the same URI.
func FuzzURI(f *testing.F) {
	for _, s := range vectorURIs(f) {
		f.Add(s)
	}
	f.Add("sealpost://link?v=2&x")
	f.Add("sealpost://link?v=1&r=wss%3A%2F%2F%5B%3A%3A1%5D%3A1&a=&h=&x=1")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			if u != nil {
				t.Fatal("a URI with an error")
			}
			return
		}
		if got := u.String(); got != s {
			t.Fatalf("String %q, input %q", got, s)
		}
		v, err := ParseURI(u.String())
		if err != nil || *v != *u {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzOffer: ParseOffer never panics, and marshal(parse(b)) == b.
func FuzzOffer(f *testing.F) {
	for _, b := range vectorOffers(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOffer(b)
		if err != nil {
			return
		}
		again, err := o.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("marshal(parse(b)) != b: %v", err)
		}
	})
}

// FuzzRecord: Channel.Open of arbitrary bytes never panics and never
// accepts a forgery; ParseRecord of arbitrary bodies never panics and
// marshal(parse(b)) == b.
func FuzzRecord(f *testing.F) {
	x := handshake(f, "fuzz record")
	for _, b := range vectorRecords(f) {
		f.Add(b)
	}
	for _, r := range []Record{&Linked{Device: 3}, &Abort{Reason: 1, Text: "no"}, &SnapshotChunk{Data: []byte("data")}} {
		b, _ := MarshalRecord(r)
		f.Add(b)
	}
	sealed, err := x.ech.Seal(&SnapshotChunk{Data: []byte("fuzz")})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := x.nch.Open(b)
		if err == nil {
			if !bytes.Equal(b, sealed) {
				t.Fatalf("Open accepted bytes E never sealed: %#v", rec)
			}
			x.nch.recvSeq = 1 // open it again on the next input
		} else if x.nch.recvSeq != 1 {
			t.Fatal("a refused record moved the channel")
		}
		r, err := ParseRecord(b)
		if err != nil {
			return
		}
		again, err := MarshalRecord(r)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("marshal(parse(b)) != b: %v", err)
		}
	})
}

// vectorExchange is the vectors' exchange with records and refusals.
func vectorExchange(f *testing.F) *vectors.LinkingExchangeCase {
	var v *vectors.LinkingExchangeCase
	for _, c := range loadVectors(f).Cases {
		if c.Exchange != nil {
			v = c.Exchange
		}
	}
	if v == nil {
		f.Fatal("no exchange in the vectors")
	}
	return v
}

// FuzzMsg2: Finish of arbitrary bytes never panics, a refusal leaves the
// Initiator waiting without a name, and the only msg2 accepted is the one
// N made, with N's name (spec/linking.md §4.4). The Initiator and the
// seeds are the vectors' exchange: its msg2 and the finish refusals
// (among them name_len 0, 65 and non-zero padding), plus msg2s of every
// size around Msg2Size.
func FuzzMsg2(f *testing.F) {
	v := vectorExchange(f)
	f.Add([]byte(v.Msg2))
	for _, r := range v.Refusals {
		if r.Stage == "finish" {
			f.Add([]byte(r.Msg))
		}
	}
	f.Add(make([]byte, Msg2Size))
	f.Add(append(bytes.Clone(v.Msg2), 0))
	f.Add(append([]byte{typeMsg2}, make([]byte, Msg2Size-2)...))
	initiate := func() *Initiator {
		i, _, _, err := vectorInitiate(v, v.URI, v.Offer, v.Now)
		if err != nil {
			f.Fatal(err)
		}
		return i
	}
	init := initiate()
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, err := init.Finish(b)
		if err != nil {
			if init.state != stateWaiting || init.Name() != "" {
				t.Fatalf("a refused msg2 changed the Initiator: %v", err)
			}
			return
		}
		if !bytes.Equal(b, v.Msg2) || init.Name() != v.Name {
			t.Fatalf("Finish accepted a msg2 N never made (name %q)", init.Name())
		}
		init = initiate()
	})
}

// FuzzMsg2Plaintext: the fuzzer chooses what follows r_N in an authentic
// msg2 (sealed under the Initiator's keys, so the AEAD does not stop it),
// and Finish accepts exactly spec/linking.md §4.3's layout: one name_len
// byte 1..64, that many bytes of a name CheckName accepts, zeros up to
// 64 name bytes; Name is then that name. A refusal is ErrMalformed and
// leaves the Initiator waiting without a name.
func FuzzMsg2Plaintext(f *testing.F) {
	v := vectorExchange(f)
	rN := bytes.Clone(v.ResponderRandomness[96:128])
	for _, tail := range [][]byte{
		msg2PlaintextForTest(rN, byte(len(v.Name)), []byte(v.Name))[HashSize:],
		msg2PlaintextForTest(rN, 0, nil)[HashSize:],
		msg2PlaintextForTest(rN, MaxNameLen+1, bytes.Repeat([]byte("n"), MaxNameLen))[HashSize:],
		msg2PlaintextForTest(rN, MaxNameLen, bytes.Repeat([]byte("n"), MaxNameLen))[HashSize:],
		msg2PlaintextForTest(rN, 3, []byte("Laptop"))[HashSize:],
		msg2PlaintextForTest(rN, 7, []byte("Laptop"))[HashSize:],
		append([]byte{6}, "Laptop"...),
	} {
		f.Add(tail)
	}
	initiate := func() *Initiator {
		i, _, _, err := vectorInitiate(v, v.URI, v.Offer, v.Now)
		if err != nil {
			f.Fatal(err)
		}
		return i
	}
	init := initiate()
	f.Fuzz(func(t *testing.T, tail []byte) {
		msg2 := sealMsg2ForTest(init, append(bytes.Clone(rN), tail...))
		_, _, err := init.Finish(msg2)
		want, ok := "", len(tail) == 1+MaxNameLen && tail[0] >= MinNameLen && tail[0] <= MaxNameLen
		if ok {
			n := int(tail[0])
			want = string(tail[1 : 1+n])
			ok = CheckName(want) == nil && allZero(tail[1+n:])
		}
		if err != nil {
			if ok || !errorsIs(err, ErrMalformed) {
				t.Fatalf("tail %x refused: %v", tail, err)
			}
			if init.state != stateWaiting || init.Name() != "" {
				t.Fatalf("a refused msg2 changed the Initiator: %v", err)
			}
			return
		}
		if !ok || init.Name() != want {
			t.Fatalf("tail %x accepted, name %q", tail, init.Name())
		}
		init = initiate()
	})
}
