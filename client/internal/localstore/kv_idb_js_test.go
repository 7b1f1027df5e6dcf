//go:build js

package localstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall/js"
	"testing"
)

// The IndexedDB backend's tests run in a browser: idb_browser_test.go runs
// them in headless Chromium (internal/wasmtest).

// idbStoreName returns a store name no other test uses.
func idbStoreName(t *testing.T) string {
	var b [6]byte
	rand.Read(b[:])
	return t.Name() + "-" + hex.EncodeToString(b[:])
}

func idbUnlock() Unlock { return Passphrase([]byte("correct horse")).WithWorkFactor(2) }

func idbCreate(t *testing.T, name string) *Store {
	t.Helper()
	s, err := Create(context.Background(), name, idbUnlock())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return s
}

func idbOpen(t *testing.T, name string) *Store {
	t.Helper()
	s, err := Open(context.Background(), name, idbUnlock())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func contactN(i int) Contact {
	c := Contact{Handle: fmt.Sprintf("user%05d", i), KeySetVersion: uint64(i + 1), LogIndex: uint64(i)}
	c.AccountKey[0], c.AccountKey[1] = byte(i), byte(i>>8)
	return c
}

func putContacts(s *Store, from, to int) error {
	return s.Update(context.Background(), func(tx Tx) error {
		for i := from; i < to; i++ {
			if err := tx.PutContact(contactN(i)); err != nil {
				return err
			}
		}
		return nil
	})
}

func countContacts(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	err := s.View(context.Background(), func(tx Tx) error {
		cs, err := tx.Contacts()
		n = len(cs)
		return err
	})
	if err != nil {
		t.Fatalf("Contacts: %v", err)
	}
	return n
}

// idbRecordCount counts the records IndexedDB itself holds for the store.
func idbRecordCount(t *testing.T, name string) int {
	t.Helper()
	req := js.Global().Get("indexedDB").Call("open", idbName(name))
	if _, err := waitRequest(req); err != nil {
		t.Fatalf("indexedDB.open: %v", err)
	}
	db := req.Get("result")
	defer db.Call("close")
	tx := db.Call("transaction", idbRecords, "readonly")
	count := tx.Call("objectStore", idbRecords).Call("count")
	if err := waitTx(context.Background(), tx); err != nil {
		t.Fatalf("count: %v", err)
	}
	return count.Get("result").Int()
}

func TestIDBCreateWriteReopen(t *testing.T) {
	name := idbStoreName(t)
	s := idbCreate(t, name)
	if err := putContacts(s, 0, 10); err != nil {
		t.Fatalf("PutContact: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = idbOpen(t, name)
	defer s.Close()
	err := s.View(context.Background(), func(tx Tx) error {
		for i := range 10 {
			c, err := tx.Contact(contactN(i).Handle)
			if err != nil {
				return err
			}
			if c != contactN(i) {
				return fmt.Errorf("contact %d read back as %+v", i, c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The records IndexedDB holds are named by HMAC, not by handle.
	if n := idbRecordCount(t, name); n < 10 {
		t.Fatalf("IndexedDB holds %d records, want at least 10", n)
	}
}

func TestIDBOpenMissing(t *testing.T) {
	name := idbStoreName(t)
	_, err := Open(context.Background(), name, idbUnlock())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing store: %v, want fs.ErrNotExist", err)
	}
	// Open made nothing: Create works, and Open did not leave the lock.
	s := idbCreate(t, name)
	s.Close()
}

func TestIDBWrongPassphrase(t *testing.T) {
	name := idbStoreName(t)
	s := idbCreate(t, name)
	putContacts(s, 0, 1)
	s.Close()
	_, err := Open(context.Background(), name, Passphrase([]byte("wrong")))
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open with a wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	s = idbOpen(t, name) // nothing changed, and the lock was given back
	defer s.Close()
	if n := countContacts(t, s); n != 1 {
		t.Fatalf("%d contacts after a wrong passphrase, want 1", n)
	}
}

func TestIDBCreateExisting(t *testing.T) {
	name := idbStoreName(t)
	s := idbCreate(t, name)
	putContacts(s, 0, 3)
	s.Close()
	_, err := Create(context.Background(), name, Passphrase([]byte("another")).WithWorkFactor(2))
	if !errors.Is(err, ErrExist) {
		t.Fatalf("Create over a store: %v, want ErrExist", err)
	}
	s = idbOpen(t, name) // the old key still opens it, its records kept
	defer s.Close()
	if n := countContacts(t, s); n != 3 {
		t.Fatalf("%d contacts after a refused Create, want 3", n)
	}
}

func TestIDBLocked(t *testing.T) {
	name := idbStoreName(t)
	s := idbCreate(t, name)
	_, err := Open(context.Background(), name, idbUnlock())
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open while open: %v, want ErrLocked", err)
	}
	_, err = Create(context.Background(), name, idbUnlock())
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Create while open: %v, want ErrLocked", err)
	}
	if err := putContacts(s, 0, 1); err != nil {
		t.Fatalf("the first Store after refused opens: %v", err)
	}
	s.Close()
	s = idbOpen(t, name) // Close gave the lock back
	s.Close()
}

func TestIDBFailedUpdateKeepsNothing(t *testing.T) {
	name := idbStoreName(t)
	s := idbCreate(t, name)
	putContacts(s, 0, 2)
	before := idbRecordCount(t, name)
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx Tx) error {
		for i := 2; i < 50; i++ {
			if err := tx.PutContact(contactN(i)); err != nil {
				return err
			}
		}
		if err := tx.DeleteContact(contactN(0).Handle); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update: %v, want boom", err)
	}
	if n := countContacts(t, s); n != 2 {
		t.Fatalf("%d contacts in memory after a failed Update, want 2", n)
	}
	if n := idbRecordCount(t, name); n != before {
		t.Fatalf("IndexedDB holds %d records after a failed Update, want %d", n, before)
	}
	s.Close()
	s = idbOpen(t, name)
	defer s.Close()
	if n := countContacts(t, s); n != 2 {
		t.Fatalf("%d contacts after reopening, want 2", n)
	}
}

func TestIDBLargeBatch(t *testing.T) {
	const n = 5000
	name := idbStoreName(t)
	s := idbCreate(t, name)
	if err := putContacts(s, 0, n); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = idbOpen(t, name)
	defer s.Close()
	if got := countContacts(t, s); got != n {
		t.Fatalf("%d contacts after reopening, want %d", got, n)
	}
}

// TestIDBDeletedUnderStore deletes the database under an open store (as
// clearing the site's data does): the next commit fails with ErrGone and
// the store's memory keeps only what was committed before.
func TestIDBDeletedUnderStore(t *testing.T) {
	name := idbStoreName(t)
	s := idbCreate(t, name)
	defer s.Close()
	putContacts(s, 0, 1)
	if _, err := waitRequest(js.Global().Get("indexedDB").Call("deleteDatabase", idbName(name))); err != nil {
		t.Fatalf("deleteDatabase: %v", err)
	}
	err := putContacts(s, 1, 2)
	if !errors.Is(err, ErrGone) {
		t.Fatalf("Update after the database was deleted: %v, want ErrGone", err)
	}
	if n := countContacts(t, s); n != 1 {
		t.Fatalf("%d contacts in memory, want 1", n)
	}
	if err := s.ChangeUnlock(idbUnlock()); !errors.Is(err, ErrGone) {
		t.Fatalf("ChangeUnlock after the database was deleted: %v, want ErrGone", err)
	}
}

// TestIDBTransactionAbort checks the backend's commit against a
// transaction IndexedDB aborts (a request that fails): an error, and
// nothing of the transaction kept.
func TestIDBTransactionAbort(t *testing.T) {
	name := idbStoreName(t)
	s := idbCreate(t, name)
	defer s.Close()
	before := idbRecordCount(t, name)
	b := s.kv.backend.(*idb)
	tx, err := b.transaction("readwrite", idbRecords)
	if err != nil {
		t.Fatal(err)
	}
	st := tx.Call("objectStore", idbRecords)
	st.Call("put", bytesToJS([]byte("kept?")), "a-record")
	// An add of a key the transaction just put fails its request with a
	// ConstraintError, which aborts the transaction (it is not prevented).
	st.Call("add", bytesToJS([]byte("x")), "a-record")
	if err := waitTx(context.Background(), tx); err == nil {
		t.Fatal("a transaction with a failed request completed")
	}
	if n := idbRecordCount(t, name); n != before {
		t.Fatalf("IndexedDB holds %d records after an aborted transaction, want %d", n, before)
	}
}

// idbQuotaEnv, set by idb_browser_test.go's run under a small storage
// quota, enables TestIDBQuota.
const idbQuotaEnv = "SEALPOST_TEST_IDB_QUOTA"

// TestIDBQuota fills the page's storage quota (set small by the runner):
// the Update that does not fit fails with ErrFull and keeps nothing, in
// IndexedDB or in memory, and the store goes on working.
func TestIDBQuota(t *testing.T) {
	if os.Getenv(idbQuotaEnv) == "" {
		t.Skip("needs a small storage quota (" + idbQuotaEnv + ")")
	}
	name := idbStoreName(t)
	s := idbCreate(t, name)
	defer s.Close()
	if err := putContacts(s, 0, 10); err != nil {
		t.Fatal(err)
	}
	before := idbRecordCount(t, name)
	big := func(tx Tx) error {
		for i := 10; i < 200; i++ {
			if err := tx.PutKeySet(contactN(i).Handle, make([]byte, 64<<10)); err != nil {
				return err
			}
		}
		return nil
	}
	err := s.Update(context.Background(), big)
	if !errors.Is(err, ErrFull) {
		t.Fatalf("an Update over the quota: %v, want ErrFull", err)
	}
	t.Logf("refused as it should be: %v", err)
	if n := idbRecordCount(t, name); n != before {
		t.Fatalf("IndexedDB holds %d records after a refused Update, want %d", n, before)
	}
	err = s.View(context.Background(), func(tx Tx) error {
		_, err := tx.KeySet(contactN(10).Handle)
		return err
	})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("a key set of the refused Update: %v, want ErrNotFound", err)
	}
	if err := putContacts(s, 10, 11); err != nil {
		t.Fatalf("a small Update after ErrFull: %v", err)
	}
}
