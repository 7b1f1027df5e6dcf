package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// Trust roots (spec/client.md §6.1): the transparency log's verifier key
// and the key server's name come from Config.LogKey, or, with the
// explicit Config.TrustOnFirstUse, from the key server's discovery
// document the first time, kept in the store and held to ever after.

// ErrStale is returned (wrapped) when the key server answers under a log
// checkpoint older than one this device has already seen, or older than
// Config.MaxCheckpointAge (spec/client.md §6.1). The answer is not used;
// the operation can be tried again later. Receiving retries by itself.
var ErrStale = errors.New("client: the key server's answer is stale")

// ErrNoQuorum is returned (wrapped) when a log checkpoint the key server
// shows lacks cosignatures from Config.WitnessQuorum of Config.Witnesses
// (spec/transparency-v2.md §7.4): a witness may be down, or the server may
// be showing this device a view no witness accepted. The answer is not
// used and the pin does not move; the operation can be tried again later.
var ErrNoQuorum = errors.New("client: the key server's checkpoint lacks a quorum of witness cosignatures")

// errNoLogKey is Open's error for a client with no trust root.
var errNoLogKey = errors.New("client: no Config.LogKey: set it to the key server's log verifier key (sealpostd prints it), or opt in to Config.TrustOnFirstUse")

// trustStoredLogKey applies the log key held in the store (learned on
// first use, "" if none) at Open.
func (c *Client) trustStoredLogKey(stored string) error {
	switch {
	case c.cfg.LogKey != "":
		// The configured key rules; a pin made under another key fails
		// to verify at the first lookup (ErrSecurity).
		return nil
	case stored != "":
		name, err := logName(stored)
		if err != nil {
			return fmt.Errorf("%w: stored log key: %v", ErrCorrupt, err)
		}
		c.ks.Expect(name, stored)
		c.logKey = stored
		return nil
	case c.cfg.TrustOnFirstUse:
		return nil
	}
	return errNoLogKey
}

// logName returns the key server name of a directory log verifier key:
// its origin is "<name>/sealpost-kt/v2" (spec/transparency-v2.md §5).
func logName(logKey string) (string, error) {
	v, err := directory.NewVerifier(logKey)
	if err != nil {
		return "", err
	}
	name, ok := strings.CutSuffix(v.Origin(), directory.OriginSuffix)
	if !ok || name == "" {
		return "", fmt.Errorf("log origin %q is not <name>%s", v.Origin(), directory.OriginSuffix)
	}
	return name, nil
}

// logVerifier returns the transparency log's verifier and opens the stored
// pin with it. The key is Config.LogKey or the one in the store; with
// neither (TrustOnFirstUse) it is taken from the discovery document now
// and stored. The caller holds pinMu.
func (c *Client) logVerifier(ctx context.Context) (*kt.Verifier, error) {
	if c.verifier != nil {
		return c.verifier, nil
	}
	key := c.cfg.LogKey
	if key == "" {
		key = c.logKey
	}
	// The discovery document must name this key (ksclient.Expect);
	// fetching it here also checks that before anything is verified.
	wk, err := c.ks.WellKnown(ctx)
	if errors.Is(err, kt.ErrSecurity) {
		return nil, c.securityError("", err)
	}
	if err != nil {
		return nil, err
	}
	if key == "" {
		if !c.cfg.TrustOnFirstUse {
			return nil, errNoLogKey
		}
		key = wk.DirectoryVerifierKey
		name, err := logName(key)
		if err != nil || name != wk.Name {
			return nil, fmt.Errorf("client: the key server's log verifier key %q: not the key of a log named %s%s", key, wk.Name, directory.OriginSuffix)
		}
		err = c.store.Update(ctx, func(tx localstore.Tx) error { return tx.PutLogKey(key) })
		if err != nil {
			return nil, storeError(err)
		}
		c.ks.Expect(name, key)
		c.logKey = key
		c.log.Info("client: trusting the key server's log key on first use", "log_key", key)
	}
	v, err := directory.NewVerifier(key)
	if err != nil {
		return nil, fmt.Errorf("client: the log verifier key: %w", err)
	}
	// The VRF key is not a trust root: every leaf names it, under the
	// log key and the witnesses, and auditors check that it never
	// changes (spec/transparency-v2.md §5, §8). A discovery document
	// that names another is caught by the first lookup.
	vrfKey, err := vrf.ParsePublicKey(wk.VRFKey)
	if err != nil {
		return nil, c.securityError("", fmt.Errorf("the key server's VRF key: %w", err))
	}
	if c.pinText != nil {
		// A pinned checkpoint that the log key did not sign means the
		// log key changed: a new log, which this device cannot check
		// against the one it saw (spec/client.md §6.1).
		pin, err := v.OpenCheckpoint(c.pinText)
		if err != nil {
			return nil, c.securityError("", fmt.Errorf("the pinned checkpoint does not verify under the log key: %w", err))
		}
		c.pin = pin
	}
	c.verifier, c.vrfKey = v, vrfKey
	return v, nil
}

// trustRoots settles the log key and server name (logVerifier) before
// anything is signed for the key server.
func (c *Client) trustRoots(ctx context.Context) error {
	c.pinMu.Lock()
	defer c.pinMu.Unlock()
	_, err := c.logVerifier(ctx)
	return err
}

// freshness is the age rule answers are held to now (spec/client.md §6.1).
func (c *Client) freshness() ksclient.Freshness {
	now := time.Now()
	if c.cfg.now != nil {
		now = c.cfg.now()
	}
	return ksclient.Freshness{Now: now, MaxAge: c.cfg.MaxCheckpointAge}
}

// staleRetries are the waits before the lookup is asked again after a
// stale answer (a lagging replica or cache catches up within seconds) or
// one without the witnesses' quorum (they cosign a new epoch within about
// a second).
var staleRetries = []time.Duration{250 * time.Millisecond, time.Second}
