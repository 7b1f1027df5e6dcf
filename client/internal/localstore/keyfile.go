package localstore

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"filippo.io/age"
	"github.com/sealpost/sealpost/internal/secmem"
)

// storeKeySize is the length of the store key, the whole plaintext of
// key.age (spec/client-store.md §2).
const storeKeySize = 32

// maxKeyFileSize bounds what Open reads of key.age; a real one is a few
// hundred bytes.
const maxKeyFileSize = 64 << 10

// DefaultWorkFactor is the scrypt work factor (log2 N) used when wrapping
// the store key to a passphrase, age's default (about a second).
const DefaultWorkFactor = 18

// maxWorkFactor is the largest scrypt work factor Open accepts in key.age,
// age's default cap.
const maxWorkFactor = 22

// Unlock says how key.age is decrypted (Open) or encrypted (Create,
// ChangeUnlock): with a passphrase or with an age identity file. The bytes
// it refers to are not copied: keep them unchanged until the call returns,
// then zero them.
type Unlock struct {
	passphrase []byte
	identity   []byte
	logN       int
}

// Passphrase returns an Unlock for a passphrase (an age scrypt recipient).
func Passphrase(p []byte) Unlock { return Unlock{passphrase: p, logN: DefaultWorkFactor} }

// IdentityFile returns an Unlock for an age identity file (one or more
// AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1… lines, as written by age-keygen).
func IdentityFile(identityFile []byte) Unlock { return Unlock{identity: identityFile} }

// WithWorkFactor returns u with scrypt work factor logN (1 to 22) for
// wrapping the store key to a passphrase. Tests use small values; Open
// accepts any work factor up to 22.
func (u Unlock) WithWorkFactor(logN int) Unlock {
	u.logN = logN
	return u
}

func (u Unlock) isPassphrase() bool { return u.passphrase != nil }

func (u Unlock) check() error {
	switch {
	case u.passphrase != nil && u.identity != nil:
		return errors.New("localstore: unlock has both a passphrase and an identity")
	case u.passphrase != nil:
		if len(u.passphrase) == 0 {
			return errors.New("localstore: empty passphrase")
		}
		if u.logN < 1 || u.logN > maxWorkFactor {
			return fmt.Errorf("localstore: scrypt work factor %d out of range 1 to %d", u.logN, maxWorkFactor)
		}
	case u.identity != nil:
		if _, err := u.identities(); err != nil {
			return err
		}
	default:
		return errors.New("localstore: no passphrase or identity")
	}
	return nil
}

// identities parses the identity file. age's parse errors are not passed on:
// they could quote part of the file.
func (u Unlock) identities() ([]age.Identity, error) {
	ids, err := age.ParseIdentities(bytes.NewReader(u.identity))
	if err != nil {
		return nil, errors.New("localstore: invalid age identity file")
	}
	return ids, nil
}

// recipients returns what Create and ChangeUnlock encrypt key.age to.
func (u Unlock) recipients() ([]age.Recipient, error) {
	if u.isPassphrase() {
		r, err := age.NewScryptRecipient(string(u.passphrase))
		if err != nil {
			return nil, fmt.Errorf("localstore: %w", err)
		}
		r.SetWorkFactor(u.logN)
		return []age.Recipient{r}, nil
	}
	ids, err := u.identities()
	if err != nil {
		return nil, err
	}
	var rs []age.Recipient
	for _, id := range ids {
		switch id := id.(type) {
		case *age.X25519Identity:
			rs = append(rs, id.Recipient())
		case *age.HybridIdentity:
			rs = append(rs, id.Recipient())
		default:
			return nil, fmt.Errorf("localstore: unsupported age identity type %T", id)
		}
	}
	return rs, nil
}

// decryptIdentities returns what Open decrypts key.age with.
func (u Unlock) decryptIdentities() ([]age.Identity, error) {
	if u.isPassphrase() {
		id, err := age.NewScryptIdentity(string(u.passphrase))
		if err != nil {
			return nil, fmt.Errorf("localstore: %w", err)
		}
		id.SetMaxWorkFactor(maxWorkFactor)
		return []age.Identity{id}, nil
	}
	return u.identities()
}

// knownStanzaTypes are the age recipient types key.age may hold; another
// type means damage, not a wrong passphrase or identity.
var knownStanzaTypes = []string{"scrypt", "X25519", "mlkem768x25519"}

// unwrapKey decrypts key.age's contents (named path in errors) with u and
// returns the store key, which the caller wipes (spec/client-store.md §2).
func unwrapKey(path string, data []byte, u Unlock) ([]byte, error) {
	if len(data) > maxKeyFileSize {
		return nil, corrupt("%s is larger than %d bytes", path, maxKeyFileSize)
	}
	ids, err := u.decryptIdentities()
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(data), ids...)
	if noMatch, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
		for _, typ := range noMatch.StanzaTypes {
			if !slices.Contains(knownStanzaTypes, typ) {
				return nil, corrupt("%s has a recipient stanza of unknown type", path)
			}
		}
		isScrypt := slices.Equal(noMatch.StanzaTypes, []string{"scrypt"})
		switch {
		case u.isPassphrase() && !isScrypt:
			return nil, fmt.Errorf("%w: %s is encrypted to an age identity, not a passphrase", ErrWrongPassphrase, path)
		case u.isPassphrase():
			return nil, ErrWrongPassphrase
		case slices.Contains(noMatch.StanzaTypes, "scrypt"):
			return nil, fmt.Errorf("%w: %s is encrypted to a passphrase, not an identity", ErrWrongIdentity, path)
		default:
			return nil, ErrWrongIdentity
		}
	}
	if err != nil {
		return nil, corrupt("%s: %v", path, err)
	}
	// One byte more than a store key tells a too-long payload apart.
	key := make([]byte, storeKeySize+1)
	n, err := io.ReadFull(r, key)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		secmem.WipeBytes(key)
		return nil, corrupt("%s: %v", path, err)
	}
	if n != storeKeySize {
		secmem.WipeBytes(key)
		return nil, corrupt("%s does not hold a %d-byte store key", path, storeKeySize)
	}
	return key[:storeKeySize], nil
}

// writeKeyFile wraps the store key to u and replaces key.age atomically
// (in the kv engine, the backend's key record). The caller holds s.mu or
// owns s exclusively.
func (s *Store) writeKeyFile(u Unlock) error {
	data, err := s.wrapKey(u)
	if err != nil {
		return err
	}
	if s.kv != nil {
		return s.kv.backend.writeKeyFile(data)
	}
	return writeFileAtomic(filepath.Join(s.dir, keyFileName), data)
}

// wrapKey returns key.age's contents: the store key encrypted with age to u.
func (s *Store) wrapKey(u Unlock) ([]byte, error) {
	rs, err := u.recipients()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, rs...)
	if err != nil {
		return nil, fmt.Errorf("localstore: wrap store key: %w", err)
	}
	err = guard(func() error {
		key, err := s.key.Open()
		if err != nil {
			return err
		}
		defer key.Destroy()
		if _, err := w.Write(key.Bytes()); err != nil {
			return err
		}
		return w.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("localstore: wrap store key: %w", err)
	}
	return out.Bytes(), nil
}

// writeFileAtomic replaces path with data: write a temporary file in the
// same directory, fsync it, rename it over path, fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("localstore: write %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("localstore: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("localstore: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("localstore: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("localstore: write %s: %w", path, err)
	}
	done = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("localstore: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("localstore: sync %s: %w", dir, err)
	}
	return nil
}

// ChangeUnlock rewraps the store key to u (a new passphrase, or an
// identity) and atomically replaces key.age; the store key and state.db do
// not change. Until it returns, Open accepts only the old unlock; after, only
// the new one.
func (s *Store) ChangeUnlock(u Unlock) error {
	if err := u.check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.writeKeyFile(u)
}

// randRead fills b from crypto/rand.
func randRead(b []byte) error {
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return fmt.Errorf("localstore: random: %w", err)
	}
	return nil
}
