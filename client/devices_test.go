package client

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/keyserver/api"
)

// restoreDevice makes a second device of c's account from a backup, which
// c approves.
func (s *servers) restoreDevice(t *testing.T, c *Client) *Client {
	t.Helper()
	d := s.restoreUnapproved(t, c)
	if err := c.ApproveDevice(ctxT(t), d.DeviceID()); err != nil {
		t.Fatalf("approve device %d: %v", d.DeviceID(), err)
	}
	return d
}

// restoreUnapproved makes a second device of c's account from a backup,
// in a directory of its own, as a thief with the backup would.
func (s *servers) restoreUnapproved(t *testing.T, c *Client) *Client {
	t.Helper()
	var buf bytes.Buffer
	if err := c.ExportBackup(ctxT(t), &buf, []byte("backup passphrase")); err != nil {
		t.Fatal(err)
	}
	d, err := Restore(ctxT(t), s.config(t.TempDir()), bytes.NewReader(buf.Bytes()), []byte("backup passphrase"))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestMultiDevice: bob has two devices and gets every message on both;
// what alice sends from one device appears as a sent copy on her other.
func TestMultiDevice(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	send(t, alice, "bob", "before")
	if m := recv(t, bob); string(m.Plaintext) != "before" {
		t.Fatal(m)
	}
	bob2 := s.restoreDevice(t, bob)
	alice2 := s.restoreDevice(t, alice)
	if bob2.Handle() != "bob" || bob2.DeviceID() != 2 || alice2.DeviceID() != 2 {
		t.Fatalf("restored devices: %s/%d, %s/%d", bob2.Handle(), bob2.DeviceID(), alice2.Handle(), alice2.DeviceID())
	}

	id := send(t, alice, "bob", "to both of bob's devices")
	for _, c := range []*Client{bob, bob2} {
		m := recv(t, c)
		if string(m.Plaintext) != "to both of bob's devices" || m.ID != id || m.From != "alice" || m.FromDevice != 1 || m.Sent {
			t.Fatalf("%s/%d got %+v", c.Handle(), c.DeviceID(), m)
		}
	}
	m := recv(t, alice2)
	if !m.Sent || m.To != "bob" || m.From != "alice" || m.FromDevice != 1 || m.ID != id || string(m.Plaintext) != "to both of bob's devices" {
		t.Fatalf("alice's other device got %+v", m)
	}

	// bob2 answers: alice's two devices get it, and bob's first device
	// gets the copy.
	id = send(t, bob2, "alice", "from bob's second device")
	for _, c := range []*Client{alice, alice2} {
		if m := recv(t, c); m.ID != id || m.From != "bob" || m.FromDevice != 2 || m.Sent {
			t.Fatalf("%s/%d got %+v", c.Handle(), c.DeviceID(), m)
		}
	}
	if m := recv(t, bob); !m.Sent || m.To != "alice" || m.ID != id {
		t.Fatalf("bob's first device got %+v", m)
	}

	devs, err := bob.Devices(ctxT(t))
	if err != nil || len(devs) != 2 || !devs[0].Current || devs[1].Current || devs[0].Revoked {
		t.Fatalf("devices: %+v %v", devs, err)
	}

	// Revoking bob's second device: alice stops sending to it.
	if err := bob.RevokeDevice(ctxT(t), 2); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "bob", "after revocation")
	if m := recv(t, bob); string(m.Plaintext) != "after revocation" {
		t.Fatal(m)
	}
	noMessage(t, bob2, 500*time.Millisecond)
	if err := bob.RevokeDevice(ctxT(t), 1); err == nil {
		t.Fatal("a device revoked itself")
	}

	// The revoked device still holds the account key (it was restored from
	// a backup), but the key server takes a revocation only from an
	// active device (spec/keyserver.md §1.1): bob's device 1 stays.
	if err := bob2.RevokeDevice(ctxT(t), 1); !ksclient.IsCode(err, api.CodeDeviceRevoked) {
		t.Fatalf("revoked device revoking the owner's other device: %v, want device_revoked", err)
	}
	devs, err = bob.Devices(ctxT(t))
	if err != nil || len(devs) != 2 || devs[0].Revoked || !devs[1].Revoked {
		t.Fatalf("devices after the revoked device's attempt: %+v %v", devs, err)
	}
}

// TestBackupErrors: a wrong backup passphrase and a damaged backup are
// refused without creating anything.
func TestBackupErrors(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	var buf bytes.Buffer
	if err := alice.ExportBackup(ctxT(t), &buf, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Restore(ctxT(t), s.config(dir), bytes.NewReader(buf.Bytes()), []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong backup passphrase: %v", err)
	}
	bad := bytes.Clone(buf.Bytes())
	bad[len(bad)-5] ^= 1
	if _, err := Restore(ctxT(t), s.config(dir), bytes.NewReader(bad), []byte("pw")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged backup: %v", err)
	}
	if entries, _ := readDir(dir); len(entries) != 0 {
		t.Fatalf("a refused restore left %v", entries)
	}
	devs, err := alice.Devices(ctxT(t))
	if err != nil || len(devs) != 1 {
		t.Fatalf("a refused restore added a device: %+v %v", devs, err)
	}
}

// TestAudit audits the directory of a server with a few accounts, then
// again after a change: the second audit checks only the new epochs, and
// reports the contact whose key set changed.
func TestAudit(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	send(t, alice, "bob", "hello")
	recv(t, bob)
	var calls int
	rep, err := alice.Audit(ctxT(t), func(done, total int64) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	// Two registrations: at least one epoch, two updates.
	if rep.Epochs < 1 || rep.Checked != rep.Epochs || rep.Updates < 2 || rep.Known != 2 || len(rep.Updated) != 0 || calls == 0 {
		t.Fatalf("audit: %+v, %d progress calls", rep, calls)
	}
	s.restoreDevice(t, bob)
	rep2, err := alice.Audit(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Epochs <= rep.Epochs || rep2.Checked != rep2.Epochs-rep.Epochs || rep2.Updates != 1 || !slices.Equal(rep2.Updated, []string{"bob"}) {
		t.Fatalf("second audit: %+v after %+v", rep2, rep)
	}
}

// TestLargeMessageManyDevices: a message near MaxPlaintext to an account
// with two devices (two envelopes of 256 KiB, more than one relay frame
// holds) reaches both.
func TestLargeMessageManyDevices(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	bob2 := s.restoreDevice(t, bob)
	big := bytes.Repeat([]byte("x"), MaxPlaintext)
	if _, err := alice.Send(ctxT(t), "bob", big); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{bob, bob2} {
		if m := recv(t, c); !bytes.Equal(m.Plaintext, big) {
			t.Fatalf("device %d got %d bytes", c.DeviceID(), len(m.Plaintext))
		}
	}
	if _, err := alice.Send(ctxT(t), "bob", append(big, 'x')); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over MaxPlaintext: %v", err)
	}
}
