package store

import (
	"bytes"
	"testing"
	"time"
)

// TestFirstContact checks the generic cell-rate algorithm of
// spec/relay.md §15.8: a burst of N, then one per T = 3600000/N ms.
func TestFirstContact(t *testing.T) {
	const n, now = 10, int64(1_800_000_000_000)
	const T = 360_000
	tat := int64(0)
	for i := range n {
		var ok bool
		if tat, ok = FirstContact(tat, now, n); !ok {
			t.Fatalf("item %d of the burst refused", i)
		}
	}
	if tat != now+n*T {
		t.Fatalf("tat %d after the burst, want now + N×T", tat-now)
	}
	if next, ok := FirstContact(tat, now+T-1, n); ok || next != tat {
		t.Fatalf("admitted 1 ms before a refill")
	}
	next, ok := FirstContact(tat, now+T, n)
	if !ok || next != tat+T {
		t.Fatalf("refused after one T: %v %d", ok, next-tat)
	}
	// A long idle mailbox gets its burst back, not more.
	tat = now
	for range n {
		tat, _ = FirstContact(tat, now+24*3600_000, n)
	}
	if _, ok := FirstContact(tat, now+24*3600_000, n); ok {
		t.Fatal("admitted beyond the burst after an idle day")
	}
	for _, perHour := range []int{0, -1} {
		if _, ok := FirstContact(0, now, perHour); ok {
			t.Fatalf("perHour %d admitted an item", perHour)
		}
	}
}

func TestAccessPasses(t *testing.T) {
	v1, v2, v3 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	now := time.Unix(1_800_000_000, 0)
	open := Access{Mode: AccessOpen}
	if !open.Passes(nil, now) || !open.Passes(v1, now) {
		t.Fatal("mode open refused an item")
	}
	a := AccessChange{Mode: AccessContacts, Verifier: v1, Now: now}.Apply(open)
	a = AccessChange{Mode: AccessContacts, Verifier: v2, PreviousValid: time.Hour, Now: now}.Apply(a)
	for _, c := range []struct {
		v    []byte
		at   time.Duration
		want bool
	}{
		{v2, 0, true}, {v1, 0, true}, {v1, time.Hour - 1, true}, {v1, time.Hour, false},
		{v2, 48 * time.Hour, true}, {v3, 0, false}, {nil, 0, false}, {v2[:31], 0, false},
	} {
		if got := a.Passes(c.v, now.Add(c.at)); got != c.want {
			t.Errorf("Passes(%x, +%v) = %v, want %v", c.v, c.at, got, c.want)
		}
	}
	b := AccessChange{Mode: AccessContacts, Verifier: v3, Now: now}.Apply(a)
	if b.Previous != nil || b.Passes(v2, now) || !b.Passes(v3, now) {
		t.Fatalf("a block kept the old verifier: %+v", b)
	}
	if o := (AccessChange{Mode: AccessOpen, Now: now}).Apply(b); o.Mode != AccessOpen || o.Current != nil || o.Previous != nil {
		t.Fatalf("mode open kept verifiers: %+v", o)
	}
}

// BenchmarkAccessCheck is the store's share of the access check of one
// keyed item: two constant-time compares (spec/relay.md §15.8).
func BenchmarkAccessCheck(b *testing.B) {
	v1, v2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	now := time.Unix(1_800_000_000, 0)
	a := Access{Mode: AccessContacts, Current: v2, Previous: v1, PreviousUntil: now.Add(time.Hour)}
	for b.Loop() {
		if !a.Passes(v1, now) {
			b.Fatal("refused")
		}
	}
}
