package vmap_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"github.com/sealpost/sealpost/keyserver/kt/vmap/vmaptest"
)

func TestMemStore(t *testing.T) {
	vmaptest.Run(t, func(*testing.T) vmap.NodeStore { return vmap.NewMemStore() })
}

// failingStore refuses every Commit.
type failingStore struct{ vmap.NodeStore }

var errDisk = errors.New("disk full")

func (failingStore) Commit(context.Context, vmap.Root, []vmap.Node) error { return errDisk }

// TestApplyCommitFails checks that a batch whose commit fails is reported
// and leaves the map as it was.
func TestApplyCommitFails(t *testing.T) {
	ctx := context.Background()
	s := vmap.NewMemStore()
	m := vmap.New(s)
	r1, err := m.Apply(ctx, []vmap.Update{{Index: vmap.Index{1}, Value: vmap.Value{Version: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	f := vmap.New(failingStore{s})
	if _, err := f.Apply(ctx, []vmap.Update{{Index: vmap.Index{2}, Value: vmap.Value{Version: 1}}}); !errors.Is(err, errDisk) {
		t.Fatalf("Apply = %v", err)
	}
	if r, _ := m.Latest(ctx); r != r1 {
		t.Fatal("a failed commit changed the map")
	}
}

// TestConcurrentProofs serves proofs from many goroutines while epochs
// are applied: each proof verifies against the root of the epoch it was
// asked for (run under -race).
func TestConcurrentProofs(t *testing.T) {
	ctx := context.Background()
	m := vmap.New(vmap.NewMemStore())
	if _, err := m.Apply(ctx, []vmap.Update{{Index: vmap.Index{0}, Value: vmap.Value{Version: 1}}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := m.Latest(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				x := vmap.Index{byte(i), byte(g)}
				p, err := m.Prove(ctx, r.Epoch, x)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := vmap.VerifyLookup(r.Hash(), x, p); err != nil {
					t.Errorf("epoch %d: %v", r.Epoch, err)
					return
				}
			}
		}()
	}
	for e := range 50 {
		var ups []vmap.Update
		for i := range 10 {
			ups = append(ups, vmap.Update{Index: vmap.Index{byte(e), byte(i), 1}, Value: vmap.Value{Version: 1}})
		}
		if _, err := m.Apply(ctx, ups); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
