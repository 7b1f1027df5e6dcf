package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/store"
)

func create(ctx context.Context, s *Store, handle string, leaf string) (int64, error) {
	d := store.Device{ID: 1, Certificate: []byte("certificate " + handle)}
	return s.UpdateKeySet(ctx, store.KeySetUpdate{Handle: handle, AddDevice: &d, Leaf: []byte(leaf), Now: time.Now()})
}

// TestGroupCommitIsolation runs refused and accepted writes in the same
// groups: each refused one leaves nothing, each accepted one all it wrote.
func TestGroupCommitIsolation(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if _, err := create(ctx, s, "taken", "leaf taken"); err != nil {
		t.Fatal(err)
	}
	const n = 64
	idx := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			h := fmt.Sprintf("user-%d", i)
			if i%2 == 1 {
				h = "taken"
			}
			idx[i], errs[i] = create(ctx, s, h, fmt.Sprintf("leaf %d", i))
		})
	}
	wg.Wait()
	leaves, err := s.Leaves(ctx, 0, 1+n/2)
	if err != nil {
		t.Fatal(err)
	}
	if size, _ := s.LogSize(ctx); size != 1+n/2 {
		t.Fatalf("LogSize = %d, want %d", size, 1+n/2)
	}
	for i := range n {
		if i%2 == 1 {
			if !errors.Is(errs[i], store.ErrHandleTaken) {
				t.Fatalf("write %d: %v, want ErrHandleTaken", i, errs[i])
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("write %d: %v", i, errs[i])
		}
		if string(leaves[idx[i]]) != fmt.Sprintf("leaf %d", i) {
			t.Fatalf("write %d: leaf at %d is %q", i, idx[i], leaves[idx[i]])
		}
		a, err := s.Account(ctx, fmt.Sprintf("user-%d", i))
		if err != nil || a.LogIndex != idx[i] {
			t.Fatalf("account %d: %+v, %v", i, a, err)
		}
	}
	a, err := s.Account(ctx, "taken")
	if err != nil || a.Version != 1 || a.LogIndex != 0 {
		t.Fatalf("taken account changed: %+v, %v", a, err)
	}
}

func TestCanceledWrite(t *testing.T) {
	s := openTemp(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := create(ctx, s, "alice", "leaf"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled write: %v", err)
	}
	if _, err := s.Account(t.Context(), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("canceled write left an account: %v", err)
	}
}

// TestCloseDuringWrites closes the store under load: every write either
// succeeds (and is then on disk) or fails; nothing hangs or panics.
func TestCloseDuringWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyserver.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for j := 0; ; j++ {
				if _, err := create(ctx, s, fmt.Sprintf("user-%d-%d", i, j), "leaf"); err != nil {
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	size, err := s.LogSize(ctx)
	if err != nil || size == 0 {
		t.Fatalf("after close under load: LogSize %d, %v", size, err)
	}
	if _, err := s.Leaves(ctx, 0, size); err != nil {
		t.Fatal(err)
	}
}
