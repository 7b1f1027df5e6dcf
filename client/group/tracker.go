package group

import (
	"bytes"
	"fmt"
)

// Bounds of a Tracker (spec/groups.md §6.2).
const (
	// Window is how many epochs below the current one a Tracker keeps:
	// a concurrent change up to Window epochs late still converges.
	Window = 16
	// MaxPending is how many changes a Tracker holds while it waits for the
	// changes they build on.
	MaxPending = 64
	// MaxStates is how many states (on every branch) a Tracker keeps.
	MaxStates = 4 * Window
)

// node is one known state; its children are the verified changes that
// apply to it. Two changes of one state can make the same state (both add
// the same member): their edges then lead to the same node.
type node struct {
	state    *State
	hash     Hash
	children []edge
}

// edge is a verified change from one node to the state it makes.
type edge struct {
	id Hash // ChangeID
	c  *Change
	to *node
}

// Tracker holds one member's view of a group (spec/groups.md §6.2): the
// states of the last Window epochs on every branch it has seen, the changes
// that made them, and changes it holds until what they build on arrives.
// Its current state is the end of the canonical chain: from the oldest state
// kept, at each state the child made by the change with the smallest
// ChangeID. That depends only on the set of changes received, not on their
// order, so members that received the same changes agree.
//
// A Tracker is not safe for concurrent use.
type Tracker struct {
	base    *node
	head    *node
	byHash  map[Hash]*node
	seen    map[Hash]bool // ChangeIDs of the edges
	pending []*Change
	pendID  map[Hash]bool
	nstates int
}

// Result is what one Tracker.Add did.
type Result struct {
	// State is the current state after the call, Changed whether it differs
	// from the one before.
	State   *State
	Changed bool
	// Duplicate: the change was known already; nothing changed.
	Duplicate bool
	// Held: the change builds on a state the Tracker does not have yet
	// (the error is ErrFutureEpoch or ErrWrongPrevious); it is kept and
	// applied when that state arrives.
	Held bool
	// Lost: the change was verified and kept, but another change of the
	// same epoch wins (§6.1); its author rebases it (Rebase).
	Lost bool
	// Applied are the changes that are now on the canonical chain and were
	// not before, oldest first; Superseded those that were and are not any
	// more (they lost a race to a change that arrived later, or build on
	// one that did). An author rebases its own superseded changes.
	Applied, Superseded []*Change
	// Refused are held changes refused when the state they build on
	// arrived, or dropped because it fell out of the window.
	Refused []Refusal
}

// Refusal is a held change that was refused later, and why.
type Refusal struct {
	Change *Change
	Err    error
}

// NewTracker returns a Tracker whose oldest state is base: the state a
// Create made, or the state a new member was given with the change that
// added it (spec/groups.md §6.4, Join).
func NewTracker(base *State) (*Tracker, error) {
	if base == nil {
		return nil, malformed("no state")
	}
	if err := base.checkFields(); err != nil {
		return nil, err
	}
	n := &node{state: base.clone(), hash: base.Hash()}
	return &Tracker{base: n, head: n, byHash: map[Hash]*node{n.hash: n}, seen: map[Hash]bool{}, pendID: map[Hash]bool{}, nstates: 1}, nil
}

// Join returns the Tracker of a member that is being added: s is the state
// an admin's Add (or a Create) applies to and c that change, which must
// name self. It refuses what Add would, and ErrNotMember when c does not
// make self a member.
func Join(s *State, c *Change, self string, lookup KeyLookup) (*Tracker, error) {
	t, err := NewTracker(s)
	if err != nil {
		return nil, err
	}
	if s.IsMember(self) {
		return nil, fmt.Errorf("%w: %s", ErrAlreadyMember, self)
	}
	r, err := t.Add(c, lookup)
	if err != nil {
		return nil, err
	}
	if !r.State.IsMember(self) {
		return nil, fmt.Errorf("%w: %s", ErrNotMember, self)
	}
	return t, nil
}

// State returns the current state. The caller must not change it.
func (t *Tracker) State() *State { return t.head.state }

// Hash returns the current state's hash.
func (t *Tracker) Hash() Hash { return t.head.hash }

// Base returns the oldest state the Tracker keeps, and Changes every change
// it keeps (on every branch, and held ones), in an order that rebuilds the
// same Tracker with Restore (or NewTracker(Base()) and Add of each change,
// which verifies every signature again). This is what a client stores.
func (t *Tracker) Base() *State { return t.base.state }

// Changes returns the changes the Tracker keeps; see Base.
func (t *Tracker) Changes() []*Change {
	var out []*Change
	done := map[*node]bool{}
	var walk func(n *node)
	walk = func(n *node) {
		if done[n] {
			return
		}
		done[n] = true
		for _, e := range n.children {
			out = append(out, e.c)
		}
		for _, e := range n.children {
			walk(e.to)
		}
	}
	walk(t.base)
	return append(out, t.pending...)
}

// canonical returns the canonical chain's edges from the base (§6.2): at
// each state, the change with the smallest ChangeID.
func (t *Tracker) canonical() []edge {
	var chain []edge
	for n := t.base; len(n.children) > 0; {
		best := n.children[0]
		for _, e := range n.children[1:] {
			if bytes.Compare(e.id[:], best.id[:]) < 0 {
				best = e
			}
		}
		chain = append(chain, best)
		n = best.to
	}
	return chain
}

// Add verifies c and adds it (spec/groups.md §6.2). A refused change
// changes nothing: the error is one of §7 and Result.State the current
// state. A held change returns ErrFutureEpoch or ErrWrongPrevious with
// Result.Held set.
func (t *Tracker) Add(c *Change, lookup KeyLookup) (Result, error) {
	return t.add(c, lookup, true)
}

// Restore rebuilds a Tracker from what Base and Changes returned, as a
// client stored them in its own encrypted store: every change is applied
// again by the rules of §5.2, but signatures are not checked again, so a
// change whose author's account key changed since it was verified stays.
func Restore(base *State, changes []*Change) (*Tracker, error) {
	t, err := NewTracker(base)
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		if _, err := t.add(c, nil, false); err != nil && !t.pendID[c.ChangeID()] {
			return nil, fmt.Errorf("group: restoring: %w", err)
		}
	}
	return t, nil
}

func (t *Tracker) add(c *Change, lookup KeyLookup, verify bool) (Result, error) {
	r := Result{State: t.head.state}
	if c == nil {
		return r, malformed("no change")
	}
	if err := c.checkFields(); err != nil {
		return r, err
	}
	if c.Group != t.base.state.ID {
		return r, ErrWrongGroup
	}
	id := c.ChangeID()
	if t.seen[id] || t.pendID[id] {
		r.Duplicate = true
		return r, nil
	}
	if verify {
		if err := c.verifySignature(lookup); err != nil {
			return r, err
		}
	}
	if c.Kind == KindCreate {
		// Only the base can be a create's state; any other create of this
		// group id is a fork of its first state.
		s, err := created(c)
		if err == nil && s.Hash() == t.base.hash && t.base.state.Epoch == 0 {
			r.Duplicate = true
			return r, nil
		}
		return r, fmt.Errorf("%w: another create of this group", ErrWrongPrevious)
	}
	parent := t.byHash[c.Prev]
	if parent == nil || parent.state.Epoch != c.Epoch {
		var err error
		switch {
		case c.Epoch < t.base.state.Epoch:
			return r, fmt.Errorf("%w: change for epoch %d, oldest kept %d", ErrStaleEpoch, c.Epoch, t.base.state.Epoch)
		case c.Epoch > t.head.state.Epoch:
			err = fmt.Errorf("%w: change for epoch %d, current %d", ErrFutureEpoch, c.Epoch, t.head.state.Epoch)
		default:
			err = fmt.Errorf("%w: change for epoch %d names a state not seen", ErrWrongPrevious, c.Epoch)
		}
		if len(t.pending) >= MaxPending {
			return r, fmt.Errorf("%w: %w", ErrTooManyChanges, err)
		}
		t.pending = append(t.pending, c)
		t.pendID[id] = true
		r.Held = true
		return r, err
	}
	s, err := applyRules(parent.state, parent.hash, c)
	if err != nil {
		return r, err
	}
	before := t.canonical()
	if t.nstates >= MaxStates {
		// Only many verified forks get here: forget every branch off the
		// canonical chain (reported), so that the chain can go on.
		r.Refused = append(r.Refused, t.dropForks(before)...)
		if t.byHash[c.Prev] != parent {
			return r, fmt.Errorf("%w: %d states kept", ErrTooManyChanges, MaxStates)
		}
	}
	t.insert(parent, c, id, s)
	// Held changes that build on what is now known.
	for progress := true; progress; {
		progress = false
		for i := 0; i < len(t.pending); i++ {
			p := t.pending[i]
			pp := t.byHash[p.Prev]
			if pp == nil || pp.state.Epoch != p.Epoch {
				continue
			}
			t.dropPending(i)
			i--
			progress = true
			if t.nstates >= MaxStates {
				r.Refused = append(r.Refused, Refusal{p, ErrTooManyChanges})
				continue
			}
			// Its signature was verified when it arrived.
			ps, err := applyRules(pp.state, pp.hash, p)
			if err != nil {
				r.Refused = append(r.Refused, Refusal{p, err})
				continue
			}
			t.insert(pp, p, p.ChangeID(), ps)
		}
	}
	after := t.canonical()
	k := 0
	for k < len(before) && k < len(after) && before[k].id == after[k].id {
		k++
	}
	for _, e := range before[k:] {
		r.Superseded = append(r.Superseded, e.c)
	}
	for _, e := range after[k:] {
		r.Applied = append(r.Applied, e.c)
	}
	old := t.head
	if len(after) > 0 {
		t.head = after[len(after)-1].to
	} else {
		t.head = t.base
	}
	r.Lost = true
	for _, e := range after {
		if e.id == id {
			r.Lost = false
		}
	}
	r.Refused = append(r.Refused, t.prune(after)...)
	r.State, r.Changed = t.head.state, t.head != old
	return r, nil
}

func (t *Tracker) insert(parent *node, c *Change, id Hash, s *State) {
	h := s.Hash()
	n := t.byHash[h]
	if n == nil {
		n = &node{state: s, hash: h}
		t.byHash[h] = n
		t.nstates++
	}
	parent.children = append(parent.children, edge{id: id, c: c, to: n})
	t.seen[id] = true
}

func (t *Tracker) dropPending(i int) {
	delete(t.pendID, t.pending[i].ChangeID())
	t.pending = append(t.pending[:i], t.pending[i+1:]...)
}

// prune moves the base along the canonical chain until the current state is
// at most Window epochs above it, forgetting every branch that leaves the
// chain below the new base, and drops held changes below it.
func (t *Tracker) prune(chain []edge) []Refusal {
	i := 0
	for t.head.state.Epoch-t.base.state.Epoch > Window {
		t.base = chain[i].to
		i++
	}
	if i == 0 {
		return nil
	}
	t.reindex()
	var out []Refusal
	for i := 0; i < len(t.pending); i++ {
		if p := t.pending[i]; p.Epoch < t.base.state.Epoch {
			out = append(out, Refusal{p, ErrStaleEpoch})
			t.dropPending(i)
			i--
		}
	}
	return out
}

// dropForks forgets every state off the canonical chain and returns the
// changes that led to them.
func (t *Tracker) dropForks(chain []edge) []Refusal {
	var out []Refusal
	n := t.base
	for _, e := range chain {
		for _, o := range n.children {
			if o.id != e.id {
				out = append(out, Refusal{o.c, ErrTooManyChanges})
			}
		}
		n.children = []edge{e}
		n = e.to
	}
	n.children = nil
	t.reindex()
	return out
}

// reindex rebuilds the maps and the count from the states under the base.
func (t *Tracker) reindex() {
	t.byHash, t.seen, t.nstates = map[Hash]*node{}, map[Hash]bool{}, 0
	var walk func(n *node)
	walk = func(n *node) {
		if t.byHash[n.hash] != nil {
			return
		}
		t.byHash[n.hash] = n
		t.nstates++
		for _, e := range n.children {
			t.seen[e.id] = true
			walk(e.to)
		}
	}
	walk(t.base)
}

// Agreement says how the state another member names (its epoch and hash,
// in a group message's context: spec/groups.md §8.4) stands to this
// Tracker's.
type Agreement int

const (
	// Same: the current state.
	Same Agreement = iota
	// Behind: a state of the canonical chain before the current one (the
	// sender had not seen the latest changes yet).
	Behind
	// Ahead: an epoch past the current state's (changes this member has
	// not received, or holds until what they build on arrives).
	Ahead
	// Forked: an epoch whose state on the canonical chain is another
	// (the two members applied different changes).
	Forked
	// Older: an epoch before the oldest state the Tracker keeps.
	Older
)

// Compare places the state of epoch with hash h against the Tracker's
// canonical chain (spec/groups.md §8.4).
func (t *Tracker) Compare(epoch uint64, h Hash) Agreement {
	head := t.head.state.Epoch
	switch {
	case epoch > head:
		return Ahead
	case epoch < t.base.state.Epoch:
		return Older
	}
	n := t.base
	for _, e := range t.canonical() {
		if n.state.Epoch == epoch {
			break
		}
		n = e.to
	}
	switch {
	case n.state.Epoch != epoch || n.hash != h:
		return Forked
	case epoch == head:
		return Same
	default:
		return Behind
	}
}

// ChangesAfter returns the changes of the canonical chain another member
// at the state of epoch with hash h lacks (spec/groups.md §8.5), oldest
// first: those after that state if it is on the canonical chain, else
// every change of the canonical chain the Tracker keeps (a member on
// another branch, or before the window, needs them to see the winner).
func (t *Tracker) ChangesAfter(epoch uint64, h Hash) []*Change {
	from := uint64(0)
	switch t.Compare(epoch, h) {
	case Same:
		return nil
	case Behind:
		from = epoch
	}
	var out []*Change
	for _, e := range t.canonical() {
		if e.c.Epoch >= from {
			out = append(out, e.c)
		}
	}
	return out
}
