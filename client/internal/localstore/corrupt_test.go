//go:build !js

package localstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCorruptKeyFile truncates key.age at every length and flips every
// byte: Open never succeeds and never panics. A damaged header or payload
// is ErrCorrupt; a flipped bit in the scrypt stanza's salt or body cannot be
// told from a wrong passphrase (spec/client-store.md §2.3), so
// ErrWrongPassphrase is accepted there only.
func TestCorruptKeyFile(t *testing.T) {
	s, dir := create(t, pass("p"))
	s.Close()
	keyPath := filepath.Join(dir, keyFileName)
	orig, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	// The scrypt stanza's salt follows "-> scrypt "; its body is the next
	// line.
	stanza := bytes.Index(orig, []byte("\n-> scrypt "))
	bodyStart := stanza + len("\n-> scrypt ")
	bodyEnd := bodyStart + bytes.IndexByte(orig[bodyStart:], '\n') + 1
	bodyEnd += bytes.IndexByte(orig[bodyEnd:], '\n')
	if stanza < 0 || bodyEnd <= bodyStart {
		t.Fatalf("unexpected key.age layout:\n%s", orig)
	}
	stateBefore := snapshot(t, dir)[stateFileName]

	open := func(data []byte) error {
		if err := os.WriteFile(keyPath, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(t.Context(), dir, pass("p"))
		if err == nil {
			s.Close()
		}
		return err
	}
	for n := range len(orig) {
		if err := open(orig[:n]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("key.age truncated to %d bytes: %v, want ErrCorrupt", n, err)
		}
	}
	if err := open(append(bytes.Clone(orig), 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("key.age with a byte appended: %v, want ErrCorrupt", err)
	}
	for i := range orig {
		data := bytes.Clone(orig)
		data[i] ^= 0x01
		err := open(data)
		inBody := i >= bodyStart && i < bodyEnd
		switch {
		case err == nil:
			t.Errorf("key.age with byte %d flipped opened", i)
		case errors.Is(err, ErrCorrupt):
		case inBody && errors.Is(err, ErrWrongPassphrase):
		default:
			t.Errorf("key.age with byte %d flipped: %v, want ErrCorrupt", i, err)
		}
	}
	if got := snapshot(t, dir)[stateFileName]; !bytes.Equal(got, stateBefore) {
		t.Error("state.db changed while key.age was corrupt")
	}
	if err := open(orig); err != nil {
		t.Fatalf("restored key.age: %v", err)
	}
}

func TestCorruptStateDB(t *testing.T) {
	requireSQLite(t)
	s, dir := create(t, pass("p"))
	putSecretSession(t, s, "state")
	s.Close()
	statePath := filepath.Join(dir, stateFileName)
	orig, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	other, otherDir := create(t, pass("p"))
	other.Close()
	otherState, err := os.ReadFile(filepath.Join(otherDir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	zeroHeader := bytes.Clone(orig)
	clear(zeroHeader[:100])
	// A valid SQLite database that is not a client store.
	foreign, foreignDir := create(t, pass("p"))
	if _, err := foreign.db.Exec(`DROP TABLE schema_migrations`); err != nil {
		t.Fatal(err)
	}
	foreign.Close()
	foreignState, err := os.ReadFile(filepath.Join(foreignDir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		data []byte
	}{
		{"garbage", bytes.Repeat([]byte("not a database "), 500)},
		{"zeroed header", zeroHeader},
		{"truncated to 100 bytes", orig[:100]},
		{"truncated to half", orig[:len(orig)/2]},
		{"another store's state.db", otherState},
		{"not a client store", foreignState},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, suffix := range []string{"-wal", "-shm"} {
				os.Remove(statePath + suffix)
			}
			if err := os.WriteFile(statePath, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(t.Context(), dir, pass("p"))
			if err == nil {
				// Damage past the pages Open reads shows on first use.
				_, err = getSession(s, t)
				s.Close()
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			t.Log(err)
		})
	}
}

// TestDamagedStateDBNeverLies flips bytes throughout state.db: Open and
// reads either fail with ErrCorrupt (or ErrNotFound, when a key column was
// hit), or return exactly what was stored. No panic, no silently altered
// secret.
func TestDamagedStateDBNeverLies(t *testing.T) {
	requireSQLite(t)
	s, dir := create(t, pass("p"))
	putSecretSession(t, s, "the ratchet state")
	s.Close()
	statePath := filepath.Join(dir, stateFileName)
	orig, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	// About 150 positions spread over the file (an Open costs a few ms).
	step := max(1, len(orig)/150) | 1
	for i := 0; i < len(orig); i += step {
		data := bytes.Clone(orig)
		data[i] ^= 0x55
		os.Remove(statePath + "-wal")
		if err := os.WriteFile(statePath, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(t.Context(), dir, pass("p"))
		if err == nil {
			var got Session
			got, err = getSession(s, t)
			if err == nil && string(got.State) != "the ratchet state" {
				t.Errorf("byte %d flipped: session state read as %q", i, got.State)
			}
			s.Close()
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotFound) {
			t.Errorf("byte %d flipped: %v, want ErrCorrupt or ErrNotFound", i, err)
		}
	}
}
