package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

func testFetchOrder(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	var want, want2 [][]byte
	for i := range 10 {
		e := envelope(fmt.Sprintf("bob %d", i), 50+i)
		e2 := envelope(fmt.Sprintf("bob2 %d", i), 50)
		f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: e}, store.Item{Recipient: bob2, Envelope: e2}),
			false, store.Stored, store.Stored)
		want, want2 = append(want, e), append(want2, e2)
	}
	all := f.fetchAll(bob, f.now)
	wantEnvelopes(t, all, f.now, f.now.Add(time.Hour), want...)
	wantEnvelopes(t, f.fetchAll(bob2, f.now), f.now, f.now.Add(time.Hour), want2...)

	for _, tc := range []struct {
		after       int64
		limit       int
		first, last int // indexes into all, last exclusive
	}{
		{0, 100, 0, 10},
		{0, 1, 0, 1},
		{0, 4, 0, 4},
		{all[3].ID, 4, 4, 8},
		{all[3].ID - 1, 2, 3, 5}, // between or at an ID: the next ones
		{all[8].ID, 100, 9, 10},
		{all[9].ID, 100, 10, 10},
		{all[9].ID + 1000, 100, 10, 10},
	} {
		es, err := f.q.Fetch(f.ctx, bob, tc.after, tc.limit, f.now)
		must(t, "Fetch", err)
		if got, want := ids(es), ids(all[tc.first:tc.last]); !slices.Equal(got, want) {
			t.Errorf("Fetch(after %d, limit %d) = IDs %v, want %v", tc.after, tc.limit, got, want)
		}
	}
}

func testFetchExpired(t *testing.T, f *fixture) {
	f.open(bob)
	var sends []store.Send
	for i := range 3 {
		s := f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope(fmt.Sprint(i), 20)})
		s.Expiry = f.now.Add(time.Duration(i+1) * time.Minute)
		f.send(s, false, store.Stored)
		sends = append(sends, s)
	}
	for _, tc := range []struct {
		now  time.Time
		want []int // which sends are live
	}{
		{f.now, []int{0, 1, 2}},
		{f.now.Add(time.Minute - time.Millisecond), []int{0, 1, 2}},
		{f.now.Add(time.Minute), []int{1, 2}}, // expired at its Expiry
		{f.now.Add(2*time.Minute + time.Millisecond), []int{2}},
		{f.now.Add(time.Hour), nil},
	} {
		es := f.fetchAll(bob, tc.now)
		if len(es) != len(tc.want) {
			t.Fatalf("Fetch at %v: got %d envelopes, want %d", tc.now.Sub(f.now), len(es), len(tc.want))
		}
		for i, j := range tc.want {
			if string(es[i].Data) != string(sends[j].Items[0].Envelope) || !es[i].Expiry.Equal(sends[j].Expiry) {
				t.Fatalf("Fetch at %v: envelope %d is not send %d's", tc.now.Sub(f.now), i, j)
			}
		}
		// The limit counts live envelopes only.
		if len(tc.want) > 0 {
			es, err := f.q.Fetch(f.ctx, bob, 0, 1, tc.now)
			must(t, "Fetch", err)
			if len(es) != 1 || string(es[0].Data) != string(sends[tc.want[0]].Items[0].Envelope) {
				t.Fatalf("Fetch at %v with limit 1: got %d envelopes, want send %d's", tc.now.Sub(f.now), len(es), tc.want[0])
			}
		}
	}
	// Fetch only hides them: Sweep deletes them.
	f.wantStats(bob, 3, 60)
}

func testFetchNoMailbox(t *testing.T, f *fixture) {
	es, err := f.q.Fetch(f.ctx, carol, 0, 10, f.now)
	if (err != nil && !errors.Is(err, store.ErrNoMailbox)) || len(es) != 0 {
		t.Fatalf("Fetch without mailbox = %d envelopes, %v", len(es), err)
	}
	n, err := f.q.Ack(f.ctx, carol, []int64{1, 2, 3})
	if (err != nil && !errors.Is(err, store.ErrNoMailbox)) || n != 0 {
		t.Fatalf("Ack without mailbox = %d, %v", n, err)
	}
	_, err = f.q.Stats(f.ctx, carol)
	wantErr(t, "Stats without mailbox", err, store.ErrNoMailbox)
}

func testAck(t *testing.T, f *fixture) {
	f.open(bob, bob2)
	for i := range 5 {
		f.send(f.newSend(alice,
			store.Item{Recipient: bob, Envelope: envelope(fmt.Sprint(i), 10)},
			store.Item{Recipient: bob2, Envelope: envelope(fmt.Sprint(i), 30)},
		), false, store.Stored, store.Stored)
	}
	es, es2 := f.fetchAll(bob, f.now), f.fetchAll(bob2, f.now)

	// Ack some of bob's, an unknown ID, and IDs of bob2's envelopes that
	// bob does not have: only bob's named ones go.
	ack := []int64{es[1].ID, es[3].ID, es[4].ID + 1000}
	for _, e := range es2 {
		if !slices.ContainsFunc(es, func(x store.Envelope) bool { return x.ID == e.ID }) {
			ack = append(ack, e.ID)
		}
	}
	before2 := f.snap(bob2)
	n, err := f.q.Ack(f.ctx, bob, ack)
	must(t, "Ack", err)
	if n != 2 {
		t.Fatalf("Ack deleted %d, want 2", n)
	}
	f.unchanged("Ack of another mailbox's IDs", before2)
	f.wantStats(bob, 3, 30)
	if got, want := ids(f.fetchAll(bob, f.now)), []int64{es[0].ID, es[2].ID, es[4].ID}; !slices.Equal(got, want) {
		t.Fatalf("after Ack: IDs %v, want %v", got, want)
	}

	// Acking again, or nothing, deletes nothing.
	before := f.snap(bob, bob2)
	for _, ack := range [][]int64{{es[1].ID, es[3].ID}, nil, {}} {
		n, err := f.q.Ack(f.ctx, bob, ack)
		must(t, "Ack", err)
		if n != 0 {
			t.Fatalf("Ack(%v) deleted %d, want 0", ack, n)
		}
	}
	f.unchanged("repeated Ack", before)

	// Repeated IDs count once.
	n, err = f.q.Ack(f.ctx, bob, []int64{es[0].ID, es[0].ID, es[2].ID})
	must(t, "Ack", err)
	if n != 2 {
		t.Fatalf("Ack with a repeated ID deleted %d, want 2", n)
	}
	f.wantStats(bob, 1, 10)
}

func testIDsNotReused(t *testing.T, f *fixture) {
	f.open(bob)
	for i := range 3 {
		f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope(fmt.Sprint(i), 10)}), false, store.Stored)
	}
	es := f.fetchAll(bob, f.now)
	n, err := f.q.Ack(f.ctx, bob, ids(es))
	must(t, "Ack", err)
	if n != 3 {
		t.Fatalf("Ack deleted %d, want 3", n)
	}
	f.wantStats(bob, 0, 0)
	f.send(f.newSend(alice, store.Item{Recipient: bob, Envelope: envelope("new", 10)}), false, store.Stored)
	again := f.fetchAll(bob, f.now)
	if len(again) != 1 || again[0].ID <= es[2].ID {
		t.Fatalf("after acking IDs %v, a new envelope got ID %v", ids(es), ids(again))
	}
}
