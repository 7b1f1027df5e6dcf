package relayclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/relay/wire"
)

// Link connections (spec/relay.md §17): a connection to a link mailbox,
// 0x00 || LinkID(secret), which no account owns. The new device of a
// linking (spec/linking.md) opens one without a token; the existing
// device opens its reply mailbox with its access token.

// ErrNoLink reports a LinkFetch answered with no live link mailbox: none
// was made with that id, or it has expired or been closed.
var ErrNoLink = errors.New("relayclient: no live link mailbox")

// LinkConn is a link connection. It embeds the Conn it runs on: Send and
// SendResult (to link addresses only: the relay closes a link connection
// that names a device address), Deliveries, Ack, Ping, PingPong, Done,
// Err and CloseNow work as on any connection. Conn.Close leaves the link
// mailbox in place (reconnect with the same secret); Close deletes it.
type LinkConn struct {
	*Conn
	id [wire.LinkIDSize]byte
}

// DialLink opens a link connection to url (wss://HOST/v1/relay) with
// tlsConfig: AuthLink{secret, offer, token} (spec/relay.md §17.2). The
// relay creates the link mailbox with offer if it does not exist, with
// an expiry of its link TTL (10 minutes by default); reconnecting with the
// same secret keeps its offer and expiry (offer nil, or the same offer).
// token is "" (the hard limits of §17.3 apply: envelopes of at most
// wire.MaxLinkEnvelope bytes, wire.MaxLinkItems items over the
// connection's life) or a device's access token, as for Dial (normal
// limits, and Fetch). secret must be wire.LinkSecretSize bytes and offer
// at most wire.MaxLinkOffer; otherwise an error wrapping wire.ErrMalformed
// and nothing is sent. A refusal is a *RemoteError: link_expired,
// link_conflict, rate_limited, or a token's codes.
func DialLink(ctx context.Context, url string, tlsConfig *tls.Config, secret, offer []byte, token string) (*LinkConn, *wire.Hello, error) {
	return DialLinkVia(ctx, url, tlsConfig, secret, offer, token, nil)
}

// DialLinkVia is DialLink over a connection that dial opens.
func DialLinkVia(ctx context.Context, url string, tlsConfig *tls.Config, secret, offer []byte, token string, dial DialFunc) (*LinkConn, *wire.Hello, error) {
	f := &wire.Frame{Body: &wire.Frame_AuthLink{AuthLink: &wire.AuthLink{Secret: secret, Offer: offer, Token: token}}}
	if err := wire.Check(f); err != nil {
		return nil, nil, fmt.Errorf("relayclient: %w", err)
	}
	c, hello, err := dialWith(ctx, url, tlsConfig, dial, f)
	if err != nil {
		return nil, nil, err
	}
	return &LinkConn{Conn: c, id: wire.LinkID(secret)}, hello, nil
}

// LinkID returns the link id of the connection's mailbox.
func (l *LinkConn) LinkID() [wire.LinkIDSize]byte { return l.id }

// Address returns the link address of the connection's mailbox, the
// recipient of sends to it.
func (l *LinkConn) Address() []byte { return wire.LinkAddressOf(l.id) }

// Fetch returns the offer and expiry of the live link mailbox with id
// linkID (spec/relay.md §17.4), ErrNoLink if there is none. On a link
// connection opened with a token only (the relay closes one without).
func (l *LinkConn) Fetch(ctx context.Context, linkID [wire.LinkIDSize]byte) ([]byte, time.Time, error) {
	return l.Conn.FetchLink(ctx, linkID)
}

// Close deletes the link mailbox, its offer and its envelopes
// (LinkClose, spec/relay.md §17.5), waits for the relay's LinkClosed and
// for the connection to end. After it, sends to the mailbox are answered
// no_mailbox and Fetch finds nothing.
func (l *LinkConn) Close(ctx context.Context) error {
	_, err := request(ctx, l.Conn, &l.closeMu, &l.closes, &wire.Frame{Body: &wire.Frame_LinkClose{LinkClose: &wire.LinkClose{}}})
	if err != nil {
		return err
	}
	l.fail(ErrClosed)
	select {
	case <-l.done:
	case <-ctx.Done():
		l.ws.CloseNow()
		<-l.done
	}
	return nil
}

// FetchLink returns the offer and expiry of the live link mailbox with id
// linkID (spec/relay.md §17.4), ErrNoLink if there is none. On an
// authenticated connection, or a link connection opened with a token.
// Answers come in the order of the LinkFetch frames.
func (c *Conn) FetchLink(ctx context.Context, linkID [wire.LinkIDSize]byte) ([]byte, time.Time, error) {
	o, err := request(ctx, c, &c.linkMu, &c.links, &wire.Frame{Body: &wire.Frame_LinkFetch{LinkFetch: &wire.LinkFetch{LinkId: linkID[:]}}})
	if err != nil {
		return nil, time.Time{}, err
	}
	if [wire.LinkIDSize]byte(o.LinkId) != linkID {
		err := fmt.Errorf("%w: LinkOffer for another link id", ErrProtocol)
		c.fail(err)
		c.ws.CloseNow()
		return nil, time.Time{}, err
	}
	if o.ExpiresUnixMs == 0 {
		return nil, time.Time{}, ErrNoLink
	}
	return o.Offer, time.UnixMilli(int64(o.ExpiresUnixMs)), nil
}
