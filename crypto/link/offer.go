package link

import (
	"crypto/mlkem"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
	"golang.org/x/crypto/cryptobyte"
)

// Offer is what N stores in its link mailbox (spec/linking.md §3): N's
// device keys, where it waits, and its key shares. It is public (the
// relay stores it): N's name is not in it but in msg2, encrypted.
type Offer struct {
	// Expires is the offer's expiry, whole seconds.
	Expires time.Time
	// Relay and LinkID say where the offer lives; they must equal the
	// URI's.
	Relay  string
	LinkID [IDSize]byte
	// Device is N's device identity keys, which E certifies.
	Device keys.DevicePublicKeys
	// DH is N's ephemeral X25519 public key x_N.
	DH [32]byte
	// KEM is N's ephemeral ML-KEM-768 encapsulation key ek_N.
	KEM [keys.KEMKeySize]byte
	// Commit is SHA-256(LabelCommit || 0x00 || r_N).
	Commit [HashSize]byte
}

// offerVersion is the offer's first byte (spec/linking.md §3.1).
const offerVersion = 0x01

// Marshal returns the offer's encoding (spec/linking.md §3.1). It fails
// with ErrMalformed if a field is outside spec/linking.md §3.2.
func (o *Offer) Marshal() ([]byte, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, offerFixedSize+len(o.Relay))
	b = append(b, offerVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(o.Expires.Unix()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(o.Relay)))
	b = append(b, o.Relay...)
	b = append(b, o.LinkID[:]...)
	b = append(b, o.Device.Signing[:]...)
	b = append(b, o.Device.DH[:]...)
	b = append(b, o.DH[:]...)
	b = append(b, o.KEM[:]...)
	b = append(b, o.Commit[:]...)
	return b, nil
}

// offerFixedSize is everything in an offer but the relay URL's bytes.
const offerFixedSize = 1 + 8 + 2 + IDSize + 32 + 32 + 32 + keys.KEMKeySize + HashSize

// OfferHash returns SHA-256 of an offer's encoding, the URI's h
// (spec/linking.md §2.1).
func OfferHash(offer []byte) [HashSize]byte { return sha256.Sum256(offer) }

// ParseOffer parses exactly one offer and checks every field
// (spec/linking.md §3.2). It returns ErrUnsupportedVersion for an offer of
// another version and ErrMalformed for anything else it refuses.
func ParseOffer(b []byte) (*Offer, error) {
	if len(b) > MaxOffer {
		return nil, malformed("offer of %d bytes", len(b))
	}
	s := cryptobyte.String(b)
	var (
		version uint8
		expires uint64
		relay   []byte
		o       Offer
	)
	if !s.ReadUint8(&version) {
		return nil, malformed("empty offer")
	}
	if version != offerVersion {
		return nil, fmt.Errorf("%w: offer version %d", ErrUnsupportedVersion, version)
	}
	if !s.ReadUint64(&expires) || !s.ReadUint16LengthPrefixed((*cryptobyte.String)(&relay)) ||
		!s.CopyBytes(o.LinkID[:]) || !s.CopyBytes(o.Device.Signing[:]) || !s.CopyBytes(o.Device.DH[:]) ||
		!s.CopyBytes(o.DH[:]) || !s.CopyBytes(o.KEM[:]) || !s.CopyBytes(o.Commit[:]) {
		return nil, malformed("truncated offer")
	}
	if !s.Empty() {
		return nil, malformed("trailing bytes after offer")
	}
	if expires < 1 || expires > maxTime {
		return nil, malformed("offer expiry out of range")
	}
	o.Expires = time.Unix(int64(expires), 0).UTC()
	o.Relay = string(relay)
	if err := o.check(); err != nil {
		return nil, err
	}
	return &o, nil
}

// check applies spec/linking.md §3.2 to every field.
func (o *Offer) check() error {
	if x := o.Expires.Unix(); x < 1 || x > maxTime {
		return malformed("offer expiry out of range")
	}
	if err := CheckRelay(o.Relay); err != nil {
		return malformed("offer relay: %v", err)
	}
	if err := prim.CheckEd25519Public(o.Device.Signing[:]); err != nil {
		return malformed("offer device signing key: %v", err)
	}
	if err := prim.CheckX25519Public(o.Device.DH[:]); err != nil {
		return malformed("offer device agreement key: %v", err)
	}
	if err := prim.CheckX25519Public(o.DH[:]); err != nil {
		return malformed("offer X25519 key: %v", err)
	}
	if _, err := mlkem.NewEncapsulationKey768(o.KEM[:]); err != nil {
		return malformed("offer ML-KEM-768 key: %v", err)
	}
	return nil
}

// CheckName reports whether name is a device name a link may carry
// (spec/linking.md §3.3): 1..64 bytes of valid UTF-8 without control
// characters (C0, DEL, C1), bidirectional formatting characters or line
// and paragraph separators.
func CheckName(name string) error {
	if len(name) < MinNameLen || len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d bytes, want %d..%d", ErrInvalidName, len(name), MinNameLen, MaxNameLen)
	}
	if err := checkText(name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidName, err)
	}
	return nil
}

// checkText applies the character rules of spec/linking.md §3.3.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for i, r := range s {
		if forbiddenRune(r) {
			return fmt.Errorf("character U+%04X at byte %d not allowed", r, i)
		}
	}
	return nil
}

// forbiddenRune is the list of spec/linking.md §3.3.
func forbiddenRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f: // C0, DEL, C1 (Unicode Cc)
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, // ALM, LRM, RLM
		r >= 0x202a && r <= 0x202e, // LRE, RLE, PDF, LRO, RLO
		r >= 0x2066 && r <= 0x2069, // LRI, RLI, FSI, PDI
		r == 0x2028, r == 0x2029:   // line and paragraph separators
		return true
	}
	return false
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
