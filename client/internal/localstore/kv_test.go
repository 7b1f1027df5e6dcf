//go:build !js

package localstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Tests of the kv engine's own machinery: transactions and their undo, the
// log file (kv_file.go) and its records. They create their stores with
// createKVFile and run in the kv pass of the suite (engine_test.go).

// requireKV skips a test of the kv engine's internals outside the kv pass.
func requireKV(t *testing.T) {
	t.Helper()
	if !onKVEngine() {
		t.Skip("tests the kv engine's log file: runs in the kv pass (" + testEngineEnv + "=kv)")
	}
}

// newKVStore makes a kv store on a log file in a fresh directory.
func newKVStore(t *testing.T) (*Store, string) {
	t.Helper()
	requireKV(t)
	dir := filepath.Join(t.TempDir(), "store")
	s, err := createKVFile(t.Context(), dir, pass("p"))
	if err != nil {
		t.Fatalf("createKVFile: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// reopenKV closes s and opens the store in dir again.
func reopenKV(t *testing.T, s *Store, dir string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := openKVFile(t.Context(), dir, pass("p"))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// kvDump describes every table of the engine in memory: rows, unique and
// index entries, sequences.
func kvDump(s *Store) string {
	s.kv.mu.RLock()
	defer s.kv.mu.RUnlock()
	var b strings.Builder
	names := make([]string, 0, len(s.kv.tables))
	for name := range s.kv.tables {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t := s.kv.tables[name]
		fmt.Fprintf(&b, "table %s seq %d keys %x\n", name, t.seq, t.keys)
		for _, k := range t.keys {
			fmt.Fprintf(&b, "  %x: %#v\n", k, t.rows[k])
		}
		if len(t.rows) != len(t.keys) {
			fmt.Fprintf(&b, "  %d rows for %d keys\n", len(t.rows), len(t.keys))
		}
		for u, m := range t.uniq {
			keys := make([]string, 0, len(m))
			for k, pk := range m {
				keys = append(keys, fmt.Sprintf("%x=%x", k, pk))
			}
			slices.Sort(keys)
			fmt.Fprintf(&b, "  unique %d: %v\n", u, keys)
		}
		idx := make([]string, 0, len(t.idx))
		for name := range t.idx {
			idx = append(idx, name)
		}
		slices.Sort(idx)
		for _, name := range idx {
			fmt.Fprintf(&b, "  index %s: %x\n", name, t.idx[name])
		}
	}
	return b.String()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kvLogRecords replays a log file's frames into records.
func kvLogRecords(t *testing.T, path string) map[string][]byte {
	t.Helper()
	data := readFile(t, path)
	recs := map[string][]byte{}
	for len(data) > 0 {
		body, n, ok := kvFrameBody(data)
		if !ok {
			t.Fatalf("%s: a damaged frame", path)
		}
		if err := applyKVBatch(recs, body); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	return recs
}

func putInboxT(t *testing.T, s *Store, id string, plaintext []byte) {
	t.Helper()
	update(t, s, func(tx Tx) error {
		_, err := tx.PutInbox(InboxMessage{ID: []byte(id), Sender: "bob", SenderDevice: 1, Time: t0, Plaintext: plaintext})
		return err
	})
}

// TestKVRollback: a transaction whose fn fails leaves the tables, their
// indexes, the sequences and the log file as they were; the next
// transaction and a reopened store see the last commit.
func TestKVRollback(t *testing.T) {
	s, dir := newKVStore(t)
	update(t, s, func(tx Tx) error {
		if err := tx.PutSession(Session{PeerHandle: "bob", PeerDevice: 1, State: []byte("v1"), Updated: t0}); err != nil {
			return err
		}
		for _, m := range []string{"m1", "m2"} {
			if _, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte(m), Recipient: "bob", Device: 1, Envelope: []byte(m), Created: t0}); err != nil {
				return err
			}
		}
		_, err := tx.PutInbox(InboxMessage{ID: []byte("a"), Sender: "bob", Plaintext: []byte("hi")})
		return err
	})
	before, log := kvDump(s), readFile(t, filepath.Join(dir, kvFileName))
	errBoom := errors.New("boom")
	err := s.Update(t.Context(), func(tx Tx) error {
		if err := tx.PutSession(Session{PeerHandle: "bob", PeerDevice: 1, State: []byte("v2"), Updated: t0}); err != nil {
			return err
		}
		if err := tx.PutSession(Session{PeerHandle: "carol", PeerDevice: 1, State: []byte("c"), Updated: t0}); err != nil {
			return err
		}
		if err := tx.SetEphemeralRun("bob", 1, 5); err != nil {
			return err
		}
		if _, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte("m3"), Recipient: "bob", Device: 1, Envelope: []byte("m3")}); err != nil {
			return err
		}
		if err := tx.DeleteOutgoing([]byte("m1"), "bob", 1); err != nil {
			return err
		}
		if err := tx.MarkDelivered([]byte("a")); err != nil {
			return err
		}
		if _, err := tx.PutInbox(InboxMessage{ID: []byte("b"), Sender: "bob", Plaintext: []byte("b")}); err != nil {
			return err
		}
		if err := tx.DeleteInbox([]byte("a")); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	if after := kvDump(s); after != before {
		t.Errorf("memory after a failed transaction:\n%s\nwant\n%s", after, before)
	}
	if got := readFile(t, filepath.Join(dir, kvFileName)); !bytes.Equal(got, log) {
		t.Error("the log file changed in a failed transaction")
	}
	view(t, s, func(tx Tx) error {
		if got, err := tx.Session("bob", 1); err != nil || string(got.State) != "v1" {
			t.Errorf("Session = %q, %v", got.State, err)
		}
		if _, err := tx.Session("carol", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("Session of the failed transaction: %v", err)
		}
		if q, err := tx.OutgoingQueue(-1); err != nil || len(q) != 2 || string(q[0].MessageID) != "m1" {
			t.Errorf("OutgoingQueue = %+v, %v", q, err)
		}
		if m, err := tx.Inbox([]byte("a")); err != nil || m.Delivered {
			t.Errorf("Inbox(a) = %+v, %v", m, err)
		}
		return nil
	})
	// The rolled-back enqueue's number is given again, as SQLite's
	// sqlite_sequence rolls back with the transaction.
	update(t, s, func(tx Tx) error {
		seq, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte("m3"), Recipient: "bob", Device: 1, Envelope: []byte("m3")})
		if seq != 3 {
			t.Errorf("enqueue after a rollback = %d, want 3", seq)
		}
		return err
	})
	committed := kvDump(s)
	s = reopenKV(t, s, dir)
	if got := kvDump(s); got != committed {
		t.Errorf("reopened store:\n%s\nwant\n%s", got, committed)
	}
}

// TestRollbackSequence: an AUTOINCREMENT number taken in a transaction
// that rolls back is given again (both engines).
func TestRollbackSequence(t *testing.T) {
	s, _ := create(t, pass("p"))
	var first int64
	update(t, s, func(tx Tx) error {
		var err error
		first, err = tx.PutInbox(InboxMessage{ID: []byte("a"), Sender: "bob"})
		return err
	})
	errBoom := errors.New("boom")
	err := s.Update(t.Context(), func(tx Tx) error {
		for _, id := range []string{"b", "c"} {
			if _, err := tx.PutInbox(InboxMessage{ID: []byte(id), Sender: "bob"}); err != nil {
				return err
			}
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v", err)
	}
	update(t, s, func(tx Tx) error {
		seq, err := tx.PutInbox(InboxMessage{ID: []byte("d"), Sender: "bob"})
		if seq != first+1 {
			t.Errorf("PutInbox after a rollback = %d, want %d", seq, first+1)
		}
		return err
	})
}

// TestKVCommitRefused: a batch the log file refuses (read-only or closed
// under the engine) fails the Update and leaves memory and the file as
// they were; the store goes on once the file works again.
func TestKVCommitRefused(t *testing.T) {
	for _, how := range []string{"read-only", "closed"} {
		t.Run(how, func(t *testing.T) {
			s, dir := newKVStore(t)
			putInboxT(t, s, "a", []byte("a"))
			before, log := kvDump(s), readFile(t, filepath.Join(dir, kvFileName))
			k := s.kv.backend.(*kvFile)
			orig := k.f
			bad, err := os.Open(k.path)
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Close()
			if how == "closed" {
				bad.Close()
			}
			k.f = bad
			err = s.Update(t.Context(), func(tx Tx) error {
				if _, err := tx.PutInbox(InboxMessage{ID: []byte("b"), Sender: "bob"}); err != nil {
					return err
				}
				if err := tx.MarkDelivered([]byte("a")); err != nil {
					return err
				}
				return tx.PutSession(Session{PeerHandle: "bob", PeerDevice: 1, State: []byte("s")})
			})
			k.f = orig
			if err == nil || !strings.HasPrefix(err.Error(), "localstore: commit: ") {
				t.Fatalf("Update on a refusing file = %v, want a commit error", err)
			}
			if after := kvDump(s); after != before {
				t.Errorf("memory after a refused commit:\n%s\nwant\n%s", after, before)
			}
			if got := readFile(t, filepath.Join(dir, kvFileName)); !bytes.Equal(got, log) {
				t.Error("the log file changed in a refused commit")
			}
			update(t, s, func(tx Tx) error {
				seq, err := tx.PutInbox(InboxMessage{ID: []byte("c"), Sender: "bob"})
				if seq != 2 {
					t.Errorf("PutInbox after a refused commit = %d, want 2", seq)
				}
				return err
			})
			committed := kvDump(s)
			s = reopenKV(t, s, dir)
			if got := kvDump(s); got != committed {
				t.Errorf("reopened store:\n%s\nwant\n%s", got, committed)
			}
		})
	}
}

// kvFiles is a closed kv store's files, to damage copies of.
type kvFiles struct {
	key, log []byte
}

func closeKVFiles(t *testing.T, s *Store, dir string) kvFiles {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return kvFiles{readFile(t, filepath.Join(dir, keyFileName)), readFile(t, filepath.Join(dir, kvFileName))}
}

// openDamaged opens a copy of f whose log is log.
func (f kvFiles) openDamaged(t *testing.T, log []byte) (*Store, string, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, keyFileName), f.key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, kvFileName), log, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := openKVFile(t.Context(), dir, pass("p"))
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, dir, err
}

// inboxIDs returns the ids in the inbox, in order.
func inboxIDs(t *testing.T, s *Store) string {
	t.Helper()
	var ids []string
	view(t, s, func(tx Tx) error {
		ms, err := tx.Undelivered(-1)
		for _, m := range ms {
			ids = append(ids, string(m.ID))
		}
		return err
	})
	return strings.Join(ids, ",")
}

// TestKVTornLastBatch: a last batch cut short, or garbage after the last
// batch (a crash while a batch was written), is dropped at open: the store
// opens with the commit before, the file is cut back, and commits go on.
func TestKVTornLastBatch(t *testing.T) {
	s, dir := newKVStore(t)
	putInboxT(t, s, "a", []byte("a"))
	sizeA := len(readFile(t, filepath.Join(dir, kvFileName)))
	putInboxT(t, s, "b", []byte("b"))
	files := closeKVFiles(t, s, dir)
	sizeB := len(files.log)
	garbage := []byte("garbage after the last batch, longer than a frame header")
	smallFrame := append([]byte{0, 0, 0, 1}, bytes.Repeat([]byte{0xa5}, 60)...)
	for _, c := range []struct {
		name string
		log  []byte
		want string
		size int
	}{
		{"intact", files.log, "a,b", sizeB},
		{"cut by 3 bytes", files.log[:sizeB-3], "a", sizeA},
		{"cut in the header", files.log[:sizeA+5], "a", sizeA},
		{"cut to the header", files.log[:sizeA+kvFileHeader], "a", sizeA},
		{"garbage appended", append(slices.Clip(files.log), garbage...), "a,b", sizeB},
		{"a short garbage frame appended", append(slices.Clip(files.log), smallFrame...), "a,b", sizeB},
		{"zeros appended", append(slices.Clip(files.log), make([]byte, 4096)...), "a,b", sizeB},
		{"last frame's tail zeroed", append(slices.Clip(files.log[:sizeB-10]), make([]byte, 10)...), "a", sizeA},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, dir, err := files.openDamaged(t, c.log)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if got := inboxIDs(t, s); got != c.want {
				t.Errorf("inbox = %q, want %q", got, c.want)
			}
			if n := len(readFile(t, filepath.Join(dir, kvFileName))); n != c.size {
				t.Errorf("log is %d bytes after open, want %d", n, c.size)
			}
			putInboxT(t, s, "c", []byte("c"))
			s = reopenKV(t, s, dir)
			if got, want := inboxIDs(t, s), c.want+",c"; got != want {
				t.Errorf("inbox after a commit and a reopen = %q, want %q", got, want)
			}
		})
	}
}

// TestKVDamagedBatch: damage to a batch before the last is ErrCorrupt,
// wherever it is in the frame (a damaged length does not pass for a torn
// end of the file); the same damage to the last batch drops it.
func TestKVDamagedBatch(t *testing.T) {
	s, dir := newKVStore(t)
	sizes := []int{len(readFile(t, filepath.Join(dir, kvFileName)))}
	for _, id := range []string{"a", "b", "c"} {
		putInboxT(t, s, id, []byte(id))
		sizes = append(sizes, len(readFile(t, filepath.Join(dir, kvFileName))))
	}
	files := closeKVFiles(t, s, dir)
	flip := func(off int, mask byte) []byte {
		log := bytes.Clone(files.log)
		log[off] ^= mask
		return log
	}
	a, c := sizes[0], sizes[2] // the offsets of the frames of "a" and "c"
	for _, d := range []struct {
		name     string
		log      []byte
		wantIDs  string // "" : ErrCorrupt
		mustFail bool
	}{
		{"a's length, high byte", flip(a, 0x40), "", true},
		{"a's length, low byte", flip(a+3, 0x01), "", true},
		{"a's checksum", flip(a+4, 0x01), "", true},
		{"a's body", flip(a+kvFileHeader+10, 0x01), "", true},
		{"a's trailer", flip(sizes[1]-3, 0x01), "", true},
		{"the first batch", flip(10, 0x01), "", true},
		{"c's length, high byte", flip(c, 0x40), "a,b", false},
		{"c's body", flip(c+kvFileHeader+10, 0x01), "a,b", false},
		{"c's trailer", flip(len(files.log)-1, 0x01), "a,b", false},
	} {
		t.Run(d.name, func(t *testing.T) {
			s, _, err := files.openDamaged(t, d.log)
			if d.mustFail {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("open = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if got := inboxIDs(t, s); got != d.wantIDs {
				t.Errorf("inbox = %q, want %q", got, d.wantIDs)
			}
		})
	}
}

// TestKVMovedRecord: a record under another record's name, or a record of
// another store, is ErrCorrupt, even in a well-formed batch.
func TestKVMovedRecord(t *testing.T) {
	s, dir := newKVStore(t)
	for _, h := range []string{"bob", "carol"} {
		if err := s.Update(t.Context(), func(tx Tx) error {
			return tx.PutSession(Session{PeerHandle: h, PeerDevice: 1, State: []byte(h), Updated: t0})
		}); err != nil {
			t.Fatal(err)
		}
	}
	bob := s.recordName("sessions", kvKey("bob", int64(1)))
	carol := s.recordName("sessions", kvKey("carol", int64(1)))
	recs := kvLogRecords(t, filepath.Join(dir, kvFileName))
	if recs[bob] == nil || recs[carol] == nil {
		t.Fatal("the sessions' records are not under their names")
	}
	// carol's row sealed for bob's name: opens, but is not bob's row.
	resealed, err := s.seal(recordAD(bob), encodeRecord("sessions", s.kv.tables["sessions"].rows[kvKey("carol", int64(1))]))
	if err != nil {
		t.Fatal(err)
	}
	other, otherDir := newKVStore(t)
	if err := other.Update(t.Context(), func(tx Tx) error {
		return tx.PutSession(Session{PeerHandle: "bob", PeerDevice: 1, State: []byte("other"), Updated: t0})
	}); err != nil {
		t.Fatal(err)
	}
	otherBob := other.recordName("sessions", kvKey("bob", int64(1)))
	otherRecs := kvLogRecords(t, filepath.Join(otherDir, kvFileName))
	files := closeKVFiles(t, s, dir)
	withBatch := func(puts map[string][]byte) []byte {
		return append(slices.Clip(files.log), kvFrame(encodeKVBatch(kvBatch{puts: puts}))...)
	}
	for _, c := range []struct {
		name string
		log  []byte
		ok   bool
	}{
		{"carol's record again under its name", withBatch(map[string][]byte{carol: recs[carol]}), true},
		{"carol's record under bob's name", withBatch(map[string][]byte{bob: recs[carol]}), false},
		{"carol's row sealed for bob's name", withBatch(map[string][]byte{bob: resealed}), false},
		{"another store's record under its name", withBatch(map[string][]byte{otherBob: otherRecs[otherBob]}), false},
		{"another store's record under bob's name", withBatch(map[string][]byte{bob: otherRecs[otherBob]}), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _, err := files.openDamaged(t, c.log)
			if c.ok {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				if got, err := getSession(s, t); err != nil || string(got.State) != "bob" {
					t.Errorf("Session = %q, %v", got.State, err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open = %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestKVCompaction: once the log is over 1 MiB and twice its live records,
// it is rewritten: every live row stays, deleted rows' records leave the
// file, the lock holds on the new file, and commits go on.
func TestKVCompaction(t *testing.T) {
	s, dir := newKVStore(t)
	path := filepath.Join(dir, kvFileName)
	const rows, keep = 24, 4
	big := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 64<<10) }
	for i := range rows {
		putInboxT(t, s, fmt.Sprintf("m%02d", i), big(i))
	}
	update(t, s, func(tx Tx) error {
		return tx.PutSession(Session{PeerHandle: "bob", PeerDevice: 1, State: []byte("s"), Updated: t0})
	})
	grown := readFile(t, path)
	if len(grown) < 1<<20 {
		t.Fatalf("log is %d bytes, want over 1 MiB", len(grown))
	}
	// The records of deleted rows: in the file before (the positive
	// control), gone after.
	recs := kvLogRecords(t, path)
	var gone [][]byte
	for seq := range int64(rows - keep) {
		sealed := recs[s.recordName("inbox", kvKey(seq+1))]
		if sealed == nil || !bytes.Contains(grown, sealed) {
			t.Fatalf("inbox row %d's record is not in the log", seq+1)
		}
		gone = append(gone, sealed)
	}
	update(t, s, func(tx Tx) error {
		for i := range rows - keep {
			if err := tx.DeleteInbox([]byte(fmt.Sprintf("m%02d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	compacted := readFile(t, path)
	if len(compacted) > (keep+1)*(64<<10)+(16<<10) {
		t.Errorf("log is %d bytes after deleting %d of %d rows: not compacted", len(compacted), rows-keep, rows)
	}
	for i, sealed := range gone {
		if bytes.Contains(compacted, sealed) {
			t.Errorf("deleted inbox row %d's record is still in the log", i+1)
		}
	}
	if _, err := openKVFile(t.Context(), dir, pass("p")); !errors.Is(err, ErrLocked) {
		t.Errorf("second open after compaction = %v, want ErrLocked", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("compacted log's mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	check := func(s *Store) {
		t.Helper()
		view(t, s, func(tx Tx) error {
			for i := range rows {
				m, err := tx.Inbox([]byte(fmt.Sprintf("m%02d", i)))
				if i < rows-keep {
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("deleted row %d: %v", i, err)
					}
					continue
				}
				if err != nil || !bytes.Equal(m.Plaintext, big(i)) || m.Seq != int64(i+1) {
					t.Errorf("row %d: seq %d, %v", i, m.Seq, err)
				}
			}
			if got, err := tx.Session("bob", 1); err != nil || string(got.State) != "s" {
				t.Errorf("Session = %q, %v", got.State, err)
			}
			return nil
		})
	}
	check(s)
	update(t, s, func(tx Tx) error {
		seq, err := tx.PutInbox(InboxMessage{ID: []byte("after"), Sender: "bob"})
		if seq != rows+1 {
			t.Errorf("PutInbox after compaction = %d, want %d", seq, rows+1)
		}
		return err
	})
	committed := kvDump(s)
	s = reopenKV(t, s, dir)
	check(s)
	if got := kvDump(s); got != committed {
		t.Errorf("reopened store:\n%s\nwant\n%s", got, committed)
	}
}

// TestKVRecordNames: the log shows neither table names nor keys; the
// records' names are HMACs.
func TestKVRecordNames(t *testing.T) {
	s, dir := newKVStore(t)
	const handle, msgID = "bob-handle-4e1d", "message-id-9c2b"
	update(t, s, func(tx Tx) error {
		if err := tx.PutSession(Session{PeerHandle: handle, PeerDevice: 77, State: []byte("s"), Updated: t0}); err != nil {
			return err
		}
		if err := tx.PutContact(Contact{Handle: handle}); err != nil {
			return err
		}
		if _, err := tx.PutInbox(InboxMessage{ID: []byte(msgID), Sender: handle}); err != nil {
			return err
		}
		_, err := tx.EnqueueOutgoing(Outgoing{MessageID: []byte(msgID), Recipient: handle, Device: 77})
		return err
	})
	log := readFile(t, filepath.Join(dir, kvFileName))
	// Positive control: a record's name is found.
	if name := s.recordName("sessions", kvKey(handle, int64(77))); !bytes.Contains(log, []byte(name)) {
		t.Fatal("the session's record name is not in the log")
	}
	for _, word := range []string{handle, msgID} {
		if bytes.Contains(log, []byte(word)) {
			t.Errorf("the log shows %q", word)
		}
	}
	for _, def := range kvSchema {
		if bytes.Contains(log, []byte(def.name)) {
			t.Errorf("the log shows the table name %q", def.name)
		}
	}
}

// TestKVLocked: a second open of a kv store's directory is ErrLocked, by
// either entry point; once the first is closed it opens.
func TestKVLocked(t *testing.T) {
	s, dir := newKVStore(t)
	if _, err := openKVFile(t.Context(), dir, pass("p")); !errors.Is(err, ErrLocked) {
		t.Errorf("openKVFile = %v, want ErrLocked", err)
	}
	if _, err := Open(t.Context(), dir, pass("p")); !errors.Is(err, ErrLocked) {
		t.Errorf("Open = %v, want ErrLocked", err)
	}
	putInboxT(t, s, "a", []byte("a"))
	s = reopenKV(t, s, dir)
	if got := inboxIDs(t, s); got != "a" {
		t.Errorf("inbox = %q", got)
	}
}

// TestKVFiles: the directory and the log are private, and a store whose
// log is gone does not open.
func TestKVFiles(t *testing.T) {
	s, dir := newKVStore(t)
	putInboxT(t, s, "a", []byte("a"))
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	for _, name := range []string{keyFileName, kvFileName} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, %v; want 0600", name, fi.Mode().Perm(), err)
		}
	}
	s.Close()
	if err := os.Remove(filepath.Join(dir, kvFileName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), dir, pass("p")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open without %s = %v, want ErrCorrupt", kvFileName, err)
	}
}

// TestKVCheckpointForgetsDeletedRows: on the log file, Checkpoint (which
// the client calls after deleting expired messages) rewrites the file, so
// a deleted history row's record is gone from it, as secure_delete and the
// WAL checkpoint do for state.db.
func TestKVCheckpointForgetsDeletedRows(t *testing.T) {
	requireKV(t)
	s, dir := newKVStore(t)
	now := time.Unix(1_900_000_000, 0)
	var seq int64
	update(t, s, func(tx Tx) error {
		var err error
		seq, err = tx.PutHistory(HistoryRow{Conversation: "bob", ID: []byte("m1"), Sender: "bob", SenderDevice: 1,
			Sent: now, Received: now, Body: []byte("\x02disappearing"), Timer: 5, Expires: now.Add(5 * time.Second)})
		return err
	})
	path := filepath.Join(dir, kvFileName)
	name := s.recordName("history", kvKey(seq))
	record := kvLogRecords(t, path)[name]
	if len(record) == 0 {
		t.Fatal("the history row has no record in the log")
	}
	if !bytes.Contains(readFile(t, path), record) {
		t.Fatal("the record's bytes are not in the file: the scan sees nothing")
	}
	update(t, s, func(tx Tx) error { return tx.DeleteHistory("bob", []byte("m1")) })
	if !bytes.Contains(readFile(t, path), record) {
		t.Fatal("the log lost the old record before the checkpoint: this test no longer shows the checkpoint's work")
	}
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(readFile(t, path), record) {
		t.Fatal("the deleted row's record is still in state.kv after Checkpoint")
	}
	s = reopenKV(t, s, dir)
	view(t, s, func(tx Tx) error {
		if _, err := tx.History("bob", []byte("m1")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted row after reopen: %v", err)
		}
		return nil
	})
}
