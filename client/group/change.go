package group

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/sealpost/sealpost/crypto/keys"
	"golang.org/x/crypto/cryptobyte"
)

// Kind is the kind of a state change (spec/groups.md §4.1).
type Kind uint8

// Kinds of spec/groups.md §4.1.
const (
	KindCreate  Kind = 0x01
	KindAdd     Kind = 0x02
	KindRemove  Kind = 0x03
	KindLeave   Kind = 0x04
	KindRename  Kind = 0x05
	KindPromote Kind = 0x06
	KindDemote  Kind = 0x07
)

var kindNames = [...]string{"", "create", "add", "remove", "leave", "rename", "promote", "demote"}

func (k Kind) String() string {
	if k >= KindCreate && k <= KindDemote {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%#02x)", uint8(k))
}

func (k Kind) known() bool { return k >= KindCreate && k <= KindDemote }

// hasName and hasMembers say which arguments a kind carries (§4.1).
func (k Kind) hasName() bool { return k == KindCreate || k == KindRename }
func (k Kind) hasMembers() bool {
	return k == KindCreate || k == KindAdd || k == KindRemove || k == KindPromote || k == KindDemote
}

// adminOnly reports whether only an admin may author a change of kind k.
func (k Kind) adminOnly() bool { return k != KindLeave && k != KindCreate }

// Change is a signed state change (spec/groups.md §4). Members is sorted,
// each handle once; Name is set only for Create and Rename, Members only for
// Create, Add, Remove, Promote and Demote.
type Change struct {
	Group     ID
	Epoch     uint64 // the epoch of the state it applies to; 0 for Create
	Prev      Hash   // the hash of the state it applies to; zero for Create
	Author    string
	Kind      Kind
	Name      string
	Members   []string
	Signature [SignatureSize]byte
}

// checkFields checks spec/groups.md §4.4 steps 3–9 on a change built in
// memory or parsed.
func (c *Change) checkFields() error {
	if !c.Kind.known() {
		return malformed("unknown kind %#02x", uint8(c.Kind))
	}
	if c.Epoch >= MaxEpoch {
		return malformed("epoch %d", c.Epoch)
	}
	if c.Kind == KindCreate && (c.Epoch != 0 || c.Prev != (Hash{})) {
		return malformed("create at epoch %d or with a previous hash", c.Epoch)
	}
	if keys.CheckHandle(c.Author) != nil {
		return malformed("author: invalid handle")
	}
	if !c.Kind.hasName() && c.Name != "" {
		return malformed("a %s has no name", c.Kind)
	}
	if err := checkName(c.Name); err != nil {
		return err
	}
	if !c.Kind.hasMembers() {
		if len(c.Members) != 0 {
			return malformed("a %s names no members", c.Kind)
		}
		return nil
	}
	if len(c.Members) > MaxMembers {
		return malformed("%d members named", len(c.Members))
	}
	if len(c.Members) == 0 && c.Kind != KindCreate {
		return malformed("a %s names no member", c.Kind)
	}
	for i, h := range c.Members {
		if keys.CheckHandle(h) != nil {
			return malformed("member %d: invalid handle", i)
		}
		if i > 0 && c.Members[i-1] >= h {
			return malformed("members not strictly increasing")
		}
	}
	if c.Kind == KindCreate {
		if _, found := slices.BinarySearch(c.Members, c.Author); found {
			return malformed("create names its author")
		}
	}
	return nil
}

// body returns the encoding without the signature (spec/groups.md §4.2).
func (c *Change) body() []byte {
	n := 1 + IDSize + 8 + HashSize + 1 + len(c.Author) + 1 + 1 + len(c.Name) + 2
	for _, h := range c.Members {
		n += 1 + len(h)
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, n+SignatureSize))
	b.AddUint8(Version)
	b.AddBytes(c.Group[:])
	b.AddUint64(c.Epoch)
	b.AddBytes(c.Prev[:])
	b.AddUint8(uint8(len(c.Author)))
	b.AddBytes([]byte(c.Author))
	b.AddUint8(uint8(c.Kind))
	if c.Kind.hasName() {
		b.AddUint8(uint8(len(c.Name)))
		b.AddBytes([]byte(c.Name))
	}
	if c.Kind.hasMembers() {
		b.AddUint16(uint16(len(c.Members)))
		for _, h := range c.Members {
			b.AddUint8(uint8(len(h)))
			b.AddBytes([]byte(h))
		}
	}
	return b.BytesOrPanic()
}

// Body returns the encoding without the signature (spec/groups.md §4.2):
// what the author's account key signs under LabelChange, for a signer that
// adds the label itself (spec/keys.md §2.3).
func (c *Change) Body() []byte { return c.body() }

// Marshal returns the canonical encoding of c, signature included
// (spec/groups.md §4.2).
func (c *Change) Marshal() []byte { return append(c.body(), c.Signature[:]...) }

// SignedMessage returns LabelChange || 0x00 || body, the bytes the author's
// account key signs (spec/groups.md §4.3).
func (c *Change) SignedMessage() []byte {
	body := c.body()
	m := make([]byte, 0, len(LabelChange)+1+len(body))
	m = append(m, LabelChange...)
	m = append(m, 0)
	return append(m, body...)
}

// SetSignature sets the author's signature over SignedMessage.
func (c *Change) SetSignature(sig []byte) error {
	if len(sig) != SignatureSize {
		return malformed("signature of %d bytes", len(sig))
	}
	copy(c.Signature[:], sig)
	return nil
}

// ChangeID returns SHA-256(LabelChangeID || 0x00 || body): the change's
// identity, which does not cover the signature, and the key of the
// concurrent-change rule (spec/groups.md §4.3, §6.1).
func (c *Change) ChangeID() Hash {
	h := sha256.New()
	h.Write([]byte(LabelChangeID))
	h.Write([]byte{0})
	h.Write(c.body())
	var out Hash
	h.Sum(out[:0])
	return out
}

// Verify checks c's fields and its signature under the author's account
// key as lookup gives it (spec/groups.md §4.3): ErrMalformed,
// ErrUnknownAuthor or ErrBadSignature. It does not check c against a state.
func (c *Change) Verify(lookup KeyLookup) error {
	if err := c.checkFields(); err != nil {
		return err
	}
	return c.verifySignature(lookup)
}

func (c *Change) verifySignature(lookup KeyLookup) error {
	if lookup == nil {
		return fmt.Errorf("%w: %s", ErrUnknownAuthor, c.Author)
	}
	k, ok := lookup(c.Author)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownAuthor, c.Author)
	}
	// The strict key check of spec/keys.md §2.2, then crypto/ed25519's
	// cofactorless verification, which is the rule of §2.2.
	pub, err := keys.ParseAccountPublicKey(k[:])
	if err != nil {
		return fmt.Errorf("%w: author's account key refused", ErrBadSignature)
	}
	if !ed25519.Verify(pub[:], c.SignedMessage(), c.Signature[:]) {
		return ErrBadSignature
	}
	return nil
}

// ParseChange parses a canonical change encoding (spec/groups.md §4.4).
// Every refusal is ErrMalformed; the signature is not checked.
func ParseChange(data []byte) (*Change, error) {
	in := cryptobyte.String(data)
	var (
		version, kind uint8
		c             Change
		author        []byte
	)
	if !in.ReadUint8(&version) || !in.CopyBytes(c.Group[:]) || !in.ReadUint64(&c.Epoch) ||
		!in.CopyBytes(c.Prev[:]) || !in.ReadUint8LengthPrefixed((*cryptobyte.String)(&author)) ||
		!in.ReadUint8(&kind) {
		return nil, malformed("change truncated")
	}
	c.Author, c.Kind = string(author), Kind(kind)
	if version != Version {
		return nil, malformed("version %#02x", version)
	}
	if !c.Kind.known() {
		return nil, malformed("unknown kind %#02x", kind)
	}
	if c.Kind.hasName() {
		var name []byte
		if !in.ReadUint8LengthPrefixed((*cryptobyte.String)(&name)) {
			return nil, malformed("change truncated")
		}
		c.Name = string(name)
	}
	if c.Kind.hasMembers() {
		var count uint16
		if !in.ReadUint16(&count) {
			return nil, malformed("change truncated")
		}
		if int(count) > MaxMembers {
			return nil, malformed("%d members named", count)
		}
		c.Members = make([]string, 0, count)
		for range count {
			var h []byte
			if !in.ReadUint8LengthPrefixed((*cryptobyte.String)(&h)) {
				return nil, malformed("change truncated")
			}
			c.Members = append(c.Members, string(h))
		}
	}
	if !in.CopyBytes(c.Signature[:]) {
		return nil, malformed("change truncated")
	}
	if !in.Empty() {
		return nil, malformed("trailing bytes")
	}
	if err := c.checkFields(); err != nil {
		return nil, err
	}
	return &c, nil
}
