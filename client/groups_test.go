package client

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sealpost/sealpost/client/group"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/relay/wire"
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
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) { groupMembership(t, eng) })
	}
}

func groupMembership(t *testing.T, eng engine) {
	s := startServers(t, eng)
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

// recvGroup waits for the next group message.
func recvGroup(t *testing.T, c *Client) *Message {
	t.Helper()
	for {
		m := recv(t, c)
		if m.Group != (GroupID{}) {
			return m
		}
	}
}

// spec/client.md §14.4, spec/groups.md §8.3, end to end: a group message
// is encrypted once, uploaded once and reaches every device of every
// other member once, as a text with its group; a member removed reads
// nothing sent after (the senders' chains rotate); the relay stored one
// body for all.
func TestGroupMessages(t *testing.T) {
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) { groupMessages(t, eng) })
	}
}

func groupMessages(t *testing.T, eng engine) {
	reg := prometheus.NewRegistry()
	s := startServersWith(t, eng, func(c *relay.Config) { c.Registerer = reg })
	alice, bob, carol := s.newUser("alice"), s.newUser("bob"), s.newUser("carol")
	gid, err := alice.CreateGroup(ctxT(t), "club", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 0)
	groupOf(t, carol, gid, 0)
	if _, err := alice.SendGroupText(ctxT(t), gid, "hello club"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{bob, carol} {
		m := recvGroup(t, c)
		if m.Group != gid || m.From != "alice" || m.FromDevice != 1 || string(m.Plaintext) != "hello club" || m.To != "" {
			t.Fatalf("%s got %+v", c.Handle(), m)
		}
	}
	// One upload for both: one shared send of two recipients.
	if n, r := counter(t, reg, "sealpost_relay_shared_sends_total"), counter(t, reg, "sealpost_relay_shared_recipients_total"); n != 1 || r != 2 {
		t.Fatalf("shared sends %v with %v recipients, want 1 with 2", n, r)
	}
	if _, err := bob.SendGroupText(ctxT(t), gid, "hi all"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{alice, carol} {
		if m := recvGroup(t, c); m.From != "bob" || string(m.Plaintext) != "hi all" {
			t.Fatalf("%s got %+v", c.Handle(), m)
		}
	}
	// carol is removed: alice's next message goes under a new chain she
	// never gets, and nothing reaches carol's device.
	if err := alice.RemoveMembers(ctxT(t), gid, "carol"); err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 1)
	groupOf(t, carol, gid, 1)
	if _, err := alice.SendGroupText(ctxT(t), gid, "after carol"); err != nil {
		t.Fatal(err)
	}
	if m := recvGroup(t, bob); string(m.Plaintext) != "after carol" {
		t.Fatalf("bob got %q", m.Plaintext)
	}
	noMessage(t, carol, 300*time.Millisecond)
	if st, err := s.q.Stats(ctxT(t), wire.FormatAddress("carol", 1)); err != nil || st.Count != 0 {
		t.Fatalf("carol's mailbox after her removal: %+v, %v", st, err)
	}
	// Not a member any more: refused, nothing sent.
	if _, err := carol.SendGroupText(ctxT(t), gid, "still here?"); !errors.Is(err, ErrGroupRefused) {
		t.Fatalf("a removed member's group message: %v, want ErrGroupRefused", err)
	}
}

// spec/client.md §13, §14.4: a member that sends anonymously sends its
// group messages anonymously too: one token pays for the one shared send.
func TestGroupMessagesAnonymous(t *testing.T) {
	s, _, reg := anonServers(t, engineSQLite)
	alice, bob, carol := s.newAnonUser("alice"), s.newAnonUser("bob"), s.newUser("carol")
	gid, err := alice.CreateGroup(ctxT(t), "club", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 0)
	groupOf(t, carol, gid, 0)
	before := counter(t, reg, "sealpost_relay_anonymous_sends_total")
	if _, err := alice.SendGroupText(ctxT(t), gid, "quietly"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{bob, carol} {
		if m := recvGroup(t, c); m.From != "alice" || string(m.Plaintext) != "quietly" {
			t.Fatalf("%s got %+v", c.Handle(), m)
		}
	}
	if n := counter(t, reg, "sealpost_relay_anonymous_sends_total") - before; n < 2 {
		// The distribution (one pairwise send per device) and the shared
		// send, all anonymous.
		t.Fatalf("anonymous sends %v for the distribution and the message", n)
	}
	if n := counter(t, reg, "sealpost_relay_shared_sends_total"); n != 1 {
		t.Fatalf("shared sends %v, want 1", n)
	}
}

// spec/groups.md §8.3: when a member's device is revoked, every sender's
// chain rotates before its next message and the revoked device's chains
// are forgotten: it reads nothing sent after; the member's other device
// still does.
func TestGroupDeviceRevoked(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	bob2 := s.restoreDevice(t, bob)
	gid, err := alice.CreateGroup(ctxT(t), "club", "bob")
	if err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 0)
	groupOf(t, bob2, gid, 0)
	if _, err := alice.SendGroupText(ctxT(t), gid, "to both"); err != nil {
		t.Fatal(err)
	}
	recvGroup(t, bob)
	recvGroup(t, bob2)
	if err := bob.RevokeDevice(ctxT(t), bob2.DeviceID()); err != nil {
		t.Fatal(err)
	}
	// alice's next look at bob's key set sees the revocation.
	if _, err := alice.lookup(ctxT(t), "bob", true); err != nil {
		t.Fatal(err)
	}
	var rotate bool
	alice.store.View(ctxT(t), func(tx localstore.Tx) error {
		_, rotate, _ = tx.GroupSend(gid[:])
		return nil
	})
	if !rotate {
		t.Fatal("no new sending chain due after a member's device was revoked")
	}
	if _, err := alice.SendGroupText(ctxT(t), gid, "after the revocation"); err != nil {
		t.Fatal(err)
	}
	if m := recvGroup(t, bob); string(m.Plaintext) != "after the revocation" {
		t.Fatalf("bob got %q", m.Plaintext)
	}
	if st, err := s.q.Stats(ctxT(t), wire.FormatAddress("bob", bob2.DeviceID())); err == nil && st.Count != 0 {
		t.Fatalf("the revoked device's mailbox holds %d", st.Count)
	}
}

// spec/client.md §14.4: a group message is queued with the chain's new
// state; one the relay did not take goes after a restart, once.
func TestGroupMessageQueued(t *testing.T) {
	s := startServers(t, engineSQLite)
	rr := s.restartableRelay()
	alice, aliceDir := s.newUserDir("alice")
	bob := s.newUser("bob")
	gid := clubWithBob(t, alice, bob)
	rr.stop(false)
	short, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := alice.SendGroupText(short, gid, "while the relay is down"); !errors.Is(err, ErrQueued) {
		t.Fatalf("SendGroupText with the relay down: %v, want ErrQueued", err)
	}
	alice.Close()
	rr.start()
	s.open(aliceDir) // flushes its queue once connected
	if m := recvGroup(t, bob); string(m.Plaintext) != "while the relay is down" {
		t.Fatalf("bob got %q", m.Plaintext)
	}
	noMessage(t, bob, 300*time.Millisecond)
}
