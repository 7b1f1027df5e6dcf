// Package localstore is the client's encrypted local state on disk
// (spec/client-store.md): a directory holding state.db, an SQLite database
// whose sensitive values are sealed with a random 32-byte store key, and
// key.age, the store key encrypted with age to a passphrase (scrypt
// recipient) or to an age identity.
//
// While a Store is open the store key is held in a memguard Enclave and the
// sealing key derived from it in a memguard LockedBuffer (internal/secmem;
// in the browser, ordinary memory wiped on a best-effort basis); Close
// destroys both. Catching signals so that they are destroyed on an interrupt
// (memguard.CatchInterrupt) is the application's business, not this
// package's. Erasure of copies that pass through the Go heap (AEAD key
// schedules, values returned to the caller, the passphrase given to age) is
// best effort under a garbage collector.
//
// Every read and write happens in a transaction: View for reads, Update for
// writes. Update commits everything fn did or nothing, durably
// (WAL, synchronous=FULL) before it returns, so a client can store a new
// session state, a received message and the processed envelope id at once.
// A Store is safe for concurrent use; transactions run one at a time. One
// process at a time may open a store: the database is opened in SQLite's
// exclusive locking mode and a second Open fails with ErrLocked.
//
// In the browser (GOOS=js) there is no SQLite: Create and Open keep the
// store in the kv engine on IndexedDB, named by dir (localstore_js.go,
// spec/client-store.md §8.5), one tab at a time (a Web Lock); a full quota
// is ErrFull, a database deleted under the open store ErrGone.
package localstore

import (
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/sealpost/sealpost/internal/secmem"
)

// File names inside a store directory (spec/client-store.md §1).
const (
	keyFileName   = "key.age"
	stateFileName = "state.db"
)

var (
	// ErrWrongPassphrase is returned by Open when the passphrase does not
	// decrypt key.age (or key.age is not passphrase-encrypted).
	ErrWrongPassphrase = errors.New("localstore: wrong passphrase")
	// ErrWrongIdentity is returned by Open when the age identity does not
	// decrypt key.age (or key.age is passphrase-encrypted).
	ErrWrongIdentity = errors.New("localstore: wrong identity")
	// ErrCorrupt is returned when key.age or state.db is damaged, does not
	// belong to the other, or a sealed value fails to open. The error
	// message says which file and what failed.
	ErrCorrupt = errors.New("localstore: corrupt store")
	// ErrExist is returned by Create when the directory already holds a
	// store (or part of one).
	ErrExist = errors.New("localstore: store already exists")
	// ErrLocked is returned by Open when another process has the store open.
	ErrLocked = errors.New("localstore: store is in use by another process")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("localstore: store is closed")
	// ErrNotFound is returned by a Get method when the row does not exist.
	ErrNotFound = errors.New("localstore: not found")
	// ErrFull is returned by Update (and Create, ChangeUnlock) in the
	// browser when the browser refuses to store more (IndexedDB's
	// QuotaExceededError): nothing of the transaction was kept.
	ErrFull = errors.New("localstore: the browser's storage for this site is full")
	// ErrGone is returned by Update (and ChangeUnlock) in the browser once
	// the store's IndexedDB database was deleted or closed under the open
	// store (the user cleared the site's data, another page deleted it):
	// nothing more can be kept; the store must be opened again.
	ErrGone = errors.New("localstore: the store's storage was deleted or closed under it")
)

// corrupt returns an error wrapping ErrCorrupt with detail.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Store is an open client store.
type Store struct {
	dir string

	mu     sync.RWMutex // write-held by Close and ChangeUnlock
	closed bool
	//lint:ignore U1000 the browser build has no SQLite engine (sqlite_js.go)
	db      *sql.DB              // the SQLite engine: one connection, SQLite allows one writer
	kv      *kvEngine            // the kv engine (spec/client-store.md §8)
	key     *secmem.Enclave      // the store key
	sealKey *secmem.LockedBuffer // spec/client-store.md §3.1, frozen
	nameKey *secmem.LockedBuffer // spec/client-store.md §8.2, frozen
}

// newStore moves storeKey (which it wipes) into an Enclave and derives the
// sealing key.
func newStore(dir string, storeKey []byte) (*Store, error) {
	defer secmem.WipeBytes(storeKey)
	sealKey, err := deriveSealKey(storeKey)
	if err != nil {
		return nil, err
	}
	defer secmem.WipeBytes(sealKey)
	nameKey, err := deriveNameKey(storeKey)
	if err != nil {
		return nil, err
	}
	defer secmem.WipeBytes(nameKey)
	s := &Store{dir: dir}
	err = guard(func() error {
		s.sealKey = secmem.NewBufferFromBytes(sealKey)
		if s.sealKey.Size() != len(sealKey) {
			return errors.New("cannot allocate locked memory")
		}
		s.sealKey.Freeze()
		s.nameKey = secmem.NewBufferFromBytes(nameKey)
		if s.nameKey.Size() != len(nameKey) {
			return errors.New("cannot allocate locked memory")
		}
		s.nameKey.Freeze()
		s.key = secmem.NewEnclave(storeKey)
		return nil
	})
	if err != nil {
		if s.sealKey != nil {
			s.sealKey.Destroy()
		}
		if s.nameKey != nil {
			s.nameKey.Destroy()
		}
		return nil, err
	}
	return s, nil
}

// guard runs fn, turning a memguard panic (it panics when it cannot lock
// memory, for example under a low RLIMIT_MEMLOCK) into an error.
func guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("localstore: memguard: %v", r)
		}
	}()
	if err := fn(); err != nil {
		return fmt.Errorf("localstore: memguard: %w", err)
	}
	return nil
}

// Close closes state.db and destroys the store key and the sealing key.
// Later calls of any method return ErrClosed; Close itself is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.sealKey != nil {
		s.sealKey.Destroy()
	}
	if s.nameKey != nil {
		s.nameKey.Destroy()
	}
	s.key = nil // the Enclave's ciphertext is garbage; its key stays in memguard
	if s.kv != nil {
		if err := s.kv.backend.close(); err != nil {
			return fmt.Errorf("localstore: close: %w", err)
		}
		return nil
	}
	return s.closeSQL()
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }
