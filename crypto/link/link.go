// Package link implements the provisioning channel of linked devices
// (spec/linking.md): the channel over which an existing device E of an
// account hands a new device N its certificate, the account material and a
// snapshot of its state.
//
// Protocol flow (spec/linking.md §1):
//
//	N: NewResponder → Offer() into N's link mailbox, URI() shown as QR/text
//	E: ParseURI, fetch the offer by URI.LinkID, Initiate → msg1 to N's mailbox
//	N: Accept(msg1) → msg2 to E's reply mailbox; N shows the code
//	E: Finish(msg2); E shows the code; the user compares and confirms on E
//	E→N: Account, SnapshotChunk…   N→E: Linked   (either: Abort)
//
// The key agreement is hybrid: X25519 and ML-KEM-768 (FIPS 203), both
// secrets fed to HKDF-SHA256 (RFC 5869) salted with a hash of the whole
// transcript; records are ChaCha20-Poly1305 (RFC 8439) with a sequence
// number per direction. The six-digit code is a commitment-based short
// authentication string: N commits to a random r_N in its offer and reveals
// it only after E's key share arrived, so a man in the middle cannot grind
// the codes to match (spec/linking.md §6).
//
// The package is pure: no I/O, no global state, no clock. Randomness is an
// io.Reader supplied by the caller (crypto/rand.Reader in production).
package link

import (
	"errors"
	"time"
)

// Sizes and limits of spec/linking.md §9.
const (
	// MaxURILen is the longest URI, in bytes (ASCII).
	MaxURILen = 1024
	// MaxRelayLen is the longest relay URL an offer holds.
	MaxRelayLen = 512
	// MaxOffer is the longest offer a relay must store.
	MaxOffer = 4096
	// MinNameLen and MaxNameLen bound a device name, in UTF-8 bytes.
	MinNameLen = 1
	MaxNameLen = 64
	// MaxAbortText is the longest text of an Abort record, in UTF-8 bytes.
	MaxAbortText = 128
	// MaxChunk is the largest snapshot chunk.
	MaxChunk = 64 << 10
	// MaxSnapshot is the largest snapshot.
	MaxSnapshot = 64 << 20
	// MaxOfferLifetime is how far ahead of E's clock an offer's expiry may
	// be.
	MaxOfferLifetime = 15 * time.Minute
	// IDSize is the size of a link id (spec/relay.md §17).
	IDSize = 32
	// HashSize is the size of an offer hash, a commitment and r_N.
	HashSize = 32
	// Msg1Size is the exact size of msg1: type, x_E (32), ct (1088),
	// sealed reply id (32 + 16).
	Msg1Size = 1169
	// Msg2Size is the exact size of msg2, whatever N's name: type, sealed
	// r_N (32), name length (1) and the name zero-padded to MaxNameLen
	// (64), tag (16) (spec/linking.md §4.3).
	Msg2Size = 114
	// MaxRecord is the longest sealed record (a full snapshot chunk):
	// header (9), type (1), MaxChunk, tag (16).
	MaxRecord = 65562
)

// maxTime is the largest expiry, in seconds since 1970 (as spec/keys.md §6).
const maxTime = 1 << 62

// Labels of spec/linking.md §5: hash prefixes (each followed by 0x00) and
// HKDF info strings.
const (
	LabelCommit     = "sealpost/v1/link-commit"
	LabelTranscript = "sealpost/v1/link-transcript"
	LabelE2N        = "sealpost/v1/link-e2n"
	LabelN2E        = "sealpost/v1/link-n2e"
	LabelSAS        = "sealpost/v1/link-sas"
)

// Message types, the first byte of every message and the last byte of its
// AEAD's associated data (spec/linking.md §4, §7.1).
const (
	typeMsg1   = 0x01
	typeMsg2   = 0x02
	typeRecord = 0x03
)

// Directions (spec/linking.md §7.1).
const (
	dirE2N = 0x01
	dirN2E = 0x02
)

// Errors of spec/errors.md §3.24: each sentinel is the name there in Go
// case (ErrOfferMismatch is offer_mismatch); test with errors.Is. A failed
// decryption says nothing about which check failed.
var (
	// ErrMalformedURI reports a URI (or a relay URL) outside
	// spec/linking.md §2.
	ErrMalformedURI = errors.New("link: malformed URI")
	// ErrUnsupportedVersion reports a URI or offer of a version other
	// than 1: the other device runs a newer protocol.
	ErrUnsupportedVersion = errors.New("link: unsupported version")
	// ErrInvalidName reports a device name outside spec/linking.md §3.3.
	ErrInvalidName = errors.New("link: invalid device name")
	// ErrMalformed reports an offer, message or record that is not the
	// canonical encoding of spec/linking.md §3, §4, §8.
	ErrMalformed = errors.New("link: malformed message")
	// ErrOfferMismatch reports an offer whose SHA-256 is not the URI's
	// hash, or whose relay, link id or expiry differ from the URI's.
	ErrOfferMismatch = errors.New("link: offer does not match the URI")
	// ErrExpired reports an offer or URI at or past its expiry.
	ErrExpired = errors.New("link: link offer expired")
	// ErrExpiryTooFar reports an offer expiring more than
	// MaxOfferLifetime after now.
	ErrExpiryTooFar = errors.New("link: link offer expiry too far ahead")
	// ErrDecrypt reports a message or record that does not authenticate.
	ErrDecrypt = errors.New("link: message authentication failed")
	// ErrCommitMismatch reports an r_N that is not the one the offer
	// committed to.
	ErrCommitMismatch = errors.New("link: reveal does not match the offer's commitment")
	// ErrDuplicate reports an authentic record (or handshake message)
	// already accepted: a redelivery, to be dropped.
	ErrDuplicate = errors.New("link: duplicate record")
	// ErrGap reports an authentic record whose sequence number is past
	// the next one expected: records were lost.
	ErrGap = errors.New("link: record sequence gap")
	// ErrWrongDirection reports a record type that the sender's role may
	// not send (spec/linking.md §8).
	ErrWrongDirection = errors.New("link: record type not allowed in this direction")
	// ErrSnapshotMismatch reports snapshot chunks whose SHA-256 is not
	// the one the Account record announced.
	ErrSnapshotMismatch = errors.New("link: snapshot does not match its hash")
	// ErrWrongState reports a step out of order: a second Accept or
	// Finish with another message, or any use after Destroy.
	ErrWrongState = errors.New("link: wrong handshake state")
)
