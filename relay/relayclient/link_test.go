package relayclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/relay/wire"
)

// TestFetchLinkInOrder: LinkOffer answers go to the LinkFetch frames in
// order; no expiry is ErrNoLink; an answer for another link id is a
// protocol violation that ends the connection.
func TestFetchLinkInOrder(t *testing.T) {
	id1, id2, id3 := wire.LinkID([]byte{1}), wire.LinkID([]byte{2}), wire.LinkID([]byte{3})
	url := fakeRelay(t, func(ctx context.Context, ws *websocket.Conn, _ string) {
		writeFrame(ctx, ws, hello())
		for range 3 {
			f, err := readFrame(ctx, ws, 0)
			if err != nil {
				t.Errorf("fake relay: %v", err)
				return
			}
			id := [wire.LinkIDSize]byte(f.GetLinkFetch().GetLinkId())
			o := &wire.LinkOffer{LinkId: id[:]}
			switch id {
			case id1:
				o.Offer, o.ExpiresUnixMs = []byte("offer"), 1_790_000_000_000
			case id3:
				o.LinkId = id1[:] // the wrong id
			}
			writeFrame(ctx, ws, &wire.Frame{Body: &wire.Frame_LinkOffer{LinkOffer: o}})
		}
		readFrame(ctx, ws, 0) // until the client closes
	})
	c, err := dial(t, url, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offer, exp, err := c.FetchLink(ctx, id1)
	if err != nil || string(offer) != "offer" || exp.UnixMilli() != 1_790_000_000_000 {
		t.Fatalf("FetchLink: %q %v %v", offer, exp, err)
	}
	if _, _, err := c.FetchLink(ctx, id2); !errors.Is(err, ErrNoLink) {
		t.Fatalf("FetchLink of no link: %v, want ErrNoLink", err)
	}
	if _, _, err := c.FetchLink(ctx, id3); !errors.Is(err, ErrProtocol) {
		t.Fatalf("LinkOffer of another id: %v, want ErrProtocol", err)
	}
	<-c.Done()
	if !errors.Is(c.Err(), ErrProtocol) {
		t.Fatalf("connection ended with %v", c.Err())
	}
}

// TestDialLinkRefusesBadInput: a secret of the wrong size or an offer
// over MaxLinkOffer is refused before anything is dialled.
func TestDialLinkRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		secret, offer []byte
	}{
		{make([]byte, wire.LinkSecretSize-1), nil},
		{make([]byte, wire.LinkSecretSize+1), nil},
		{make([]byte, wire.LinkSecretSize), make([]byte, wire.MaxLinkOffer+1)},
	} {
		// No relay listens there: an attempt to dial would fail otherwise.
		_, _, err := DialLink(ctx, "wss://127.0.0.1:1/v1/relay", nil, tc.secret, tc.offer, "")
		if !errors.Is(err, wire.ErrMalformed) {
			t.Fatalf("secret %d offer %d: %v, want ErrMalformed", len(tc.secret), len(tc.offer), err)
		}
	}
}
