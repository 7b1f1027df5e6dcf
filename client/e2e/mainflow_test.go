package e2e_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/pgtest"
)

// markerPrefix starts every message text of the main flow; each text then
// carries a random marker of its own (spec/client.md: the servers never see
// plaintext).
const markerPrefix = "PLAINTEXT-MARKER-"

// newMarker returns a unique plaintext marker.
func newMarker() string {
	var b [16]byte
	rand.Read(b[:])
	return markerPrefix + hex.EncodeToString(b[:])
}

const (
	flowRounds  = 25  // alice and bob each send this many, interleaved
	flowOffline = 100 // alice sends this many while bob is offline
	flowAfter   = 5   // bob answers this many after coming back
)

// flowHooks let a test look at the state during the main flow.
type flowHooks struct {
	registered func(p *peer) // with each peer right after it registered
	offline    func()        // while bob is offline and the relay holds flowOffline envelopes for him
}

// flowResult is what a main flow run leaves for the checks after it.
type flowResult struct {
	alice, bob *peer
	markers    []string
}

// mainFlow runs the main flow against d: alice and bob register, send
// messages both ways, interleaved; bob goes offline while alice sends
// flowOffline messages, comes back and gets them all in order, once; and
// answers (spec/client.md §3, §5; issue 5).
func mainFlow(t *testing.T, d *daemon, root string, h flowHooks) *flowResult {
	t.Helper()
	alice := newPeer(t, d, root, "alice")
	bob := newPeer(t, d, root, "bob")
	if h.registered != nil {
		h.registered(alice)
		h.registered(bob)
	}
	r := &flowResult{alice: alice, bob: bob}
	text := func(dir string, i int) string {
		m := newMarker()
		r.markers = append(r.markers, m)
		return fmt.Sprintf("%s %s", label(dir, i), m)
	}

	// Both ways, interleaved: the first messages start the sessions
	// (PQXDH) from both sides at once.
	var toBob, toAlice []sent
	for i := range flowRounds {
		s := text("a2b", i)
		toBob = append(toBob, sent{alice.send("bob", s), "alice", s})
		s = text("b2a", i)
		toAlice = append(toAlice, sent{bob.send("alice", s), "bob", s})
	}
	checkReceived(t, "bob", bob.waitFor(len(toBob), 30*time.Second), toBob)
	checkReceived(t, "alice", alice.waitFor(len(toAlice), 30*time.Second), toAlice)

	// Bob offline: alice's messages wait at the relay.
	bob.close()
	for i := range flowOffline {
		s := text("offline", i)
		toBob = append(toBob, sent{alice.send("bob", s), "alice", s})
	}
	if h.offline != nil {
		h.offline()
	}
	bob.open()
	checkReceived(t, "bob", bob.waitFor(len(toBob), 60*time.Second), toBob)

	// And the sessions go on both ways.
	for i := range flowAfter {
		s := text("reply", i)
		toAlice = append(toAlice, sent{bob.send("alice", s), "bob", s})
		s = text("a2b-after", i)
		toBob = append(toBob, sent{alice.send("bob", s), "alice", s})
	}
	checkReceived(t, "alice", alice.waitFor(len(toAlice), 30*time.Second), toAlice)
	checkReceived(t, "bob", bob.waitFor(len(toBob), 30*time.Second), toBob)

	// Nothing more arrives: no message is shown twice.
	time.Sleep(300 * time.Millisecond)
	checkReceived(t, "alice", alice.messages(), toAlice)
	checkReceived(t, "bob", bob.messages(), toBob)
	alice.checkEvents()
	bob.checkEvents()
	return r
}

// TestMainFlowPostgres is the main flow against sealpostd on PostgreSQL;
// its logs and the clients' logs hold no marker.
func TestMainFlowPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	setup := newSetup(t, "--postgres", dsn)
	d := setup.start(t)
	root := t.TempDir()
	r := mainFlow(t, d, root, flowHooks{})
	r.alice.close()
	r.bob.close()
	d.stop(t)
	if _, err := os.Stat(filepath.Join(setup.dataDir, "relay.db")); err == nil {
		t.Error("sealpostd on PostgreSQL wrote relay.db")
	}
	s := newScanner(markerPrefix)
	s.addStoreSecrets(t, r.alice.cfg.Dir, "alice")
	s.addStoreSecrets(t, r.bob.cfg.Dir, "bob")
	for _, f := range []string{d.stdout, d.stderr, filepath.Join(root, "alice.log"), filepath.Join(root, "bob.log")} {
		for _, x := range s.scanFile(t, f) {
			t.Errorf("found %v", x)
		}
	}
}

// TestNoSecretsAtRest runs the main flow on SQLite, stops sealpostd and
// scans everything it keeps — the key server's and the relay's SQLite
// files with their -wal and -shm, and its logs — for the messages'
// plaintext markers and for every private key of both clients; and the
// same in the clients' own logs and stores (which keep plaintext and keys
// only sealed, spec/client-store.md). TestScanner shows the scanner finds what
// it looks for.
func TestNoSecretsAtRest(t *testing.T) {
	t.Parallel()
	setup := newSetup(t)
	d := setup.start(t)
	root := t.TempDir()
	s := newScanner(markerPrefix)
	// The keys of right after registration: the one-time prekeys the
	// first messages use are deleted from the stores later.
	snapshot := func(p *peer) {
		p.close()
		s.addStoreSecrets(t, p.cfg.Dir, p.handle)
		p.open()
	}
	// The data directory while the relay holds bob's envelopes, and at
	// the end while sealpostd runs (WAL files present), then after a clean
	// stop.
	queued := filepath.Join(t.TempDir(), "queued")
	r := mainFlow(t, d, root, flowHooks{
		registered: snapshot,
		offline:    func() { copyTree(t, setup.dataDir, queued) },
	})
	live := filepath.Join(t.TempDir(), "live")
	copyTree(t, setup.dataDir, live)
	r.alice.close()
	r.bob.close()
	d.stop(t)
	s.addStoreSecrets(t, r.alice.cfg.Dir, "alice")
	s.addStoreSecrets(t, r.bob.cfg.Dir, "bob")
	if s.count < 2*(3+4) {
		t.Fatalf("only %d private keys to look for", s.count)
	}
	t.Logf("looking for %d markers' prefix and %d private keys", len(r.markers), s.count)

	for _, tree := range []string{queued, live, setup.dataDir, setup.logDir} {
		found, files := s.scanTree(t, tree)
		for _, f := range found {
			t.Errorf("found %v", f)
		}
		t.Logf("scanned %s: %v", filepath.Base(tree), files)
		// The scan saw real data: both databases and the logs.
		switch tree {
		case setup.logDir:
			if files["sealpostd.stderr"] < 1000 {
				t.Errorf("sealpostd's log is %d bytes: the scan proves little", files["sealpostd.stderr"])
			}
		case queued:
			// At least the smallest padding bucket (spec/seal.md §3.3)
			// for each queued envelope.
			if n := files["relay.db"] + files["relay.db-wal"]; n < flowOffline*512 {
				t.Errorf("relay database holding %d envelopes is %d bytes: the scan proves little", flowOffline, n)
			}
			fallthrough
		default:
			if files["keyserver.db"] == 0 || files["relay.db"] == 0 {
				t.Errorf("%s: database files %v: the scan proves little", tree, files)
			}
		}
	}
	// The clients' logs hold neither; their stores hold no plaintext.
	for _, h := range []string{"alice", "bob"} {
		for _, f := range s.scanFile(t, filepath.Join(root, h+".log")) {
			t.Errorf("found %v", f)
		}
	}
	// The clients' stores hold plaintext and private keys only sealed
	// (spec/client-store.md): neither appears in state.db (state.kv on
	// the kv engine, §8) or key.age.
	for _, p := range []*peer{r.alice, r.bob} {
		found, files := s.scanTree(t, p.cfg.Dir)
		for _, f := range found {
			t.Errorf("found %v", f)
		}
		if files["state.db"]+files["state.kv"] == 0 {
			t.Errorf("%s's store: %v", p.handle, files)
		}
	}
}

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil && strings.HasSuffix(path, "-journal") {
			return nil // gone between listing and reading
		}
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
