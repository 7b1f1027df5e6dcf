package wire

import (
	"crypto/sha256"
)

// Link mailboxes (spec/relay.md §17): a mailbox that no account owns,
// named by a link address derived from a secret its owner alone knows.
//
//	link_id      = SHA-256("sealpost/v1/relay-link-address" || 0x00 || secret)
//	link address = 0x00 || link_id                          (33 bytes)
//
// A device address starts with its handle's length, 3 to 32 (§4), never
// 0x00, so the two forms cannot collide.
const (
	// LinkSecretSize is the size of AuthLink.secret.
	LinkSecretSize = 32
	// LinkIDSize is the size of a link id (LinkFetch.link_id).
	LinkIDSize = 32
	// LinkAddressSize is the size of a link address.
	LinkAddressSize = 1 + LinkIDSize
	// MaxLinkOffer caps AuthLink.offer and LinkOffer.offer.
	MaxLinkOffer = 4096
	// LinkAddressLabel is the label of the link id's hash input.
	LinkAddressLabel = "sealpost/v1/relay-link-address"
	// linkAddressPrefix is the first byte of a link address.
	linkAddressPrefix = 0x00
)

// LinkID returns the link id of secret (spec/relay.md §17.1). The caller
// checks that secret is LinkSecretSize bytes; any length hashes.
func LinkID(secret []byte) [LinkIDSize]byte {
	h := sha256.New()
	h.Write([]byte(LinkAddressLabel))
	h.Write([]byte{0})
	h.Write(secret)
	return [LinkIDSize]byte(h.Sum(nil))
}

// LinkAddress returns the link address of secret: 0x00 || LinkID(secret)
// (spec/relay.md §17.1).
func LinkAddress(secret []byte) []byte {
	id := LinkID(secret)
	return LinkAddressOf(id)
}

// LinkAddressOf returns the link address of a link id.
func LinkAddressOf(id [LinkIDSize]byte) []byte {
	return append([]byte{linkAddressPrefix}, id[:]...)
}

// IsLinkAddress reports whether b is a link address: 33 bytes starting
// with 0x00 (spec/relay.md §4, §17.1).
func IsLinkAddress(b []byte) bool {
	return len(b) == LinkAddressSize && b[0] == linkAddressPrefix
}

// checkRecipient reports whether b is a device address, or, if links is
// true, a link address.
func checkRecipient(b []byte, links bool) error {
	if links && IsLinkAddress(b) {
		return nil
	}
	if err := CheckAddress(b); err != nil {
		return err
	}
	return nil
}

// checkAuthLink: spec/relay.md §3.3, §17.2.
func checkAuthLink(a *AuthLink) error {
	if err := checkPresent(a, "AuthLink"); err != nil {
		return err
	}
	if len(a.Secret) != LinkSecretSize {
		return malformed("auth_link secret of %d bytes, want %d", len(a.Secret), LinkSecretSize)
	}
	if len(a.Offer) > MaxLinkOffer {
		return malformed("auth_link offer of %d bytes, cap %d", len(a.Offer), MaxLinkOffer)
	}
	if len(a.Token) > MaxTokenText {
		return malformed("auth_link token length %d above %d", len(a.Token), MaxTokenText)
	}
	return nil
}

// checkLinkFetch: spec/relay.md §3.3, §17.4.
func checkLinkFetch(l *LinkFetch) error {
	if err := checkPresent(l, "LinkFetch"); err != nil {
		return err
	}
	if len(l.LinkId) != LinkIDSize {
		return malformed("link_fetch link id of %d bytes, want %d", len(l.LinkId), LinkIDSize)
	}
	return nil
}

// checkLinkOffer: spec/relay.md §3.3, §17.4.
func checkLinkOffer(l *LinkOffer) error {
	if err := checkPresent(l, "LinkOffer"); err != nil {
		return err
	}
	if len(l.LinkId) != LinkIDSize {
		return malformed("link_offer link id of %d bytes, want %d", len(l.LinkId), LinkIDSize)
	}
	if len(l.Offer) > MaxLinkOffer {
		return malformed("link_offer offer of %d bytes, cap %d", len(l.Offer), MaxLinkOffer)
	}
	if len(l.Offer) != 0 && l.ExpiresUnixMs == 0 {
		return malformed("link_offer with an offer and no expiry")
	}
	return nil
}

// Hard limits of a link connection opened without a token (spec/relay.md
// §17.3), not configurable.
const (
	// MaxLinkEnvelope caps each envelope such a connection sends; larger
	// ones get too_large.
	MaxLinkEnvelope = 4096
	// MaxLinkItems caps the items such a connection sends over its
	// life; the Send that would pass it is rate_limited.
	MaxLinkItems = 16
)
