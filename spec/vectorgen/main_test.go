package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGeneratedVectorsUpToDate checks that every committed vector file is
// byte for byte what the generator writes, so vectors and code never drift.
func TestGeneratedVectorsUpToDate(t *testing.T) {
	if len(generators) == 0 {
		t.Fatal("no generators registered")
	}
	for _, n := range names() {
		t.Run(n, func(t *testing.T) {
			want, err := generators[n]()
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(vectorPath(n))
			if err != nil {
				t.Fatalf("%v (run go run ./spec/vectorgen)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("spec/vectors/%s is stale: run go run ./spec/vectorgen", n)
			}
		})
	}
}
