package main

import (
	"context"
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
