package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestGroupChatTerminal: on a terminal, a line typed in a group chat is
// shown back as sent to the group, with its id and state, and reaches
// the other member.
func TestGroupChatTerminal(t *testing.T) {
	alice, bob := startPair(t)
	var g jsonGroup
	r := alice.ok("", "--json", "group", "create", "pair", "bob")
	if err := json.Unmarshal([]byte(r.stdout), &g); err != nil {
		t.Fatalf("group create printed %q", r.stdout)
	}
	bob.waitEpoch(g.ID, 0)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ac := alice.onPTY(ctx, "chat", "--group", "pair")
	at := ac.waitFor(0, `sealpost: group "pair" (`+g.ID[:8]+`), epoch 0: alice (admin), bob`)
	ac.waitFor(ac.waitFor(at, "Chat in group "+g.ID[:8]+" as alice."), "\r\x1b[K")
	ac.master.WriteString("hello pair\r")
	at = ac.waitFor(at, "→ group "+g.ID[:8]+": hello pair  ✓\r\n")
	ac.master.WriteString("/timer\r")
	ac.waitFor(at, "/timer is not available in a group chat")
	ac.master.WriteString("\x04")
	ac.wait()

	msgs, _ := bob.receive(1)
	if m := msgs[0]; m.From != "alice" || m.Group != g.ID || m.Text != "hello pair" {
		t.Errorf("bob got %+v", m)
	}
}
