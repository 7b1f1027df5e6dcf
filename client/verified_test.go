package client

import (
	"testing"
)

// TestClearVerified: a failed comparison clears the verified flag
// (spec/client.md §6.2) and nothing else; clearing again, or for a
// handle never looked up, reports that nothing was set.
func TestClearVerified(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	s.newUser("bob")
	if was, err := alice.ClearVerified(ctxT(t), "bob"); err != nil || was {
		t.Fatalf("ClearVerified of a handle never looked up: %v, %v", was, err)
	}
	sn, err := alice.SafetyNumber(ctxT(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.MarkVerified(ctxT(t), "bob", sn); err != nil {
		t.Fatal(err)
	}
	before := contactOf(t, alice, "bob")
	if !before.Verified {
		t.Fatal("MarkVerified did not mark")
	}
	if was, err := alice.ClearVerified(ctxT(t), "bob"); err != nil || !was {
		t.Fatalf("ClearVerified of a verified contact: %v, %v", was, err)
	}
	after := contactOf(t, alice, "bob")
	before.Verified = false
	if after != before {
		t.Errorf("ClearVerified changed more than the flag: %+v, was %+v", after, before)
	}
	if was, err := alice.ClearVerified(ctxT(t), "bob"); err != nil || was {
		t.Fatalf("ClearVerified again: %v, %v", was, err)
	}
	// Sending still works: the contact is known, just not verified.
	send(t, alice, "bob", "still reachable")
}

func contactOf(t *testing.T, c *Client, handle string) Contact {
	t.Helper()
	cs, err := c.Contacts(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range cs {
		if ct.Handle == handle {
			return ct
		}
	}
	t.Fatalf("no contact %s", handle)
	return Contact{}
}
