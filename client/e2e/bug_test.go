package e2e_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
)

// TestBug_SendDeadlineBeforeQueueing shows that Send loses a message its
// documentation promises is kept: "If ctx ends first, the envelopes stay
// queued and are sent again, under the same message id, whenever the
// client is connected: the message is not lost" (client.Send; spec/client.md
// §3.3). When ctx ends during the key-server look-up that every Send now
// makes (client/send.go, targets: lookup(ctx, handle, true)), nothing has
// been queued, yet Send returns a message id and an error wrapping
// context.DeadlineExceeded, the same as a send that did queue: the
// application cannot tell that it must send again, and the message is lost.
//
// Here sealpostd is stopped (SIGSTOP) so that the look-up hangs until the
// deadline, then continued; bob never gets the message.
func TestBug_SendDeadlineBeforeQueueing(t *testing.T) {
	t.Skip("lead: see report")
	t.Parallel()
	setup := newSetup(t)
	d := setup.start(t)
	root := t.TempDir()
	alice := newPeer(t, d, root, "alice")
	bob := newPeer(t, d, root, "bob")
	first := alice.send("bob", "hello bob")
	bob.waitFor(1, 10*time.Second)

	if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	id, err := alice.client().Send(ctx, "bob", []byte("sent while the server hangs"))
	cancel()
	if err := d.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send with the server stopped: %v, want an error wrapping context.DeadlineExceeded", err)
	}
	t.Logf("Send returned id %s and %v", id, err)

	// As documented: queued, and sent once the client is connected.
	deadline := time.Now().Add(10 * time.Second)
	for len(bob.messages()) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := bob.messages()
	alice.close()
	var queued []localstore.Outgoing
	st, oerr := localstore.Open(context.Background(), alice.cfg.Dir, localstore.Passphrase([]byte(passphrase)))
	if oerr == nil {
		st.View(context.Background(), func(tx *localstore.Tx) error {
			queued, oerr = tx.OutgoingQueue(100)
			return oerr
		})
		st.Close()
	}
	if len(got) != 2 {
		t.Fatalf("bob got %d messages 10s after the server continued, want 2 (%s and %s); alice's outgoing queue holds %d envelopes (err %v): the message was never queued",
			len(got), first, id, len(queued), oerr)
	}
	if got[1].ID != id || string(got[1].Plaintext) != "sent while the server hangs" {
		t.Fatalf("bob's second message: %q id %s, want id %s", got[1].Plaintext, got[1].ID, id)
	}
}
