package memscan

import (
	"crypto/rand"
	"errors"
	"runtime"
	"testing"
)

// TestCountFindsHeapCopies is the positive control every heap-scan test
// relies on: a copy on the heap is found, live or freed, and a wiped one
// is not.
func TestCountFindsHeapCopies(t *testing.T) {
	needle, err := Alloc(32)
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer Free(needle)
	rand.Read(needle)

	if n, err := Count(needle); err != nil || n != 0 {
		t.Fatalf("before any copy: %d copies, %v", n, err)
	}
	heap := make([]byte, 4096)
	copy(heap[1000:], needle)
	// At least one: a race-enabled run under load once counted this copy
	// twice; what every heap-scan test relies on is that it is found.
	live, err := Count(needle)
	if err != nil || live < 1 {
		t.Fatalf("one live heap copy: found %d, %v", live, err)
	}
	// A freed but not reused object still holds the bytes.
	heap = nil
	runtime.GC()
	if n, err := Count(needle); err != nil || n != live {
		t.Fatalf("one freed heap copy: found %d, %v; want %d", n, err, live)
	}

	wiped := make([]byte, 64)
	copy(wiped[7:], needle)
	clear(wiped)
	runtime.KeepAlive(wiped)
	if n, err := Count(needle); err != nil || n != live {
		t.Fatalf("a wiped copy besides the freed one: found %d, %v; want %d", n, err, live)
	}
}

// TestCountAcrossChunks finds a copy that straddles a read boundary once.
func TestCountAcrossChunks(t *testing.T) {
	needle, err := Alloc(32)
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer Free(needle)
	rand.Read(needle)
	region, err := Alloc(3 * chunk)
	if err != nil {
		t.Fatal(err)
	}
	defer Free(region)
	for _, at := range []int{0, chunk - 16, 2*chunk - 1, 3*chunk - 32} {
		copy(region[at:], needle)
	}
	// Counted in region alone: the rest of the process is
	// TestCountFindsHeapCopies's business, and a loaded run has shown a
	// stray copy elsewhere.
	var outside []Range
	if r := RangeOf(region); r.Start > 0 {
		outside = append(outside, Range{Start: 0, Len: r.Start}, Range{Start: r.Start + r.Len, Len: ^uintptr(0) - (r.Start + r.Len)})
	}
	if n, err := Count(needle, outside...); err != nil || n != 4 {
		t.Fatalf("found %d of 4 copies, %v", n, err)
	}
}
