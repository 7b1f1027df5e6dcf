package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sealpost/sealpost/internal/keyfile"
)

// Files in the data directory besides the certificate (tlsconfig
// names those). The signing keys are Ed25519 private keys as PEM
// "PRIVATE KEY" blocks (PKCS #8), mode 0600, readable with
// `openssl pkey -in token-key.pem -pubout`.
const (
	tokenKeyFile = "token-key.pem" // signs access tokens
	logKeyFile   = "log-key.pem"   // signs transparency checkpoints
	// vrfKeyFile holds the key directory's VRF key
	// (spec/transparency-v2.md §3): its 32-byte secret key string stored
	// as an Ed25519 seed in the same PKCS #8 form, since RFC 9381's
	// ECVRF-EDWARDS25519 keys are RFC 8032 keys (the public key `openssl
	// pkey -pubout` prints is the VRF public key). It is never used to
	// sign.
	vrfKeyFile = "vrf-key.pem"
	// logVerifierFile holds the log's verifier key (public), written at
	// every start for clients to configure (sealpost init --log-key).
	logVerifierFile = "log-verifier-key.txt"
	sqliteFile      = "keyserver.db" // the SQLite database (with -wal and -shm)
)

// prepareDataDir creates dir with mode 0700 if it does not exist, and
// warns if an existing one is open to other users.
func prepareDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("data directory is accessible by other users; chmod 700 it", "dir", dir, "mode", fi.Mode().Perm().String())
	}
	return nil
}

// loadOrCreateKey returns the Ed25519 key in path, generating and writing
// it first if the file does not exist.
func loadOrCreateKey(path string, log *slog.Logger) (ed25519.PrivateKey, error) {
	for range 2 {
		key, err := readKey(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return key, err
		}
		_, key, err = ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating %s: %w", path, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", path, err)
		}
		err = writeNewFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		if errors.Is(err, fs.ErrExist) {
			continue // another process wrote it first: read that one
		}
		if err != nil {
			return nil, err
		}
		log.Info("generated signing key", "file", path)
		return key, nil
	}
	return readKey(path)
}

// readKey reads a signing key written by loadOrCreateKey.
func readKey(path string) (ed25519.PrivateKey, error) { return keyfile.ReadEd25519(path) }

// writeNewFile writes data to a new file at path with mode 0600, durably
// and atomically: a temporary file is written and synced, then linked to
// path, which fails with fs.ErrExist rather than replace an existing file.
func writeNewFile(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer func() {
		if cerr := tmp.Close(); err == nil && cerr != nil && !errors.Is(cerr, os.ErrClosed) {
			err = cerr
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writePublicFile replaces path with data (mode 0644) unless it already
// holds exactly that: a temporary file is written, synced and renamed.
func writePublicFile(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
