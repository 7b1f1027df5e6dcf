package ksclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/tlsconfig"
)

// TestExpectPinsDiscovery: a client told the server's name and log key
// (spec/client.md §6.1) refuses a discovery document that names another,
// as a security error, and signs challenges for the configured name — a
// server calling itself something else gets no token.
func TestExpectPinsDiscovery(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil)
	alice := s.newUser("alice")
	s.register(alice)
	real := s.verifier().Key()
	other := newServer(t, "other", nil).verifier().Key()

	for _, tc := range []struct {
		name, name2, key string
		ok               bool
	}{
		{"configured", serverName, real, true},
		{"other log key", serverName, other, false},
		{"other name", "evil.test", real, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(s.ts.URL, tlsconfig.ClientConfig(s.pin))
			if err != nil {
				t.Fatal(err)
			}
			c.Expect(tc.name2, tc.key)
			_, err = c.WellKnown(ctx)
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, kt.ErrSecurity)) {
				t.Fatalf("WellKnown: %v", err)
			}
			tokens := NewTokens(c, "alice", 1, alice.devices[1])
			_, err = tokens.Get(ctx, "")
			if tc.ok != (err == nil) {
				t.Fatalf("token: %v", err)
			}
			if name, _ := c.Name(ctx); name != tc.name2 {
				t.Fatalf("Name = %q, want the configured %q", name, tc.name2)
			}
		})
	}
}

// TestVerifyDirectoryLookupStale: answers under a checkpoint without the log's
// timestamp, or timestamped more than the maximum age ago, are stale
// (ErrStale, not ErrSecurity), and nothing is returned to pin.
func TestVerifyDirectoryLookupStale(t *testing.T) {
	s := newServer(t, "", nil)
	v := s.verifier()
	alice := s.newUser("alice")
	s.register(alice)
	resp := s.lookup("alice")

	// Fresh at the server's clock.
	if _, _, err := VerifyDirectoryLookup(context.Background(), s.c, v, s.vrfKey(), nil, fresh(), "alice", resp); err != nil {
		t.Fatal(err)
	}
	// The same answer a day and a minute later.
	late := fresh()
	late.Now = late.Now.Add(24*time.Hour + time.Minute)
	e, next, err := VerifyDirectoryLookup(context.Background(), s.c, v, s.vrfKey(), nil, late, "alice", resp)
	if !errors.Is(err, ErrStale) || errors.Is(err, kt.ErrSecurity) || e != nil || next != nil {
		t.Fatalf("25 h old: %v", err)
	}
	// The checkpoint without its timestamp line (validly signed by the
	// log key, as a server of the previous version served it).
	cp := s.checkpoint(v)
	signer, err := kt.NewSigner(cp.Origin, s.logKey)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := kt.SignCheckpoint(signer, cp.Origin, cp.Size, cp.Root)
	if err != nil {
		t.Fatal(err)
	}
	r := cloneLookup(resp)
	r.Checkpoint = string(bare)
	e, next, err = VerifyDirectoryLookup(context.Background(), s.c, v, s.vrfKey(), nil, fresh(), "alice", r)
	if !errors.Is(err, ErrStale) || e != nil || next != nil {
		t.Fatalf("no timestamp: %v", err)
	}
}
