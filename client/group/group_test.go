package group

import (
	"bytes"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
)

func TestLifecycle(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "dave", "erin")
	c0, s := w.create("alice", "lunch", "carol", "bob")
	if s.Epoch != 0 || s.Prev != (Hash{}) || s.Name != "lunch" {
		t.Fatalf("create: %+v", s)
	}
	if got := s.Handles(); !slices.Equal(got, []string{"alice", "bob", "carol"}) {
		t.Fatalf("members %v", got)
	}
	if got := s.Admins(); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("admins %v", got)
	}
	roundTrip(t, s, c0)

	steps := []struct {
		author  string
		kind    Kind
		name    string
		members []string
		check   func(*State) bool
	}{
		{"alice", KindAdd, "", []string{"erin", "dave"}, func(s *State) bool { return s.IsMember("dave") && s.IsMember("erin") && !s.IsAdmin("dave") }},
		{"alice", KindPromote, "", []string{"bob"}, func(s *State) bool { return s.IsAdmin("bob") }},
		{"bob", KindRename, "dinner", nil, func(s *State) bool { return s.Name == "dinner" }},
		{"bob", KindRemove, "", []string{"carol"}, func(s *State) bool { return !s.IsMember("carol") }},
		{"bob", KindDemote, "", []string{"alice"}, func(s *State) bool { return !s.IsAdmin("alice") && s.IsMember("alice") }},
		{"dave", KindLeave, "", nil, func(s *State) bool { return !s.IsMember("dave") }},
		{"alice", KindLeave, "", nil, func(s *State) bool { return slices.Equal(s.Handles(), []string{"bob", "erin"}) }},
	}
	for i, st := range steps {
		c := w.change(s, st.author, st.kind, st.name, st.members...)
		roundTrip(t, s, c)
		n := w.apply(s, c)
		if n.Epoch != s.Epoch+1 || n.Prev != s.Hash() || !st.check(n) {
			t.Fatalf("step %d (%s): %+v", i, st.kind, n)
		}
		s = n
	}
	// bob, the last admin, leaves: erin, the first remaining member, becomes admin.
	s = w.apply(s, w.change(s, "bob", KindLeave, ""))
	if !slices.Equal(s.Admins(), []string{"erin"}) {
		t.Fatalf("admins after the last admin left: %v", s.Admins())
	}
	s = w.apply(s, w.change(s, "erin", KindLeave, ""))
	if len(s.Members) != 0 || s.Epoch != 9 {
		t.Fatalf("empty group: %+v", s)
	}
	roundTrip(t, s, nil)
	// No one can change an empty group.
	if _, err := Apply(s, w.forge(s, "erin", KindAdd, "", "bob"), w.lookup); !errors.Is(err, ErrNotMember) {
		t.Fatalf("change of an empty group: %v", err)
	}
}

func TestRemoveLastAdminPromotesFirstMember(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol")
	_, s := w.create("alice", "", "carol", "bob")
	s = w.apply(s, w.change(s, "alice", KindRemove, "", "alice", "bob"))
	if !slices.Equal(s.Admins(), []string{"carol"}) || !slices.Equal(s.Handles(), []string{"carol"}) {
		t.Fatalf("%+v", s)
	}
}

// roundTrip checks marshal(parse(x)) == x for a state and a change.
func roundTrip(t *testing.T, s *State, c *Change) {
	t.Helper()
	enc := s.Marshal()
	p, err := ParseState(enc)
	if err != nil {
		t.Fatalf("ParseState: %v", err)
	}
	if !bytes.Equal(p.Marshal(), enc) || p.Hash() != s.Hash() {
		t.Fatal("state does not round-trip")
	}
	if c == nil {
		return
	}
	enc = c.Marshal()
	pc, err := ParseChange(enc)
	if err != nil {
		t.Fatalf("ParseChange: %v", err)
	}
	if !bytes.Equal(pc.Marshal(), enc) || pc.ChangeID() != c.ChangeID() {
		t.Fatal("change does not round-trip")
	}
}

// TestRefusals applies each refused change to a fixed state, directly and
// through a Tracker, and checks the error and that nothing changed.
func TestRefusals(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "dave", "mallory")
	_, s0 := w.create("alice", "g", "bob", "carol")
	s := w.apply(s0, w.change(s0, "alice", KindPromote, "", "bob"))
	other := newWorld(t, "alice")
	other.gid[0] ^= 1
	_, os := other.create("alice", "g")

	badSig := w.forge(s, "alice", KindRename, "x")
	badSig.Signature[0] ^= 1
	wrongKey := w.forge(s, "alice", KindRename, "x")
	w.keys["alice"], w.keys["mallory"] = w.keys["mallory"], w.keys["alice"]
	w.sign(wrongKey)
	w.keys["alice"], w.keys["mallory"] = w.keys["mallory"], w.keys["alice"]
	stale := w.forge(s, "alice", KindRename, "x")
	stale.Epoch, stale.Prev = 0, s0.Hash()
	w.sign(stale)
	future := w.forge(s, "alice", KindRename, "x")
	future.Epoch++
	w.sign(future)
	fork := w.forge(s, "alice", KindRename, "x")
	fork.Prev[0] ^= 1
	w.sign(fork)
	wrongGroup := other.forge(os, "alice", KindRename, "x")
	wrongGroup.Epoch, wrongGroup.Prev = s.Epoch, s.Hash()
	other.sign(wrongGroup)
	big := make([]string, 0, MaxMembers)
	for i := 0; len(big) < MaxMembers-2; i++ {
		big = append(big, "m"+strings.Repeat("0", 3)+itoa(i))
	}
	for _, h := range big {
		if _, ok := w.keys[h]; !ok {
			w.keys[h] = w.keys["dave"]
		}
	}
	malformedSorted := w.forge(s, "alice", KindAdd, "", "dave")
	malformedSorted.Members = []string{"erin", "dave"}
	w.sign(malformedSorted)

	cases := []struct {
		name string
		c    *Change
		want error
	}{
		{"unsorted members", malformedSorted, ErrMalformed},
		{"wrong group", wrongGroup, ErrWrongGroup},
		{"stale epoch", stale, ErrStaleEpoch},
		{"future epoch", future, ErrFutureEpoch},
		{"wrong previous", fork, ErrWrongPrevious},
		{"unknown author", w.forge(s, "zed", KindLeave, ""), ErrUnknownAuthor},
		{"bad signature", badSig, ErrBadSignature},
		{"signed by another key", wrongKey, ErrBadSignature},
		{"author not a member", w.forge(s, "mallory", KindAdd, "", "dave"), ErrNotMember},
		{"leave by a non-member", w.forge(s, "mallory", KindLeave, ""), ErrNotMember},
		{"add by a non-admin", w.forge(s, "carol", KindAdd, "", "dave"), ErrNotAdmin},
		{"rename by a non-admin", w.forge(s, "carol", KindRename, "y"), ErrNotAdmin},
		{"add a member", w.forge(s, "alice", KindAdd, "", "bob", "dave"), ErrAlreadyMember},
		{"remove a non-member", w.forge(s, "alice", KindRemove, "", "dave"), ErrNotMember},
		{"promote a non-member", w.forge(s, "alice", KindPromote, "", "dave"), ErrNotMember},
		{"promote an admin", w.forge(s, "alice", KindPromote, "", "bob"), ErrAlreadyAdmin},
		{"demote a non-admin", w.forge(s, "alice", KindDemote, "", "carol"), ErrNotAdmin},
		{"demote every admin", w.forge(s, "alice", KindDemote, "", "alice", "bob"), ErrLastAdmin},
		{"too many members", w.forge(s, "alice", KindAdd, "", big...), ErrTooManyMembers},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Marshal()
			n, err := Apply(s, tc.c, w.lookup)
			if !errors.Is(err, tc.want) || n != nil {
				t.Fatalf("Apply: %v, want %v", err, tc.want)
			}
			if !bytes.Equal(s.Marshal(), before) {
				t.Fatal("Apply changed the state")
			}
			// Through a Tracker at s: the same refusal (held for the two
			// that name a state it has not seen), the state unchanged.
			tr, err := NewTracker(s)
			if err != nil {
				t.Fatal(err)
			}
			r, err := tr.Add(tc.c, w.lookup)
			if !errors.Is(err, tc.want) || r.Changed || tr.Hash() != s.Hash() {
				t.Fatalf("Tracker.Add: %v (changed %v), want %v", err, r.Changed, tc.want)
			}
			held := tc.want == ErrFutureEpoch || tc.want == ErrWrongPrevious
			if r.Held != held {
				t.Fatalf("held %v, want %v", r.Held, held)
			}
			if enc := tc.c.Marshal(); tc.want != ErrMalformed {
				if _, err := ParseChange(enc); err != nil {
					t.Fatalf("the refused change does not parse: %v", err)
				}
			}
		})
	}
}

func itoa(i int) string {
	return string([]byte{byte('0' + i/1000%10), byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}

func TestParseRefusals(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	c, s := w.create("alice", "g", "bob")
	st, ch := s.Marshal(), c.Marshal()
	mut := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
	states := map[string][]byte{
		"empty":           nil,
		"truncated":       st[:len(st)-1],
		"trailing":        append(bytes.Clone(st), 0),
		"version":         mut(st, func(b []byte) []byte { b[0] = 2; return b }),
		"prev at epoch 0": mut(st, func(b []byte) []byte { b[41] = 1; return b }),
		"epoch too large": mut(st, func(b []byte) []byte { b[33] = 0x40; b[40] = 1; return b }),
		"bad role":        mut(st, func(b []byte) []byte { b[1+32+8+32+1+1+2] = 2; return b }),
		"no admin":        mut(st, func(b []byte) []byte { b[1+32+8+32+1+1+2] = 0; return b }),
		"name not utf-8":  mut(st, func(b []byte) []byte { b[1+32+8+32+1] = 0xff; return b }),
		"unsorted":        (&State{ID: s.ID, Name: "g", Members: []Member{{"bob", false}, {"alice", true}}}).Marshal(),
		"twice":           (&State{ID: s.ID, Name: "g", Members: []Member{{"bob", true}, {"bob", false}}}).Marshal(),
		"handle":          (&State{ID: s.ID, Name: "g", Members: []Member{{"Bob", true}}}).Marshal(),
	}
	for name, b := range states {
		if _, err := ParseState(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("state %s: %v", name, err)
		}
	}
	changes := map[string][]byte{
		"empty":                   nil,
		"truncated":               ch[:len(ch)-1],
		"trailing":                append(bytes.Clone(ch), 0),
		"version":                 mut(ch, func(b []byte) []byte { b[0] = 2; return b }),
		"kind":                    mut(ch, func(b []byte) []byte { b[1+32+8+32+1+5] = 8; return b }),
		"create at epoch":         mut(ch, func(b []byte) []byte { b[40] = 1; return b }),
		"create with prev":        mut(ch, func(b []byte) []byte { b[41] = 1; return b }),
		"create names its author": (&Change{Group: s.ID, Author: "alice", Kind: KindCreate, Members: []string{"alice"}}).Marshal(),
		"add nobody":              (&Change{Group: s.ID, Author: "alice", Kind: KindAdd}).Marshal(),
		"leave with members":      append((&Change{Group: s.ID, Author: "alice", Kind: KindLeave}).body(), make([]byte, 2+SignatureSize)...),
		"name too long":           (&Change{Group: s.ID, Author: "alice", Kind: KindRename, Name: strings.Repeat("x", 129)}).Marshal(),
		"epoch max":               (&Change{Group: s.ID, Epoch: MaxEpoch, Author: "alice", Kind: KindLeave}).Marshal(),
	}
	for name, b := range changes {
		if _, err := ParseChange(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("change %s: %v", name, err)
		}
	}
}

func TestRebase(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "dave", "erin")
	_, s := w.create("alice", "g", "bob", "carol")
	s = w.apply(s, w.change(s, "alice", KindPromote, "", "bob"))
	// alice adds dave and erin while bob adds dave: bob's wins.
	mine := w.change(s, "alice", KindAdd, "", "dave", "erin")
	won := w.apply(s, w.change(s, "bob", KindAdd, "", "dave"))
	in, ok := Rebase(mine, won)
	if !ok || in.Kind != KindAdd || !slices.Equal(in.Members, []string{"erin"}) {
		t.Fatalf("Rebase: %+v %v", in, ok)
	}
	again := w.sign(must(NewChange(won, "alice", in)))
	if n := w.apply(won, again); !n.IsMember("erin") {
		t.Fatal("rebased add did not apply")
	}
	// Nothing left: bob removed carol, alice's removal of carol is moot.
	mine = w.change(s, "alice", KindRemove, "", "carol")
	won = w.apply(s, w.change(s, "bob", KindRemove, "", "carol"))
	if _, ok := Rebase(mine, won); ok {
		t.Fatal("Rebase of a moot removal")
	}
	// The author is no longer an admin.
	mine = w.change(s, "bob", KindRename, "x")
	won = w.apply(s, w.change(s, "alice", KindDemote, "", "bob"))
	if _, ok := Rebase(mine, won); ok {
		t.Fatal("Rebase by a demoted admin")
	}
	if _, ok := Rebase(mine, nil); ok {
		t.Fatal("Rebase onto nothing")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The account key signs group changes under the label this package checks
// (spec/keys.md §2.3, spec/groups.md §4.3).
func TestSignGroupChangeLabel(t *testing.T) {
	if keys.LabelGroupChange != LabelChange {
		t.Fatalf("keys signs under %q, group checks %q", keys.LabelGroupChange, LabelChange)
	}
	ak, err := keys.GenerateAccountKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := NewGroupID(rand.Reader)
	c, err := NewCreate(id, "alice", "book club", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	sig := ak.SignGroupChange(c.Body())
	if err := c.SetSignature(sig[:]); err != nil {
		t.Fatal(err)
	}
	pub := ak.Public()
	lookup := func(h string) ([32]byte, bool) { return [32]byte(pub), h == "alice" }
	if _, err := Create(c, lookup); err != nil {
		t.Fatalf("a Create signed by keys.SignGroupChange: %v", err)
	}
}
