//go:build !js

package localstore

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
)

// testWorkFactor keeps scrypt fast in tests.
const testWorkFactor = 10

func pass(p string) Unlock { return Passphrase([]byte(p)).WithWorkFactor(testWorkFactor) }

func newIdentityFile(t *testing.T) []byte {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return []byte("# test identity\n" + id.String() + "\n")
}

// create makes a store in a fresh directory and closes it when the test
// ends.
func create(t *testing.T, u Unlock) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Create(t.Context(), dir, u)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// snapshot returns the contents of every file in dir.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

func assertUnchanged(t *testing.T, dir string, before map[string][]byte) {
	t.Helper()
	if after := snapshot(t, dir); !maps.EqualFunc(before, after, bytes.Equal) {
		t.Errorf("store files changed: before %d files, after %d", len(before), len(after))
	}
}

func putSecretSession(t *testing.T, s *Store, state string) {
	t.Helper()
	err := s.Update(t.Context(), func(tx Tx) error {
		return tx.PutSession(Session{PeerHandle: "bob", PeerDevice: 1, State: []byte(state), Updated: time.Unix(1, 0)})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func getSession(s *Store, t *testing.T) (Session, error) {
	var got Session
	err := s.View(t.Context(), func(tx Tx) error {
		var err error
		got, err = tx.Session("bob", 1)
		return err
	})
	return got, err
}

func TestCreateOpenRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		u    func(t *testing.T) Unlock
	}{
		{"passphrase", func(*testing.T) Unlock { return pass("correct horse") }},
		{"identity", func(t *testing.T) Unlock { return IdentityFile(newIdentityFile(t)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := c.u(t)
			s, dir := create(t, u)
			putSecretSession(t, s, "ratchet state")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := Open(t.Context(), dir, u)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			got, err := getSession(s, t)
			if err != nil || string(got.State) != "ratchet state" {
				t.Fatalf("session after reopen = %q, %v", got.State, err)
			}
		})
	}
}

func TestFileModes(t *testing.T) {
	requireSQLite(t)
	s, dir := create(t, pass("p"))
	putSecretSession(t, s, "x")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	for _, name := range []string{keyFileName, stateFileName, stateFileName + "-wal"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	s, dir := create(t, pass("p"))
	s.Close()
	before := snapshot(t, dir)
	if _, err := Create(t.Context(), dir, pass("other")); !errors.Is(err, ErrExist) {
		t.Fatalf("Create over a store: %v, want ErrExist", err)
	}
	assertUnchanged(t, dir, before)

	// A lone state.db (key.age lost) is not overwritten either.
	os.Remove(filepath.Join(dir, keyFileName))
	before = snapshot(t, dir)
	if _, err := Create(t.Context(), dir, pass("other")); !errors.Is(err, ErrExist) {
		t.Fatalf("Create over state.db: %v, want ErrExist", err)
	}
	assertUnchanged(t, dir, before)
}

func TestOpenMissing(t *testing.T) {
	requireSQLite(t)
	_, err := Open(t.Context(), t.TempDir(), pass("p"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of an empty directory: %v, want fs.ErrNotExist", err)
	}
	s, dir := create(t, pass("p"))
	s.Close()
	os.Remove(filepath.Join(dir, stateFileName))
	if _, err := Open(t.Context(), dir, pass("p")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open without state.db: %v, want ErrCorrupt", err)
	}
}

func TestBadUnlock(t *testing.T) {
	for name, u := range map[string]Unlock{
		"empty passphrase": Passphrase([]byte{}),
		"zero Unlock":      {},
		"work factor":      Passphrase([]byte("p")).WithWorkFactor(23),
		"garbage identity": IdentityFile([]byte("AGE-SECRET-KEY-1NOTAKEY\n")),
		"empty identity":   IdentityFile([]byte{}),
	} {
		dir := filepath.Join(t.TempDir(), "store")
		if _, err := Create(t.Context(), dir, u); err == nil {
			t.Errorf("%s: Create succeeded", name)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: Create left %s behind (%v)", name, dir, err)
		}
	}
}

func TestWrongPassphrase(t *testing.T) {
	s, dir := create(t, pass("right"))
	putSecretSession(t, s, "state")
	s.Close()
	before := snapshot(t, dir)
	_, err := Open(t.Context(), dir, pass("wrong"))
	if !errors.Is(err, ErrWrongPassphrase) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	assertUnchanged(t, dir, before)
	// An identity against a passphrase-wrapped key.
	_, err = Open(t.Context(), dir, IdentityFile(newIdentityFile(t)))
	if !errors.Is(err, ErrWrongIdentity) {
		t.Fatalf("Open of a passphrase store with an identity: %v, want ErrWrongIdentity", err)
	}
	assertUnchanged(t, dir, before)
}

func TestWrongIdentity(t *testing.T) {
	s, dir := create(t, IdentityFile(newIdentityFile(t)))
	s.Close()
	before := snapshot(t, dir)
	_, err := Open(t.Context(), dir, IdentityFile(newIdentityFile(t)))
	if !errors.Is(err, ErrWrongIdentity) || errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open with a wrong identity: %v, want ErrWrongIdentity", err)
	}
	assertUnchanged(t, dir, before)
	_, err = Open(t.Context(), dir, pass("p"))
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open of an identity store with a passphrase: %v, want ErrWrongPassphrase", err)
	}
	assertUnchanged(t, dir, before)
}

func TestChangeUnlock(t *testing.T) {
	s, dir := create(t, pass("old"))
	putSecretSession(t, s, "state")
	if err := s.ChangeUnlock(pass("new")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(t.Context(), dir, pass("old")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open with the old passphrase: %v, want ErrWrongPassphrase", err)
	}
	s, err := Open(t.Context(), dir, pass("new"))
	if err != nil {
		t.Fatalf("Open with the new passphrase: %v", err)
	}
	if got, err := getSession(s, t); err != nil || string(got.State) != "state" {
		t.Fatalf("session = %q, %v", got.State, err)
	}
	// And over to an identity.
	idFile := newIdentityFile(t)
	if err := s.ChangeUnlock(IdentityFile(idFile)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(t.Context(), dir, pass("new")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open with the replaced passphrase: %v, want ErrWrongPassphrase", err)
	}
	s, err = Open(t.Context(), dir, IdentityFile(idFile))
	if err != nil {
		t.Fatalf("Open with the identity: %v", err)
	}
	s.Close()
	// No temporary files are left behind.
	if files := snapshot(t, dir); len(files) != 2 {
		t.Errorf("store directory holds %d files after Close, want key.age and state.db", len(files))
	}
}

func TestClosed(t *testing.T) {
	s, _ := create(t, pass("p"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.sealKey.IsAlive() {
		t.Error("sealing key buffer still alive after Close")
	}
	if s.key != nil {
		t.Error("store key enclave still referenced after Close")
	}
	nop := func(Tx) error { return nil }
	if err := s.Update(t.Context(), nop); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v", err)
	}
	if err := s.View(t.Context(), nop); !errors.Is(err, ErrClosed) {
		t.Errorf("View after Close: %v", err)
	}
	if err := s.ChangeUnlock(pass("q")); !errors.Is(err, ErrClosed) {
		t.Errorf("ChangeUnlock after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestLockedByAnotherOpen(t *testing.T) {
	_, dir := create(t, pass("p"))
	before := snapshot(t, dir)
	if _, err := Open(t.Context(), dir, pass("p")); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	assertUnchanged(t, dir, before)
}

func TestLockedFirstStillWorks(t *testing.T) {
	s, dir := create(t, pass("p"))
	if _, err := Open(t.Context(), dir, pass("p")); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	putSecretSession(t, s, "after")
	if got, err := getSession(s, t); err != nil || string(got.State) != "after" {
		t.Fatalf("first store after a refused Open: %q, %v", got.State, err)
	}
}

func TestConcurrentUse(t *testing.T) {
	s, _ := create(t, pass("p"))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				err := s.Update(t.Context(), func(tx Tx) error {
					_, err := tx.MarkProcessed([]byte{byte(g), byte(i)}, time.Unix(1, 0))
					return err
				})
				if err != nil && !errors.Is(err, ErrClosed) {
					t.Error(err)
				}
				if _, err := getSession(s, t); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrClosed) {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		time.Sleep(5 * time.Millisecond)
		s.Close()
	})
	wg.Wait()
}

func TestDatabaseSettings(t *testing.T) {
	requireSQLite(t)
	s, dir := create(t, pass("p"))
	putSecretSession(t, s, "x")
	for pragma, want := range map[string]string{
		"journal_mode":  "wal",
		"synchronous":   "2", // FULL
		"locking_mode":  "exclusive",
		"secure_delete": "1",
	} {
		var got string
		if err := s.db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
	if got := s.db.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("pool allows %d connections, want 1", got)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFileName+"-shm")); err == nil {
		t.Error("a -shm file exists in exclusive locking mode")
	}
}

// A transaction whose context ends before the commit reports the
// context's error, and nothing of it is stored.
func TestUpdateContextEndsBeforeCommit(t *testing.T) {
	s, _ := create(t, pass("p"))
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	err := s.Update(ctx, func(tx Tx) error {
		if _, err := tx.MarkProcessed([]byte("id"), t0); err != nil {
			return err
		}
		cancel()
		// database/sql rolls the transaction back when ctx ends; let it
		// do so before the commit, as a busy machine would.
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with ctx cancelled before the commit: %v, want context.Canceled", err)
	}
	view(t, s, func(tx Tx) error {
		if done, err := tx.IsProcessed([]byte("id")); err != nil || done {
			t.Errorf("IsProcessed after the rolled back transaction: %v, %v", done, err)
		}
		return nil
	})
}
