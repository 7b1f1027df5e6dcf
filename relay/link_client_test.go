package relay

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// TestRelayclientLink: relayclient's link connections against a real
// relay over TLS 1.3 and WebSocket: the new device's link connection
// without a token, the existing device's reply mailbox with one, Fetch on
// both kinds of connection, sends both ways, Ack, and Close (LinkClose).
func TestRelayclientLink(t *testing.T) {
	e := startRelay(t, Limits{})
	tlsCfg := e.srv.Client().Transport.(*http.Transport).TLSClientConfig
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sN, sE := linkSecret(1), linkSecret(2)
	offer := []byte("offer of N")

	n, hello, err := relayclient.DialLink(ctx, e.url, tlsCfg, sN, offer, "")
	if err != nil {
		t.Fatal(err)
	}
	defer n.CloseNow()
	if hello.Limits == nil || n.LinkID() != wire.LinkID(sN) || !bytes.Equal(n.Address(), wire.LinkAddress(sN)) {
		t.Fatalf("link connection: hello %v id %x", hello, n.LinkID())
	}
	dev, _, err := relayclient.Dial(ctx, e.url, tlsCfg, e.mint("bob", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer dev.CloseNow()
	got, exp, err := dev.FetchLink(ctx, n.LinkID())
	if err != nil || !bytes.Equal(got, offer) || !exp.Equal(time.UnixMilli(e.clock.Now().Add(e.lim.LinkTTL).UnixMilli())) {
		t.Fatalf("FetchLink: %q %v %v", got, exp, err)
	}
	if _, _, err := dev.FetchLink(ctx, wire.LinkID(linkSecret(9))); !errors.Is(err, relayclient.ErrNoLink) {
		t.Fatalf("FetchLink of an unknown link: %v, want ErrNoLink", err)
	}
	eLink, _, err := relayclient.DialLink(ctx, e.url, tlsCfg, sE, nil, e.mint("bob", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer eLink.CloseNow()
	if got, _, err := eLink.Fetch(ctx, n.LinkID()); err != nil || !bytes.Equal(got, offer) {
		t.Fatalf("Fetch on the token link connection: %q %v", got, err)
	}

	var id [wire.MessageIDSize]byte
	id[0] = 1
	st, _, err := eLink.Send(ctx, id, []*wire.Item{{Recipient: n.Address(), Envelope: []byte("msg1")}})
	if err != nil || st[0] != wire.Status_STATUS_STORED {
		t.Fatalf("E → N: %v %v", st, err)
	}
	d := <-n.Deliveries()
	if string(d.Envelope) != "msg1" {
		t.Fatalf("N got %q", d.Envelope)
	}
	if err := n.Ack(ctx, d.Id); err != nil {
		t.Fatal(err)
	}
	id[0] = 2
	st, _, err = n.Send(ctx, id, []*wire.Item{{Recipient: eLink.Address(), Envelope: []byte("msg2")}})
	if err != nil || st[0] != wire.Status_STATUS_STORED {
		t.Fatalf("N → E: %v %v", st, err)
	}
	if d := <-eLink.Deliveries(); string(d.Envelope) != "msg2" {
		t.Fatalf("E got %q", d.Envelope)
	}

	// Close deletes N's mailbox: Fetch finds nothing, sends get no_mailbox.
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !errors.Is(n.Err(), relayclient.ErrClosed) {
		t.Fatalf("after Close: %v", n.Err())
	}
	e.linkGone(sN)
	if _, _, err := dev.FetchLink(ctx, wire.LinkID(sN)); !errors.Is(err, relayclient.ErrNoLink) {
		t.Fatalf("FetchLink after Close: %v", err)
	}
	id[0] = 3
	if st, _, err := dev.Send(ctx, id, []*wire.Item{{Recipient: wire.LinkAddress(sN), Envelope: []byte("late")}}); err != nil || st[0] != wire.Status_STATUS_NO_MAILBOX {
		t.Fatalf("send after Close: %v %v", st, err)
	}

	// Refusals: a conflicting offer, a bad secret (nothing sent).
	_, _, err = relayclient.DialLink(ctx, e.url, tlsCfg, sE, []byte("other"), "")
	var re *relayclient.RemoteError
	if !errors.As(err, &re) || re.Code != wire.ErrorCode_ERROR_CODE_LINK_CONFLICT {
		t.Fatalf("conflicting offer: %v", err)
	}
	if _, _, err := relayclient.DialLink(ctx, e.url, tlsCfg, sE[:31], nil, ""); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("short secret: %v, want ErrMalformed", err)
	}
}
