//go:build !js

package localstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// kvFileName is the kv engine's log file natively (spec/client-store.md
// §8.4).
const kvFileName = "state.kv"

// kvFile is the kv engine's native backend: key.age beside an append-only
// log of batches, each a frame: u32 length || SHA-256 of the body (first
// 16 bytes) || body || the same 20 bytes again, fsynced before commit
// returns. The trailer lets load find the last batch from the end of the
// file: a damaged batch followed by a whole last batch is damage to a
// committed batch (ErrCorrupt, even when the damage hides where the next
// batch starts), while a damaged batch with no whole batch after it is a
// torn last batch (a crash while it was written) and is dropped at open.
// When the log holds more than twice the live records it is rewritten to
// a new file that replaces it atomically. The file is locked (flock)
// while open: a second open is ErrLocked.
type kvFile struct {
	dir       string
	path      string
	f         *os.File
	live      map[string]int // record name -> size, for compaction
	liveBytes int64          // the sum of live's sizes
	size      int64          // the log's length
}

// kvFileHeader is the size of a frame's header, and of its trailer.
const kvFileHeader = 4 + 16

// kvFrame returns a batch body framed for the log.
func kvFrame(body []byte) []byte {
	sum := sha256.Sum256(body)
	buf := make([]byte, 0, 2*kvFileHeader+len(body))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(body)))
	buf = append(buf, sum[:16]...)
	buf = append(buf, body...)
	return append(buf, buf[:kvFileHeader]...)
}

// kvFrameBody returns the body of the frame at the start of b, and the
// frame's length; ok is false if b does not start with a whole frame
// whose checksum and trailer match.
func kvFrameBody(b []byte) (body []byte, n int, ok bool) {
	if len(b) < 2*kvFileHeader {
		return nil, 0, false
	}
	l := binary.BigEndian.Uint32(b)
	if uint64(l) > uint64(len(b)-2*kvFileHeader) {
		return nil, 0, false
	}
	n = 2*kvFileHeader + int(l)
	body = b[kvFileHeader : kvFileHeader+int(l)]
	sum := sha256.Sum256(body)
	if string(sum[:16]) != string(b[4:kvFileHeader]) || string(b[:kvFileHeader]) != string(b[n-kvFileHeader:n]) {
		return nil, 0, false
	}
	return body, n, true
}

func createKVFile(ctx context.Context, dir string, u Unlock) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localstore: create %s: %w", dir, err)
	}
	for _, name := range []string{keyFileName, stateFileName, kvFileName} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return nil, fmt.Errorf("%w: %s", ErrExist, filepath.Join(dir, name))
		}
	}
	b, err := openKVFileBackend(dir, true)
	if err != nil {
		return nil, err
	}
	s, err := createKV(ctx, dir, b, u)
	if err != nil {
		b.close()
		os.Remove(b.path)
		return nil, err
	}
	return s, nil
}

func openKVFile(ctx context.Context, dir string, u Unlock) (*Store, error) {
	// Unwrap the key before taking the lock, as the SQLite engine does.
	if _, err := readKeyFile(filepath.Join(dir, keyFileName), u); err != nil {
		return nil, err
	}
	b, err := openKVFileBackend(dir, false)
	if err != nil {
		return nil, err
	}
	s, err := openKV(ctx, dir, b, u)
	if err != nil {
		b.close()
		return nil, err
	}
	return s, nil
}

func openKVFileBackend(dir string, create bool) (*kvFile, error) {
	path := filepath.Join(dir, kvFileName)
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localstore: open %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("localstore: lock %s: %w", path, err)
	}
	return &kvFile{dir: dir, path: path, f: f}, nil
}

func (k *kvFile) where() string { return k.path }

func (k *kvFile) readKeyFile() ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(k.dir, keyFileName))
	if err != nil {
		return nil, fmt.Errorf("localstore: open: %w", err)
	}
	return data, nil
}

func (k *kvFile) writeKeyFile(data []byte) error {
	return writeFileAtomic(filepath.Join(k.dir, keyFileName), data)
}

func (k *kvFile) close() error { return k.f.Close() }

// load replays the log. A damaged frame is a torn last batch, cut off
// the file, unless a whole frame ends the file after it: then it is
// ErrCorrupt. A frame whose checksum matches but whose body does not
// parse is ErrCorrupt too (a crash cannot make one).
func (k *kvFile) load(ctx context.Context) (map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := k.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("localstore: read %s: %w", k.path, err)
	}
	data, err := io.ReadAll(k.f)
	if err != nil {
		return nil, fmt.Errorf("localstore: read %s: %w", k.path, err)
	}
	recs := map[string][]byte{}
	off := 0
	for off < len(data) {
		body, n, ok := kvFrameBody(data[off:])
		if !ok {
			if k.lastFrameAfter(data, off) {
				return nil, corrupt("%s is damaged at offset %d", k.path, off)
			}
			break // a torn last batch: it never committed
		}
		if err := applyKVBatch(recs, body); err != nil {
			return nil, corrupt("%s: batch at offset %d: %v", k.path, off, err)
		}
		off += n
	}
	if off < len(data) {
		if err := k.f.Truncate(int64(off)); err != nil {
			return nil, fmt.Errorf("localstore: repair %s: %w", k.path, err)
		}
		if err := k.f.Sync(); err != nil {
			return nil, fmt.Errorf("localstore: repair %s: %w", k.path, err)
		}
	}
	k.size = int64(off)
	k.live, k.liveBytes = map[string]int{}, 0
	for name, v := range recs {
		k.setLive(name, v)
	}
	return recs, nil
}

// lastFrameAfter reports whether data ends with a whole frame that starts
// after off.
func (k *kvFile) lastFrameAfter(data []byte, off int) bool {
	if len(data)-off < 2*kvFileHeader {
		return false
	}
	l := binary.BigEndian.Uint32(data[len(data)-kvFileHeader:])
	n := uint64(l) + 2*kvFileHeader
	if n > uint64(len(data)-off) {
		return false
	}
	start := len(data) - int(n)
	_, _, ok := kvFrameBody(data[start:])
	return ok && start > off
}

// encodeKVBatch is a batch's body: u32 puts, each (u16 name length, name,
// u32 value length, value), u32 deletes, each (u16 name length, name).
func encodeKVBatch(b kvBatch) []byte {
	names := make([]string, 0, len(b.puts))
	for name := range b.puts {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []byte
	out = binary.BigEndian.AppendUint32(out, uint32(len(names)))
	for _, name := range names {
		out = binary.BigEndian.AppendUint16(out, uint16(len(name)))
		out = append(out, name...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(b.puts[name])))
		out = append(out, b.puts[name]...)
	}
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.dels)))
	for _, name := range b.dels {
		out = binary.BigEndian.AppendUint16(out, uint16(len(name)))
		out = append(out, name...)
	}
	return out
}

func applyKVBatch(recs map[string][]byte, body []byte) error {
	bad := errors.New("malformed batch")
	take := func(n int) ([]byte, error) {
		if len(body) < n {
			return nil, bad
		}
		v := body[:n]
		body = body[n:]
		return v, nil
	}
	u32 := func() (int, error) {
		b, err := take(4)
		if err != nil {
			return 0, err
		}
		return int(binary.BigEndian.Uint32(b)), nil
	}
	name := func() (string, error) {
		b, err := take(2)
		if err != nil {
			return "", err
		}
		n, err := take(int(binary.BigEndian.Uint16(b)))
		return string(n), err
	}
	puts, err := u32()
	if err != nil {
		return err
	}
	staged := map[string][]byte{}
	for range puts {
		nm, err := name()
		if err != nil {
			return err
		}
		l, err := u32()
		if err != nil {
			return err
		}
		v, err := take(l)
		if err != nil {
			return err
		}
		staged[nm] = v
	}
	dels, err := u32()
	if err != nil {
		return err
	}
	var gone []string
	for range dels {
		nm, err := name()
		if err != nil {
			return err
		}
		gone = append(gone, nm)
	}
	if len(body) != 0 {
		return bad
	}
	for nm, v := range staged {
		recs[nm] = v
	}
	for _, nm := range gone {
		delete(recs, nm)
	}
	return nil
}

// commit appends the batch and fsyncs; a write that fails part way is cut
// off again, so the log ends with the last committed batch.
func (k *kvFile) commit(ctx context.Context, b kvBatch) error {
	buf := kvFrame(encodeKVBatch(b))
	if _, err := k.f.WriteAt(buf, k.size); err != nil {
		k.f.Truncate(k.size)
		return fmt.Errorf("write %s: %w", k.path, err)
	}
	if err := k.f.Sync(); err != nil {
		k.f.Truncate(k.size)
		return fmt.Errorf("sync %s: %w", k.path, err)
	}
	k.size += int64(len(buf))
	for name, v := range b.puts {
		k.setLive(name, v)
	}
	for _, name := range b.dels {
		k.liveBytes -= int64(k.live[name])
		delete(k.live, name)
	}
	// The batch is committed: a compaction that fails leaves the log as
	// it was and is tried again at the next commit, so it is no error of
	// this one (which the engine would undo in memory).
	k.maybeCompact()
	return nil
}

// setLive records the size a record takes in a compacted log: its name and
// value with their lengths.
func (k *kvFile) setLive(name string, v []byte) {
	n := 2 + len(name) + 4 + len(v)
	k.liveBytes += int64(n - k.live[name])
	k.live[name] = n
}

// maybeCompact rewrites the log when it is more than twice the live
// records (and over 1 MiB): a new file with one batch of every record,
// fsynced, renamed over the log, the directory fsynced. Deleted rows' old
// records are then gone from the file.
func (k *kvFile) maybeCompact() error {
	if k.size < 1<<20 || k.size < 2*k.liveBytes {
		return nil
	}
	return k.compact()
}

func (k *kvFile) compact() error {
	recs, err := k.load(context.Background())
	if err != nil {
		return err
	}
	buf := kvFrame(encodeKVBatch(kvBatch{puts: recs}))
	tmp := k.path + ".compact"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("compact %s: %w", k.path, err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact %s: %w", k.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact %s: %w", k.path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact %s: %w", k.path, err)
	}
	if err := os.Rename(tmp, k.path); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact %s: %w", k.path, err)
	}
	if d, err := os.Open(k.dir); err == nil {
		d.Sync()
		d.Close()
	}
	k.f.Close()
	k.f = f
	k.size = int64(len(buf))
	return nil
}
