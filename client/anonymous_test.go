package client

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/seal"
	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/relay/wire"
	"github.com/sealpost/sealpost/tlsconfig"
)

// keysVerifier is a relay.SendTokenVerifier over the key server's
// published keys document, fetched over HTTPS as a relay on another
// machine would (spec/relay.md §15), and again when a token names a key it
// does not know.
type keysVerifier struct {
	s  **servers
	mu sync.Mutex
	v  *sendtoken.Verifier
}

func (k *keysVerifier) Verify(b []byte, now time.Time) (sendtoken.Spent, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for try := 0; ; try++ {
		if k.v == nil || try > 0 {
			s := *k.s
			fp, err := tlsconfig.ParseFingerprint(s.pin)
			if err != nil {
				return sendtoken.Spent{}, err
			}
			ks, err := ksclient.New(s.url, tlsconfig.ClientConfig(fp))
			if err != nil {
				return sendtoken.Spent{}, err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			doc, err := ks.SendTokenKeys(ctx)
			cancel()
			if err != nil {
				return sendtoken.Spent{}, err
			}
			if k.v, err = sendtoken.NewVerifier(doc.Issuer, doc.Keys...); err != nil {
				return sendtoken.Spent{}, err
			}
		}
		sp, err := k.v.Verify(b, now)
		if errors.Is(err, sendtoken.ErrUnknownKey) && try == 0 {
			continue
		}
		return sp, err
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// anonServers starts servers whose relay takes anonymous sends, verified
// with the key server's published keys, logs at debug level into the
// returned buffer and counts into the returned registry.
func anonServers(t testing.TB, eng engine) (*servers, *syncBuffer, *prometheus.Registry) {
	return anonServersWith(t, eng, nil)
}

// anonServersWith is anonServers with the relay's Config changed by more.
func anonServersWith(t testing.TB, eng engine, more func(*relay.Config)) (*servers, *syncBuffer, *prometheus.Registry) {
	t.Helper()
	var s *servers
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	s = startServersWith(t, eng, func(c *relay.Config) {
		c.SendTokens = &keysVerifier{s: &s}
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Registerer = reg
		if more != nil {
			more(c)
		}
	})
	return s, logs, reg
}

// newAnonUser registers handle with a client that sends anonymously.
func (s *servers) newAnonUser(handle string) *Client {
	s.t.Helper()
	cfg := s.config(s.t.TempDir())
	cfg.SendMode = SendAnonymous
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Open(ctx, cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	if err := c.Register(ctx, handle); err != nil {
		s.t.Fatalf("register %s: %v", handle, err)
	}
	return c
}

// walletCount is how many usable send tokens c holds.
func walletCount(t *testing.T, c *Client) int {
	t.Helper()
	var n int
	if err := c.store.View(ctxT(t), func(tx localstore.Tx) error {
		var err error
		n, err = tx.SendTokenCount(minTokenEpoch(time.Now()))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// counter reads a counter of the relay's registry by name.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// spec/client.md §13: with SendAnonymous, a message and its receipts go
// on anonymous connections, each envelope paid with one token from a
// wallet filled by blind issuance; the recipient gets it as any other.
func TestAnonymousSend(t *testing.T) {
	s, _, reg := anonServers(t, engineSQLite)
	alice := s.newAnonUser("alice")
	bob := s.newUser("bob")
	id := send(t, alice, "bob", "hello, anonymously")
	m := recv(t, bob)
	if m.From != "alice" || string(m.Plaintext) != "hello, anonymously" || m.ID != id {
		t.Fatalf("bob got %+v", m)
	}
	if n := counter(t, reg, "sealpost_relay_anonymous_sends_total"); n != 1 {
		t.Fatalf("anonymous sends %v, want 1", n)
	}
	// One batch was issued; one token paid for the one envelope (bob has
	// one device, alice no other).
	if n := walletCount(t, alice); n != sendtoken.MaxBatchSize-1 {
		t.Fatalf("alice's wallet holds %d tokens, want %d", n, sendtoken.MaxBatchSize-1)
	}
	// bob's answer is authenticated (his default); alice's delivery
	// receipt to bob is anonymous.
	send(t, bob, "alice", "hi")
	recv(t, alice)
	waitFor(t, func() bool { return counter(t, reg, "sealpost_relay_anonymous_sends_total") >= 2 })
	// Open (the default) is the relay's default: no device told it
	// anything, so a relay predating access control is never sent a frame
	// it would refuse.
	if n := counter(t, reg, "sealpost_relay_access_sets_total"); n != 0 {
		t.Fatalf("SetAccess frames %v in open mode, want 0", n)
	}
	// Typing goes anonymously too (spec/client.md §13.5), sealed with
	// version 2, and arrives.
	if err := alice.Typing(ctxT(t), "bob", true); err != nil {
		t.Fatalf("Typing while anonymous: %v", err)
	}
	if e := waitEvent(t, bob, EventTyping); e.Handle != "alice" || !e.Typing {
		t.Fatalf("bob's typing event %+v", e)
	}
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// spec/client.md §13.3: a relay that takes no anonymous sends never gets
// the envelope on the authenticated connection instead: it stays queued.
func TestAnonymousNeverFallsBack(t *testing.T) {
	s := startServers(t, engineSQLite) // no send-token keys: anonymous_disabled
	alice := s.newAnonUser("alice")
	s.newUser("bob")
	c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := alice.Send(c, "bob", []byte("not on my account's connection"))
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrQueued) {
		t.Fatalf("Send: %v, want it queued and not confirmed", err)
	}
	st, err := s.q.Stats(ctxT(t), wire.FormatAddress("bob", 1))
	if err != nil || st.Count != 0 {
		t.Fatalf("bob's mailbox %+v, %v: want empty", st, err)
	}
	var queued []localstore.Outgoing
	alice.store.View(ctxT(t), func(tx localstore.Tx) error {
		var err error
		queued, err = tx.OutgoingQueue(10)
		return err
	})
	if len(queued) != 1 || queued[0].Recipient != "bob" {
		t.Fatalf("alice's queue %+v, want the envelope for bob", queued)
	}
}

// spec/client.md §13.3: every retry of a queued envelope spends the token
// recorded with it, so the relay, which deduplicates anonymous sends by
// token, stores it once; a token the relay calls stale is replaced.
func TestAnonymousRetrySameToken(t *testing.T) {
	s, _, reg := anonServers(t, engineSQLite)
	alice := s.newAnonUser("alice")
	bob := s.newUser("bob")
	send(t, alice, "bob", "first")
	recv(t, bob)
	// bob's ack of "first" reaches the relay after recv returns: wait for
	// it, so that the count below is of the test's envelope alone.
	waitFor(t, func() bool {
		st, err := s.q.Stats(ctxT(t), wire.FormatAddress("bob", 1))
		return err == nil && st.Count == 0
	})
	// Queue a second envelope by hand with a token recorded, as a send
	// interrupted after paying would leave it, and send it twice. The row
	// is queued under a device bob does not have, so that alice's lane to
	// bob's device 1, still running after "first", does not send it too
	// (with a token of its own); the test's item goes to device 1.
	var o localstore.Outgoing
	if err := alice.store.Update(ctxT(t), func(tx localstore.Tx) error {
		if _, err := tx.EnqueueOutgoing(localstore.Outgoing{MessageID: []byte("0123456789abcdef"), Recipient: "bob", Device: 2, Envelope: bytes.Repeat([]byte{7}, 512), Created: time.Now()}); err != nil {
			return err
		}
		var err error
		o, err = tx.OutgoingHead("bob", 2)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	item := &wire.Item{Recipient: wire.FormatAddress("bob", 1), Envelope: o.Envelope}
	rid := relaySendID(MessageID(o.MessageID), "bob", 1)
	for i := range 2 {
		st, err := alice.sendAnonymous(ctxT(t), rid, &o, item)
		if err != nil || st != wire.Status_STATUS_STORED {
			t.Fatalf("send %d: %v, %v", i, st, err)
		}
		alice.dropAnonConn(false) // the second goes on a new connection
	}
	if n := counter(t, reg, "sealpost_relay_send_token_double_spends_total"); n != 1 {
		t.Fatalf("double spends %v, want 1 (the retry answered as a duplicate)", n)
	}
	st, _ := s.q.Stats(ctxT(t), wire.FormatAddress("bob", 1))
	if st.Count > 1 {
		t.Fatalf("bob's mailbox holds %d, want the envelope once", st.Count)
	}
	// A token the relay refuses (send_token_invalid) is replaced.
	stale := bytes.Clone(o.SendToken)
	stale[2] ^= 0xff // a nonce byte: the issuer's signature no longer verifies
	o.SendToken, o.MessageID = stale, []byte("fedcba9876543210")
	if err := alice.store.Update(ctxT(t), func(tx localstore.Tx) error {
		if _, err := tx.EnqueueOutgoing(localstore.Outgoing{MessageID: o.MessageID, Recipient: "bob", Device: 2, Envelope: o.Envelope, Created: time.Now()}); err != nil {
			return err
		}
		return tx.SetOutgoingToken(o.MessageID, "bob", 2, o.TokenEpoch, stale)
	}); err != nil {
		t.Fatal(err)
	}
	rid = relaySendID(MessageID(o.MessageID), "bob", 1)
	if st, err := alice.sendAnonymous(ctxT(t), rid, &o, item); err != nil || st != wire.Status_STATUS_STORED {
		t.Fatalf("send with a refused token: %v, %v; want it paid again and stored", st, err)
	}
	if bytes.Equal(o.SendToken, stale) {
		t.Fatal("the refused token was not replaced")
	}
	if n := counter(t, reg, "sealpost_relay_send_token_refusals_total"); n != 1 {
		t.Fatalf("token refusals %v, want 1", n)
	}
}

// The honest-but-curious relay operator (issue 15): alice and carol write
// to bob anonymously; nothing the relay stored (every row of its
// database), logged (at debug level) or counted names alice's or carol's
// handle or device address in connection with bob's. Positive control:
// the same scan finds bob's address where it must be.
func TestHonestButCuriousRelay(t *testing.T) {
	s, logs, reg := anonServers(t, engineSQLite)
	alice := s.newAnonUser("alice")
	carol := s.newAnonUser("carol")
	bob := s.newAnonUser("bob")
	for i := range 3 {
		send(t, alice, "bob", fmt.Sprintf("alice %d", i))
		send(t, carol, "bob", fmt.Sprintf("carol %d", i))
	}
	for range 6 {
		recv(t, bob)
	}
	// bob's replies and receipts are anonymous too.
	send(t, bob, "alice", "hi alice")
	send(t, bob, "carol", "hi carol")
	recv(t, alice)
	recv(t, carol)
	// Typing signals (sessions answered now) go anonymously too.
	for _, c := range []*Client{alice, carol} {
		if err := c.Typing(ctxT(t), "bob", true); err != nil {
			t.Fatal(err)
		}
		if e := waitEvent(t, bob, EventTyping); e.Handle != c.Handle() || !e.Typing {
			t.Fatalf("typing event %+v", e)
		}
	}
	if err := bob.SendReceipts(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// Leave envelopes stored: bob is away while alice writes once more.
	bob.Close()
	send(t, alice, "bob", "while you were away")

	names := map[string][][]byte{}
	for _, h := range []string{"alice", "carol", "bob"} {
		names[h] = [][]byte{[]byte(h), wire.FormatAddress(h, 1)}
	}
	has := func(b []byte, h string) bool {
		for _, n := range names[h] {
			if bytes.Contains(b, n) {
				return true
			}
		}
		return false
	}

	// Every row of every table of the relay's database.
	bobRows := 0
	for _, row := range sqliteRows(t, s.db("relay.db")) {
		if has(row.values, "bob") {
			bobRows++
			if has(row.values, "alice") || has(row.values, "carol") {
				t.Errorf("table %s: a row names bob and a sender: %q", row.table, row.values)
			}
		}
	}
	if bobRows == 0 {
		t.Fatal("positive control: no row of the relay's database names bob")
	}

	// Every log line.
	bobLines := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if has([]byte(line), "bob") {
			bobLines++
			if has([]byte(line), "alice") || has([]byte(line), "carol") {
				t.Errorf("a log line names bob and a sender: %s", line)
			}
		}
	}
	t.Logf("%d rows and %d log lines name bob, none a sender", bobRows, bobLines)

	// Every metric: no handle or address in a name or label.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if b := []byte(mf.String()); has(b, "alice") || has(b, "carol") || has(b, "bob") {
			t.Errorf("metric %s names an account", mf.GetName())
		}
	}
	if n := counter(t, reg, "sealpost_relay_anonymous_sends_total"); n < 9 {
		t.Fatalf("anonymous sends %v: the messages did not go anonymously", n)
	}
}

// Issue 15: what the key server saw at issuance cannot be joined with what
// the relay saw spent. Every issuance request and answer is recorded on
// the wire; every spent token is read from the relay's spent set (its
// dedup records under 0x00 || epoch || nonce, spec/relay.md §15.4); no
// spent nonce, and no 16-byte piece of one, occurs in anything issued, and
// the key server's database holds no piece of one either.
func TestIssuanceUnlinkable(t *testing.T) {
	s, _, _ := anonServers(t, engineSQLite)
	var (
		mu     sync.Mutex
		issued [][]byte
	)
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.URL.Path != "/v1/send-tokens" {
			next.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		mu.Lock()
		issued = append(issued, body, rec.Body.Bytes())
		mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
	alice := s.newAnonUser("alice")
	carol := s.newAnonUser("carol")
	bob := s.newUser("bob")
	for i := range 4 {
		send(t, alice, "bob", fmt.Sprintf("a%d", i))
		send(t, carol, "bob", fmt.Sprintf("c%d", i))
	}
	for range 8 {
		recv(t, bob)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(issued) < 4 {
		t.Fatalf("%d issuance exchanges recorded, want alice's and carol's", len(issued)/2)
	}
	var nonces [][]byte
	rows, err := s.db("relay.db").Query(`SELECT sender FROM dedup`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k []byte
		rows.Scan(&k)
		if len(k) == 41 && k[0] == 0 {
			nonces = append(nonces, k[9:])
		}
	}
	rows.Close()
	if len(nonces) < 8 {
		t.Fatalf("%d spent tokens in the relay's spent set, want 8 or more", len(nonces))
	}
	var ksdump []byte
	for _, row := range sqliteRows(t, s.db("keyserver.db")) {
		ksdump = append(append(ksdump, row.values...), '\n')
	}
	for _, n := range nonces {
		for i := 0; i+16 <= len(n); i += 8 {
			piece := n[i : i+16]
			for _, b := range issued {
				if bytes.Contains(b, piece) {
					t.Fatalf("a spent token's nonce occurs in an issuance exchange")
				}
			}
			if bytes.Contains(ksdump, piece) {
				t.Fatalf("a spent token's nonce occurs in the key server's database")
			}
		}
	}
}

// sqliteRow is one row of a table, its values printed and concatenated
// (blobs also as their bytes).
type sqliteRow struct {
	table  string
	values []byte
}

// sqliteRows returns every row of every table of db.
func sqliteRows(t *testing.T, db *sql.DB) []sqliteRow {
	t.Helper()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var out []sqliteRow
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			r := sqliteRow{table: table}
			for _, v := range vals {
				r.values = fmt.Appendf(r.values, "%v|", v)
				if b, ok := v.([]byte); ok {
					r.values = append(r.values, b...)
				}
			}
			out = append(out, r)
		}
		rows.Close()
	}
	return out
}

// An unknown SendMode is refused before anything is created.
func TestSendModeChecked(t *testing.T) {
	s := startServers(t, engineSQLite)
	dir := filepath.Join(t.TempDir(), "c")
	cfg := s.config(dir)
	cfg.SendMode = SendMode(7)
	if _, err := Open(ctxT(t), cfg); err == nil || !strings.Contains(err.Error(), "Config.SendMode") {
		t.Fatalf("Open with SendMode(7): %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused Open left %s: %v", dir, err)
	}
}

// socks5Server is a minimal SOCKS5 proxy (RFC 1928: no authentication,
// CONNECT to an IPv4 address or a domain name) on 127.0.0.1 that counts
// the connections it carried.
func socks5Server(t *testing.T) (addr string, carried *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	carried = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 262)
				// Greeting: VER NMETHODS METHODS; choose "no authentication".
				if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != 5 {
					return
				}
				if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
					return
				}
				c.Write([]byte{5, 0})
				// Request: VER CMD RSV ATYP ADDR PORT.
				if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[1] != 1 {
					return
				}
				var host string
				switch buf[3] {
				case 1:
					io.ReadFull(c, buf[:4])
					host = net.IP(buf[:4]).String()
				case 3:
					io.ReadFull(c, buf[:1])
					n := int(buf[0])
					io.ReadFull(c, buf[:n])
					host = string(buf[:n])
				default:
					return
				}
				io.ReadFull(c, buf[:2])
				port := int(buf[0])<<8 | int(buf[1])
				up, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
				if err != nil {
					c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
					return
				}
				defer up.Close()
				c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
				carried.Add(1)
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String(), carried
}

// spec/client.md §13.4: with Config.Dial every connection — the key
// server's, the authenticated relay connection and the anonymous ones —
// goes through the proxy (here a real SOCKS5 proxy through SOCKS5).
func TestAnonymousThroughSOCKS5(t *testing.T) {
	s, _, reg := anonServers(t, engineSQLite)
	proxyAddr, carried := socks5Server(t)
	dial, err := SOCKS5(proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t.TempDir())
	cfg.SendMode, cfg.Dial = SendAnonymous, dial
	alice, err := Open(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	if err := alice.Register(ctxT(t), "alice"); err != nil {
		t.Fatal(err)
	}
	bob := s.newUser("bob")
	send(t, alice, "bob", "via the proxy")
	if m := recv(t, bob); string(m.Plaintext) != "via the proxy" {
		t.Fatalf("bob got %q", m.Plaintext)
	}
	// At least: the key server, the authenticated relay connection and
	// one anonymous connection.
	if n := carried.Load(); n < 3 {
		t.Fatalf("the proxy carried %d connections, want 3 or more", n)
	}
	if n := counter(t, reg, "sealpost_relay_anonymous_sends_total"); n != 1 {
		t.Fatalf("anonymous sends %v, want 1", n)
	}
}

// storedEnvelopes returns the envelopes the relay's database holds for a
// device address.
func storedEnvelopes(t *testing.T, s *servers, addr []byte) [][]byte {
	t.Helper()
	rows, err := s.db("relay.db").Query(`SELECT data FROM envelopes WHERE addr = ? ORDER BY id`, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		rows.Scan(&b)
		out = append(out, b)
	}
	return out
}

// spec/client.md §13.8: an anonymous envelope is sealed with version 2 of
// the seal, to the recipient device's last-resort KEM prekey, and opens;
// an authenticated one stays version 1 (the relay knows its sender
// anyway).
func TestAnonymousSealedHybrid(t *testing.T) {
	s, _, _ := anonServers(t, engineSQLite)
	alice := s.newAnonUser("alice")
	bob, bobDir := s.newUserDir("bob")
	send(t, bob, "alice", "hello") // a session
	recv(t, alice)
	bob.Close()
	send(t, alice, "bob", "sealed post-quantum")
	envs := storedEnvelopes(t, s, wire.FormatAddress("bob", 1))
	if len(envs) == 0 {
		t.Fatal("nothing stored for bob")
	}
	last := envs[len(envs)-1]
	if last[0] != seal.VersionHybrid || len(last) < seal.MinHybridEnvelopeSize {
		t.Fatalf("anonymous envelope: version %d, %d bytes; want version 2", last[0], len(last))
	}
	// bob, back, opens it with his last-resort KEM prekey.
	bob = s.open(bobDir)
	for {
		m := recv(t, bob)
		if string(m.Plaintext) == "sealed post-quantum" {
			break
		}
	}
	// bob's reply is authenticated: version 1.
	alice.Close()
	send(t, bob, "alice", "plain seal")
	envs = storedEnvelopes(t, s, wire.FormatAddress("alice", 1))
	if len(envs) == 0 || envs[len(envs)-1][0] != seal.Version {
		t.Fatalf("authenticated envelope not version 1")
	}
}

// counterLabel reads one labelled series of a counter of the relay's
// registry.
func counterLabel(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
