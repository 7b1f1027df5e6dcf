// Package vectors loads spec/vectors/*.json for tests and fuzz seeds. Decoding
// refuses any field the test's structs do not know, so a vector file that
// grows a field fails every test until the test checks it too.
package vectors

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Dir returns the absolute path of spec/vectors in this repository.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("vectors: cannot locate source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "spec", "vectors")
}

// File is the common shape of every vector file: a description and a list
// of cases whose shape each file defines.
type File[T any] struct {
	Description string `json:"description"`
	Spec        string `json:"spec"`
	Cases       []T    `json:"cases"`
}

// Load decodes spec/vectors/name strictly into a File[T]. It fails if the
// file is missing, has unknown fields or trailing data, or holds no cases.
func Load[T any](name string) (*File[T], error) {
	b, err := os.ReadFile(filepath.Join(Dir(), name))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f File[T]
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("vectors: %s: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("vectors: %s: trailing data", name)
	}
	if len(f.Cases) == 0 {
		return nil, fmt.Errorf("vectors: %s: no cases", name)
	}
	return &f, nil
}

// Hex is a byte string encoded as lower-case hex in JSON.
type Hex []byte

func (h Hex) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = d
	return nil
}
