// Package relayclient is a small client of the relay protocol
// (spec/relay.md): it dials the relay over a TLS 1.3 WebSocket,
// authenticates with an access token, pipelines sends matched to their
// answers by message id, hands over deliveries, acks them and answers the
// relay's pings; it sends and receives ephemeral envelopes (spec/relay.md
// §7.4) too, and opens anonymous connections whose sends are paid with
// send tokens (DialAnonymous, SendAnonymous; spec/relay.md §15). It
// registers a push target and drains the mailbox (SetPush, Drain;
// spec/push.md §2, §8) and checks liveness end to end (PingPong). The
// load tool (cmd/sealpost-bench), the crash tests and the client's relay
// link use it; it is not the client library.
package relayclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/relay/wire"
)

// Protocol constants, spec/relay.md §5.2.
const (
	Subprotocol = "sealpost.relay.v1"
	Path        = "/v1/relay"
)

// maxDeliveryBuffer bounds the deliveries channel whatever window the relay
// announces.
const maxDeliveryBuffer = 4096

// EphemeralBuffer is the capacity of the Ephemeral channel: ephemeral
// envelopes that arrive while it is full are dropped (spec/relay.md §7.4).
const EphemeralBuffer = 256

// Errors.
var (
	// ErrClosed reports a call on a closed connection, or a send whose
	// connection closed before its answer came.
	ErrClosed = errors.New("relayclient: connection closed")
	// ErrProtocol reports a frame the relay may not send (spec/relay.md
	// §2.2), or an answer to no pending send.
	ErrProtocol = errors.New("relayclient: protocol violation by the relay")
)

// RemoteError is an Error frame received from the relay.
type RemoteError struct {
	Code    wire.ErrorCode
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("relayclient: relay error %s: %q", e.Code, e.Message)
}

// BusyError reports an upgrade the relay refused with HTTP 503 and a retry
// hint (spec/relay.md §2.5): it is admitting connections at its reconnect
// rate, or stopping. The client waits RetryAfter before its next attempt.
type BusyError struct {
	RetryAfter time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("relayclient: relay busy, retry after %v", e.RetryAfter)
}

// busyHint returns the retry hint of a refused upgrade, if resp is a 503
// that carries one: Sealpost-Retry-After in milliseconds, else the standard
// Retry-After in seconds (spec/relay.md §2.5).
func busyHint(resp *http.Response) (time.Duration, bool) {
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	if d, ok := wire.ParseHint(resp.Header.Get(wire.HeaderRetryAfter)); ok {
		return d, true
	}
	if s, ok := wire.ParseHint(resp.Header.Get("Retry-After")); ok {
		return min(s/time.Millisecond*time.Second, wire.MaxHint), true
	}
	return 0, false
}

// Conn is one authenticated connection. Its methods are safe for
// concurrent use.
type Conn struct {
	ws       *websocket.Conn
	hello    *wire.Hello
	window   time.Duration // the relay's reconnect window, 0 if none
	maxFrame int
	idle     time.Duration

	deliveries chan *wire.Delivery
	ephemeral  chan []byte   // bounded; full: dropped
	done       chan struct{} // closed when the reader stops

	// delivered counts the deliveries the reader has put on deliveries;
	// written by the reader only.
	delivered atomic.Uint64
	nonce     atomic.Uint64 // the last nonce PingPong used

	mu      sync.Mutex
	pending map[[wire.MessageIDSize]byte]chan *wire.SendResult
	access  []chan struct{}        // SetAccess frames written and not yet answered, in order (capacity 1 each)
	push    []chan wire.PushStatus // SetPush frames likewise (spec/push.md §2)
	drains  []chan uint64          // Drain frames likewise (spec/push.md §8)
	links   []chan *wire.LinkOffer // LinkFetch frames likewise (spec/relay.md §17.4)
	closes  []chan struct{}        // LinkClose frames likewise (spec/relay.md §17.5)
	pongs   map[uint64]chan struct{}
	err     error // why the connection ended; set before done closes

	// accessMu orders SetAccess frames as their waiters in access;
	// pushMu and drainMu do the same for SetPush and Drain.
	accessMu, pushMu, drainMu, linkMu, closeMu sync.Mutex
}

// Dial connects to url (wss://HOST/v1/relay) with tlsConfig, authenticates
// with token (its text form) and returns the connection and the relay's
// Hello. A relay that refuses the token answers an Error, returned as a
// *RemoteError.
func Dial(ctx context.Context, url string, tlsConfig *tls.Config, token string) (*Conn, *wire.Hello, error) {
	return DialVia(ctx, url, tlsConfig, token, nil)
}

// DialFunc opens the network connection under a relay connection, for
// example through a SOCKS5 proxy (golang.org/x/net/proxy); nil means a
// direct TCP connection.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// DialVia is Dial over connections that dial opens.
func DialVia(ctx context.Context, url string, tlsConfig *tls.Config, token string, dial DialFunc) (*Conn, *wire.Hello, error) {
	return dialWith(ctx, url, tlsConfig, dial, &wire.Frame{Body: &wire.Frame_Auth{Auth: &wire.Auth{Token: token}}})
}

// DialAnonymous opens an anonymous connection (spec/relay.md §15): it
// sends AuthAnonymous instead of an access token, so the relay learns no
// account or device. On it only SendAnonymous, Ping and Close make sense;
// nothing is delivered to it. Open it independently of the authenticated
// connection (spec/relay.md §15.7).
func DialAnonymous(ctx context.Context, url string, tlsConfig *tls.Config) (*Conn, *wire.Hello, error) {
	return DialAnonymousVia(ctx, url, tlsConfig, nil)
}

// DialAnonymousVia is DialAnonymous over a connection that dial opens.
func DialAnonymousVia(ctx context.Context, url string, tlsConfig *tls.Config, dial DialFunc) (*Conn, *wire.Hello, error) {
	return dialWith(ctx, url, tlsConfig, dial, &wire.Frame{Body: &wire.Frame_AuthAnonymous{AuthAnonymous: &wire.AuthAnonymous{}}})
}

func dialWith(ctx context.Context, url string, tlsConfig *tls.Config, dial DialFunc, auth *wire.Frame) (*Conn, *wire.Hello, error) {
	ws, resp, err := dialWebSocket(ctx, url, tlsConfig, dial)
	if err != nil {
		if d, ok := busyHint(resp); ok {
			return nil, nil, fmt.Errorf("relayclient: dial: %w", &BusyError{RetryAfter: d})
		}
		return nil, nil, fmt.Errorf("relayclient: dial: %w", err)
	}
	window, _ := wire.ParseHint(resp.Header.Get(wire.HeaderReconnectWindow))
	if ws.Subprotocol() != Subprotocol {
		ws.CloseNow()
		return nil, nil, fmt.Errorf("relayclient: relay chose subprotocol %q", ws.Subprotocol())
	}
	ws.SetReadLimit(wire.DefaultMaxFrame)
	if err := writeFrame(ctx, ws, auth); err != nil {
		ws.CloseNow()
		return nil, nil, err
	}
	f, err := readFrame(ctx, ws, wire.DefaultMaxFrame)
	if err != nil {
		ws.CloseNow()
		return nil, nil, err
	}
	var hello *wire.Hello
	switch b := f.Body.(type) {
	case *wire.Frame_Hello:
		hello = b.Hello
	case *wire.Frame_Error:
		ws.Close(websocket.StatusNormalClosure, "")
		return nil, nil, &RemoteError{Code: b.Error.Code, Message: b.Error.Message}
	default:
		ws.CloseNow()
		return nil, nil, fmt.Errorf("%w: first frame is %T", ErrProtocol, f.Body)
	}
	lim := hello.Limits
	c := &Conn{
		ws:         ws,
		hello:      hello,
		window:     window,
		maxFrame:   int(lim.MaxFrame),
		idle:       time.Duration(hello.IdleTimeoutMs) * time.Millisecond,
		deliveries: make(chan *wire.Delivery, min(max(int(lim.DeliveryWindow), 1), maxDeliveryBuffer)),
		ephemeral:  make(chan []byte, EphemeralBuffer),
		done:       make(chan struct{}),
		pending:    make(map[[wire.MessageIDSize]byte]chan *wire.SendResult),
		pongs:      make(map[uint64]chan struct{}),
	}
	ws.SetReadLimit(int64(c.maxFrame))
	go c.read()
	return c, hello, nil
}

// Hello returns the relay's Hello.
func (c *Conn) Hello() *wire.Hello { return c.hello }

// ReconnectWindow returns the window the relay announced on the upgrade
// for spreading reconnects after this connection ends (spec/relay.md
// §2.5), or 0 if it announced none (a relay predating the hint).
func (c *Conn) ReconnectWindow() time.Duration { return c.window }

// Deliveries returns the channel of envelopes the relay pushes, in the
// order it pushes them. It is closed when the connection ends. Its buffer
// holds the relay's delivery window, so a consumer that acks what it takes
// never stalls the connection.
func (c *Conn) Deliveries() <-chan *wire.Delivery { return c.deliveries }

// Ephemeral returns the channel of ephemeral envelopes the relay pushes
// (spec/relay.md §7.4), in the order it pushes them. It holds at most
// EphemeralBuffer; envelopes arriving while it is full are dropped, so a
// slow consumer never stalls the connection. It is closed when the
// connection ends.
func (c *Conn) Ephemeral() <-chan []byte { return c.ephemeral }

// Done is closed when the connection has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (a *RemoteError if the relay sent
// an Error, ErrClosed after Close), or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Send sends items under messageID and waits for the relay's answer: one
// status per item, and whether it was a duplicate of an earlier send.
// Several Sends may be in flight at once. If ctx ends or the connection
// closes first, the send may or may not have been stored: retry it under
// the same messageID.
func (c *Conn) Send(ctx context.Context, messageID [wire.MessageIDSize]byte, items []*wire.Item) ([]wire.Status, bool, error) {
	r, err := c.SendResult(ctx, messageID, items)
	if err != nil {
		return nil, false, err
	}
	return r.Statuses, r.Duplicate, nil
}

// SendResult is Send returning the relay's whole answer, with its
// retry_after_ms for items answered quota (spec/relay.md §6.1).
func (c *Conn) SendResult(ctx context.Context, messageID [wire.MessageIDSize]byte, items []*wire.Item) (*wire.SendResult, error) {
	return c.send(ctx, &wire.Send{MessageId: messageID[:], Items: items})
}

// SendAnonymous sends items on an anonymous connection (DialAnonymous),
// paid with sendToken, one unspent send token (spec/anonymous.md §5.5,
// spec/relay.md §15.2), and waits for the relay's answer. A retry of the
// same send must carry the same token (and message id): the relay answers
// it with the first answer, duplicate. A refused token ends the
// connection with a *RemoteError (send_token_invalid, send_token_stale).
// An item to a device that gave this account its access key K carries it
// in Item.AccessKey (32 bytes, spec/relay.md §15.8); an item without a
// valid key to a device in mode contacts is stored only within that
// device's first-contact allowance, else answered STATUS_ACCESS_DENIED.
func (c *Conn) SendAnonymous(ctx context.Context, messageID [wire.MessageIDSize]byte, sendToken []byte, items []*wire.Item) (*wire.SendResult, error) {
	return c.send(ctx, &wire.Send{MessageId: messageID[:], Items: items, SendToken: sendToken})
}

func (c *Conn) send(ctx context.Context, m *wire.Send) (*wire.SendResult, error) {
	messageID := [wire.MessageIDSize]byte(m.MessageId)
	ch := make(chan *wire.SendResult, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	if _, dup := c.pending[messageID]; dup {
		c.mu.Unlock()
		return nil, errors.New("relayclient: a send with this message id is already in flight")
	}
	c.pending[messageID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, messageID)
		c.mu.Unlock()
	}()
	f := &wire.Frame{Body: &wire.Frame_Send{Send: m}}
	if err := c.write(ctx, f); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-c.done:
		// The answer may have come just before the end.
		select {
		case r := <-ch:
			return r, nil
		default:
		}
		return nil, c.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SetAccess sets who may send anonymous envelopes to this connection's
// device (spec/relay.md §15.8) and waits until the relay has stored it:
// mode wire.AccessMode_ACCESS_MODE_OPEN (verifier nil, previousValid 0)
// or wire.AccessMode_ACCESS_MODE_CONTACTS with verifier =
// wire.AccessVerifier(K) of the device's access key K. previousValid > 0
// keeps the previous verifier valid that long (whole seconds, at most
// wire.MaxPreviousValid seconds; a rotation); 0 drops it at once (a
// block). On an authenticated connection only: an anonymous one is
// closed with unexpected_frame.
func (c *Conn) SetAccess(ctx context.Context, mode wire.AccessMode, verifier []byte, previousValid time.Duration) error {
	if previousValid < 0 || previousValid > wire.MaxPreviousValid*time.Second {
		return fmt.Errorf("relayclient: previous verifier validity %v not in [0, %ds]", previousValid, wire.MaxPreviousValid)
	}
	f := &wire.Frame{Body: &wire.Frame_SetAccess{SetAccess: &wire.SetAccess{
		Mode: mode, Verifier: verifier, PreviousValidSeconds: uint32(previousValid / time.Second)}}}
	if err := wire.Check(f); err != nil {
		return err
	}
	_, err := request(ctx, c, &c.accessMu, &c.access, f)
	return err
}

// request writes f, an authenticated connection's request that the relay
// answers in order (SetAccess, SetPush, Drain), and waits for its answer:
// lock orders the frames as their waiters in *queue (guarded by c.mu),
// and the reader hands each answer to the first waiter.
func request[T any](ctx context.Context, c *Conn, lock *sync.Mutex, queue *[]chan T, f *wire.Frame) (T, error) {
	var zero T
	ch := make(chan T, 1)
	lock.Lock()
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		lock.Unlock()
		return zero, err
	}
	*queue = append(*queue, ch)
	c.mu.Unlock()
	err := c.write(ctx, f)
	if err != nil {
		// Not written (or not whole): no answer will come for it, and
		// the connection may be broken; drop the waiter.
		c.mu.Lock()
		if i := slices.Index(*queue, ch); i >= 0 {
			*queue = slices.Delete(*queue, i, i+1)
		}
		c.mu.Unlock()
	}
	lock.Unlock()
	if err != nil {
		return zero, err
	}
	select {
	case v := <-ch:
		return v, nil
	case <-c.done:
		select {
		case v := <-ch:
			return v, nil
		default:
		}
		return zero, c.Err()
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// answer hands v to the first waiter of queue (guarded by c.mu), or
// reports an answer to no request.
func answer[T any](c *Conn, queue *[]chan T, v T, what string) error {
	c.mu.Lock()
	if len(*queue) == 0 {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s answers no request", ErrProtocol, what)
	}
	ch := (*queue)[0]
	*queue = (*queue)[1:]
	c.mu.Unlock()
	ch <- v
	return nil
}

// SetPush registers, replaces (kind web push or gateway) or removes (kind
// none) this device's push target at the relay (spec/push.md §2) and
// returns the relay's answer: wire.PushStatus_PUSH_STATUS_OK once it is
// stored durably (or removed), else why the relay stored nothing. A
// target that breaks the frame rules (relay/wire/push.go) fails at once
// with an error wrapping wire.ErrMalformed, and nothing is sent. Answers
// come in the order of the SetPush frames. On an authenticated connection
// only.
func (c *Conn) SetPush(ctx context.Context, p *wire.SetPush) (wire.PushStatus, error) {
	f := &wire.Frame{Body: &wire.Frame_SetPush{SetPush: p}}
	if err := wire.Check(f); err != nil {
		return wire.PushStatus_PUSH_STATUS_UNSPECIFIED, err
	}
	return request(ctx, c, &c.pushMu, &c.push, f)
}

// Drain asks the relay to deliver, on this connection, every envelope its
// mailbox holds now, and returns when the relay says it has (Drained,
// spec/push.md §8): every Delivery before it is then on Deliveries (or
// was taken from it). Acks remain the caller's job. On an authenticated
// connection only.
func (c *Conn) Drain(ctx context.Context) error {
	_, err := c.DrainCount(ctx)
	return err
}

// DrainCount is Drain returning how many deliveries this connection had
// put on Deliveries, counting from its start, when Drained arrived: the
// caller has seen every envelope the Drain asked for once it has taken
// that many.
func (c *Conn) DrainCount(ctx context.Context) (uint64, error) {
	return request(ctx, c, &c.drainMu, &c.drains, &wire.Frame{Body: &wire.Frame_Drain{Drain: &wire.Drain{}}})
}

// Ack acknowledges delivered envelopes by id, at most wire.MaxAckIDs per
// frame (more are split).
func (c *Conn) Ack(ctx context.Context, ids ...uint64) error {
	for len(ids) > 0 {
		n := min(len(ids), wire.MaxAckIDs)
		if err := c.write(ctx, &wire.Frame{Body: &wire.Frame_Ack{Ack: &wire.Ack{Ids: ids[:n]}}}); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// SendEphemeral sends items in one SendEphemeral frame (spec/relay.md
// §7.4): the relay pushes each to its recipient if that device is
// connected now and drops it otherwise. Nothing is answered, stored or
// retried: a nil error means only that the frame was written. Envelopes
// over the Hello's max_ephemeral_envelope, and items beyond its
// ephemeral rate, are dropped by the relay.
func (c *Conn) SendEphemeral(ctx context.Context, items ...*wire.Item) error {
	return c.write(ctx, &wire.Frame{Body: &wire.Frame_SendEphemeral{SendEphemeral: &wire.SendEphemeral{Items: items}}})
}

// Ping sends a Ping; the relay's Pong is not reported.
func (c *Conn) Ping(ctx context.Context, nonce uint64) error {
	return c.write(ctx, &wire.Frame{Body: &wire.Frame_Ping{Ping: &wire.Ping{Nonce: nonce}}})
}

// PingPong sends a Ping under a nonce of its own and waits for the
// relay's Pong to it: the connection is alive end to end. ctx bounds the
// wait (a pong timeout); its error then. Nonces of PingPong have the top
// bit set, so that they never answer a Ping sent with Ping and a small
// nonce.
func (c *Conn) PingPong(ctx context.Context) error {
	nonce := c.nonce.Add(1) | 1<<63
	ch := make(chan struct{})
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.pongs[nonce] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pongs, nonce)
		c.mu.Unlock()
	}()
	if err := c.Ping(ctx, nonce); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes the connection with a normal closure; pending sends fail
// with ErrClosed.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	err := c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
	return err
}

// CloseNow closes the TCP connection without a closing handshake, as a
// crashed client would.
func (c *Conn) CloseNow() error {
	c.fail(ErrClosed)
	err := c.ws.CloseNow()
	<-c.done
	return err
}

// fail records why the connection ended, if not yet recorded.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *Conn) write(ctx context.Context, f *wire.Frame) error {
	if err := c.Err(); err != nil {
		return err
	}
	b, err := wire.Encode(f)
	if err != nil {
		return fmt.Errorf("relayclient: %w", err)
	}
	if len(b) > c.maxFrame {
		return fmt.Errorf("relayclient: frame of %d bytes over the relay's max_frame %d", len(b), c.maxFrame)
	}
	if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		if e := c.Err(); e != nil {
			return e
		}
		return fmt.Errorf("relayclient: write: %w", err)
	}
	return nil
}

// read runs until the connection ends, dispatching every frame.
func (c *Conn) read() {
	defer close(c.done)
	defer close(c.deliveries)
	defer close(c.ephemeral)
	for {
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if c.idle > 0 {
			ctx, cancel = context.WithTimeout(ctx, c.idle)
		}
		f, err := readFrame(ctx, c.ws, c.maxFrame)
		cancel()
		if err != nil {
			c.fail(err)
			c.ws.CloseNow()
			return
		}
		if err := c.handle(f); err != nil {
			c.fail(err)
			c.ws.CloseNow()
			return
		}
	}
}

func (c *Conn) handle(f *wire.Frame) error {
	switch b := f.Body.(type) {
	case *wire.Frame_SendResult:
		id := [wire.MessageIDSize]byte(b.SendResult.MessageId)
		c.mu.Lock()
		ch, ok := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ok {
			ch <- b.SendResult
		}
		// An answer to a send whose caller gave up is dropped.
		return nil
	case *wire.Frame_AccessSet:
		// Answers come in the order of the SetAccess frames
		// (spec/relay.md §15.8).
		return answer(c, &c.access, struct{}{}, "AccessSet")
	case *wire.Frame_PushSet:
		// In the order of the SetPush frames (spec/push.md §2).
		return answer(c, &c.push, b.PushSet.Status, "PushSet")
	case *wire.Frame_Drained:
		// In the order of the Drain frames, after the deliveries they
		// asked for (spec/push.md §8): those are on c.deliveries now.
		return answer(c, &c.drains, c.delivered.Load(), "Drained")
	case *wire.Frame_LinkOffer:
		// In the order of the LinkFetch frames (spec/relay.md §17.4).
		return answer(c, &c.links, b.LinkOffer, "LinkOffer")
	case *wire.Frame_LinkClosed:
		// The relay closes the connection next: that close is the one
		// Close asked for, not a failure (spec/relay.md §17.5).
		c.fail(ErrClosed)
		return answer(c, &c.closes, struct{}{}, "LinkClosed")
	case *wire.Frame_Deliver:
		for _, d := range b.Deliver.Deliveries {
			c.deliveries <- d
			c.delivered.Add(1)
		}
		return nil
	case *wire.Frame_DeliverEphemeral:
		for _, e := range b.DeliverEphemeral.Envelopes {
			select {
			case c.ephemeral <- e:
			default: // full: dropped (spec/relay.md §7.4)
			}
		}
		return nil
	case *wire.Frame_Ping:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return c.write(ctx, &wire.Frame{Body: &wire.Frame_Pong{Pong: &wire.Pong{Nonce: b.Ping.Nonce}}})
	case *wire.Frame_Pong:
		// A Pong that answers no PingPong is ignored (spec/relay.md §9).
		c.mu.Lock()
		if ch, ok := c.pongs[b.Pong.Nonce]; ok {
			close(ch)
			delete(c.pongs, b.Pong.Nonce)
		}
		c.mu.Unlock()
		return nil
	case *wire.Frame_Error:
		return &RemoteError{Code: b.Error.Code, Message: b.Error.Message}
	}
	return fmt.Errorf("%w: %T after Hello", ErrProtocol, f.Body)
}

func writeFrame(ctx context.Context, ws *websocket.Conn, f *wire.Frame) error {
	b, err := wire.Encode(f)
	if err != nil {
		return fmt.Errorf("relayclient: %w", err)
	}
	if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		return fmt.Errorf("relayclient: write: %w", err)
	}
	return nil
}

func readFrame(ctx context.Context, ws *websocket.Conn, maxFrame int) (*wire.Frame, error) {
	typ, b, err := ws.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("relayclient: read: %w", err)
	}
	if typ != websocket.MessageBinary {
		return nil, fmt.Errorf("%w: text message", ErrProtocol)
	}
	f, err := wire.Decode(b, maxFrame)
	if err != nil {
		return nil, fmt.Errorf("relayclient: %w", err)
	}
	return f, nil
}
