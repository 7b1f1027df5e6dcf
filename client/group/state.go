package group

import (
	"crypto/sha256"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sealpost/sealpost/crypto/keys"
	"golang.org/x/crypto/cryptobyte"
)

// Member roles in a state's encoding (spec/groups.md §3.1).
const (
	roleMember = 0x00
	roleAdmin  = 0x01
)

// Member is one member of a group: its handle and whether it is an admin.
type Member struct {
	Handle string
	Admin  bool
}

// State is a group's state at one epoch (spec/groups.md §3). Members are
// sorted by handle, byte for byte, each handle once. A State is never
// changed in place by this package: Apply returns a new one.
type State struct {
	ID      ID
	Epoch   uint64
	Prev    Hash // the hash of the state at Epoch-1; zero at epoch 0
	Name    string
	Members []Member
}

// find returns the index of handle in s.Members and whether it is there.
func (s *State) find(handle string) (int, bool) {
	return slices.BinarySearchFunc(s.Members, handle, func(m Member, h string) int { return strings.Compare(m.Handle, h) })
}

// IsMember reports whether handle is a member.
func (s *State) IsMember(handle string) bool {
	_, ok := s.find(handle)
	return ok
}

// IsAdmin reports whether handle is an admin.
func (s *State) IsAdmin(handle string) bool {
	i, ok := s.find(handle)
	return ok && s.Members[i].Admin
}

// Handles returns the members' handles, sorted.
func (s *State) Handles() []string {
	out := make([]string, len(s.Members))
	for i, m := range s.Members {
		out[i] = m.Handle
	}
	return out
}

// Admins returns the admins' handles, sorted.
func (s *State) Admins() []string {
	var out []string
	for _, m := range s.Members {
		if m.Admin {
			out = append(out, m.Handle)
		}
	}
	return out
}

func (s *State) adminCount() int {
	n := 0
	for _, m := range s.Members {
		if m.Admin {
			n++
		}
	}
	return n
}

func (s *State) clone() *State {
	c := *s
	c.Members = slices.Clone(s.Members)
	return &c
}

// checkFields checks the rules of spec/groups.md §3.3 steps 3–8 on a state
// built in memory or parsed.
func (s *State) checkFields() error {
	if s.Epoch > MaxEpoch {
		return malformed("epoch above 2^62")
	}
	if s.Epoch == 0 && s.Prev != (Hash{}) {
		return malformed("previous hash at epoch 0")
	}
	if err := checkName(s.Name); err != nil {
		return err
	}
	if len(s.Members) > MaxMembers {
		return malformed("%d members", len(s.Members))
	}
	admins := 0
	for i, m := range s.Members {
		if keys.CheckHandle(m.Handle) != nil {
			return malformed("member %d: invalid handle", i)
		}
		if i > 0 && s.Members[i-1].Handle >= m.Handle {
			return malformed("members not strictly increasing")
		}
		if m.Admin {
			admins++
		}
	}
	if len(s.Members) > 0 && admins == 0 {
		return malformed("no admin")
	}
	return nil
}

func checkName(name string) error {
	if len(name) > MaxNameLen {
		return malformed("name of %d bytes", len(name))
	}
	if !utf8.ValidString(name) {
		return malformed("name not UTF-8")
	}
	return nil
}

// Marshal returns the canonical encoding of s (spec/groups.md §3.1).
func (s *State) Marshal() []byte {
	n := 1 + IDSize + 8 + HashSize + 1 + len(s.Name) + 2
	for _, m := range s.Members {
		n += 2 + len(m.Handle)
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, n))
	b.AddUint8(Version)
	b.AddBytes(s.ID[:])
	b.AddUint64(s.Epoch)
	b.AddBytes(s.Prev[:])
	b.AddUint8(uint8(len(s.Name)))
	b.AddBytes([]byte(s.Name))
	b.AddUint16(uint16(len(s.Members)))
	for _, m := range s.Members {
		role := uint8(roleMember)
		if m.Admin {
			role = roleAdmin
		}
		b.AddUint8(role)
		b.AddUint8(uint8(len(m.Handle)))
		b.AddBytes([]byte(m.Handle))
	}
	return b.BytesOrPanic()
}

// Hash returns StateHash(s) = SHA-256(LabelState || 0x00 || Marshal(s))
// (spec/groups.md §3.2).
func (s *State) Hash() Hash {
	h := sha256.New()
	h.Write([]byte(LabelState))
	h.Write([]byte{0})
	h.Write(s.Marshal())
	var out Hash
	h.Sum(out[:0])
	return out
}

// ParseState parses a canonical state encoding (spec/groups.md §3.3).
// Every refusal is ErrMalformed.
func ParseState(data []byte) (*State, error) {
	in := cryptobyte.String(data)
	var (
		version uint8
		s       State
		name    []byte
		count   uint16
	)
	if !in.ReadUint8(&version) || !in.CopyBytes(s.ID[:]) || !in.ReadUint64(&s.Epoch) ||
		!in.CopyBytes(s.Prev[:]) || !in.ReadUint8LengthPrefixed((*cryptobyte.String)(&name)) ||
		!in.ReadUint16(&count) {
		return nil, malformed("state truncated")
	}
	if int(count) > MaxMembers {
		return nil, malformed("%d members", count)
	}
	s.Members = make([]Member, 0, count)
	for range count {
		var role uint8
		var h []byte
		if !in.ReadUint8(&role) || !in.ReadUint8LengthPrefixed((*cryptobyte.String)(&h)) {
			return nil, malformed("state truncated")
		}
		if role != roleMember && role != roleAdmin {
			return nil, malformed("role %#02x", role)
		}
		s.Members = append(s.Members, Member{Handle: string(h), Admin: role == roleAdmin})
	}
	if !in.Empty() {
		return nil, malformed("trailing bytes")
	}
	if version != Version {
		return nil, malformed("version %#02x", version)
	}
	s.Name = string(name)
	if err := s.checkFields(); err != nil {
		return nil, err
	}
	return &s, nil
}
