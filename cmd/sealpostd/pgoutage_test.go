package main

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/relay/wire"
)

// TestDaemonPostgresOutage stops the PostgreSQL cluster under a running
// sealpostd (a private one: newPGCluster): /readyz fails, key server
// requests answer 503 unavailable (never 500) and change nothing, the
// relay closes a sending connection with ERROR_CODE_UNAVAILABLE and
// stores nothing of the refused send; once PostgreSQL is started again,
// /readyz, the key server and the relay recover without a restart.
func TestDaemonPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops a private PostgreSQL cluster; skipped with -short")
	}
	pg := newPGCluster(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	d := start(t, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--postgres", pg.DSN(), "--log-level", "warn")
	key, err := readKey(filepath.Join(dataDir, tokenKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	alice := newKSAccount(t, d, "alice")
	bob, carol := relayDevice{"bob", key}, relayDevice{"carol", key}
	dialRelay(t, d, bob).Close()
	sender := dialRelay(t, d, carol)
	defer sender.CloseNow()
	waitReady(t, d, http.StatusOK)
	waitInDirectory(t, d, "alice")
	size := checkpointSize(t, d)
	dave := newKSAccountUnregistered(t, d, "dave")
	reg := dave.registerRequest(1)

	pg.stop()
	waitReady(t, d, http.StatusServiceUnavailable)
	checkUnavailable(t, "challenge with PostgreSQL stopped", do(t, d, "POST", "/v1/challenges", api.ChallengeRequest{}))
	checkUnavailable(t, "registration with PostgreSQL stopped", do(t, d, "POST", "/v1/accounts", reg))
	checkUnavailable(t, "lookup with PostgreSQL stopped", do(t, d, "GET", "/v2/accounts/alice", nil))
	checkUnavailable(t, "checkpoint with PostgreSQL stopped", do(t, d, "GET", "/v2/log/checkpoint", nil))
	stored, refusedEnv, refusedID := sendUntilRefused(t, sender, bob.addr(), "down", 1)
	if len(stored) != 0 {
		t.Errorf("relay stored %q with PostgreSQL stopped", stored)
	}
	// A device connecting now is refused with unavailable too (its
	// mailbox cannot be opened).
	if c, err := dialWith(d, carol.token(t)); err == nil {
		<-c.Done()
		if !isRemote(c.Err(), wire.ErrorCode_ERROR_CODE_UNAVAILABLE) {
			t.Errorf("connection with PostgreSQL stopped ended with %v, want ERROR_CODE_UNAVAILABLE", c.Err())
		}
	} else if !isRemote(err, wire.ErrorCode_ERROR_CODE_UNAVAILABLE) {
		t.Errorf("dial with PostgreSQL stopped: %v, want ERROR_CODE_UNAVAILABLE", err)
	}

	pg.start()
	waitReady(t, d, http.StatusOK)
	// The first request on each pooled connection PostgreSQL ended may
	// still fail: retried, as a client does on 503.
	retry503(t, func() answer { return do(t, d, "GET", "/v2/log/checkpoint", nil) })
	if got := checkpointSize(t, d); got != size {
		t.Errorf("directory log size %s after a refused registration, want %s", got, size)
	}
	retry503(t, func() answer { return do(t, d, "GET", "/v2/accounts/dave", nil) })
	if lookupPresent(t, d, "dave") {
		t.Error("refused registration is in the key directory")
	}
	if got := receiveAll(t, d, bob, 300*time.Millisecond); len(got) != 0 {
		t.Errorf("bob received %q; the refused send must not be stored", got)
	}
	checkRecovered(t, d, dave, alice, carol, bob, refusedID, refusedEnv)
}

// retry503 calls f until it answers other than 503, for at most
// readyWait, and returns that answer.
func retry503(t *testing.T, f func() answer) answer {
	t.Helper()
	deadline := time.Now().Add(readyWait)
	for {
		a := f()
		checkNo5xx(t, "after recovery", a)
		if a.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return a
		}
		time.Sleep(100 * time.Millisecond)
	}
}
