package client

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/group"
)

// groupOf waits until c holds group gid at epoch, and returns it.
func groupOf(t *testing.T, c *Client, gid GroupID, epoch uint64) *Group {
	t.Helper()
	var g *Group
	waitFor(t, func() bool {
		var err error
		g, err = c.GroupMembers(ctxT(t), gid)
		return err == nil && g.Epoch == epoch
	})
	return g
}

// spec/groups.md, end to end through the key server and relay: a group is
// created, grows, shrinks and is renamed by signed changes every member
// applies; every member's device ends with the same state; a member that
// is not an admin cannot change it; a removed member keeps the state that
// removed it and no longer counts the group as its own.
func TestGroupMembership(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob, carol, dave := s.newUser("alice"), s.newUser("bob"), s.newUser("carol"), s.newUser("dave")
	gid, err := alice.CreateGroup(ctxT(t), "book club", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{bob, carol} {
		e := waitEvent(t, c, EventGroupChanged)
		if e.Group != gid || e.Handle != "alice" || e.GroupChange != "create" {
			t.Fatalf("%s: %+v", c.Handle(), e)
		}
		g := groupOf(t, c, gid, 0)
		if g.Name != "book club" || !slices.Equal(g.Members, []string{"alice", "bob", "carol"}) || !slices.Equal(g.Admins, []string{"alice"}) {
			t.Fatalf("%s holds %+v", c.Handle(), g)
		}
	}
	// bob is no admin: refused, nothing sent, nothing changed.
	if err := bob.SetGroupName(ctxT(t), gid, "mine"); !errors.Is(err, ErrGroupRefused) || !errors.Is(err, group.ErrNotAdmin) {
		t.Fatalf("rename by a member: %v, want not_admin", err)
	}
	if g := groupOf(t, bob, gid, 0); g.Name != "book club" {
		t.Fatalf("bob's state changed: %+v", g)
	}
	// dave joins with the state he needs.
	if err := alice.AddMembers(ctxT(t), gid, "dave"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{bob, carol, dave} {
		if g := groupOf(t, c, gid, 1); !slices.Equal(g.Members, []string{"alice", "bob", "carol", "dave"}) {
			t.Fatalf("%s holds %+v", c.Handle(), g)
		}
	}
	// carol is removed, and told.
	if err := alice.RemoveMembers(ctxT(t), gid, "carol"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{alice, bob, carol, dave} {
		if g := groupOf(t, c, gid, 2); !slices.Equal(g.Members, []string{"alice", "bob", "dave"}) {
			t.Fatalf("%s holds %+v", c.Handle(), g)
		}
	}
	if gs, err := carol.Groups(ctxT(t)); err != nil || len(gs) != 0 {
		t.Fatalf("carol's groups after her removal: %+v, %v", gs, err)
	}
	// bob, promoted, renames; then leaves.
	if err := alice.Promote(ctxT(t), gid, "bob"); err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 3)
	if err := bob.SetGroupName(ctxT(t), gid, "reading group"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{alice, dave} {
		if g := groupOf(t, c, gid, 4); g.Name != "reading group" || !slices.Equal(g.Admins, []string{"alice", "bob"}) {
			t.Fatalf("%s holds %+v", c.Handle(), g)
		}
	}
	if err := bob.LeaveGroup(ctxT(t), gid); err != nil {
		t.Fatal(err)
	}
	g := groupOf(t, dave, gid, 5)
	if !slices.Equal(g.Members, []string{"alice", "dave"}) {
		t.Fatalf("after bob left: %+v", g)
	}
	if gs, err := alice.Groups(ctxT(t)); err != nil || len(gs) != 1 || gs[0].ID != gid {
		t.Fatalf("alice's groups: %+v, %v", gs, err)
	}
	if _, err := alice.GroupMembers(ctxT(t), GroupID{1}); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("an unknown group: %v", err)
	}
}

// spec/groups.md §6: two admins change the group at one epoch while the
// relay is down; once it is back every member ends in the same state, and
// the author of the change that lost signs what is left of it again on
// top of the winner, so both intents are in the end.
func TestGroupConcurrentChanges(t *testing.T) {
	s := startServers(t, engineSQLite)
	rr := s.restartableRelay()
	alice, bob, carol, dave := s.newUser("alice"), s.newUser("bob"), s.newUser("carol"), s.newUser("dave")
	gid, err := alice.CreateGroup(ctxT(t), "club", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 0)
	if err := alice.Promote(ctxT(t), gid, "bob"); err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 1)
	groupOf(t, carol, gid, 1)
	for _, c := range []*Client{alice, bob, carol, dave} {
		// Every key set is known before the relay goes down.
		for _, h := range []string{"alice", "bob", "carol", "dave"} {
			if h != c.Handle() {
				if _, err := c.lookup(ctxT(t), h, false); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	rr.stop(false)
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	// Both at epoch 1: each applies its own at once; they stay queued.
	if err := alice.SetGroupName(short(), gid, "book club"); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrQueued) {
		t.Fatal(err)
	}
	if err := bob.AddMembers(short(), gid, "dave"); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrQueued) {
		t.Fatal(err)
	}
	if g, _ := alice.GroupMembers(ctxT(t), gid); g.Epoch != 2 || g.Name != "book club" {
		t.Fatalf("alice's own change not applied at once: %+v", g)
	}
	if g, _ := bob.GroupMembers(ctxT(t), gid); g.Epoch != 2 || !g.isMember("dave") {
		t.Fatalf("bob's own change not applied at once: %+v", g)
	}
	rr.start()
	// The winner at epoch 2, then the loser's rebased change at epoch 3:
	// everyone, dave included, ends with both.
	for _, c := range []*Client{alice, bob, carol, dave} {
		var g *Group
		deadline := time.Now().Add(20 * time.Second)
		for {
			var err error
			g, err = c.GroupMembers(ctxT(t), gid)
			if err == nil && g.Epoch == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s holds %+v, %v; want epoch 3", c.Handle(), g, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if g.Name != "book club" || !slices.Equal(g.Members, []string{"alice", "bob", "carol", "dave"}) {
			t.Fatalf("%s holds %+v", c.Handle(), g)
		}
	}
}

func (g *Group) isMember(h string) bool { return slices.Contains(g.Members, h) }
