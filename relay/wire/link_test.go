package wire

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// TestLinkAddress: spec/relay.md §17.1, computed independently.
func TestLinkAddress(t *testing.T) {
	secret := bytes.Repeat([]byte{0x11}, LinkSecretSize)
	want := sha256.Sum256(append([]byte("sealpost/v1/relay-link-address\x00"), secret...))
	if got := LinkID(secret); got != want {
		t.Fatalf("LinkID = %x, want %x", got, want)
	}
	a := LinkAddress(secret)
	if len(a) != LinkAddressSize || a[0] != 0 || !bytes.Equal(a[1:], want[:]) {
		t.Fatalf("LinkAddress = %x", a)
	}
	if !bytes.Equal(LinkAddressOf(want), a) {
		t.Fatal("LinkAddressOf differs from LinkAddress")
	}
	if !IsLinkAddress(a) || IsLinkAddress(a[:32]) || IsLinkAddress(append(bytes.Clone(a), 0)) {
		t.Fatal("IsLinkAddress: wrong lengths accepted or the address refused")
	}
	b := bytes.Clone(a)
	b[0] = 32
	if IsLinkAddress(b) {
		t.Fatal("IsLinkAddress accepts a first byte other than 0x00")
	}
	if CheckAddress(a) == nil {
		t.Fatal("a link address passes as a device address")
	}
	if other := LinkID(bytes.Repeat([]byte{0x12}, LinkSecretSize)); other == want {
		t.Fatal("two secrets, one link id")
	}
}

// FuzzRecipient: no byte string is both a device address and a link
// address (spec/relay.md §4), and Send accepts exactly those two forms.
func FuzzRecipient(f *testing.F) {
	f.Add(LinkAddress(make([]byte, LinkSecretSize)))
	f.Add(FormatAddress("bob", 1))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		link, dev := IsLinkAddress(b), CheckAddress(b) == nil
		if link && dev {
			t.Fatalf("%x is both a link and a device address", b)
		}
		s := &Frame{Body: &Frame_Send{Send: &Send{MessageId: make([]byte, MessageIDSize), Items: []*Item{{Recipient: b, Envelope: []byte("e")}}}}}
		if ok := Check(s) == nil; ok != (link || dev) {
			t.Fatalf("Send to %x: accepted %v, link %v device %v", b, ok, link, dev)
		}
		e := &Frame{Body: &Frame_SendEphemeral{SendEphemeral: &SendEphemeral{Items: []*Item{{Recipient: b, Envelope: []byte("e")}}}}}
		if ok := Check(e) == nil; ok != dev {
			t.Fatalf("SendEphemeral to %x: accepted %v, device %v", b, ok, dev)
		}
	})
}
