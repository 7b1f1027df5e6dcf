package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAnonymousCLI, against a real sealpostd on its defaults: alice inits
// with --anonymous and writes to bob, who gets it with listen; bob takes
// anonymous messages only from contacts (contacts-only on, the relay
// confirms), alice still gets through with the key bob's reply gave her;
// bob blocks alice, and a send to her is refused (exit 3, blocked).
func TestAnonymousCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs sealpostd and sealpost")
	}
	t.Parallel()
	srv := startServer(t)
	alice, bob := newUser(t, srv, "alice"), newUser(t, srv, "bob")
	r := alice.ok("", "init", "--anonymous", "--server", srv.url, "--pin", srv.pin, "--log-key", srv.logKey, "alice")
	if !strings.Contains(r.stdout, "Registered alice, device 1") {
		t.Fatalf("init --anonymous: %v", r)
	}
	bob.init("bob")

	alice.send("bob", "hello, anonymously")
	r = bob.ok("", "listen", "--count", "1", "--timeout", "30s")
	if !strings.Contains(r.stdout, "alice (device 1): hello, anonymously") {
		t.Fatalf("bob's listen printed %q", r.stdout)
	}
	// bob answers (alice learns his access key), then takes only
	// contacts' anonymous messages.
	bob.send("alice", "hi alice")
	r = alice.ok("", "listen", "--count", "1", "--timeout", "30s")
	if !strings.Contains(r.stdout, "bob (device 1): hi alice") {
		t.Fatalf("alice's listen printed %q", r.stdout)
	}
	r = bob.ok("", "--json", "contacts-only", "on")
	var on struct {
		ContactsOnly bool `json:"contacts_only"`
	}
	if json.Unmarshal([]byte(r.stdout), &on) != nil || !on.ContactsOnly {
		t.Fatalf("contacts-only on printed %q", r.stdout)
	}
	alice.send("bob", "still anonymous")
	r = bob.ok("", "listen", "--count", "1", "--timeout", "30s")
	if !strings.Contains(r.stdout, "alice (device 1): still anonymous") {
		t.Fatalf("bob's listen printed %q", r.stdout)
	}

	// Blocking.
	bob.ok("", "block", "alice")
	if r := bob.ok("", "blocked"); r.stdout != "alice\n" {
		t.Fatalf("blocked printed %q", r.stdout)
	}
	r = bob.run("", "--json", "send", "alice", "no")
	var e jsonError
	if json.Unmarshal([]byte(r.stderr), &e); r.code != exitLocal || e.Error != "blocked" {
		t.Fatalf("send to a blocked account: %v", r)
	}
	bob.ok("", "unblock", "alice")
	if r := bob.ok("", "blocked"); r.stdout != "" {
		t.Fatalf("blocked after unblock printed %q", r.stdout)
	}
}
