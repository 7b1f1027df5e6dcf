package client

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/internal/localstore"
)

// eventually polls cond for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func deviceByID(t *testing.T, c *Client, dev uint32) Device {
	t.Helper()
	ds, err := c.Devices(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.ID == dev {
			return d
		}
	}
	t.Fatalf("no device %d", dev)
	return Device{}
}

func syncedContact(t *testing.T, c *Client, handle string) (Contact, bool) {
	t.Helper()
	cs, err := c.Contacts(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range cs {
		if ct.Handle == handle {
			return ct, true
		}
	}
	return Contact{}, false
}

// TestSyncBetweenDevices: what the user does on one device — verify a
// contact, clear it, block and unblock, name the device — reaches the
// account's other approved device and is applied there (spec/client.md
// §17.3), including a verification of a contact that device has never
// looked up.
func TestSyncBetweenDevices(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, _ := s.newUser("alice"), s.newUser("bob")
	s.newUser("carol")
	ctx := ctxT(t)
	if _, err := alice.SafetyNumber(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	alice2 := s.restoreDevice(t, alice)

	sn, err := alice.SafetyNumber(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.MarkVerified(ctx, "bob", sn); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob verified on alice's second device", func() bool { ct, ok := syncedContact(t, alice2, "bob"); return ok && ct.Verified })
	if was, err := alice.ClearVerified(ctx, "bob"); err != nil || !was {
		t.Fatal(was, err)
	}
	eventually(t, "bob's mark cleared on alice's second device", func() bool { ct, ok := syncedContact(t, alice2, "bob"); return ok && !ct.Verified })

	// carol is unknown to alice2: it looks her up and marks the key.
	sn, err = alice.SafetyNumber(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.MarkVerified(ctx, "carol", sn); err != nil {
		t.Fatal(err)
	}
	eventually(t, "carol verified on alice's second device", func() bool { ct, ok := syncedContact(t, alice2, "carol"); return ok && ct.Verified })

	if err := alice.Block(ctx, "mallory"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mallory blocked on alice's second device", func() bool {
		b, err := alice2.Blocked(ctx)
		return err == nil && slices.Equal(b, []string{"mallory"})
	})
	if err := alice2.Unblock(ctx, "mallory"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mallory unblocked on alice's first device", func() bool {
		b, err := alice.Blocked(ctx)
		return err == nil && len(b) == 0
	})

	before := time.Now().Add(-time.Second)
	if err := alice.SetDeviceName(ctx, "desk"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "device 1's name on device 2", func() bool { return deviceByID(t, alice2, 1).Name == "desk" })
	if d := deviceByID(t, alice2, 1); d.LastSeen.Before(before) || d.LastSeen.After(time.Now()) {
		t.Fatalf("device 1 last seen on device 2: %v", d.LastSeen)
	}
	if d := deviceByID(t, alice, 1); d.Name != "desk" || !d.Current {
		t.Fatalf("device 1 on itself: %+v", d)
	}
	for _, bad := range []string{"", "a\tb", string(make([]byte, 65))} {
		if err := alice.SetDeviceName(ctx, bad); err == nil {
			t.Errorf("SetDeviceName(%q) succeeded", bad)
		}
	}

	// Refused in the receiving transaction, nothing changed: a Sync from
	// another account, and an approved device naming another.
	id := alice2.identity()
	for _, c := range []struct {
		sender string
		kind   byte
		device uint32
		change *contentpb.Sync
	}{
		{"mallory", kindMessage, 1, &contentpb.Sync{Change: &contentpb.Sync_Block{Block: &contentpb.SyncBlock{Handle: "bob", Blocked: true}}}},
		{"alice", kindSentCopy, 1, &contentpb.Sync{Change: &contentpb.Sync_DeviceName{DeviceName: &contentpb.SyncDeviceName{Device: 2, Name: "renamed"}}}},
		{"alice", kindSentCopy, 7, &contentpb.Sync{Change: &contentpb.Sync_Block{Block: &contentpb.SyncBlock{Handle: "bob", Blocked: true}}}},
	} {
		p := &payload{version: payloadVersion2, kind: c.kind, sent: time.Now(), to: "alice",
			content: &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Sync{Sync: c.change}}}}
		var r received
		err := alice2.store.Update(ctx, func(tx localstore.Tx) error { return alice2.applySync(tx, id, p, c.sender, c.device, time.Now(), &r) })
		if err != nil || len(r.events) != 1 || r.events[0].Kind != EventSyncRefused || !errors.Is(r.events[0].Err, errSyncRefused) {
			t.Errorf("sync from %s/%d: %v, events %+v", c.sender, c.device, err, r.events)
		}
	}
	if b, err := alice2.Blocked(ctx); err != nil || len(b) != 0 {
		t.Fatalf("blocked after refused syncs: %v %v", b, err)
	}
	if d := deviceByID(t, alice2, 2); d.Name != "" {
		t.Fatalf("device 2 renamed by a refused sync: %+v", d)
	}
}

// TestSyncRefused: a Sync from a device this device does not approve is
// refused with EventSyncRefused and changes nothing, while a device that
// approves it applies it; one from a device revoked meanwhile is dropped
// (spec/client.md §17.3).
func TestSyncRefused(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, dir := s.newUserDir("alice")
	alice2 := s.restoreDevice(t, alice)
	// Made from a backup: alice (device 1) approves it, alice2 does not.
	alice3 := s.restoreDevice(t, alice)
	ctx := ctxT(t)

	if err := alice3.SetDeviceName(ctx, "thief"); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, alice2, EventSyncRefused)
	if ev.Handle != "alice" || ev.Device != 3 {
		t.Fatalf("refusal: %+v", ev)
	}
	if d := deviceByID(t, alice2, 3); d.Name != "" {
		t.Fatalf("device 2 took the name of a device it does not approve: %+v", d)
	}
	eventually(t, "device 3's name on device 1", func() bool { return deviceByID(t, alice, 3).Name == "thief" })

	// Device 3 renames itself while device 1 is closed, then device 2
	// revokes it: device 1 finds the sync from a revoked device.
	alice.Close()
	if err := alice3.SetDeviceName(ctx, "renamed"); err != nil {
		t.Fatal(err)
	}
	if err := alice2.RevokeDevice(ctx, 3); err != nil {
		t.Fatal(err)
	}
	alice = s.open(dir)
	ev = waitEvent(t, alice, EventEnvelopeDropped)
	if ev.Device != 3 {
		t.Fatalf("drop: %+v", ev)
	}
	if d := deviceByID(t, alice, 3); d.Name != "thief" || !d.Revoked {
		t.Fatalf("device 3 on device 1 after its revocation: %+v", d)
	}
}
