package postgres_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/postgres"
)

// waitEphemeral waits for an item for addr on ch, skipping others.
func waitEphemeral(ch <-chan store.Item, addr []byte, d time.Duration) (store.Item, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case it := <-ch:
			if bytes.Equal(it.Recipient, addr) {
				return it, true
			}
		case <-t.C:
			return store.Item{}, false
		}
	}
}

// The ephemeral bus (spec/relay.md §7.4, §12): an item one Queue publishes
// reaches the other Queues on its schema, not itself, and not the Queues of
// another schema of the same database; nothing is stored.
func TestEphemeralBus(t *testing.T) {
	a, b, _ := twoNodes(t)
	other := open(t, pgtest.DSN(t)) // another schema, same database
	bob := uniqueAddr(t, 1)
	env := bytes.Repeat([]byte{0xe5}, postgres.MaxEphemeralEnvelope)
	if !a.PublishEphemeral(bob, env) {
		t.Fatal("publish refused")
	}
	it, ok := waitEphemeral(b.Ephemeral(), bob, wakeTimeout)
	if !ok {
		t.Fatal("no item on the other node")
	}
	if !bytes.Equal(it.Envelope, env) {
		t.Fatalf("envelope of %d bytes, want %d", len(it.Envelope), len(env))
	}
	if _, ok := waitEphemeral(a.Ephemeral(), bob, 200*time.Millisecond); ok {
		t.Fatal("the publishing node received its own item")
	}
	if _, ok := waitEphemeral(other.Ephemeral(), bob, 10*time.Millisecond); ok {
		t.Fatal("a node of another schema received the item")
	}
	if _, err := b.Stats(t.Context(), bob); err != store.ErrNoMailbox {
		t.Fatalf("Stats: %v, want no mailbox", err)
	}
	// Refused without being sent: too large for a NOTIFY, not an address.
	if a.PublishEphemeral(bob, append(env, 0)) || a.PublishEphemeral([]byte(strings.Repeat("x", 8)), env[:1]) {
		t.Fatal("published an item the bus cannot carry")
	}
	// Close closes the channel.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for range b.Ephemeral() {
	}
}
