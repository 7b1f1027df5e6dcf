package localstore

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
)

// kvBackend is where the kv engine keeps its records and the wrapped store
// key (spec/client-store.md §8.4): IndexedDB in the browser, a log file
// natively.
type kvBackend interface {
	// load returns every record, by name.
	load(ctx context.Context) (map[string][]byte, error)
	// commit writes the batch atomically and durably: after it returns
	// nil every put and delete is kept; after an error none is, or (when
	// the backend cannot tell, say a crash) either all or none.
	commit(ctx context.Context, b kvBatch) error
	// readKeyFile returns the wrapped store key (key.age's contents), or
	// an error wrapping fs.ErrNotExist.
	readKeyFile() ([]byte, error)
	// writeKeyFile replaces the wrapped store key atomically.
	writeKeyFile(data []byte) error
	// where names the backend's storage in messages.
	where() string
	close() error
}

// kvBatch is one transaction's changes: records put (by name) and records
// deleted.
type kvBatch struct {
	puts map[string][]byte
	dels []string
}

// Records (spec/client-store.md §8.2).
const (
	// kvNameInfo is the HKDF info deriving the record-name key from the
	// store key.
	kvNameInfo = "sealpost/v1/client-store/kv-names"
	// kvRecordVersion is the first byte of a record's plaintext.
	kvRecordVersion = 0x01
	// kvMaxRecord bounds a record's sealed size (a row is at most a few
	// MiB: history bodies are bounded by the payload limit).
	kvMaxRecord = 64 << 20
)

// deriveNameKey returns HKDF-SHA256(salt = empty, ikm = storeKey,
// info = kvNameInfo, 32).
func deriveNameKey(storeKey []byte) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, storeKey, nil, kvNameInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("localstore: derive name key: %w", err)
	}
	return k, nil
}

// recordName is a row's record name: hex(HMAC-SHA256(nameKey, table ||
// 0x00 || primary key encoding)), so the backend sees neither tables nor
// keys.
func (s *Store) recordName(table, pk string) string {
	m := hmac.New(sha256.New, s.nameKey.Bytes())
	m.Write([]byte(table))
	m.Write([]byte{0})
	m.Write([]byte(pk))
	return hex.EncodeToString(m.Sum(nil))
}

func recordAD(name string) rowKey { return newRowKey("kv", "record").text(name) }

// encodeRecord is a row's plaintext: 0x01 || u8 table name length || table
// name || u16 column count || each value: 0x00 NULL; 0x01 and int64
// big-endian; 0x02 (TEXT) or 0x03 (BLOB), u32 length and the bytes.
func encodeRecord(table string, v []any) []byte {
	n := 4 + len(table)
	for _, x := range v {
		switch x := x.(type) {
		case string:
			n += 5 + len(x)
		case []byte:
			n += 5 + len(x)
		default:
			n += 9
		}
	}
	b := make([]byte, 0, n)
	b = append(b, kvRecordVersion, byte(len(table)))
	b = append(b, table...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	for _, x := range v {
		switch x := x.(type) {
		case nil:
			b = append(b, 0)
		case int64:
			b = append(b, 1)
			b = binary.BigEndian.AppendUint64(b, uint64(x))
		case string:
			b = append(b, 2)
			b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
			b = append(b, x...)
		case []byte:
			b = append(b, 3)
			b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
			b = append(b, x...)
		}
	}
	return b
}

// decodeRecord parses a record's plaintext against the schema. A record
// with fewer values than its table has columns gets the defaults for the
// rest (columns added later).
func decodeRecord(b []byte, tables map[string]*kvTable) (*kvTable, []any, error) {
	bad := errors.New("malformed record")
	if len(b) < 2 || b[0] != kvRecordVersion {
		return nil, nil, bad
	}
	n := int(b[1])
	b = b[2:]
	if len(b) < n+2 {
		return nil, nil, bad
	}
	t, ok := tables[string(b[:n])]
	if !ok {
		return nil, nil, fmt.Errorf("record of unknown table %q", b[:n])
	}
	b = b[n:]
	count := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	def := t.def
	if count > len(def.cols) {
		return nil, nil, fmt.Errorf("record of %s has %d values", def.name, count)
	}
	v := make([]any, len(def.cols))
	for i := range def.cols {
		if i >= count {
			switch def.types[i] {
			case kvInt:
				v[i] = int64(0)
			case kvText:
				v[i] = ""
			}
			continue
		}
		if len(b) < 1 {
			return nil, nil, bad
		}
		tag := b[0]
		b = b[1:]
		switch {
		case tag == 0 && def.types[i] == kvBlob:
			v[i] = nil
		case tag == 1 && def.types[i] == kvInt && len(b) >= 8:
			v[i] = int64(binary.BigEndian.Uint64(b))
			b = b[8:]
		case (tag == 2 && def.types[i] == kvText) || (tag == 3 && def.types[i] == kvBlob):
			if len(b) < 4 || uint64(len(b)-4) < uint64(binary.BigEndian.Uint32(b)) {
				return nil, nil, bad
			}
			l := int(binary.BigEndian.Uint32(b))
			if tag == 2 {
				v[i] = string(b[4 : 4+l])
			} else {
				v[i] = append([]byte{}, b[4:4+l]...)
			}
			b = b[4+l:]
		default:
			return nil, nil, fmt.Errorf("record of %s: column %s has the wrong type", def.name, def.cols[i])
		}
	}
	if len(b) != 0 {
		return nil, nil, bad
	}
	return t, v, nil
}

// batch seals the rows the transaction changed.
func (tx *kvTx) batch() (kvBatch, error) {
	b := kvBatch{puts: map[string][]byte{}}
	for ref := range tx.dirty {
		var (
			pk = ref.pk
			v  []any
		)
		if ref.table == kvSeqTable {
			pk = kvKey(ref.pk)
			v = []any{ref.pk, tx.e.tables[ref.pk].seq}
		} else if row, ok := tx.e.tables[ref.table].rows[pk]; ok {
			v = row
		}
		name := tx.s.recordName(ref.table, pk)
		if v == nil {
			b.dels = append(b.dels, name)
			continue
		}
		sealed, err := tx.s.seal(recordAD(name), encodeRecord(ref.table, v))
		if err != nil {
			return kvBatch{}, err
		}
		b.puts[name] = sealed
	}
	return b, nil
}

// loadKV reads every record into s.kv's tables. A record that does not
// open, does not parse, or whose name is not its row's is ErrCorrupt.
func (s *Store) loadKV(ctx context.Context) error {
	e := s.kv
	recs, err := e.backend.load(ctx)
	if err != nil {
		return err
	}
	where := e.backend.where()
	for name, sealed := range recs {
		if len(sealed) > kvMaxRecord {
			return corrupt("%s: a record is larger than %d bytes", where, kvMaxRecord)
		}
		pt, err := s.open(recordAD(name), sealed)
		if err != nil {
			return corrupt("%s: a record does not open (damaged or moved)", where)
		}
		t, v, err := decodeRecord(pt, e.tables)
		if err != nil {
			return corrupt("%s: %v", where, err)
		}
		pk := t.def.keyOf(v, t.def.pk)
		if !hmac.Equal([]byte(s.recordName(t.def.name, pk)), []byte(name)) {
			return corrupt("%s: a record of %s is stored under another row's name", where, t.def.name)
		}
		if t.def.name == kvSeqTable {
			target, ok := e.tables[v[0].(string)]
			if !ok || !target.def.autoinc {
				return corrupt("%s: a sequence of unknown table %q", where, v[0])
			}
			target.seq = v[1].(int64)
			continue
		}
		if _, dup := t.rows[pk]; dup {
			return corrupt("%s: two records of one row of %s", where, t.def.name)
		}
		if len(t.conflicts(v, pk)) > 0 {
			return corrupt("%s: two rows of %s share unique values", where, t.def.name)
		}
		t.link(pk, v)
	}
	return nil
}

// createKV makes a new kv store on an empty backend: a random store key
// wrapped to u, and the check row. The key record is written last, so a
// create that fails part way leaves no key behind.
func createKV(ctx context.Context, dir string, b kvBackend, u Unlock) (*Store, error) {
	if err := u.check(); err != nil {
		return nil, err
	}
	if _, err := b.readKeyFile(); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExist, b.where())
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	recs, err := b.load(ctx)
	if err != nil {
		return nil, err
	}
	if len(recs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrExist, b.where())
	}
	storeKey := make([]byte, storeKeySize)
	if err := randRead(storeKey); err != nil {
		return nil, err
	}
	s, err := newStore(dir, storeKey) // wipes storeKey
	if err != nil {
		return nil, err
	}
	s.kv = newKVEngine(b)
	fail := func(err error) (*Store, error) {
		s.Close()
		return nil, err
	}
	err = s.kv.run(ctx, s, false, func(t Tx) error {
		tx := t.(*kvTx)
		sealed, err := s.seal(newRowKey("meta", "value").text("check"), []byte(checkPlaintext))
		if err != nil {
			return err
		}
		h := tx.t("meta")
		_, err = h.insert(h.row("name", "check", "value", sealed))
		return err
	})
	if err != nil {
		return fail(err)
	}
	if err := s.writeKeyFile(u); err != nil {
		return fail(err)
	}
	return s, nil
}

// openKV opens the kv store on b with u: unwrap the store key, load every
// record, and check that the check row opens.
func openKV(ctx context.Context, dir string, b kvBackend, u Unlock) (*Store, error) {
	if err := u.check(); err != nil {
		return nil, err
	}
	data, err := b.readKeyFile()
	if err != nil {
		return nil, err
	}
	storeKey, err := unwrapKey(b.where()+" key", data, u)
	if err != nil {
		return nil, err
	}
	s, err := newStore(dir, storeKey) // wipes storeKey
	if err != nil {
		return nil, err
	}
	s.kv = newKVEngine(b)
	if err := s.loadKV(ctx); err != nil {
		s.Close()
		return nil, err
	}
	check, ok := s.kv.tables["meta"].rows[kvKey("check")]
	if !ok {
		s.Close()
		return nil, corrupt("%s has no check value: it is not a client store", b.where())
	}
	pt, err := s.open(newRowKey("meta", "value").text("check"), check[1].([]byte))
	if err != nil || string(pt) != checkPlaintext {
		s.Close()
		return nil, corrupt("%s does not belong to its key", b.where())
	}
	return s, nil
}

// kvCompacter is a backend that can rewrite its storage without the
// records of deleted rows (the log file).
type kvCompacter interface {
	compact() error
}

// checkpoint is Store.Checkpoint of the kv engine (spec/client-store.md
// §8.4): a backend that keeps deleted rows' old records (the log file)
// rewrites itself without them; IndexedDB deletes records itself, and what
// the browser's storage keeps of them is out of its reach (§8.6).
func (e *kvEngine) checkpoint() error {
	c, ok := e.backend.(kvCompacter)
	if !ok {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := c.compact(); err != nil {
		return fmt.Errorf("localstore: checkpoint: %w", err)
	}
	return nil
}
