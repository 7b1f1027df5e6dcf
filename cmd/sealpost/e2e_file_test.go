package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sealpost/sealpost/crypto/stream"
	"github.com/sealpost/sealpost/internal/testbin"
	"github.com/sealpost/sealpost/internal/versitygwtest"
)

// The file end-to-end test (issue 17): a large file from alice to both of
// bob's devices through sealpostd on each blob storage engine, with the
// uploading CLI, sealpostd and the downloading CLI each SIGKILLed half way
// and resumed; every process's peak RSS under maxRSS; no plaintext in the
// blob store.

// maxRSS is the most resident memory any process may reach.
const maxRSS = 64 << 20

// fileTestSize is the file's size: 1 GiB, or $SEALPOST_TEST_FILE_SIZE.
func fileTestSize(t *testing.T) int64 {
	if v := os.Getenv("SEALPOST_TEST_FILE_SIZE"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			t.Fatalf("SEALPOST_TEST_FILE_SIZE=%q", v)
		}
		return n
	}
	return 1 << 30
}

func TestFileEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("moves a 1 GiB file through sealpostd twice")
	}
	size := fileTestSize(t)
	dir := t.TempDir()
	marker := make([]byte, 32)
	rand.Read(marker)
	marker = append([]byte("SEALPOST-PLAINTEXT-MARKER-"), hex.AppendEncode(nil, marker)...)
	path := filepath.Join(dir, "big file.bin")
	sum := writeTestFile(t, path, size, marker)
	for _, engine := range []string{"fs", "s3"} {
		t.Run(engine, func(t *testing.T) {
			fileRoundTrip(t, engine, path, size, sum, marker)
		})
	}
}

// writeTestFile writes size pseudo-random bytes with marker at the start
// of every MiB and returns their SHA-256.
func writeTestFile(t *testing.T, path string, size int64, marker []byte) [32]byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	r := mrand.NewChaCha8([32]byte{1})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		r.Read(buf)
		copy(buf, marker)
		n := min(left, int64(len(buf)))
		w.Write(buf[:n])
		left -= n
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// rssWatch samples the peak resident memory (VmHWM) of processes.
type rssWatch struct {
	mu   sync.Mutex
	peak map[string]int64
}

// watch samples cmd's process every 20 ms until it exits.
func (w *rssWatch) watch(name string, pid int) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if kb := vmHWM(pid); kb > 0 {
				w.mu.Lock()
				w.peak[name] = max(w.peak[name], kb<<10)
				w.mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// vmHWM reads a process's peak RSS in KiB, 0 if it is gone.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// treeSize is the bytes of the regular files under dir.
func treeSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// spoolSize is the bytes of the download spool files of a store.
func spoolSize(storeDir string) int64 {
	var n int64
	matches, _ := filepath.Glob(filepath.Join(storeDir, "spool", "dl-*"))
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil {
			n += st.Size()
		}
	}
	return n
}

// killWhen starts cmd, SIGKILLs it once cond holds, and waits for it.
// It fails the test if cmd exits by itself first.
func killWhen(t *testing.T, what string, cmd *exec.Cmd, rss *rssWatch, cond func() bool) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := rss.watch(what, cmd.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case err := <-exited:
			stop()
			t.Fatalf("%s exited before it was killed: %v\n%s", what, err, out.String())
		case <-deadline:
			cmd.Process.Kill()
			stop()
			t.Fatalf("%s: the kill condition never held\n%s", what, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if cond() {
			cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			stop()
			return
		}
	}
}

// runWatched runs cmd to completion, watching its memory.
func runWatched(t *testing.T, what string, cmd *exec.Cmd, rss *rssWatch) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := rss.watch(what, cmd.Process.Pid)
	err := cmd.Wait()
	stop()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return r
}

func fileRoundTrip(t *testing.T, engine, path string, size int64, sum [32]byte, marker []byte) {
	rss := &rssWatch{peak: map[string]int64{}}
	root := t.TempDir()
	data := filepath.Join(root, "data")
	listen := testbin.FreeAddr(t)
	var args, env []string
	storeDir := filepath.Join(data, "blobs")
	if engine == "s3" {
		vg := versitygwtest.Start(t)
		args = []string{"--blobs-s3-secure=false", "--blobs-s3-endpoint", vg.Endpoint, "--blobs-s3-bucket", vg.Bucket,
			"--blobs-s3-access-key", vg.AccessKey, "--blobs-s3-region", versitygwtest.Region}
		env = []string{"SEALPOST_BLOBS_S3_SECRET_KEY=" + vg.SecretKey}
		storeDir = vg.Root
	}
	srv := startServerWith(t, data, listen, args, env)
	stopSrv := rss.watch("sealpostd", srv.cmd.Process.Pid)
	alice, bob := newUser(t, srv, "alice"), newUser(t, srv, "bob")
	alice.init("alice")
	bob.init("bob")
	bob2 := addDevice(t, bob, srv, "bob2")
	csize := stream.CiphertextSize(size)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	// 1. alice's send, killed once the blob store holds a third.
	killWhen(t, "sealpost send (killed)", alice.command(ctx, "", "send", "--file", path, "--timeout", "10m", "bob"), rss,
		func() bool { return treeSize(storeDir) >= csize/3 })
	r := alice.ok("", "--json", "uploads")
	var pend jsonPending
	if err := json.Unmarshal([]byte(r.stdout), &pend); err != nil || pend.Size != size || pend.Uploaded <= 0 || pend.Uploaded >= csize {
		t.Fatalf("uploads after the kill: %v (%v)", r, err)
	}
	// 2. Resumed; sealpostd killed once the store holds two thirds.
	resume := alice.command(ctx, "", "uploads", "--resume")
	var resumeOut bytes.Buffer
	resume.Stdout, resume.Stderr = &resumeOut, &resumeOut
	if err := resume.Start(); err != nil {
		t.Fatal(err)
	}
	stopResume := rss.watch("sealpost uploads --resume (server killed)", resume.Process.Pid)
	resumed := make(chan error, 1)
	go func() { resumed <- resume.Wait() }()
	for treeSize(storeDir) < 2*csize/3 {
		select {
		case err := <-resumed:
			t.Fatalf("uploads --resume ended before sealpostd was killed: %v\n%s", err, resumeOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.exited
	stopSrv()
	if err := <-resumed; err == nil {
		t.Fatalf("uploads --resume succeeded with sealpostd killed under it:\n%s", resumeOut.String())
	}
	stopResume()
	// Nothing the service had committed is lost: its database holds at
	// least the offset the client recorded from its answers.
	r = alice.ok("", "--json", "uploads")
	if err := json.Unmarshal([]byte(r.stdout), &pend); err != nil {
		t.Fatalf("uploads after the server's kill: %v (%v)", r, err)
	}
	if committed := committedOffset(t, filepath.Join(data, "blobs.db")); committed < pend.Uploaded || committed >= csize {
		t.Fatalf("after sealpostd's kill the service holds %d bytes of the upload, the client recorded %d committed", committed, pend.Uploaded)
	}
	// 3. sealpostd again on the same data; the upload finishes.
	srv = startServerWith(t, data, listen, args, env)
	alice.srv, bob.srv, bob2.srv = srv, srv, srv
	stopSrv = rss.watch("sealpostd (restarted)", srv.cmd.Process.Pid)
	if r := runWatched(t, "sealpost uploads --resume", alice.command(ctx, "", "uploads", "--resume"), rss); r.code != 0 {
		t.Fatalf("uploads --resume: %v", r)
	}
	if r := alice.ok("", "uploads"); strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("uploads after the resume: %v", r)
	}
	if n := countIn(t, storeDir, marker); n != 0 {
		t.Fatalf("the blob store holds the plaintext marker %d times", n)
	}

	// 4. bob's first device: listen --save-dir killed half way through
	// the download, then again.
	save := filepath.Join(root, "bob-files")
	os.Mkdir(save, 0o700)
	killWhen(t, "sealpost listen (killed)", bob.command(ctx, "", "listen", "--json", "--count", "1", "--timeout", "10m", "--save-dir", save), rss,
		func() bool { return spoolSize(bob.dir) >= csize/2 })
	r = runWatched(t, "sealpost listen --save-dir", bob.command(ctx, "", "listen", "--json", "--count", "1", "--timeout", "10m", "--save-dir", save), rss)
	if r.code != 0 {
		t.Fatalf("listen --save-dir: %v", r)
	}
	checkSaved(t, save, "big file.bin", size, sum)
	if !strings.Contains(r.stdout, `"event":"file-saved"`) {
		t.Errorf("listen printed no file-saved line: %s", r.stdout)
	}
	// 5. bob's second device, in one go.
	save2 := filepath.Join(root, "bob2-files")
	os.Mkdir(save2, 0o700)
	if r := runWatched(t, "sealpost listen (second device)", bob2.command(ctx, "", "listen", "--json", "--count", "1", "--timeout", "10m", "--save-dir", save2), rss); r.code != 0 {
		t.Fatalf("listen on bob's second device: %v", r)
	}
	checkSaved(t, save2, "big file.bin", size, sum)
	stopSrv()

	rss.mu.Lock()
	defer rss.mu.Unlock()
	for name, peak := range rss.peak {
		t.Logf("%s: peak RSS %.1f MiB", name, float64(peak)/(1<<20))
		if peak > maxRSS {
			t.Errorf("%s: peak RSS %.1f MiB, more than %d MiB", name, float64(peak)/(1<<20), maxRSS>>20)
		}
	}
}

// addDevice restores a backup of u into a new device and approves it.
func addDevice(t *testing.T, u *user, srv *server, name string) *user {
	t.Helper()
	tmp := t.TempDir()
	backup, bpass := filepath.Join(tmp, "backup"), filepath.Join(tmp, "bpass")
	os.WriteFile(bpass, []byte("backup passphrase\n"), 0o600)
	u.ok("", "backup", "--backup-passphrase-file", bpass, backup)
	d := newUser(t, srv, name)
	d.ok("", "restore", "--server", srv.url, "--pin", srv.pin, "--log-key", srv.logKey, "--backup-passphrase-file", bpass, backup)
	u.ok("", "devices", "approve", "2")
	return d
}

// checkSaved checks that dir holds exactly the file name with the
// expected size and digest, and nothing else.
func checkSaved(t *testing.T, dir, name string, size int64, sum [32]byte) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != name {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("%s holds %q, want just %q", dir, names, name)
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil || n != size || [32]byte(h.Sum(nil)) != sum {
		t.Fatalf("saved file: %d bytes, err %v, digest equal %v", n, err, [32]byte(h.Sum(nil)) == sum)
	}
}

// countIn counts the occurrences of marker in the files under dir.
func countIn(t *testing.T, dir string, marker []byte) int {
	t.Helper()
	count := 0
	buf := make([]byte, 1<<20+len(marker))
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		keep := 0
		for {
			n, err := f.Read(buf[keep:])
			if n == 0 && err != nil {
				break
			}
			data := buf[:keep+n]
			count += bytes.Count(data, marker)
			keep = min(len(marker)-1, len(data))
			copy(buf, data[len(data)-keep:])
		}
		return nil
	})
	return count
}

// send --file, listen without --save-dir, then get into a directory (twice:
// the second copy gets a name of its own) and to standard output; uploads
// lists nothing once sent.
func TestFileGet(t *testing.T) {
	alice, bob := startPair(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "notes.txt")
	body := bytes.Repeat([]byte("sealpost file line\n"), 10000)
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	r := alice.ok("", "send", "--file", path, "--caption", "read this", "bob")
	id := strings.TrimSpace(r.stdout)
	if !messageID.MatchString(id) {
		t.Fatalf("send --file printed %q", r.stdout)
	}
	if r := alice.ok("", "uploads"); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("uploads after a finished send: %v", r)
	}
	msgs, _ := bob.receive(1)
	if len(msgs) != 1 || msgs[0].ID != id || msgs[0].Kind != "attachment" || msgs[0].File == nil ||
		msgs[0].File.FileName != "notes.txt" || msgs[0].File.Size != int64(len(body)) || msgs[0].File.ContentType != "text/plain; charset=utf-8" || msgs[0].File.Caption != "read this" {
		t.Fatalf("listen --json: %+v", msgs)
	}
	save := t.TempDir()
	for _, want := range []string{"notes.txt", "notes (1).txt"} {
		r = bob.ok("", "get", "--save-dir", save, "alice", id[:8])
		if got := strings.TrimSpace(r.stdout); got != filepath.Join(save, want) {
			t.Errorf("get printed %q, want %q", got, filepath.Join(save, want))
		}
		if b, err := os.ReadFile(filepath.Join(save, want)); err != nil || !bytes.Equal(b, body) {
			t.Errorf("%s: %v, equal %v", want, err, bytes.Equal(b, body))
		}
	}
	if ents, _ := os.ReadDir(save); len(ents) != 2 {
		t.Errorf("%s holds %d files, want 2", save, len(ents))
	}
	r = bob.ok("", "get", "--output", "-", "alice", id)
	if r.stdout != string(body) {
		t.Errorf("get --output - wrote %d bytes, want the file's %d", len(r.stdout), len(body))
	}
	// A message without a file, and a file over an existing one.
	tid := alice.send("bob", "just text")
	bob.receive(1)
	if r := bob.run("", "get", "alice", tid); r.code == 0 || !strings.Contains(r.stderr, "has no file") {
		t.Errorf("get of a text: %v", r)
	}
	existing := filepath.Join(save, "notes.txt")
	if r := bob.run("", "get", "--output", existing, "alice", id); r.code == 0 {
		t.Errorf("get --output over an existing file: %v", r)
	}
	if b, _ := os.ReadFile(existing); !bytes.Equal(b, body) {
		t.Error("a refused get --output changed the existing file")
	}
	if matches, _ := filepath.Glob(filepath.Join(save, ".sealpost-partial-*")); len(matches) != 0 {
		t.Errorf("partial files left: %v", matches)
	}
}

// committedOffset reads the committed offset of the one open upload in a
// stopped sealpostd's blob database.
func committedOffset(t *testing.T, path string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT committed FROM blobs_uploads`).Scan(&n); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return n
}
