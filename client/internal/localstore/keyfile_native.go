//go:build !js

package localstore

import (
	"fmt"
	"io"
	"os"
)

// readKeyFile decrypts key.age at path with u and returns the store key,
// which the caller wipes (spec/client-store.md §2).
func readKeyFile(path string, u Unlock) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("localstore: open: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("localstore: read %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, corrupt("%s is larger than %d bytes", path, maxKeyFileSize)
	}
	return unwrapKey(path, data, u)
}
