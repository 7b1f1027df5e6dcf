package store

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// LeafHashes returns the hashes to store when leaf n, with contents leaf,
// is appended to a log of n leaves (tlog.StoredHashes), reading the hashes
// already stored through read. Both engines call it inside the transaction
// that appends the leaf, and store the result at indexes
// tlog.StoredHashIndex(0, n) onwards.
func LeafHashes(ctx context.Context, read func(context.Context, []int64) ([]tlog.Hash, error), n int64, leaf []byte) ([]tlog.Hash, error) {
	hashes, err := tlog.StoredHashes(n, leaf, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return read(ctx, idx)
	}))
	if err != nil {
		return nil, fmt.Errorf("store: log hashes for leaf %d: %w", n, err)
	}
	return hashes, nil
}
