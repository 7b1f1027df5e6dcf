package main

import (
	"encoding/json"
	"path/filepath"

	"github.com/sealpost/sealpost/internal/vectors"
)

func vectorPath(name string) string { return filepath.Join(vectors.Dir(), name) }

// encode returns the indented JSON of a vector file.
func encode[T any](f *vectors.File[T]) ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
