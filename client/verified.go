package client

import (
	"context"
	"errors"

	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/internal/localstore"
)

// ClearVerified clears handle's verified flag (spec/client.md §6.2): call
// it when a safety-number comparison failed — a scanned code that does not
// match, or a user who says the numbers differ — so that no earlier
// verification stays standing. The contact's key, a pending key change and
// held messages are left as they are. It reports whether the flag was set;
// a handle this device has never looked up was not verified.
func (c *Client) ClearVerified(ctx context.Context, handle string) (bool, error) {
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return false, err
	}
	defer done()
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	was := false
	var key [32]byte
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		was = false
		ct, err := tx.Contact(handle)
		if errors.Is(err, localstore.ErrNotFound) {
			return nil
		}
		if err != nil || !ct.Verified {
			return err
		}
		was, ct.Verified, key = true, false, ct.AccountKey
		return tx.PutContact(ct)
	})
	if err != nil {
		return false, storeError(err)
	}
	if was {
		// spec/client.md §17.3: the account's other devices clear it too.
		c.sendSync(&contentpb.Sync{Change: &contentpb.Sync_Verified{Verified: &contentpb.SyncVerified{Handle: handle, AccountKey: key[:]}}})
	}
	return was, nil
}
