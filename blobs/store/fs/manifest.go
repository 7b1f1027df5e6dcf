package fs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/sealpost/sealpost/blobs/store"
)

// The manifest of a complete blob, a text file:
//
//	sealpost-blob 1
//	handle <upload handle>
//	size <total bytes>
//	part <file name> <bytes>      one line per part, in order
const manifestMagic = "sealpost-blob 1"

// maxManifestSize bounds what readManifest reads: MaxParts lines of at
// most 47 bytes, and the header.
const maxManifestSize = 128 + store.MaxParts*48

type blobManifest struct {
	handle string
	size   int64
	parts  []partRef
}

type partRef struct {
	name string
	size int64
}

func (m blobManifest) marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nhandle %s\nsize %d\n", manifestMagic, m.handle, m.size)
	for _, p := range m.parts {
		fmt.Fprintf(&b, "part %s %d\n", p.name, p.size)
	}
	return b.Bytes()
}

// parseManifest reads a manifest, refusing anything but the exact format
// with part names of this package and sizes that add up.
func parseManifest(b []byte) (blobManifest, error) {
	var m blobManifest
	bad := func(why string) (blobManifest, error) {
		return blobManifest{}, fmt.Errorf("fs: corrupt manifest: %s", why)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return bad("not whole")
	}
	lines := strings.Split(string(b[:len(b)-1]), "\n")
	if len(lines) < 4 || lines[0] != manifestMagic {
		return bad("header")
	}
	h, ok := strings.CutPrefix(lines[1], "handle ")
	if !ok || !validHex(h, handleLen) {
		return bad("handle")
	}
	m.handle = h
	s, ok := strings.CutPrefix(lines[2], "size ")
	if !ok {
		return bad("size")
	}
	size, err := parseCount(s)
	if err != nil {
		return bad("size")
	}
	m.size = size
	if len(lines)-3 > store.MaxParts {
		return bad("too many parts")
	}
	var sum int64
	for _, l := range lines[3:] {
		f := strings.Split(l, " ")
		if len(f) != 3 || f[0] != "part" || !validPartName(f[1]) {
			return bad("part line")
		}
		n, err := parseCount(f[2])
		if err != nil || n > size-sum {
			return bad("part size")
		}
		sum += n
		m.parts = append(m.parts, partRef{name: f[1], size: n})
	}
	if sum != size {
		return bad("part sizes")
	}
	return m, nil
}

// parseCount parses a byte count as the manifest writes it: decimal,
// no sign, no leading zero (but "0"), so that a manifest has one encoding.
func parseCount(s string) (int64, error) {
	if s == "" || s[0] == '+' || s[0] == '-' || (len(s) > 1 && s[0] == '0') {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseInt(s, 10, 64)
}

// validPartName reports whether name is partName(n, tag) for a valid n
// and tag.
func validPartName(name string) bool {
	num, tag, ok := strings.Cut(name, "-")
	if !ok || len(num) != 5 || !validHex(tag, tagLen) {
		return false
	}
	n, err := strconv.Atoi(num)
	return err == nil && n >= 1 && n <= store.MaxParts && partName(n, tag) == name
}

// readManifest reads and parses root's manifest.
func readManifest(root *os.Root) (blobManifest, error) {
	f, err := root.Open(manifest)
	if err != nil {
		return blobManifest{}, err
	}
	defer f.Close()
	b, err := readLimited(f, maxManifestSize)
	if err != nil {
		return blobManifest{}, fmt.Errorf("fs: reading manifest: %w", err)
	}
	return parseManifest(b)
}

func readLimited(f *os.File, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return b, nil
}

// writeManifest writes m into root as a temporary file, fsyncs it and
// renames it to the manifest (the caller fsyncs the directory).
func writeManifest(root *os.Root, m blobManifest) error {
	tmp := tmpPrefix + randomHex(8)
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return fmt.Errorf("fs: writing manifest: %w", err)
	}
	_, err = f.Write(m.marshal())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, manifest)
	}
	if err != nil {
		root.Remove(tmp)
		return fmt.Errorf("fs: writing manifest: %w", err)
	}
	return nil
}
