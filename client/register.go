package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/client/internal/relaylink"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/relay/wire"
)

// Register creates the account handle with a new account key and this
// device as its first device, publishes prekeys, and connects to the
// relay, which creates this device's mailbox (spec/client.md §1.1).
// Errors: ErrInvalidHandle, ErrHandleTaken, ErrAlreadyRegistered, or the
// key server's refusal (a bad invite code, a rate limit) or a network
// error.
func (c *Client) Register(ctx context.Context, handle string) error {
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return ErrClosed
	case c.id != nil:
		c.mu.Unlock()
		return ErrAlreadyRegistered
	}
	c.mu.Unlock()
	if keys.CheckHandle(handle) != nil {
		return fmt.Errorf("%w: %q", ErrInvalidHandle, handle)
	}
	// The trust roots first (spec/client.md §6.1): with TrustOnFirstUse
	// this is the first use.
	if err := c.trustRoots(ctx); err != nil {
		return fmt.Errorf("client: reaching the key server: %w", err)
	}
	name, err := c.ks.Name(ctx)
	if err != nil {
		return fmt.Errorf("client: reaching the key server: %w", err)
	}
	ak, err := keys.GenerateAccountKey(rand.Reader)
	if err != nil {
		return err
	}
	defer ak.Zero()
	dk, err := keys.GenerateDeviceKeys(rand.Reader)
	if err != nil {
		return err
	}
	defer dk.Zero()
	const first = keys.DeviceID(1)
	cert, err := ak.CertifyDevice(handle, first, dk.Public(), time.Now())
	if err != nil {
		return err
	}
	chal, err := c.ks.Challenge(ctx, "")
	if err != nil {
		return fmt.Errorf("client: registering: %w", err)
	}
	sig, err := token.SignChallenge(dk, handle, first, chal.Challenge, name)
	if err != nil {
		return fmt.Errorf("client: registering: %w", err)
	}
	aik := ak.Public()
	req := &api.RegisterRequest{
		Handle:             handle,
		AccountKey:         aik[:],
		Certificate:        cert.Marshal(),
		Challenge:          chal.Challenge,
		ChallengeSignature: sig,
		Invite:             c.cfg.Invite,
	}
	if _, err := c.ks.Register(ctx, req); err != nil {
		if ksclient.IsCode(err, "handle_taken") {
			return fmt.Errorf("%w: %s", ErrHandleTaken, handle)
		}
		if !registeredAnyway(ctx, c.ks, handle, aik) {
			return fmt.Errorf("client: registering %s: %w", handle, err)
		}
	}
	// The account exists from here on. A crash before the identity is
	// stored loses the new account's keys (spec/client.md §1.1).
	return c.adopt(ctx, localstore.Identity{
		Handle:      handle,
		DeviceID:    uint32(first),
		AccountSeed: ak.Seed(),
		SigningSeed: dk.SigningSeed(),
		DHPrivate:   dk.DHPrivate(),
		Certificate: cert.Marshal(),
	}, nil)
}

// registeredAnyway reports whether a registration whose answer was lost
// (a network error) took effect: the directory holds the handle with this
// account key. The answer is not verified here: it only decides whether
// to go on, and every later lookup of the account verifies it.
func registeredAnyway(ctx context.Context, ks *ksclient.Client, handle string, aik keys.AccountPublicKey) bool {
	resp, err := ks.DirectoryLookup(ctx, handle)
	if err != nil || len(resp.Entry) == 0 {
		return false
	}
	e, err := kt.ParseEntry(resp.Entry)
	return err == nil && e.Handle == handle && e.AccountKey == aik
}

// adopt stores a new identity (and any contacts and pin restored from a
// backup), publishes prekeys, starts the background work and waits until
// the relay has accepted this device once.
func (c *Client) adopt(ctx context.Context, ident localstore.Identity, extra func(tx localstore.Tx) error) error {
	err := c.store.Update(ctx, func(tx localstore.Tx) error {
		if _, err := tx.Identity(); err == nil {
			return ErrAlreadyRegistered
		} else if !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		if err := tx.PutIdentity(ident); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	id, err := newIdentity(ident)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		id.destroy()
		return ErrClosed
	}
	c.id = id
	c.tokens = ksclient.NewTokens(c.ks, id.handle, uint32(id.device), id)
	c.mu.Unlock()
	if err := c.uploadPrekeys(ctx, id, true, api.PrekeyCounts{}); err != nil {
		return fmt.Errorf("client: publishing prekeys: %w (they are published again when the client next connects)", err)
	}
	if err := c.start(); err != nil {
		return err
	}
	c.mu.Lock()
	link := c.link
	c.mu.Unlock()
	return link.WaitConnected(ctx)
}

// start creates the token source and the relay link and starts the
// background work of a registered device.
func (c *Client) start() error {
	c.mu.Lock()
	if c.tokens == nil {
		c.tokens = ksclient.NewTokens(c.ks, c.id.handle, uint32(c.id.device), c.id)
	}
	id := c.id
	c.mu.Unlock()
	if err := c.seedOwnDevices(c.ctx, id); err != nil {
		return err
	}
	push, err := c.initialPushTarget(c.ctx)
	if err != nil {
		return err
	}
	link, err := relaylink.Start(relaylink.Config{
		Push:         push,
		OnPushStatus: c.onPushStatus,
		NetworkID:    c.cfg.NetworkID,
		Heartbeats:   heartbeatStore{c},
		URL:          c.cfg.Relay,
		TLS:          c.tls,
		Dial:         c.cfg.Dial,
		Token: func(ctx context.Context) (string, error) {
			aud, err := c.relayAudience(ctx)
			if err != nil {
				return "", err
			}
			tok, err := c.tokens.Get(ctx, aud)
			if ksclient.IsCode(err, "device_revoked") {
				// The key server will not issue one: the link stops.
				return "", fmt.Errorf("%w: %w", relaylink.ErrRevoked, err)
			}
			return tok, err
		},
		InvalidateToken: func() {
			if aud, err := c.relayAudience(c.ctx); err == nil {
				c.tokens.Invalidate(aud)
			}
		},
		Deliver:     c.deliver,
		OnEphemeral: c.receiveEphemeral,
		OnConnect: func(*wire.Hello) {
			c.emit(Event{Kind: EventConnected})
			c.kickAccess()
			c.kickMaintenance()
			c.kickMonitor() // spec/client.md §6.3
			// Close sets closed before it waits for wg: no Add after
			// that.
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.closed {
				return
			}
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.flushQueue(c.ctx)
				c.flushGroupOutgoing(c.ctx)
				c.rebaseLost(c.ctx) // spec/groups.md §6.3, after a restart
			}()
		},
		OnDisconnect: func(err error) {
			// The network may have changed: the next anonymous send opens
			// a connection of its own (spec/client.md §13.4).
			c.dropAnonConn(false)
			c.emit(Event{Kind: EventDisconnected, Err: err})
		},
		OnRevoked: func() {
			c.log.Warn("client: this device has been revoked; it no longer connects")
			c.emit(Event{Kind: EventRevoked, Err: ErrDeviceRevoked})
		},
		Logger: c.log,
	})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	c.mu.Lock()
	if c.closed {
		// Close ran meanwhile and did not see this link.
		c.mu.Unlock()
		link.Close()
		return ErrClosed
	}
	c.link = link
	c.wg.Add(6)
	c.mu.Unlock()
	go c.resumeUploads()
	go c.drainInbox()
	go c.maintenanceLoop()
	go c.monitorLoop()
	go c.receiptLoop()
	go c.expiryLoop()
	// The first connection may have come before the link was set.
	c.kickAccess()
	return nil
}

// keyServerToken returns an access token for the key server.
func (c *Client) keyServerToken(ctx context.Context) (string, error) {
	wk, err := c.ks.WellKnown(ctx)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	t := c.tokens
	c.mu.Unlock()
	if t == nil {
		return "", ErrNotRegistered
	}
	return t.Get(ctx, wk.Audience)
}

// relayAudience is the audience of the relay's tokens: relay:<name> if
// the key server lists it, else the only relay audience it lists
// (spec/client.md §8).
func (c *Client) relayAudience(ctx context.Context) (string, error) {
	wk, err := c.ks.WellKnown(ctx)
	if err != nil {
		return "", err
	}
	if want := "relay:" + wk.Name; slices.Contains(wk.RelayAudiences, want) {
		return want, nil
	}
	// The list also holds other services' audiences (blobs:<name>).
	var relays []string
	for _, a := range wk.RelayAudiences {
		if strings.HasPrefix(a, "relay:") {
			relays = append(relays, a)
		}
	}
	if len(relays) == 1 {
		return relays[0], nil
	}
	return "", fmt.Errorf("client: the key server lists %d relay audiences and none is relay:%s", len(relays), wk.Name)
}
