package relayclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/relay/wire"
	"github.com/sealpost/sealpost/tlsconfig"
)

// fakeRelay serves one scripted relay connection per test over TLS 1.3.
func fakeRelay(t *testing.T, script func(ctx context.Context, ws *websocket.Conn, token string)) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		f, err := readFrame(ctx, ws, 0)
		if err != nil {
			t.Errorf("fake relay: %v", err)
			return
		}
		script(ctx, ws, f.GetAuth().GetToken())
	}))
	srv.EnableHTTP2 = false
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return "wss" + strings.TrimPrefix(srv.URL, "https") + Path
}

func hello() *wire.Frame {
	return &wire.Frame{Body: &wire.Frame_Hello{Hello: &wire.Hello{
		ServerTimeUnixMs: 1, HeartbeatIntervalMs: 30000, IdleTimeoutMs: 90000,
		Limits: &wire.Limits{MaxEnvelope: 1024, MaxFrame: 4096, MaxQueueCount: 10, MaxQueueBytes: 1 << 20,
			TtlSeconds: 60, SendsPerSecond: 10, SendBurst: 10, DeliveryWindow: 4,
			MaxEphemeralEnvelope: 512, EphemeralPerSecond: 10, EphemeralBurst: 10},
	}}}
}

func dial(t *testing.T, url, token string) (*Conn, error) {
	t.Helper()
	cfg := tlsconfig.ClientConfig(tlsconfig.Fingerprint{})
	// httptest's certificate is not pinned here: accept any.
	cfg.VerifyConnection = nil
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, url, cfg, token)
	return c, err
}

func TestPipelinedSendsDeliveriesPing(t *testing.T) {
	url := fakeRelay(t, func(ctx context.Context, ws *websocket.Conn, token string) {
		if token != "tok" {
			t.Errorf("token %q", token)
		}
		writeFrame(ctx, ws, hello())
		// Read two sends, answer them in reverse order.
		var sends []*wire.Send
		for len(sends) < 2 {
			f, err := readFrame(ctx, ws, 0)
			if err != nil {
				t.Errorf("fake relay: %v", err)
				return
			}
			sends = append(sends, f.GetSend())
		}
		for i := 1; i >= 0; i-- {
			st := make([]wire.Status, len(sends[i].Items))
			for j := range st {
				st[j] = wire.Status_STATUS_STORED
			}
			writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_SendResult{SendResult: &wire.SendResult{
				MessageId: sends[i].MessageId, Statuses: st, Duplicate: sends[i].MessageId[0] == 2}}})
		}
		writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_Deliver{Deliver: &wire.Deliver{Deliveries: []*wire.Delivery{
			{Id: 1, Envelope: []byte("a"), ArrivedUnixMs: 5}, {Id: 2, Envelope: []byte("b"), ArrivedUnixMs: 5}}}}})
		writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: 77}}})
		for range 2 {
			f, err := readFrame(ctx, ws, 0)
			if err != nil {
				t.Errorf("fake relay: %v", err)
				return
			}
			switch {
			case f.GetPong() != nil:
				if f.GetPong().Nonce != 77 {
					t.Errorf("pong nonce %d", f.GetPong().Nonce)
				}
			case f.GetAck() != nil:
				if got := f.GetAck().Ids; len(got) != 2 || got[0] != 1 || got[1] != 2 {
					t.Errorf("ack %v", got)
				}
			default:
				t.Errorf("unexpected %T", f.Body)
			}
		}
		writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_Error{Error: &wire.Error{Code: wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN}}})
	})
	c, err := dial(t, url, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx := context.Background()
	rcpt := wire.FormatAddress("bob", 1)
	type res struct {
		dup bool
		err error
	}
	results := make(chan res, 2)
	for i := range 2 {
		go func() {
			st, dup, err := c.Send(ctx, [16]byte{byte(i + 1)}, []*wire.Item{{Recipient: rcpt, Envelope: []byte{1}}})
			if err == nil && (len(st) != 1 || st[0] != wire.Status_STATUS_STORED) {
				err = errors.New("bad statuses")
			}
			if err == nil && dup != (i == 1) {
				err = errors.New("duplicate flag not matched to its send")
			}
			results <- res{dup, err}
		}()
	}
	for range 2 {
		if r := <-results; r.err != nil {
			t.Fatal(r.err)
		}
	}
	var ids []uint64
	for d := range c.Deliveries() {
		ids = append(ids, d.Id)
		if len(ids) == 2 {
			break
		}
	}
	if err := c.Ack(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	var re *RemoteError
	if !errors.As(c.Err(), &re) || re.Code != wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN {
		t.Fatalf("Err = %v, want shutting_down", c.Err())
	}
	if _, _, err := c.Send(ctx, [16]byte{9}, []*wire.Item{{Recipient: rcpt, Envelope: []byte{1}}}); !errors.As(err, &re) {
		t.Fatalf("Send after end: %v", err)
	}
}

func TestDialRefused(t *testing.T) {
	url := fakeRelay(t, func(ctx context.Context, ws *websocket.Conn, token string) {
		writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_Error{Error: &wire.Error{Code: wire.ErrorCode_ERROR_CODE_INVALID_TOKEN}}})
	})
	_, err := dial(t, url, "bad")
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != wire.ErrorCode_ERROR_CODE_INVALID_TOKEN {
		t.Fatalf("Dial = %v, want invalid_token", err)
	}
}

func TestPendingSendFailsOnClose(t *testing.T) {
	url := fakeRelay(t, func(ctx context.Context, ws *websocket.Conn, token string) {
		writeFrame(ctx, ws, hello())
		readFrame(ctx, ws, 0) // the send, never answered
		ws.CloseNow()
	})
	c, err := dial(t, url, "tok")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Send(context.Background(), [16]byte{1}, []*wire.Item{{Recipient: wire.FormatAddress("bob", 1), Envelope: []byte{1}}})
	if err == nil {
		t.Fatal("Send answered by a relay that closed")
	}
	if _, ok := <-c.Deliveries(); ok {
		t.Fatal("Deliveries not closed")
	}
}

// SendEphemeral writes one SendEphemeral frame and waits for nothing;
// DeliverEphemeral envelopes come out of Ephemeral in order, and those
// beyond its buffer are dropped without stalling the connection
// (spec/relay.md §7.4).
func TestEphemeral(t *testing.T) {
	bob := wire.FormatAddress("bob", 1)
	url := fakeRelay(t, func(ctx context.Context, ws *websocket.Conn, token string) {
		writeFrame(ctx, ws, hello())
		f, err := readFrame(ctx, ws, 0)
		if err != nil {
			t.Errorf("fake relay: %v", err)
			return
		}
		items := f.GetSendEphemeral().GetItems()
		if len(items) != 2 || string(items[1].Envelope) != "b" {
			t.Errorf("fake relay: got %v", f)
		}
		envs := make([][]byte, EphemeralBuffer+10)
		for i := range envs {
			envs[i] = []byte{byte(i), byte(i >> 8)}
		}
		writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_DeliverEphemeral{DeliverEphemeral: &wire.DeliverEphemeral{Envelopes: envs}}})
		writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: 5}}})
		f, err = readFrame(ctx, ws, 0)
		if err != nil || f.GetPong().GetNonce() != 5 {
			t.Errorf("fake relay: want Pong 5, got %v, %v", f, err)
		}
		ws.Close(websocket.StatusNormalClosure, "")
	})
	c, err := dial(t, url, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A malformed frame is refused before anything is written (the fake
	// relay would see it first).
	if err := c.SendEphemeral(t.Context()); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("empty SendEphemeral: %v", err)
	}
	if err := c.SendEphemeral(t.Context(), &wire.Item{Recipient: bob, Envelope: []byte("a")}, &wire.Item{Recipient: bob, Envelope: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	<-c.Done() // the fake relay closes after the Pong: the buffer is full
	n := 0
	for e := range c.Ephemeral() {
		if int(e[0])|int(e[1])<<8 != n {
			t.Fatalf("envelope %d out of order: %x", n, e)
		}
		n++
	}
	if n != EphemeralBuffer {
		t.Fatalf("%d envelopes buffered, want %d", n, EphemeralBuffer)
	}
}
