package relay

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// One account floods another's device with 10,000 junk envelopes while
// it is offline (issue 10, "Mailbox flooding"); the victim must still get
// another sender's message, within 1 s of coming online, on both engines,
// under the default limits.
func TestFloodVictimStillReceives(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testFlood(t, startRelay(t, Limits{})) })
	t.Run("postgres", func(t *testing.T) {
		testFlood(t, startPGNode(t, pgtest.DSN(t), newClock()).relayEnv)
	})
}

func testFlood(t *testing.T, e *relayEnv) {
	victim := addr("victim", 1)
	v, _ := e.connect("victim", 1) // opens the mailbox
	v.ws.Close(websocket.StatusNormalClosure, "")
	m, _ := e.connect("mallory", 1)
	a, _ := e.connect("alice", 1)

	const flood, perFrame = 10000, 1000
	junk := bytes.Repeat([]byte{0x6a}, 64)
	start := time.Now()
	stored, quota := 0, 0
	for f := range flood / perFrame {
		r := m.sendEnv(byte(f), junk, repeatAddr(victim, perFrame)...)
		for _, st := range r.Statuses {
			switch st {
			case wire.Status_STATUS_STORED:
				stored++
			case wire.Status_STATUS_QUOTA:
				quota++
			}
		}
		if (r.RetryAfterMs > 0) != (quota > 0 && slicesHasQuota(r.Statuses)) {
			t.Fatalf("frame %d: retry_after_ms %d with statuses %v", f, r.RetryAfterMs, r.Statuses)
		}
	}
	t.Logf("flood of %d in %v: %d stored, %d quota", flood, time.Since(start), stored, quota)

	r := a.sendEnv(200, []byte("hello"), victim)
	if r.Statuses[0] != wire.Status_STATUS_STORED {
		t.Fatalf("another sender's envelope: %v", r.Statuses)
	}
	if n := storeDepth(t, e, victim).Count; n != stored+1 {
		t.Fatalf("victim's queue holds %d, want %d", n, stored+1)
	}

	v, _ = e.connect("victim", 1)
	start = time.Now()
	for {
		f, err := v.next(time.Second - time.Since(start))
		if err != nil {
			t.Fatalf("victim: no hello within 1 s: %v", err)
		}
		d := f.GetDeliver()
		if d == nil {
			t.Fatalf("want Deliver, got %v", f)
		}
		var ids []uint64
		found := false
		for _, dl := range d.Deliveries {
			ids = append(ids, dl.Id)
			found = found || string(dl.Envelope) == "hello"
		}
		v.ack(ids...)
		if found {
			break
		}
	}
	t.Logf("victim received hello %v after connecting", time.Since(start))
}

func repeatAddr(a []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = a
	}
	return out
}

func slicesHasQuota(sts []wire.Status) bool {
	for _, st := range sts {
		if st == wire.Status_STATUS_QUOTA {
			return true
		}
	}
	return false
}

// storeDepth is the queue depth of a mailbox, on any engine.
func storeDepth(t *testing.T, e *relayEnv, a []byte) store.Stats {
	t.Helper()
	st, err := e.s.q.Stats(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
