package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
	"github.com/sealpost/sealpost/internal/secmem"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/api"
)

// Backups (spec/client.md §9).
const (
	backupFormat = "sealpost-backup-v1"
	// maxBackupSize caps what Restore reads.
	maxBackupSize = 4 << 20
	// maxBackupWorkFactor is the largest scrypt work factor Restore
	// accepts (age's own default limit).
	maxBackupWorkFactor = 22
)

// backup is the plaintext of a backup file (spec/client.md §9.1).
type backup struct {
	Format      string          `json:"format"`
	Handle      string          `json:"handle"`
	AccountSeed api.Bytes       `json:"account_seed"`
	Contacts    []backupContact `json:"contacts"`
	Checkpoint  string          `json:"checkpoint,omitempty"`
	Created     time.Time       `json:"created"`
}

type backupContact struct {
	Handle     string    `json:"handle"`
	AccountKey api.Bytes `json:"account_key"`
	Verified   bool      `json:"verified"`
}

// ExportBackup writes an encrypted backup of the account to w: the
// account key, the contacts with their verified keys, and the pinned
// checkpoint, age-encrypted to passphrase (scrypt). It holds no sessions
// and no messages. Restore turns it into a new device of the account
// (spec/client.md §9). Anyone with the file and the passphrase controls
// the account: choose a strong passphrase. Needs the account key
// (ErrNoAccountKey).
func (c *Client) ExportBackup(ctx context.Context, w io.Writer, passphrase []byte) error {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	if len(passphrase) == 0 {
		return errors.New("client: empty backup passphrase")
	}
	if !id.hasAccount {
		return ErrNoAccountKey
	}
	b := backup{Format: backupFormat, Handle: id.handle, Created: time.Now().UTC().Truncate(time.Second), Contacts: []backupContact{}}
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		cs, err := tx.Contacts()
		if err != nil {
			return err
		}
		for _, ct := range cs {
			b.Contacts = append(b.Contacts, backupContact{Handle: ct.Handle, AccountKey: ct.AccountKey[:], Verified: ct.Verified})
		}
		cp, _, err := tx.Checkpoint()
		if err == nil {
			b.Checkpoint = string(cp)
		} else if !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	ak, release, err := id.accountPrivate()
	if err != nil {
		return err
	}
	b.AccountSeed = ak.Seed()
	release()
	plain, err := json.Marshal(b)
	secmem.WipeBytes(b.AccountSeed)
	if err != nil {
		return err
	}
	defer secmem.WipeBytes(plain)
	r, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return fmt.Errorf("client: backup: %w", err)
	}
	if c.cfg.WorkFactor > 0 {
		r.SetWorkFactor(c.cfg.WorkFactor)
	}
	var out bytes.Buffer
	aw, err := age.Encrypt(&out, r)
	if err != nil {
		return fmt.Errorf("client: backup: %w", err)
	}
	if _, err := aw.Write(plain); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	_, err = w.Write(out.Bytes())
	return err
}

// readBackup decrypts and parses a backup.
func readBackup(r io.Reader, passphrase []byte) (*backup, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxBackupSize+1))
	if err != nil {
		return nil, fmt.Errorf("client: reading the backup: %w", err)
	}
	if len(data) > maxBackupSize {
		return nil, fmt.Errorf("%w: backup larger than %d bytes", ErrCorrupt, maxBackupSize)
	}
	id, err := age.NewScryptIdentity(string(passphrase))
	if err != nil {
		return nil, fmt.Errorf("client: backup passphrase: %w", err)
	}
	id.SetMaxWorkFactor(maxBackupWorkFactor)
	ar, err := age.Decrypt(bytes.NewReader(data), id)
	if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
		return nil, fmt.Errorf("%w: the backup does not open with this passphrase", ErrWrongPassphrase)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: backup: %v", ErrCorrupt, err)
	}
	plain, err := io.ReadAll(io.LimitReader(ar, maxBackupSize))
	defer secmem.WipeBytes(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: backup: %v", ErrCorrupt, err)
	}
	var b backup
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || dec.More() {
		return nil, fmt.Errorf("%w: backup contents do not parse", ErrCorrupt)
	}
	if b.Format != backupFormat {
		return nil, fmt.Errorf("%w: backup format %q, want %q", ErrCorrupt, b.Format, backupFormat)
	}
	if keys.CheckHandle(b.Handle) != nil || len(b.AccountSeed) != seedSize {
		return nil, fmt.Errorf("%w: backup handle or account key", ErrCorrupt)
	}
	for _, ct := range b.Contacts {
		if keys.CheckHandle(ct.Handle) != nil || len(ct.AccountKey) != 32 {
			return nil, fmt.Errorf("%w: backup contact", ErrCorrupt)
		}
	}
	return &b, nil
}

// Restore makes a new device of the account in backup: it creates the
// store in cfg.Dir (which must not hold one), certifies new device keys
// with the backed-up account key, adds the device to the account, and
// restores the contacts and the pinned checkpoint (spec/client.md §9.2).
// The new device has no sessions and none of the old messages. Errors:
// ErrWrongPassphrase (the backup's), ErrCorrupt, ErrAlreadyRegistered,
// ErrSecurity (the key server lists another account key for the handle).
func Restore(ctx context.Context, cfg Config, backupFile io.Reader, passphrase []byte) (*Client, error) {
	b, err := readBackup(backupFile, passphrase)
	if err != nil {
		return nil, err
	}
	defer secmem.WipeBytes(b.AccountSeed)
	ak, err := keys.NewAccountPrivateKey(b.AccountSeed)
	if err != nil {
		return nil, fmt.Errorf("%w: backup account key: %v", ErrCorrupt, err)
	}
	defer ak.Zero()
	cfg.Create = true
	c, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.restore(ctx, b, ak); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) restore(ctx context.Context, b *backup, ak *keys.AccountPrivateKey) error {
	if c.identity() != nil {
		return ErrAlreadyRegistered
	}
	if b.Checkpoint != "" && c.pinText == nil {
		c.pinText = []byte(b.Checkpoint)
	}
	d, err := c.lookup(ctx, b.Handle, true)
	if err != nil {
		return err
	}
	if d.entry.AccountKey != ak.Public() {
		return c.securityError(b.Handle, errors.New("the key server lists another account key than the backup's"))
	}
	dk, err := keys.GenerateDeviceKeys(rand.Reader)
	if err != nil {
		return err
	}
	defer dk.Zero()
	dev, cert, err := linkDevice(ctx, c.ks, b.Handle, ak, dk, d.entry)
	if err != nil {
		return err
	}
	c.forget(b.Handle)
	return c.adopt(ctx, localstore.Identity{
		Handle:      b.Handle,
		DeviceID:    uint32(dev),
		AccountSeed: ak.Seed(),
		SigningSeed: dk.SigningSeed(),
		DHPrivate:   dk.DHPrivate(),
		Certificate: cert.Marshal(),
	}, func(tx localstore.Tx) error {
		for _, ct := range b.Contacts {
			if err := tx.PutContact(localstore.Contact{Handle: ct.Handle, AccountKey: [32]byte(ct.AccountKey), Verified: ct.Verified}); err != nil {
				return err
			}
		}
		if c.pin != nil {
			return tx.PutCheckpoint(c.pin.Signed, time.Now())
		}
		return nil
	})
}
