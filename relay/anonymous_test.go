package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/relay/wire"
)

// keysName is the test key server's name, the issuer of send tokens.
const keysName = "keys.test.example"

// sendTokens is an in-test issuer of send tokens (spec/anonymous.md §5)
// and the relays' verifier: key signs for the current epoch, old for an
// epoch long gone (both accepted keys), other is a key no relay accepts.
type sendTokens struct {
	key, old, other *sendtoken.PrivateKey
	epoch           uint64
	v               *sendtoken.Verifier
}

var testSendTokens = sync.OnceValue(func() *sendTokens {
	gen := func() *sendtoken.PrivateKey {
		k, err := sendtoken.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	st := &sendTokens{key: gen(), old: gen(), other: gen(), epoch: sendtoken.EpochAt(time.Now())}
	v, err := sendtoken.NewVerifier(keysName,
		sendtoken.EpochKey{Epoch: st.epoch, Key: st.key.Public()},
		sendtoken.EpochKey{Epoch: st.epoch - 10, Key: st.old.Public()})
	if err != nil {
		panic(err)
	}
	st.v = v
	return st
})

// mintTokens issues n tokens by key for (issuer, epoch).
func mintTokens(t testing.TB, key *sendtoken.PrivateKey, issuer string, epoch uint64, n int) [][]byte {
	t.Helper()
	reqs, pend, err := sendtoken.PrepareBatch(rand.Reader, key.Public(), sendtoken.Challenge{Issuer: issuer, Epoch: epoch}, n)
	if err != nil {
		t.Fatal(err)
	}
	resps, err := key.Issue(reqs)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := pend.Finalize(resps)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, n)
	for i := range toks {
		out[i] = toks[i].Marshal()
	}
	return out
}

// goodToken is one valid, unspent token.
func goodToken(t testing.TB) []byte {
	st := testSendTokens()
	return mintTokens(t, st.key, keysName, st.epoch, 1)[0]
}

// connectAnonymous opens an anonymous connection and returns its Hello.
func (e *relayEnv) connectAnonymous() (*client, *wire.Hello) {
	e.t.Helper()
	c := e.dialRaw()
	c.send(&wire.Frame{Body: &wire.Frame_AuthAnonymous{AuthAnonymous: &wire.AuthAnonymous{}}})
	f := c.read()
	h, ok := f.Body.(*wire.Frame_Hello)
	if !ok {
		e.t.Fatalf("answer to AuthAnonymous: %v", f)
	}
	return c, h.Hello
}

// anonFrame is a Send of env to each of to, paid with tok.
func anonFrame(id byte, tok, env []byte, to ...[]byte) *wire.Frame {
	f := sendFrame(id, env, to...)
	f.Body.(*wire.Frame_Send).Send.SendToken = tok
	return f
}

// sendAnon sends anonFrame and returns the answer.
func (c *client) sendAnon(id byte, tok, env []byte, to ...[]byte) *wire.SendResult {
	c.t.Helper()
	c.send(anonFrame(id, tok, env, to...))
	for {
		f := c.read()
		if r, ok := f.Body.(*wire.Frame_SendResult); ok {
			return r.SendResult
		}
		c.t.Fatalf("want SendResult, got %v", f)
	}
}

// dedupSenders reads the sender column of every dedup record: the
// relay's whole memory of who sent (spec/relay.md §13).
func dedupSenders(t *testing.T, e *relayEnv, dsn string) [][]byte {
	t.Helper()
	var out [][]byte
	if dsn != "" {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, "SELECT sender FROM relay_dedup")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	db, err := sql.Open("sqlite", e.path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT sender FROM dedup")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// An anonymous send is stored and delivered to the recipient's
// authenticated connection; a retry with the same token gets the first
// answer as a duplicate, and the token on another Send stores nothing
// more. The store's dedup records name the spent token, never a sender
// (positive control: carol's authenticated send is recorded under her
// address). On SQLite and on PostgreSQL.
func TestAnonymousSend(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			var e *relayEnv
			var dsn string
			depth := func(a []byte) int { return e.depth(a).Count }
			if engine == "sqlite" {
				e = startRelay(t, Limits{})
			} else {
				dsn = pgtest.DSN(t)
				n := startPGNode(t, dsn, newClock())
				e, depth = n.relayEnv, n.depth
			}
			bob := addr("bob", 1)
			b, _ := e.connect("bob", 1)
			a, hello := e.connectAnonymous()
			if hello.Limits == nil || hello.Limits.MaxEnvelope == 0 {
				t.Fatalf("anonymous Hello without limits: %v", hello)
			}
			tok := goodToken(t)
			r := a.sendAnon(1, tok, []byte("hello bob"), bob)
			if len(r.Statuses) != 1 || r.Statuses[0] != wire.Status_STATUS_STORED || r.Duplicate {
				t.Fatalf("anonymous send: %v", r)
			}
			d := b.deliveries(1)[0]
			if string(d.Envelope) != "hello bob" {
				t.Fatalf("bob got %q", d.Envelope)
			}
			// Retry: the first answer.
			r = a.sendAnon(1, tok, []byte("hello bob"), bob)
			if len(r.Statuses) != 1 || r.Statuses[0] != wire.Status_STATUS_STORED || !r.Duplicate {
				t.Fatalf("retry: %v", r)
			}
			// The token on another Send, on another connection: the first
			// answer, nothing stored.
			a2, _ := e.connectAnonymous()
			r = a2.sendAnon(2, tok, []byte("second send"), bob, bob)
			if !r.Duplicate || !bytes.Equal(r.MessageId, msgID(2)) {
				t.Fatalf("token on another send: %v", r)
			}
			b.quiet(200 * time.Millisecond)
			if n := depth(bob); n != 1 {
				t.Fatalf("bob's queue holds %d envelopes, want 1", n)
			}
			carol, _ := e.connect("carol", 1)
			carol.sendEnv(3, []byte("from carol"), bob)

			sp, err := testSendTokens().v.Verify(tok, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var sawSpent, sawCarol bool
			for _, s := range dedupSenders(t, e, dsn) {
				switch {
				case bytes.Equal(s, spentKey(sp)):
					sawSpent = true
				case bytes.Equal(s, addr("carol", 1)):
					sawCarol = true
				default:
					t.Errorf("dedup record under unexpected sender %x", s)
				}
			}
			if !sawSpent || !sawCarol {
				t.Fatalf("dedup records: spent token %v, carol %v; want both", sawSpent, sawCarol)
			}
			if e.s.m != nil {
				if got := testutil.ToFloat64(e.s.m.anonSends); got != 3 {
					t.Errorf("anonymous sends metric %v, want 3", got)
				}
				if got := testutil.ToFloat64(e.s.m.doubleSpends); got != 2 {
					t.Errorf("double spends metric %v, want 2", got)
				}
			}
		})
	}
}

// Tokens that fail verification end the connection with their code
// (spec/relay.md §15.3) and store nothing; so does a Send without a token
// or with a token of the wrong size.
func TestSendTokenRefused(t *testing.T) {
	e := startRelay(t, Limits{})
	st := testSendTokens()
	bob := addr("bob", 1)
	e.connect("bob", 1)
	forged := goodToken(t)
	forged[len(forged)-1] ^= 1
	wrongType := goodToken(t)
	wrongType[1] = 0x01
	const invalid, stale = wire.ErrorCode_ERROR_CODE_SEND_TOKEN_INVALID, wire.ErrorCode_ERROR_CODE_SEND_TOKEN_STALE
	cases := []struct {
		name   string
		tok    []byte
		code   wire.ErrorCode
		status websocket.StatusCode
		reason string // the refusal metric's, "" for a frame error
	}{
		{"forged", forged, invalid, websocket.StatusPolicyViolation, "bad_signature"},
		{"wrong type", wrongType, invalid, websocket.StatusPolicyViolation, "malformed"},
		{"wrong challenge", mintTokens(t, st.key, "other.example", st.epoch, 1)[0], invalid, websocket.StatusPolicyViolation, "wrong_challenge"},
		{"unknown key", mintTokens(t, st.other, keysName, st.epoch, 1)[0], stale, websocket.StatusPolicyViolation, "unknown_key"},
		{"wrong epoch", mintTokens(t, st.old, keysName, st.epoch-10, 1)[0], stale, websocket.StatusPolicyViolation, "wrong_epoch"},
		{"no token", nil, wire.ErrorCode_ERROR_CODE_MALFORMED, websocket.StatusProtocolError, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before float64
			if e.s.m != nil && tc.reason != "" {
				before = testutil.ToFloat64(e.s.m.tokenRefusals.WithLabelValues(tc.reason))
			}
			c, _ := e.connectAnonymous()
			c.send(anonFrame(1, tc.tok, []byte("x"), bob))
			c.expectError(tc.code, tc.status)
			if n := e.depth(bob).Count; n != 0 {
				t.Fatalf("refused token stored %d envelopes", n)
			}
			if e.s.m != nil && tc.reason != "" {
				if got := testutil.ToFloat64(e.s.m.tokenRefusals.WithLabelValues(tc.reason)); got != before+1 {
					t.Errorf("refusals{%s} %v, want %v", tc.reason, got, before+1)
				}
			}
		})
	}
	t.Run("wrong size", func(t *testing.T) {
		c, _ := e.connectAnonymous()
		c.writeRaw(marshalUnchecked(t, anonFrame(1, goodToken(t)[:353], []byte("x"), bob)))
		c.expectError(wire.ErrorCode_ERROR_CODE_MALFORMED, websocket.StatusProtocolError)
		if n := e.depth(bob).Count; n != 0 {
			t.Fatalf("stored %d envelopes", n)
		}
	})
	if len(dedupSenders(t, e, "")) != 0 {
		t.Fatal("a refused token left a dedup record")
	}
}

// An anonymous connection can only send: Ack and a second auth frame are
// unexpected_frame; an authenticated connection's Send
// carrying a token is malformed; a relay without a verifier refuses
// anonymous connections; the per-IP cap counts anonymous connections.
func TestAnonymousConnectionRules(t *testing.T) {
	e := startRelay(t, Limits{})
	bob := addr("bob", 1)
	e.connect("bob", 1)
	refused := []struct {
		name string
		f    *wire.Frame
	}{
		{"ack", &wire.Frame{Body: &wire.Frame_Ack{Ack: &wire.Ack{Ids: []uint64{1}}}}},
		{"auth", authFrame(e.mint("alice", 1))},
		{"auth anonymous", &wire.Frame{Body: &wire.Frame_AuthAnonymous{AuthAnonymous: &wire.AuthAnonymous{}}}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := e.connectAnonymous()
			c.send(tc.f)
			c.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
		})
	}
	t.Run("anonymous after auth", func(t *testing.T) {
		c, _ := e.connect("alice", 1)
		c.send(&wire.Frame{Body: &wire.Frame_AuthAnonymous{AuthAnonymous: &wire.AuthAnonymous{}}})
		c.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
	})
	t.Run("token on authenticated send", func(t *testing.T) {
		c, _ := e.connect("alice", 1)
		c.send(anonFrame(1, goodToken(t), []byte("x"), bob))
		c.expectError(wire.ErrorCode_ERROR_CODE_MALFORMED, websocket.StatusProtocolError)
		if n := e.depth(bob).Count; n != 0 {
			t.Fatalf("stored %d envelopes", n)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		q := e.q
		s, err := New(Config{Name: relayName, Queue: q, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)}, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		d := serveRelay(t, q, s, e.clock)
		d.closed = true // the queue is e's
		t.Cleanup(func() { _ = s.Shutdown(context.Background()); d.srv.Close() })
		c := d.dialRaw()
		c.send(&wire.Frame{Body: &wire.Frame_AuthAnonymous{AuthAnonymous: &wire.AuthAnonymous{}}})
		c.expectError(wire.ErrorCode_ERROR_CODE_ANONYMOUS_DISABLED, websocket.StatusPolicyViolation)
	})
}

// The per-IP connection cap holds for anonymous connections too.
func TestAnonymousConnsPerIP(t *testing.T) {
	e := startRelay(t, Limits{MaxConnsPerIP: 2})
	e.connectAnonymous()
	e.connectAnonymous()
	c := e.dialRaw()
	c.expectError(wire.ErrorCode_ERROR_CODE_TOO_MANY_CONNECTIONS, websocket.StatusPolicyViolation)
}

// One token spent at once on two relay nodes sharing a PostgreSQL
// database, as a retry racing its original (same message id) and as two
// different sends: exactly one stores, the other gets its answer as a
// duplicate.
func TestSendTokenTwoNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	clk := newClock()
	n1, n2 := startPGNode(t, dsn, clk), startPGNode(t, dsn, clk)
	bob := addr("bob", 1)
	n1.connect("bob", 1)
	for round, sameID := range []bool{true, false} {
		tok := goodToken(t)
		c1, _ := n1.connectAnonymous()
		c2, _ := n2.connectAnonymous()
		id2 := byte(10*round + 1)
		if !sameID {
			id2++
		}
		var r1, r2 *wire.SendResult
		var wg sync.WaitGroup
		wg.Go(func() { r1 = c1.sendAnon(byte(10*round+1), tok, []byte("race"), bob) })
		wg.Go(func() { r2 = c2.sendAnon(id2, tok, []byte("race"), bob) })
		wg.Wait()
		if r1.Duplicate == r2.Duplicate {
			t.Fatalf("round %d: duplicate %v and %v, want exactly one", round, r1.Duplicate, r2.Duplicate)
		}
		for _, r := range []*wire.SendResult{r1, r2} {
			if len(r.Statuses) != 1 || r.Statuses[0] != wire.Status_STATUS_STORED {
				t.Fatalf("round %d: %v", round, r)
			}
		}
		if got := n1.depth(bob); got != round+1 {
			t.Fatalf("round %d: bob's queue holds %d, want %d", round, got, round+1)
		}
	}
}

// The frame rule of Send.send_token is the token's size.
func TestSendTokenSize(t *testing.T) {
	if wire.SendTokenSize != sendtoken.TokenSize {
		t.Fatalf("wire.SendTokenSize %d, sendtoken.TokenSize %d", wire.SendTokenSize, sendtoken.TokenSize)
	}
}

// relayclient's anonymous connection against a real relay: SendAnonymous
// stores and a retry is a duplicate; Ack on it ends it with
// unexpected_frame; a stale token ends it with send_token_stale as a
// *relayclient.RemoteError.
func TestRelayclientAnonymous(t *testing.T) {
	e := startRelay(t, Limits{})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	tlsCfg := e.srv.Client().Transport.(*http.Transport).TLSClientConfig
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func() *relayclient.Conn {
		c, h, err := relayclient.DialAnonymous(ctx, e.url, tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		if h.GetLimits().GetMaxEnvelope() == 0 {
			t.Fatalf("Hello %v", h)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	c := dial()
	id := [wire.MessageIDSize]byte{1}
	tok := goodToken(t)
	items := []*wire.Item{{Recipient: bob, Envelope: []byte("via relayclient")}}
	for i, dup := range []bool{false, true} {
		r, err := c.SendAnonymous(ctx, id, tok, items)
		if err != nil {
			t.Fatal(err)
		}
		if r.Duplicate != dup || len(r.Statuses) != 1 || r.Statuses[0] != wire.Status_STATUS_STORED {
			t.Fatalf("send %d: %v", i, r)
		}
	}
	if d := b.deliveries(1)[0]; string(d.Envelope) != "via relayclient" {
		t.Fatalf("bob got %q", d.Envelope)
	}

	st := testSendTokens()
	_, err := c.SendAnonymous(ctx, [wire.MessageIDSize]byte{2}, mintTokens(t, st.old, keysName, st.epoch-10, 1)[0], items)
	var re *relayclient.RemoteError
	if !errors.As(err, &re) || re.Code != wire.ErrorCode_ERROR_CODE_SEND_TOKEN_STALE {
		t.Fatalf("stale token: %v", err)
	}

	c = dial()
	if err := c.Ack(ctx, 1); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if !errors.As(c.Err(), &re) || re.Code != wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME {
		t.Fatalf("ack on an anonymous connection: %v", c.Err())
	}
	if n := e.depth(bob).Count; n != 1 {
		t.Fatalf("bob's queue holds %d, want 1", n)
	}
}

// The budget of an anonymous send is its token (spec/relay.md §15.5): one
// token buys at most the share of a mailbox (items beyond it are answered
// quota; a retry with the same token stores nothing twice); another token
// is not held back by the first's share.
func TestAnonymousQuotaPerToken(t *testing.T) {
	e := startRelay(t, quotaLimits) // a share of 4 envelopes
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	b.ws.CloseNow()
	a, _ := e.connectAnonymous()
	tok := goodToken(t)
	six := [][]byte{bob, bob, bob, bob, bob, bob}
	r := a.sendAnon(1, tok, []byte("q"), six...)
	wantStatuses(t, "six for a share of four", r, false, stored, stored, stored, stored, quota, quota)
	r = a.sendAnon(1, tok, []byte("q"), six...)
	wantStatuses(t, "retry", r, true, stored, stored, stored, stored, quota, quota)
	if n := e.depth(bob).Count; n != 4 {
		t.Fatalf("bob's queue holds %d, want 4", n)
	}
	// Another token: a budget of its own.
	r = a.sendAnon(2, goodToken(t), []byte("o"), bob, bob)
	wantStatuses(t, "another token", r, false, stored, stored)
	if n := e.depth(bob).Count; n != 6 {
		t.Fatalf("bob's queue holds %d, want 6", n)
	}
}

// Nothing the relay logs at debug level about an anonymous send holds its
// token, any part of it, or a line about the send itself
// (spec/relay.md §15.6).
func TestAnonymousSendNotLogged(t *testing.T) {
	var buf syncBuffer
	q, err := sqlite.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	s, err := New(Config{
		Name: relayName, Queue: q, TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)}, Now: clk.Now,
		SendTokens: testSendTokens().v,
		Logger:     slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := serveRelay(t, q, s, clk)
	bob := addr("bob", 1)
	e.connect("bob", 1)
	a, _ := e.connectAnonymous()
	tok := goodToken(t)
	a.sendAnon(1, tok, []byte("secret envelope"), bob)
	a.sendAnon(1, tok, []byte("secret envelope"), bob)
	forged := goodToken(t)
	forged[300] ^= 1
	a.send(anonFrame(2, forged, []byte("secret envelope"), bob))
	a.expectError(wire.ErrorCode_ERROR_CODE_SEND_TOKEN_INVALID, websocket.StatusPolicyViolation)
	e.stop()
	logs := buf.String()
	if !strings.Contains(logs, "connection authenticated") {
		t.Fatalf("positive control: bob's connection not logged:\n%s", logs)
	}
	for _, tk := range [][]byte{tok, forged} {
		for _, part := range [][]byte{tk[2:34], tk[34:66], tk[66:98], tk[98:130]} { // nonce, challenge, key id, authenticator
			for _, enc := range []string{hex.EncodeToString(part), base64.StdEncoding.EncodeToString(part)[:40], base64.RawURLEncoding.EncodeToString(part)[:40], string(part)} {
				if strings.Contains(logs, enc) {
					t.Fatalf("logs hold part of a token (%q):\n%s", enc, logs)
				}
			}
		}
	}
	if strings.Contains(logs, "secret envelope") {
		t.Fatal("logs hold an envelope")
	}
	for line := range strings.Lines(logs) {
		_, msg, _ := strings.Cut(line, `msg="`)
		msg, _, _ = strings.Cut(msg, `"`)
		if strings.Contains(strings.ToLower(msg), "send") {
			t.Errorf("log line about a send: %s", line)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the relay's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// spec/relay.md §15.1 rule 3, §7.4: an anonymous connection may send
// ephemeral signals: pushed to a connected recipient, never stored, never
// answered; limited by the connection's own bucket and its own bucket per
// recipient account.
func TestAnonymousEphemeral(t *testing.T) {
	e, tap := startEphemeral(t, Limits{EphemeralPerSecond: 1, EphemeralBurst: 100, EphemeralPairRate: 1, EphemeralPairBurst: 3})
	b, _ := e.connect("bob", 1)
	a, _ := e.connectAnonymous()
	bob := addr("bob", 1)
	a.send(ephemeralFrame([]byte("typing"), bob, bob, bob, bob, bob))
	if got := b.ephemerals(3, 5*time.Second); string(got[0]) != "typing" {
		t.Fatalf("bob got %q", got[0])
	}
	b.quiet(200 * time.Millisecond) // the 4th and 5th: over the pair bucket
	if r := e.ephCount(ephRate); r != 2 {
		t.Fatalf("dropped for rate %d, want 2", r)
	}
	// Another anonymous connection has buckets of its own.
	a2, _ := e.connectAnonymous()
	a2.send(ephemeralFrame([]byte("typing 2"), bob))
	if got := b.ephemerals(1, 5*time.Second); string(got[0]) != "typing 2" {
		t.Fatalf("bob got %q", got[0])
	}
	a.alive()
	a2.alive()
	noWrites(t, tap)
	if st := e.depth(bob); st.Count != 0 {
		t.Fatalf("bob's mailbox %+v", st)
	}
}
