package client

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/relay/wire"
	"google.golang.org/protobuf/encoding/protowire"
)

// recvKind waits for the next message, acks it, and checks its kind.
func recvKind(t *testing.T, c *Client, kind content.Kind) *Message {
	t.Helper()
	m := recv(t, c)
	if got := m.Content.Kind(); m.Content == nil || got != kind {
		t.Fatalf("%s/%d: got a %v message (content %v), want %v", c.Handle(), c.DeviceID(), got, m.Content != nil, kind)
	}
	return m
}

// entry returns the history entry id of c's conversation with peer.
func entry(t *testing.T, c *Client, peer string, id MessageID) *HistoryEntry {
	t.Helper()
	es, err := c.History(ctxT(t), peer, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		if es[i].ID == id {
			return &es[i]
		}
	}
	return nil
}

// textOf is an entry's text, "" for none.
func textOf(e *HistoryEntry) string {
	if e == nil || e.Content == nil {
		return ""
	}
	return e.Content.GetText().GetBody()
}

// waitStatus polls MessageStatus until ok accepts it.
func waitStatus(t *testing.T, c *Client, id MessageID, ok func(*MessageStatus) bool) *MessageStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.MessageStatus(ctxT(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s: %+v", id, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConversationContent runs a conversation between two accounts of two
// devices each through real servers: texts, replies, delivery and read
// receipts on every device of the sender, reactions, edits and deletes
// applied on every device of both sides (sent copies included), and the
// sender rule (spec/client.md §12).
func TestConversationContent(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	alice2, bob2 := s.restoreDevice(t, alice), s.restoreDevice(t, bob)
	all := []*Client{alice, alice2, bob, bob2}

	// A text: to both of bob's devices and, as a sent copy, alice's other.
	id, err := alice.SendText(ctxT(t), "bob", "hello")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{bob, bob2, alice2} {
		m := recvKind(t, c, content.KindText)
		if m.ID != id || string(m.Plaintext) != "hello" || m.From != "alice" || m.Sent != (c == alice2) {
			t.Fatalf("%s/%d got %+v", c.Handle(), c.DeviceID(), m)
		}
	}
	for _, c := range all {
		if e := entry(t, c, map[bool]string{true: "bob", false: "alice"}[c.Handle() == "alice"], id); textOf(e) != "hello" || e.Outgoing != (c.Handle() == "alice") {
			t.Fatalf("%s/%d history: %+v", c.Handle(), c.DeviceID(), e)
		}
	}

	// Delivery receipts from both of bob's devices, sent when they acked.
	st := waitStatus(t, alice, id, func(st *MessageStatus) bool { return st.Delivered == 2 })
	if st.State != StateDelivered || st.Devices != 2 || st.Stored != 2 || st.Read != 0 {
		t.Fatalf("after delivery: %+v", st)
	}
	// alice's other device got the sent copy and the receipts too.
	waitStatus(t, alice2, id, func(st *MessageStatus) bool { return st.Delivered == 2 && st.State == StateDelivered })
	if _, err := bob.MessageStatus(ctxT(t), id); !errors.Is(err, ErrUnknownMessage) {
		t.Fatalf("status on the receiving side: %v", err)
	}

	// Read on bob's first device: alice sees it read; bob's other device
	// learns it (the timer would start there too).
	if err := bob.MarkRead(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	st = waitStatus(t, alice, id, func(st *MessageStatus) bool { return st.Read == 1 })
	if st.State != StateRead || st.Delivered != 2 {
		t.Fatalf("after read: %+v", st)
	}
	waitRead(t, bob2, "alice", id)
	var unknown MessageID
	rand.Read(unknown[:])
	if err := bob.MarkRead(ctxT(t), unknown, id); !errors.Is(err, ErrUnknownMessage) {
		t.Fatalf("MarkRead of an unknown id: %v", err)
	}

	// A reply.
	reply, err := bob.SendText(ctxT(t), "alice", "hi!", WithReplyTo(id, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	m := recvKind(t, alice, content.KindText)
	if m.ID != reply || !bytes.Equal(m.Content.GetReplyTo().GetMessageId(), id[:]) || m.Content.GetReplyTo().GetSender() != "alice" {
		t.Fatalf("reply: %+v", m.Content)
	}
	recvKind(t, alice2, content.KindText)
	recvKind(t, bob2, content.KindText)
	if e := entry(t, alice2, "bob", reply); e == nil || e.ReplyTo == nil || *e.ReplyTo != id {
		t.Fatalf("reply in history: %+v", e)
	}

	// A reaction of bob to alice's message, on every device.
	if _, err := bob.React(ctxT(t), "alice", id, "👍", false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{alice, alice2, bob2} {
		m := recvKind(t, c, content.KindReaction)
		if m.From != "bob" || m.Content.GetReaction().GetEmoji() != "👍" {
			t.Fatalf("%s/%d: %+v", c.Handle(), c.DeviceID(), m.Content)
		}
	}
	for _, c := range all {
		peer := map[bool]string{true: "bob", false: "alice"}[c.Handle() == "alice"]
		e := entry(t, c, peer, id)
		if e == nil || len(e.Reactions) != 1 || e.Reactions[0].From != "bob" || e.Reactions[0].Emoji != "👍" {
			t.Fatalf("%s/%d reactions: %+v", c.Handle(), c.DeviceID(), e)
		}
	}

	// Only the sender edits or deletes: refused at bob, nothing sent.
	if _, err := bob.Edit(ctxT(t), "alice", id, "forged"); !errors.Is(err, ErrNotSender) {
		t.Fatalf("bob editing alice's message: %v", err)
	}
	if _, err := bob.Delete(ctxT(t), "alice", id); !errors.Is(err, ErrNotSender) {
		t.Fatalf("bob deleting alice's message: %v", err)
	}
	// And a forged edit that skips the API is dropped by every receiver.
	forged := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Edit{Edit: &contentpb.Edit{TargetId: id[:], Body: "forged"}}}}
	if _, err := bob.sendContent(ctxT(t), "alice", forged, false, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{alice, alice2, bob2} {
		if e := waitEvent(t, c, EventContentDropped); !errors.Is(e.Err, ErrNotSender) {
			t.Fatalf("%s/%d: forged edit dropped with %v", c.Handle(), c.DeviceID(), e.Err)
		}
	}
	for _, c := range all {
		peer := map[bool]string{true: "bob", false: "alice"}[c.Handle() == "alice"]
		if e := entry(t, c, peer, id); textOf(e) != "hello" || !e.Edited.IsZero() {
			t.Fatalf("%s/%d after the forged edit: %+v", c.Handle(), c.DeviceID(), e)
		}
	}

	// alice edits, then deletes, her message: on every device.
	if _, err := alice.Edit(ctxT(t), "bob", id, "hello, edited"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{bob, bob2, alice2} {
		if m := recvKind(t, c, content.KindEdit); m.Content.GetEdit().GetBody() != "hello, edited" {
			t.Fatal(m.Content)
		}
	}
	for _, c := range all {
		peer := map[bool]string{true: "bob", false: "alice"}[c.Handle() == "alice"]
		if e := entry(t, c, peer, id); textOf(e) != "hello, edited" || e.Edited.IsZero() || len(e.Reactions) != 1 {
			t.Fatalf("%s/%d after the edit: %+v", c.Handle(), c.DeviceID(), e)
		}
	}
	if _, err := alice.Delete(ctxT(t), "bob", id); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{bob, bob2, alice2} {
		recvKind(t, c, content.KindDelete)
	}
	for _, c := range all {
		peer := map[bool]string{true: "bob", false: "alice"}[c.Handle() == "alice"]
		if e := entry(t, c, peer, id); e == nil || !e.Deleted || e.Content != nil || e.Reactions != nil {
			t.Fatalf("%s/%d after the delete: %+v", c.Handle(), c.DeviceID(), e)
		}
	}
	if _, err := alice.Edit(ctxT(t), "bob", id, "again"); !errors.Is(err, ErrInvalidContent) {
		t.Fatalf("editing a deleted message: %v", err)
	}
}

// waitRead polls c's history until the message id of the conversation
// with peer is marked read.
func waitRead(t *testing.T, c *Client, peer string, id MessageID) *HistoryEntry {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		e := entry(t, c, peer, id)
		if e != nil && !e.Read.IsZero() {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%d: %s not marked read: %+v", c.Handle(), c.DeviceID(), id, e)
		}
	}
}

// TestReceiptsSwitchedOff: with Config.NoDeliveryReceipts and
// NoReadReceipts, acking and MarkRead send the sender nothing, while
// MarkRead still reaches the account's other device, which marks the
// message read and starts its timer (spec/client.md §12.2).
func TestReceiptsSwitchedOff(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	quiet := func(dir string) Config {
		cfg := s.config(dir)
		cfg.NoDeliveryReceipts, cfg.NoReadReceipts = true, true
		return cfg
	}
	bob, err := Open(ctxT(t), quiet(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob.Close() })
	if err := bob.Register(ctxT(t), "bob"); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if err := bob.ExportBackup(ctxT(t), &backup, []byte("backup passphrase")); err != nil {
		t.Fatal(err)
	}
	bob2, err := Restore(ctxT(t), quiet(t.TempDir()), &backup, []byte("backup passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob2.Close() })
	if err := bob.ApproveDevice(ctxT(t), bob2.DeviceID()); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SetTimer(ctxT(t), "bob", time.Hour); err != nil {
		t.Fatal(err)
	}
	id, err := alice.SendText(ctxT(t), "bob", "no receipts, please")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{bob, bob2} {
		recvKind(t, c, content.KindTimer)
		recvKind(t, c, content.KindText)
	}
	if err := bob.MarkRead(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	// The read receipt went to bob's other device (its timer starts there).
	if e := waitRead(t, bob2, "alice", id); e.Expires.IsZero() {
		t.Fatalf("bob2's copy read without a timer: %+v", e)
	}
	// A message from each of bob's devices after it: alice has processed
	// what that device sent before once it arrives.
	for _, c := range []*Client{bob, bob2} {
		if err := c.SendReceipts(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		after, err := c.SendText(ctxT(t), "alice", "after")
		if err != nil {
			t.Fatal(err)
		}
		if m := recvKind(t, alice, content.KindText); m.ID != after {
			t.Fatalf("alice got %s first", m.ID)
		}
	}
	st, err := alice.MessageStatus(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateStored || st.Devices != 2 || st.Delivered != 0 || st.Read != 0 {
		t.Fatalf("alice's status of a message bob read with receipts off: %+v", st)
	}
	waitNoEvent(t, alice, EventReceipt, 200*time.Millisecond)
}

// TestHeldUntilTarget: a reaction that arrives before its target is held,
// not shown, and applied and offered right after the target arrives
// (spec/client.md §12.3); one whose target never comes is dropped after
// the hold's lifetime, with an event.
func TestHeldUntilTarget(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	var later MessageID
	rand.Read(later[:])
	react := func(target MessageID) *content.Content {
		return &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Reaction{Reaction: &contentpb.Reaction{TargetId: target[:], Emoji: "🎉"}}}}
	}
	if _, err := bob.sendContent(ctxT(t), "alice", react(later), false, nil, nil); err != nil {
		t.Fatal(err)
	}
	noMessage(t, alice, 300*time.Millisecond)
	if _, err := bob.SendText(ctxT(t), "alice", "the target", WithMessageID(later)); err != nil {
		t.Fatal(err)
	}
	if m := recvKind(t, alice, content.KindText); m.ID != later {
		t.Fatalf("got %s first", m.ID)
	}
	if m := recvKind(t, alice, content.KindReaction); m.From != "bob" {
		t.Fatal(m)
	}
	if e := entry(t, alice, "bob", later); e == nil || len(e.Reactions) != 1 || e.Reactions[0].Emoji != "🎉" {
		t.Fatalf("held reaction not applied: %+v", e)
	}

	var never MessageID
	rand.Read(never[:])
	if _, err := bob.sendContent(ctxT(t), "alice", react(never), false, nil, nil); err != nil {
		t.Fatal(err)
	}
	noMessage(t, alice, 300*time.Millisecond)
	if _, err := alice.expire(ctxT(t), time.Now().Add(heldLifetime+time.Hour)); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, alice, EventContentDropped); !errors.Is(e.Err, errHeldTooLong) {
		t.Fatalf("dropped with %v", e.Err)
	}

	// The bound: with maxHeldPerConversation held, one more change
	// before its target drops the oldest, with an event.
	targets := make([][]byte, maxHeldPerConversation)
	if err := alice.store.Update(ctxT(t), func(tx localstore.Tx) error {
		old := time.Now().Add(-time.Hour)
		for i := range targets {
			targets[i] = make([]byte, 16)
			rand.Read(targets[i])
			p := payload{version: payloadVersion2, kind: kindMessage, id: MessageID(targets[i]), sent: old, to: "alice", body: []byte{0x12, 0x00}}
			if err := tx.PutHeldContent(localstore.HeldContent{Conversation: "bob", Target: targets[i], Sender: "bob", SenderDevice: 1,
				Received: old.Add(time.Duration(i) * time.Millisecond), Payload: p.marshal()}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var last MessageID
	rand.Read(last[:])
	if _, err := bob.sendContent(ctxT(t), "alice", react(last), false, nil, nil); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, alice, EventContentDropped); !errors.Is(e.Err, errHeldTooLong) || e.Handle != "bob" {
		t.Fatalf("over the bound: dropped %+v", e)
	}
	if err := alice.store.Update(ctxT(t), func(tx localstore.Tx) error {
		if n, err := tx.CountHeldContent("bob"); err != nil || n != maxHeldPerConversation {
			t.Errorf("held after the bound: %d, %v; want %d", n, err, maxHeldPerConversation)
		}
		for _, c := range []struct {
			target []byte
			n      int
		}{{targets[0], 0}, {targets[1], 1}, {last[:], 1}} {
			if hs, err := tx.TakeHeldContent("bob", c.target); err != nil || len(hs) != c.n {
				t.Errorf("held for %x: %d, %v; want %d", c.target, len(hs), err, c.n)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	noMessage(t, alice, 100*time.Millisecond)
}

// TestReceiptsThatMatchNothing: receipts for messages never sent, and from
// an account the message did not go to, change nothing and report
// nothing (spec/client.md §12.2).
func TestReceiptsThatMatchNothing(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob, carol := s.newUser("alice"), s.newUser("bob"), s.newUser("carol")
	id, err := alice.SendText(ctxT(t), "bob", "for bob")
	if err != nil {
		t.Fatal(err)
	}
	var never MessageID
	rand.Read(never[:])
	receipt := func(ids ...MessageID) *content.Content {
		r := &contentpb.Receipt{Type: contentpb.Receipt_TYPE_READ, Timestamp: 1}
		for _, id := range ids {
			r.TargetIds = append(r.TargetIds, id[:])
		}
		return &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Receipt{Receipt: r}}}
	}
	for _, c := range []*Client{bob, carol} {
		body, err := content.Marshal(receipt(id, never))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.send(ctxT(t), "alice", &outMessage{version: payloadVersion2, body: body, kind: content.KindReceipt, noOwn: true, wait: true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	recvKind(t, bob, content.KindText)
	// bob's delivery receipt (for the message it got) comes after the
	// forged read receipts: once it is in, they were processed.
	waitStatus(t, alice, id, func(st *MessageStatus) bool { return st.Delivered == 1 })
	st, err := alice.MessageStatus(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	// bob's forged read receipt for the id counts (bob did get it), for
	// the other id nothing; carol's counts nowhere.
	if st.Devices != 1 || st.Read != 1 {
		t.Fatalf("%+v", st)
	}
	if _, err := alice.MessageStatus(ctxT(t), never); !errors.Is(err, ErrUnknownMessage) {
		t.Fatalf("status of a message never sent: %v", err)
	}
	noMessage(t, alice, 200*time.Millisecond)
}

// TestNewerContentKept: a Content of a newer version — an unknown kind
// with unknown fields — arrives as KindUnknown with its fields, stays in
// the history byte for byte, and version 1 messages still arrive as
// before (spec/content.md §5, spec/client.md §2).
func TestNewerContentKept(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	// Field 20 (a kind of a later version) holding a message with a
	// string, and an unknown varint field 30.
	fixture := []byte{0xa2, 0x01, 0x05, 0x0a, 0x03, 'n', 'e', 'w', 0xf0, 0x01, 0x07}
	ct, err := content.Parse(fixture)
	if err != nil {
		t.Fatal(err)
	}
	id, err := bob.SendContent(ctxT(t), "alice", ct)
	if err != nil {
		t.Fatal(err)
	}
	m := recvKind(t, alice, content.KindUnknown)
	if m.ID != id || !bytes.Equal(m.Content.Unknown(), fixture) {
		t.Fatalf("unknown fields %x, want %x", m.Content.Unknown(), fixture)
	}
	e := entry(t, alice, "bob", id)
	if e == nil || e.Content == nil {
		t.Fatalf("history: %+v", e)
	}
	if b, err := content.Marshal(e.Content); err != nil || !bytes.Equal(b, fixture) {
		t.Fatalf("history keeps %x, %v; want %x", b, err, fixture)
	}

	v1 := send(t, bob, "alice", "version 1 bytes")
	m = recv(t, alice)
	if m.ID != v1 || m.Content != nil || string(m.Plaintext) != "version 1 bytes" {
		t.Fatalf("version 1: %+v", m)
	}
	if e := entry(t, alice, "bob", v1); e == nil || e.Content != nil || string(e.Plaintext) != "version 1 bytes" {
		t.Fatalf("version 1 in history: %+v", e)
	}

	// What SendContent refuses, with nothing sent.
	for _, bad := range []*content.Content{
		nil,
		{Content: &contentpb.Content{Kind: &contentpb.Content_Typing{Typing: &contentpb.Typing{State: contentpb.Typing_STATE_STARTED}}}},
		{Content: &contentpb.Content{Kind: &contentpb.Content_Text{Text: &contentpb.Text{Body: string([]byte{0xff})}}}},
		{Content: &contentpb.Content{Kind: &contentpb.Content_Text{Text: &contentpb.Text{Body: string(make([]byte, content.MaxTextBytes+1))}}}},
	} {
		if id, err := bob.SendContent(ctxT(t), "alice", bad); !errors.Is(err, ErrInvalidContent) || id != (MessageID{}) {
			t.Errorf("SendContent(%v) = %s, %v; want ErrInvalidContent", bad, id, err)
		}
	}
	if _, err := bob.SetTimer(ctxT(t), "alice", 10*time.Second); !errors.Is(err, ErrInvalidContent) || !errors.Is(err, content.ErrOutOfRange) {
		t.Errorf("a 10 s timer: %v", err)
	}
	noMessage(t, alice, 200*time.Millisecond)
}

// TestDisappearingMessages: a timer set by one side applies to both; a
// received message's timer starts when the application acks it, and once
// it runs out the message is gone from the history and from the store's
// file and its write-ahead log — also when it ran out while the client
// was not running, checked when it opens (spec/client.md §12.5).
func TestDisappearingMessages(t *testing.T) {
	requireSQLiteStore(t)
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	if _, err := alice.SetTimer(ctxT(t), "bob", time.Minute); err != nil {
		t.Fatal(err)
	}
	if m := recvKind(t, bob, content.KindTimer); m.Content.GetTimer().GetSeconds() != 60 || m.From != "alice" {
		t.Fatal(m.Content)
	}
	for _, c := range []*Client{alice, bob} {
		peer := map[bool]string{true: "bob", false: "alice"}[c == alice]
		if d, err := c.Timer(ctxT(t), peer); err != nil || d != time.Minute {
			t.Fatalf("%s's timer: %v, %v", c.Handle(), d, err)
		}
	}
	id, err := alice.SendText(ctxT(t), "bob", "disappearing marker 7f3a")
	if err != nil {
		t.Fatal(err)
	}
	// Kept as it arrives, but not displayed (not acked) yet: its timer has
	// not started (spec/client.md §12.5).
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e := entry(t, bob, "alice", id)
		if e != nil {
			if !e.Expires.IsZero() || !e.Read.IsZero() {
				t.Fatalf("bob's copy before the ack: read %v, expires %v", e.Read, e.Expires)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob's copy never reached the history")
		}
	}
	acked := time.Now()
	if m := recvKind(t, bob, content.KindText); m.Timer != time.Minute {
		t.Fatalf("message timer %v", m.Timer)
	}
	// The ack commits just after recv returns.
	var e *HistoryEntry
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if e = entry(t, bob, "alice", id); e != nil && !e.Expires.IsZero() {
			break
		}
	}
	if e == nil || e.Expires.Before(acked.Add(time.Minute-time.Second)) || e.Expires.After(time.Now().Add(time.Minute)) {
		t.Fatalf("bob's copy expires %v (acked at %v)", e.Expires, acked)
	}
	if e := entry(t, alice, "bob", id); e == nil || e.Expires.IsZero() {
		t.Fatalf("alice's copy: %+v", e)
	}
	bob.Close()

	// The sealed row, as it is on disk, before it expires (the positive
	// control of the scan below); then its expiry moved into the past.
	db := openRaw(t, bobDir)
	var sealed []byte
	if err := db.QueryRow(`SELECT body FROM history WHERE id = ?`, id[:]).Scan(&sealed); err != nil || len(sealed) < 40 {
		t.Fatalf("sealed body: %d bytes, %v", len(sealed), err)
	}
	if _, err := db.Exec(`UPDATE history SET expires = 1 WHERE id = ?`, id[:]); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if !onDisk(t, bobDir, sealed) {
		t.Fatal("positive control: the sealed message is not in the store's files")
	}

	bob = s.open(bobDir)
	ev := waitEvent(t, bob, EventMessageExpired)
	if ev.Handle != "alice" || len(ev.Messages) != 1 || ev.Messages[0] != id {
		t.Fatalf("expired event: %+v", ev)
	}
	if e := entry(t, bob, "alice", id); e != nil {
		t.Fatalf("still in bob's history: %+v", e)
	}
	bob.Close()
	if onDisk(t, bobDir, sealed) {
		t.Fatal("the expired message is still in bob's store file or its WAL")
	}

	if _, err := alice.expire(ctxT(t), time.Now().Add(time.Minute+time.Second)); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, alice, EventMessageExpired); len(ev.Messages) != 1 || ev.Messages[0] != id {
		t.Fatalf("alice's expired event: %+v", ev)
	}
	if e := entry(t, alice, "bob", id); e != nil {
		t.Fatalf("still in alice's history: %+v", e)
	}
}

// openRaw opens a closed client's state.db as an intruder with the file
// would.
func openRaw(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// onDisk reports whether b occurs in the store's database file or its
// write-ahead log.
func onDisk(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	for _, name := range []string{"state.db", "state.db-wal"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(data, b) {
			return true
		}
	}
	return false
}

// waitNoEvent checks that no event of kind arrives for a while.
func waitNoEvent(t *testing.T, c *Client, kind EventKind, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e := <-c.Events():
			if e.Kind == kind {
				t.Fatalf("%s: unexpected %s event %+v", c.Handle(), kind, e)
			}
		case <-deadline:
			return
		}
	}
}

// converse starts sessions both ways between a and b, each answered:
// ephemeral signals go only on established sessions.
func converse(t *testing.T, a, b *Client) {
	t.Helper()
	for _, p := range [][2]*Client{{a, b}, {b, a}} {
		if _, err := p[0].SendText(ctxT(t), p[1].Handle(), "hi"); err != nil {
			t.Fatal(err)
		}
		recv(t, p[1])
	}
}

// TestEphemeralSignals: typing and presence reach a connected device,
// are absent (not queued) after an offline device reconnects, never
// reach the relay's store, do not disturb the stored messages that follow
// (their gap is skipped), stop after maxEphemeralRun in a row, and fail
// with ErrNotConnected while the relay is down (spec/client.md §12.7).
func TestEphemeralSignals(t *testing.T) {
	// The relay's per-pair signal rate (5 a second) is not under test.
	s := startServersWith(t, engineSQLite, func(c *relay.Config) {
		c.Limits.EphemeralPairRate, c.Limits.EphemeralPairBurst = 1000, 1000
	})
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	// Sessions both ways, answered: signals go on established sessions.
	converse(t, alice, bob)

	if err := alice.Typing(ctxT(t), "bob", true); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, bob, EventTyping); e.Handle != "alice" || e.Device != 1 || !e.Typing {
		t.Fatalf("typing event %+v", e)
	}
	if err := alice.Typing(ctxT(t), "bob", false); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, bob, EventTyping); e.Typing {
		t.Fatalf("stop event %+v", e)
	}
	if err := alice.AnnouncePresence(ctxT(t), "bob"); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, bob, EventPresence); e.Handle != "alice" {
		t.Fatalf("presence event %+v", e)
	}

	// bob offline: dropped by the relay, never stored.
	bob.Close()
	for range 5 {
		if err := alice.Typing(ctxT(t), "bob", true); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.q.Stats(ctxT(t), wire.FormatAddress("bob", 1))
	if err != nil || st.Count != 0 {
		t.Fatalf("bob's mailbox while offline: %+v, %v", st, err)
	}
	bob = s.open(bobDir)
	waitNoEvent(t, bob, EventTyping, 500*time.Millisecond)
	noMessage(t, bob, 10*time.Millisecond)
	// The five signals left a gap in the session; the next message skips it.
	id, err := alice.SendText(ctxT(t), "bob", "after the gap")
	if err != nil {
		t.Fatal(err)
	}
	if m := recvKind(t, bob, content.KindText); m.ID != id {
		t.Fatal(m)
	}

	// At the bound, nothing goes until a stored message resets the run.
	if err := alice.store.Update(ctxT(t), func(tx localstore.Tx) error {
		return tx.SetEphemeralRun("bob", 1, maxEphemeralRun)
	}); err != nil {
		t.Fatal(err)
	}
	if err := alice.Typing(ctxT(t), "bob", true); err != nil {
		t.Fatal(err)
	}
	waitNoEvent(t, bob, EventTyping, 300*time.Millisecond)
	if _, err := alice.SendText(ctxT(t), "bob", "resets the run"); err != nil {
		t.Fatal(err)
	}
	recv(t, bob)
	if err := alice.Typing(ctxT(t), "bob", true); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bob, EventTyping)

	if err := alice.Typing(ctxT(t), "alice", true); !errors.Is(err, ErrInvalidHandle) {
		t.Fatalf("typing to the own account: %v", err)
	}

	// Stored content sent as a signal is dropped by the receiver, with an
	// event, and never offered or kept (spec/client.md §12.7).
	sneaky := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Text{Text: &contentpb.Text{Body: "sneaky"}}}}
	if err := alice.sendEphemeral(ctxT(t), []string{"bob"}, sneaky); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, bob, EventContentDropped); !errors.Is(e.Err, errNotEphemeral) || e.Handle != "alice" {
		t.Fatalf("stored content as a signal: %+v", e)
	}
	noMessage(t, bob, 100*time.Millisecond)
	es, err := bob.History(ctxT(t), "alice", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if textOf(&e) == "sneaky" {
			t.Fatalf("a signal's text kept in the history: %+v", e)
		}
	}
}

// TestEphemeralWhileDisconnected: with the relay down a signal fails at
// once with ErrNotConnected, and nothing is encrypted.
func TestEphemeralWhileDisconnected(t *testing.T) {
	s := startServers(t, engineSQLite)
	rr := s.restartableRelay()
	alice, bob := s.newUser("alice"), s.newUser("bob")
	converse(t, alice, bob)
	rr.stop(true)
	waitEvent(t, alice, EventDisconnected)
	session := func() []byte {
		var b []byte
		if err := alice.store.View(ctxT(t), func(tx localstore.Tx) error {
			s, err := tx.Session("bob", 1)
			b = s.State
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := session()
	if err := alice.Typing(ctxT(t), "bob", true); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("typing while disconnected: %v", err)
	}
	if !bytes.Equal(before, session()) {
		t.Fatal("a refused signal changed alice's session")
	}
}

// TestBadContentDropped: version 2 payloads whose Content the format
// refuses — a timer out of range, invalid UTF-8, oversize text, bytes that
// are not protobuf — are dropped with an event naming the refusal, nothing
// is offered or kept, and the session goes on (spec/client.md §2.1).
func TestBadContentDropped(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	text := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), bytes.Repeat([]byte{'a'}, content.MaxTextBytes+1))
	big := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), text)
	for _, c := range []struct {
		name string
		body []byte
		want error
	}{
		{"timer 10 s", []byte{0x2a, 0x02, 0x08, 0x0a}, content.ErrOutOfRange},
		{"text not UTF-8", []byte{0x0a, 0x03, 0x0a, 0x01, 0xff}, content.ErrInvalidUTF8},
		{"text over 16 KiB", big, content.ErrTooLarge},
		{"not protobuf", []byte{0xff, 0xff}, content.ErrMalformed},
	} {
		if _, err := bob.send(ctxT(t), "alice", &outMessage{version: payloadVersion2, body: c.body, wait: true}, nil); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		e := waitEvent(t, alice, EventEnvelopeDropped)
		if !errors.Is(e.Err, errBadPayload) || !errors.Is(e.Err, c.want) || e.Handle != "bob" {
			t.Fatalf("%s: dropped with %v, want %v", c.name, e.Err, c.want)
		}
	}
	noMessage(t, alice, 200*time.Millisecond)
	if es, err := alice.History(ctxT(t), "bob", 100); err != nil || len(es) != 0 {
		t.Fatalf("history after refused content: %d entries, %v", len(es), err)
	}
	id, err := bob.SendText(ctxT(t), "alice", "still fine")
	if err != nil {
		t.Fatal(err)
	}
	if m := recvKind(t, alice, content.KindText); m.ID != id {
		t.Fatal(m)
	}
}

// TestHistoryPages: History gives the newest messages, HistoryBefore the
// pages before them, HistoryMessage one message; unknown ids and handles
// are refused (spec/client.md §12.6).
func TestHistoryPages(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	var ids []MessageID
	for i := range 7 {
		id, err := alice.SendText(ctxT(t), "bob", fmt.Sprint("m", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	texts := func(es []HistoryEntry) (out []string) {
		for _, e := range es {
			out = append(out, textOf(&e))
		}
		return out
	}
	last, err := alice.History(ctxT(t), "bob", 3)
	if err != nil || fmt.Sprint(texts(last)) != "[m4 m5 m6]" {
		t.Fatalf("History: %v, %v", texts(last), err)
	}
	page, err := alice.HistoryBefore(ctxT(t), "bob", last[0].ID, 3)
	if err != nil || fmt.Sprint(texts(page)) != "[m1 m2 m3]" {
		t.Fatalf("HistoryBefore: %v, %v", texts(page), err)
	}
	page, err = alice.HistoryBefore(ctxT(t), "bob", page[0].ID, 3)
	if err != nil || fmt.Sprint(texts(page)) != "[m0]" {
		t.Fatalf("first page: %v, %v", texts(page), err)
	}
	if e, err := alice.HistoryMessage(ctxT(t), "bob", ids[2]); err != nil || textOf(e) != "m2" || !e.Outgoing {
		t.Fatalf("HistoryMessage: %+v, %v", e, err)
	}
	var unknown MessageID
	rand.Read(unknown[:])
	if _, err := alice.HistoryMessage(ctxT(t), "bob", unknown); !errors.Is(err, ErrUnknownMessage) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := alice.HistoryBefore(ctxT(t), "bob", unknown, 3); !errors.Is(err, ErrUnknownMessage) {
		t.Fatalf("page before an unknown id: %v", err)
	}
	if _, err := alice.History(ctxT(t), "Bob!", 3); !errors.Is(err, ErrInvalidHandle) {
		t.Fatalf("invalid handle: %v", err)
	}
	recv(t, bob)
	if e, err := bob.HistoryMessage(ctxT(t), "alice", ids[0]); err != nil || e.Outgoing || textOf(e) != "m0" {
		t.Fatalf("bob's copy: %+v, %v", e, err)
	}
}

// TestChangeRules applies reactions, edits and deletes to history rows by
// the rules every device applies (spec/client.md §12.3, §12.4): only the
// sender edits or deletes; only a text is edited; the latest edit wins
// whatever the arrival order; one reaction per account and emoji, at most
// maxReactionsPerSender per account (the oldest goes); a deleted message
// takes no change. A refusal changes nothing in the store.
func TestChangeRules(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	t0 := time.Now().Truncate(time.Millisecond)
	mustMarshal := func(c *contentpb.Content) []byte {
		b, err := content.Marshal(&content.Content{Content: c})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	text, app := make([]byte, 16), make([]byte, 16)
	rand.Read(text)
	rand.Read(app)
	if err := alice.store.Update(ctxT(t), func(tx localstore.Tx) error {
		for _, r := range []localstore.HistoryRow{
			{ID: text, Body: historyBody(payloadVersion2, mustMarshal(&contentpb.Content{Kind: &contentpb.Content_Text{Text: &contentpb.Text{Body: "orig"}}}))},
			{ID: app, Body: historyBody(payloadVersion2, mustMarshal(&contentpb.Content{Kind: &contentpb.Content_App{App: &contentpb.AppDefined{TypeUrl: "example.org/x"}}}))},
		} {
			r.Conversation, r.Sender, r.SenderDevice, r.Sent, r.Received = "bob", "bob", 1, t0, t0
			if _, err := tx.PutHistory(r); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	edit := func(id []byte, body string) *content.Content {
		return &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Edit{Edit: &contentpb.Edit{TargetId: id, Body: body}}}}
	}
	react := func(emoji string, remove bool) *content.Content {
		return &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Reaction{Reaction: &contentpb.Reaction{TargetId: text, Emoji: emoji, Remove: remove}}}}
	}
	del := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Delete{Delete: &contentpb.Delete{TargetId: text}}}}
	// apply applies c by sender, sent at sent, to the row id in one
	// transaction and returns the entry as stored afterwards.
	apply := func(id []byte, c *content.Content, sender string, sent time.Time) (bool, HistoryEntry, error) {
		t.Helper()
		var (
			changed bool
			refused error
			e       HistoryEntry
		)
		if err := alice.store.Update(ctxT(t), func(tx localstore.Tx) error {
			row, err := tx.History("bob", id)
			if err != nil {
				return err
			}
			changed, refused = applyChange(tx, &row, c, sender, sent)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := alice.store.View(ctxT(t), func(tx localstore.Tx) error {
			row, err := tx.History("bob", id)
			if err != nil {
				return err
			}
			e, err = toEntry(&row)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return changed, e, refused
	}

	// Edits.
	if ok, e, err := apply(text, edit(text, "forged"), "alice", t0.Add(time.Second)); ok || !errors.Is(err, ErrNotSender) || textOf(&e) != "orig" || !e.Edited.IsZero() {
		t.Errorf("edit by another account: %v, %v, %+v", ok, err, e)
	}
	if ok, e, err := apply(text, edit(text, "second"), "bob", t0.Add(2*time.Second)); !ok || err != nil || textOf(&e) != "second" || !e.Edited.Equal(t0.Add(2*time.Second)) {
		t.Errorf("edit: %v, %v, %+v", ok, err, e)
	}
	if ok, e, err := apply(text, edit(text, "first"), "bob", t0.Add(time.Second)); ok || err != nil || textOf(&e) != "second" {
		t.Errorf("an older edit arriving later: %v, %v, %+v", ok, err, e)
	}
	if ok, e, err := apply(app, edit(app, "text"), "bob", t0.Add(time.Second)); ok || !errors.Is(err, errNotText) || e.Content.Kind() != content.KindApp {
		t.Errorf("edit of an application message: %v, %v, %+v", ok, err, e)
	}

	// Reactions: alice's 17 emojis keep her 16 newest; bob's are apart.
	emojis := []string{"😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗", "😙"}
	if ok, _, err := apply(text, react("👍", false), "bob", t0); !ok || err != nil {
		t.Fatalf("bob's reaction: %v, %v", ok, err)
	}
	for i, em := range emojis {
		if ok, _, err := apply(text, react(em, false), "alice", t0.Add(time.Duration(i)*time.Millisecond)); !ok || err != nil {
			t.Fatalf("reaction %d: %v, %v", i, ok, err)
		}
	}
	_, e, _ := apply(text, react(emojis[5], false), "alice", t0.Add(time.Second)) // again: replaced, not doubled
	var mine []string
	for _, r := range e.Reactions {
		if r.From == "alice" {
			mine = append(mine, r.Emoji)
		}
	}
	want := append(append([]string{}, emojis[1:5]...), emojis[6:]...)
	want = append(want, emojis[5])
	if fmt.Sprint(mine) != fmt.Sprint(want) || len(e.Reactions) != maxReactionsPerSender+1 || e.Reactions[0].From != "bob" {
		t.Errorf("reactions: %v (%d in all), want alice's %v and bob's first", mine, len(e.Reactions), want)
	}
	if _, e, err := apply(text, react("👍", true), "bob", t0.Add(time.Second)); err != nil || len(e.Reactions) != maxReactionsPerSender || e.Reactions[0].From != "alice" {
		t.Errorf("bob's reaction removed: %v, %+v", err, e.Reactions)
	}

	// Deletes.
	if ok, e, err := apply(text, del, "alice", t0.Add(time.Second)); ok || !errors.Is(err, ErrNotSender) || e.Deleted || textOf(&e) != "second" {
		t.Errorf("delete by another account: %v, %v, %+v", ok, err, e)
	}
	if ok, e, err := apply(text, del, "bob", t0.Add(3*time.Second)); !ok || err != nil || !e.Deleted || e.Content != nil || e.Reactions != nil {
		t.Errorf("delete: %v, %v, %+v", ok, err, e)
	}
	for _, c := range []*content.Content{react("🎉", false), edit(text, "back"), del} {
		if ok, e, err := apply(text, c, "bob", t0.Add(4*time.Second)); ok || !errors.Is(err, errTargetDeleted) || !e.Deleted || e.Content != nil || e.Reactions != nil {
			t.Errorf("%v of a deleted message: %v, %v, %+v", c.Kind(), ok, err, e)
		}
	}
}
