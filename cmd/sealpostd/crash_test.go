package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	bin "encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
	"github.com/sealpost/sealpost/tlsconfig"
)

// The crash tests run sealpostd as a child process, kill it with SIGKILL
// while senders run, restart it on the same data and check that every
// envelope whose send the relay answered "stored" is delivered
// (spec/relay.md §7.3: an answered send survives a crash of the process).
// The senders then retry the sends the kill left unanswered under the same
// message ids: each is either stored now or answered as a duplicate of one
// committed before the kill (spec/relay.md §7.2), and every envelope is
// delivered exactly once.

const (
	crashSenders    = 4
	crashRecipients = 4
	crashInFlight   = 8 // sends in flight per sender
	crashRunFor     = 1500 * time.Millisecond
)

// relayArgs are the flags of a relay that lets the senders go flat out.
var relayArgs = []string{"--relay-rate", "1000000", "--relay-burst", "1000000", "--relay-conns-per-ip", "10000",
	"--relay-quota-rate", "10000000", "--relay-quota-burst", "10000000", "--relay-quota-share", "100"}

func TestRelayCrashSQLite(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	crashTest(t, append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0"}, relayArgs...), dataDir)
}

func TestRelayCrashPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	crashTest(t, append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0", "--postgres", dsn}, relayArgs...), dataDir)
}

// relayDevice mints tokens for devices of the relay named "localhost".
type relayDevice struct {
	handle string
	key    ed25519.PrivateKey
}

func (dev relayDevice) token(t *testing.T) string {
	t.Helper()
	now := time.Now()
	tok, err := token.Issue(rand.Reader, dev.key, token.Claims{
		Handle: dev.handle, Device: keys.DeviceID(1), Audience: "relay:" + DefaultName,
		IssuedAt: now.Add(-time.Minute), Expiry: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Encode()
}

func (dev relayDevice) addr() []byte { return wire.FormatAddress(dev.handle, 1) }

func dialRelay(t *testing.T, d *daemon, dev relayDevice) *relayclient.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := relayclient.Dial(ctx, "wss://"+d.addr+relayclient.Path, tlsconfig.ClientConfig(d.fp), dev.token(t))
	if err != nil {
		t.Fatalf("dial relay as %s: %v", dev.handle, err)
	}
	return c
}

func crashTest(t *testing.T, args []string, dataDir string) {
	d := start(t, args...)
	key, err := readKey(filepath.Join(dataDir, tokenKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	var senders, recipients []relayDevice
	for i := range crashSenders {
		senders = append(senders, relayDevice{fmt.Sprintf("sender-%d", i), key})
	}
	for i := range crashRecipients {
		recipients = append(recipients, relayDevice{fmt.Sprintf("rcpt-%d", i), key})
	}
	// Recipients authenticate once so their mailboxes exist, then go
	// offline.
	for _, r := range recipients {
		dialRelay(t, d, r).Close()
	}

	// Senders pipeline envelopes "s<sender>-<seq>" to round-robin
	// recipients and record each one answered stored.
	type pendingSend struct {
		id  [wire.MessageIDSize]byte
		env []byte
		ri  int
	}
	var mu sync.Mutex
	answered := map[string]int{} // envelope -> recipient index
	unanswered := make([][]pendingSend, len(senders))
	var stored atomic.Int64
	var wg sync.WaitGroup
	for si, s := range senders {
		c := dialRelay(t, d, s)
		defer c.CloseNow()
		var seq atomic.Int64
		for range crashInFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					n := seq.Add(1)
					ri := int(n) % len(recipients)
					env := fmt.Appendf(nil, "s%d-%d", si, n)
					var id [wire.MessageIDSize]byte
					bin.BigEndian.PutUint64(id[:], uint64(n))
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					st, dup, err := c.Send(ctx, id, []*wire.Item{{Recipient: recipients[ri].addr(), Envelope: env}})
					cancel()
					if err != nil {
						// The relay died: retried after the restart.
						mu.Lock()
						unanswered[si] = append(unanswered[si], pendingSend{id, env, ri})
						mu.Unlock()
						return
					}
					if dup || len(st) != 1 || st[0] != wire.Status_STATUS_STORED {
						t.Errorf("send %s: statuses %v duplicate %v", env, st, dup)
						return
					}
					mu.Lock()
					answered[string(env)] = ri
					mu.Unlock()
					stored.Add(1)
				}
			}()
		}
	}
	time.Sleep(crashRunFor)
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.exited
	wg.Wait()
	if t.Failed() {
		return
	}
	if stored.Load() < 100 {
		t.Fatalf("only %d sends answered before the kill; the test proves little", stored.Load())
	}
	t.Logf("%d sends answered stored before SIGKILL", stored.Load())

	// Restart on the same data; every answered envelope is delivered.
	d2 := start(t, args...)
	want := make([]map[string]bool, len(recipients))
	for i := range want {
		want[i] = map[string]bool{}
	}
	for env, ri := range answered {
		want[ri][env] = true
	}
	var retried, dups int
	for si, s := range senders {
		c := dialRelay(t, d2, s)
		for _, p := range unanswered[si] {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			st, dup, err := c.Send(ctx, p.id, []*wire.Item{{Recipient: recipients[p.ri].addr(), Envelope: p.env}})
			cancel()
			if err != nil || len(st) != 1 || st[0] != wire.Status_STATUS_STORED {
				t.Fatalf("retry of %s after restart: %v %v", p.env, st, err)
			}
			retried++
			if dup {
				dups++
			}
			want[p.ri][string(p.env)] = true
		}
		c.Close()
	}
	t.Logf("%d unanswered sends retried after restart, %d of them duplicates of sends committed before the kill", retried, dups)
	seen := map[string]uint64{} // envelope -> its id in the queue
	for ri, r := range recipients {
		c := dialRelay(t, d2, r)
		deadline := time.After(15 * time.Second)
		lastID := uint64(0)
		for len(want[ri]) > 0 {
			select {
			case dl, ok := <-c.Deliveries():
				if !ok {
					t.Fatalf("%s: connection ended: %v", r.handle, c.Err())
				}
				if dl.Id <= lastID {
					t.Fatalf("%s: delivery id %d after %d", r.handle, dl.Id, lastID)
				}
				lastID = dl.Id
				if !want[ri][string(dl.Envelope)] {
					t.Fatalf("%s: envelope %s delivered twice, or never sent to it", r.handle, dl.Envelope)
				}
				delete(want[ri], string(dl.Envelope))
				seen[string(dl.Envelope)] = dl.Id
				if err := c.Ack(context.Background(), dl.Id); err != nil {
					t.Fatal(err)
				}
			case <-deadline:
				t.Fatalf("%s: %d answered envelopes lost after SIGKILL", r.handle, len(want[ri]))
			}
		}
		c.Close()
	}
	// Nothing else is queued: no envelope was stored twice. (An ack still
	// in flight may let an envelope come again, under its own id.)
	for _, r := range recipients {
		c := dialRelay(t, d2, r)
	more:
		for {
			select {
			case dl, ok := <-c.Deliveries():
				if !ok {
					t.Fatalf("%s: connection ended: %v", r.handle, c.Err())
				}
				if id, ok := seen[string(dl.Envelope)]; !ok || id != dl.Id {
					t.Errorf("%s: envelope %s (id %d) after all were delivered and acked", r.handle, dl.Envelope, dl.Id)
				}
			case <-time.After(200 * time.Millisecond):
				break more
			}
		}
		c.Close()
	}
	d2.stop(t)
}
