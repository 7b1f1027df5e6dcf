package main

import (
	"context"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client"
)

// opTimeout bounds a one-shot command's talk with the servers.
const opTimeout = 2 * time.Minute

// openClient opens the registered store in a.dir with its config.json
// and the store passphrase.
func (a *app) openClient(ctx context.Context) (*client.Client, error) {
	fc, err := loadConfig(a.dir)
	if err != nil {
		return nil, err
	}
	pass, err := a.storePassphrase(false)
	if err != nil {
		return nil, err
	}
	cfg := a.clientConfig(fc)
	cfg.Passphrase = pass
	c, err := client.Open(ctx, cfg)
	clear(pass)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// withClient opens the client, runs fn with a context bounded by
// opTimeout (0: no bound) and closes the client.
func (a *app) withClient(ctx context.Context, timeout time.Duration, fn func(ctx context.Context, c *client.Client) error) error {
	c, err := a.openClient(ctx)
	if err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	err = fn(ctx, c)
	if cerr := c.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// waitConnected waits for the client's first connection to the relay, so
// that an unreachable relay is reported as such (with the last reason)
// rather than as a send that timed out. Send returns only once the relay
// has stored a message, so waiting costs nothing. Events before the
// connection (there are no others yet) are dropped.
func waitConnected(ctx context.Context, c *client.Client) error {
	var last error
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				return client.ErrClosed
			}
			switch e.Kind {
			case client.EventConnected:
				return nil
			case client.EventDisconnected:
				last = e.Err
			}
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("cannot reach the relay (%v): %w", oneLine(last.Error()), ctx.Err())
			}
			return fmt.Errorf("cannot reach the relay: %w", ctx.Err())
		}
	}
}
