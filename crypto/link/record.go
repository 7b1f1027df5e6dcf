package link

import (
	"encoding/binary"
	"fmt"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
	"golang.org/x/crypto/cryptobyte"
)

// RecordType is the first byte of a record's plaintext (spec/linking.md §8).
type RecordType uint8

// Record types, spec/linking.md §8.
const (
	TypeAccount       RecordType = 0x01 // E→N
	TypeSnapshotChunk RecordType = 0x02 // E→N
	TypeLinked        RecordType = 0x03 // N→E
	TypeAbort         RecordType = 0x04 // both
)

func (t RecordType) String() string {
	switch t {
	case TypeAccount:
		return "Account"
	case TypeSnapshotChunk:
		return "SnapshotChunk"
	case TypeLinked:
		return "Linked"
	case TypeAbort:
		return "Abort"
	}
	return fmt.Sprintf("RecordType(%d)", uint8(t))
}

// Record is one of *Account, *SnapshotChunk, *Linked, *Abort.
type Record interface {
	Type() RecordType
	// appendBody appends the record's body, checking its fields.
	appendBody(b []byte) ([]byte, error)
}

// MarshalRecord returns type || body (spec/linking.md §8), the plaintext
// Channel.Seal encrypts. It fails with ErrMalformed if a field is outside
// spec/linking.md §8.
func MarshalRecord(r Record) ([]byte, error) {
	if r == nil {
		return nil, malformed("nil record")
	}
	return r.appendBody([]byte{byte(r.Type())})
}

// ParseRecord parses type || body, refusing anything but the canonical
// encoding of one record (ErrMalformed). The record owns its bytes: none
// alias b.
func ParseRecord(b []byte) (Record, error) {
	if len(b) == 0 {
		return nil, malformed("empty record")
	}
	s := cryptobyte.String(b[1:])
	var (
		r   Record
		err error
	)
	switch RecordType(b[0]) {
	case TypeAccount:
		r, err = parseAccount(&s)
	case TypeSnapshotChunk:
		r, err = parseSnapshotChunk(&s)
	case TypeLinked:
		r, err = parseLinked(&s)
	case TypeAbort:
		r, err = parseAbort(&s)
	default:
		return nil, malformed("record type %d", b[0])
	}
	if err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, malformed("trailing bytes after %v", RecordType(b[0]))
	}
	return r, nil
}

// Account hands N its identity in the account (spec/linking.md §8.1): the
// device certificate E made for N's device keys with the account key (it
// names the handle, N's device id and the account key), the account key's
// seed if E shares it, and the size and hash of the snapshot that follows.
// Parsing checks the structure and that the seed is the certificate's
// account key; N still checks that the certificate names its own device
// keys and verifies (spec/linking.md §8.1).
type Account struct {
	Certificate *keys.DeviceCertificate
	// AccountSeed is nil or the 32-byte seed of the account identity key.
	AccountSeed []byte
	// SnapshotSize (at most MaxSnapshot) and SnapshotHash (SHA-256) of
	// the snapshot the SnapshotChunk records carry, in order.
	SnapshotSize uint64
	SnapshotHash [HashSize]byte
}

// Type is TypeAccount.
func (*Account) Type() RecordType { return TypeAccount }

// Zero overwrites the account seed.
func (a *Account) Zero() { prim.Zero(a.AccountSeed) }

func (a *Account) appendBody(b []byte) ([]byte, error) {
	if a.Certificate == nil {
		return nil, malformed("account record without certificate")
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	// The certificate must parse back as itself.
	cert := a.Certificate.Marshal()
	if _, err := keys.ParseDeviceCertificate(cert); err != nil {
		return nil, malformed("account certificate: %v", err)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(cert)))
	b = append(b, cert...)
	b = append(b, byte(len(a.AccountSeed)))
	b = append(b, a.AccountSeed...)
	b = binary.BigEndian.AppendUint64(b, a.SnapshotSize)
	return append(b, a.SnapshotHash[:]...), nil
}

func parseAccount(s *cryptobyte.String) (*Account, error) {
	var cert, seed cryptobyte.String
	a := &Account{}
	if !s.ReadUint16LengthPrefixed(&cert) || !s.ReadUint8LengthPrefixed(&seed) ||
		!s.ReadUint64(&a.SnapshotSize) || !s.CopyBytes(a.SnapshotHash[:]) {
		return nil, malformed("truncated Account")
	}
	c, err := keys.ParseDeviceCertificate(cert)
	if err != nil {
		return nil, malformed("account certificate: %v", err)
	}
	a.Certificate = c
	if n := len(seed); n != 0 && n != prim.Ed25519SeedSize {
		return nil, malformed("account seed of %d bytes", n)
	}
	if len(seed) > 0 {
		a.AccountSeed = append([]byte(nil), seed...)
	}
	if err := a.check(); err != nil {
		a.Zero()
		return nil, err
	}
	return a, nil
}

// check applies spec/linking.md §8.1 to the fields: a seed of 0 or 32
// bytes that, if present, is the seed of the certificate's account key;
// a snapshot of at most MaxSnapshot bytes.
func (a *Account) check() error {
	if n := len(a.AccountSeed); n != 0 && n != prim.Ed25519SeedSize {
		return malformed("account seed of %d bytes", n)
	}
	if len(a.AccountSeed) > 0 {
		k, err := keys.NewAccountPrivateKey(a.AccountSeed)
		if err != nil {
			return malformed("account seed: %v", err)
		}
		pub := k.Public()
		k.Zero()
		if pub != a.Certificate.AccountKey {
			return malformed("the account seed is not the certificate's account key")
		}
	}
	if a.SnapshotSize > MaxSnapshot {
		return malformed("snapshot of %d bytes", a.SnapshotSize)
	}
	return nil
}

// SnapshotChunk carries the next 1..MaxChunk bytes of the snapshot
// (spec/linking.md §8.2).
type SnapshotChunk struct {
	Data []byte
}

// Type is TypeSnapshotChunk.
func (*SnapshotChunk) Type() RecordType { return TypeSnapshotChunk }

func (c *SnapshotChunk) appendBody(b []byte) ([]byte, error) {
	if len(c.Data) == 0 || len(c.Data) > MaxChunk {
		return nil, malformed("snapshot chunk of %d bytes", len(c.Data))
	}
	return append(b, c.Data...), nil
}

func parseSnapshotChunk(s *cryptobyte.String) (*SnapshotChunk, error) {
	if len(*s) == 0 || len(*s) > MaxChunk {
		return nil, malformed("snapshot chunk of %d bytes", len(*s))
	}
	c := &SnapshotChunk{Data: append([]byte(nil), *s...)}
	*s = nil
	return c, nil
}

// Linked tells E that N registered at the key server as the device id the
// certificate named and adopted the snapshot (spec/linking.md §8.3).
type Linked struct {
	Device keys.DeviceID
}

// Type is TypeLinked.
func (*Linked) Type() RecordType { return TypeLinked }

func (l *Linked) appendBody(b []byte) ([]byte, error) {
	if l.Device == 0 {
		return nil, malformed("linked device id 0")
	}
	return binary.BigEndian.AppendUint32(b, uint32(l.Device)), nil
}

func parseLinked(s *cryptobyte.String) (*Linked, error) {
	var id uint32
	if !s.ReadUint32(&id) {
		return nil, malformed("truncated Linked")
	}
	if id == 0 {
		return nil, malformed("linked device id 0")
	}
	return &Linked{Device: keys.DeviceID(id)}, nil
}

// AbortReason says why a side gave up (spec/linking.md §8.4). Values
// other than those listed are accepted and shown as "other".
type AbortReason uint8

// Abort reasons, spec/linking.md §8.4.
const (
	AbortOther     AbortReason = 0 // none of the below
	AbortDeclined  AbortReason = 1 // the user declined or the codes differed
	AbortTimeout   AbortReason = 2 // the other side took too long
	AbortRefused   AbortReason = 3 // a record failed a check (certificate, snapshot)
	AbortRegister  AbortReason = 4 // N's registration at the key server failed
	AbortCancelled AbortReason = 5 // the user cancelled
)

func (r AbortReason) String() string {
	switch r {
	case AbortDeclined:
		return "declined"
	case AbortTimeout:
		return "timeout"
	case AbortRefused:
		return "refused"
	case AbortRegister:
		return "register"
	case AbortCancelled:
		return "cancelled"
	}
	return "other"
}

// Abort ends the link from either side (spec/linking.md §8.4). Text is for
// people: at most MaxAbortText bytes, the characters of a device name.
type Abort struct {
	Reason AbortReason
	Text   string
}

// Type is TypeAbort.
func (*Abort) Type() RecordType { return TypeAbort }

func (a *Abort) appendBody(b []byte) ([]byte, error) {
	if err := checkAbortText(a.Text); err != nil {
		return nil, err
	}
	b = append(b, byte(a.Reason), byte(len(a.Text)))
	return append(b, a.Text...), nil
}

func checkAbortText(t string) error {
	if len(t) > MaxAbortText {
		return malformed("abort text of %d bytes", len(t))
	}
	if err := checkText(t); err != nil {
		return malformed("abort text: %v", err)
	}
	return nil
}

func parseAbort(s *cryptobyte.String) (*Abort, error) {
	var reason uint8
	var text cryptobyte.String
	if !s.ReadUint8(&reason) || !s.ReadUint8LengthPrefixed(&text) {
		return nil, malformed("truncated Abort")
	}
	a := &Abort{Reason: AbortReason(reason), Text: string(text)}
	if err := checkAbortText(a.Text); err != nil {
		return nil, err
	}
	return a, nil
}
