//go:build !js

package localstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

// spec/client-store.md §4.28, §4.30: held distributions are one per
// sending device and group; held group messages are bounded per group,
// the oldest dropped first, and come back by chain, oldest first.
func TestGroupHeld(t *testing.T) {
	s, _ := create(t, pass("p"))
	g1, g2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	chain := bytes.Repeat([]byte{9}, 16)
	update(t, s, func(tx Tx) error {
		for i := range 2 {
			if err := tx.PutGroupHeldKey(g1, GroupHeldKey{Handle: "dave", Device: 1, Distribution: []byte{byte(i)}, Received: t0.Add(time.Duration(i))}); err != nil {
				return err
			}
		}
		return tx.PutGroupHeldKey(g1, GroupHeldKey{Handle: "dave", Device: 2, Distribution: []byte{7}, Received: t0})
	})
	view(t, s, func(tx Tx) error {
		ks, err := tx.GroupHeldKeys(g1)
		if err != nil || len(ks) != 2 || ks[0].Device != 2 || ks[1].Device != 1 || !bytes.Equal(ks[1].Distribution, []byte{1}) {
			t.Errorf("GroupHeldKeys = %+v, %v; want device 2's, then device 1's newer one", ks, err)
		}
		if ks, err := tx.GroupHeldKeys(g2); err != nil || len(ks) != 0 {
			t.Errorf("another group's: %+v, %v", ks, err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		for i := range MaxGroupHeldMsgs + 2 {
			n, err := tx.PutGroupHeldMsg(GroupHeldMsg{EnvID: []byte(fmt.Sprintf("env%03d", i)), Group: g1, ChainID: chain, Body: []byte{byte(i)}, Received: t0.Add(time.Duration(i) * time.Second)})
			if err != nil {
				return err
			}
			if want := min(1, max(0, i+1-MaxGroupHeldMsgs)); n != want {
				t.Errorf("message %d dropped %d, want %d", i, n, want)
			}
		}
		_, err := tx.PutGroupHeldMsg(GroupHeldMsg{EnvID: []byte("other"), Group: g2, ChainID: chain, Body: []byte{1}, Received: t0})
		return err
	})
	view(t, s, func(tx Tx) error {
		ms, err := tx.GroupHeldMsgs(g1, chain)
		if err != nil || len(ms) != MaxGroupHeldMsgs || string(ms[0].EnvID) != "env002" || ms[0].Body[0] != 2 {
			t.Errorf("GroupHeldMsgs: %d, first %q, %v; want %d from env002", len(ms), ms[0].EnvID, err, MaxGroupHeldMsgs)
		}
		if ms, err := tx.GroupHeldMsgs(g2, chain); err != nil || len(ms) != 1 {
			t.Errorf("the other group's: %d, %v", len(ms), err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error { return tx.DeleteGroupHeldMsg([]byte("env002")) })
	view(t, s, func(tx Tx) error {
		if ms, _ := tx.GroupHeldMsgs(g1, chain); len(ms) != MaxGroupHeldMsgs-1 {
			t.Errorf("after a delete: %d", len(ms))
		}
		if _, err := tx.GroupSendRow(g1); !errors.Is(err, ErrNotFound) {
			t.Errorf("GroupSendRow without a chain: %v, want ErrNotFound", err)
		}
		return nil
	})
}

// spec/client-store.md §4.26: advancing a sending chain keeps a new chain
// made due meanwhile (a member removed while a message was being sent),
// and the list of devices it went to; starting a new one clears both.
func TestGroupSendRow(t *testing.T) {
	s, _ := create(t, pass("p"))
	g := bytes.Repeat([]byte{3}, 32)
	to := [][]byte{[]byte("bob/1"), []byte("carol/2")}
	update(t, s, func(tx Tx) error {
		if err := tx.AdvanceGroupSend(g, []byte("c1")); !errors.Is(err, ErrNotFound) {
			t.Errorf("AdvanceGroupSend without a chain: %v, want ErrNotFound", err)
		}
		if err := tx.StartGroupChain(g, []byte("c0"), to, t0); err != nil {
			return err
		}
		if err := tx.MarkGroupRotate(g); err != nil {
			return err
		}
		return tx.AdvanceGroupSend(g, []byte("c1"))
	})
	view(t, s, func(tx Tx) error {
		r, err := tx.GroupSendRow(g)
		if err != nil || string(r.Chain) != "c1" || !r.Rotate || len(r.SentTo) != 2 || string(r.SentTo[1]) != "carol/2" || !r.Started.Equal(t0) {
			t.Errorf("after advance: %+v, %v", r, err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error { return tx.StartGroupChain(g, []byte("d0"), to[:1], t0.Add(time.Hour)) })
	view(t, s, func(tx Tx) error {
		r, err := tx.GroupSendRow(g)
		if err != nil || string(r.Chain) != "d0" || r.Rotate || len(r.SentTo) != 1 {
			t.Errorf("after a new chain: %+v, %v", r, err)
		}
		return nil
	})
}

// spec/client-store.md §4.25: the sealed tracker GroupSealed returns opens
// with OpenGroup under its own group id only; ids come back in byte order
// as copies the caller may change.
func TestGroupSealed(t *testing.T) {
	s, _ := create(t, pass("p"))
	g1, g2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	update(t, s, func(tx Tx) error {
		if _, err := tx.GroupSealed(g1); !errors.Is(err, ErrNotFound) {
			t.Errorf("GroupSealed of none: %v", err)
		}
		if err := tx.PutGroup(g2, []byte("two"), t0); err != nil {
			return err
		}
		return tx.PutGroup(g1, []byte("one"), t0)
	})
	view(t, s, func(tx Tx) error {
		sealed, err := tx.GroupSealed(g1)
		if err != nil || bytes.Contains(sealed, []byte("one")) {
			t.Fatalf("GroupSealed = %x, %v", sealed, err)
		}
		if b, err := tx.OpenGroup(g1, sealed); err != nil || string(b) != "one" {
			t.Errorf("OpenGroup = %q, %v", b, err)
		}
		if _, err := tx.OpenGroup(g2, sealed); !errors.Is(err, ErrCorrupt) {
			t.Errorf("OpenGroup under another id: %v, want ErrCorrupt", err)
		}
		sealed[0] ^= 1
		ids, _ := tx.GroupIDs()
		ids[0][0] = 9
		return nil
	})
	view(t, s, func(tx Tx) error {
		if b, err := tx.Group(g1); err != nil || string(b) != "one" {
			t.Errorf("Group after the caller changed what it got: %q, %v", b, err)
		}
		if ids, err := tx.GroupIDs(); err != nil || len(ids) != 2 || !bytes.Equal(ids[0], g1) {
			t.Errorf("GroupIDs after the caller changed what it got: %x, %v", ids, err)
		}
		return nil
	})
}

// spec/client-store.md §4.26: PutGroupSend replaces the chain and the
// rotate flag and keeps the recipients and start time; SetGroupSentTo and
// AdvanceGroupSend need a chain, MarkGroupRotate does nothing without one;
// writes in a View fail and change nothing.
func TestGroupSend(t *testing.T) {
	s, _ := create(t, pass("p"))
	g, other := bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{4}, 32)
	update(t, s, func(tx Tx) error {
		if _, _, err := tx.GroupSend(g); !errors.Is(err, ErrNotFound) {
			t.Errorf("GroupSend of none: %v", err)
		}
		if err := tx.SetGroupSentTo(g, [][]byte{[]byte("bob/1")}); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetGroupSentTo without a chain: %v, want ErrNotFound", err)
		}
		if err := tx.MarkGroupRotate(g); err != nil {
			t.Errorf("MarkGroupRotate without a chain: %v", err)
		}
		if _, err := tx.GroupSendRow(g); !errors.Is(err, ErrNotFound) {
			t.Errorf("MarkGroupRotate made a row: %v", err)
		}
		if err := tx.PutGroupSend(g, []byte("c0"), true); err != nil {
			return err
		}
		if r, err := tx.GroupSendRow(g); err != nil || r.SentTo != nil || r.SentToRaw != nil || !r.Started.IsZero() || !r.Rotate {
			t.Errorf("a new row: %+v, %v; want no recipients, no start", r, err)
		}
		if err := tx.StartGroupChain(g, []byte("c1"), [][]byte{[]byte("bob/1"), make([]byte, 256)}, t0); err == nil {
			t.Error("StartGroupChain took a 256-byte address")
		}
		if err := tx.StartGroupChain(g, []byte("c1"), [][]byte{[]byte("bob/1")}, t0); err != nil {
			return err
		}
		if err := tx.PutGroupSend(other, []byte("o"), false); err != nil {
			return err
		}
		return tx.PutGroupSend(g, []byte("c2"), true)
	})
	check := func(when, chain string, rotate bool) {
		t.Helper()
		view(t, s, func(tx Tx) error {
			if c, rot, err := tx.GroupSend(g); err != nil || string(c) != chain || rot != rotate {
				t.Errorf("%s: GroupSend = %q, %v, %v; want %q, %v", when, c, rot, err, chain, rotate)
			}
			r, err := tx.GroupSendRow(g)
			if err != nil || string(r.Chain) != chain || len(r.SentTo) != 1 || string(r.SentTo[0]) != "bob/1" ||
				!bytes.Equal(r.SentToRaw, []byte("\x05bob/1")) || !r.Started.Equal(t0) {
				t.Errorf("%s: GroupSendRow = %+v, %v", when, r, err)
			}
			if c, rot, err := tx.GroupSend(other); err != nil || string(c) != "o" || rot {
				t.Errorf("%s: the other group's: %q, %v, %v", when, c, rot, err)
			}
			return nil
		})
	}
	check("after PutGroupSend", "c2", true)
	err := s.View(t.Context(), func(tx Tx) error {
		for name, write := range map[string]func() error{
			"PutGroupSend":     func() error { return tx.PutGroupSend(g, []byte("x"), false) },
			"SetGroupSentTo":   func() error { return tx.SetGroupSentTo(g, nil) },
			"MarkGroupRotate":  func() error { return tx.MarkGroupRotate(other) },
			"AdvanceGroupSend": func() error { return tx.AdvanceGroupSend(g, []byte("x")) },
			"StartGroupChain":  func() error { return tx.StartGroupChain(g, []byte("x"), nil, t0) },
		} {
			if err := write(); !errors.Is(err, errReadOnly) {
				t.Errorf("%s in a View: %v, want errReadOnly", name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check("after writes in a View", "c2", true)
}

// spec/client-store.md §4.26: receiving chains are bound to the device
// that distributed them; a member's or a device's chains go together, and
// only that group's.
func TestGroupRecv(t *testing.T) {
	s, _ := create(t, pass("p"))
	g1, g2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	cid := func(i byte) []byte { return bytes.Repeat([]byte{i}, 16) }
	recvs := []struct {
		g     []byte
		chain byte
		r     GroupRecv
	}{
		{g1, 1, GroupRecv{Handle: "bob", Device: 1, Chain: []byte("b1")}},
		{g1, 2, GroupRecv{Handle: "bob", Device: 2, Chain: []byte("b2")}},
		{g1, 3, GroupRecv{Handle: "bob", Device: 1, Chain: []byte("b1'")}},
		{g1, 4, GroupRecv{Handle: "carol", Device: 1, Chain: []byte("c1")}},
		{g2, 5, GroupRecv{Handle: "bob", Device: 1, Chain: []byte("g2")}},
	}
	update(t, s, func(tx Tx) error {
		for _, x := range recvs {
			if err := tx.PutGroupRecv(x.g, cid(x.chain), GroupRecv{Handle: "old", Device: 9, Chain: []byte("old")}); err != nil {
				return err
			}
			if err := tx.PutGroupRecv(x.g, cid(x.chain), x.r); err != nil {
				return err
			}
		}
		return nil
	})
	have := func(when string, want ...byte) {
		t.Helper()
		view(t, s, func(tx Tx) error {
			for _, x := range recvs {
				r, err := tx.GroupRecv(x.g, cid(x.chain))
				kept := bytes.IndexByte(want, x.chain) >= 0
				switch {
				case kept && (err != nil || r.Handle != x.r.Handle || r.Device != x.r.Device || !bytes.Equal(r.Chain, x.r.Chain)):
					t.Errorf("%s: chain %d = %+v, %v; want %+v", when, x.chain, r, err, x.r)
				case !kept && !errors.Is(err, ErrNotFound):
					t.Errorf("%s: chain %d = %+v, %v; want ErrNotFound", when, x.chain, r, err)
				}
			}
			return nil
		})
	}
	have("stored", 1, 2, 3, 4, 5)
	update(t, s, func(tx Tx) error { return tx.DeleteGroupRecvOfDevice(g1, "bob", 1) })
	have("after bob/1 is revoked", 2, 4, 5)
	update(t, s, func(tx Tx) error { return tx.DeleteGroupRecvOf(g1, "bob") })
	have("after bob left", 4, 5)
	update(t, s, func(tx Tx) error { return tx.DeleteGroupRecvOf(g1, "nobody") })
	have("after deleting nobody's", 4, 5)
}

// spec/client-store.md §4.29: lost changes come back by group and change
// id; storing one again replaces it; deleting one twice is ErrNotFound.
func TestGroupLost(t *testing.T) {
	s, _ := create(t, pass("p"))
	g1, g2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	update(t, s, func(tx Tx) error {
		for _, l := range []GroupLost{
			{Group: g2, ChangeID: []byte("a"), Change: []byte("g2a")},
			{Group: g1, ChangeID: []byte("b"), Change: []byte("old")},
			{Group: g1, ChangeID: []byte("a"), Change: []byte("g1a")},
			{Group: g1, ChangeID: []byte("b"), Change: []byte("g1b")},
		} {
			if err := tx.PutGroupLost(l); err != nil {
				return err
			}
		}
		return nil
	})
	list := func() string {
		t.Helper()
		var got string
		view(t, s, func(tx Tx) error {
			ls, err := tx.GroupLostChanges()
			if err != nil {
				return err
			}
			for _, l := range ls {
				got += fmt.Sprintf("%x/%s=%s ", l.Group[:1], l.ChangeID, l.Change)
			}
			return nil
		})
		return got
	}
	if got, want := list(), "01/a=g1a 01/b=g1b 02/a=g2a "; got != want {
		t.Errorf("GroupLostChanges = %q, want %q", got, want)
	}
	update(t, s, func(tx Tx) error {
		if err := tx.DeleteGroupLost(g1, []byte("a")); err != nil {
			return err
		}
		if err := tx.DeleteGroupLost(g1, []byte("a")); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleting twice: %v, want ErrNotFound", err)
		}
		return nil
	})
	if got, want := list(), "01/b=g1b 02/a=g2a "; got != want {
		t.Errorf("after a delete: %q, want %q", got, want)
	}
}

// spec/client-store.md §4.28: past maxGroupHeldKeys (all groups together)
// the oldest distributions go; one device's can be deleted.
func TestGroupHeldKeysBound(t *testing.T) {
	if testing.Short() {
		t.Skip("fills maxGroupHeldKeys distributions (seconds on SQLite, which sorts them on each put)")
	}
	s, _ := create(t, pass("p"))
	g0, g1 := bytes.Repeat([]byte{0}, 32), bytes.Repeat([]byte{1}, 32)
	update(t, s, func(tx Tx) error {
		// g0's key is the oldest (and first in key order); g1's device i was received at t0+i.
		if err := tx.PutGroupHeldKey(g0, GroupHeldKey{Handle: "old", Device: 1, Distribution: []byte("x"), Received: t0.Add(-time.Hour)}); err != nil {
			return err
		}
		for i := range maxGroupHeldKeys {
			if err := tx.PutGroupHeldKey(g1, GroupHeldKey{Handle: "dave", Device: uint32(maxGroupHeldKeys - i), Distribution: []byte{byte(i)}, Received: t0.Add(time.Duration(maxGroupHeldKeys-i) * time.Second)}); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		if ks, err := tx.GroupHeldKeys(g0); err != nil || len(ks) != 0 {
			t.Errorf("the oldest key, of another group, is kept: %+v, %v", ks, err)
		}
		ks, err := tx.GroupHeldKeys(g1)
		if err != nil || len(ks) != maxGroupHeldKeys || ks[0].Device != 1 || !ks[0].Received.Equal(t0.Add(time.Second)) || ks[len(ks)-1].Device != maxGroupHeldKeys {
			t.Errorf("GroupHeldKeys: %d, %v; want %d, oldest first", len(ks), err, maxGroupHeldKeys)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		if err := tx.DeleteGroupHeldKey(g1, "dave", 1); err != nil {
			return err
		}
		return tx.DeleteGroupHeldKey(g1, "dave", 1)
	})
	view(t, s, func(tx Tx) error {
		if ks, err := tx.GroupHeldKeys(g1); err != nil || len(ks) != maxGroupHeldKeys-1 || ks[0].Device != 2 {
			t.Errorf("after a delete: %d, %v", len(ks), err)
		}
		return nil
	})
}

// spec/client-store.md §4.30: held group messages of one chain come
// oldest first, ties by envelope id; a message held again replaces the
// first (even under another group); the bound drops the oldest of the
// group only, ties after the larger envelope id.
func TestGroupHeldMsgOrder(t *testing.T) {
	s, _ := create(t, pass("p"))
	g1, g2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	c1, c2 := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16)
	put := func(tx Tx, env string, g, c []byte, at time.Time) int {
		t.Helper()
		n, err := tx.PutGroupHeldMsg(GroupHeldMsg{EnvID: []byte(env), Group: g, ChainID: c, Body: []byte("body " + env), Received: at})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	envs := func(tx Tx, g, c []byte) string {
		t.Helper()
		ms, err := tx.GroupHeldMsgs(g, c)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			if string(m.Body) != "body "+string(m.EnvID) || !bytes.Equal(m.Group, g) || !bytes.Equal(m.ChainID, c) {
				t.Errorf("held message %+v", m)
			}
			out = append(out, string(m.EnvID))
		}
		return fmt.Sprint(out)
	}
	update(t, s, func(tx Tx) error {
		put(tx, "moved", g2, c1, t0)
		put(tx, "e3", g1, c1, t0.Add(time.Second))
		put(tx, "e2", g1, c1, t0)
		put(tx, "e1", g1, c1, t0.Add(time.Second))
		put(tx, "e4", g1, c2, t0)
		put(tx, "moved", g1, c1, t0.Add(2*time.Second))
		if got, want := envs(tx, g1, c1), "[e2 e1 e3 moved]"; got != want {
			t.Errorf("GroupHeldMsgs = %s, want %s", got, want)
		}
		if got := envs(tx, g2, c1); got != "[]" {
			t.Errorf("the first group's after the message moved: %s", got)
		}
		// Fill g1 with messages of the same time as e1 and e3: e4 and e2 are
		// the oldest; among the rest, the largest envelope ids go.
		dropped := 0
		for i := range MaxGroupHeldMsgs - 3 {
			dropped += put(tx, fmt.Sprintf("f%03d", i), g1, c2, t0.Add(time.Second))
		}
		if dropped != 2 {
			t.Errorf("dropped %d, want 2", dropped)
		}
		if got, want := envs(tx, g1, c1), "[e1 e3 moved]"; got != want {
			t.Errorf("after the bound: %s, want %s", got, want)
		}
		if n := put(tx, "e0", g1, c1, t0.Add(time.Second)); n != 1 {
			t.Errorf("one more dropped %d, want 1", n)
		}
		if got, want := envs(tx, g1, c1), "[e0 e1 e3 moved]"; got != want {
			t.Errorf("after one more: %s, want %s", got, want)
		}
		ms, _ := tx.GroupHeldMsgs(g1, c2)
		if last := string(ms[len(ms)-1].EnvID); len(ms) != MaxGroupHeldMsgs-4 || last != fmt.Sprintf("f%03d", MaxGroupHeldMsgs-5) {
			t.Errorf("chain 2 keeps %d to %s", len(ms), last)
		}
		return nil
	})
}
