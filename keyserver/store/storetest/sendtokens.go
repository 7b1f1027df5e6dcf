package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sealpost/sealpost/keyserver/store"
)

// testSendTokenKeys: the first key stored for an epoch stays; ranges and
// deletion (spec/anonymous.md §4.3).
func testSendTokenKeys(t *testing.T, f *fixture) {
	got, err := f.s.SendTokenKeys(f.ctx, 0, 1<<40)
	must(t, "SendTokenKeys of an empty store", err)
	if len(got) != 0 {
		t.Fatalf("empty store has %d keys", len(got))
	}
	for e := uint64(100); e <= 103; e++ {
		k := []byte(fmt.Sprintf("key of epoch %d", e))
		stored, err := f.s.PutSendTokenKey(f.ctx, e, k)
		must(t, "PutSendTokenKey", err)
		if !bytes.Equal(stored, k) {
			t.Fatalf("epoch %d: stored %q, want %q", e, stored, k)
		}
	}
	stored, err := f.s.PutSendTokenKey(f.ctx, 101, []byte("a second key"))
	must(t, "PutSendTokenKey again", err)
	if string(stored) != "key of epoch 101" {
		t.Fatalf("second put of epoch 101 returned %q, want the first key", stored)
	}
	got, err = f.s.SendTokenKeys(f.ctx, 101, 102)
	must(t, "SendTokenKeys", err)
	if len(got) != 2 || string(got[101]) != "key of epoch 101" || string(got[102]) != "key of epoch 102" {
		t.Fatalf("SendTokenKeys(101, 102): epochs %v", keysOf(got))
	}
	must(t, "DeleteSendTokenState", f.s.DeleteSendTokenState(f.ctx, 102, 0))
	got, err = f.s.SendTokenKeys(f.ctx, 0, 1<<40)
	must(t, "SendTokenKeys", err)
	if len(got) != 2 || got[102] == nil || got[103] == nil {
		t.Fatalf("after deleting before 102: epochs %v", keysOf(got))
	}
}

func keysOf(m map[uint64][]byte) []uint64 {
	var out []uint64
	for k := range m {
		out = append(out, k)
	}
	return out
}

// testConcurrentSendTokenKey: of concurrent writers of one epoch's key,
// every one gets the same stored key.
func testConcurrentSendTokenKey(t *testing.T, f *fixture) {
	const n = 8
	var wg sync.WaitGroup
	results := make([][]byte, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = f.s.PutSendTokenKey(f.ctx, 7, []byte(fmt.Sprintf("writer %d", i)))
		})
	}
	wg.Wait()
	for i := range n {
		must(t, "PutSendTokenKey", errs[i])
		if !bytes.Equal(results[i], results[0]) {
			t.Fatalf("writer %d got %q, writer 0 got %q", i, results[i], results[0])
		}
	}
	got, err := f.s.SendTokenKeys(f.ctx, 7, 7)
	must(t, "SendTokenKeys", err)
	if !bytes.Equal(got[7], results[0]) {
		t.Fatalf("stored %q, writers got %q", got[7], results[0])
	}
}

// testSendTokenCounts: the count refuses beyond the limit and changes
// nothing then; counts are per handle and epoch; returning and deleting.
func testSendTokenCounts(t *testing.T, f *fixture) {
	count := func(h string, e uint64) int {
		t.Helper()
		n, err := f.s.SendTokensIssued(f.ctx, h, e)
		must(t, "SendTokensIssued", err)
		return n
	}
	if c := count("alice", 5); c != 0 {
		t.Fatalf("fresh count %d", c)
	}
	total, err := f.s.AddSendTokens(f.ctx, "alice", 5, 6, 10)
	must(t, "AddSendTokens", err)
	if total != 6 {
		t.Fatalf("total %d, want 6", total)
	}
	_, err = f.s.AddSendTokens(f.ctx, "alice", 5, 5, 10)
	wantErr(t, "past the limit", err, store.ErrSendTokenLimit)
	if c := count("alice", 5); c != 6 {
		t.Fatalf("refused add changed the count to %d", c)
	}
	_, err = f.s.AddSendTokens(f.ctx, "bob", 5, 11, 10)
	wantErr(t, "a first add past the limit", err, store.ErrSendTokenLimit)
	if c := count("bob", 5); c != 0 {
		t.Fatalf("refused first add counted %d", c)
	}
	total, err = f.s.AddSendTokens(f.ctx, "alice", 5, 4, 10)
	must(t, "AddSendTokens up to the limit", err)
	if total != 10 {
		t.Fatalf("total %d, want 10", total)
	}
	// Other epochs and handles are counted apart.
	if _, err := f.s.AddSendTokens(f.ctx, "alice", 6, 10, 10); err != nil {
		t.Fatalf("next epoch: %v", err)
	}
	if _, err := f.s.AddSendTokens(f.ctx, "bob", 5, 1, 10); err != nil {
		t.Fatalf("other handle: %v", err)
	}
	must(t, "ReturnSendTokens", f.s.ReturnSendTokens(f.ctx, "alice", 5, 3))
	if c := count("alice", 5); c != 7 {
		t.Fatalf("after returning 3: %d", c)
	}
	must(t, "ReturnSendTokens below 0", f.s.ReturnSendTokens(f.ctx, "bob", 5, 5))
	if c := count("bob", 5); c != 0 {
		t.Fatalf("returning more than counted: %d", c)
	}
	must(t, "ReturnSendTokens of no row", f.s.ReturnSendTokens(f.ctx, "carol", 5, 1))
	must(t, "DeleteSendTokenState", f.s.DeleteSendTokenState(f.ctx, 0, 6))
	if c := count("alice", 5); c != 0 {
		t.Fatalf("count of a deleted epoch %d", c)
	}
	if c := count("alice", 6); c != 10 {
		t.Fatalf("count of a kept epoch %d", c)
	}
}

// testConcurrentSendTokenCounts: concurrent adds never pass the limit
// together.
func testConcurrentSendTokenCounts(t *testing.T, f *fixture) {
	const workers, limit = 16, 50
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range 5 {
				_, err := f.s.AddSendTokens(f.ctx, "alice", 9, 1, limit)
				switch {
				case err == nil:
					ok.Add(1)
				case !errors.Is(err, store.ErrSendTokenLimit):
					t.Errorf("AddSendTokens: %v", err)
				}
			}
		})
	}
	wg.Wait()
	n, err := f.s.SendTokensIssued(f.ctx, "alice", 9)
	must(t, "SendTokensIssued", err)
	if ok.Load() != limit || n != limit {
		t.Fatalf("%d adds succeeded, count %d; want %d", ok.Load(), n, limit)
	}
}
