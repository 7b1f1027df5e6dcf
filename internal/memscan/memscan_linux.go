package memscan

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// chunk is how much of a mapping Count reads at once.
const chunk = 1 << 20

// Alloc returns n bytes of zeroed memory mapped outside the Go heap, for a
// needle that must not itself be found. Free releases it.
func Alloc(n int) ([]byte, error) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("memscan: mmap: %w", err)
	}
	return b, nil
}

// Free wipes and unmaps memory from Alloc.
func Free(b []byte) {
	clear(b)
	syscall.Munmap(b)
}

// RangeOf returns the Range b occupies.
func RangeOf(b []byte) Range {
	if len(b) == 0 {
		return Range{}
	}
	return Range{uintptr(unsafe.Pointer(&b[0])), uintptr(len(b))}
}

// Count returns how many times needle (from Alloc) occurs in the process's
// readable memory outside the skip ranges. Mappings the kernel will not let
// the process read (guard pages, [vvar]) are passed over.
func Count(needle []byte, skip ...Range) (int, error) {
	if len(needle) == 0 {
		return 0, fmt.Errorf("memscan: empty needle")
	}
	buf, err := Alloc(chunk + len(needle))
	if err != nil {
		return 0, err
	}
	defer Free(buf)
	skip = append(skip, RangeOf(needle), RangeOf(buf))

	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("memscan: %w", err)
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		return 0, fmt.Errorf("memscan: %w", err)
	}
	defer mem.Close()

	total := 0
	sc := bufio.NewScanner(strings.NewReader(string(maps)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[1][0] != 'r' {
			continue
		}
		if len(f) >= 6 && (f[5] == "[vvar]" || f[5] == "[vsyscall]" || f[5] == "[vvar_vclock]") {
			continue
		}
		lo, hi, ok := parseRange(f[0])
		if !ok {
			continue
		}
		for _, r := range split(lo, hi, skip) {
			total += scanRange(mem, buf, needle, r[0], r[1])
		}
	}
	return total, nil
}

func parseRange(s string) (lo, hi uintptr, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(a, 16, 64)
	y, err2 := strconv.ParseUint(b, 16, 64)
	return uintptr(x), uintptr(y), err1 == nil && err2 == nil && x < y
}

// split returns [lo, hi) less the skip ranges, as [start, end) pairs.
func split(lo, hi uintptr, skip []Range) [][2]uintptr {
	parts := [][2]uintptr{{lo, hi}}
	for _, s := range skip {
		if s.Len == 0 {
			continue
		}
		sLo, sHi := s.Start, s.Start+s.Len
		var next [][2]uintptr
		for _, p := range parts {
			if sHi <= p[0] || sLo >= p[1] {
				next = append(next, p)
				continue
			}
			if sLo > p[0] {
				next = append(next, [2]uintptr{p[0], sLo})
			}
			if sHi < p[1] {
				next = append(next, [2]uintptr{sHi, p[1]})
			}
		}
		parts = next
	}
	return parts
}

// scanRange counts needle in [lo, hi), reading chunks that overlap by
// len(needle)-1 bytes so a copy across a chunk boundary is counted once.
func scanRange(mem *os.File, buf, needle []byte, lo, hi uintptr) int {
	n := 0
	over := uintptr(len(needle) - 1)
	for off := lo; off < hi; {
		end := min(off+chunk+over, hi)
		got, err := mem.ReadAt(buf[:end-off], int64(off))
		if got > 0 {
			n += count(buf[:got], needle)
		}
		if err != nil && got < int(end-off) {
			return n // unreadable from here on
		}
		if end == hi {
			break
		}
		off += chunk
	}
	clear(buf)
	return n
}
