package link

import (
	"strings"
	"testing"
	"time"
)

func TestURIRoundTrip(t *testing.T) {
	for _, relay := range []string{
		testRelay,
		"wss://relay.example/v1/relay",
		"wss://relay.example",
		"wss://127.0.0.1:8443/v1/relay",
		"wss://[::1]:8443/v1/relay",
		"wss://a",
		"wss://x.example/~user/a_b-c.d",
	} {
		u := &URI{Relay: relay, LinkID: [IDSize]byte{0xfb, 0xff}, OfferHash: [HashSize]byte{31: 0xfe}, Expires: time.Unix(1_767_226_200, 0)}
		s := u.String()
		got, err := ParseURI(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if got.Relay != u.Relay || got.LinkID != u.LinkID || got.OfferHash != u.OfferHash || !got.Expires.Equal(u.Expires) {
			t.Fatalf("%s: parsed %+v, want %+v", s, got, u)
		}
		if got.String() != s {
			t.Fatalf("String %q, want %q", got.String(), s)
		}
	}
	want := "sealpost://link?v=1&r=wss%3A%2F%2Frelay.example%3A8443%2Fv1%2Frelay&a=AQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&h=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&x=1767226200"
	u := &URI{Relay: testRelay, LinkID: testLinkID, Expires: testExpires}
	if u.String() != want {
		t.Fatalf("String\n%s, want\n%s", u.String(), want)
	}
}

func TestParseURIRefusals(t *testing.T) {
	good := (&URI{Relay: testRelay, LinkID: testLinkID, OfferHash: [HashSize]byte{1}, Expires: testExpires}).String()
	if _, err := ParseURI(good); err != nil {
		t.Fatal(err)
	}
	relay := "wss%3A%2F%2Frelay.example%3A8443%2Fv1%2Frelay"
	a := "AQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	h := "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	mk := func(params string) string { return "sealpost://link?" + params }
	std := "r=" + relay + "&a=" + a + "&h=" + h + "&x=1767226200"
	for _, c := range []struct {
		name, uri string
		want      error
	}{
		{"version 2", mk("v=2&" + std), ErrUnsupportedVersion},
		{"version 10", mk("v=10&whatever"), ErrUnsupportedVersion},
		{"version word", mk("v=one&" + std), ErrMalformedURI},
		{"version empty", mk("v=&" + std), ErrMalformedURI},
		{"no version", mk(std), ErrMalformedURI},
		{"scheme upper", "SEALPOST://link?v=1&" + std, ErrMalformedURI},
		{"host", "sealpost://links?v=1&" + std, ErrMalformedURI},
		{"https", "https://link?v=1&" + std, ErrMalformedURI},
		{"empty", "", ErrMalformedURI},
		{"missing x", mk("v=1&r=" + relay + "&a=" + a + "&h=" + h), ErrMalformedURI},
		{"extra", mk("v=1&" + std + "&y=1"), ErrMalformedURI},
		{"duplicate", mk("v=1&r=" + relay + "&a=" + a + "&a=" + a + "&x=1"), ErrMalformedURI},
		{"order", mk("v=1&a=" + a + "&r=" + relay + "&h=" + h + "&x=1767226200"), ErrMalformedURI},
		{"trailing &", mk("v=1&" + std + "&"), ErrMalformedURI},
		{"no =", mk("v=1&r" + relay + "&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"fragment", mk("v=1&" + std + "#f"), ErrMalformedURI},
		{"lower-case escape", mk("v=1&r=wss%3a%2f%2frelay.example&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"escaped unreserved", mk("v=1&r=wss%3A%2F%2Frelay%2Eexample&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"raw colon", mk("v=1&r=wss://relay.example&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"cut escape", mk("v=1&r=wss%3A%2F%2Frelay%2&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"plus", mk("v=1&r=wss%3A%2F%2Fre+lay&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"ws", mk("v=1&r=ws%3A%2F%2Frelay.example&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"https relay", mk("v=1&r=https%3A%2F%2Frelay.example&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"user info", mk("v=1&r=wss%3A%2F%2Fu%40relay.example&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"query", mk("v=1&r=wss%3A%2F%2Frelay.example%3Fq&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"relay fragment", mk("v=1&r=wss%3A%2F%2Frelay.example%23f&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"percent in relay", mk("v=1&r=wss%3A%2F%2Frelay.example%2F%2541&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"no host", mk("v=1&r=wss%3A%2F%2F%2Fv1&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"port 0", mk("v=1&r=wss%3A%2F%2Frelay.example%3A0&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"port 65536", mk("v=1&r=wss%3A%2F%2Frelay.example%3A65536&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"port leading 0", mk("v=1&r=wss%3A%2F%2Frelay.example%3A0443&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"port empty", mk("v=1&r=wss%3A%2F%2Frelay.example%3A&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"port word", mk("v=1&r=wss%3A%2F%2Frelay.example%3Ahttps&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"a short", mk("v=1&r=" + relay + "&a=" + a[1:] + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"a long", mk("v=1&r=" + relay + "&a=" + a + "A&h=" + h + "&x=1"), ErrMalformedURI},
		{"a padded", mk("v=1&r=" + relay + "&a=" + a + "=&h=" + h + "&x=1"), ErrMalformedURI},
		{"a std base64", mk("v=1&r=" + relay + "&a=" + strings.Replace(a, "Q", "+", 1) + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"a non-canonical", mk("v=1&r=" + relay + "&a=" + a[:42] + "B&h=" + h + "&x=1"), ErrMalformedURI},
		{"h non-canonical", mk("v=1&r=" + relay + "&a=" + a + "&h=" + h[:42] + "F&x=1"), ErrMalformedURI},
		{"x zero", mk("v=1&r=" + relay + "&a=" + a + "&h=" + h + "&x=0"), ErrMalformedURI},
		{"x leading zero", mk("v=1&r=" + relay + "&a=" + a + "&h=" + h + "&x=01767226200"), ErrMalformedURI},
		{"x negative", mk("v=1&r=" + relay + "&a=" + a + "&h=" + h + "&x=-1"), ErrMalformedURI},
		{"x plus", mk("v=1&r=" + relay + "&a=" + a + "&h=" + h + "&x=+1"), ErrMalformedURI},
		{"x empty", mk("v=1&r=" + relay + "&a=" + a + "&h=" + h + "&x="), ErrMalformedURI},
		{"x over 2^62", mk("v=1&r=" + relay + "&a=" + a + "&h=" + h + "&x=4611686018427387905"), ErrMalformedURI},
		{"x over 2^64", mk("v=1&r=" + relay + "&a=" + a + "&h=" + h + "&x=18446744073709551616"), ErrMalformedURI},
		{"too long", mk("v=1&r=wss%3A%2F%2F" + strings.Repeat("a", 950) + "&a=" + a + "&h=" + h + "&x=1"), ErrMalformedURI},
		{"space", mk("v=1&" + std + " "), ErrMalformedURI},
	} {
		_, err := ParseURI(c.uri)
		if !errorsIs(err, c.want) {
			t.Errorf("%s: %q: %v, want %v", c.name, c.uri, err, c.want)
		}
	}
	// The edge: x = 2^62 is accepted.
	if _, err := ParseURI(mk("v=1&r=" + relay + "&a=" + a + "&h=" + h + "&x=4611686018427387904")); err != nil {
		t.Errorf("x = 2^62: %v", err)
	}
}

func TestURILengthLimit(t *testing.T) {
	// The longest relay URL an offer may hold gives a URI over the limit
	// when every byte needs an escape: NewResponder refuses it.
	relay := "wss://h" + strings.Repeat("/", MaxRelayLen-7)
	if err := CheckRelay(relay); err != nil {
		t.Fatal(err)
	}
	dev, _ := newResponder(t, "long")
	_, err := NewResponder(nil, relay, testLinkID, dev.Public(), "x", testExpires)
	wantErr(t, err, ErrMalformedURI)
	// A URI of exactly MaxURILen bytes parses; one more byte does not.
	base := (&URI{Relay: "wss://h", Expires: time.Unix(1, 0)}).String()
	n := MaxURILen - len(base) // bytes to add: "/" escapes to 3, "a" to 1
	long := &URI{Relay: "wss://h" + strings.Repeat("/", n/3) + strings.Repeat("a", n%3), Expires: time.Unix(1, 0)}
	if len(long.String()) != MaxURILen {
		t.Fatalf("%d", len(long.String()))
	}
	if _, err := ParseURI(long.String()); err != nil {
		t.Fatalf("URI of %d bytes: %v", MaxURILen, err)
	}
	longer := &URI{Relay: long.Relay + "a", Expires: time.Unix(1, 0)}
	_, err = ParseURI(longer.String())
	wantErr(t, err, ErrMalformedURI)
	if err := longer.check(); !errorsIs(err, ErrMalformedURI) {
		t.Fatalf("check of a URI of %d bytes: %v", len(longer.String()), err)
	}
}

func TestCheckRelay(t *testing.T) {
	for _, r := range []string{"wss://a", "wss://relay.example:443/v1/relay", "wss://[2001:db8::1]/x", "wss://h:65535"} {
		if err := CheckRelay(r); err != nil {
			t.Errorf("%q: %v", r, err)
		}
	}
	for _, r := range []string{"", "wss://", "wss:///x", "ws://a", "WSS://a", "wss://a b", "wss://a?b", "wss://a#b",
		"wss://u@a", "wss://a:0", "wss://a:", "wss://a:99999", "wss://é.example", "wss://a/%41",
		"wss://" + strings.Repeat("a", MaxRelayLen)} {
		if err := CheckRelay(r); !errorsIs(err, ErrMalformedURI) {
			t.Errorf("%q: %v, want malformed_uri", r, err)
		}
	}
}
