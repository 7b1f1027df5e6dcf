package client

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs"
	"github.com/sealpost/sealpost/client/content"
)

// randomFile returns n random bytes.
func randomFile(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// spoolFiles lists a store's spool directory.
func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, spoolDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// A file goes from alice to both of bob's devices and alice's other
// device; each downloads it, verified, and the history keeps the pointer.
func TestSendFile(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, aliceDir := s.newUserDir("alice")
	alice2 := s.restoreDevice(t, alice)
	bob := s.newUser("bob")
	bob2 := s.restoreDevice(t, bob)
	file := randomFile(t, 300000)

	var mu sync.Mutex
	var calls []int64
	id, err := alice.SendFile(ctxT(t), "bob", bytes.NewReader(file), FileInfo{Name: "../../etc/beach.jpg", MIME: "image/jpeg", Size: int64(len(file)), Caption: "the sea"},
		WithProgress(func(done, total int64) {
			mu.Lock()
			calls = append(calls, done)
			mu.Unlock()
		}))
	if err != nil {
		t.Fatalf("SendFile: %v", err)
	}
	if len(calls) == 0 {
		t.Error("no progress reported")
	}
	if left := spoolFiles(t, aliceDir); len(left) != 0 {
		t.Errorf("spool files left after the send: %v", left)
	}
	for _, c := range []*Client{bob, bob2, alice2} {
		m := recvKind(t, c, content.KindAttachment)
		if m.ID != id {
			t.Fatalf("message id %s, want %s", m.ID, id)
		}
		att := AttachmentOf(m.Content)
		if att == nil || att.Size != int64(len(file)) || att.FileName != "beach.jpg" || att.ContentType != "image/jpeg" || att.Caption != "the sea" {
			t.Fatalf("attachment %+v", att)
		}
		var got bytes.Buffer
		var last atomic.Int64
		if err := c.Download(ctxT(t), att, &got, DownloadProgress(func(done, total int64) { last.Store(done) })); err != nil {
			t.Fatalf("Download: %v", err)
		}
		if !bytes.Equal(got.Bytes(), file) {
			t.Fatal("downloaded file differs")
		}
		if last.Load() == 0 {
			t.Error("no download progress reported")
		}
		m.Ack()
	}
	h, err := bob.HistoryMessage(ctxT(t), "alice", id)
	if err != nil {
		t.Fatal(err)
	}
	if att := AttachmentOf(h.Content); att == nil || att.Size != int64(len(file)) {
		t.Errorf("history entry %+v has no attachment", h)
	}
}

// An empty file and a file of exactly one chunk's padded size go through.
func TestSendFileSizes(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob := s.newUser("bob")
	for _, n := range []int{0, 1, 4096, 65536, 65537} {
		file := randomFile(t, n)
		if _, err := alice.SendFile(ctxT(t), "bob", bytes.NewReader(file), FileInfo{Name: "f", Size: -1}); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		m := recvKind(t, bob, content.KindAttachment)
		var got bytes.Buffer
		if err := bob.Download(ctxT(t), AttachmentOf(m.Content), &got); err != nil || !bytes.Equal(got.Bytes(), file) {
			t.Fatalf("%d bytes: Download %v, equal %v", n, err, bytes.Equal(got.Bytes(), file))
		}
		m.Ack()
	}
	// A FileInfo size the reader does not match records nothing.
	if _, err := alice.SendFile(ctxT(t), "bob", bytes.NewReader(make([]byte, 10)), FileInfo{Size: 11}); err == nil {
		t.Fatal("SendFile with a wrong size succeeded")
	}
	noMessage(t, bob, 300*time.Millisecond)
}

// An upload cut off mid-way resumes after a restart, from the part the
// blob service committed, and the message is sent once.
func TestSendFileResumesAfterRestart(t *testing.T) {
	s := startServersFull(t, engineSQLite, nil, func(c *blobs.Config) { c.PartSize = blobs.MinPartSize })
	alice, aliceDir := s.newUserDir("alice")
	bob := s.newUser("bob")
	file := randomFile(t, 2*blobs.MinPartSize+12345)

	// The second part's request fails: the first is committed.
	var patches atomic.Int32
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodPatch && patches.Add(1) == 2 {
			http.Error(w, `{"error":"unavailable","message":"test"}`, http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
	id, err := alice.SendFile(ctxT(t), "bob", bytes.NewReader(file), FileInfo{Name: "big.bin", Size: int64(len(file))})
	if !errors.Is(err, ErrQueued) {
		t.Fatalf("SendFile with a failing upload: %v, want ErrQueued", err)
	}
	if len(spoolFiles(t, aliceDir)) != 1 {
		t.Fatalf("spool %v, want the file's", spoolFiles(t, aliceDir))
	}
	alice.Close()
	// After the restart, the upload asks where it stands and sends the
	// rest: no part twice.
	var offsets []string
	var omu sync.Mutex
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodPatch {
			omu.Lock()
			offsets = append(offsets, r.Header.Get("Upload-Offset"))
			omu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
	s.open(aliceDir) // its background upload resumes the file
	m := recvKind(t, bob, content.KindAttachment)
	if m.ID != id {
		t.Fatalf("message %s, want %s", m.ID, id)
	}
	var got bytes.Buffer
	if err := bob.Download(ctxT(t), AttachmentOf(m.Content), &got); err != nil || !bytes.Equal(got.Bytes(), file) {
		t.Fatalf("Download: %v", err)
	}
	m.Ack()
	omu.Lock()
	if strings.Join(offsets, ",") != "5242880,10485760" {
		t.Errorf("parts sent after the restart at offsets %v, want the second and third only", offsets)
	}
	omu.Unlock()
	noMessage(t, bob, 300*time.Millisecond)
	waitFor(t, func() bool { return len(spoolFiles(t, aliceDir)) == 0 })
}

// A download cut off mid-way resumes from the chunks it has; bytes the
// service altered are refused and nothing of the file is written.
func TestDownloadResumeAndCorrupt(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	file := randomFile(t, 1<<20)
	if _, err := alice.SendFile(ctxT(t), "bob", bytes.NewReader(file), FileInfo{Size: -1}); err != nil {
		t.Fatal(err)
	}
	m := recvKind(t, bob, content.KindAttachment)
	att := AttachmentOf(m.Content)

	// The first GET ends after 300000 bytes.
	var ranges []string
	var rmu sync.Mutex
	var gets atomic.Int32
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/v1/blobs/") {
			next.ServeHTTP(w, r)
			return
		}
		rmu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		rmu.Unlock()
		if gets.Add(1) == 1 {
			next.ServeHTTP(&cutWriter{ResponseWriter: w, left: 300000}, r)
			return
		}
		next.ServeHTTP(w, r)
	})
	var got bytes.Buffer
	if err := bob.Download(ctxT(t), att, &got); err == nil {
		t.Fatal("a cut download succeeded")
	}
	if got.Len() != 0 {
		t.Fatalf("%d bytes written by a failed download", got.Len())
	}
	if err := bob.Download(ctxT(t), att, &got); err != nil || !bytes.Equal(got.Bytes(), file) {
		t.Fatalf("resumed Download: %v", err)
	}
	rmu.Lock()
	if len(ranges) != 2 || ranges[1] == "" || ranges[1] == "bytes=0-" {
		t.Errorf("ranges asked %q: the second should start where the first stopped", ranges)
	}
	rmu.Unlock()
	if left := spoolFiles(t, bobDir); len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}

	// A flipped byte: corrupt, nothing written, the spool gone.
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/blobs/") {
			next.ServeHTTP(&flipWriter{ResponseWriter: w, at: 200000}, r)
			return
		}
		next.ServeHTTP(w, r)
	})
	got.Reset()
	if err := bob.Download(ctxT(t), att, &got); !errors.Is(err, ErrAttachmentCorrupt) || got.Len() != 0 {
		t.Fatalf("Download of altered bytes: %v, %d bytes written; want ErrAttachmentCorrupt and none", err, got.Len())
	}
	if left := spoolFiles(t, bobDir); len(left) != 0 {
		t.Errorf("spool files left after a corrupt download: %v", left)
	}
	s.setIntercept(nil)

	// A wrong key or digest in the pointer: corrupt.
	for name, mutate := range map[string]func(*Attachment){
		"key":    func(a *Attachment) { a.Key[0] ^= 1 },
		"digest": func(a *Attachment) { a.Digest[0] ^= 1 },
		"size":   func(a *Attachment) { a.Size++ },
	} {
		bad := *att
		mutate(&bad)
		got.Reset()
		if err := bob.Download(ctxT(t), &bad, &got); !errors.Is(err, ErrAttachmentCorrupt) || got.Len() != 0 {
			t.Errorf("wrong %s: %v, %d bytes written; want ErrAttachmentCorrupt", name, err, got.Len())
		}
	}
	// A blob that does not exist.
	gone := *att
	gone.BlobID[0] ^= 1
	if err := bob.Download(ctxT(t), &gone, &got); !errors.Is(err, ErrAttachmentGone) {
		t.Errorf("unknown blob: %v, want ErrAttachmentGone", err)
	}
	m.Ack()
}

// A file over the account's quota is refused for good: no message, no
// spool left.
func TestSendFileQuota(t *testing.T) {
	s := startServersFull(t, engineSQLite, nil, func(c *blobs.Config) { c.AccountQuota = 100000 })
	alice, aliceDir := s.newUserDir("alice")
	bob := s.newUser("bob")
	_, err := alice.SendFile(ctxT(t), "bob", bytes.NewReader(make([]byte, 200000)), FileInfo{Size: -1})
	if !errors.Is(err, ErrFileRefused) {
		t.Fatalf("SendFile over quota: %v, want ErrFileRefused", err)
	}
	if left := spoolFiles(t, aliceDir); len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
	noMessage(t, bob, 300*time.Millisecond)
}

func TestSafeFileName(t *testing.T) {
	for in, want := range map[string]string{
		"beach.jpg":               "beach.jpg",
		"../../etc/passwd":        "passwd",
		`..\..\windows\sys.ini`:   "sys.ini",
		"/":                       "file",
		"":                        "file",
		"..":                      "file",
		".bashrc":                 "bashrc",
		"a\x1b[31mred\x1b[0m.txt": "a_[31mred_[0m.txt",
		"new\nline":               "new_line",
		"evil\u202egnp.exe":       "evil_gnp.exe",
		"con:tent?.txt":           "con_tent_.txt",
		"bad\xffutf8":             "bad_utf8",
		strings.Repeat("é", 200):  strings.Repeat("é", 127),
	} {
		if got := SafeFileName(in); got != want {
			t.Errorf("SafeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// cutWriter passes on left bytes of a response body, then fails.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if w.left <= 0 {
		panic(http.ErrAbortHandler)
	}
	if len(p) > w.left {
		n, _ := w.ResponseWriter.Write(p[:w.left])
		w.left = 0
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		_ = n
		panic(http.ErrAbortHandler)
	}
	w.left -= len(p)
	return w.ResponseWriter.Write(p)
}

// flipWriter flips one bit of the body at byte at.
type flipWriter struct {
	http.ResponseWriter
	at, n int
}

func (w *flipWriter) Write(p []byte) (int, error) {
	if w.at >= w.n && w.at < w.n+len(p) {
		q := append([]byte(nil), p...)
		q[w.at-w.n] ^= 0x10
		p = q
	}
	w.n += len(p)
	return w.ResponseWriter.Write(p)
}

// A spool damaged while the client was not running (a system crash before
// it reached the disk) is found before anything more is uploaded: the file
// fails, reported, and nothing is sent.
func TestSendFileDamagedSpool(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice, aliceDir := s.newUserDir("alice")
	bob := s.newUser("bob")
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/blobs/") {
			http.Error(w, `{"error":"unavailable","message":"test"}`, http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
	id, err := alice.SendFile(ctxT(t), "bob", bytes.NewReader(randomFile(t, 100000)), FileInfo{Size: -1})
	if !errors.Is(err, ErrQueued) {
		t.Fatalf("SendFile: %v, want ErrQueued", err)
	}
	alice.Close()
	s.setIntercept(nil)
	spools := spoolFiles(t, aliceDir)
	if len(spools) != 1 {
		t.Fatalf("spool %v", spools)
	}
	p := filepath.Join(aliceDir, spoolDir, spools[0])
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	alice = s.open(aliceDir)
	e := waitEvent(t, alice, EventFileFailed)
	if len(e.Messages) != 1 || e.Messages[0] != id || !errors.Is(e.Err, ErrCorrupt) {
		t.Fatalf("EventFileFailed %+v", e)
	}
	if pending, err := alice.PendingFiles(ctxT(t)); err != nil || len(pending) != 0 {
		t.Errorf("PendingFiles after the failure: %v, %v", pending, err)
	}
	if left := spoolFiles(t, aliceDir); len(left) != 0 {
		t.Errorf("spool left: %v", left)
	}
	noMessage(t, bob, 300*time.Millisecond)
}

// A file to a group: every member device reads the pointer as a group
// message and downloads the file.
func TestSendGroupFile(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	alice2 := s.restoreDevice(t, alice)
	bob := s.newUser("bob")
	carol := s.newUser("carol")
	gid, err := alice.CreateGroup(ctxT(t), "files", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{alice2, bob, carol} {
		groupOf(t, c, gid, 0)
	}
	file := randomFile(t, 70000)
	id, err := alice.SendGroupFile(ctxT(t), gid, bytes.NewReader(file), FileInfo{Name: "notes.txt", MIME: "text/plain", Size: -1})
	if err != nil {
		t.Fatalf("SendGroupFile: %v", err)
	}
	for _, c := range []*Client{alice2, bob, carol} {
		m := recvGroup(t, c)
		if m.ID != id || m.Group != gid || m.Content.Kind() != content.KindAttachment {
			t.Fatalf("%s/%d: message %s in group %v of kind %v", c.Handle(), c.DeviceID(), m.ID, m.Group, m.Content.Kind())
		}
		var got bytes.Buffer
		if err := c.Download(ctxT(t), AttachmentOf(m.Content), &got); err != nil || !bytes.Equal(got.Bytes(), file) {
			t.Fatalf("%s/%d: Download %v", c.Handle(), c.DeviceID(), err)
		}
		m.Ack()
	}
}

// An operation begun while Close waits for the client's goroutines fails
// with ErrClosed at once: a background upload that sends its pointer then
// must not wait for Close, which waits for it.
func TestBeginDuringClose(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	// A running operation keeps Close waiting for its write lock.
	_, done, err := alice.begin(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { alice.Close(); close(closed) }()
	waitFor(t, func() bool {
		alice.mu.Lock()
		defer alice.mu.Unlock()
		return alice.closed
	})
	time.Sleep(10 * time.Millisecond) // Close now waits for the lock
	began := make(chan error, 1)
	go func() {
		_, d, err := alice.begin(ctxT(t))
		if d != nil {
			d()
		}
		began <- err
	}()
	select {
	case err := <-began:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("begin during Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("begin during Close waited")
	}
	done()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not finish")
	}
}
