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
