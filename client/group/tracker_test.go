package group

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// member is one simulated member's Tracker.
type member struct {
	name string
	tr   *Tracker
}

func deliver(t *testing.T, w *world, m *member, cs []*Change) {
	t.Helper()
	for _, c := range cs {
		r, err := m.tr.Add(c, w.lookup)
		if err != nil && !r.Held {
			t.Fatalf("%s: Add %s by %s at %d: %v", m.name, c.Kind, c.Author, c.Epoch, err)
		}
		if len(r.Refused) > 0 {
			t.Fatalf("%s: refused %v", m.name, r.Refused[0].Err)
		}
	}
}

// TestConcurrentConverges delivers two concurrent changes, changes built on
// each of them, and the rebased loser, to N members in different orders,
// and checks that every member ends in the same state.
func TestConcurrentConverges(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "dave", "erin", "frank", "grace")
	_, s0 := w.create("alice", "g", "bob", "carol", "dave")
	s1 := w.apply(s0, w.change(s0, "alice", KindPromote, "", "bob"))
	promote := w.change(s0, "alice", KindPromote, "", "bob")

	// Two admins change epoch 1 concurrently: alice adds erin, bob removes carol.
	add := w.change(s1, "alice", KindAdd, "", "erin")
	rm := w.change(s1, "bob", KindRemove, "", "carol")
	win, lose := add, rm
	if idLess(rm, add) {
		win, lose = rm, add
	}
	sWin := w.apply(s1, win)
	sLose := w.apply(s1, lose)
	// Each author goes on before it hears of the other: a rename on top of
	// its own change.
	onWin := w.change(sWin, win.Author, KindRename, "on-winner")
	onLose := w.change(sLose, lose.Author, KindRename, "on-loser")
	sWin2 := w.apply(sWin, onWin)
	// The loser's author rebases its intent on the winning chain.
	in, ok := Rebase(lose, sWin2)
	if !ok {
		t.Fatal("loser does not rebase")
	}
	rebased := w.sign(must(NewChange(sWin2, lose.Author, in)))
	sFinal := w.apply(sWin2, rebased)
	later := w.change(sFinal, "alice", KindAdd, "", "frank")
	sFinal = w.apply(sFinal, later)

	all := []*Change{promote, add, rm, onWin, onLose, rebased, later}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 40
	for i := range n {
		tr, err := NewTracker(s0)
		if err != nil {
			t.Fatal(err)
		}
		m := &member{name: string(rune('a' + i%26)), tr: tr}
		order := append([]*Change(nil), all...)
		if i > 0 {
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		deliver(t, w, m, order)
		if m.tr.Hash() != sFinal.Hash() {
			t.Fatalf("member %d (order %v) ends at epoch %d %q, want %d %q", i, kinds(order), m.tr.State().Epoch, m.tr.State().Name, sFinal.Epoch, sFinal.Name)
		}
		// Every change again: all duplicates or losers, nothing changes.
		for _, c := range all {
			r, err := m.tr.Add(c, w.lookup)
			if err != nil || !r.Duplicate || r.Changed {
				t.Fatalf("redelivery: %+v %v", r, err)
			}
		}
	}
}

// TestLoserIsReported: the member that applied the loser first rolls back
// and reports it as superseded; the one that gets the loser second reports
// it as lost.
func TestLoserIsReported(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol")
	_, s0 := w.create("alice", "g", "bob", "carol")
	p := w.change(s0, "alice", KindPromote, "", "bob")
	s1 := w.apply(s0, p)
	a := w.change(s1, "alice", KindRename, "a")
	b := w.change(s1, "bob", KindRename, "b")
	win, lose := a, b
	if idLess(b, a) {
		win, lose = b, a
	}
	tr := must(NewTracker(s1))
	if r, err := tr.Add(lose, w.lookup); err != nil || !r.Changed || r.Lost {
		t.Fatalf("loser first: %+v %v", r, err)
	}
	r, err := tr.Add(win, w.lookup)
	if err != nil || !r.Changed || r.Lost || len(r.Superseded) != 1 || r.Superseded[0] != lose || len(r.Applied) != 1 || r.Applied[0] != win {
		t.Fatalf("winner second: %+v %v", r, err)
	}
	tr = must(NewTracker(s1))
	tr.Add(win, w.lookup)
	before := tr.Hash()
	if r, err := tr.Add(lose, w.lookup); err != nil || r.Changed || !r.Lost || tr.Hash() != before {
		t.Fatalf("loser second: %+v %v", r, err)
	}
}

// TestForkBeyondWindow: a change for a state older than the window is
// refused as stale, state unchanged; a change naming a state never seen is
// held, then dropped once it falls out of the window.
func TestForkBeyondWindow(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	_, s := w.create("alice", "g", "bob")
	tr := must(NewTracker(s))
	first := s
	var orphan *Change
	for i := 0; i < Window+3; i++ {
		c := w.change(s, "alice", KindRename, itoa(i))
		if i == 1 {
			f := w.forge(s, "alice", KindRename, "fork")
			f.Prev[0] ^= 1
			orphan = w.sign(f)
			if r, err := tr.Add(orphan, w.lookup); !errors.Is(err, ErrWrongPrevious) || !r.Held {
				t.Fatalf("orphan: %+v %v", r, err)
			}
		}
		r, err := tr.Add(c, w.lookup)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range r.Refused {
			if ref.Change != orphan || !errors.Is(ref.Err, ErrStaleEpoch) {
				t.Fatalf("refused %v", ref)
			}
			orphan = nil
		}
		s = r.State
	}
	if orphan != nil {
		t.Fatal("orphan was never dropped")
	}
	deep := w.change(first, "alice", KindRename, "deep")
	before := tr.Hash()
	if r, err := tr.Add(deep, w.lookup); !errors.Is(err, ErrStaleEpoch) || r.Changed || r.Held || tr.Hash() != before {
		t.Fatalf("deep fork: %+v %v", r, err)
	}
}

func TestPendingBound(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	_, s := w.create("alice", "g", "bob")
	tr := must(NewTracker(s))
	for i := 0; i <= MaxPending; i++ {
		c := w.forge(s, "alice", KindRename, itoa(i))
		c.Epoch = 5
		w.sign(c)
		r, err := tr.Add(c, w.lookup)
		if i < MaxPending && (!r.Held || !errors.Is(err, ErrFutureEpoch)) {
			t.Fatalf("%d: %+v %v", i, r, err)
		}
		if i == MaxPending && (r.Held || !errors.Is(err, ErrTooManyChanges)) {
			t.Fatalf("over the bound: %+v %v", r, err)
		}
	}
	if tr.Hash() != s.Hash() {
		t.Fatal("state changed")
	}
}

func TestJoin(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol")
	_, s := w.create("alice", "g", "bob")
	add := w.change(s, "alice", KindAdd, "", "carol")
	tr, err := Join(s, add, "carol", w.lookup)
	if err != nil || !tr.State().IsMember("carol") {
		t.Fatalf("Join: %v", err)
	}
	if _, err := Join(s, add, "dave", w.lookup); !errors.Is(err, ErrNotMember) {
		t.Fatalf("Join of someone not added: %v", err)
	}
	if _, err := Join(s, add, "bob", w.lookup); !errors.Is(err, ErrAlreadyMember) {
		t.Fatalf("Join of a member: %v", err)
	}
}

func idLess(a, b *Change) bool {
	x, y := a.ChangeID(), b.ChangeID()
	return string(x[:]) < string(y[:])
}

func kinds(cs []*Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Kind.String()+"/"+c.Author)
	}
	return out
}

// TestSameStateSiblings: two admins add the same member concurrently; both
// changes make one state, and a change on top of it applies whichever
// arrived first.
func TestSameStateSiblings(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "dave")
	_, s0 := w.create("alice", "g", "bob")
	p := w.change(s0, "alice", KindPromote, "", "bob")
	s1 := w.apply(s0, p)
	a := w.change(s1, "alice", KindAdd, "", "carol")
	b := w.change(s1, "bob", KindAdd, "", "carol")
	s2 := w.apply(s1, a)
	if w.apply(s1, b).Hash() != s2.Hash() {
		t.Fatal("the two adds make different states")
	}
	next := w.change(s2, "bob", KindAdd, "", "dave")
	want := w.apply(s2, next)
	for _, order := range [][]*Change{{p, a, b, next}, {p, b, a, next}, {next, b, p, a}, {b, next, a, p}} {
		tr := must(NewTracker(s0))
		deliver(t, w, &member{name: "m", tr: tr}, order)
		if tr.Hash() != want.Hash() {
			t.Fatalf("order %v: epoch %d", kinds(order), tr.State().Epoch)
		}
	}
}

// TestForkFlood: an admin that signs many changes of one state fills the
// Tracker's states; it forgets the forks (reported) and goes on.
func TestForkFlood(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	_, s := w.create("alice", "g", "bob")
	tr := must(NewTracker(s))
	refused := 0
	for i := 0; i < MaxStates+5; i++ {
		r, err := tr.Add(w.change(s, "alice", KindRename, itoa(i)), w.lookup)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		refused += len(r.Refused)
	}
	if refused == 0 || tr.nstates > MaxStates {
		t.Fatalf("refused %d, states %d", refused, tr.nstates)
	}
	r, err := tr.Add(w.change(tr.State(), "alice", KindRename, "after"), w.lookup)
	if err != nil || !r.Changed || tr.State().Name != "after" {
		t.Fatalf("after the flood: %+v %v", r, err)
	}
}

// TestHeldThenRefused: a held change whose state arrives but which breaks a
// rule there is reported as refused, and the state is the one without it.
func TestHeldThenRefused(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol")
	_, s0 := w.create("alice", "g", "bob")
	add := w.change(s0, "alice", KindAdd, "", "carol")
	s1 := w.apply(s0, add)
	bad := w.forge(s1, "bob", KindRename, "not an admin") // bob is no admin
	tr := must(NewTracker(s0))
	if r, err := tr.Add(bad, w.lookup); !errors.Is(err, ErrFutureEpoch) || !r.Held {
		t.Fatalf("held: %+v %v", r, err)
	}
	r, err := tr.Add(add, w.lookup)
	if err != nil || len(r.Refused) != 1 || r.Refused[0].Change != bad || !errors.Is(r.Refused[0].Err, ErrNotAdmin) || tr.Hash() != s1.Hash() {
		t.Fatalf("%+v %v", r, err)
	}
}

// TestRebuild: NewTracker(Base()) and Add of every Changes() gives the same
// Tracker, which is what a client stores.
func TestRebuild(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol")
	_, s0 := w.create("alice", "g", "bob")
	s1 := w.apply(s0, w.change(s0, "alice", KindPromote, "", "bob"))
	tr := must(NewTracker(s0))
	for _, c := range []*Change{
		w.change(s0, "alice", KindPromote, "", "bob"),
		w.change(s1, "alice", KindRename, "a"),
		w.change(s1, "bob", KindRename, "b"),
		w.forge(&State{ID: s0.ID, Epoch: 7}, "alice", KindLeave, ""), // held
	} {
		tr.Add(c, w.lookup)
	}
	re := must(NewTracker(tr.Base()))
	for _, c := range tr.Changes() {
		re.Add(c, w.lookup)
	}
	if re.Hash() != tr.Hash() || len(re.Changes()) != len(tr.Changes()) || len(tr.Changes()) != 4 {
		t.Fatalf("rebuilt: %d changes, %d", len(re.Changes()), len(tr.Changes()))
	}
	// Restore needs no keys: an author's key may have changed since.
	rs, err := Restore(tr.Base(), tr.Changes())
	if err != nil || rs.Hash() != tr.Hash() || len(rs.Changes()) != 4 {
		t.Fatalf("Restore: %v", err)
	}
}

// TestRandomForksConverge: members working on stale views make a tree of
// valid changes (every one signed on a state some member had); members that
// receive all of them, in random orders, end in one state.
func TestRandomForksConverge(t *testing.T) {
	people := []string{"ann", "ben", "cat", "dan", "eve", "fay", "gus", "hal", "ivy"}
	w := newWorld(t, people...)
	_, s0 := w.create("ann", "g", "ben", "cat", "dan", "eve")
	s0 = w.apply(s0, w.change(s0, "ann", KindPromote, "", "ben", "cat"))
	rng := rand.New(rand.NewPCG(7, 9))
	for round := range 20 {
		states := []*State{s0}
		var all []*Change
		for len(all) < 30 {
			s := states[rng.IntN(len(states))]
			if s.Epoch >= s0.Epoch+12 || len(s.Members) == 0 {
				continue
			}
			author := s.Members[rng.IntN(len(s.Members))].Handle
			var in Intent
			switch k := Kind(2 + rng.IntN(6)); k {
			case KindAdd, KindRemove, KindPromote, KindDemote:
				in = Intent{Kind: k, Members: []string{people[rng.IntN(len(people))]}}
			case KindRename:
				in = Intent{Kind: k, Name: itoa(rng.IntN(3))}
			default:
				in = Intent{Kind: k}
			}
			c, err := NewChange(s, author, in)
			if err != nil {
				continue
			}
			w.sign(c)
			all = append(all, c)
			states = append(states, w.apply(s, c))
		}
		var want Hash
		for i := range 8 {
			tr := must(NewTracker(s0))
			order := append([]*Change(nil), all...)
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
			for _, c := range order {
				r, err := tr.Add(c, w.lookup)
				if err != nil && !r.Held {
					t.Fatalf("round %d: %v", round, err)
				}
				if len(r.Refused) > 0 {
					t.Fatalf("round %d: refused %v", round, r.Refused[0].Err)
				}
			}
			if len(tr.pending) != 0 {
				t.Fatalf("round %d: %d changes still held", round, len(tr.pending))
			}
			if i == 0 {
				want = tr.Hash()
			} else if tr.Hash() != want {
				t.Fatalf("round %d: member %d ends at epoch %d, member 0 elsewhere", round, i, tr.State().Epoch)
			}
		}
	}
}

// TestCompare (spec/groups.md §8.4): a state another member names is the
// current one, one before it on the canonical chain, one past it, one of a
// losing branch (forked), or older than the window.
func TestCompare(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "dave")
	_, s0 := w.create("alice", "g", "bob", "carol")
	p := w.change(s0, "alice", KindPromote, "", "bob")
	s1 := w.apply(s0, p)
	a := w.change(s1, "alice", KindRename, "a")
	b := w.change(s1, "bob", KindRename, "b")
	win, lose := a, b
	if idLess(b, a) {
		win, lose = b, a
	}
	sWin, sLose := w.apply(s1, win), w.apply(s1, lose)
	tr := must(NewTracker(s0))
	for _, c := range []*Change{p, win, lose} {
		if _, err := tr.Add(c, w.lookup); err != nil {
			t.Fatal(err)
		}
	}
	next := w.apply(sWin, w.change(sWin, "alice", KindAdd, "", "dave"))
	for _, c := range []struct {
		name  string
		epoch uint64
		h     Hash
		want  Agreement
	}{
		{"current", sWin.Epoch, sWin.Hash(), Same},
		{"before", s1.Epoch, s1.Hash(), Behind},
		{"first", s0.Epoch, s0.Hash(), Behind},
		{"losing branch", sLose.Epoch, sLose.Hash(), Forked},
		{"unknown state of a kept epoch", s1.Epoch, sWin.Hash(), Forked},
		{"ahead", next.Epoch, next.Hash(), Ahead},
	} {
		if got := tr.Compare(c.epoch, c.h); got != c.want {
			t.Errorf("%s: Compare = %d, want %d", c.name, got, c.want)
		}
	}
	if got := tr.ChangesAfter(s0.Epoch, s0.Hash()); len(got) != 2 || got[0] != p || got[1] != win {
		t.Errorf("ChangesAfter(first state) = %v, want the promotion and the winner", kinds(got))
	}
	if got := tr.ChangesAfter(sLose.Epoch, sLose.Hash()); len(got) != 2 || got[1] != win {
		t.Errorf("ChangesAfter(losing branch) = %v, want the whole canonical chain", kinds(got))
	}
	if got := tr.ChangesAfter(sWin.Epoch, sWin.Hash()); len(got) != 0 {
		t.Errorf("ChangesAfter(current) = %v, want none", kinds(got))
	}
	late := must(NewTracker(s1))
	if got := late.Compare(s0.Epoch, s0.Hash()); got != Older {
		t.Errorf("before the oldest kept state: %d, want Older", got)
	}
}
