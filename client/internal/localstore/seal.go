package localstore

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sealing (spec/client-store.md §3).
const (
	// sealKeyInfo is the HKDF info deriving the sealing key (§3.1).
	sealKeyInfo = "sealpost/v1/client-store"
	// sealVersion is the first byte of every sealed value (§3.2).
	sealVersion = 0x01
	// sealOverhead is what sealing adds to a plaintext.
	sealOverhead = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
)

// deriveSealKey returns HKDF-SHA256(salt = empty, ikm = storeKey,
// info = sealKeyInfo, 32) (§3.1).
func deriveSealKey(storeKey []byte) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, storeKey, nil, sealKeyInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("localstore: derive sealing key: %w", err)
	}
	return k, nil
}

// rowKey builds a sealed value's associated data (§3.3):
// table || 0x00 || column || 0x00 || fields, each field a uint64 big-endian
// (integers) or a uint32 big-endian length and the bytes (text, blobs).
type rowKey []byte

func newRowKey(table, column string) rowKey {
	b := make([]byte, 0, 64)
	b = append(b, table...)
	b = append(b, 0)
	b = append(b, column...)
	b = append(b, 0)
	return b
}

func (k rowKey) int(v uint64) rowKey { return binary.BigEndian.AppendUint64(k, v) }

func (k rowKey) bytes(v []byte) rowKey {
	k = binary.BigEndian.AppendUint32(k, uint32(len(v)))
	return append(k, v...)
}

func (k rowKey) text(v string) rowKey { return k.bytes([]byte(v)) }

// seal encrypts plaintext for the row and column named by ad (§3.2):
// 0x01 || nonce (24 random bytes) || XChaCha20-Poly1305(sealKey, nonce,
// plaintext, ad). The caller holds s.mu for reading and has checked
// s.closed.
func (s *Store) seal(ad rowKey, plaintext []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(s.sealKey.Bytes())
	if err != nil {
		return nil, fmt.Errorf("localstore: seal: %w", err)
	}
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, sealOverhead+len(plaintext))
	out[0] = sealVersion
	if err := randRead(out[1:]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[1:], plaintext, ad), nil
}

// open decrypts a value sealed for ad. Any failure is ErrCorrupt naming
// the table and column, never the value.
func (s *Store) open(ad rowKey, sealed []byte) ([]byte, error) {
	if len(sealed) < sealOverhead || sealed[0] != sealVersion {
		return nil, corrupt("sealed value in %s is malformed", adName(ad))
	}
	aead, err := chacha20poly1305.NewX(s.sealKey.Bytes())
	if err != nil {
		return nil, fmt.Errorf("localstore: open: %w", err)
	}
	nonce := sealed[1 : 1+chacha20poly1305.NonceSizeX]
	pt, err := aead.Open(nil, nonce, sealed[1+chacha20poly1305.NonceSizeX:], ad)
	if err != nil {
		return nil, corrupt("sealed value in %s does not open (damaged or moved)", adName(ad))
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// adName returns "table.column" from associated data.
func adName(ad rowKey) string {
	var parts [2][]byte
	rest := []byte(ad)
	for i := range parts {
		for j, c := range rest {
			if c == 0 {
				parts[i], rest = rest[:j], rest[j+1:]
				break
			}
		}
	}
	return string(parts[0]) + "." + string(parts[1])
}
