package client

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/client/syncpb"
)

// storeState is what a snapshot carries, read from a local store, for
// comparing two stores.
type storeState struct {
	Own      map[uint32]localstore.OwnDevice
	Infos    map[uint32]localstore.DeviceInfo
	Contacts []localstore.Contact
	Blocked  []string
	Only     bool // contacts only
	Timers   []localstore.ConversationTimerRow
	History  []localstore.HistoryRow
	Receipts map[string][]localstore.MessageDevice
}

func readState(t *testing.T, s *localstore.Store) storeState {
	t.Helper()
	var st storeState
	err := s.View(t.Context(), func(tx localstore.Tx) error {
		var err error
		if st.Own, err = tx.OwnDevices(); err != nil {
			return err
		}
		if st.Infos, err = tx.DeviceInfos(); err != nil {
			return err
		}
		for k, in := range st.Infos {
			in.LastSeen = time.Time{} // this device's own view, not carried
			st.Infos[k] = in
		}
		if st.Contacts, err = tx.Contacts(); err != nil {
			return err
		}
		if st.Blocked, err = tx.BlockedHandles(); err != nil {
			return err
		}
		if a, err := tx.Access(); err == nil {
			st.Only = a.Contacts
		}
		if st.Timers, err = tx.ConversationTimers(); err != nil {
			return err
		}
		if st.History, err = tx.HistorySince(time.Time{}, 0, 1000); err != nil {
			return err
		}
		st.Receipts = map[string][]localstore.MessageDevice{}
		for i := range st.History {
			st.History[i].Seq = 0
			mds, err := tx.MessageDevices(st.History[i].ID)
			if err != nil {
				return err
			}
			st.Receipts[string(st.History[i].ID)] = mds
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestLinkSnapshotRoundTrip: a snapshot built on a device and applied to a
// fresh store reproduces its approvals, names, contacts (verified),
// blocked accounts, contacts-only mode, timers and history with receipt
// state (spec/client.md §17.1); without history days it carries none.
func TestLinkSnapshotRoundTrip(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	ctx := ctxT(t)
	id := send(t, alice, "bob", "hello bob")
	if m := recv(t, bob); m.ID != id {
		t.Fatal(m)
	}
	send(t, bob, "alice", "hello alice")
	recv(t, alice)
	sn, err := alice.SafetyNumber(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.MarkVerified(ctx, "bob", sn); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SetTimer(ctx, "bob", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := alice.Block(ctx, "mallory"); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetContactsOnly(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetDeviceName(ctx, "desk"); err != nil {
		t.Fatal(err)
	}
	// The receipt state of alice's message at bob's device.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := alice.MessageStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == StateDelivered || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	newCert := []byte("the new device's certificate")
	snap, err := alice.buildLinkSnapshot(ctx, 30, 2, newCert, "phone")
	if err != nil {
		t.Fatal(err)
	}
	want := readState(t, alice.store)
	want.Own[2] = localstore.OwnDevice{Device: 2, State: localstore.OwnApproved, CertHash: sha256.Sum256(newCert)}
	if len(want.History) < 3 || len(want.Contacts) != 1 || !want.Contacts[0].Verified || !slices.Equal(want.Blocked, []string{"mallory"}) ||
		!want.Only || len(want.Timers) != 1 || want.Infos[1].Name != "desk" {
		t.Fatalf("alice's state is not what the test set up: %+v", want)
	}

	fresh, err := localstore.Create(ctx, t.TempDir(), localstore.Passphrase([]byte("p")).WithWorkFactor(10))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := fresh.Update(ctx, func(tx localstore.Tx) error { return applyLinkSnapshot(tx, snap, "alice", 2) }); err != nil {
		t.Fatal(err)
	}
	got := readState(t, fresh)
	if in := got.Infos[2]; in.Name != "phone" {
		t.Errorf("the new device's name: %+v", in)
	}
	delete(got.Infos, 2)
	if !equalState(got, want) {
		t.Fatalf("applied snapshot:\n got %+v\nwant %+v", got, want)
	}
	var cp []byte
	fresh.View(ctx, func(tx localstore.Tx) error { cp, _, err = tx.Checkpoint(); return err })
	if len(cp) == 0 {
		t.Error("no checkpoint applied")
	}

	// No history asked: none given, the rest as before.
	snap0, err := alice.buildLinkSnapshot(ctx, 0, 2, newCert, "phone")
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseLinkSnapshot(snap0)
	if err != nil || len(p.GetHistory()) != 0 || len(p.GetContacts()) != 1 {
		t.Fatalf("snapshot without history: %v, %d messages", err, len(p.GetHistory()))
	}
	// The linking device records the new one, approved with its
	// certificate and named.
	if err := alice.approveLinkedDevice(ctx, 2, newCert, "phone"); err != nil {
		t.Fatal(err)
	}
	if err := alice.approveLinkedDevice(ctx, 1, newCert, "phone"); err == nil {
		t.Fatal("approved itself as a linked device")
	}
	if st := readState(t, alice.store); !st.Own[2].Matches(newCert) || st.Own[2].State != localstore.OwnApproved || st.Infos[2].Name != "phone" {
		t.Fatalf("the linked device on the linking one: %+v %+v", st.Own[2], st.Infos[2])
	}
	for _, bad := range []struct {
		days int
		dev  uint32
		name string
	}{{-1, 2, "x"}, {MaxHistoryDays + 1, 2, "x"}, {1, 1, "x"}, {1, 0, "x"}, {1, 2, ""}, {1, 2, "a\x00b"}} {
		if _, err := alice.buildLinkSnapshot(ctx, bad.days, bad.dev, newCert, bad.name); err == nil {
			t.Errorf("buildLinkSnapshot(%d, %d, %q) succeeded", bad.days, bad.dev, bad.name)
		}
	}
}

func equalState(a, b storeState) bool { return stateString(a) == stateString(b) }

func stateString(s storeState) string {
	var buf bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(s.Own)) {
		buf.WriteString(fmt.Sprint(s.Own[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(s.Infos)) {
		in := s.Infos[k]
		buf.WriteString(fmt.Sprint(in.Device, in.Name, in.NameChanged.UnixNano()))
	}
	buf.WriteString(fmt.Sprint(s.Contacts, s.Blocked, s.Only, len(s.Timers)))
	for _, t := range s.Timers {
		buf.WriteString(fmt.Sprint(t.Peer, t.Seconds, t.Changed.UnixNano()))
	}
	for _, h := range s.History {
		buf.WriteString(fmt.Sprint(h.Conversation, h.ID, h.Sender, h.SenderDevice, h.Outgoing, h.Sent.UnixNano(), h.Received.UnixNano(),
			h.Body, h.Reactions, h.Edited.UnixNano(), h.Deleted, h.Timer, h.Read.UnixNano(), h.Expires.UnixNano()))
		for _, md := range s.Receipts[string(h.ID)] {
			buf.WriteString(fmt.Sprint(md.Recipient, md.Device, md.Delivered.UnixNano(), md.Read.UnixNano()))
		}
	}
	return buf.String()
}

// validSnapshot is a small snapshot for alice's device 2 that
// parseLinkSnapshot accepts.
func validSnapshot() *syncpb.LinkSnapshot {
	h := sha256.Sum256([]byte("cert"))
	ak := bytes.Repeat([]byte{7}, 32)
	id := bytes.Repeat([]byte{9}, 16)
	return &syncpb.LinkSnapshot{
		Version: 1, Handle: "alice", Device: 2, Created: 1_800_000_000_000_000_000,
		Devices: []*syncpb.OwnDevice{
			{Device: 1, State: syncpb.OwnDevice_STATE_APPROVED, CertHash: h[:], Name: "desk", NameChanged: 5},
			{Device: 2, State: syncpb.OwnDevice_STATE_APPROVED, CertHash: h[:], Name: "phone", NameChanged: 6},
		},
		Contacts:     []*syncpb.Contact{{Handle: "bob", AccountKey: ak, Verified: true, KeySetVersion: 3, LogIndex: 9}},
		Blocked:      []string{"mallory"},
		ContactsOnly: true,
		Timers:       []*syncpb.ConversationTimer{{Peer: "bob", Seconds: 3600, Changed: 8}},
		Checkpoint:   []byte("checkpoint text"),
		History: []*syncpb.HistoryMessage{{Conversation: "bob", Id: id, Sender: "alice", SenderDevice: 1, Outgoing: true,
			Sent: 10, Received: 10, Body: []byte{1, 'h', 'i'}, Read: 10, Recipients: []*syncpb.Recipient{{Device: 1, Delivered: 11}}}},
	}
}

func marshalSnapshot(t testing.TB, s *syncpb.LinkSnapshot) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLinkSnapshotRefused: a snapshot that breaks spec/client.md §17.2 is
// refused as ErrCorrupt and nothing of the transaction it was applied in
// is stored.
func TestLinkSnapshotRefused(t *testing.T) {
	ctx := t.Context()
	st, err := localstore.Create(ctx, t.TempDir(), localstore.Passphrase([]byte("p")).WithWorkFactor(10))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	good := marshalSnapshot(t, validSnapshot())
	mutate := func(f func(s *syncpb.LinkSnapshot)) []byte {
		s := validSnapshot()
		f(s)
		return marshalSnapshot(t, s)
	}
	many := func(field protowire.Number, n int) []byte {
		b := slices.Clone(good)
		for range n {
			b = protowire.AppendTag(b, field, protowire.BytesType)
			b = protowire.AppendBytes(b, nil)
		}
		return b
	}
	cases := map[string][]byte{
		"oversize":          make([]byte, MaxSnapshot+1),
		"not protobuf":      []byte{0xff, 0xff},
		"unknown field":     protowire.AppendVarint(protowire.AppendTag(slices.Clone(good), 99, protowire.VarintType), 1),
		"repeated scalar":   protowire.AppendVarint(protowire.AppendTag(slices.Clone(good), 1, protowire.VarintType), 1),
		"too many blocked":  many(snapFieldBlocked, maxSnapshotBlocked+1),
		"too many devices":  many(snapFieldDevices, maxSnapshotDevices+1),
		"version 2":         mutate(func(s *syncpb.LinkSnapshot) { s.Version = 2 }),
		"other account":     mutate(func(s *syncpb.LinkSnapshot) { s.Handle = "eve" }),
		"other device":      mutate(func(s *syncpb.LinkSnapshot) { s.Device = 3 }),
		"new not approved":  mutate(func(s *syncpb.LinkSnapshot) { s.Devices = s.Devices[:1] }),
		"short cert hash":   mutate(func(s *syncpb.LinkSnapshot) { s.Devices[0].CertHash = s.Devices[0].CertHash[:31] }),
		"device state 0":    mutate(func(s *syncpb.LinkSnapshot) { s.Devices[0].State = 0 }),
		"devices unordered": mutate(func(s *syncpb.LinkSnapshot) { s.Devices[0], s.Devices[1] = s.Devices[1], s.Devices[0] }),
		"control in name":   mutate(func(s *syncpb.LinkSnapshot) { s.Devices[0].Name = "a\nb" }),
		"short key":         mutate(func(s *syncpb.LinkSnapshot) { s.Contacts[0].AccountKey = s.Contacts[0].AccountKey[:31] }),
		"bad handle":        mutate(func(s *syncpb.LinkSnapshot) { s.Contacts[0].Handle = "Bob" }),
		"self as contact":   mutate(func(s *syncpb.LinkSnapshot) { s.Contacts[0].Handle = "alice" }),
		"blocked twice":     mutate(func(s *syncpb.LinkSnapshot) { s.Blocked = []string{"mallory", "mallory"} }),
		"timer 5 s":         mutate(func(s *syncpb.LinkSnapshot) { s.Timers[0].Seconds = 5 }),
		"message id short":  mutate(func(s *syncpb.LinkSnapshot) { s.History[0].Id = s.History[0].Id[:15] }),
		"message body bad":  mutate(func(s *syncpb.LinkSnapshot) { s.History[0].Body = []byte{3, 'x'} }),
		"message twice":     mutate(func(s *syncpb.LinkSnapshot) { s.History = append(s.History, s.History[0]) }),
		"received outgoing": mutate(func(s *syncpb.LinkSnapshot) { s.History[0].Outgoing = false }),
	}
	for name, b := range cases {
		err := st.Update(ctx, func(tx localstore.Tx) error {
			// What the adopting transaction wrote before the snapshot.
			if err := tx.Block("zed", time.Now()); err != nil {
				return err
			}
			return applyLinkSnapshot(tx, b, "alice", 2)
		})
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	got := readState(t, st)
	if len(got.Own) != 0 || len(got.Contacts) != 0 || len(got.Blocked) != 0 || len(got.History) != 0 || len(got.Timers) != 0 || len(got.Infos) != 0 {
		t.Fatalf("a refused snapshot left %+v", got)
	}
	// The valid one applies.
	if err := st.Update(ctx, func(tx localstore.Tx) error { return applyLinkSnapshot(tx, good, "alice", 2) }); err != nil {
		t.Fatal(err)
	}
	if got := readState(t, st); len(got.Own) != 2 || len(got.Contacts) != 1 || len(got.History) != 1 || len(got.Receipts[string(got.History[0].ID)]) != 1 {
		t.Fatalf("valid snapshot applied as %+v", got)
	}
}

// FuzzLinkSnapshot: the parser never panics, refuses only with ErrCorrupt,
// and what it accepts re-encodes to the same bytes.
func FuzzLinkSnapshot(f *testing.F) {
	good := marshalSnapshot(f, validSnapshot())
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(marshalSnapshot(f, &syncpb.LinkSnapshot{Version: 1, Handle: "bob", Device: 1, Created: 1,
		Devices: []*syncpb.OwnDevice{{Device: 1, State: syncpb.OwnDevice_STATE_APPROVED, CertHash: make([]byte, 32)}}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseLinkSnapshot(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("refused with %v, not ErrCorrupt", err)
			}
			return
		}
		again, err := proto.MarshalOptions{Deterministic: true}.Marshal(s)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted input re-encodes differently: %x → %x (%v)", b, again, err)
		}
	})
}
