package main

import (
	"context"
	"fmt"
	"sync"
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
	if !a.offline {
		if err := checkServers(ctx, fc); err != nil {
			return nil, err
		}
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

// eventWatch prints a one-shot command's client events while it runs
// (key changes, devices added or removed, warnings about this account)
// and notes the relay connection, so that a command such as send both
// tells what it learned and waits for the relay.
type eventWatch struct {
	a         *app
	events    <-chan client.Event
	connected chan struct{} // closed at the first EventConnected
	quit      chan struct{} // closed by stop
	done      chan struct{} // closed when the watch has printed all it will

	mu      sync.Mutex
	lastErr error // the last disconnection's cause
}

// watchEvents starts printing events from events (Client.Events).
func (a *app) watchEvents(events <-chan client.Event) *eventWatch {
	w := &eventWatch{a: a, events: events, connected: make(chan struct{}), quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *eventWatch) run() {
	defer close(w.done)
	connected := false
	handle := func(e client.Event) {
		switch e.Kind {
		case client.EventConnected:
			if !connected {
				connected = true
				close(w.connected)
			}
		case client.EventDisconnected:
			w.mu.Lock()
			w.lastErr = e.Err
			w.mu.Unlock()
		case client.EventReceipt, client.EventTyping, client.EventPresence:
			// What the conversation's other side is doing is for listen
			// and chat; status shows the receipts.
		default:
			w.a.printEvent(e)
		}
	}
	for {
		select {
		case e, ok := <-w.events:
			if !ok {
				return
			}
			handle(e)
		case <-w.quit:
			// Print what is already waiting, then stop.
			for {
				select {
				case e, ok := <-w.events:
					if !ok {
						return
					}
					handle(e)
				default:
					return
				}
			}
		}
	}
}

// stop prints the events already waiting and ends the watch.
func (w *eventWatch) stop() {
	close(w.quit)
	<-w.done
}

// waitConnected waits for the client's first connection to the relay, so
// that an unreachable relay is reported as such (with the last reason)
// rather than as a send that timed out. Send returns only once the relay
// has stored a message, so waiting costs nothing.
func (w *eventWatch) waitConnected(ctx context.Context) error {
	select {
	case <-w.connected:
		return nil
	case <-ctx.Done():
	}
	w.mu.Lock()
	last := w.lastErr
	w.mu.Unlock()
	if last == nil {
		last = w.a.lastClientError()
	}
	if last != nil {
		return fmt.Errorf("the relay did not take a connection (%s): %w", describe(last), ctx.Err())
	}
	return fmt.Errorf("the relay did not take a connection: %w", ctx.Err())
}
