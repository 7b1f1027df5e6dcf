package relay

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/wire"
)

// recordConn records each Write it is given.
type recordConn struct {
	net.Conn
	writes [][]byte
}

func (c *recordConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

// A batch keeps its writes and passes them on in one; outside a batch
// writes pass straight through.
func TestBatchWriter(t *testing.T) {
	rc := &recordConn{}
	w := &batchWriter{conn: rc}
	w.Write([]byte("a"))
	w.begin()
	w.Write([]byte("bc"))
	w.Write([]byte("de"))
	if len(rc.writes) != 1 {
		t.Fatalf("writes inside a batch reached the connection: %q", rc.writes)
	}
	if err := w.end(); err != nil {
		t.Fatal(err)
	}
	if err := w.end(); err != nil { // no batch open: nothing
		t.Fatal(err)
	}
	w.begin()
	if err := w.end(); err != nil { // empty batch: no write
		t.Fatal(err)
	}
	w.Write([]byte("f"))
	want := []string{"a", "bcde", "f"}
	if len(rc.writes) != len(want) {
		t.Fatalf("writes %q, want %q", rc.writes, want)
	}
	for i := range want {
		if string(rc.writes[i]) != want[i] {
			t.Fatalf("writes %q, want %q", rc.writes, want)
		}
	}
}

// Pipelined sends get every answer (in the order they are stored), and envelopes of mixed sizes
// (some larger than a write batch, some splitting one) arrive intact.
func TestBatchedWrites(t *testing.T) {
	e := startRelay(t, Limits{SendsPerSecond: 1 << 20, SendBurst: 1 << 20})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	b.ws.CloseNow()
	a, _ := e.connect("alice", 1)

	const n = 200
	for i := range n {
		m := &wire.Send{MessageId: make([]byte, wire.MessageIDSize), Items: []*wire.Item{{Recipient: bob, Envelope: []byte{byte(i)}}}}
		m.MessageId[0], m.MessageId[1] = byte(i), byte(i>>8)
		a.send(&wire.Frame{Body: &wire.Frame_Send{Send: m}})
	}
	answered := map[int]bool{}
	for range n {
		f := a.read()
		r := f.GetSendResult()
		if r == nil || r.Statuses[0] != wire.Status_STATUS_STORED {
			t.Fatalf("want an answer, got %v", f)
		}
		answered[int(r.MessageId[0])|int(r.MessageId[1])<<8] = true
	}
	if len(answered) != n {
		t.Fatalf("%d distinct answers, want %d", len(answered), n)
	}

	sizes := []int{100, 20 << 10, 20 << 10, 100 << 10, 7, 31 << 10, 33 << 10, 1}
	var sent [][]byte
	for i, size := range sizes {
		env := bytes.Repeat([]byte{byte(i + 1)}, size)
		env[size-1] = 0xaa
		sent = append(sent, env)
		if r := a.sendEnv(byte(i+1), env, bob); r.Statuses[0] != wire.Status_STATUS_STORED {
			t.Fatalf("send %d: %v", i, r.Statuses)
		}
	}
	b, _ = e.connect("bob", 1)
	var ds []*wire.Delivery
	for len(ds) < n+len(sizes) {
		f := b.read()
		d := f.GetDeliver()
		if d == nil {
			t.Fatalf("want Deliver, got %v", f)
		}
		for _, x := range d.Deliveries {
			ds = append(ds, x)
			b.ack(x.Id)
		}
	}
	if len(ds) != n+len(sizes) {
		t.Fatalf("%d deliveries, want %d", len(ds), n+len(sizes))
	}
	got := map[byte]bool{}
	for i, d := range ds {
		if i > 0 && d.Id <= ds[i-1].Id {
			t.Fatalf("delivery ids out of order: %d after %d", d.Id, ds[i-1].Id)
		}
		if i < n {
			if len(d.Envelope) != 1 {
				t.Fatalf("delivery %d: %d bytes", i, len(d.Envelope))
			}
			got[d.Envelope[0]] = true
		}
	}
	if len(got) != n {
		t.Fatalf("%d distinct pipelined envelopes delivered, want %d", len(got), n)
	}
	for i, d := range ds[n:] {
		if !bytes.Equal(d.Envelope, sent[i]) {
			t.Fatalf("delivery of %d bytes: got %d bytes", len(sent[i]), len(d.Envelope))
		}
	}
	b.quiet(100 * time.Millisecond)
}
