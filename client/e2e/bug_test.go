package e2e_test

import (
	"context"
	"errors"
	"path/filepath"
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

// TestBug_TakenFromChannelThenCrashIsLost shows the other side of the
// hand-over window of spec/client.md §5.2–5.3: the library deletes a
// message from its inbox as soon as the application has taken it from
// Messages, before the application could record or show it. An
// application that crashes between taking a message and finishing with it
// (here: the receiver waits 300 ms after taking each message, as an
// application writing to its own database would, and is killed during
// that wait) never gets the message again, although issue 5 promises that
// "a crash at any point loses nothing". With a channel the library cannot
// know when the application is done; an explicit acknowledgement (an
// iterator whose next step deletes the previous message, or a
// Message.Done) would close this window.
func TestBug_TakenFromChannelThenCrashIsLost(t *testing.T) {
	t.Skip("lead: see report")
	t.Parallel()
	const total = 5
	setup := newSetup(t)
	d := setup.start(t)
	root := t.TempDir()
	alice := newPeer(t, d, root, "alice")
	bob := newPeer(t, d, root, "bob")
	bob.close()
	for i := range total {
		alice.send("bob", label("msg", i))
	}

	r := startReceiver(t, d, bob.cfg.Dir, filepath.Join(root, "receiver-0.stderr"), "-hold", "300ms")
	var lines []receiverLine
	select {
	case l, ok := <-r.lines:
		if !ok {
			t.Fatalf("receiver exited:\n%s", tail(r.stderr, 30))
		}
		lines = append(lines, l)
	case <-time.After(30 * time.Second):
		t.Fatalf("no message after 30s:\n%s", tail(r.stderr, 30))
	}
	// The receiver now holds msg-0001, taken from the channel; the
	// library deletes it from the inbox within a few milliseconds.
	time.Sleep(150 * time.Millisecond)
	r.kill(t)
	for l := range r.lines {
		lines = append(lines, l)
	}

	r = startReceiver(t, d, bob.cfg.Dir, filepath.Join(root, "receiver-1.stderr"))
	deadline := time.After(15 * time.Second)
	for len(lines) < total {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("receiver exited:\n%s", tail(r.stderr, 30))
			}
			lines = append(lines, l)
		case <-deadline:
			var texts []string
			for _, l := range lines {
				texts = append(texts, l.Text)
			}
			t.Fatalf("shown %q after a crash while the application held the next message; want all %d (that message is lost)", texts, total)
		}
	}
	for i, l := range lines {
		if l.Text != label("msg", i) {
			t.Fatalf("line %d: %q, want %q", i, l.Text, label("msg", i))
		}
	}
}
