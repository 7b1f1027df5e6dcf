package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// The load's device connections (lconn) are a lean client of the relay
// protocol, so that the tool's own CPU time, which shares the machine with
// the relay it measures, stays small: a WebSocket client of its own over
// the TLS connection (RFC 6455 framing, client frames masked), frames
// encoded and decoded by hand without allocations, and everything a
// connection has to send (Sends, Acks, Pongs) written together in one TLS
// write by one writer goroutine. The frames are the canonical encodings
// of spec/relay.md §3.1 (TestHandEncodingCanonical); the relay decodes
// them as strictly as any other. Connections for --idle still use
// relay/relayclient.

// wsGUID is the WebSocket accept key suffix (RFC 6455 §1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxWriteBatch bounds the bytes one writer batch encodes before it
// writes them.
const maxWriteBatch = 64 << 10

var (
	errProtocol  = errors.New("sealpost-bench: protocol violation by the relay")
	errMalformed = fmt.Errorf("%w: malformed frame", errProtocol)
)

// lconn is one authenticated device connection of the load.
type lconn struct {
	tc       *tls.Conn
	br       *bufio.Reader
	maxFrame int
	mask     [4]byte // advanced per frame (a counter: the relay only unmasks)

	wake chan struct{} // cap 1: the writer has something to do

	mu       sync.Mutex
	acks     []uint64 // delivered ids to ack
	wsPongs  [][]byte // WebSocket ping payloads to answer
	pongs    []uint64 // relay Ping nonces to answer
	answered int      // SendResults since the writer last looked
	err      error    // why the reader stopped
}

// dialLoad opens a TLS 1.3 connection to the relay, upgrades it to a
// WebSocket with the relay's subprotocol and authenticates with tok, or
// opens an anonymous connection if tok is "".
func dialLoad(ctx context.Context, rawURL string, tlsConf *tls.Config, tok string) (*lconn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "wss" {
		return nil, fmt.Errorf("sealpost-bench: url %q: want wss://", rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	cfg := tlsConf.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	cfg.NextProtos = []string{"http/1.1"}
	d := tls.Dialer{Config: cfg}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("sealpost-bench: dial: %w", err)
	}
	tc := nc.(*tls.Conn)
	if dl, ok := ctx.Deadline(); ok {
		tc.SetDeadline(dl)
	}
	c := &lconn{tc: tc, br: bufio.NewReaderSize(tc, 32<<10), wake: make(chan struct{}, 1)}
	rand.Read(c.mask[:])
	hello, err := c.handshake(u, tok)
	if err != nil {
		tc.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	c.maxFrame = int(hello.Limits.MaxFrame)
	return c, nil
}

// handshake upgrades to a WebSocket (RFC 6455 §4.1), sends Auth and reads
// Hello (spec/relay.md §2).
func (c *lconn) handshake(u *url.URL, tok string) (*wire.Hello, error) {
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	path := u.RequestURI()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + relayclient.Subprotocol + "\r\n\r\n"
	if _, err := io.WriteString(c.tc, req); err != nil {
		return nil, fmt.Errorf("sealpost-bench: upgrade: %w", err)
	}
	resp, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, fmt.Errorf("sealpost-bench: upgrade: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		if d, ok := wire.ParseHint(resp.Header.Get(wire.HeaderRetryAfter)); ok {
			return nil, fmt.Errorf("sealpost-bench: upgrade: %w", &relayclient.BusyError{RetryAfter: d})
		}
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.StatusCode != http.StatusSwitchingProtocols ||
		resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) ||
		resp.Header.Get("Sec-WebSocket-Protocol") != relayclient.Subprotocol {
		return nil, fmt.Errorf("sealpost-bench: upgrade refused: %s", resp.Status)
	}
	first := &wire.Frame{Body: &wire.Frame_Auth{Auth: &wire.Auth{Token: tok}}}
	if tok == "" {
		// An anonymous connection (spec/relay.md §15.1).
		first = &wire.Frame{Body: &wire.Frame_AuthAnonymous{AuthAnonymous: &wire.AuthAnonymous{}}}
	}
	auth, err := wire.Encode(first)
	if err != nil {
		return nil, fmt.Errorf("sealpost-bench: %w", err)
	}
	if _, err := c.tc.Write(c.appendWS(nil, opBinary, auth)); err != nil {
		return nil, fmt.Errorf("sealpost-bench: auth: %w", err)
	}
	var buf []byte
	for {
		op, p, err := c.readWS(buf[:0])
		if err != nil {
			return nil, err
		}
		buf = p
		if op != opBinary {
			continue // a WebSocket ping before Hello: not answered, harmless
		}
		f, err := wire.Decode(p, wire.DefaultMaxFrame)
		if err != nil {
			return nil, fmt.Errorf("sealpost-bench: %w", err)
		}
		switch b := f.Body.(type) {
		case *wire.Frame_Hello:
			return b.Hello, nil
		case *wire.Frame_Error:
			return nil, &relayclient.RemoteError{Code: b.Error.Code, Message: b.Error.Message}
		}
		return nil, fmt.Errorf("%w: first frame is %T", errProtocol, f.Body)
	}
}

// appendWS appends a masked client frame holding p (RFC 6455 §5.2, §5.3).
func (c *lconn) appendWS(b []byte, op byte, p []byte) []byte {
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	m := binary.LittleEndian.Uint32(c.mask[:]) + 0x9E3779B9
	binary.LittleEndian.PutUint32(c.mask[:], m)
	b = append(b, c.mask[:]...)
	start := len(b)
	b = append(b, p...)
	maskBytes(b[start:], m)
	return b
}

// maskBytes XORs p with the 4-byte mask key k (little-endian in k).
func maskBytes(p []byte, k uint32) {
	k8 := uint64(k) | uint64(k)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k8)
	}
	for j := 0; i < len(p); i, j = i+1, j+1 {
		p[i] ^= byte(k >> (8 * (j % 4)))
	}
}

// readWS reads one WebSocket message, appending its payload to buf; it
// reassembles fragments and returns control frames (ping, pong, close) as
// they come.
func (c *lconn) readWS(buf []byte) (byte, []byte, error) {
	var op byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return 0, buf, err
		}
		fin, fop := h[0]&0x80 != 0, h[0]&0x0F
		if h[1]&0x80 != 0 {
			return 0, buf, fmt.Errorf("%w: masked frame", errProtocol)
		}
		n := uint64(h[1] & 0x7F)
		switch n {
		case 126:
			var x [2]byte
			if _, err := io.ReadFull(c.br, x[:]); err != nil {
				return 0, buf, err
			}
			n = uint64(binary.BigEndian.Uint16(x[:]))
		case 127:
			var x [8]byte
			if _, err := io.ReadFull(c.br, x[:]); err != nil {
				return 0, buf, err
			}
			n = binary.BigEndian.Uint64(x[:])
		}
		if c.maxFrame > 0 && n > uint64(c.maxFrame) || n > wire.DefaultMaxFrame<<4 {
			return 0, buf, fmt.Errorf("%w: frame of %d bytes", errProtocol, n)
		}
		if fop >= 0x8 { // control frame: whole, between fragments
			p := make([]byte, n)
			if _, err := io.ReadFull(c.br, p); err != nil {
				return 0, buf, err
			}
			if fop == opClose {
				return opClose, buf, io.EOF
			}
			if fop == opPing {
				c.mu.Lock()
				c.wsPongs = append(c.wsPongs, p)
				c.mu.Unlock()
				c.poke()
			}
			continue
		}
		if fop != opContinuation {
			op = fop
		}
		start := len(buf)
		buf = append(buf, make([]byte, n)...)
		if _, err := io.ReadFull(c.br, buf[start:]); err != nil {
			return 0, buf, err
		}
		if fin {
			return op, buf, nil
		}
	}
}

// poke wakes the writer.
func (c *lconn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// failed records why the reader stopped and wakes the writer.
func (c *lconn) failed(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.poke()
}

// close closes the connection at once (no closing handshake).
func (c *lconn) close() { c.tc.Close() }

// Hand encoding of the client's frames, field by field in field-number
// order with minimal varints: the canonical encoding (spec/relay.md §3.1).

// appendSend appends Frame{Send{message_id, items, send_token}}; an empty
// sendToken is absent.
func appendSend(b []byte, id *[wire.MessageIDSize]byte, rcpts, envs [][]byte, sendToken []byte) []byte {
	items := 0
	for i := range rcpts {
		n := itemLen(rcpts[i], envs[i])
		items += 1 + protowire.SizeVarint(uint64(n)) + n
	}
	send := 1 + 1 + wire.MessageIDSize + items
	if len(sendToken) > 0 {
		send += 1 + protowire.SizeBytes(len(sendToken))
	}
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(send))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, id[:])
	for i := range rcpts {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(itemLen(rcpts[i], envs[i])))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, rcpts[i])
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, envs[i])
	}
	if len(sendToken) > 0 {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, sendToken)
	}
	return b
}

// appendSharedSend appends Frame{Send{message_id, items, send_token,
// shared_body}}: items with recipients only (spec/relay.md §16.1).
func appendSharedSend(b []byte, id *[wire.MessageIDSize]byte, rcpts [][]byte, body, sendToken []byte) []byte {
	items := 0
	for _, r := range rcpts {
		n := 1 + protowire.SizeBytes(len(r))
		items += 1 + protowire.SizeVarint(uint64(n)) + n
	}
	send := 1 + 1 + wire.MessageIDSize + items + 1 + protowire.SizeBytes(len(body))
	if len(sendToken) > 0 {
		send += 1 + protowire.SizeBytes(len(sendToken))
	}
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(send))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, id[:])
	for _, r := range rcpts {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(1+protowire.SizeBytes(len(r))))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, r)
	}
	if len(sendToken) > 0 {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, sendToken)
	}
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	return protowire.AppendBytes(b, body)
}

func itemLen(rcpt, env []byte) int {
	return 1 + protowire.SizeBytes(len(rcpt)) + 1 + protowire.SizeBytes(len(env))
}

// appendReplies appends to out the connection's answers to what it read:
// WebSocket pongs, relay Pongs and Acks of the delivered ids (as few Ack
// frames as wire.MaxAckIDs allows). frame is scratch space for the relay
// frames; both are returned for reuse.
func (c *lconn) appendReplies(out, frame []byte, wsPongs [][]byte, pongs, acks []uint64) ([]byte, []byte) {
	for _, p := range wsPongs {
		out = c.appendWS(out, opPong, p)
	}
	for _, nonce := range pongs {
		frame = appendPong(frame[:0], nonce)
		out = c.appendWS(out, opBinary, frame)
	}
	for len(acks) > 0 {
		n := min(len(acks), wire.MaxAckIDs)
		frame = appendAck(frame[:0], acks[:n])
		out = c.appendWS(out, opBinary, frame)
		acks = acks[n:]
	}
	return out, frame
}

// appendAck appends Frame{Ack{ids}} (ids packed; at most wire.MaxAckIDs).
func appendAck(b []byte, ids []uint64) []byte {
	n := 0
	for _, id := range ids {
		n += protowire.SizeVarint(id)
	}
	ack := 1 + protowire.SizeVarint(uint64(n)) + n
	b = protowire.AppendTag(b, 6, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(ack))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	for _, id := range ids {
		b = protowire.AppendVarint(b, id)
	}
	return b
}

// appendPong appends Frame{Pong{nonce}}.
func appendPong(b []byte, nonce uint64) []byte {
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	if nonce == 0 {
		return protowire.AppendVarint(b, 0)
	}
	b = protowire.AppendVarint(b, uint64(1+protowire.SizeVarint(nonce)))
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	return protowire.AppendVarint(b, nonce)
}

// relayFrame is what the reader needs of a frame from the relay, decoded
// by hand without allocations (envelopes alias the frame's bytes).
type relayFrame struct {
	kind      int // the Frame field number: 4 SendResult, 5 Deliver, 7 Ping, 8 Pong, 9 Error
	statuses  []wire.Status
	duplicate bool
	ids       []uint64
	envs      [][]byte
	nonce     uint64
	code      wire.ErrorCode
}

// parseRelayFrame decodes b into f, reusing f's slices. It checks what
// the load relies on, not every rule of spec/relay.md §3.3.
func parseRelayFrame(b []byte, f *relayFrame) error {
	f.statuses, f.ids, f.envs = f.statuses[:0], f.ids[:0], f.envs[:0]
	f.duplicate, f.nonce, f.code = false, 0, 0
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || typ != protowire.BytesType {
		return fmt.Errorf("%w: not a Frame", errProtocol)
	}
	body, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return fmt.Errorf("%w: not a Frame", errProtocol)
	}
	f.kind = int(num)
	bad := errMalformed
	switch num {
	case 4: // SendResult
		return eachField(body, bad, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) bool {
			switch {
			case num == 2 && typ == protowire.BytesType:
				for len(p) > 0 {
					s, k := protowire.ConsumeVarint(p)
					if k < 0 {
						return false
					}
					f.statuses = append(f.statuses, wire.Status(s))
					p = p[k:]
				}
			case num == 3 && typ == protowire.VarintType:
				f.duplicate = v != 0
			}
			return num >= 1 && num <= 3
		})
	case 5: // Deliver
		return eachField(body, bad, func(num protowire.Number, typ protowire.Type, _ uint64, p []byte) bool {
			if num != 1 || typ != protowire.BytesType {
				return false
			}
			var id uint64
			var env []byte
			ok := eachField(p, bad, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) bool {
				switch {
				case num == 1 && typ == protowire.VarintType:
					id = v
				case num == 2 && typ == protowire.BytesType:
					env = p
				case num == 3 && typ == protowire.VarintType:
				default:
					return false
				}
				return true
			}) == nil
			if !ok || id == 0 {
				return false
			}
			f.ids = append(f.ids, id)
			f.envs = append(f.envs, env)
			return true
		})
	case 7, 8: // Ping, Pong
		return eachField(body, bad, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) bool {
			f.nonce = v
			return num == 1 && typ == protowire.VarintType
		})
	case 9: // Error
		return eachField(body, bad, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) bool {
			if num == 1 && typ == protowire.VarintType {
				f.code = wire.ErrorCode(v)
			}
			return num == 1 || num == 2
		})
	}
	return fmt.Errorf("%w: frame %d after Hello", errProtocol, num)
}

// eachField calls fn for every field of the message b (varint value or
// bytes); fn returns false for a field it refuses.
func eachField(b []byte, bad error, fn func(protowire.Number, protowire.Type, uint64, []byte) bool) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return bad
		}
		b = b[n:]
		var v uint64
		var p []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			p, n = protowire.ConsumeBytes(b)
		default:
			return bad
		}
		if n < 0 || !fn(num, typ, v, p) {
			return bad
		}
		b = b[n:]
	}
	return nil
}
