package e2e_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client"
)

// passphrase unlocks every test client's store.
const passphrase = "e2e correct horse battery staple"

// workFactor keeps the stores' scrypt cheap.
const workFactor = 10

// peer is one test client in this process: its configuration, the open
// client, and what it received.
type peer struct {
	t      *testing.T
	handle string
	cfg    client.Config
	logf   *os.File // the client's logs (scanned like the servers')

	mu       sync.Mutex
	c        *client.Client
	stop     chan struct{}
	done     chan struct{}
	received []*client.Message
	events   []client.Event
	arrived  chan struct{} // signalled on every message
}

// newPeer makes a client store in a new directory under root, pinned to
// d's certificate, and registers handle.
func newPeer(t *testing.T, d *daemon, root, handle string) *peer {
	t.Helper()
	dir := filepath.Join(root, handle)
	logf, err := os.OpenFile(filepath.Join(root, handle+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	p := &peer{
		t:      t,
		handle: handle,
		logf:   logf,
		cfg: client.Config{
			Dir:        dir,
			Passphrase: []byte(passphrase),
			Create:     true,
			KeyServer:  d.url(),
			Pin:        d.fp,
			LogKey:     d.logKey,
			WorkFactor: workFactor,
			Logger:     slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		},
		arrived: make(chan struct{}, 1),
	}
	p.open()
	if err := p.client().Register(withTimeout(t, 30*time.Second), handle); err != nil {
		t.Fatalf("register %s: %v", handle, err)
	}
	return p
}

// open opens the client and starts collecting its messages and events.
func (p *peer) open() {
	p.t.Helper()
	cfg := p.cfg
	cfg.Passphrase = []byte(passphrase) // Open's caller zeroes it
	c, err := client.Open(withTimeout(p.t, 30*time.Second), cfg)
	if err != nil {
		p.t.Fatalf("open %s: %v", p.handle, err)
	}
	p.mu.Lock()
	p.c = c
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	stop, done := p.stop, p.done
	p.mu.Unlock()
	p.t.Cleanup(func() { p.close() })
	go func() {
		defer close(done)
		events := c.Events()
		for {
			select {
			case <-stop:
				return
			case m := <-c.Messages():
				p.mu.Lock()
				p.received = append(p.received, m)
				p.mu.Unlock()
				m.Ack()
				select {
				case p.arrived <- struct{}{}:
				default:
				}
			case e, ok := <-events:
				if !ok {
					events = nil
					continue
				}
				p.mu.Lock()
				p.events = append(p.events, e)
				p.mu.Unlock()
			}
		}
	}()
}

// client returns the open client.
func (p *peer) client() *client.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c == nil {
		p.t.Fatalf("%s is closed", p.handle)
	}
	return p.c
}

// close closes the client (a no-op if closed).
func (p *peer) close() {
	p.mu.Lock()
	c, stop, done := p.c, p.stop, p.done
	p.c = nil
	p.mu.Unlock()
	if c == nil {
		return
	}
	close(stop)
	<-done
	if err := c.Close(); err != nil {
		p.t.Errorf("close %s: %v", p.handle, err)
	}
}

// send sends text to handle and fails the test on an error.
func (p *peer) send(to, text string) client.MessageID {
	p.t.Helper()
	id, err := p.client().Send(withTimeout(p.t, 30*time.Second), to, []byte(text))
	if err != nil {
		p.t.Fatalf("%s → %s: %v", p.handle, to, err)
	}
	return id
}

// messages returns a copy of what the peer received so far.
func (p *peer) messages() []*client.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*client.Message(nil), p.received...)
}

// waitFor waits until the peer has received n messages in all.
func (p *peer) waitFor(n int, timeout time.Duration) []*client.Message {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		got := p.messages()
		if len(got) >= n {
			return got
		}
		select {
		case <-p.arrived:
		case <-deadline:
			p.t.Fatalf("%s received %d messages after %v, want %d", p.handle, len(got), timeout, n)
		}
	}
}

// checkEvents fails the test if the peer saw an event that only a fault
// explains: a dropped envelope or a security event.
func (p *peer) checkEvents() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.events {
		if e.Kind == client.EventEnvelopeDropped || e.Kind == client.EventSecurity {
			p.t.Errorf("%s: event %v handle=%q device=%d: %v", p.handle, e.Kind, e.Handle, e.Device, e.Err)
		}
	}
}

// checkReceived checks that got is exactly want, in order: each text once,
// from the expected sender, with distinct message ids matching the ids
// Send returned.
func checkReceived(t *testing.T, who string, got []*client.Message, want []sent) {
	t.Helper()
	seen := map[client.MessageID]bool{}
	for i, m := range got {
		if seen[m.ID] {
			t.Errorf("%s: message %d: id %s shown twice", who, i, m.ID)
		}
		seen[m.ID] = true
	}
	if len(got) != len(want) {
		t.Errorf("%s received %d messages, want %d", who, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if string(g.Plaintext) != w.text || g.ID != w.id || g.From != w.from || g.Sent {
			t.Errorf("%s: message %d = %q (id %s from %s sent-copy %v), want %q (id %s from %s)",
				who, i, g.Plaintext, g.ID, g.From, g.Sent, w.text, w.id, w.from)
			return
		}
	}
}

// sent is one message as its sender sent it.
type sent struct {
	id   client.MessageID
	from string
	text string
}

// errorsIsAny reports whether err is one of targets.
func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// label formats a numbered message text.
func label(prefix string, i int) string { return fmt.Sprintf("%s-%04d", prefix, i) }
