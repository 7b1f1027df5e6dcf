package group

import (
	"fmt"
	"testing"
)

// BenchmarkApply1000 is one member's cost to verify and apply a change
// (signature, state hash, rules, new state) on a state of 1000 members.
func BenchmarkApply1000(b *testing.B) {
	handles := make([]string, MaxMembers-1)
	for i := range handles {
		handles[i] = fmt.Sprintf("member-%04d", i)
	}
	w := newWorld(b, append([]string{"admin"}, handles...)...)
	_, s := w.create("admin", "big", handles...)
	c := w.change(s, "admin", KindRename, "bigger")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Apply(s, c, w.lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrackerAdd1000 is Apply through a Tracker: Add of a change on a
// state of 1000 members (it also hashes the new state).
func BenchmarkTrackerAdd1000(b *testing.B) {
	handles := make([]string, MaxMembers-1)
	for i := range handles {
		handles[i] = fmt.Sprintf("member-%04d", i)
	}
	w := newWorld(b, append([]string{"admin"}, handles...)...)
	_, s := w.create("admin", "big", handles...)
	c := w.change(s, "admin", KindRename, "bigger")
	b.ReportAllocs()
	for b.Loop() {
		tr, _ := NewTracker(s)
		if _, err := tr.Add(c, w.lookup); err != nil {
			b.Fatal(err)
		}
	}
}
