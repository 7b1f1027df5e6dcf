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

// FuzzMsg2: Finish of arbitrary bytes never panics, a refusal leaves the
// Initiator waiting without a name, and the only msg2 accepted is the one
// N made, with N's name (spec/linking.md §4.4). The Initiator and the
// seeds are the vectors' exchange: its msg2 and the finish refusals.
func FuzzMsg2(f *testing.F) {
	var v *vectors.LinkingExchangeCase
	for _, c := range loadVectors(f).Cases {
		if c.Exchange != nil {
			v = c.Exchange
		}
	}
	if v == nil {
		f.Fatal("no exchange in the vectors")
	}
	f.Add([]byte(v.Msg2))
	for _, r := range v.Refusals {
		if r.Stage == "finish" {
			f.Add([]byte(r.Msg))
		}
	}
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
