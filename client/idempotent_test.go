package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/internal/killpoint"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/internal/testbin"
)

const killsenderPkg = "github.com/sealpost/sealpost/client/internal/killpoint/killsender"

// TestSendKilledAtEachStep (issue 11, "Duplicates an app cannot
// prevent"): a sender process is killed with SIGKILL at each step of a
// send — before the queue transaction commits, after it commits and
// before the relay has the message, after the relay stored it and before
// the local delete, after the delete — and started again; the application
// sends the message again with the same WithMessageID. Bob shows it
// exactly once, and the sender's queue ends empty (spec/client.md §3.4).
func TestSendKilledAtEachStep(t *testing.T) {
	t.Parallel() // its own servers and child processes, no package state
	bin := testbin.Build(t, killsenderPkg)[0]
	s := startServers(t, engineSQLite)
	alice, aliceDir := s.newUserDir("alice")
	bob := s.newUser("bob")
	alice.Close()
	for _, step := range killpoint.Steps {
		t.Run(step, func(t *testing.T) {
			var id MessageID
			rand.Read(id[:])
			text := "killed at " + step
			run := func(killAt string) (string, error) {
				cmd := exec.Command(bin, "-dir", aliceDir, "-keyserver", s.url, "-pin", s.pin, "-log-key", s.logVerifierKey(),
					"-to", "bob", "-id", id.String(), "-text", text)
				cmd.Env = append(os.Environ(), "SEALPOST_TEST_PASSPHRASE=correct horse battery staple", "SEALPOST_KILL_AT="+killAt)
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				err := cmd.Run()
				if err != nil && t.Failed() {
					t.Logf("killsender stderr:\n%s", errb.Bytes())
				}
				return strings.TrimSpace(out.String()), err
			}
			_, err := run(step)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("killsender with %s=%s: %v; want killed by SIGKILL", "SEALPOST_KILL_AT", step, err)
			}
			// Restarted, the application sends the message again.
			out, err := run("")
			if err != nil || out != "stored" {
				t.Fatalf("killsender again: %q, %v; want stored", out, err)
			}
			m := recv(t, bob)
			if string(m.Plaintext) != text || m.ID != id || m.From != "alice" {
				t.Fatalf("bob got %q id %s from %s; want %q id %s", m.Plaintext, m.ID, m.From, text, id)
			}
			noMessage(t, bob, time.Second)
		})
	}
	alice = s.open(aliceDir)
	if q, _ := localState(t, alice, "bob"); q != 0 {
		t.Fatalf("%d envelopes still queued", q)
	}
}

// A Send repeated with the id of a message the relay has stored sends
// nothing and returns nil; one repeated while the message is queued
// (relay down) sends it once when the relay is back. The same id with
// another text or recipient is refused and changes nothing
// (spec/client.md §3.4).
func TestSendSameIDTwice(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	s.newUser("carol")
	var id MessageID
	rand.Read(id[:])
	for range 2 {
		if got, err := alice.Send(ctxT(t), "bob", []byte("once"), WithMessageID(id)); err != nil || got != id {
			t.Fatalf("Send = %s, %v; want %s, nil", got, err, id)
		}
	}
	if m := recv(t, bob); string(m.Plaintext) != "once" || m.ID != id {
		t.Fatalf("bob got %q id %s", m.Plaintext, m.ID)
	}
	noMessage(t, bob, 500*time.Millisecond)

	before := sentState(t, alice)
	for _, tc := range []struct {
		to, text string
	}{{"bob", "another text"}, {"carol", "once"}} {
		got, err := alice.Send(ctxT(t), tc.to, []byte(tc.text), WithMessageID(id))
		if !errors.Is(err, ErrMessageIDReused) || got != (MessageID{}) {
			t.Fatalf("Send(%s, %q) with a used id = %s, %v; want ErrMessageIDReused", tc.to, tc.text, got, err)
		}
	}
	if _, err := alice.Send(ctxT(t), "bob", []byte("zero"), WithMessageID(MessageID{})); !errors.Is(err, ErrInvalidMessageID) {
		t.Fatalf("Send with the zero id: %v; want ErrInvalidMessageID", err)
	}
	if after := sentState(t, alice); after != before {
		t.Fatalf("refused Sends changed the store: %+v, was %+v", after, before)
	}
	noMessage(t, bob, 300*time.Millisecond)

	// Queued while the relay is down, sent again with the same id (twice,
	// at once): one message when the relay is back.
	t.Run("queued", func(t *testing.T) {
		s2 := startServers(t, engineSQLite)
		rr := s2.restartableRelay()
		alice, bob := s2.newUser("alice"), s2.newUser("bob")
		send(t, alice, "bob", "hello")
		recv(t, bob)
		rr.stop(false)
		var id MessageID
		rand.Read(id[:])
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := alice.Send(ctx, "bob", []byte("queued"), WithMessageID(id))
		cancel()
		if !errors.Is(err, ErrQueued) {
			t.Fatalf("Send with the relay down: %v; want ErrQueued", err)
		}
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := alice.Send(ctxT(t), "bob", []byte("queued"), WithMessageID(id))
				errs <- err
			}()
		}
		time.Sleep(200 * time.Millisecond)
		rr.start()
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("Send again: %v", err)
			}
		}
		if m := recv(t, bob); string(m.Plaintext) != "queued" || m.ID != id {
			t.Fatalf("bob got %q id %s", m.Plaintext, m.ID)
		}
		noMessage(t, bob, time.Second)
	})
}

// sendState is what a refused Send must not change: the queue, and the
// sessions with bob and carol.
type sendState struct {
	queued        int
	bob           string
	carolSessions int
}

func sentState(t *testing.T, c *Client) sendState {
	t.Helper()
	var st sendState
	err := c.store.View(ctxT(t), func(tx localstore.Tx) error {
		q, err := tx.OutgoingQueue(1000)
		if err != nil {
			return err
		}
		st.queued = len(q)
		sess, err := tx.Session("bob", 1)
		if err != nil {
			return err
		}
		st.bob = string(sess.State)
		carol, err := tx.SessionDevices("carol")
		st.carolSessions = len(carol)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A second envelope carrying a message bob already has — same sending
// account, same message id, encrypted again (here: alice's record of the
// id and the relay's dedup record are both gone, as after their retention
// times) — is dropped by bob: he shows the message once
// (spec/client.md §5.1 step 6).
func TestReceiverDropsSecondCopy(t *testing.T) {
	requireSQLiteStore(t)
	s := startServers(t, engineSQLite)
	alice, aliceDir := s.newUserDir("alice")
	bob := s.newUser("bob")
	var id MessageID
	rand.Read(id[:])
	if _, err := alice.Send(ctxT(t), "bob", []byte("once"), WithMessageID(id)); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, bob); string(m.Plaintext) != "once" || m.ID != id {
		t.Fatalf("bob got %q id %s", m.Plaintext, m.ID)
	}
	alice.Close()
	forget := func(db *sql.DB, query string) {
		t.Helper()
		res, err := db.Exec(query)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			t.Fatalf("%s: nothing deleted", query)
		}
	}
	adb, err := sql.Open("sqlite", "file:"+filepath.Join(aliceDir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	forget(adb, `DELETE FROM sent`)
	adb.Close()
	forget(s.db("relay.db"), `DELETE FROM dedup`)

	alice = s.open(aliceDir)
	if _, err := alice.Send(ctxT(t), "bob", []byte("once"), WithMessageID(id)); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "bob", "next")
	if m := recv(t, bob); string(m.Plaintext) != "next" {
		t.Fatalf("bob got %q id %s; want the next message", m.Plaintext, m.ID)
	}
	noMessage(t, bob, 500*time.Millisecond)
}
