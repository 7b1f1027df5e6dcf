package relaylink

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestRevokedStops: when the relay closes the connection of a revoked
// device (device_revoked, spec/relay.md §2.4) the link stops for good:
// OnRevoked is called once, it does not dial again, and Send and
// WaitConnected fail with ErrRevoked at once.
func TestRevokedStops(t *testing.T) {
	e := startRelay(t)
	cfg := linkConfig(t, e, "alice", 2, discard)
	revoked := make(chan struct{}, 2)
	var dials atomic.Int32
	token := cfg.Token
	cfg.Token = func(ctx context.Context) (string, error) {
		dials.Add(1)
		return token(ctx)
	}
	cfg.OnRevoked = func() { revoked <- struct{}{} }
	l := start(t, cfg)
	waitConnected(t, l)

	e.revoked.revoke("alice", 2)
	select {
	case <-revoked:
	case <-time.After(5 * time.Second):
		t.Fatal("OnRevoked not called within 5 s of the revocation")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := l.WaitConnected(ctx); !errors.Is(err, ErrRevoked) {
		t.Fatalf("WaitConnected: %v, want ErrRevoked", err)
	}
	if _, err := l.Send(ctx, [16]byte{1}, item("bob", 1, "x")); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Send: %v, want ErrRevoked", err)
	}
	n := dials.Load()
	time.Sleep(4 * cfg.MaxBackoff)
	if d := dials.Load(); d != n || len(revoked) != 0 {
		t.Fatalf("dialled %d more times, OnRevoked %d more times after the revocation", d-n, len(revoked))
	}
}

// TestRevokedByKeyServer: a Token error wrapping ErrRevoked (the key
// server refused to issue a token to a revoked device) stops the link the
// same way.
func TestRevokedByKeyServer(t *testing.T) {
	e := startRelay(t)
	cfg := linkConfig(t, e, "alice", 2, discard)
	revoked := make(chan struct{}, 1)
	cfg.Token = func(context.Context) (string, error) {
		return "", fmt.Errorf("key server: device_revoked: %w", ErrRevoked)
	}
	cfg.OnRevoked = func() { revoked <- struct{}{} }
	l := start(t, cfg)
	select {
	case <-revoked:
	case <-time.After(5 * time.Second):
		t.Fatal("OnRevoked not called")
	}
	if err := l.WaitConnected(context.Background()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("WaitConnected: %v, want ErrRevoked", err)
	}
}
