package localstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// The kv engine (spec/client-store.md §8) keeps the store's tables in
// memory, with the same rows as the SQLite engine (plaintext key columns,
// sealed values), and persists each committed transaction to a kvBackend as
// one atomic batch of sealed records. The browser's backend is IndexedDB;
// natively, a log file (tests run the conformance suite on it).
//
// A transaction works on the live tables under the engine's lock and keeps
// an undo log: if fn fails, or the backend refuses the batch, every change
// is undone, so the memory and the backend always hold the same committed
// state.

// errKVConstraint is a uniqueness or primary key violation in the kv
// engine; isConstraint reports it like SQLite's.
var errKVConstraint = errors.New("localstore: constraint violated")

// kvType is a column's type.
type kvType uint8

const (
	kvInt   kvType = iota + 1 // int64
	kvText                    // string
	kvBlob                    // []byte; nil is NULL
	kvIntOK                   // int64 or nil (a nullable INTEGER)
)

// kvTableDef describes a table: its columns, primary key, unique
// constraints and ordered indexes.
type kvTableDef struct {
	name    string
	cols    []string
	types   []kvType
	colIdx  map[string]int
	pk      []int
	autoinc bool // the single INTEGER pk is assigned when inserted as 0
	uniques [][]int
	indexes map[string][]int
}

// kvTable is one table's committed (or in-transaction) rows.
type kvTable struct {
	def  *kvTableDef
	rows map[string][]any // by encoded primary key
	keys []string         // encoded primary keys, sorted
	uniq []map[string]string
	idx  map[string][]string // index name -> sorted (index key || pk)
	seq  int64               // autoincrement high-water mark
}

func newKVTable(def *kvTableDef) *kvTable {
	t := &kvTable{def: def, rows: map[string][]any{}, idx: map[string][]string{}}
	for range def.uniques {
		t.uniq = append(t.uniq, map[string]string{})
	}
	return t
}

// kvRow is a copy of one row; changing it changes nothing stored until it
// is put back.
type kvRow struct {
	def *kvTableDef
	v   []any
}

func (r kvRow) col(name string) int {
	i, ok := r.def.colIdx[name]
	if !ok {
		panic("localstore: kv: no column " + r.def.name + "." + name)
	}
	return i
}

// i returns an INTEGER column (0 for NULL).
func (r kvRow) i(name string) int64 {
	v, _ := r.v[r.col(name)].(int64)
	return v
}

// s returns a TEXT column.
func (r kvRow) s(name string) string {
	v, _ := r.v[r.col(name)].(string)
	return v
}

// b returns a copy of a BLOB column (nil for NULL): the caller may keep
// or change it without changing the table.
func (r kvRow) b(name string) []byte {
	v, _ := r.v[r.col(name)].([]byte)
	return bytes.Clone(v)
}

// set sets a column; ints may be given as any integer type, NULL as nil.
func (r kvRow) set(name string, v any) kvRow {
	i := r.col(name)
	r.v[i] = kvNormalize(r.def, i, v)
	return r
}

func kvNormalize(def *kvTableDef, i int, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case int:
		return int64(x)
	case int64:
		return x
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case string:
		if def.types[i] == kvBlob {
			return []byte(x)
		}
		return x
	case []byte:
		if def.types[i] == kvText {
			return string(x)
		}
		if x == nil {
			return []byte{}
		}
		return bytes.Clone(x)
	}
	panic(fmt.Sprintf("localstore: kv: %s.%s: unsupported value %T", def.name, def.cols[i], v))
}

// kvKey encodes values as an order-preserving key: NULL 0x01; INTEGER 0x02
// and 8 bytes big-endian with the sign bit flipped; TEXT and BLOB 0x03, the
// bytes with 0x00 written 0x00 0xFF, and 0x00 0x00 (so byte order is
// SQLite's BINARY order).
func kvKey(vals ...any) string {
	var b []byte
	for _, v := range vals {
		b = kvAppendKey(b, v)
	}
	return string(b)
}

func kvAppendKey(b []byte, v any) []byte {
	var raw []byte
	switch x := v.(type) {
	case nil:
		return append(b, 0x01)
	case int64:
		b = append(b, 0x02)
		return binary.BigEndian.AppendUint64(b, uint64(x)^(1<<63))
	case int:
		return kvAppendKey(b, int64(x))
	case uint32:
		return kvAppendKey(b, int64(x))
	case uint64:
		return kvAppendKey(b, int64(x))
	case string:
		raw = []byte(x)
	case []byte:
		raw = x
	default:
		panic(fmt.Sprintf("localstore: kv: unsupported key value %T", v))
	}
	b = append(b, 0x03)
	for _, c := range raw {
		b = append(b, c)
		if c == 0 {
			b = append(b, 0xff)
		}
	}
	return append(b, 0, 0)
}

func (def *kvTableDef) keyOf(v []any, cols []int) string {
	var b []byte
	for _, c := range cols {
		b = kvAppendKey(b, v[c])
	}
	return string(b)
}

// kvEngine is the kv engine's state: every table, the lock that makes
// transactions one at a time, and the backend.
type kvEngine struct {
	mu      sync.RWMutex
	tables  map[string]*kvTable
	backend kvBackend
}

func newKVEngine(b kvBackend) *kvEngine {
	e := &kvEngine{tables: map[string]*kvTable{}, backend: b}
	for _, def := range kvSchema {
		e.tables[def.name] = newKVTable(def)
	}
	return e
}

// kvTx is a transaction of the kv engine.
type kvTx struct {
	ctx      context.Context
	s        *Store
	e        *kvEngine
	readOnly bool
	undo     []kvUndo
	dirty    map[kvRef]struct{}
}

// kvRef names one row.
type kvRef struct {
	table string
	pk    string
}

// kvUndo restores one row (old nil: it did not exist) or a sequence.
type kvUndo struct {
	t      *kvTable
	pk     string
	old    []any
	seq    int64
	seqSet bool
}

// run runs fn in a kv transaction (Store.View and Store.Update).
func (e *kvEngine) run(ctx context.Context, s *Store, readOnly bool, fn func(Tx) error) (err error) {
	if readOnly {
		e.mu.RLock()
		defer e.mu.RUnlock()
	} else {
		e.mu.Lock()
		defer e.mu.Unlock()
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localstore: begin: %w", err)
	}
	tx := &kvTx{ctx: ctx, s: s, e: e, readOnly: readOnly, dirty: map[kvRef]struct{}{}}
	committed := false
	defer func() {
		if !committed {
			tx.rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if readOnly || len(tx.dirty) == 0 {
		committed = true
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localstore: commit: %w", err)
	}
	batch, err := tx.batch()
	if err != nil {
		return err
	}
	if err := e.backend.commit(ctx, batch); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("localstore: commit: %w", ctxErr)
		}
		return fmt.Errorf("localstore: commit: %w", err)
	}
	committed = true
	return nil
}

// rollback undoes every change, newest first.
func (tx *kvTx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		u := tx.undo[i]
		if u.seqSet {
			u.t.seq = u.seq
			continue
		}
		if cur, ok := u.t.rows[u.pk]; ok {
			u.t.unlink(u.pk, cur)
		}
		if u.old != nil {
			u.t.link(u.pk, u.old)
		}
	}
	tx.undo = nil
}

// errReadOnlyKV is errReadOnly; kept as one value for errors.Is.
func (tx *kvTx) writable() error {
	if tx.readOnly {
		return errReadOnly
	}
	return nil
}

// kvH is a table in a transaction.
type kvH struct {
	tx *kvTx
	t  *kvTable
}

// t returns the named table of the transaction.
func (tx *kvTx) t(name string) kvH {
	t, ok := tx.e.tables[name]
	if !ok {
		panic("localstore: kv: no table " + name)
	}
	return kvH{tx: tx, t: t}
}

// row returns a new row of the table: columns set from pairs (name, value,
// ...), the rest zero (0, "", or NULL for BLOB and nullable INTEGER).
func (h kvH) row(pairs ...any) kvRow {
	def := h.t.def
	v := make([]any, len(def.cols))
	for i, typ := range def.types {
		switch typ {
		case kvInt:
			v[i] = int64(0)
		case kvText:
			v[i] = ""
		}
	}
	r := kvRow{def: def, v: v}
	for i := 0; i+1 < len(pairs); i += 2 {
		r.set(pairs[i].(string), pairs[i+1])
	}
	return r
}

func (h kvH) wrap(v []any) kvRow {
	return kvRow{def: h.t.def, v: slices.Clone(v)}
}

// get returns the row with the primary key given by vals.
func (h kvH) get(vals ...any) (kvRow, bool) {
	v, ok := h.t.rows[h.pkOf(vals)]
	if !ok {
		return kvRow{}, false
	}
	return h.wrap(v), true
}

func (h kvH) pkOf(vals []any) string {
	def := h.t.def
	if len(vals) != len(def.pk) {
		panic(fmt.Sprintf("localstore: kv: %s: %d key values for %d key columns", def.name, len(vals), len(def.pk)))
	}
	norm := make([]any, len(vals))
	for i, c := range def.pk {
		norm[i] = kvNormalize(def, c, vals[i])
	}
	return kvKey(norm...)
}

// unique returns the row whose unique constraint cols (names) have vals.
func (h kvH) unique(cols []string, vals ...any) (kvRow, bool) {
	def := h.t.def
	for u, uc := range def.uniques {
		if len(uc) != len(cols) {
			continue
		}
		match := true
		for i, c := range uc {
			if def.cols[c] != cols[i] {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		norm := make([]any, len(vals))
		for i, c := range uc {
			norm[i] = kvNormalize(def, c, vals[i])
		}
		pk, ok := h.t.uniq[u][kvKey(norm...)]
		if !ok {
			return kvRow{}, false
		}
		return h.wrap(h.t.rows[pk]), true
	}
	panic(fmt.Sprintf("localstore: kv: %s has no unique constraint on %v", def.name, cols))
}

// insert adds r; a row with the same primary key or unique values is
// errKVConstraint. An autoincrement key given as 0 is assigned; the row as
// stored is returned.
func (h kvH) insert(r kvRow) (kvRow, error) {
	if err := h.tx.writable(); err != nil {
		return kvRow{}, err
	}
	v := slices.Clone(r.v)
	id := h.nextID(v)
	pk := h.t.def.keyOf(v, h.t.def.pk)
	if _, ok := h.t.rows[pk]; ok {
		return kvRow{}, fmt.Errorf("%w: %s: primary key", errKVConstraint, h.t.def.name)
	}
	if c := h.t.conflicts(v, pk); len(c) > 0 {
		return kvRow{}, fmt.Errorf("%w: %s: unique", errKVConstraint, h.t.def.name)
	}
	// Like SQLite, a refused insert leaves the sequence as it was.
	h.raiseSeq(id)
	h.set(pk, v)
	return h.wrap(v), nil
}

// put adds r or replaces the row with its primary key, and deletes other
// rows its unique values conflict with (SQLite's INSERT OR REPLACE).
func (h kvH) put(r kvRow) (kvRow, error) {
	if err := h.tx.writable(); err != nil {
		return kvRow{}, err
	}
	v := slices.Clone(r.v)
	h.raiseSeq(h.nextID(v))
	pk := h.t.def.keyOf(v, h.t.def.pk)
	for _, other := range h.t.conflicts(v, pk) {
		h.remove(other)
	}
	h.set(pk, v)
	return h.wrap(v), nil
}

// update replaces the stored row with r's primary key; false if there is
// none. A unique conflict with another row is errKVConstraint.
func (h kvH) update(r kvRow) (bool, error) {
	if err := h.tx.writable(); err != nil {
		return false, err
	}
	pk := h.t.def.keyOf(r.v, h.t.def.pk)
	if _, ok := h.t.rows[pk]; !ok {
		return false, nil
	}
	v := slices.Clone(r.v)
	if c := h.t.conflicts(v, pk); len(c) > 0 {
		return false, fmt.Errorf("%w: %s: unique", errKVConstraint, h.t.def.name)
	}
	h.set(pk, v)
	return true, nil
}

// del deletes the row with the primary key vals; false if there is none.
func (h kvH) del(vals ...any) (bool, error) {
	if err := h.tx.writable(); err != nil {
		return false, err
	}
	pk := h.pkOf(vals)
	if _, ok := h.t.rows[pk]; !ok {
		return false, nil
	}
	h.remove(pk)
	return true, nil
}

// delRow deletes r (by its primary key).
func (h kvH) delRow(r kvRow) (bool, error) {
	if err := h.tx.writable(); err != nil {
		return false, err
	}
	pk := h.t.def.keyOf(r.v, h.t.def.pk)
	if _, ok := h.t.rows[pk]; !ok {
		return false, nil
	}
	h.remove(pk)
	return true, nil
}

// nextID gives an autoincrement key given as 0 (or NULL) in v the next
// value and returns v's key (0 for a table without autoincrement); the
// high-water mark is raised by raiseSeq once the row is stored.
func (h kvH) nextID(v []any) int64 {
	def := h.t.def
	if !def.autoinc {
		return 0
	}
	c := def.pk[0]
	id, _ := v[c].(int64)
	if id <= 0 {
		id = h.t.seq + 1
		if m := h.t.maxKey(); m >= id {
			id = m + 1
		}
		v[c] = id
	}
	return id
}

// raiseSeq raises the autoincrement high-water mark to id if it is below
// (an explicit key above it raises it too, as in SQLite).
func (h kvH) raiseSeq(id int64) {
	if !h.t.def.autoinc || id <= h.t.seq {
		return
	}
	h.tx.undo = append(h.tx.undo, kvUndo{t: h.t, seq: h.t.seq, seqSet: true})
	h.t.seq = id
	h.tx.dirty[kvRef{table: kvSeqTable, pk: h.t.def.name}] = struct{}{}
}

func (t *kvTable) maxKey() int64 {
	if len(t.keys) == 0 {
		return 0
	}
	id, _ := t.rows[t.keys[len(t.keys)-1]][t.def.pk[0]].(int64)
	return id
}

func (h kvH) set(pk string, v []any) {
	old := h.t.rows[pk]
	h.tx.undo = append(h.tx.undo, kvUndo{t: h.t, pk: pk, old: old})
	h.tx.dirty[kvRef{table: h.t.def.name, pk: pk}] = struct{}{}
	if old != nil {
		h.t.unlink(pk, old)
	}
	h.t.link(pk, v)
}

func (h kvH) remove(pk string) {
	old := h.t.rows[pk]
	h.tx.undo = append(h.tx.undo, kvUndo{t: h.t, pk: pk, old: old})
	h.tx.dirty[kvRef{table: h.t.def.name, pk: pk}] = struct{}{}
	h.t.unlink(pk, old)
}

// conflicts returns the other rows whose unique values equal v's.
func (t *kvTable) conflicts(v []any, pk string) []string {
	var out []string
	for u, cols := range t.def.uniques {
		if other, ok := t.uniq[u][t.def.keyOf(v, cols)]; ok && other != pk && !slices.Contains(out, other) {
			out = append(out, other)
		}
	}
	return out
}

func (t *kvTable) link(pk string, v []any) {
	t.rows[pk] = v
	t.keys = sortedInsert(t.keys, pk)
	for u, cols := range t.def.uniques {
		t.uniq[u][t.def.keyOf(v, cols)] = pk
	}
	for name, cols := range t.def.indexes {
		t.idx[name] = sortedInsert(t.idx[name], t.def.keyOf(v, cols)+pk)
	}
}

func (t *kvTable) unlink(pk string, v []any) {
	delete(t.rows, pk)
	t.keys = sortedDelete(t.keys, pk)
	for u, cols := range t.def.uniques {
		k := t.def.keyOf(v, cols)
		if t.uniq[u][k] == pk {
			delete(t.uniq[u], k)
		}
	}
	for name, cols := range t.def.indexes {
		t.idx[name] = sortedDelete(t.idx[name], t.def.keyOf(v, cols)+pk)
	}
}

func sortedInsert(s []string, k string) []string {
	i, found := slices.BinarySearch(s, k)
	if found {
		return s
	}
	return slices.Insert(s, i, k)
}

func sortedDelete(s []string, k string) []string {
	i, found := slices.BinarySearch(s, k)
	if !found {
		return s
	}
	return slices.Delete(s, i, i+1)
}

// scan calls fn with each row whose primary key starts with the values
// prefix, in primary key order (reverse: descending), until fn returns
// false. fn may change the table.
func (h kvH) scan(reverse bool, fn func(kvRow) bool, prefix ...any) {
	def := h.t.def
	norm := make([]any, len(prefix))
	for i := range prefix {
		norm[i] = kvNormalize(def, def.pk[i], prefix[i])
	}
	p := kvKey(norm...)
	keys := rangeOf(h.t.keys, p)
	h.each(keys, reverse, func(k string) string { return k }, fn)
}

// scanFrom calls fn with each row whose primary key is at or after the
// key given by the values from (a prefix of the key's columns), in
// primary key order, until fn returns false. fn may change the table.
func (h kvH) scanFrom(fn func(kvRow) bool, from ...any) {
	def := h.t.def
	norm := make([]any, len(from))
	for i := range from {
		norm[i] = kvNormalize(def, def.pk[i], from[i])
	}
	lo, _ := slices.BinarySearch(h.t.keys, kvKey(norm...))
	h.each(h.t.keys[lo:], false, func(k string) string { return k }, fn)
}

// scanIndex calls fn with each row whose index values start with prefix,
// in index order (ties in primary key order), until fn returns false.
func (h kvH) scanIndex(index string, reverse bool, fn func(kvRow) bool, prefix ...any) {
	def := h.t.def
	cols, ok := def.indexes[index]
	if !ok {
		panic("localstore: kv: no index " + def.name + "." + index)
	}
	norm := make([]any, len(prefix))
	for i := range prefix {
		norm[i] = kvNormalize(def, cols[i], prefix[i])
	}
	p := kvKey(norm...)
	entries := rangeOf(h.t.idx[index], p)
	h.each(entries, reverse, func(e string) string {
		// The entry is the index key followed by the primary key; the
		// index key's length is found by re-encoding the row's values.
		return h.t.pkOfEntry(cols, e)
	}, fn)
}

// pkOfEntry strips the index key from an index entry.
func (t *kvTable) pkOfEntry(cols []int, e string) string {
	n := 0
	for range cols {
		n += kvKeyLen(e[n:])
	}
	return e[n:]
}

// kvKeyLen returns the length of the first encoded value of k.
func kvKeyLen(k string) int {
	switch k[0] {
	case 0x01:
		return 1
	case 0x02:
		return 9
	}
	for i := 1; i+1 < len(k); i++ {
		if k[i] == 0 {
			if k[i+1] == 0 {
				return i + 2
			}
			i++ // 0x00 0xFF
		}
	}
	return len(k)
}

func (h kvH) each(keys []string, reverse bool, pkOf func(string) string, fn func(kvRow) bool) {
	keys = slices.Clone(keys) // fn may change the table
	if reverse {
		slices.Reverse(keys)
	}
	for _, k := range keys {
		v, ok := h.t.rows[pkOf(k)]
		if !ok {
			continue // deleted by fn
		}
		if !fn(h.wrap(v)) {
			return
		}
	}
}

// rangeOf returns the part of sorted s that starts with prefix p.
func rangeOf(s []string, p string) []string {
	lo, _ := slices.BinarySearch(s, p)
	hi := lo
	for hi < len(s) && strings.HasPrefix(s[hi], p) {
		hi++
	}
	return s[lo:hi]
}

// all returns every row in primary key order.
func (h kvH) all() []kvRow {
	var out []kvRow
	h.scan(false, func(r kvRow) bool { out = append(out, r); return true })
	return out
}

// count returns the number of rows.
func (h kvH) count() int { return len(h.t.rows) }
