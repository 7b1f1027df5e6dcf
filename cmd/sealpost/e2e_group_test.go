package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestGroupCLI, against a real sealpostd: alice creates a group with bob,
// adds carol; bob, who is no admin, cannot rename it (exit 1,
// group_refused); everyone lists the same members.
func TestGroupCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs sealpostd and sealpost")
	}
	t.Parallel()
	srv := startServer(t)
	alice, bob, carol := newUser(t, srv, "alice"), newUser(t, srv, "bob"), newUser(t, srv, "carol")
	alice.init("alice")
	bob.init("bob")
	carol.init("carol")

	r := alice.ok("", "--json", "group", "create", "book club", "bob")
	var g jsonGroup
	if err := json.Unmarshal([]byte(r.stdout), &g); err != nil || g.Name != "book club" || len(g.ID) != 64 || strings.Join(g.Members, ",") != "alice,bob" {
		t.Fatalf("group create printed %q", r.stdout)
	}
	alice.ok("", "group", "add", g.ID[:8], "carol")
	// bob and carol take the changes (listen runs the receive path).
	for _, u := range []*user{bob, carol} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			u.run("", "listen", "--count", "1", "--timeout", "2s")
			r := u.run("", "--json", "group", "members", g.ID)
			var got jsonGroup
			if r.code == 0 && json.Unmarshal([]byte(r.stdout), &got) == nil && got.Epoch == 1 {
				if strings.Join(got.Members, ",") != "alice,bob,carol" || strings.Join(got.Admins, ",") != "alice" {
					t.Fatalf("%s's group: %+v", u.dir, got)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never got the group: %v", u.dir, r)
			}
		}
	}
	// A group message reaches bob and carol, shown with its group.
	alice.ok("", "group", "send", g.ID[:8], "hello club")
	for _, u := range []*user{bob, carol} {
		r := u.ok("", "listen", "--count", "1", "--timeout", "30s")
		if !strings.Contains(r.stdout, "[group "+g.ID[:8]+"] alice (device 1): hello club") {
			t.Fatalf("%s's listen printed %q", u.dir, r.stdout)
		}
	}
	r = bob.run("", "--json", "group", "rename", g.ID, "mine")
	var e jsonError
	if json.Unmarshal([]byte(r.stderr), &e); r.code != exitFailure || e.Error != "group_refused" {
		t.Fatalf("rename by a member: %v", r)
	}
	if r := bob.ok("", "group", "list"); !strings.Contains(r.stdout, "book club") || !strings.Contains(r.stdout, "members: alice, bob, carol") {
		t.Fatalf("bob's group list: %q", r.stdout)
	}
	r = carol.run("", "--json", "group", "members", strings.Repeat("0", 64))
	if json.Unmarshal([]byte(r.stderr), &e); r.code != exitLocal || e.Error != "unknown_group" {
		t.Fatalf("an unknown group: %v", r)
	}
}
