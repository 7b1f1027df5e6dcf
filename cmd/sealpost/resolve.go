package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sealpost/sealpost/client"
)

// historyScan is how many of a conversation's newest messages a short
// message id is looked up among.
const historyScan = 5000

// checkIDArg checks that s can name a message: 4 to 32 lower- or
// upper-case hex digits (a prefix of the id is resolved in the history).
func checkIDArg(s string) error {
	if len(s) < minIDPrefix || len(s) > 2*len(client.MessageID{}) {
		return usagef("message id %q: want its 32 hex digits, or at least %d of its first ones", s, minIDPrefix)
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return usagef("message id %q: want hex digits", s)
		}
	}
	return nil
}

// resolveID finds the message s names in the conversation with handle:
// a full id is taken as it is (its history entry, if any, comes with
// it); a prefix must match exactly one message among the newest
// historyScan. A prefix that matches none is ErrUnknownMessage; one that
// matches several is a usage error, so a peer who picks colliding ids
// cannot make a command act on the wrong message.
func resolveID(ctx context.Context, c *client.Client, handle, s string) (client.MessageID, *client.HistoryEntry, error) {
	s = strings.ToLower(s)
	if err := checkIDArg(s); err != nil {
		return client.MessageID{}, nil, err
	}
	hist, herr := c.History(ctx, handle, historyScan)
	if len(s) == 2*len(client.MessageID{}) {
		id, err := client.ParseMessageID(s)
		if err != nil {
			return client.MessageID{}, nil, usagef("message id %q: %v", s, err)
		}
		for i := range hist {
			if hist[i].ID == id {
				return id, &hist[i], nil
			}
		}
		return id, nil, nil
	}
	if herr != nil {
		return client.MessageID{}, nil, fmt.Errorf("looking up message %s in the history with %s: %w", s, handle, herr)
	}
	var found []*client.HistoryEntry
	for i := range hist {
		if strings.HasPrefix(hist[i].ID.String(), s) {
			found = append(found, &hist[i])
		}
	}
	switch len(found) {
	case 0:
		return client.MessageID{}, nil, fmt.Errorf("no message %s… in this device's history with %s: %w", s, handle, client.ErrUnknownMessage)
	case 1:
		return found[0].ID, found[0], nil
	}
	return client.MessageID{}, nil, usagef("message id %s… is ambiguous: %d messages with %s begin with it; give more digits", s, len(found), handle)
}

// parseState parses --wait: "", stored, delivered or read.
func parseState(s string) (client.DeliveryState, error) {
	switch s {
	case "":
		return 0, nil
	case "stored":
		return client.StateStored, nil
	case "delivered":
		return client.StateDelivered, nil
	case "read":
		return client.StateRead, nil
	}
	return 0, usagef("--wait %q: want stored, delivered or read", s)
}

// errNotYet is a --wait that timed out: the state was not reached.
var errNotYet = errors.New("no receipt said so before the timeout")

// waitStatus waits up to wait until the message id, sent from this
// device, reaches state want (or further), polling the store as receipts
// come in, and returns the last status (with errNotYet if want was not
// reached).
func waitStatus(ctx context.Context, c *client.Client, id client.MessageID, want client.DeliveryState, wait time.Duration) (*client.MessageStatus, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	end := time.NewTimer(wait)
	defer end.Stop()
	for {
		st, err := c.MessageStatus(ctx, id)
		if err != nil {
			return nil, err
		}
		if st.State >= want {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-end.C:
			return st, fmt.Errorf("message %s is %s, not %s: %w", id, st.State, want, errNotYet)
		case <-tick.C:
		}
	}
}
