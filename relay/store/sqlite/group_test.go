package sqlite

import (
	"context"
	"testing"
)

// TestGroupFirst: a group message gathered with many Acks commits in a
// batch of its own, ahead of them; with few Acks, or without a group
// message, the group stays one batch.
func TestGroupFirst(t *testing.T) {
	ctx := context.Background()
	send := func(group bool) *request {
		return &request{ctx: ctx, op: func(*batch) error { return nil }, group: group}
	}
	ack := func() *request { return &request{ctx: ctx, ack: &ackOp{}} }
	acks := func(n int) []*request {
		var rs []*request
		for range n {
			rs = append(rs, ack())
		}
		return rs
	}

	msg, other := send(true), send(false)
	group := append(append(acks(groupFrom), msg), other)
	first, then := groupFirst(group)
	if len(first) != 2 || first[0] != msg || first[1] != other {
		t.Fatalf("first batch %d requests, want the group message and the other send", len(first))
	}
	if len(then) != groupFrom {
		t.Fatalf("second batch %d requests, want the %d acks", len(then), groupFrom)
	}
	for _, r := range then {
		if r.ack == nil {
			t.Fatal("a send in the acks' batch")
		}
	}

	for _, g := range [][]*request{
		append(acks(groupFrom-1), send(true)),
		append(acks(2*groupFrom), send(false)),
	} {
		if first, then := groupFirst(g); then != nil || len(first) != len(g) {
			t.Fatalf("a group of %d split into %d and %d", len(g), len(first), len(then))
		}
	}
}
