package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/keyserver/api"
)

// engines are the server stores the trust tests run on.
var engines = []engine{engineSQLite, enginePostgres}

// execKeyServer runs statements on the key server's database, as its
// operator (or an intruder with the database) would.
func (s *servers) execKeyServer(t *testing.T, queries ...string) {
	t.Helper()
	if s.dsn == "" {
		db := s.db("keyserver.db")
		for _, q := range queries {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return
	}
	conn, err := pgx.Connect(ctxT(t), s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range queries {
		if _, err := conn.Exec(ctxT(t), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// swapAccount replaces handle's account on the key server with a new one,
// under a new account key, properly logged: what a key server that wants
// to read handle's messages would do. It returns the client that holds
// the new keys.
func (s *servers) swapAccount(t *testing.T, handle string) *Client {
	t.Helper()
	s.execKeyServer(t,
		fmt.Sprintf(`DELETE FROM prekeys WHERE handle = '%s'`, handle),
		fmt.Sprintf(`DELETE FROM devices WHERE handle = '%s'`, handle),
		fmt.Sprintf(`DELETE FROM accounts WHERE handle = '%s'`, handle))
	return s.newUser(handle)
}

// snapshot is what a refused operation must leave as it was: the contact
// record, the sessions with the handle, the outgoing queue and the inbox.
type snapshot struct {
	Contact  localstore.Contact
	KeySet   []byte
	Sessions map[uint32][]byte
	Queued   int
	Inbox    []string
}

func takeSnapshot(t *testing.T, c *Client, handle string) snapshot {
	t.Helper()
	var s snapshot
	err := c.store.View(ctxT(t), func(tx localstore.Tx) error {
		var err error
		if s.Contact, err = tx.Contact(handle); err != nil && !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		if s.KeySet, err = tx.KeySet(handle); err != nil && !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		ids, err := tx.SessionDevices(handle)
		if err != nil {
			return err
		}
		s.Sessions = map[uint32][]byte{}
		for _, id := range ids {
			st, err := tx.Session(handle, id)
			if err != nil {
				return err
			}
			s.Sessions[id] = st.State
		}
		q, err := tx.OutgoingQueue(1000)
		if err != nil {
			return err
		}
		s.Queued = len(q)
		in, err := tx.Undelivered(1000)
		if err != nil {
			return err
		}
		held, err := tx.Held(handle)
		if err != nil {
			return err
		}
		for _, m := range append(in, held...) {
			s.Inbox = append(s.Inbox, fmt.Sprintf("%x", m.ID))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sameExceptPending checks that after differs from before at most in the
// contact's pending key.
func sameExceptPending(t *testing.T, before, after snapshot) {
	t.Helper()
	after.Contact.Pending, after.Contact.PendingKey = before.Contact.Pending, before.Contact.PendingKey
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("a refused operation changed state:\nbefore %+v\nafter  %+v", before, after)
	}
}

// heldCount returns how many messages from handle c holds.
func heldCount(t *testing.T, c *Client, handle string) int {
	t.Helper()
	var n int
	err := c.store.View(ctxT(t), func(tx localstore.Tx) error {
		held, err := tx.Held(handle)
		n = len(held)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKeySwapUnverified: the key server replaces bob's account key and
// devices (properly logged). Alice never verified bob, yet nothing is
// encrypted to the new key until she accepts it: Send refuses with
// ErrKeyChanged, the event carries both safety numbers, and nothing
// changes. What comes from the new key is delivered, marked.
func TestKeySwapUnverified(t *testing.T) {
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) {
			s := startServers(t, eng)
			alice, bob := s.newUser("alice"), s.newUser("bob")
			send(t, alice, "bob", "hello")
			recv(t, bob)
			oldSN, err := alice.SafetyNumber(ctxT(t), "bob")
			if err != nil {
				t.Fatal(err)
			}
			bob.Close()
			evil := s.swapAccount(t, "bob")

			before := takeSnapshot(t, alice, "bob")
			_, err = alice.Send(ctxT(t), "bob", []byte("for bob only"))
			if !errors.Is(err, ErrKeyChanged) || errors.Is(err, ErrSecurity) {
				t.Fatalf("send after an unverified contact's key swap: %v, want ErrKeyChanged (not ErrSecurity)", err)
			}
			e := waitEvent(t, alice, EventKeyChanged)
			if e.Handle != "bob" || e.KeyChange == nil || e.KeyChange.Verified ||
				e.KeyChange.Old.Digits() != oldSN.Digits() || e.KeyChange.New.Digits() == oldSN.Digits() {
				t.Fatalf("event %+v", e)
			}
			after := takeSnapshot(t, alice, "bob")
			sameExceptPending(t, before, after)
			newKey := evil.identity().accountKey
			if after.Contact.AccountKey != before.Contact.AccountKey || !after.Contact.Pending || after.Contact.PendingKey != newKey {
				t.Fatalf("contact after the swap: %+v", after.Contact)
			}
			// Again: still refused, still nothing changed.
			if _, err := alice.Send(ctxT(t), "bob", []byte("again")); !errors.Is(err, ErrKeyChanged) {
				t.Fatalf("second send: %v", err)
			}
			sameExceptPending(t, before, takeSnapshot(t, alice, "bob"))
			noMessage(t, evil, 300*time.Millisecond)

			// Messages under the new key arrive, marked.
			send(t, evil, "alice", "from the new key")
			if m := recv(t, alice); !m.KeyChanged || string(m.Plaintext) != "from the new key" {
				t.Fatalf("message under the new key: %+v", m)
			}
			kc, err := alice.KeyChange(ctxT(t), "bob")
			if err != nil || kc == nil || kc.New.Digits() != e.KeyChange.New.Digits() {
				t.Fatalf("KeyChange: %+v %v", kc, err)
			}

			if err := alice.AcceptKeyChange(ctxT(t), "bob"); err != nil {
				t.Fatal(err)
			}
			send(t, alice, "bob", "after accepting")
			if m := recv(t, evil); string(m.Plaintext) != "after accepting" {
				t.Fatalf("got %q", m.Plaintext)
			}
			cs, err := alice.Contacts(ctxT(t))
			if err != nil || len(cs) != 1 || cs[0].Verified || cs[0].KeyChanged || cs[0].AccountKey != newKey {
				t.Fatalf("contacts after accepting: %+v %v", cs, err)
			}
			if kc, err := alice.KeyChange(ctxT(t), "bob"); err != nil || kc != nil {
				t.Fatalf("KeyChange after accepting: %+v %v", kc, err)
			}
			send(t, evil, "alice", "accepted")
			if m := recv(t, alice); m.KeyChanged {
				t.Fatal("still marked after AcceptKeyChange")
			}
		})
	}
}

// TestKeySwapVerified: the same swap for a contact alice verified. Every
// send fails with ErrSecurity (and ErrKeyChanged says why); messages under
// the new key are held — stored, acked at the relay, not offered, also
// after a restart — until alice verifies the new safety number; then they
// come in their order, marked.
func TestKeySwapVerified(t *testing.T) {
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) {
			s := startServers(t, eng)
			alice, aliceDir := s.newUserDir("alice")
			bob := s.newUser("bob")
			sn, err := alice.SafetyNumber(ctxT(t), "bob")
			if err != nil {
				t.Fatal(err)
			}
			if err := alice.MarkVerified(ctxT(t), "bob", sn); err != nil {
				t.Fatal(err)
			}
			send(t, alice, "bob", "verified")
			recv(t, bob)
			bob.Close()
			evil := s.swapAccount(t, "bob")

			before := takeSnapshot(t, alice, "bob")
			_, err = alice.Send(ctxT(t), "bob", []byte("for bob only"))
			if !errors.Is(err, ErrSecurity) || !errors.Is(err, ErrKeyChanged) {
				t.Fatalf("send after a verified contact's key swap: %v, want ErrSecurity wrapping ErrKeyChanged", err)
			}
			if e := waitEvent(t, alice, EventKeyChanged); e.KeyChange == nil || !e.KeyChange.Verified || e.KeyChange.Old.Digits() != sn.Digits() {
				t.Fatalf("event %+v", e)
			}
			sameExceptPending(t, before, takeSnapshot(t, alice, "bob"))
			noMessage(t, evil, 300*time.Millisecond)

			send(t, evil, "alice", "one")
			send(t, evil, "alice", "two")
			noMessage(t, alice, time.Second)
			deadline := time.Now().Add(10 * time.Second)
			for heldCount(t, alice, "bob") != 2 {
				if time.Now().After(deadline) {
					t.Fatalf("held %d messages, want 2", heldCount(t, alice, "bob"))
				}
				time.Sleep(50 * time.Millisecond)
			}
			// Held and acked: after a restart they are still held, and the
			// relay does not deliver them again.
			alice.Close()
			alice = s.open(aliceDir)
			noMessage(t, alice, time.Second)
			if n := heldCount(t, alice, "bob"); n != 2 {
				t.Fatalf("after a restart: %d held", n)
			}
			if _, err := alice.Send(ctxT(t), "bob", []byte("x")); !errors.Is(err, ErrSecurity) {
				t.Fatalf("send after a restart: %v", err)
			}
			// The old safety number does not release them.
			if err := alice.MarkVerified(ctxT(t), "bob", sn); !errors.Is(err, ErrKeyChanged) {
				t.Fatalf("MarkVerified with the old number: %v", err)
			}
			noMessage(t, alice, 300*time.Millisecond)

			sn2, err := alice.SafetyNumber(ctxT(t), "bob")
			if err != nil || sn2.Digits() == sn.Digits() {
				t.Fatalf("new safety number: %v %v", sn2, err)
			}
			if err := alice.MarkVerified(ctxT(t), "bob", sn2); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"one", "two"} {
				if m := recv(t, alice); string(m.Plaintext) != want || !m.KeyChanged || m.From != "bob" {
					t.Fatalf("released %+v, want %q marked", m, want)
				}
			}
			if n := heldCount(t, alice, "bob"); n != 0 {
				t.Fatalf("%d still held", n)
			}
			send(t, alice, "bob", "verified again")
			if m := recv(t, evil); string(m.Plaintext) != "verified again" {
				t.Fatalf("got %q", m.Plaintext)
			}
			cs, err := alice.Contacts(ctxT(t))
			if err != nil || len(cs) != 1 || !cs[0].Verified || cs[0].KeyChanged {
				t.Fatalf("contacts: %+v %v", cs, err)
			}
		})
	}
}

// TestKeySwapAcceptReleasesHeld: accepting a verified contact's new key
// instead of verifying it releases the held messages too.
func TestKeySwapAcceptReleasesHeld(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	sn, _ := alice.SafetyNumber(ctxT(t), "bob")
	if err := alice.MarkVerified(ctxT(t), "bob", sn); err != nil {
		t.Fatal(err)
	}
	bob.Close()
	evil := s.swapAccount(t, "bob")
	send(t, evil, "alice", "held")
	noMessage(t, alice, time.Second)
	if err := alice.AcceptKeyChange(ctxT(t), "bob"); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, alice); string(m.Plaintext) != "held" || !m.KeyChanged {
		t.Fatalf("released %+v", m)
	}
	cs, _ := alice.Contacts(ctxT(t))
	if len(cs) != 1 || cs[0].Verified {
		t.Fatalf("contacts: %+v", cs)
	}
}

// TestFollowKeyChanges: an application that opted in follows an
// unverified contact's new key at once, and is still told.
func TestFollowKeyChanges(t *testing.T) {
	s := startServers(t, engineSQLite)
	cfg := s.config(t.TempDir())
	cfg.FollowKeyChanges = true
	alice, err := Open(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if err := alice.Register(ctxT(t), "alice"); err != nil {
		t.Fatal(err)
	}
	bob := s.newUser("bob")
	send(t, alice, "bob", "hello")
	recv(t, bob)
	bob.Close()
	evil := s.swapAccount(t, "bob")
	send(t, alice, "bob", "followed")
	if e := waitEvent(t, alice, EventKeyChanged); e.KeyChange == nil || e.KeyChange.Old.Digits() == e.KeyChange.New.Digits() {
		t.Fatalf("event %+v", e)
	}
	if m := recv(t, evil); string(m.Plaintext) != "followed" {
		t.Fatalf("got %q", m.Plaintext)
	}
}

// TestContactDeviceEvents: a contact's devices added and revoked under the
// same account key are events with the device and the certificate's (or
// revocation's) time.
func TestContactDeviceEvents(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	send(t, alice, "bob", "hello")
	recv(t, bob)
	bob2 := s.restoreDevice(t, bob)
	send(t, alice, "bob", "to both")
	e := waitEvent(t, alice, EventDeviceAdded)
	if e.Handle != "bob" || e.Device != bob2.DeviceID() || !e.Time.Equal(bob2.identity().cert.Created) {
		t.Fatalf("device added: %+v", e)
	}
	if err := bob.RevokeDevice(ctxT(t), bob2.DeviceID()); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "bob", "after revocation")
	e = waitEvent(t, alice, EventDeviceRemoved)
	if e.Handle != "bob" || e.Device != bob2.DeviceID() || time.Since(e.Time) > time.Minute {
		t.Fatalf("device removed: %+v", e)
	}
	if _, n := localState(t, alice, "bob"); n != 1 {
		t.Fatalf("%d sessions with bob after the revocation, want 1", n)
	}
}

// TestOwnAccountNewDevice: a backup restored in another directory (a
// thief's, or the user's own new machine) is a device the first device did
// not approve: it raises EventOwnAccountChanged within one poll, again
// after each Open, and gets no sent copies until approved.
func TestOwnAccountNewDevice(t *testing.T) {
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) {
			s := startServers(t, eng)
			alice, aliceDir := s.newUserDir("alice")
			bob := s.newUser("bob")
			send(t, alice, "bob", "hello")
			recv(t, bob)
			// A short poll: the timer alone finds the new device.
			alice.trust.mu.Lock()
			alice.trust.poll = 200 * time.Millisecond
			alice.trust.mu.Unlock()
			alice.kickMonitor()

			thief := s.restoreUnapproved(t, alice)
			e := waitEvent(t, alice, EventOwnAccountChanged)
			if e.Handle != "alice" || e.Device != thief.DeviceID() || e.Revoked || !e.Time.Equal(thief.identity().cert.Created) {
				t.Fatalf("event %+v", e)
			}
			// No sent copy for the unapproved device.
			send(t, alice, "bob", "secret")
			recv(t, bob)
			noMessage(t, thief, 500*time.Millisecond)
			if q, n := localState(t, alice, "alice"); q != 0 || n != 0 {
				t.Fatalf("%d queued, %d sessions with alice's own devices", q, n)
			}
			devs, err := alice.Devices(ctxT(t))
			if err != nil || len(devs) != 2 || devs[1].Approved || !devs[0].Approved {
				t.Fatalf("devices: %+v %v", devs, err)
			}

			// Reported again after the next Open (on connect).
			alice.Close()
			alice = s.open(aliceDir)
			if e := waitEvent(t, alice, EventOwnAccountChanged); e.Device != thief.DeviceID() {
				t.Fatalf("after reopening: %+v", e)
			}
			// The restored device approved the devices of its restore.
			send(t, thief, "bob", "from the restored device")
			recv(t, bob)
			if m := recv(t, alice); !m.Sent || string(m.Plaintext) != "from the restored device" {
				t.Fatalf("copy on the first device: %+v", m)
			}

			if err := alice.ApproveDevice(ctxT(t), thief.DeviceID()); err != nil {
				t.Fatal(err)
			}
			send(t, alice, "bob", "approved")
			recv(t, bob)
			if m := recv(t, thief); !m.Sent || string(m.Plaintext) != "approved" {
				t.Fatalf("copy on the approved device: %+v", m)
			}
		})
	}
}

// TestOwnDeviceRevokedElsewhere: a revocation of an approved device that
// another device made is reported; one this device made is not.
func TestOwnDeviceRevokedElsewhere(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	alice2 := s.restoreDevice(t, alice)
	alice3 := s.restoreDevice(t, alice)
	if err := alice2.RevokeDevice(ctxT(t), alice3.DeviceID()); err != nil {
		t.Fatal(err)
	}
	alice.kickMonitor()
	e := waitEvent(t, alice, EventOwnAccountChanged)
	if !e.Revoked || e.Device != alice3.DeviceID() || time.Since(e.Time) > time.Minute {
		t.Fatalf("event %+v", e)
	}
	// A revoked device cannot be approved; nothing changes.
	ownDevices := func() map[uint32]localstore.OwnDevice {
		var ds map[uint32]localstore.OwnDevice
		if err := alice.store.View(ctxT(t), func(tx localstore.Tx) error {
			var err error
			ds, err = tx.OwnDevices()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ds
	}
	before := ownDevices()
	if err := alice.ApproveDevice(ctxT(t), alice3.DeviceID()); err == nil {
		t.Fatal("approved a revoked device")
	}
	if err := alice.ApproveDevice(ctxT(t), 77); err == nil {
		t.Fatal("approved a device the account does not have")
	}
	if after := ownDevices(); !reflect.DeepEqual(before, after) {
		t.Fatalf("a refused approval changed the record: %+v → %+v", before, after)
	}

	if err := alice.RevokeDevice(ctxT(t), alice2.DeviceID()); err != nil {
		t.Fatal(err)
	}
	alice.kickMonitor()
	deadline := time.After(time.Second)
	for {
		select {
		case e := <-alice.Events():
			if e.Kind == EventOwnAccountChanged {
				t.Fatalf("this device's own revocation reported: %+v", e)
			}
			continue
		case <-deadline:
		}
		break
	}
}

// TestUnknownHandleKnownContact: the key server denies bob, whom alice
// knows, answering his lookups with the proof of absence of another handle
// (the directory only grows, so no true proof of his absence exists). The
// answer is ErrSecurity; his message is kept at the relay and retried, with
// an event, not dropped; Send to him fails and changes nothing; when the key server
// answers again, the message arrives.
func TestUnknownHandleKnownContact(t *testing.T) {
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) {
			s := startServers(t, eng)
			alice, aliceDir := s.newUserDir("alice")
			bob := s.newUser("bob")
			send(t, alice, "bob", "hello")
			recv(t, bob)
			alice.Close()
			send(t, bob, "alice", "kept")
			s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				if r.Method != "GET" || r.URL.Path != "/v2/accounts/bob" {
					next.ServeHTTP(w, r)
					return
				}
				r.URL.Path = "/v2/accounts/nobody"
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				var l api.DirectoryLookup
				if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil || len(l.Entry) != 0 {
					t.Errorf("lookup of nobody: %v %+v", err, l)
				}
				l.Handle = "bob"
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(l)
			})
			alice = s.open(aliceDir)
			e := waitEvent(t, alice, EventSecurity)
			if !errors.Is(e.Err, ErrSecurity) || errors.Is(e.Err, ErrUnknownHandle) || e.Handle != "bob" {
				t.Fatalf("event %+v", e)
			}
			noMessage(t, alice, time.Second)

			before := takeSnapshot(t, alice, "bob")
			_, err := alice.Send(ctxT(t), "bob", []byte("x"))
			if !errors.Is(err, ErrSecurity) {
				t.Fatalf("send to a denied contact: %v", err)
			}
			if after := takeSnapshot(t, alice, "bob"); !reflect.DeepEqual(before, after) {
				t.Fatalf("changed: %+v / %+v", before, after)
			}

			s.setIntercept(nil)
			if m := recv(t, alice); string(m.Plaintext) != "kept" {
				t.Fatalf("got %q", m.Plaintext)
			}
		})
	}
}
