//go:build !js

package localstore

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// seqs returns the sequence numbers of rs.
func seqs(rs []HistoryRow) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

// A conversation's history (spec/client-store.md §4.15): one message per
// id and conversation, read whole or by page (the newest, oldest first),
// updated in place, deleted with its receipt state.
func TestHistory(t *testing.T) {
	s, _ := create(t, pass("p"))
	var bob []int64 // the seq of bob's messages, in order
	update(t, s, func(tx Tx) error {
		for i := range 5 {
			for _, conv := range []string{"bob", "carol"} {
				seq, err := tx.PutHistory(HistoryRow{Conversation: conv, ID: fmt.Appendf(nil, "m%d", i), Sender: conv, SenderDevice: 7,
					Sent: t0, Received: t0.Add(time.Second), Body: []byte("body " + conv), Timer: 30})
				if err != nil {
					return err
				}
				if conv == "bob" {
					bob = append(bob, seq)
				}
			}
		}
		_, err := tx.PutHistory(HistoryRow{Conversation: "bob", ID: []byte("m0"), Sender: "bob", Body: []byte("again")})
		if !errors.Is(err, ErrDuplicate) {
			t.Errorf("PutHistory of a stored id: %v, want ErrDuplicate", err)
		}
		// The same id in another conversation is another message.
		_, err = tx.PutHistory(HistoryRow{Conversation: "alice", ID: []byte("m0"), Sender: "me", Outgoing: true})
		return err
	})
	view(t, s, func(tx Tx) error {
		r, err := tx.History("bob", []byte("m2"))
		if err != nil || r.Seq != bob[2] || string(r.Body) != "body bob" || r.Reactions != nil || r.SenderDevice != 7 ||
			!r.Received.Equal(t0.Add(time.Second)) || r.Timer != 30 || r.Outgoing || !r.Read.IsZero() {
			t.Errorf("History(bob, m2) = %+v, %v", r, err)
		}
		if _, err := tx.History("bob", []byte("m9")); !errors.Is(err, ErrNotFound) {
			t.Errorf("History(bob, m9): %v, want ErrNotFound", err)
		}
		if rs, err := tx.HistoryByID([]byte("m0")); err != nil || len(rs) != 3 ||
			rs[0].Conversation != "alice" || rs[1].Conversation != "bob" || rs[2].Conversation != "carol" ||
			rs[0].Body != nil || !rs[0].Outgoing {
			t.Errorf("HistoryByID(m0) = %+v, %v", rs, err)
		}
		if rs, err := tx.HistoryByID([]byte("none")); err != nil || rs != nil {
			t.Errorf("HistoryByID(none) = %+v, %v", rs, err)
		}
		for _, c := range []struct {
			before      int64 // 0: HistoryLatest
			limit, from int
			to          int
		}{
			{0, 2, 3, 5}, {0, 10, 0, 5}, {0, -1, 0, 5}, {0, 0, 0, 0},
			{bob[3], 2, 1, 3}, {bob[3], 10, 0, 3}, {bob[0], 10, 0, 0}, {bob[4] + 100, 1, 4, 5},
		} {
			var (
				rs  []HistoryRow
				err error
			)
			if c.before == 0 {
				rs, err = tx.HistoryLatest("bob", c.limit)
			} else {
				rs, err = tx.HistoryBefore("bob", c.before, c.limit)
			}
			if got := seqs(rs); err != nil || !slices.Equal(got, bob[c.from:c.to]) || (c.from == c.to && rs != nil) {
				t.Errorf("before %d, limit %d: %v, %v; want %v", c.before, c.limit, got, err, bob[c.from:c.to])
			}
		}
		if rs, err := tx.HistoryLatest("dave", 10); err != nil || rs != nil {
			t.Errorf("HistoryLatest(dave) = %+v, %v", rs, err)
		}
		return nil
	})

	// An update writes the changing columns; a nil body is stored as none.
	update(t, s, func(tx Tx) error {
		r, err := tx.History("bob", []byte("m1"))
		if err != nil {
			return err
		}
		r.Body, r.Reactions, r.Deleted, r.Edited, r.Read = nil, []byte("+1"), true, t0.Add(time.Minute), t0.Add(time.Hour)
		if err := tx.UpdateHistory(r); err != nil {
			return err
		}
		// Not the sender: nothing matches.
		r.Sender, r.Reactions = "mallory", []byte("x")
		if err := tx.UpdateHistory(r); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateHistory of another sender: %v, want ErrNotFound", err)
		}
		r.Sender, r.ID = "bob", []byte("m9")
		if err := tx.UpdateHistory(r); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateHistory of an unknown id: %v, want ErrNotFound", err)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		r, err := tx.History("bob", []byte("m1"))
		if err != nil || r.Body != nil || string(r.Reactions) != "+1" || !r.Deleted || !r.Edited.Equal(t0.Add(time.Minute)) ||
			!r.Read.Equal(t0.Add(time.Hour)) || r.Seq != bob[1] || string(r.ID) != "m1" {
			t.Errorf("History(bob, m1) after update = %+v, %v", r, err)
		}
		return nil
	})

	// A delete takes the message's receipt state in its conversation only.
	update(t, s, func(tx Tx) error {
		for _, conv := range []string{"bob", "carol"} {
			if err := tx.PutMessageDevice([]byte("m2"), conv, 1); err != nil {
				return err
			}
		}
		if err := tx.DeleteHistory("bob", []byte("m2")); err != nil {
			return err
		}
		if err := tx.DeleteHistory("bob", []byte("m2")); !errors.Is(err, ErrNotFound) {
			t.Errorf("second DeleteHistory: %v, want ErrNotFound", err)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		if _, err := tx.History("bob", []byte("m2")); !errors.Is(err, ErrNotFound) {
			t.Errorf("History after delete: %v", err)
		}
		if _, err := tx.History("carol", []byte("m2")); err != nil {
			t.Errorf("carol's m2 after deleting bob's: %v", err)
		}
		if ms, err := tx.MessageDevices([]byte("m2")); err != nil || len(ms) != 1 || ms[0].Recipient != "carol" {
			t.Errorf("MessageDevices(m2) after delete = %+v, %v", ms, err)
		}
		if rs, err := tx.HistoryLatest("bob", 10); err != nil || !slices.Equal(seqs(rs), []int64{bob[0], bob[1], bob[3], bob[4]}) {
			t.Errorf("HistoryLatest(bob) after delete = %v, %v", seqs(rs), err)
		}
		return nil
	})

	// Writes in a View transaction fail and change nothing.
	if err := s.View(t.Context(), func(tx Tx) error {
		_, err := tx.PutHistory(HistoryRow{Conversation: "bob", ID: []byte("new"), Sender: "bob"})
		if !errors.Is(err, errReadOnly) {
			t.Errorf("PutHistory in View: %v", err)
		}
		if err := tx.DeleteHistory("bob", []byte("m0")); !errors.Is(err, errReadOnly) {
			t.Errorf("DeleteHistory in View: %v", err)
		}
		if err := tx.UpdateHistory(HistoryRow{Conversation: "bob", ID: []byte("m0"), Sender: "bob"}); !errors.Is(err, errReadOnly) {
			t.Errorf("UpdateHistory in View: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	view(t, s, func(tx Tx) error {
		if r, err := tx.History("bob", []byte("m0")); err != nil || string(r.Body) != "body bob" {
			t.Errorf("History(bob, m0) after refused writes = %+v, %v", r, err)
		}
		if _, err := tx.History("bob", []byte("new")); !errors.Is(err, ErrNotFound) {
			t.Errorf("History(bob, new) after a refused put: %v", err)
		}
		return nil
	})
}

// Disappearing messages (spec/client-store.md §4.15): those whose expiry
// has come, soonest first (ties in storing order), never those without
// one; NextExpiry is the soonest.
func TestHistoryExpiry(t *testing.T) {
	s, _ := create(t, pass("p"))
	view(t, s, func(tx Tx) error {
		if next, err := tx.NextExpiry(); err != nil || !next.IsZero() {
			t.Errorf("NextExpiry of an empty history = %v, %v", next, err)
		}
		return nil
	})
	// Expiry offsets in seconds from t0, in storing order; -1: none.
	offsets := []int{30, -1, 10, 20, -1, 10, 40}
	var seq []int64
	update(t, s, func(tx Tx) error {
		for i, o := range offsets {
			r := HistoryRow{Conversation: "bob", ID: fmt.Appendf(nil, "m%d", i), Sender: "bob", Body: []byte("b")}
			if o >= 0 {
				r.Expires = t0.Add(time.Duration(o) * time.Second)
			}
			n, err := tx.PutHistory(r)
			if err != nil {
				return err
			}
			seq = append(seq, n)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		if next, err := tx.NextExpiry(); err != nil || !next.Equal(t0.Add(10*time.Second)) {
			t.Errorf("NextExpiry = %v, %v", next, err)
		}
		for _, c := range []struct {
			now   time.Duration
			limit int
			want  []int64
		}{
			{0, 10, nil},
			{10 * time.Second, 10, []int64{seq[2], seq[5]}},
			{10 * time.Second, 1, []int64{seq[2]}},
			{30 * time.Second, -1, []int64{seq[2], seq[5], seq[3], seq[0]}},
			{time.Hour, 10, []int64{seq[2], seq[5], seq[3], seq[0], seq[6]}},
			{time.Hour, 0, nil},
		} {
			rs, err := tx.HistoryExpired(t0.Add(c.now), c.limit)
			if err != nil || !slices.Equal(seqs(rs), c.want) || (c.want == nil && rs != nil) {
				t.Errorf("HistoryExpired(t0+%v, %d) = %v, %v; want %v", c.now, c.limit, seqs(rs), err, c.want)
			}
		}
		return nil
	})
	// An update starting a timer is found; one ending it is not.
	update(t, s, func(tx Tx) error {
		r, err := tx.History("bob", []byte("m1"))
		if err != nil {
			return err
		}
		r.Expires = t0.Add(time.Second)
		if err := tx.UpdateHistory(r); err != nil {
			return err
		}
		for _, id := range []string{"m2", "m5"} {
			r, err := tx.History("bob", []byte(id))
			if err != nil {
				return err
			}
			r.Expires = time.Time{}
			if err := tx.UpdateHistory(r); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		if next, err := tx.NextExpiry(); err != nil || !next.Equal(t0.Add(time.Second)) {
			t.Errorf("NextExpiry after updates = %v, %v", next, err)
		}
		if rs, err := tx.HistoryExpired(t0.Add(20*time.Second), 10); err != nil || !slices.Equal(seqs(rs), []int64{seq[1], seq[3]}) {
			t.Errorf("HistoryExpired after updates = %v, %v", seqs(rs), err)
		}
		return nil
	})
}

// Held reactions, edits and deletes (spec/client-store.md §4.16): taken by
// target in arrival order, counted per conversation, dropped when old or
// beyond the newest keep.
func TestHeldContent(t *testing.T) {
	s, _ := create(t, pass("p"))
	// Conversation, target and arrival offset (seconds), in arrival order.
	held := []struct {
		conv, target string
		at           int
	}{{"bob", "t1", 5}, {"bob", "t2", 1}, {"carol", "t1", 2}, {"bob", "t1", 3}, {"bob", "t3", 9}, {"bob", "t2", 8}}
	update(t, s, func(tx Tx) error {
		for i, h := range held {
			if err := tx.PutHeldContent(HeldContent{Conversation: h.conv, Target: []byte(h.target), Sender: h.conv, SenderDevice: 2,
				Received: t0.Add(time.Duration(h.at) * time.Second), Payload: fmt.Appendf(nil, "p%d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	payloads := func(hs []HeldContent) []string {
		var out []string
		for _, h := range hs {
			out = append(out, string(h.Payload))
		}
		return out
	}
	update(t, s, func(tx Tx) error {
		if n, err := tx.CountHeldContent("bob"); err != nil || n != 5 {
			t.Errorf("CountHeldContent(bob) = %d, %v", n, err)
		}
		hs, err := tx.TakeHeldContent("bob", []byte("t1"))
		if got := payloads(hs); err != nil || !slices.Equal(got, []string{"p0", "p3"}) || hs[1].SenderDevice != 2 ||
			!hs[1].Received.Equal(t0.Add(3*time.Second)) || hs[0].Conversation != "bob" || string(hs[0].Target) != "t1" {
			t.Errorf("TakeHeldContent(bob, t1) = %+v, %v", hs, err)
		}
		if hs, err := tx.TakeHeldContent("bob", []byte("t1")); err != nil || hs != nil {
			t.Errorf("second TakeHeldContent(bob, t1) = %+v, %v", hs, err)
		}
		if n, err := tx.CountHeldContent("bob"); err != nil || n != 3 {
			t.Errorf("CountHeldContent(bob) after take = %d, %v", n, err)
		}
		// bob holds p1 (1 s), p4 (9 s), p5 (8 s): before 2 s drops p1; keeping
		// 1 then drops p4 too (p5 arrived last).
		if hs, err := tx.DropHeldContent("bob", t0.Add(2*time.Second), 1); err != nil || !slices.Equal(payloads(hs), []string{"p1", "p4"}) {
			t.Errorf("DropHeldContent(bob, 2 s, 1) = %v, %v", payloads(hs), err)
		}
		if hs, err := tx.DropHeldContent("bob", t0, -1); err != nil || hs != nil {
			t.Errorf("DropHeldContent(bob, t0, -1) = %v, %v", payloads(hs), err)
		}
		if hs, err := tx.DropHeldContent("bob", t0, 0); err != nil || !slices.Equal(payloads(hs), []string{"p5"}) {
			t.Errorf("DropHeldContent(bob, t0, 0) = %v, %v", payloads(hs), err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		if err := tx.PutHeldContent(HeldContent{Conversation: "dave", Target: []byte("t"), Sender: "dave", Received: t0.Add(time.Hour), Payload: []byte("p6")}); err != nil {
			return err
		}
		// Every conversation: only by time (keep is ignored).
		if hs, err := tx.DropHeldContent("", t0.Add(time.Minute), 0); err != nil || !slices.Equal(payloads(hs), []string{"p2"}) {
			t.Errorf("DropHeldContent(all) = %v, %v", payloads(hs), err)
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		for conv, want := range map[string]int{"bob": 0, "carol": 0, "dave": 1} {
			if n, err := tx.CountHeldContent(conv); err != nil || n != want {
				t.Errorf("CountHeldContent(%s) = %d, %v; want %d", conv, n, err, want)
			}
		}
		return nil
	})
}

// The conversation timer (spec/client-store.md §4.17) and the receipt
// state of sent messages (§4.18): a device is recorded once, a receipt
// changes it once.
func TestConversationTimerAndMessageDevices(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		if n, err := tx.ConversationTimer("bob"); err != nil || n != 0 {
			t.Errorf("ConversationTimer never set = %d, %v", n, err)
		}
		if err := tx.SetConversationTimer("bob", 60, t0); err != nil {
			return err
		}
		if err := tx.SetConversationTimer("bob", 3600, t0.Add(time.Second)); err != nil {
			return err
		}
		if n, err := tx.ConversationTimer("bob"); err != nil || n != 3600 {
			t.Errorf("ConversationTimer = %d, %v; want 3600", n, err)
		}
		for _, d := range []struct {
			to  string
			dev uint32
		}{{"carol", 2}, {"bob", 3}, {"bob", 1}, {"bob", 3}} {
			if err := tx.PutMessageDevice([]byte("m"), d.to, d.dev); err != nil {
				return err
			}
		}
		for _, c := range []struct {
			to      string
			dev     uint32
			read    bool
			at      time.Duration
			changed bool
		}{
			{"bob", 1, false, 1, true},  // delivered
			{"bob", 1, false, 2, false}, // already delivered
			{"bob", 1, true, 3, true},   // read, delivered kept
			{"bob", 1, true, 4, false},  // already read
			{"bob", 3, true, 5, true},   // read before delivered: both
			{"bob", 9, false, 6, false}, // never sent to
		} {
			changed, err := tx.MarkMessageDevice([]byte("m"), c.to, c.dev, c.read, t0.Add(c.at*time.Second))
			if err != nil || changed != c.changed {
				t.Errorf("MarkMessageDevice(%s, %d, read %v) = %v, %v; want %v", c.to, c.dev, c.read, changed, err, c.changed)
			}
		}
		// A repeat of PutMessageDevice keeps the state.
		return tx.PutMessageDevice([]byte("m"), "bob", 1)
	})
	view(t, s, func(tx Tx) error {
		at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
		want := []MessageDevice{
			{[]byte("m"), "bob", 1, at(1), at(3)},
			{[]byte("m"), "bob", 3, at(5), at(5)},
			{[]byte("m"), "carol", 2, time.Time{}, time.Time{}},
		}
		ms, err := tx.MessageDevices([]byte("m"))
		if err != nil || len(ms) != len(want) {
			t.Fatalf("MessageDevices = %+v, %v", ms, err)
		}
		for i := range want {
			if string(ms[i].MessageID) != "m" || ms[i].Recipient != want[i].Recipient || ms[i].Device != want[i].Device ||
				!ms[i].Delivered.Equal(want[i].Delivered) || !ms[i].Read.Equal(want[i].Read) {
				t.Errorf("MessageDevices[%d] = %+v, want %+v", i, ms[i], want[i])
			}
		}
		if ms, err := tx.MessageDevices([]byte("other")); err != nil || ms != nil {
			t.Errorf("MessageDevices(other) = %+v, %v", ms, err)
		}
		return nil
	})
}
