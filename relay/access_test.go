package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// setAccess sends SetAccess with the verifier of key (nil: mode open) and
// waits for its AccessSet, keeping the frames that come before it.
func (c *client) setAccess(mode wire.AccessMode, key *[wire.AccessKeySize]byte, prevSeconds uint32) {
	c.t.Helper()
	m := &wire.SetAccess{Mode: mode, PreviousValidSeconds: prevSeconds}
	if key != nil {
		v := wire.AccessVerifier(key)
		m.Verifier = v[:]
	}
	c.send(&wire.Frame{Body: &wire.Frame_SetAccess{SetAccess: m}})
	var held []*wire.Frame
	defer func() { c.held = append(c.held, held...) }()
	for {
		f, err := c.next(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for AccessSet: %v", err)
		}
		if f.GetAccessSet() != nil {
			return
		}
		if e, ok := f.Body.(*wire.Frame_Error); ok {
			c.t.Fatalf("Error %v", e.Error.Code)
		}
		held = append(held, f)
	}
}

// key returns a distinct access key.
func key(label byte) *[wire.AccessKeySize]byte {
	var k [wire.AccessKeySize]byte
	for i := range k {
		k[i] = label
	}
	return &k
}

// keyedSend is an anonymous Send under id of one item per key in keys to
// to (a nil key: no access key).
func keyedSend(id byte, tok []byte, to []byte, keys ...*[wire.AccessKeySize]byte) *wire.Frame {
	m := &wire.Send{MessageId: msgID(id), SendToken: tok}
	for i, k := range keys {
		it := &wire.Item{Recipient: to, Envelope: []byte{'e', id, byte(i)}}
		if k != nil {
			it.AccessKey = k[:]
		}
		m.Items = append(m.Items, it)
	}
	return &wire.Frame{Body: &wire.Frame_Send{Send: m}}
}

// sendKeyed sends keyedSend with a fresh token on a new anonymous
// connection of e and checks the statuses.
func sendKeyed(t *testing.T, e *relayEnv, id byte, to []byte, keys []*[wire.AccessKeySize]byte, want ...wire.Status) {
	t.Helper()
	a, _ := e.connectAnonymous()
	a.send(keyedSend(id, goodToken(t), to, keys...))
	r := a.read().GetSendResult()
	if r == nil || len(r.Statuses) != len(want) || r.Duplicate {
		t.Fatalf("send %d: %v, want %v", id, r, want)
	}
	for i := range want {
		if r.Statuses[i] != want[i] {
			t.Fatalf("send %d: statuses %v, want %v", id, r.Statuses, want)
		}
	}
}

// TestAccessControl walks spec/relay.md §15.8 on both engines: a mailbox
// is open by default; in mode contacts the right key passes, others take
// the first-contact allowance and then get access_denied, storing
// nothing; a rotation keeps the previous key until its expiry; a block
// kills it at once; the setting survives a restart and holds on another
// node sharing PostgreSQL.
func TestAccessControl(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			clk := newClock()
			lim := Limits{FirstContactPerHour: 2}
			var e *relayEnv
			var dsn string
			var restart func() *relayEnv
			if engine == "sqlite" {
				e = startRelayAt(t, t.TempDir()+"/relay.db", clk, lim)
				restart = func() *relayEnv {
					e.stop()
					return startRelayAt(t, e.path, clk, lim)
				}
			} else {
				dsn = pgtest.DSN(t)
				n := startPGNodeWith(t, dsn, clk, lim)
				e = n.relayEnv
				restart = func() *relayEnv { return startPGNodeWith(t, dsn, clk, lim).relayEnv }
			}
			bob := addr("bob", 1)
			b, _ := e.connect("bob", 1)
			depth := func() int {
				t.Helper()
				st, err := e.s.q.Stats(context.Background(), bob)
				if err != nil {
					t.Fatal(err)
				}
				return st.Count
			}
			k1, k2, k3, wrong := key(1), key(2), key(3), key(9)
			S, D := wire.Status_STATUS_STORED, wire.Status_STATUS_ACCESS_DENIED

			// Open (the default): keyless and keyed items pass.
			sendKeyed(t, e, 1, bob, []*[wire.AccessKeySize]byte{nil, wrong}, S, S)

			b.setAccess(wire.AccessMode_ACCESS_MODE_CONTACTS, k1, 0)
			sendKeyed(t, e, 2, bob, []*[wire.AccessKeySize]byte{k1, nil, wrong}, S, S, S)
			if got := testutil.ToFloat64(e.s.m.firstContacts); got != 2 {
				t.Fatalf("first contacts metric %v, want 2", got)
			}
			before := depth()
			sendKeyed(t, e, 3, bob, []*[wire.AccessKeySize]byte{nil, wrong}, D, D)
			if n := depth(); n != before {
				t.Fatalf("access_denied items stored: depth %d, was %d", n, before)
			}
			if got := testutil.ToFloat64(e.s.m.refusals.WithLabelValues("access_denied")); got != 2 {
				t.Fatalf("access_denied metric %v, want 2", got)
			}
			// The right key is never refused; authenticated sends are
			// not checked.
			sendKeyed(t, e, 4, bob, []*[wire.AccessKeySize]byte{k1, nil}, S, D)
			alice, _ := e.connect("alice", 1)
			if r := alice.sendEnv(5, []byte("hi"), bob); r.Statuses[0] != S {
				t.Fatalf("authenticated send to a contacts mailbox: %v", r)
			}

			// Rotation: k1 stays valid an hour, k2 from now. The
			// allowance refills one item per 30 min.
			b.setAccess(wire.AccessMode_ACCESS_MODE_CONTACTS, k2, 3600)
			clk.Add(59 * time.Minute)
			sendKeyed(t, e, 6, bob, []*[wire.AccessKeySize]byte{k1, k2, nil, nil}, S, S, S, D)
			// At the previous key's expiry it is a stranger's: past the
			// allowance, refused.
			clk.Add(time.Minute)
			sendKeyed(t, e, 7, bob, []*[wire.AccessKeySize]byte{nil, k1, k2}, S, D, S)

			// Block: k2 stops at once.
			b.setAccess(wire.AccessMode_ACCESS_MODE_CONTACTS, k3, 0)
			sendKeyed(t, e, 8, bob, []*[wire.AccessKeySize]byte{k2, k3}, D, S)

			// SQLite: a restart on the same file; PostgreSQL: another node
			// on the same database (restarts: storetest's
			// AccessAcrossStores). The setting and the spent allowance
			// hold there.
			e2 := restart()
			sendKeyed(t, e2, 9, bob, []*[wire.AccessKeySize]byte{k3, k2, nil}, S, D, D)
			if engine == "postgres" {
				// Changed through one node, in force on the other at once.
				b.setAccess(wire.AccessMode_ACCESS_MODE_OPEN, nil, 0)
				sendKeyed(t, e2, 10, bob, []*[wire.AccessKeySize]byte{nil}, S)
				b.setAccess(wire.AccessMode_ACCESS_MODE_CONTACTS, k1, 0)
				sendKeyed(t, e2, 11, bob, []*[wire.AccessKeySize]byte{k3, k1}, D, S)
			}
		})
	}
}

// relayclient.SetAccess against a real relay, pipelined: each call
// returns once its own AccessSet came, in order.
func TestRelayclientSetAccess(t *testing.T) {
	e := startRelay(t, Limits{FirstContactPerHour: -1})
	tlsCfg := e.srv.Client().Transport.(*http.Transport).TLSClientConfig
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := relayclient.Dial(ctx, e.url, tlsCfg, e.mint("bob", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	bob := addr("bob", 1)
	v1, v2, v3 := wire.AccessVerifier(key(1)), wire.AccessVerifier(key(2)), wire.AccessVerifier(key(3))
	// Pipelined: each call gets its own answer.
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- c.SetAccess(ctx, wire.AccessMode_ACCESS_MODE_CONTACTS, v3[:], 0) }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetAccess(ctx, wire.AccessMode_ACCESS_MODE_CONTACTS, v1[:], 0); err != nil {
		t.Fatal(err)
	}
	if err := c.SetAccess(ctx, wire.AccessMode_ACCESS_MODE_CONTACTS, v2[:], time.Hour); err != nil {
		t.Fatal(err)
	}
	a, _, err := relayclient.DialAnonymous(ctx, e.url, tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.CloseNow()
	r, err := a.SendAnonymous(ctx, [wire.MessageIDSize]byte{1}, goodToken(t), []*wire.Item{
		{Recipient: bob, Envelope: []byte("k1"), AccessKey: key(1)[:]},
		{Recipient: bob, Envelope: []byte("k2"), AccessKey: key(2)[:]},
		{Recipient: bob, Envelope: []byte("none")},
		{Recipient: bob, Envelope: []byte("k3"), AccessKey: key(3)[:]},
	})
	if err != nil {
		t.Fatal(err)
	}
	// v2 current, v1 previous, v3 dropped; no first-contact allowance.
	S, D := wire.Status_STATUS_STORED, wire.Status_STATUS_ACCESS_DENIED
	if want := []wire.Status{S, S, D, D}; !slices.Equal(r.Statuses, want) {
		t.Fatalf("statuses %v, want %v", r.Statuses, want)
	}
	if err := c.SetAccess(ctx, wire.AccessMode_ACCESS_MODE_OPEN, nil, time.Second); err == nil {
		t.Fatal("SetAccess open with a previous validity: no error")
	}
	// On an anonymous connection: unexpected_frame.
	err = a.SetAccess(ctx, wire.AccessMode_ACCESS_MODE_OPEN, nil, 0)
	var re *relayclient.RemoteError
	if !errors.As(err, &re) || re.Code != wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME {
		t.Fatalf("SetAccess on an anonymous connection: %v", err)
	}
}

// The frame rules of spec/relay.md §15.8: SetAccess only on an
// authenticated connection, access keys only on anonymous sends and of 32
// bytes; every refusal ends the connection and stores nothing.
func TestAccessFrameRules(t *testing.T) {
	e := startRelay(t, Limits{})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	b.setAccess(wire.AccessMode_ACCESS_MODE_CONTACTS, key(1), 0)
	// raw encodes f without the codec's checks.
	raw := func(f *wire.Frame) []byte {
		bb, err := proto.MarshalOptions{Deterministic: true}.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return bb
	}
	t.Run("set access on an anonymous connection", func(t *testing.T) {
		c, _ := e.connectAnonymous()
		c.send(&wire.Frame{Body: &wire.Frame_SetAccess{SetAccess: &wire.SetAccess{Mode: wire.AccessMode_ACCESS_MODE_OPEN}}})
		c.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
	})
	t.Run("access set from a client", func(t *testing.T) {
		c, _ := e.connect("alice", 1)
		c.send(&wire.Frame{Body: &wire.Frame_AccessSet{AccessSet: &wire.AccessSet{}}})
		c.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
	})
	t.Run("set access before auth", func(t *testing.T) {
		c := e.dialRaw()
		c.send(&wire.Frame{Body: &wire.Frame_SetAccess{SetAccess: &wire.SetAccess{Mode: wire.AccessMode_ACCESS_MODE_OPEN}}})
		c.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
	})
	for _, n := range []int{1, 31, 33, 64} {
		t.Run(fmt.Sprint("access key of ", n, " bytes"), func(t *testing.T) {
			c, _ := e.connectAnonymous()
			f := keyedSend(1, goodToken(t), bob, key(1))
			f.GetSend().Items[0].AccessKey = make([]byte, n)
			c.writeRaw(raw(f))
			c.expectError(wire.ErrorCode_ERROR_CODE_MALFORMED, websocket.StatusProtocolError)
		})
	}
	t.Run("access key on an authenticated send", func(t *testing.T) {
		c, _ := e.connect("alice", 1)
		f := keyedSend(1, nil, bob, key(1))
		c.writeRaw(raw(f))
		c.expectError(wire.ErrorCode_ERROR_CODE_MALFORMED, websocket.StatusProtocolError)
	})
	t.Run("malformed set access", func(t *testing.T) {
		c, _ := e.connect("bob", 1)
		c.writeRaw(raw(&wire.Frame{Body: &wire.Frame_SetAccess{SetAccess: &wire.SetAccess{
			Mode: wire.AccessMode_ACCESS_MODE_CONTACTS, Verifier: make([]byte, 31)}}}))
		c.expectError(wire.ErrorCode_ERROR_CODE_MALFORMED, websocket.StatusProtocolError)
	})
	if n := e.depth(bob).Count; n != 0 {
		t.Fatalf("refused frames stored %d envelopes", n)
	}
	a, err := e.q.Access(context.Background(), bob)
	if err != nil {
		t.Fatal(err)
	}
	if v := wire.AccessVerifier(key(1)); string(a.Current) != string(v[:]) || a.Previous != nil {
		t.Fatalf("a refused SetAccess changed the setting: %+v", a)
	}
}

// BenchmarkAccessItems is the relay's share of the access check of one
// keyed item: the verifier's SHA-256 (spec/relay.md §15.8).
func BenchmarkAccessItems(b *testing.B) {
	items := []*wire.Item{{Recipient: addr("bob", 1), Envelope: []byte("e"), AccessKey: key(1)[:]}}
	for b.Loop() {
		if accessItems(&wire.Send{Items: items})[0].AccessVerifier == nil {
			b.Fatal("no verifier")
		}
	}
}
