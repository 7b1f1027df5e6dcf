package ksclient

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testbin"
	"github.com/sealpost/sealpost/internal/witnesstest"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// TestVerifyDirectoryLookupWitnessed: two key servers share one log key and so
// one origin (B is A's fork, a split view), and both submit their
// checkpoints to the same two real litewitness instances. The witnesses
// cosigned A's log first, so they refuse B's; a client that requires a
// quorum of them accepts A's answers and refuses B's with ErrNoQuorum,
// even with no pin, where without witnesses it would have trusted B on
// first use (spec/transparency-v2.md §7.4, §7.5).
func TestVerifyDirectoryLookupWitnessed(t *testing.T) {
	var policy []kt.Witness
	var witnesses []keyserver.WitnessConfig
	a := newServer(t, "A", func(cfg *keyserver.Config) {
		// The directory's log is the one log the witnesses cosign.
		vkey, err := directory.VerifierKey(serverName, cfg.LogKey.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		logs := map[string]string{serverName + directory.OriginSuffix: vkey}
		for _, name := range []string{"witness.test/w1", "witness.test/w2"} {
			w := witnesstest.Start(t, name, logs)
			kw, err := kt.ParseWitness(w.VKey)
			if err != nil {
				t.Fatal(err)
			}
			policy = append(policy, kw)
			witnesses = append(witnesses, keyserver.WitnessConfig{URL: w.URL, VerifierKey: w.VKey})
		}
		cfg.Witnesses, cfg.WitnessInterval = witnesses, 20*time.Millisecond
	})
	bLog := &testbin.SyncBuffer{}
	b := newServer(t, "B", func(cfg *keyserver.Config) {
		cfg.LogKey, cfg.VRFKey = a.logKey, a.vrf
		cfg.Witnesses, cfg.WitnessInterval = witnesses, 20*time.Millisecond
		cfg.Logger = slog.New(slog.NewTextHandler(bLog, nil))
	})
	v := a.verifier()
	for _, s := range []*server{a, b} {
		if err := s.c.RequireWitnesses(policy, 2); err != nil {
			t.Fatal(err)
		}
	}

	a.register(a.newUser("alice"))
	a.register(a.newUser("bob"))
	// A's checkpoint of size 3 (an empty first epoch, two registrations)
	// gets both cosignatures.
	waitFor(t, "A's checkpoint cosigned by both witnesses", func() bool {
		text, err := a.c.Checkpoint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		cp, _, err := kt.VerifyCosigned([]byte(text), v, policy, 2)
		return err == nil && cp.Size == 3
	})
	entry, pin, err := verify(t, a, v, nil, "alice", a.lookup("alice"))
	if err != nil || entry.Handle != "alice" || pin.Size != 3 {
		t.Fatalf("A's lookup with witnesses required: %v", err)
	}

	// B forks: its own epochs under the same origin and key (its empty
	// first epoch is A's, leaf for leaf: same keys, same clock).
	b.register(b.newUser("carol"))
	b.register(b.newUser("dave"))
	b.register(b.newUser("erin"))
	// B submits and the witnesses refuse: 409 (they hold A's size 3), then
	// 422 for B's proof from size 3.
	waitFor(t, "B's submissions refused", func() bool {
		return strings.Count(bLog.String(), "consistency proof refused (HTTP 422") >= 2
	})
	resp := b.lookup("carol")
	for _, pinned := range []*kt.Checkpoint{nil, pin} {
		entry, next, err := verify(t, b, v, pinned, "carol", resp)
		if !errors.Is(err, kt.ErrNoQuorum) || errors.Is(err, kt.ErrSecurity) || entry != nil || next != nil {
			t.Fatalf("B's lookup (pin %v): %v; want ErrNoQuorum", pinned != nil, err)
		}
	}
	genesis, err := directory.NewAuditState(b.vrfKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AuditDirectory(context.Background(), b.c, v, nil, fresh(), genesis, nil); !errors.Is(err, kt.ErrNoQuorum) {
		t.Fatalf("audit of B: %v; want ErrNoQuorum", err)
	}
	// Without the witness requirement, B's answer would be trusted on
	// first use: the witnesses are what refused it.
	b.c.witnesses = nil
	if _, _, err := verify(t, b, v, nil, "carol", resp); err != nil {
		t.Fatalf("B without witnesses: %v", err)
	}
	// A's answers still pass, cosigned.
	if _, _, err := verify(t, a, v, pin, "bob", a.lookup("bob")); err != nil {
		t.Fatal(err)
	}
}

func TestRequireWitnessesPolicy(t *testing.T) {
	c, err := New("https://127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	w := kt.Witness{Name: "witness.test/w1", Key: make(ed25519.PublicKey, ed25519.PublicKeySize)}
	for _, q := range []int{0, 2} {
		if err := c.RequireWitnesses([]kt.Witness{w}, q); !errors.Is(err, kt.ErrWitnessPolicy) || c.witnesses != nil {
			t.Fatalf("quorum %d of 1: %v", q, err)
		}
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
