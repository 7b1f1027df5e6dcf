//go:build js

package localstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// Create and Open in the browser (GOOS=js): the kv engine on IndexedDB
// (kv_idb_js.go). The store's "directory" is its name: the database is
// "sealpost:" + dir.

// Create creates a new store named dir in IndexedDB: a random store key
// wrapped to u and the check record. It fails with ErrExist if the store
// already holds a key or records, and with ErrLocked if another tab has it
// open. The key is written last, so a Create that fails part way leaves
// no key behind (and the database it made is deleted).
func Create(ctx context.Context, dir string, u Unlock) (*Store, error) {
	if err := u.check(); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errors.New("localstore: create: empty store name")
	}
	b, made, err := openIDB(dir, true)
	if err != nil {
		return nil, err
	}
	s, err := createKV(ctx, dir, b, u)
	if err != nil {
		b.close()
		if made {
			deleteIDB(dir)
		}
		return nil, err
	}
	return s, nil
}

// Open opens the store named dir in IndexedDB with u. A wrong passphrase or
// identity gives ErrWrongPassphrase or ErrWrongIdentity and changes
// nothing; damaged records give ErrCorrupt; another tab holding the store
// open gives ErrLocked; a missing store gives an error wrapping
// fs.ErrNotExist (and makes no database).
func Open(ctx context.Context, dir string, u Unlock) (*Store, error) {
	if err := u.check(); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, fmt.Errorf("localstore: open: empty store name: %w", fs.ErrNotExist)
	}
	b, _, err := openIDB(dir, false)
	if err != nil {
		return nil, err
	}
	s, err := openKV(ctx, dir, b, u)
	if err != nil {
		b.close()
		return nil, err
	}
	return s, nil
}
