package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/postgres"
)

// sequencer takes s's sequencer lock, failing the test on an error, and
// reports whether it was granted and how long the answer took.
func sequencer(t *testing.T, s *postgres.Store) (func(), bool, time.Duration) {
	t.Helper()
	start := time.Now()
	release, ok, err := s.Sequencer(t.Context())
	must(t, "Sequencer", err)
	return release, ok, time.Since(start)
}

// TestTwoProcessesSequencer checks that one process at a time holds the
// sequencer lock, that the others are told at once, that release hands it
// on, and that a key server in another schema is not excluded.
func TestTwoProcessesSequencer(t *testing.T) {
	a, b := openPair(t)
	relA, ok, _ := sequencer(t, a)
	if !ok {
		t.Fatal("first Sequencer refused")
	}
	if _, ok, took := sequencer(t, b); ok || took > 2*time.Second {
		t.Fatalf("second process: Sequencer granted %v after %v, want refused at once", ok, took)
	}
	if _, ok, _ := sequencer(t, a); ok {
		t.Fatal("a second Sequencer of the same process granted while the first holds it")
	}
	other := open(t, pgtest.DSN(t))
	relOther, ok, _ := sequencer(t, other)
	if !ok {
		t.Fatal("a key server in another schema is excluded")
	}
	relOther()

	relA()
	relB, ok, _ := sequencer(t, b)
	if !ok {
		t.Fatal("Sequencer refused after release")
	}
	if _, ok, _ := sequencer(t, a); ok {
		t.Fatal("Sequencer granted to a while b holds it")
	}
	relA() // a second release of a's old lock must not free b's
	if _, ok, _ := sequencer(t, a); ok {
		t.Fatal("a repeated release freed another process's lock")
	}
	relB()
	relA2, ok, _ := sequencer(t, a)
	if !ok {
		t.Fatal("Sequencer refused after b's release")
	}
	relA2()
}

// TestSequencerSessionLost kills the session holding the lock: the lock
// goes with it, another process gets it, and the old holder's release
// returns without error or hang.
func TestSequencerSessionLost(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	relA, ok, _ := sequencer(t, a)
	if !ok {
		t.Fatal("Sequencer refused")
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	must(t, "connect", err)
	defer conn.Close(context.Background())
	var killed int
	err = conn.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		AND ((l.classid::bigint << 32) | l.objid::bigint) =
			hashtextextended('sealpost/keyserver/kt-sequencer/' || current_schema(), 0)`).Scan(&killed)
	must(t, "terminate the holder", err)
	if killed != 1 {
		t.Fatalf("%d sessions held the sequencer lock, want 1", killed)
	}
	var relB func()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if relB, ok, _ = sequencer(t, b); ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !ok {
		t.Fatal("the lock outlived its session")
	}
	done := make(chan struct{})
	go func() { relA(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("release of a lost lock hangs")
	}
	if _, ok, _ := sequencer(t, a); ok {
		t.Fatal("the old holder's release freed the new holder's lock")
	}
	relB()
}

// TestTwoProcessesCommitEpoch races two processes committing each epoch:
// the vmap_roots primary key lets exactly one win, the other gets
// ErrConflict, with or without the sequencer lock.
func TestTwoProcessesCommitEpoch(t *testing.T) {
	a, b := openPair(t)
	ctx := t.Context()
	m := vmap.New(store.NodeStore(a))
	const epochs, racers = 10, 8
	for e := uint64(1); e <= epochs; e++ {
		root, nodes, batch, err := m.Prepare(ctx, []vmap.Update{{Index: vmap.Index{byte(e), 7}, Value: vmap.Value{Version: 1}}})
		must(t, "Prepare", err)
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			winner []byte
			wins   int
		)
		for r := range racers {
			leaf := fmt.Appendf(nil, "epoch %d by racer %d", e, r)
			wg.Go(func() {
				err := []store.Store{a, b}[r%2].CommitEpoch(ctx, store.EpochCommit{
					Root: root, Nodes: nodes, Leaf: leaf, Batch: vmap.MarshalBatch(batch),
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
					winner = leaf
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("CommitEpoch: %v", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("epoch %d committed %d times", e, wins)
		}
		leaves, err := b.EpochLeaves(ctx, int64(e-1), int64(e))
		must(t, "EpochLeaves", err)
		if string(leaves[0]) != string(winner) {
			t.Fatalf("epoch %d: leaf %q, but the winner committed %q", e, leaves[0], winner)
		}
		if got, err := b.MapRoot(ctx, e); err != nil || got != root {
			t.Fatalf("MapRoot(%d) = %+v, %v", e, got, err)
		}
	}
}

// TestSequencerReleasedByClose closes a store whose sequencer lock is
// held: Close does not wait for the holder, the lock goes to another
// process, and the holder's late release is harmless.
func TestSequencerReleasedByClose(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	relA, ok, _ := sequencer(t, a)
	if !ok {
		t.Fatal("Sequencer refused")
	}
	done := make(chan struct{})
	go func() { a.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Close waits for the sequencer lock's connection")
	}
	relB, ok, _ := sequencer(t, b)
	if !ok {
		t.Fatal("the lock outlived its store")
	}
	relA()
	if _, ok, _ := sequencer(t, b); ok {
		t.Fatal("a late release of the closed store's lock freed b's")
	}
	relB()
}
