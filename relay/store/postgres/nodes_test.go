package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/postgres"
	"github.com/sealpost/sealpost/relay/store/storetest"
)

// These tests run two Queues on one schema, as two relay nodes sharing a
// database do. NOTIFY reaches every listener of the database, so tests
// running in parallel on other schemas may wake each other: each test uses
// addresses of its own and skips the others'.

const wakeTimeout = 10 * time.Second

// twoNodes opens two Queues on one fresh schema.
func twoNodes(t *testing.T) (a, b *postgres.Queue, dsn string) {
	dsn = pgtest.DSN(t)
	return open(t, dsn), open(t, dsn), dsn
}

// uniqueAddr returns a device address no other test uses.
func uniqueAddr(t *testing.T, device uint32) []byte {
	var r [6]byte
	rand.Read(r[:])
	return storetest.Addr("t"+hex.EncodeToString(r[:]), device)
}

// newSend returns a send of one envelope per recipient under a random
// message id, live for an hour.
func newSend(sender []byte, env []byte, to ...[]byte) store.Send {
	now := time.UnixMilli(time.Now().UnixMilli())
	s := store.Send{
		Sender: sender, Now: now,
		Expiry: now.Add(time.Hour), DedupUntil: now.Add(time.Hour),
		MaxEnvelope: 1 << 10, MaxQueueCount: 1 << 20, MaxQueueBytes: 1 << 40,
	}
	rand.Read(s.MessageID[:])
	for _, r := range to {
		s.Items = append(s.Items, store.Item{Recipient: r, Envelope: env})
	}
	return s
}

func mustSend(t *testing.T, q store.Queue, s store.Send, duplicate bool) store.SendResult {
	t.Helper()
	r, err := q.Send(t.Context(), s)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r.Duplicate != duplicate {
		t.Fatalf("Send: duplicate=%v, want %v", r.Duplicate, duplicate)
	}
	return r
}

// waitWake waits for addr on wake, skipping other addresses, and reports
// whether it came within d.
func waitWake(wake <-chan []byte, addr []byte, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case a := <-wake:
			if bytes.Equal(a, addr) {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

func TestWakeAcrossNodes(t *testing.T) {
	a, b, _ := twoNodes(t)
	bob, carol := uniqueAddr(t, 1), uniqueAddr(t, 2)
	for _, q := range []*postgres.Queue{a, b} {
		if err := q.OpenMailbox(t.Context(), bob, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	alice := uniqueAddr(t, 3)
	r := mustSend(t, a, newSend(alice, []byte("x"), carol, bob), false)
	if r.Statuses[0] != store.NoMailbox || r.Statuses[1] != store.Stored {
		t.Fatalf("statuses %v", r.Statuses)
	}
	if !waitWake(b.Wake(), bob, wakeTimeout) {
		t.Fatal("node B not woken by a Send through node A")
	}
	// Node A is not woken by its own Send (its answer carries what it
	// stored), nor by its own notification from the database.
	if len(r.IDs) != 2 || r.IDs[1] == 0 {
		t.Fatalf("ids %v", r.IDs)
	}
	if waitWake(a.Wake(), bob, 300*time.Millisecond) {
		t.Fatal("node A woken by its own Send")
	}
	// Nobody is woken for a mailbox that gained nothing.
	if waitWake(b.Wake(), carol, 300*time.Millisecond) {
		t.Fatal("node B woken for a refused recipient")
	}

	// And the other way round.
	mustSend(t, b, newSend(alice, []byte("y"), bob), false)
	if !waitWake(a.Wake(), bob, wakeTimeout) {
		t.Fatal("node A not woken by a Send through node B")
	}
}

func TestListenerReconnects(t *testing.T) {
	dsn := pgtest.DSN(t)
	app := "relaytest_" + hex.EncodeToString(uniqueAddr(t, 0)[1:7])
	a := open(t, dsn)
	b := open(t, pgtest.WithParam(t, dsn, "application_name", app))
	bob := uniqueAddr(t, 1)
	if err := a.OpenMailbox(t.Context(), bob, time.Now()); err != nil {
		t.Fatal(err)
	}

	// Kill node B's LISTEN connection; it reconnects, and wakes flow again.
	conn := connect(t, dsn)
	var killed int
	err := conn.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND query = 'LISTEN sealpost_relay'`, app).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners, %v; want 1", killed, err)
	}
	// Once reconnected, it asks for every mailbox to be re-checked.
	if !waitWake(b.Wake(), []byte{}, wakeTimeout) {
		t.Fatal("no re-check wake after the listener reconnected")
	}
	deadline := time.Now().Add(wakeTimeout)
	for {
		mustSend(t, a, newSend(uniqueAddr(t, 2), []byte("x"), bob), false)
		if waitWake(b.Wake(), bob, 200*time.Millisecond) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node B not woken after its listener was killed")
		}
	}

	// Close stops the listener: its connection goes away and Wake closes.
	b.Close()
	for {
		var n int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections of node B left after Close", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range b.Wake() {
	}
}

// TestConcurrentSendsAcrossNodes sends through two nodes at once to the
// same mailboxes: every envelope is then there exactly once, in each
// sender's order, and the counts match.
func TestConcurrentSendsAcrossNodes(t *testing.T) {
	a, b, _ := twoNodes(t)
	nodes := []*postgres.Queue{a, b}
	const senders, sends, mailboxes = 16, 20, 3
	var boxes [][]byte
	for m := range mailboxes {
		boxes = append(boxes, uniqueAddr(t, uint32(m+1)))
		if err := a.OpenMailbox(t.Context(), boxes[m], time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := range senders {
		wg.Go(func() {
			sender := uniqueAddr(t, uint32(100+g))
			for k := range sends {
				// Alternate nodes; every send goes to all mailboxes, in an
				// order that differs between senders.
				q := nodes[(g+k)%2]
				var to [][]byte
				for m := range mailboxes {
					to = append(to, boxes[(g+m)%mailboxes])
				}
				env := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(g)), uint32(k))
				r, err := q.Send(t.Context(), newSend(sender, env, to...))
				if err == nil && (r.Duplicate || len(r.Statuses) != mailboxes) {
					err = fmt.Errorf("answer %+v", r)
				}
				for _, st := range r.Statuses {
					if err == nil && st != store.Stored {
						err = fmt.Errorf("status %v", st)
					}
				}
				if err != nil {
					errs <- fmt.Errorf("sender %d send %d: %w", g, k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for m, box := range boxes {
		es := fetchAll(t, nodes[m%2], box)
		last := map[uint32]int64{}
		for _, e := range es {
			g, k := binary.BigEndian.Uint32(e.Data), int64(binary.BigEndian.Uint32(e.Data[4:]))
			if prev, ok := last[g]; ok && prev >= k {
				t.Fatalf("mailbox %d: sender %d's send %d after %d (or twice)", m, g, k, prev)
			}
			last[g] = k
		}
		if len(es) != senders*sends {
			t.Fatalf("mailbox %d: %d envelopes, want %d", m, len(es), senders*sends)
		}
		if st, err := b.Stats(t.Context(), box); err != nil || st.Count != len(es) || st.Bytes != int64(8*len(es)) {
			t.Fatalf("mailbox %d: stats %+v, %v", m, st, err)
		}
	}
}

// TestDedupAcrossNodes: a retry through another node is a duplicate, and
// the same send racing through both nodes is stored once.
func TestDedupAcrossNodes(t *testing.T) {
	a, b, _ := twoNodes(t)
	bob, carol, alice := uniqueAddr(t, 1), uniqueAddr(t, 2), uniqueAddr(t, 3)
	if err := a.OpenMailbox(t.Context(), bob, time.Now()); err != nil {
		t.Fatal(err)
	}
	s := newSend(alice, []byte("x"), bob, carol)
	first := mustSend(t, a, s, false)
	again := mustSend(t, b, s, true)
	if fmt.Sprint(first.Statuses) != fmt.Sprint(again.Statuses) {
		t.Fatalf("retry through node B answered %v, first answer %v", again.Statuses, first.Statuses)
	}

	const rounds, racers = 5, 16
	for round := range rounds {
		s := newSend(alice, []byte("y"), bob, carol)
		var fresh atomic.Int32
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				r, err := []*postgres.Queue{a, b}[i%2].Send(t.Context(), s)
				if err != nil || len(r.Statuses) != 2 || r.Statuses[0] != store.Stored || r.Statuses[1] != store.NoMailbox {
					t.Errorf("round %d: %+v, %v", round, r, err)
					return
				}
				if !r.Duplicate {
					fresh.Add(1)
				}
			})
		}
		wg.Wait()
		if n := fresh.Load(); n != 1 {
			t.Fatalf("round %d: %d sends not duplicates, want 1", round, n)
		}
	}
	if st, err := b.Stats(t.Context(), bob); err != nil || st.Count != 1+rounds {
		t.Fatalf("stats %+v, %v; want %d envelopes", st, err, 1+rounds)
	}
}

// fetchAll returns every live envelope of addr.
func fetchAll(t *testing.T, q store.Queue, addr []byte) []store.Envelope {
	t.Helper()
	var all []store.Envelope
	after := int64(0)
	for {
		es, err := q.Fetch(t.Context(), addr, after, 500, time.Now())
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if len(es) == 0 {
			return all
		}
		all = append(all, es...)
		after = es[len(es)-1].ID
	}
}

// connect opens a plain connection to dsn, closed at cleanup.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
