//go:build !js

package localstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSealOpen(t *testing.T) {
	s, _ := create(t, pass("p"))
	ad := newRowKey("sessions", "state").text("bob").int(1)
	for _, pt := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte("long"), 1000)} {
		sealed, err := s.seal(ad, pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != sealOverhead+len(pt) || sealed[0] != sealVersion {
			t.Fatalf("sealed value of %d bytes: length %d, version %#x", len(pt), len(sealed), sealed[0])
		}
		got, err := s.open(ad, sealed)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("open = %q, %v", got, err)
		}
		// Every bit of the sealed value is authenticated.
		for i := range sealed {
			bad := bytes.Clone(sealed)
			bad[i] ^= 0x80
			if _, err := s.open(ad, bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d flipped: %v, want ErrCorrupt", i, err)
			}
		}
		for _, n := range []int{0, 1, sealOverhead - 1} {
			if _, err := s.open(ad, sealed[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated to %d: %v, want ErrCorrupt", n, err)
			}
		}
	}
}

func TestRowKeyUnambiguous(t *testing.T) {
	keys := [][]byte{
		newRowKey("sessions", "state").text("bob").int(1),
		newRowKey("sessions", "state").text("bo").int(1),
		newRowKey("sessions", "state").text("bob").int(2),
		newRowKey("session", "sstate").text("bob").int(1),
		newRowKey("sessions", "state").text("bob\x00\x00\x00\x00").int(1),
		newRowKey("prekeys", "secret").int(1).int(1),
	}
	for i := range keys {
		for j := range i {
			if bytes.Equal(keys[i], keys[j]) {
				t.Errorf("row keys %d and %d are equal", i, j)
			}
		}
	}
}

// TestMovedValue moves sealed values between rows, columns and tables with
// raw SQL: each then fails to open with ErrCorrupt.
func TestMovedValue(t *testing.T) {
	requireSQLite(t)
	s, _ := create(t, pass("p"))
	ctx := t.Context()
	now := time.Unix(1_900_000_000, 0).UTC()
	err := s.Update(ctx, func(tx Tx) error {
		for _, d := range []uint32{1, 2} {
			if err := tx.PutSession(Session{PeerHandle: "bob", PeerDevice: d, State: []byte{byte(d)}, Updated: now}); err != nil {
				return err
			}
		}
		if err := tx.PutPrekey(Prekey{Kind: 2, ID: 7, Secret: []byte("prekey"), Created: now}); err != nil {
			return err
		}
		if err := tx.PutIdentity(Identity{Handle: "alice", DeviceID: 1, AccountSeed: []byte("account"),
			SigningSeed: []byte("signing"), DHPrivate: []byte("dh"), Certificate: []byte("cert")}); err != nil {
			return err
		}
		_, err := tx.PutInbox(InboxMessage{ID: []byte("m1"), Sender: "bob", SenderDevice: 1, Time: now, Plaintext: []byte("hi")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name, mutate string, read func(tx Tx) error) {
		t.Helper()
		err := s.Update(ctx, func(tx Tx) error {
			if _, err := tx.(*sqlTx).tx.ExecContext(ctx, mutate); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := read(tx); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: read gives %v, want ErrCorrupt", name, err)
			}
			return errors.New("roll back")
		})
		if err == nil {
			t.Fatal("Update did not return fn's error")
		}
	}
	session := func(d uint32) func(tx Tx) error {
		return func(tx Tx) error { _, err := tx.Session("bob", d); return err }
	}
	check("session moved to another device",
		`UPDATE sessions SET state = (SELECT state FROM sessions WHERE peer_device = 2) WHERE peer_device = 1`, session(1))
	check("session renamed to another peer",
		`UPDATE sessions SET peer_handle = 'carol' WHERE peer_device = 1`,
		func(tx Tx) error { _, err := tx.Session("carol", 1); return err })
	check("prekey secret moved into a session",
		`UPDATE sessions SET state = (SELECT secret FROM prekeys) WHERE peer_device = 1`, session(1))
	check("session moved into a prekey",
		`UPDATE prekeys SET secret = (SELECT state FROM sessions WHERE peer_device = 1)`,
		func(tx Tx) error { _, err := tx.Prekey(2, 7); return err })
	check("prekey id changed",
		`UPDATE prekeys SET id = 8`,
		func(tx Tx) error { _, err := tx.Prekey(2, 8); return err })
	check("identity columns swapped",
		`UPDATE identity SET signing_seed = dh_private, dh_private = signing_seed`,
		func(tx Tx) error { _, err := tx.Identity(); return err })
	check("identity handle changed",
		`UPDATE identity SET handle = 'mallory'`,
		func(tx Tx) error { _, err := tx.Identity(); return err })
	check("inbox sender changed",
		`UPDATE inbox SET sender = 'mallory'`,
		func(tx Tx) error { _, err := tx.Inbox([]byte("m1")); return err })
	check("inbox time changed",
		`UPDATE inbox SET time = time + 1`,
		func(tx Tx) error { _, err := tx.Undelivered(10); return err })

	// Nothing above was kept: every value still opens.
	err = s.View(ctx, func(tx Tx) error {
		if _, err := tx.Session("bob", 1); err != nil {
			return err
		}
		if _, err := tx.Prekey(2, 7); err != nil {
			return err
		}
		if _, err := tx.Identity(); err != nil {
			return err
		}
		_, err := tx.Inbox([]byte("m1"))
		return err
	})
	if err != nil {
		t.Fatalf("after rolled-back tampering: %v", err)
	}
}

// TestNoPlaintextOnDisk writes a recognisable secret into every sealed
// column and scans state.db, its -wal and key.age for it, before and after
// Close.
func TestNoPlaintextOnDisk(t *testing.T) {
	const marker = "SECRET-MARKER-7f3a9c"
	secret := []byte(marker)
	s, dir := create(t, pass("p"))
	storeKey, err := s.key.Open()
	if err != nil {
		t.Fatal(err)
	}
	keyBytes := bytes.Clone(storeKey.Bytes())
	storeKey.Destroy()
	now := time.Unix(1_900_000_000, 0)
	err = s.Update(t.Context(), func(tx Tx) error {
		if err := tx.PutIdentity(Identity{Handle: "alice", DeviceID: 1, AccountSeed: secret, SigningSeed: secret,
			DHPrivate: secret, Certificate: []byte("cert")}); err != nil {
			return err
		}
		if err := tx.PutPrekey(Prekey{Kind: 2, ID: 1, Secret: secret, Created: now}); err != nil {
			return err
		}
		if err := tx.PutSession(Session{PeerHandle: "bob", PeerDevice: 1, State: secret, Updated: now}); err != nil {
			return err
		}
		if err := tx.PutCheckpoint(secret, now); err != nil {
			return err
		}
		var ak [32]byte
		copy(ak[:], marker)
		if err := tx.PutContact(Contact{Handle: "bob", AccountKey: ak}); err != nil {
			return err
		}
		if _, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte("m"), Recipient: "bob", Device: 1, Envelope: secret, Created: now}); err != nil {
			return err
		}
		_, err := tx.PutInbox(InboxMessage{ID: []byte("m"), Sender: "bob", SenderDevice: 1, Time: now, Plaintext: secret})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// What the scan must see, to show that it sees content: the SQLite
	// engine keeps the handle in the clear; the kv engine seals it, and
	// its file holds the identity row's record name instead.
	visible := []byte("alice")
	if onKVEngine() {
		visible = []byte(s.recordName("identity", kvKey(int64(1))))
	}
	scan := func(when string) {
		t.Helper()
		files := snapshot(t, dir)
		if len(files[stateFileName])+len(files[stateFileName+"-wal"])+len(files[kvFileName]) == 0 {
			t.Fatalf("%s: nothing to scan", when)
		}
		seen := false
		for _, data := range files {
			seen = seen || bytes.Contains(data, visible)
		}
		if !seen {
			t.Fatalf("%s: %q is in no file; the scan sees nothing", when, visible)
		}
		if onKVEngine() {
			for name, data := range files {
				if bytes.Contains(data, []byte("alice")) {
					t.Errorf("%s: %s contains a handle in the clear", when, name)
				}
			}
		}
		for name, data := range files {
			if bytes.Contains(data, secret) {
				t.Errorf("%s: %s contains the plaintext marker", when, name)
			}
			if bytes.Contains(data, keyBytes) {
				t.Errorf("%s: %s contains the store key", when, name)
			}
		}
	}
	scan("while open")
	if _, err := os.Stat(filepath.Join(dir, stateFileName+"-wal")); !onKVEngine() && err != nil {
		t.Errorf("no -wal file while open: %v", err)
	}
	s.Close()
	scan("after Close")
}
