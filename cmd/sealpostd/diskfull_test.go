package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/api"
)

// tmpfsSize is the size of the file system the disk-full test fills:
// room for both SQLite databases, their WAL files and the keys.
const tmpfsSize = "16m"

// mountTmpfs mounts a tmpfs of size on a new directory and unmounts it at
// the end of the test. It needs the right to mount (root, as CI runs); a
// test without it fails rather than skips, saying so.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mount a %s tmpfs (the disk-full test needs the right to mount; run as root or with -short): %v: %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestDaemonDiskFull fills the real file system under the data directory
// (a size-limited tmpfs) while sealpostd runs on SQLite: /readyz fails,
// key server writes answer 503 unavailable (never 500) and change
// nothing, the relay closes a sending connection with
// ERROR_CODE_UNAVAILABLE and stores nothing of the refused send; once the
// space is freed, /readyz, the key server and the relay recover without a
// restart.
func TestDaemonDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs; skipped with -short")
	}
	dataDir := filepath.Join(mountTmpfs(t, tmpfsSize), "data")
	d := start(t, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--min-free-disk", "1048576", "--log-level", "warn")
	key, err := readKey(filepath.Join(dataDir, tokenKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	alice := newKSAccount(t, d, "alice")
	bob, carol := relayDevice{"bob", key}, relayDevice{"carol", key}
	dialRelay(t, d, bob).Close() // bob's mailbox exists; bob goes offline
	sender := dialRelay(t, d, carol)
	defer sender.CloseNow()
	waitReady(t, d, http.StatusOK)
	waitInDirectory(t, d, "alice")
	size := checkpointSize(t, d)
	// A registration signed now, sent once the disk is full.
	dave := newKSAccountUnregistered(t, d, "dave")
	reg := dave.registerRequest(1)

	filler := filepath.Join(filepath.Dir(dataDir), "filler")
	fillFile(t, filler)
	waitReady(t, d, http.StatusServiceUnavailable)

	// Key server: a registration refused changes nothing; challenges
	// (a write each) answer 200 while SQLite's WAL has room, then 503.
	var refused bool
	for i := range 200 {
		a := do(t, d, "POST", "/v1/challenges", api.ChallengeRequest{})
		checkNo5xx(t, "challenge on a full disk", a)
		if a.status == http.StatusOK {
			continue
		}
		checkUnavailable(t, "challenge on a full disk", a)
		refused = true
		t.Logf("challenge %d refused on the full disk", i)
		break
	}
	if !refused {
		t.Fatal("200 challenges on a full disk, none refused")
	}
	a := do(t, d, "POST", "/v1/accounts", reg)
	checkUnavailable(t, "registration on a full disk", a)
	// Reads still serve.
	if !lookupPresent(t, d, "alice") {
		t.Error("lookup on a full disk: alice proven absent")
	}

	// Relay: carol's sends are stored until the WAL has no room, then the
	// relay closes her connection with ERROR_CODE_UNAVAILABLE (close 1013).
	stored, refusedEnv, refusedID := sendUntilRefused(t, sender, bob.addr(), "full", 500)
	t.Logf("relay stored %d sends on the full disk before refusing one", len(stored))

	// Free the space: everything recovers without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitReady(t, d, http.StatusOK)
	if got := checkpointSize(t, d); got != size {
		t.Errorf("directory log size %s after a refused registration, want %s", got, size)
	}
	if lookupPresent(t, d, "dave") {
		t.Error("refused registration is in the key directory")
	}
	if got := receiveAll(t, d, bob, 300*time.Millisecond); !slices.Equal(got, sorted(stored)) {
		t.Errorf("bob received %q, want exactly the %d sends answered stored (not %q)", got, len(stored), refusedEnv)
	}
	checkRecovered(t, d, dave, alice, carol, bob, refusedID, refusedEnv)
}
