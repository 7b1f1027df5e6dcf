package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// A lean MQTT 3.1.1 client (OASIS Standard, 29 October 2014), written by
// hand as lconn.go is, for --mqtt: the comparison of the relay with an
// MQTT broker (bench/compare.sh) loads both with the same tool, the same
// message size, in-flight window and latency measure. It speaks what the
// comparison needs and no more: CONNECT with a fixed client id and
// clean-session 0 (the broker keeps the session and its QoS 1 messages
// across disconnections, MQTT 3.1.1 §3.1.2.4), SUBSCRIBE at QoS 1,
// PUBLISH at QoS 1 with PUBACK both ways (§4.3.2), PINGREQ for the keep
// alive (§3.1.2.10) and DISCONNECT.
//
// Packet flow of one connection:
//
//	client                      broker
//	CONNECT        ------->
//	               <-------     CONNACK
//	SUBSCRIBE      ------->                (subscribers)
//	               <-------     SUBACK
//	PUBLISH QoS 1  ------->                (publishers)
//	               <-------     PUBACK
//	               <-------     PUBLISH QoS 1 (subscribers)
//	PUBACK         ------->
//	PINGREQ        ------->
//	               <-------     PINGRESP
//
// As in lconn, one reader goroutine takes the broker's packets and one
// writer goroutine writes everything that is ready (PUBLISHes, PUBACKs,
// PINGREQ) in one write.

// MQTT control packet types (MQTT 3.1.1 §2.2.1).
const (
	mqttConnect    = 1
	mqttConnack    = 2
	mqttPublish    = 3
	mqttPuback     = 4
	mqttSubscribe  = 8
	mqttSuback     = 9
	mqttPingreq    = 12
	mqttPingresp   = 13
	mqttDisconnect = 14
)

// mqttMaxRemaining is the largest Remaining Length (MQTT 3.1.1 §2.2.3).
const mqttMaxRemaining = 268_435_455

// mqttKeepAlive is the keep alive the client asks for (§3.1.2.10); the
// writer sends a PINGREQ every mqttKeepAlive/3 (mqttload.go).
const mqttKeepAlive = 60 * time.Second

var errMQTT = errors.New("sealpost-bench: MQTT protocol violation by the broker")

// appendRemainingLength appends n as MQTT's variable length integer
// (§2.2.3): 7 bits a byte, least significant first, the top bit set on
// every byte but the last.
func appendRemainingLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// appendMQTTString appends a UTF-8 encoded string: a 2-byte big-endian
// length, then its bytes (§1.5.3).
func appendMQTTString(b []byte, s []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendConnect appends a CONNECT packet (§3.1): protocol name "MQTT",
// level 4, no will, user name or password, clean session as asked.
func appendConnect(b []byte, clientID string, clean bool, keepAlive uint16) []byte {
	b = append(b, mqttConnect<<4)
	b = appendRemainingLength(b, 10+2+len(clientID))
	b = appendMQTTString(b, []byte("MQTT"))
	var flags byte
	if clean {
		flags |= 0x02 // §3.1.2.4
	}
	b = append(b, 4, flags) // protocol level 4: MQTT 3.1.1 (§3.1.2.2)
	b = binary.BigEndian.AppendUint16(b, keepAlive)
	return appendMQTTString(b, []byte(clientID))
}

// appendSubscribe appends a SUBSCRIBE packet for one topic filter at qos
// (§3.8): its fixed header flags are 0010 (§3.8.1).
func appendSubscribe(b []byte, id uint16, filter string, qos byte) []byte {
	b = append(b, mqttSubscribe<<4|0x02)
	b = appendRemainingLength(b, 2+2+len(filter)+1)
	b = binary.BigEndian.AppendUint16(b, id)
	b = appendMQTTString(b, []byte(filter))
	return append(b, qos)
}

// appendPublish appends a PUBLISH packet at QoS 1, not a duplicate, not
// retained (§3.3): topic name, packet identifier, payload.
func appendPublish(b []byte, topic []byte, id uint16, payload []byte) []byte {
	b = append(b, mqttPublish<<4|1<<1)
	b = appendRemainingLength(b, 2+len(topic)+2+len(payload))
	b = appendMQTTString(b, topic)
	b = binary.BigEndian.AppendUint16(b, id)
	return append(b, payload...)
}

// appendPuback appends a PUBACK packet for the QoS 1 PUBLISH id (§3.4).
func appendPuback(b []byte, id uint16) []byte {
	return append(b, mqttPuback<<4, 2, byte(id>>8), byte(id))
}

// appendPingreq appends a PINGREQ packet (§3.12).
func appendPingreq(b []byte) []byte { return append(b, mqttPingreq<<4, 0) }

// appendDisconnect appends a DISCONNECT packet (§3.14).
func appendDisconnect(b []byte) []byte { return append(b, mqttDisconnect<<4, 0) }

// readMQTT reads one control packet from br: it returns the fixed
// header's first byte (type and flags) and the rest of the packet
// appended to buf. Packets longer than max are refused.
func readMQTT(br *bufio.Reader, buf []byte, max int) (byte, []byte, error) {
	h, err := br.ReadByte()
	if err != nil {
		return 0, buf, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return 0, buf, fmt.Errorf("%w: Remaining Length longer than 4 bytes", errMQTT)
		}
		d, err := br.ReadByte()
		if err != nil {
			return 0, buf, err
		}
		n += int(d&0x7F) * mult
		if d&0x80 == 0 {
			break
		}
		mult *= 128
	}
	if n > max {
		return 0, buf, fmt.Errorf("%w: packet of %d bytes", errMQTT, n)
	}
	start := len(buf)
	buf = append(buf, make([]byte, n)...)
	if _, err := io.ReadFull(br, buf[start:]); err != nil {
		return 0, buf, err
	}
	return h, buf, nil
}

// parsePublish splits the rest of a PUBLISH packet whose fixed header's
// flags are flags (§3.3.1): topic name, packet identifier (0 at QoS 0)
// and payload.
func parsePublish(flags byte, b []byte) (topic []byte, id uint16, payload []byte, err error) {
	qos := flags >> 1 & 3
	if qos == 3 {
		return nil, 0, nil, fmt.Errorf("%w: PUBLISH with QoS 3", errMQTT)
	}
	if len(b) < 2 {
		return nil, 0, nil, fmt.Errorf("%w: short PUBLISH", errMQTT)
	}
	tl := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+tl {
		return nil, 0, nil, fmt.Errorf("%w: short PUBLISH", errMQTT)
	}
	topic, b = b[2:2+tl], b[2+tl:]
	if qos > 0 {
		if len(b) < 2 {
			return nil, 0, nil, fmt.Errorf("%w: short PUBLISH", errMQTT)
		}
		id, b = binary.BigEndian.Uint16(b), b[2:]
		if id == 0 {
			return nil, 0, nil, fmt.Errorf("%w: PUBLISH with packet identifier 0", errMQTT)
		}
	}
	return topic, id, b, nil
}

// parseConnack checks a CONNACK's rest (§3.2): two bytes, the return
// code 0 (connection accepted).
func parseConnack(b []byte) error {
	if len(b) != 2 || b[0]&^1 != 0 {
		return fmt.Errorf("%w: malformed CONNACK", errMQTT)
	}
	if b[1] != 0 {
		return fmt.Errorf("sealpost-bench: MQTT broker refused the connection (CONNACK return code %d)", b[1])
	}
	return nil
}

// parseSuback checks a SUBACK's rest for one topic filter (§3.9): packet
// identifier id, and a granted QoS of 1.
func parseSuback(b []byte, id uint16) error {
	if len(b) != 3 || binary.BigEndian.Uint16(b) != id {
		return fmt.Errorf("%w: malformed SUBACK", errMQTT)
	}
	if b[2] != 1 {
		return fmt.Errorf("sealpost-bench: MQTT broker granted QoS %#x, not 1", b[2])
	}
	return nil
}

// parsePuback returns a PUBACK's packet identifier (§3.4).
func parsePuback(b []byte) (uint16, error) {
	if len(b) != 2 {
		return 0, fmt.Errorf("%w: malformed PUBACK", errMQTT)
	}
	return binary.BigEndian.Uint16(b), nil
}

// mconn is one MQTT connection of the load.
type mconn struct {
	nc net.Conn
	br *bufio.Reader

	wake chan struct{} // cap 1: the writer has something to do

	mu       sync.Mutex
	pubacks  []uint16 // received QoS 1 PUBLISHes to acknowledge
	answered int      // PUBACKs for this client's PUBLISHes since the writer last looked
	err      error    // why the reader stopped
}

// dialMQTT connects to the broker at addr (over TLS if tlsConf is not
// nil) as clientID and waits for the CONNACK.
func dialMQTT(ctx context.Context, addr string, tlsConf *tls.Config, clientID string, clean bool) (*mconn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsConf != nil {
		tc := tls.Client(nc, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := &mconn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), wake: make(chan struct{}, 1)}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	if _, err := nc.Write(appendConnect(nil, clientID, clean, uint16(mqttKeepAlive/time.Second))); err != nil {
		nc.Close()
		return nil, err
	}
	h, p, err := readMQTT(c.br, nil, 64)
	if err == nil && h>>4 != mqttConnack {
		err = fmt.Errorf("%w: first packet is of type %d, not CONNACK", errMQTT, h>>4)
	}
	if err == nil {
		err = parseConnack(p)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

// subscribe subscribes to filter at QoS 1 and waits for the SUBACK; it
// runs before the reader starts.
func (c *mconn) subscribe(ctx context.Context, filter string) error {
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(dl)
		defer c.nc.SetDeadline(time.Time{})
	}
	const id = 1
	if _, err := c.nc.Write(appendSubscribe(nil, id, filter, 1)); err != nil {
		return err
	}
	h, p, err := readMQTT(c.br, nil, 64)
	if err != nil {
		return err
	}
	if h>>4 != mqttSuback {
		return fmt.Errorf("%w: packet of type %d, not SUBACK", errMQTT, h>>4)
	}
	return parseSuback(p, id)
}

// disconnect sends DISCONNECT and closes the connection (§3.14).
func (c *mconn) disconnect() {
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.nc.Write(appendDisconnect(nil))
	c.nc.Close()
}

func (c *mconn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *mconn) failed(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.poke()
}

func (c *mconn) close() { c.nc.Close() }
