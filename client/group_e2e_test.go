package client

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/group"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/senderkey"
	"github.com/sealpost/sealpost/relay"
	relaystore "github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// TestGroupFiveAccountsTwoDevices is issue 16's end-to-end test, through
// the real key server and relay on both store engines: a group of five
// accounts with two devices each; every message reaches every device of
// every member (the sender's other device included) exactly once; a
// removed member reads nothing after; an added member gets the senders'
// chains as they are then and reads what follows, nothing before; an
// admin's device revoked mid-conversation reads nothing after, because
// every member makes a new chain once it sees the revocation
// (spec/client.md §14.4, spec/groups.md §8.3).
func TestGroupFiveAccountsTwoDevices(t *testing.T) {
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) { groupFiveByTwo(t, eng) })
	}
}

func groupFiveByTwo(t *testing.T, eng engine) {
	s := startServers(t, eng)
	devs := map[string][]*Client{}
	newAccount := func(h string) {
		c := s.newUser(h)
		devs[h] = []*Client{c, s.restoreDevice(t, c)}
	}
	for _, h := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		newAccount(h)
	}
	of := func(handles ...string) []*Client {
		var out []*Client
		for _, h := range handles {
			out = append(out, devs[h]...)
		}
		return out
	}
	alice := devs["alice"][0]
	gid, err := alice.CreateGroup(ctxT(t), "five", "bob", "carol", "dave", "erin")
	if err != nil {
		t.Fatal(err)
	}
	atEpoch := func(epoch uint64, cs ...*Client) {
		t.Helper()
		for _, c := range cs {
			groupOf(t, c, gid, epoch)
		}
	}
	atEpoch(0, of("alice", "bob", "carol", "dave", "erin")...)

	// say sends text from one device and checks that each of want gets
	// it next, from that device, once (a second copy would come before
	// the next text and fail the next say).
	say := func(from *Client, text string, want ...*Client) {
		t.Helper()
		if _, err := from.SendGroupText(ctxT(t), gid, text); err != nil {
			t.Fatalf("%s/%d: %v", from.Handle(), from.DeviceID(), err)
		}
		for _, c := range want {
			if c == from {
				continue
			}
			m := recvGroup(t, c)
			if string(m.Plaintext) != text || m.From != from.Handle() || m.FromDevice != from.DeviceID() || m.Group != gid {
				t.Fatalf("%s/%d got %q from %s/%d; want %q from %s/%d", c.Handle(), c.DeviceID(), m.Plaintext, m.From, m.FromDevice,
					text, from.Handle(), from.DeviceID())
			}
		}
	}
	five := of("alice", "bob", "carol", "dave", "erin")
	say(alice, "one", five...)
	say(devs["bob"][1], "two", five...)
	say(devs["erin"][0], "three", five...)

	// erin is removed: she reads nothing sent after, from any sender,
	// including one whose chain she held.
	if err := alice.RemoveMembers(ctxT(t), gid, "erin"); err != nil {
		t.Fatal(err)
	}
	atEpoch(1, five...)
	four := of("alice", "bob", "carol", "dave")
	say(alice, "four", four...)
	say(devs["bob"][1], "five", four...)
	say(devs["dave"][0], "six", four...)
	for _, c := range devs["erin"] {
		noMessage(t, c, 200*time.Millisecond)
	}

	// frank is added: alice's and bob's chains go to him as they are
	// now, without a new chain; he reads from here on, nothing before.
	if err := alice.AddMembers(ctxT(t), gid, "frank"); err != nil {
		t.Fatal(err)
	}
	atEpoch(2, of("alice", "bob", "carol", "dave", "frank")...)
	withFrank := of("alice", "bob", "carol", "dave", "frank")
	chainOf := func(c *Client) []byte {
		var raw []byte
		c.store.View(ctxT(t), func(tx localstore.Tx) error {
			raw, _, _ = tx.GroupSend(gid[:])
			return nil
		})
		return raw
	}
	before := chainOf(alice)
	say(alice, "seven", withFrank...)
	say(devs["bob"][1], "eight", withFrank...)
	say(devs["carol"][0], "nine", withFrank...) // carol's first: a new chain
	// The add made no new chain (spec/senderkey.md §7.1: chain id at 34).
	if after := chainOf(alice); len(before) != 118 || len(after) != 118 || string(before[34:50]) != string(after[34:50]) {
		t.Fatal("alice's sending chain changed when frank was added")
	}
	for _, c := range devs["frank"] {
		noMessage(t, c, 200*time.Millisecond)
	}

	// alice, the admin, revokes her second device mid-conversation:
	// her new chain's distribution makes every member look her up again,
	// see the revocation and make a new chain before its next message.
	alice2 := devs["alice"][1]
	if err := alice.RevokeDevice(ctxT(t), alice2.DeviceID()); err != nil {
		t.Fatal(err)
	}
	alice2.Close()
	survivors := slices.DeleteFunc(slices.Clone(withFrank), func(c *Client) bool { return c == alice2 })
	for _, c := range survivors {
		if c.Handle() == "alice" {
			continue
		}
		waitFor(t, func() bool {
			var rotate bool
			c.store.View(ctxT(t), func(tx localstore.Tx) error {
				_, rotate, _ = tx.GroupSend(gid[:])
				return nil
			})
			return rotate || !hasChain(t, c, gid)
		})
	}
	say(devs["bob"][0], "ten", survivors...)
	say(alice, "eleven", survivors...)
	say(devs["frank"][1], "twelve", survivors...)
	if st, err := s.q.Stats(ctxT(t), wire.FormatAddress("alice", alice2.DeviceID())); err == nil && st.Count != 0 {
		t.Fatalf("the revoked device's mailbox holds %d envelopes", st.Count)
	}

	// Every device ends with the same state, and nothing more came.
	want := groupOf(t, alice, gid, 2)
	for _, c := range survivors {
		g := groupOf(t, c, gid, 2)
		if g.Name != want.Name || !slices.Equal(g.Members, want.Members) || !slices.Equal(g.Admins, want.Admins) {
			t.Fatalf("%s/%d holds %+v, alice %+v", c.Handle(), c.DeviceID(), g, want)
		}
		noMessage(t, c, 100*time.Millisecond)
	}
	if !slices.Equal(want.Members, []string{"alice", "bob", "carol", "dave", "frank"}) {
		t.Fatalf("members %v", want.Members)
	}
}

// hasChain reports whether c holds a sending chain of group gid.
func hasChain(t *testing.T, c *Client, gid GroupID) bool {
	var have bool
	c.store.View(ctxT(t), func(tx localstore.Tx) error {
		_, _, err := tx.GroupSend(gid[:])
		have = err == nil
		return nil
	})
	return have
}

// A relay that drops a state change for one member cannot leave that
// member silently in another state: the next group message names a later
// epoch, and the member reports it (EventGroupOutOfSync) and asks that
// message's sender for the changes it lacks. One that delivers a new
// member's sender key and message before the change that added it
// (reordering) loses nothing: both are held until the change arrives
// (spec/client.md §14.4, spec/groups.md §8.3, §8.4).
func TestGroupRelayDropsOrReorders(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob, dave := s.newUser("alice"), s.newUser("bob"), s.newUser("dave")
	carol, carolDir := s.newUserDir("carol")
	gid, err := alice.CreateGroup(ctxT(t), "club", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 0)
	groupOf(t, carol, gid, 0)
	carol.Close()
	carolAddr := wire.FormatAddress("carol", 1)
	take := func() []relaystore.Envelope {
		t.Helper()
		envs, err := s.q.Fetch(ctxT(t), carolAddr, 0, 100, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, e := range envs {
			ids = append(ids, e.ID)
		}
		if _, err := s.q.Ack(ctxT(t), carolAddr, ids); err != nil {
			t.Fatal(err)
		}
		return envs
	}
	put := func(envs []relaystore.Envelope) {
		t.Helper()
		for _, e := range envs {
			s.inject(t, carolAddr, e.Data)
		}
	}

	// Reordered: the change adding dave reaches carol after dave's sender
	// key and first message.
	if err := alice.AddMembers(ctxT(t), gid, "dave"); err != nil {
		t.Fatal(err)
	}
	groupOf(t, dave, gid, 1)
	addChange := take() // the change, and whatever else came with it
	if len(addChange) == 0 {
		t.Fatalf("carol's mailbox held %d envelopes, want the change", len(addChange))
	}
	if _, err := dave.SendGroupText(ctxT(t), gid, "first from dave"); err != nil {
		t.Fatal(err)
	}
	recvGroup(t, bob)
	put(addChange)
	carol = s.open(carolDir)
	// dave's distribution came before the change that made him a
	// member, and his first message under a chain carol did not hold:
	// both held, and hers once the change arrives.
	groupOf(t, carol, gid, 1)
	if m := recvGroup(t, carol); string(m.Plaintext) != "first from dave" || m.From != "dave" {
		t.Fatalf("carol got %q from %s", m.Plaintext, m.From)
	}
	if _, err := dave.SendGroupText(ctxT(t), gid, "second from dave"); err != nil {
		t.Fatal(err)
	}
	if m := recvGroup(t, carol); string(m.Plaintext) != "second from dave" || m.From != "dave" {
		t.Fatalf("carol got %q from %s", m.Plaintext, m.From)
	}
	recvGroup(t, bob)

	// Dropped: alice renames the group; the relay never gives carol the
	// change. bob's next message names epoch 2: carol reports it, and
	// still gets the message.
	carol.Close()
	if err := alice.SetGroupName(ctxT(t), gid, "renamed"); err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 2)
	if dropped := take(); len(dropped) == 0 {
		t.Fatalf("carol's mailbox held %d envelopes, want the change", len(dropped))
	}
	if _, err := bob.SendGroupText(ctxT(t), gid, "at epoch 2"); err != nil {
		t.Fatal(err)
	}
	carol = s.open(carolDir)
	if m := recvGroup(t, carol); string(m.Plaintext) != "at epoch 2" {
		t.Fatalf("carol got %q", m.Plaintext)
	}
	e := waitEvent(t, carol, EventGroupOutOfSync)
	if e.Group != gid || e.Handle != "bob" || !errors.Is(e.Err, ErrGroupOutOfSync) {
		t.Fatalf("out of sync event: %+v", e)
	}
	// carol asks bob for what she lacks (spec/groups.md §8.5); his answer
	// is alice's signed change, which carol applies like any other.
	if e := waitEvent(t, carol, EventGroupChanged); e.Group != gid || e.Handle != "alice" || e.GroupChange != "rename" {
		t.Fatalf("carol's catch-up: %+v", e)
	}
	if g := groupOf(t, carol, gid, 2); g.Name != "renamed" {
		t.Fatalf("carol after catching up: %+v", g)
	}
	if _, err := bob.SendGroupText(ctxT(t), gid, "in sync"); err != nil {
		t.Fatal(err)
	}
	if m := recvGroup(t, carol); string(m.Plaintext) != "in sync" {
		t.Fatalf("carol got %q", m.Plaintext)
	}
	select {
	case e := <-carol.Events():
		if e.Kind == EventGroupOutOfSync {
			t.Fatalf("still out of sync: %+v", e)
		}
	case <-time.After(200 * time.Millisecond):
	}
}

// spec/groups.md §8.3: a sending chain older than 7 days is replaced
// before the next message, which the members read under the new one.
func TestGroupChainRotatesAfterAWeek(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	gid := clubWithBob(t, alice, bob)
	chainID := func() string {
		var raw []byte
		alice.store.View(ctxT(t), func(tx localstore.Tx) error {
			raw, _, _ = tx.GroupSend(gid[:])
			return nil
		})
		return string(raw[34:50]) // spec/senderkey.md §7.1
	}
	first := chainID()
	age := func(d time.Duration) {
		t.Helper()
		if err := alice.store.Update(ctxT(t), func(tx localstore.Tx) error {
			row, err := tx.GroupSendRow(gid[:])
			if err != nil {
				return err
			}
			return tx.StartGroupChain(gid[:], row.Chain, row.SentTo, time.Now().Add(-d))
		}); err != nil {
			t.Fatal(err)
		}
	}
	age(6 * 24 * time.Hour)
	if _, err := alice.SendGroupText(ctxT(t), gid, "six days on"); err != nil {
		t.Fatal(err)
	}
	recvGroup(t, bob)
	if chainID() != first {
		t.Fatal("a chain of 6 days was replaced")
	}
	age(7*24*time.Hour + time.Minute)
	if _, err := alice.SendGroupText(ctxT(t), gid, "a week on"); err != nil {
		t.Fatal(err)
	}
	if m := recvGroup(t, bob); string(m.Plaintext) != "a week on" {
		t.Fatalf("bob got %q", m.Plaintext)
	}
	if chainID() == first {
		t.Fatal("a chain of more than 7 days was kept")
	}
}

// spec/client.md §14.4: a group message carries text, app or unknown
// content only. SendGroupContent refuses other kinds, sending nothing; a
// member device that sends one anyway (under its own chain) has it
// dropped and reported by every receiver, which then reads the next one.
func TestGroupContentKinds(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	gid, err := alice.CreateGroup(ctxT(t), "club", "bob")
	if err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 0)
	app := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_App{App: &contentpb.AppDefined{TypeUrl: "example.com/poll", Value: []byte{1, 2}}}}}
	id, err := alice.SendGroupContent(ctxT(t), gid, app)
	if err != nil {
		t.Fatal(err)
	}
	m := recvGroup(t, bob)
	if m.ID != id || m.Content == nil || m.Content.Kind() != content.KindApp || m.Content.GetApp().GetTypeUrl() != "example.com/poll" {
		t.Fatalf("bob got %+v", m)
	}
	if _, err := alice.SendGroupText(ctxT(t), gid, "a reply", WithReplyTo(id, "alice")); err != nil {
		t.Fatal(err)
	}
	if m := recvGroup(t, bob); m.Content.GetReplyTo() == nil || MessageID(m.Content.GetReplyTo().GetMessageId()) != id {
		t.Fatalf("bob's reply: %+v", m.Content)
	}
	reaction := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Reaction{Reaction: &contentpb.Reaction{TargetId: id[:], Emoji: "👍"}}}}
	if _, err := alice.SendGroupContent(ctxT(t), gid, reaction); !errors.Is(err, ErrInvalidContent) {
		t.Fatalf("a reaction to a group: %v, want ErrInvalidContent", err)
	}
	noMessage(t, bob, 200*time.Millisecond)

	// A reaction under alice's chain, as a modified client would send it.
	var body []byte
	if err := alice.store.Update(ctxT(t), func(tx localstore.Tx) error {
		raw, _, err := tx.GroupSend(gid[:])
		if err != nil {
			return err
		}
		sc, err := senderkey.UnmarshalSendingChain(raw)
		if err != nil {
			return err
		}
		reaction.Group = &contentpb.GroupContext{GroupId: gid[:], Epoch: 0}
		b, err := content.Marshal(reaction)
		if err != nil {
			return err
		}
		var mid MessageID
		rand.Read(mid[:])
		p := payload{version: payloadVersion2, kind: kindGroup, id: mid, sent: time.Now(), to: "alice", body: b}
		pt, err := padBlock(p.marshal())
		if err != nil {
			return err
		}
		msg, err := sc.Encrypt(pt)
		if err != nil {
			return err
		}
		body = append([]byte{groupBodyPrefix}, msg...)
		return tx.PutGroupSend(gid[:], sc.Marshal(), false)
	}); err != nil {
		t.Fatal(err)
	}
	bob.Close() // the store is written to directly: bob fetches it on connecting
	s.inject(t, wire.FormatAddress("bob", 1), body)
	bob = s.open(bobDir)
	if e := waitEvent(t, bob, EventEnvelopeDropped); e.Handle != "alice" || !errors.Is(e.Err, errBadPayload) {
		t.Fatalf("dropped: %+v", e)
	}
	noMessage(t, bob, 200*time.Millisecond)
	if _, err := alice.SendGroupText(ctxT(t), gid, "still fine"); err != nil {
		t.Fatal(err)
	}
	if m := recvGroup(t, bob); string(m.Plaintext) != "still fine" {
		t.Fatalf("bob got %q", m.Plaintext)
	}
}

// spec/groups.md §8.3, spec/senderkey.md §6: group messages the relay
// delivers in another order are all read, once each (skipped keys); one
// it delivers again is not shown twice: the envelope is known as processed
// (spec/client.md §5.1; the same as a redelivery after a lost ack, so not
// reported), and past that record the chain refuses the spent key.
func TestGroupReplayAndReorder(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	gid := clubWithBob(t, alice, bob)
	bob.Close()
	for _, text := range []string{"one", "two", "three"} {
		if _, err := alice.SendGroupText(ctxT(t), gid, text); err != nil {
			t.Fatal(err)
		}
	}
	addr := wire.FormatAddress("bob", 1)
	all, err := s.q.Fetch(ctxT(t), addr, 0, 100, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var (
		ids         []int64
		envs, other []relaystore.Envelope
	)
	for _, e := range all {
		ids = append(ids, e.ID)
		if e.Data[0] == groupBodyPrefix {
			envs = append(envs, e)
		} else {
			other = append(other, e)
		}
	}
	// "zero" may still be there (bob closed before his ack reached the
	// relay): the last three are the ones sent while he was away.
	if len(envs) < 3 {
		t.Fatalf("bob's mailbox: %d group messages", len(envs))
	}
	other = append(other, envs[:len(envs)-3]...)
	envs = envs[len(envs)-3:]
	if _, err := s.q.Ack(ctxT(t), addr, ids); err != nil {
		t.Fatal(err)
	}
	inject := func(data []byte) { s.inject(t, addr, data) }
	// Reordered: three, one, two (what else there was first).
	for _, e := range other {
		inject(e.Data)
	}
	for _, i := range []int{2, 0, 1} {
		inject(envs[i].Data)
	}
	bob = s.open(bobDir)
	for _, want := range []string{"three", "one", "two"} {
		if m := recvGroup(t, bob); string(m.Plaintext) != want {
			t.Fatalf("bob got %q, want %q", m.Plaintext, want)
		}
	}
	// Replayed: "one" again, as a new envelope.
	bob.Close()
	inject(envs[0].Data)
	bob = s.open(bobDir)
	noMessage(t, bob, 300*time.Millisecond)
	if st, err := s.q.Stats(ctxT(t), addr); err != nil || st.Count != 0 {
		t.Fatalf("the replay was not taken off the queue: %+v, %v", st, err)
	}
	// The chain refuses the spent key itself (the processed record aside).
	if err := bob.store.View(ctxT(t), func(tx localstore.Tx) error {
		hdr, err := senderkey.ParseHeader(envs[0].Data[1:])
		if err != nil {
			return err
		}
		r, err := tx.GroupRecv(hdr.GroupID[:], hdr.ChainID[:])
		if err != nil {
			return err
		}
		rc, err := senderkey.UnmarshalReceivingChain(r.Chain)
		if err != nil {
			return err
		}
		defer rc.Destroy()
		if _, err := rc.Decrypt(envs[0].Data[1:]); err == nil {
			t.Error("the chain opened a message it had opened before")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// inject stores data in the mailbox of addr directly, as the relay would
// deliver it: a relay that reorders, replays or forges. The mailbox's
// device fetches it when it next connects.
func (s *servers) inject(t *testing.T, addr, data []byte) {
	t.Helper()
	now := time.Now()
	var mid [relaystore.MessageIDSize]byte
	rand.Read(mid[:])
	if _, err := s.q.Send(ctxT(t), relaystore.Send{Sender: []byte("test/1"), MessageID: mid, Now: now, Expiry: now.Add(time.Hour), DedupUntil: now.Add(time.Hour),
		MaxEnvelope: 1 << 20, MaxQueueCount: 1000, MaxQueueBytes: 1 << 30,
		Items: []relaystore.Item{{Recipient: addr, Envelope: data}}}); err != nil {
		t.Fatal(err)
	}
}

// clubWithBob makes a group of alice and bob and has alice send bob a
// first message (her chain's distribution goes before it).
func clubWithBob(t *testing.T, alice, bob *Client) GroupID {
	t.Helper()
	gid, err := alice.CreateGroup(ctxT(t), "club", "bob")
	if err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 0)
	if _, err := alice.SendGroupText(ctxT(t), gid, "first"); err != nil {
		t.Fatal(err)
	}
	recvGroup(t, bob)
	return gid
}

// spec/client.md §14.4: a group message does not wait for the members'
// key sets to be looked up again when the ones held are younger than
// groupDirTTL; those older than dirTTL are looked up in the background,
// and the next message goes to the devices the new ones show. The new
// device, given the group by bob's first device (spec/groups.md §8.6),
// reads it.
func TestGroupKeySetsRefreshedInBackground(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	gid := clubWithBob(t, alice, bob)
	bob2 := s.restoreDevice(t, bob)
	if e := waitEvent(t, bob2, EventGroupChanged); e.Group != gid || e.GroupChange != "snapshot" || e.Handle != "bob" {
		t.Fatalf("bob's new device: %+v", e)
	}
	alice.mu.Lock()
	d := alice.dir["bob"]
	d.fetched = d.fetched.Add(-time.Minute)
	aged := d.fetched
	alice.mu.Unlock()
	if _, err := alice.SendGroupText(ctxT(t), gid, "to the devices alice knew"); err != nil {
		t.Fatal(err)
	}
	recvGroup(t, bob)
	waitFor(t, func() bool {
		alice.mu.Lock()
		defer alice.mu.Unlock()
		return alice.dir["bob"].fetched.After(aged)
	})
	if _, err := alice.SendGroupText(ctxT(t), gid, "to bob's new device too"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{bob, bob2} {
		if m := recvGroup(t, c); string(m.Plaintext) != "to bob's new device too" {
			t.Fatalf("bob/%d got %q", c.DeviceID(), m.Plaintext)
		}
	}
	// And bob's new device takes part.
	if _, err := bob2.SendGroupText(ctxT(t), gid, "from bob's new device"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{alice, bob} {
		if m := recvGroup(t, c); string(m.Plaintext) != "from bob's new device" || m.FromDevice != bob2.DeviceID() {
			t.Fatalf("%s/%d got %q from %d", c.Handle(), c.DeviceID(), m.Plaintext, m.FromDevice)
		}
	}
}

// spec/groups.md §8.6: a group snapshot from another account is refused
// and reported; the group is not taken.
func TestGroupSnapshotFromAnotherAccount(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob, carol := s.newUser("alice"), s.newUser("bob"), s.newUser("carol")
	gid, err := alice.CreateGroup(ctxT(t), "club", "carol")
	if err != nil {
		t.Fatal(err)
	}
	g := groupOf(t, carol, gid, 0)
	// A state naming bob, as alice could make it up.
	st := &group.State{ID: group.ID(gid), Name: g.Name, Members: []group.Member{{Handle: "alice", Admin: true}, {Handle: "bob"}, {Handle: "carol"}}}
	body, err := content.Marshal(&content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_GroupSnapshot{GroupSnapshot: &contentpb.GroupSnapshot{
		GroupId: gid[:], State: st.Marshal(),
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.send(ctxT(t), "bob", &outMessage{version: payloadVersion2, body: body, kind: content.KindGroupSnapshot, wait: true}, nil); err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, bob, EventGroupRefused)
	if e.Handle != "alice" || e.Group != gid || !errors.Is(e.Err, ErrGroupRefused) {
		t.Fatalf("bob: %+v", e)
	}
	if _, err := bob.GroupMembers(ctxT(t), gid); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("bob took the group: %v", err)
	}
}

// spec/client.md §14.4, spec/relay.md §6.1: devices the relay answers with
// its quota get the group message after the wait it names, under relay
// message ids of their own; the sender sees no refusal and each device
// gets every message once.
func TestGroupMessageQuotaRetried(t *testing.T) {
	s := startServersWith(t, engineSQLite, func(c *relay.Config) {
		c.Limits.QuotaBurst = 3
		c.Limits.QuotaRate = 5
	})
	alice, bob := s.newUser("alice"), s.newUser("bob")
	gid := clubWithBob(t, alice, bob) // the change, the distribution, a message
	for i := range 3 {
		if _, err := alice.SendGroupText(ctxT(t), gid, fmt.Sprint("burst ", i)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	for i := range 3 {
		if m := recvGroup(t, bob); string(m.Plaintext) != fmt.Sprint("burst ", i) {
			t.Fatalf("bob got %q, want burst %d", m.Plaintext, i)
		}
	}
	noMessage(t, bob, 200*time.Millisecond)
}
