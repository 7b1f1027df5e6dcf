package client

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/keyserver/kt"
)

// TestWitnessQuorumRequired: a client configured with a witness refuses a
// key server whose checkpoints carry no cosignature of it
// (spec/transparency-v2.md §7.4): lookups and audits fail with
// ErrNoQuorum, not ErrSecurity, and nothing is pinned. Bad witness
// configurations are refused by Open.
func TestWitnessQuorumRequired(t *testing.T) {
	s := startServers(t, engineSQLite)
	s.newUser("alice")
	w := kt.Witness{Name: "witness.test/w1", Key: ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)}
	wk, err := w.VerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	// Bob registers without witnesses, then runs with one required.
	bob, dir := s.newUserDir("bob")
	bob.Close()
	cfg := s.config(dir)
	cfg.Witnesses = []string{wk}
	bob, err = Open(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	pinned := func() []byte {
		bob.pinMu.Lock()
		defer bob.pinMu.Unlock()
		if bob.pin == nil {
			return nil
		}
		return bob.pin.Signed
	}
	before := pinned()
	if _, err := bob.SafetyNumber(ctxT(t), "alice"); !errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrSecurity) {
		t.Fatalf("lookup without cosignatures: %v; want ErrNoQuorum", err)
	}
	if _, err := bob.Audit(ctxT(t), nil); !errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrSecurity) {
		t.Fatalf("audit without cosignatures: %v; want ErrNoQuorum", err)
	}
	if !bytes.Equal(pinned(), before) {
		t.Fatal("a checkpoint without a quorum changed the pin")
	}

	for _, c := range []struct {
		ws     []string
		quorum int
		want   string
	}{
		{[]string{"not a key"}, 0, "Config.Witnesses"},
		{nil, 1, "WitnessQuorum 1 without"},
		{[]string{wk}, 2, "invalid witness policy"},
		{[]string{wk, wk}, 0, "invalid witness policy"},
	} {
		cfg := s.config(t.TempDir())
		cfg.Witnesses, cfg.WitnessQuorum = c.ws, c.quorum
		if cl, err := Open(ctxT(t), cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			if cl != nil {
				cl.Close()
			}
			t.Errorf("Open with witnesses %q quorum %d: %v; want %q", cfg.Witnesses, cfg.WitnessQuorum, err, c.want)
		}
	}
}
