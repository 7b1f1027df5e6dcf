package group

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
)

var errNames = map[string]error{
	"malformed": ErrMalformed, "wrong_group": ErrWrongGroup, "stale_epoch": ErrStaleEpoch,
	"future_epoch": ErrFutureEpoch, "wrong_previous": ErrWrongPrevious, "unknown_author": ErrUnknownAuthor,
	"bad_signature": ErrBadSignature, "not_member": ErrNotMember, "not_admin": ErrNotAdmin,
	"already_member": ErrAlreadyMember, "already_admin": ErrAlreadyAdmin, "last_admin": ErrLastAdmin,
	"too_many_members": ErrTooManyMembers, "too_many_changes": ErrTooManyChanges,
}

func vectorLookup(accounts []vectors.GroupAccount) KeyLookup {
	m := map[string][32]byte{}
	for _, a := range accounts {
		var k [32]byte
		copy(k[:], ed25519.NewKeyFromSeed(a.Seed).Public().(ed25519.PublicKey))
		m[a.Handle] = k
	}
	return func(h string) ([32]byte, bool) { k, ok := m[h]; return k, ok }
}

// TestVectors walks spec/vectors/groups.json (spec/groups.md §9).
func TestVectors(t *testing.T) {
	f, err := vectors.Load[vectors.GroupCase]("groups.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range f.Cases {
		t.Run(tc.ID, func(t *testing.T) {
			want := errNames[tc.Error]
			if tc.Error != "" && want == nil {
				t.Fatalf("unknown error name %q", tc.Error)
			}
			lookup := vectorLookup(tc.Accounts)
			switch tc.Type {
			case "state":
				s, err := ParseState(tc.Encoding)
				if !errors.Is(err, want) || (want == nil && err != nil) {
					t.Fatalf("ParseState: %v, want %q", err, tc.Error)
				}
				if err == nil {
					h := s.Hash()
					if !bytes.Equal(s.Marshal(), tc.Encoding) || !bytes.Equal(h[:], tc.NewStateHash) {
						t.Fatal("re-encoding or hash differ")
					}
				}
			case "change":
				var s *State
				if tc.State != nil {
					if s, err = ParseState(tc.State); err != nil {
						t.Fatal(err)
					}
					if h := s.Hash(); !bytes.Equal(h[:], tc.StateHash) {
						t.Fatal("state hash differs")
					}
				}
				c, err := ParseChange(tc.Change)
				var n *State
				if err == nil {
					if id := c.ChangeID(); !bytes.Equal(id[:], tc.ChangeID) || !bytes.Equal(c.SignedMessage(), tc.SignedMessage) {
						t.Fatal("change id or signed message differ")
					}
					if !bytes.Equal(c.Marshal(), tc.Change) {
						t.Fatal("change does not re-encode")
					}
					if s == nil {
						n, err = Create(c, lookup)
					} else {
						before := s.Marshal()
						n, err = Apply(s, c, lookup)
						if !bytes.Equal(s.Marshal(), before) {
							t.Fatal("Apply changed its state")
						}
					}
				}
				if tc.Error == "" {
					if err != nil {
						t.Fatal(err)
					}
					h := n.Hash()
					if !bytes.Equal(n.Marshal(), tc.NewState) || !bytes.Equal(h[:], tc.NewStateHash) {
						t.Fatal("new state differs")
					}
				} else if !errors.Is(err, want) || n != nil {
					t.Fatalf("got %v, want %q", err, tc.Error)
				}
			case "concurrent":
				s, err := ParseState(tc.State)
				if err != nil {
					t.Fatal(err)
				}
				a, err1 := ParseChange(tc.Change)
				b, err2 := ParseChange(tc.Other)
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				ida, idb := a.ChangeID(), b.ChangeID()
				if !bytes.Equal(ida[:], tc.ChangeID) || !bytes.Equal(idb[:], tc.OtherID) {
					t.Fatal("change ids differ")
				}
				for _, order := range [][]*Change{{a, b}, {b, a}} {
					tr, err := NewTracker(s)
					if err != nil {
						t.Fatal(err)
					}
					for _, c := range order {
						if _, err := tr.Add(c, lookup); err != nil {
							t.Fatal(err)
						}
					}
					if !bytes.Equal(tr.State().Marshal(), tc.NewState) {
						t.Fatalf("winner is not %s", tc.Winner)
					}
				}
				win := a
				if tc.Winner == "other" {
					win = b
				}
				if n, err := Apply(s, win, lookup); err != nil || !bytes.Equal(n.Marshal(), tc.NewState) {
					t.Fatalf("the winner applied alone: %v", err)
				}
			default:
				t.Fatalf("unknown type %q", tc.Type)
			}
		})
	}
}
