package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/link"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// linking is a new device waiting in Link, as a test sees it.
type linking struct {
	uri  chan string
	code chan string
	done chan error
	c    *Client
	name string // the new device's name
}

// startLink runs Link for a new device in dir, in the background.
func (s *servers) startLink(t testing.TB, ctx context.Context, dir, name string) *linking {
	t.Helper()
	l := &linking{uri: make(chan string, 1), code: make(chan string, 1), done: make(chan error, 1), name: name}
	go func() {
		c, err := Link(ctx, s.config(dir), LinkOptions{
			Name:   name,
			Handle: "alice",
			OnURI:  func(u string) { l.uri <- u },
			OnCode: func(code string) { l.code <- code },
		})
		if err == nil {
			l.c = c
			t.Cleanup(func() { c.Close() })
		}
		l.done <- err
	}()
	return l
}

// waitURI returns the URI the new device shows.
func (l *linking) waitURI(t testing.TB) string {
	t.Helper()
	select {
	case u := <-l.uri:
		return u
	case err := <-l.done:
		t.Fatalf("link ended before showing a URI: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no link URI within 20 s")
	}
	return ""
}

// wait returns Link's result.
func (l *linking) wait(t testing.TB) error {
	t.Helper()
	select {
	case err := <-l.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("link did not end within 60 s")
	}
	return nil
}

// compareCodes is the user comparing the two screens: the existing
// device's code against the one the new device shows.
func (l *linking) compareCodes(t testing.TB) func(ctx context.Context, name, code string) (bool, error) {
	return func(ctx context.Context, name, code string) (bool, error) {
		// The name came sealed in msg2 (spec/linking.md §4.4).
		if name != l.name {
			t.Errorf("the existing device shows the name %q, want %q", name, l.name)
		}
		select {
		case shown := <-l.code:
			return SameLinkCode(shown, code), nil
		case <-time.After(20 * time.Second):
			t.Error("the new device showed no code within 20 s")
			return false, nil
		}
	}
}

// linkDevice links a new device to c's account through the relay.
func (s *servers) linkDevice(t *testing.T, c *Client, name string, opts AddDeviceOptions) *Client {
	t.Helper()
	l := s.startLink(t, ctxT(t), t.TempDir(), name)
	uri := l.waitURI(t)
	opts.Confirm = l.compareCodes(t)
	dev, err := c.AddDevice(ctxT(t), uri, opts)
	if err != nil {
		t.Fatalf("add device: %v", err)
	}
	if err := l.wait(t); err != nil {
		t.Fatalf("link: %v", err)
	}
	if l.c.DeviceID() != dev || l.c.Handle() != c.Handle() {
		t.Fatalf("linked %s/%d, AddDevice said %d", l.c.Handle(), l.c.DeviceID(), dev)
	}
	return l.c
}

// TestLinkDevice: alice links a second device, which then receives a
// message sent to alice, sends one that bob gets as alice's, shows bob as
// verified, and stops receiving once revoked.
func TestLinkDevice(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, bob := s.newUser("alice"), s.newUser("bob")
	send(t, bob, "alice", "hello before")
	recv(t, alice)
	sn, err := alice.SafetyNumber(ctxT(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.MarkVerified(ctxT(t), "bob", sn); err != nil {
		t.Fatal(err)
	}
	gid, err := alice.CreateGroup(ctxT(t), "friends", "bob")
	if err != nil {
		t.Fatal(err)
	}

	alice2 := s.linkDevice(t, alice, "laptop", AddDeviceOptions{})
	if alice2.DeviceID() != 2 {
		t.Fatalf("linked as device %d", alice2.DeviceID())
	}
	cs, err := alice2.Contacts(ctxT(t))
	if err != nil || len(cs) != 1 || cs[0].Handle != "bob" || !cs[0].Verified {
		t.Fatalf("the linked device's contacts: %+v, %v", cs, err)
	}
	// Both of alice's devices take the other as hers: no warning, and
	// the names are known on both.
	for _, c := range []*Client{alice, alice2} {
		ds, err := c.Devices(ctxT(t))
		if err != nil || len(ds) != 2 {
			t.Fatalf("%d: devices %+v, %v", c.DeviceID(), ds, err)
		}
		for _, d := range ds {
			if !d.Approved || d.Revoked {
				t.Errorf("device %d as seen from %d: %+v", d.ID, c.DeviceID(), d)
			}
			if d.ID == 2 && d.Name != "laptop" {
				t.Errorf("device 2's name as seen from %d: %q", c.DeviceID(), d.Name)
			}
		}
	}

	// The group comes after the link, from the device that linked.
	deadline := time.Now().Add(20 * time.Second)
	for {
		gs, err := alice2.Groups(ctxT(t))
		if err == nil && len(gs) == 1 && gs[0].ID == gid && gs[0].Name == "friends" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the linked device's groups: %+v, %v", gs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	id := send(t, bob, "alice", "to both of alice's devices")
	for _, c := range []*Client{alice, alice2} {
		if m := recv(t, c); m.ID != id || m.From != "bob" {
			t.Fatalf("device %d got %+v", c.DeviceID(), m)
		}
	}
	id = send(t, alice2, "bob", "from the laptop")
	if m := recv(t, bob); m.ID != id || m.From != "alice" || m.FromDevice != 2 || string(m.Plaintext) != "from the laptop" {
		t.Fatalf("bob got %+v", m)
	}
	if m := recv(t, alice); !m.Sent || m.ID != id {
		t.Fatalf("alice's first device got %+v", m)
	}
	// bob is verified on the laptop: sending to him checks his key as
	// the verified one, and his safety number is the same on both.
	sn2, err := alice2.SafetyNumber(ctxT(t), "bob")
	if err != nil || sn2.Digits() != sn.Digits() {
		t.Fatalf("safety number on the linked device %v, %v", sn2, err)
	}

	if err := alice.RevokeDevice(ctxT(t), 2); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, alice2, EventRevoked)
	send(t, bob, "alice", "after the revocation")
	recv(t, alice)
	noMessage(t, alice2, time.Second)
}

// TestLinkWithoutAccountKey: a device linked without the account key
// works but cannot add or revoke devices.
func TestLinkWithoutAccountKey(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	s.newUser("bob")
	alice2 := s.linkDevice(t, alice, "browser", AddDeviceOptions{WithoutAccountKey: true})
	if err := alice2.RevokeDevice(ctxT(t), 1); !errors.Is(err, ErrNoAccountKey) {
		t.Fatalf("revoke from a device without the account key: %v", err)
	}
	if _, err := alice2.AddDevice(ctxT(t), "sealpost://link?v=1", AddDeviceOptions{Confirm: func(context.Context, string, string) (bool, error) { return true, nil }}); !errors.Is(err, ErrNoAccountKey) {
		t.Fatalf("add device from a device without the account key: %v", err)
	}
	send(t, alice2, "bob", "hi")
}

// TestLinkRefused: a declined code, a URI used twice, an expired or
// malformed URI and another relay's URI are refused, and none of them
// adds a device.
func TestLinkRefused(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	yes := func(context.Context, string, string) (bool, error) { return true, nil }

	// The user says the codes differ: both sides stop, nothing added.
	l := s.startLink(t, ctxT(t), t.TempDir(), "phone")
	uri := l.waitURI(t)
	_, err := alice.AddDevice(ctxT(t), uri, AddDeviceOptions{Confirm: func(context.Context, string, string) (bool, error) { return false, nil }})
	if !errors.Is(err, ErrLinkDeclined) {
		t.Fatalf("declined: %v", err)
	}
	if err := l.wait(t); !errors.Is(err, ErrLinkDeclined) {
		t.Fatalf("the new device after a decline: %v", err)
	}
	assertDevices(t, alice, 1)

	// A URI used once is gone.
	l = s.startLink(t, ctxT(t), t.TempDir(), "phone")
	uri = l.waitURI(t)
	if _, err := alice.AddDevice(ctxT(t), uri, AddDeviceOptions{Confirm: l.compareCodes(t)}); err != nil {
		t.Fatal(err)
	}
	if err := l.wait(t); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.AddDevice(ctxT(t), uri, AddDeviceOptions{Confirm: yes}); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("a used URI: %v", err)
	}
	assertDevices(t, alice, 2)

	u, err := link.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	expired := *u
	expired.Expires = time.Now().Add(-time.Minute).Truncate(time.Second)
	if _, err := alice.AddDevice(ctxT(t), expired.String(), AddDeviceOptions{Confirm: yes}); !errors.Is(err, ErrLinkExpired) {
		t.Fatalf("an expired URI: %v", err)
	}
	other := *u
	other.Relay = "wss://relay.example.net/v1/relay"
	other.Expires = time.Now().Add(time.Minute).Truncate(time.Second)
	if _, err := alice.AddDevice(ctxT(t), other.String(), AddDeviceOptions{Confirm: yes}); !errors.Is(err, ErrLinkRelay) {
		t.Fatalf("another relay's URI: %v", err)
	}
	for _, bad := range []string{"", "sealpost://link?v=2", "https://example.com", uri + "&x=1", strings.Replace(uri, "sealpost://", "sealpost:/", 1)} {
		if _, err := alice.AddDevice(ctxT(t), bad, AddDeviceOptions{Confirm: yes}); !errors.Is(err, link.ErrMalformedURI) && !errors.Is(err, link.ErrUnsupportedVersion) {
			t.Errorf("URI %q: %v", bad, err)
		}
	}
	assertDevices(t, alice, 2)
}

// TestLinkSwappedURI: someone who saw the QR code puts their own offer
// behind a URI of theirs and sits between the two devices; the codes the
// two devices show differ, so the user declines, and nothing is added.
func TestLinkSwappedURI(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	l := s.startLink(t, ctxT(t), t.TempDir(), "phone")
	realURI := l.waitURI(t)
	mitm := newLinkMITM(t, s, s.newUser("mallory"), realURI)

	var eCode string
	_, err := alice.AddDevice(ctxT(t), mitm.uri, AddDeviceOptions{Confirm: func(ctx context.Context, name, code string) (bool, error) {
		eCode = code
		select {
		case shown := <-l.code:
			return SameLinkCode(shown, code), nil
		case <-time.After(20 * time.Second):
			return false, errors.New("no code on the new device")
		}
	}})
	if !errors.Is(err, ErrLinkDeclined) || eCode == "" {
		t.Fatalf("AddDevice through a swapped URI: %v (code %q)", err, eCode)
	}
	if mitm.gotSecrets() {
		t.Fatal("the attacker got the account")
	}
	assertDevices(t, alice, 1)
}

// TestLinkExistingDeviceDies: the existing device stops after the account
// record and part of the snapshot; the new device gives up without
// adding itself, and linking again in the same directory works.
func TestLinkExistingDeviceDies(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	l := s.startLink(t, ctx, dir, "phone")
	e := dialLinkAsExisting(t, s, alice, l.waitURI(t))
	<-l.code
	cert := e.certify(t, alice, 2)
	e.send(t, &link.Account{Certificate: cert, SnapshotSize: 1 << 20, SnapshotHash: sha256.Sum256(nil)})
	e.send(t, &link.SnapshotChunk{Data: make([]byte, 1000)})
	e.conn.CloseNow() // killed
	if err := l.wait(t); err == nil {
		t.Fatal("the new device linked without the whole snapshot")
	}
	assertDevices(t, alice, 1)

	// Again, in the same directory.
	s.linkDeviceIn(t, alice, dir)
	assertDevices(t, alice, 2)
}

// TestLinkSnapshotLongerThanSaid: a snapshot longer than its account
// record said is refused and reported to the sender; nothing is added.
func TestLinkSnapshotLongerThanSaid(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	l := s.startLink(t, ctxT(t), t.TempDir(), "phone")
	e := dialLinkAsExisting(t, s, alice, l.waitURI(t))
	<-l.code
	e.send(t, &link.Account{Certificate: e.certify(t, alice, 2), SnapshotSize: 1000, SnapshotHash: sha256.Sum256(nil)})
	e.send(t, &link.SnapshotChunk{Data: make([]byte, 2000)})
	if err := l.wait(t); err == nil {
		t.Fatal("a snapshot longer than announced was taken")
	}
	rec, err := linkRecord(ctxT(t), e.conn.Conn, e.ch)
	if !errors.Is(err, ErrLinkAborted) {
		t.Fatalf("the sender got %v, %v; want an abort", rec, err)
	}
	assertDevices(t, alice, 1)
}

// TestLinkOtherAccountFirst: someone who photographed the QR code answers
// before the user's own device and offers their account; the new device
// is told to join alice's, so it refuses, and joins nothing.
func TestLinkOtherAccountFirst(t *testing.T) {
	s := startServers(t, engineSQLite)
	mallory := s.newUser("mallory")
	l := s.startLink(t, ctxT(t), t.TempDir(), "phone")
	e := dialLinkAsExisting(t, s, mallory, l.waitURI(t))
	<-l.code
	e.send(t, &link.Account{Certificate: e.certify(t, mallory, 2), SnapshotSize: 0, SnapshotHash: sha256.Sum256(nil)})
	if err := l.wait(t); !errors.Is(err, ErrLinkDeclined) {
		t.Fatalf("joining another account: %v", err)
	}
	assertDevices(t, mallory, 1)
}

// assertDevices checks how many devices c's account has in the log.
func assertDevices(t *testing.T, c *Client, n int) {
	t.Helper()
	ds, err := c.Devices(ctxT(t))
	if err != nil || len(ds) != n {
		t.Fatalf("devices %+v, %v; want %d", ds, err, n)
	}
}

// linkDeviceIn links a device in dir (which may hold an empty store left
// by an earlier attempt).
func (s *servers) linkDeviceIn(t *testing.T, c *Client, dir string) *Client {
	t.Helper()
	l := s.startLink(t, ctxT(t), dir, "again")
	uri := l.waitURI(t)
	if _, err := c.AddDevice(ctxT(t), uri, AddDeviceOptions{Confirm: l.compareCodes(t)}); err != nil {
		t.Fatalf("add device: %v", err)
	}
	if err := l.wait(t); err != nil {
		t.Fatalf("link: %v", err)
	}
	return l.c
}

// existingSide plays an existing device by hand, to stop or misbehave
// where the library would not.
type existingSide struct {
	conn  *relayclient.LinkConn
	to    []byte
	ch    *link.Channel
	offer *link.Offer
}

func dialLinkAsExisting(t *testing.T, s *servers, c *Client, uri string) *existingSide {
	t.Helper()
	u, err := link.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	aud, err := c.relayAudience(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.tokens.Get(ctxT(t), aud)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	conn, _, err := relayclient.DialLinkVia(ctxT(t), c.cfg.Relay, c.tls, secret, nil, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	offer, _, err := conn.Fetch(ctxT(t), u.LinkID)
	if err != nil {
		t.Fatal(err)
	}
	ini, off, msg1, err := link.Initiate(rand.Reader, u, offer, wire.LinkID(secret), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	to := wire.LinkAddressOf(u.LinkID)
	if err := linkSend(ctxT(t), conn.Conn, to, [][]byte{msg1}); err != nil {
		t.Fatal(err)
	}
	d, err := linkNext(ctxT(t), conn.Conn)
	if err != nil {
		t.Fatal(err)
	}
	conn.Ack(ctxT(t), d.Id)
	ch, _, err := ini.Finish(d.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	return &existingSide{conn: conn, to: to, ch: ch, offer: off}
}

func (e *existingSide) certify(t *testing.T, c *Client, dev keys.DeviceID) *keys.DeviceCertificate {
	t.Helper()
	ak, release, err := c.identity().accountPrivate()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	cert, err := ak.CertifyDevice(c.Handle(), dev, e.offer.Device, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func (e *existingSide) sealRaw(t *testing.T, r link.Record) []byte {
	t.Helper()
	b, err := e.ch.Seal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *existingSide) send(t *testing.T, r link.Record) { e.sendRaw(t, e.sealRaw(t, r)) }

func (e *existingSide) sendRaw(t *testing.T, b []byte) {
	t.Helper()
	if err := linkSend(ctxT(t), e.conn.Conn, e.to, [][]byte{b}); err != nil {
		t.Fatal(err)
	}
}

// linkMITM sits between the two devices with a URI of its own: it answers
// the existing device as if it were the new one, and the new device as if
// it were the existing one.
type linkMITM struct {
	uri  string
	done chan bool
}

func newLinkMITM(t *testing.T, s *servers, mallory *Client, realURI string) *linkMITM {
	t.Helper()
	real, err := link.ParseURI(realURI)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := keys.GenerateDeviceKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	resp, err := link.NewResponder(rand.Reader, real.Relay, wire.LinkID(secret), dk.Public(), "phone", real.Expires)
	if err != nil {
		t.Fatal(err)
	}
	// The attacker has an account of its own, to read the real offer.
	aud, err := mallory.relayAudience(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mallory.tokens.Get(ctxT(t), aud)
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := relayclient.DialLinkVia(ctxT(t), mallory.cfg.Relay, mallory.tls, secret, resp.Offer(), tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	m := &linkMITM{uri: resp.URI().String(), done: make(chan bool, 1)}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The existing device's msg1 to us.
		d, err := linkNext(ctx, conn.Conn)
		if err != nil {
			m.done <- false
			return
		}
		conn.Ack(ctx, d.Id)
		_, replyToE, msg2, _, err := resp.Accept(d.Envelope)
		if err != nil {
			m.done <- false
			return
		}
		// Our own msg1 to the real new device, with our reply mailbox
		// (the same link), before we know its nonce.
		offer, _, err := conn.Fetch(ctx, real.LinkID)
		if err != nil {
			m.done <- false
			return
		}
		_, _, msg1, err := link.Initiate(rand.Reader, real, offer, wire.LinkID(secret), time.Now())
		if err != nil {
			m.done <- false
			return
		}
		linkSend(ctx, conn.Conn, wire.LinkAddressOf(real.LinkID), [][]byte{msg1})
		// The best the attacker can do for the existing device's code.
		linkSend(ctx, conn.Conn, wire.LinkAddressOf(replyToE), [][]byte{msg2})
		// Whatever the existing device sends next would be the account.
		for {
			d, err := linkNext(ctx, conn.Conn)
			if err != nil {
				m.done <- false
				return
			}
			conn.Ack(ctx, d.Id)
			if len(d.Envelope) > 1000 {
				m.done <- true
				return
			}
		}
	}()
	return m
}

// gotSecrets reports whether the existing device sent the attacker more
// than an abort.
func (m *linkMITM) gotSecrets() bool {
	select {
	case got := <-m.done:
		return got
	case <-time.After(5 * time.Second):
		return false
	}
}
