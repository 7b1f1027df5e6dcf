package link

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testrand"
)

func TestOfferRoundTrip(t *testing.T) {
	dev, r := newResponder(t, "offer")
	b := r.Offer()
	o, err := ParseOffer(b)
	if err != nil {
		t.Fatal(err)
	}
	if o.Relay != testRelay || o.LinkID != testLinkID || o.Device != dev.Public() ||
		!o.Expires.Equal(testExpires) || o.Commit != commitment(r.r[:]) {
		t.Fatalf("parsed %+v", o)
	}
	again, err := o.Marshal()
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("marshal(parse(b)) != b: %v", err)
	}
	if r.URI().OfferHash != OfferHash(b) {
		t.Fatal("URI hash is not SHA-256 of the offer")
	}
	// Layout of spec/linking.md §3.1: the fixed part and the relay URL;
	// N's name is not in the offer (it goes in msg2, §4.3).
	if len(b) != offerFixedSize+len(testRelay) || bytes.Contains(b, []byte("Laptop")) {
		t.Fatalf("offer of %d bytes", len(b))
	}
	if b[0] != 1 || binary.BigEndian.Uint64(b[1:9]) != uint64(testExpires.Unix()) ||
		int(binary.BigEndian.Uint16(b[9:11])) != len(testRelay) || string(b[11:11+len(testRelay)]) != testRelay {
		t.Fatalf("offer head %x", b[:40])
	}
	// The longest offer fits MaxOffer.
	long, err := NewResponder(testrand.New("long offer"), "wss://h/"+strings.Repeat("a", MaxRelayLen-8), testLinkID, dev.Public(), strings.Repeat("n", MaxNameLen), testExpires)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(long.Offer()); n > MaxOffer || n != 1867 { // spec/linking.md §3.1: 1355 + 512
		t.Fatalf("longest offer %d bytes", n)
	}
}

func TestParseOfferRefusals(t *testing.T) {
	_, r := newResponder(t, "offer refusals")
	b := r.Offer()
	xOff := 11 + len(testRelay) + IDSize + 64
	kemOff := xOff + 32
	set := func(off int, v []byte) []byte {
		c := bytes.Clone(b)
		copy(c[off:], v)
		return c
	}
	lowOrderX := make([]byte, 32) // u = 0
	highKEM := bytes.Repeat([]byte{0xff}, 12)
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"empty":             {nil, ErrMalformed},
		"version 2":         {set(0, []byte{2}), ErrUnsupportedVersion},
		"version 0":         {set(0, []byte{0}), ErrUnsupportedVersion},
		"truncated":         {b[:len(b)-1], ErrMalformed},
		"trailing":          {append(bytes.Clone(b), 0), ErrMalformed},
		"too long":          {append(bytes.Clone(b), make([]byte, MaxOffer)...), ErrMalformed},
		"expiry 0":          {set(1, make([]byte, 8)), ErrMalformed},
		"expiry > 2^62":     {set(1, []byte{0x40, 0, 0, 0, 0, 0, 0, 1}), ErrMalformed},
		"relay http":        {set(11, []byte("http")), ErrMalformed},
		"relay length":      {set(9, []byte{0, byte(len(testRelay) + 1)}), ErrMalformed},
		"signing key":       {set(11+len(testRelay)+IDSize, bytes.Repeat([]byte{0xff}, 32)), ErrMalformed},
		"device DH low":     {set(11+len(testRelay)+IDSize+32, lowOrderX), ErrMalformed},
		"with a name":       {append(append(append(bytes.Clone(b[:xOff]), 6), "Laptop"...), b[xOff:]...), ErrMalformed},
		"x_N low order":     {set(xOff, lowOrderX), ErrMalformed},
		"x_N non-canonical": {set(xOff, append([]byte{0xee}, append(bytes.Repeat([]byte{0xff}, 30), 0x7f)...)), ErrMalformed},
		"ek_N not reduced":  {set(kemOff, highKEM), ErrMalformed},
	} {
		_, err := ParseOffer(c.b)
		if !errorsIs(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestNewResponderRefusals(t *testing.T) {
	dev, _ := newResponder(t, "new")
	pub := dev.Public()
	for name, c := range map[string]struct {
		relay   string
		name    string
		expires time.Time
		want    error
	}{
		"name empty":  {testRelay, "", testExpires, ErrInvalidName},
		"name long":   {testRelay, strings.Repeat("a", MaxNameLen+1), testExpires, ErrInvalidName},
		"name rlo":    {testRelay, "evil\u202egpj.exe", testExpires, ErrInvalidName},
		"relay":       {"https://relay.example", "x", testExpires, ErrMalformedURI},
		"expiry zero": {testRelay, "x", time.Time{}, ErrMalformed},
		"expiry 1970": {testRelay, "x", time.Unix(0, 0), ErrMalformed},
	} {
		_, err := NewResponder(testrand.New("new"), c.relay, testLinkID, pub, c.name, c.expires)
		if !errorsIs(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// A bad device key.
	bad := pub
	bad.DH = [32]byte{}
	_, err := NewResponder(testrand.New("new"), testRelay, testLinkID, bad, "x", testExpires)
	wantErr(t, err, ErrMalformed)
	// Randomness that runs out.
	_, err = NewResponder(bytes.NewReader(make([]byte, 100)), testRelay, testLinkID, pub, "x", testExpires)
	if err == nil {
		t.Fatal("short randomness accepted")
	}
}

func TestCheckName(t *testing.T) {
	for _, n := range []string{"Laptop", "Alice's phone 📱", "Ordinateur de Zoé", "日本語", strings.Repeat("a", MaxNameLen), "a b\u00a0c", "\u200d"} {
		if err := CheckName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"", strings.Repeat("a", MaxNameLen+1), strings.Repeat("é", 33), "a\x00", "tab\t", "line\n", "del\x7f",
		"c1\u0085", "c1\u009f", "alm\u061c", "lrm\u200e", "rlm\u200f", "lre\u202a", "rlo\u202e", "lri\u2066", "pdi\u2069",
		"ls\u2028", "ps\u2029", "bad\xff", "cut\xe6\x97"} {
		if err := CheckName(n); !errorsIs(err, ErrInvalidName) {
			t.Errorf("%q: %v, want invalid_name", n, err)
		}
	}
}
