package group

import (
	"fmt"
	"slices"
	"strings"
)

// Create verifies a Create change and returns the state it makes: epoch 0,
// the change's name, its author as the one admin and the members it names
// (spec/groups.md §5.1).
func Create(c *Change, lookup KeyLookup) (*State, error) {
	if err := c.checkFields(); err != nil {
		return nil, err
	}
	if c.Kind != KindCreate {
		return nil, malformed("a %s is not a create", c.Kind)
	}
	if err := c.verifySignature(lookup); err != nil {
		return nil, err
	}
	return created(c)
}

func created(c *Change) (*State, error) {
	if 1+len(c.Members) > MaxMembers {
		return nil, ErrTooManyMembers
	}
	s := &State{ID: c.Group, Name: c.Name, Members: make([]Member, 0, 1+len(c.Members))}
	for _, h := range c.Members {
		s.Members = append(s.Members, Member{Handle: h})
	}
	s.Members = append(s.Members, Member{Handle: c.Author, Admin: true})
	slices.SortFunc(s.Members, func(a, b Member) int { return strings.Compare(a.Handle, b.Handle) })
	return s, nil
}

// Apply verifies c against s and returns the state it makes, at epoch
// s.Epoch+1 with Prev = s.Hash() (spec/groups.md §5). The checks run in
// the order of §5.2; the first that fails is returned and s is not
// changed. lookup gives the author's account key.
func Apply(s *State, c *Change, lookup KeyLookup) (*State, error) {
	return apply(s, s.Hash(), c, lookup)
}

// apply is Apply with the hash of s already computed.
func apply(s *State, sh Hash, c *Change, lookup KeyLookup) (*State, error) {
	if err := checkPosition(s, sh, c); err != nil {
		return nil, err
	}
	if err := c.verifySignature(lookup); err != nil {
		return nil, err
	}
	return applyRules(s, sh, c)
}

// checkPosition is §5.2 steps 1–5: the change is well formed, for this
// group, this epoch and this state.
func checkPosition(s *State, sh Hash, c *Change) error {
	if err := c.checkFields(); err != nil {
		return err
	}
	if c.Group != s.ID {
		return ErrWrongGroup
	}
	switch {
	case c.Epoch < s.Epoch:
		return fmt.Errorf("%w: change for epoch %d, state at %d", ErrStaleEpoch, c.Epoch, s.Epoch)
	case c.Epoch > s.Epoch:
		return fmt.Errorf("%w: change for epoch %d, state at %d", ErrFutureEpoch, c.Epoch, s.Epoch)
	case c.Prev != sh:
		return ErrWrongPrevious
	case c.Kind == KindCreate:
		// A create has a zero previous hash, which no state hash is.
		return malformed("create applied to a state")
	}
	return nil
}

// applyRules is §5.2 steps 8–9 and §5.3: the author's role and the kind's
// rules, then the new state.
func applyRules(s *State, sh Hash, c *Change) (*State, error) {
	ai, isMember := s.find(c.Author)
	if !isMember {
		return nil, fmt.Errorf("%w: author %s", ErrNotMember, c.Author)
	}
	if c.Kind.adminOnly() && !s.Members[ai].Admin {
		return nil, fmt.Errorf("%w: author %s", ErrNotAdmin, c.Author)
	}
	n := s.clone()
	n.Epoch, n.Prev = s.Epoch+1, sh
	switch c.Kind {
	case KindAdd:
		for _, h := range c.Members {
			if s.IsMember(h) {
				return nil, fmt.Errorf("%w: %s", ErrAlreadyMember, h)
			}
		}
		if len(s.Members)+len(c.Members) > MaxMembers {
			return nil, ErrTooManyMembers
		}
		for _, h := range c.Members {
			n.Members = append(n.Members, Member{Handle: h})
		}
		slices.SortFunc(n.Members, func(a, b Member) int { return strings.Compare(a.Handle, b.Handle) })
	case KindRemove:
		for _, h := range c.Members {
			if !s.IsMember(h) {
				return nil, fmt.Errorf("%w: %s", ErrNotMember, h)
			}
		}
		n.Members = slices.DeleteFunc(n.Members, func(m Member) bool {
			_, named := slices.BinarySearch(c.Members, m.Handle)
			return named
		})
		ensureAdmin(n)
	case KindLeave:
		n.Members = slices.Delete(n.Members, ai, ai+1)
		ensureAdmin(n)
	case KindRename:
		n.Name = c.Name
	case KindPromote:
		for _, h := range c.Members {
			i, ok := s.find(h)
			if !ok {
				return nil, fmt.Errorf("%w: %s", ErrNotMember, h)
			}
			if s.Members[i].Admin {
				return nil, fmt.Errorf("%w: %s", ErrAlreadyAdmin, h)
			}
			n.Members[i].Admin = true
		}
	case KindDemote:
		for _, h := range c.Members {
			i, ok := s.find(h)
			if !ok {
				return nil, fmt.Errorf("%w: %s", ErrNotMember, h)
			}
			if !s.Members[i].Admin {
				return nil, fmt.Errorf("%w: %s", ErrNotAdmin, h)
			}
			n.Members[i].Admin = false
		}
		if n.adminCount() == 0 {
			return nil, ErrLastAdmin
		}
	}
	return n, nil
}

// ensureAdmin is the rule of spec/groups.md §5.3: a group with members but
// no admin left (the last admin left or was removed) makes its first member
// in byte order an admin.
func ensureAdmin(s *State) {
	if len(s.Members) > 0 && s.adminCount() == 0 {
		s.Members[0].Admin = true
	}
}

// Intent is what a change does, without its position or signature: its
// kind and arguments (spec/groups.md §6.3).
type Intent struct {
	Kind    Kind
	Name    string
	Members []string
}

// NewCreate returns an unsigned Create change of group id by author, with
// a name and the other first members (in any order; spec/groups.md §4).
func NewCreate(id ID, author, name string, members []string) (*Change, error) {
	c := &Change{Group: id, Author: author, Kind: KindCreate, Name: name, Members: sortedCopy(members)}
	if err := c.checkFields(); err != nil {
		return nil, err
	}
	if _, err := created(c); err != nil {
		return nil, err
	}
	return c, nil
}

// NewChange returns the unsigned change that applies in to s on behalf of
// author, after checking that it would apply (every rule of §5.2 but the
// signature's). The caller signs SignedMessage with the author's account
// key and sets the signature with SetSignature.
func NewChange(s *State, author string, in Intent) (*Change, error) {
	sh := s.Hash()
	c := &Change{Group: s.ID, Epoch: s.Epoch, Prev: sh, Author: author, Kind: in.Kind, Name: in.Name, Members: sortedCopy(in.Members)}
	if err := checkPosition(s, sh, c); err != nil {
		return nil, err
	}
	if _, err := applyRules(s, sh, c); err != nil {
		return nil, err
	}
	return c, nil
}

func sortedCopy(hs []string) []string {
	if len(hs) == 0 {
		return nil
	}
	out := slices.Clone(hs)
	slices.Sort(out)
	return out
}

// Rebase returns what is left of a change that lost a race (§6.3) once s,
// the state that won, is in place: the intent its author may sign again
// on top of s, or false when nothing of it still applies. Members already
// added, already removed, already promoted or demoted are dropped from the
// intent; a rename to the name s already has is dropped; a change whose
// author may no longer make it is dropped whole. A Create never rebases.
// The package cannot sign for the author: only the author's client calls
// Rebase on its own changes, and signs the result with NewChange.
func Rebase(loser *Change, s *State) (Intent, bool) {
	if loser == nil || s == nil || loser.Group != s.ID || loser.Kind == KindCreate || !loser.Kind.known() {
		return Intent{}, false
	}
	if !s.IsMember(loser.Author) || (loser.Kind.adminOnly() && !s.IsAdmin(loser.Author)) {
		return Intent{}, false
	}
	in := Intent{Kind: loser.Kind}
	keep := func(ok func(string) bool) bool {
		for _, h := range loser.Members {
			if ok(h) {
				in.Members = append(in.Members, h)
			}
		}
		return len(in.Members) > 0
	}
	var ok bool
	switch loser.Kind {
	case KindAdd:
		ok = keep(func(h string) bool { return !s.IsMember(h) }) && len(s.Members)+len(in.Members) <= MaxMembers
	case KindRemove:
		ok = keep(s.IsMember)
	case KindLeave:
		ok = true
	case KindRename:
		in.Name = loser.Name
		ok = s.Name != loser.Name
	case KindPromote:
		ok = keep(func(h string) bool { return s.IsMember(h) && !s.IsAdmin(h) })
	case KindDemote:
		ok = keep(s.IsAdmin) && len(in.Members) < s.adminCount()
	}
	if !ok {
		return Intent{}, false
	}
	return in, true
}
