package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"

	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/relay/wire"
)

func authFrame(tok string) *wire.Frame {
	return &wire.Frame{Body: &wire.Frame_Auth{Auth: &wire.Auth{Token: tok}}}
}

// Tokens that are expired, not yet valid, forged or for another audience
// are refused with their code and a policy-violation close; no mailbox is
// created.
func TestTokenRefused(t *testing.T) {
	e := startRelay(t, Limits{})
	now := e.clock.Now()
	aud := "relay:" + relayName
	forger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	cases := []struct {
		name string
		tok  string
		code wire.ErrorCode
	}{
		{"expired", mintFor(t, "bob", 1, aud, now.Add(-2*time.Hour), now.Add(-time.Hour), issuer), wire.ErrorCode_ERROR_CODE_TOKEN_EXPIRED},
		{"not yet valid", mintFor(t, "bob", 1, aud, now.Add(time.Hour), now.Add(2*time.Hour), issuer), wire.ErrorCode_ERROR_CODE_TOKEN_EXPIRED},
		// Just beyond the skew: token_expired, as at the key server (spec/errors.md §2).
		{"not yet valid by 1s", mintFor(t, "bob", 1, aud, now.Add(token.ClockSkew+time.Second), now.Add(time.Hour), issuer), wire.ErrorCode_ERROR_CODE_TOKEN_EXPIRED},
		{"forged", mintFor(t, "bob", 1, aud, now, now.Add(time.Hour), forger), wire.ErrorCode_ERROR_CODE_INVALID_TOKEN},
		{"garbage", "not-a-token", wire.ErrorCode_ERROR_CODE_INVALID_TOKEN},
		{"wrong audience", mintFor(t, "bob", 1, "relay:other.example", now, now.Add(time.Hour), issuer), wire.ErrorCode_ERROR_CODE_WRONG_AUDIENCE},
		{"keyserver audience", mintFor(t, "bob", 1, "keyserver:"+relayName, now, now.Add(time.Hour), issuer), wire.ErrorCode_ERROR_CODE_WRONG_AUDIENCE},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dialRaw()
			c.send(authFrame(tc.tok))
			c.expectError(tc.code, websocket.StatusPolicyViolation)
			if _, err := e.q.Stats(context.Background(), addr("bob", 1)); err == nil {
				t.Fatal("refused token created a mailbox")
			}
		})
	}
}

// Frames that break the protocol get their Error and close, and change
// nothing in the store.
func TestProtocolViolations(t *testing.T) {
	e := startRelay(t, Limits{})
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	b.ws.CloseNow()

	t.Run("send before auth", func(t *testing.T) {
		c := e.dialRaw()
		c.send(sendFrame(1, []byte("x"), bob))
		c.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
	})
	t.Run("second auth", func(t *testing.T) {
		c, _ := e.connect("alice", 1)
		c.send(authFrame(e.mint("alice", 1)))
		c.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
	})
	t.Run("client sends deliver", func(t *testing.T) {
		c, _ := e.connect("alice", 1)
		c.send(&wire.Frame{Body: &wire.Frame_Deliver{Deliver: &wire.Deliver{Deliveries: []*wire.Delivery{{Id: 1, Envelope: []byte{1}, ArrivedUnixMs: 1}}}}})
		c.expectError(wire.ErrorCode_ERROR_CODE_UNEXPECTED_FRAME, websocket.StatusProtocolError)
	})
	t.Run("malformed", func(t *testing.T) {
		c, _ := e.connect("alice", 1)
		c.writeRaw([]byte{0xff, 0xff, 0xff})
		c.expectError(wire.ErrorCode_ERROR_CODE_MALFORMED, websocket.StatusProtocolError)
	})
	t.Run("bad recipient", func(t *testing.T) {
		c, _ := e.connect("alice", 1)
		// A recipient that is not an address makes the frame malformed;
		// encode it by hand since wire.Encode refuses it.
		f := sendFrame(1, []byte("x"), bob)
		f.GetSend().Items[0].Recipient = []byte("nope")
		c.writeRaw(marshalUnchecked(t, f))
		c.expectError(wire.ErrorCode_ERROR_CODE_MALFORMED, websocket.StatusProtocolError)
	})
	t.Run("text message", func(t *testing.T) {
		c, _ := e.connect("alice", 1)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.ws.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		c.expectError(wire.ErrorCode_ERROR_CODE_MALFORMED, websocket.StatusProtocolError)
	})
	if st := e.depth(bob); st.Count != 0 {
		t.Fatalf("violations stored %d envelopes", st.Count)
	}
}

// An envelope over MaxEnvelope is refused per recipient (too_large) while
// the rest of the send is stored; a frame over MaxFrame ends the
// connection with frame_too_large.
func TestSizeLimits(t *testing.T) {
	lim := Limits{MaxEnvelope: 4096, MaxFrame: 10240}
	e := startRelay(t, lim)
	bob := addr("bob", 1)
	b, _ := e.connect("bob", 1)
	a, hello := e.connect("alice", 1)
	if hello.Limits.MaxEnvelope != 4096 || hello.Limits.MaxFrame != 10240 {
		t.Fatalf("limits %v", hello.Limits)
	}
	m := &wire.Send{MessageId: msgID(1), Items: []*wire.Item{
		{Recipient: bob, Envelope: make([]byte, 4097)},
		{Recipient: bob, Envelope: make([]byte, 4096)},
	}}
	a.send(&wire.Frame{Body: &wire.Frame_Send{Send: m}})
	f := a.read()
	r := f.GetSendResult()
	if r == nil {
		t.Fatalf("answer %v", f)
	}
	if r.Statuses[0] != wire.Status_STATUS_TOO_LARGE || r.Statuses[1] != wire.Status_STATUS_STORED {
		t.Fatalf("answer %v", r)
	}
	if d := b.deliveries(1); len(d[0].Envelope) != 4096 {
		t.Fatalf("delivered %d bytes", len(d[0].Envelope))
	}

	// One byte over the frame cap: refused by length, before parsing.
	c, _ := e.connect("carol", 1)
	frame := make([]byte, 10241)
	c.writeRaw(frame)
	c.expectError(wire.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE, websocket.StatusMessageTooBig)
	if st := e.depth(bob); st.Count != 1 {
		t.Fatalf("queue %d, want 1", st.Count)
	}

	// Exactly at the cap is read and parsed (and refused as malformed).
	c, _ = e.connect("carol", 1)
	c.writeRaw(frame[:10240])
	c.expectError(wire.ErrorCode_ERROR_CODE_MALFORMED, websocket.StatusProtocolError)
}

// A frame far over the cap is refused without the relay reading all of
// it: the Error arrives while the client is still writing.
func TestHugeFrameRefusedEarly(t *testing.T) {
	e := startRelay(t, Limits{MaxEnvelope: 4096, MaxFrame: 8192})
	c, _ := e.connect("alice", 1)
	w, err := c.ws.Writer(context.Background(), websocket.MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	// Write 64 KiB, well past the cap but without finishing the message.
	if _, err := w.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	f, err := c.next(5 * time.Second)
	if err != nil || f.GetError().GetCode() != wire.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE {
		t.Fatalf("got %v, %v; want frame_too_large", f, err)
	}
}

// Sends beyond the bucket are rate_limited, and the sends before are
// answered.
func TestRateLimited(t *testing.T) {
	e := startRelay(t, Limits{SendsPerSecond: 1, SendBurst: 3})
	bob := addr("bob", 1)
	e.connect("bob", 1)
	a, _ := e.connect("alice", 1)
	for i := range 4 {
		a.send(sendFrame(byte(i), []byte{byte(i)}, bob))
	}
	answered := 0
	for {
		f := a.read()
		if f.GetSendResult() != nil {
			answered++
			continue
		}
		if f.GetError().GetCode() != wire.ErrorCode_ERROR_CODE_RATE_LIMITED {
			t.Fatalf("got %v", f)
		}
		break
	}
	if answered != 3 {
		t.Fatalf("%d sends answered before the error, want 3", answered)
	}
	if st := e.depth(bob); st.Count != 3 {
		t.Fatalf("queue %d, want 3", st.Count)
	}
	// Reconnecting does not refill the bucket.
	a, _ = e.connect("alice", 1)
	a.send(sendFrame(9, []byte{9}, bob))
	a.expectError(wire.ErrorCode_ERROR_CODE_RATE_LIMITED, websocket.StatusPolicyViolation)
}

// No Auth within AuthTimeout: auth_timeout.
func TestAuthTimeout(t *testing.T) {
	e := startRelay(t, Limits{AuthTimeout: 100 * time.Millisecond})
	c := e.dialRaw()
	c.expectError(wire.ErrorCode_ERROR_CODE_AUTH_TIMEOUT, websocket.StatusPolicyViolation)
}

// The relay pings every heartbeat interval; a client that answers stays
// connected past the idle timeout, a silent one is closed with
// idle_timeout.
func TestHeartbeatAndIdle(t *testing.T) {
	e := startRelay(t, Limits{HeartbeatInterval: 50 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	live, hello := e.connect("alice", 1)
	if hello.HeartbeatIntervalMs != 50 || hello.IdleTimeoutMs != 300 {
		t.Fatalf("Hello %v", hello)
	}
	silent, _ := e.connect("bob", 1)
	silent.silent.Store(true)
	start := time.Now()
	silent.expectError(wire.ErrorCode_ERROR_CODE_IDLE_TIMEOUT, websocket.StatusNormalClosure)
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Fatalf("idle close after %v, want about 300ms", d)
	}
	live.quiet(200 * time.Millisecond)
	if n := live.pings.Load(); n < 5 {
		t.Fatalf("%d pings in 500ms at a 50ms heartbeat", n)
	}
}

// A client that sends a Ping keeps the heartbeat from then on: the relay
// sends no more Pings of its own, answers the client's, and still closes
// the connection after the idle timeout without a frame (spec/relay.md
// §9).
func TestHeartbeatTakenOverByClient(t *testing.T) {
	e := startRelay(t, Limits{HeartbeatInterval: 50 * time.Millisecond, IdleTimeout: 600 * time.Millisecond})
	c, _ := e.connect("alice", 1)
	c.send(&wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: 7}}})
	if p := c.read().GetPong(); p == nil || p.Nonce != 7 {
		t.Fatal("no Pong for the client's Ping")
	}
	before := c.pings.Load()
	// Pinging every 200ms (4 relay heartbeats) keeps the connection.
	for range 4 {
		c.quiet(200 * time.Millisecond)
		c.send(&wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: 8}}})
		if c.read().GetPong() == nil {
			t.Fatal("no Pong")
		}
	}
	if n := c.pings.Load() - before; n > 1 {
		t.Fatalf("the relay sent %d Pings after the client took the heartbeat over", n)
	}
	// A client that stops is closed after the idle timeout.
	start := time.Now()
	c.expectError(wire.ErrorCode_ERROR_CODE_IDLE_TIMEOUT, websocket.StatusNormalClosure)
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("idle close after %v, want about 600ms", d)
	}
}

// A connection is closed when its token expires (checked at least every
// heartbeat).
func TestTokenExpiryCloses(t *testing.T) {
	e := startRelay(t, Limits{HeartbeatInterval: 50 * time.Millisecond, IdleTimeout: time.Minute})
	c := e.dialRaw()
	now := e.clock.Now()
	c.send(authFrame(mintFor(t, "alice", 1, "relay:"+relayName, now, now.Add(time.Hour), issuer)))
	if c.read().GetHello() == nil {
		t.Fatal("no Hello")
	}
	e.clock.Add(time.Hour)
	c.expectError(wire.ErrorCode_ERROR_CODE_TOKEN_EXPIRED, websocket.StatusPolicyViolation)
}

// An upgrade without the subprotocol is refused with HTTP 400.
func TestSubprotocolRequired(t *testing.T) {
	e := startRelay(t, Limits{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{HTTPClient: e.srv.Client()})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("dial without subprotocol: %v, %v", resp, err)
	}
}

// The connections of one IP address are capped.
func TestConnsPerIP(t *testing.T) {
	e := startRelay(t, Limits{MaxConnsPerIP: 2})
	e.connect("alice", 1)
	e.connect("alice", 2)
	c := e.dialRaw()
	c.expectError(wire.ErrorCode_ERROR_CODE_TOO_MANY_CONNECTIONS, websocket.StatusPolicyViolation)
}

func marshalUnchecked(t *testing.T, f *wire.Frame) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
