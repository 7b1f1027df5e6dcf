package fs

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeBehind writes to a part's file and, every writeBehindStep bytes,
// asks the kernel to start writing what came before to the disk
// (sync_file_range, SYNC_FILE_RANGE_WRITE: it does not wait). The fsync
// that ends the part then has little left to write, so receiving the part
// and writing it to the disk overlap instead of taking turns. Durability
// still rests on that fsync alone.
type writeBehind struct {
	f       *os.File
	n, sent int64
}

const writeBehindStep = 1 << 20

func (w *writeBehind) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	if w.n-w.sent >= writeBehindStep {
		// Advice only: a failure is the fsync's to report.
		_ = unix.SyncFileRange(int(w.f.Fd()), w.sent, w.n-w.sent, unix.SYNC_FILE_RANGE_WRITE)
		w.sent = w.n
	}
	return n, err
}
