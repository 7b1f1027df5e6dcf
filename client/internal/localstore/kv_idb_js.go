//go:build js

package localstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"syscall/js"
)

// The kv engine's backend in the browser (spec/client-store.md §8.5): one
// IndexedDB database per store, named idbPrefix + the store's name, with
// two object stores: idbRecords holds the sealed records by name and
// idbKey the wrapped store key (key.age's contents) under idbKeyName.
// Every commit is one readwrite transaction with durability "strict" and
// returns once IndexedDB reports it complete; the key is written in a
// transaction of its own. A Web Lock of the database's name, held from
// Open to Close, keeps a second tab (or worker) from opening the store.
const (
	idbPrefix  = "sealpost:"
	idbVersion = 1
	idbRecords = "records"
	idbKey     = "key"
	idbKeyName = "key.age"
)

// idb is the IndexedDB backend of one open store.
type idb struct {
	name   string   // the database's and the lock's name
	db     js.Value // the IDBDatabase
	unlock js.Value // resolves the promise that holds the Web Lock
	// released is closed when the lock request's promise settles: the
	// lock is free again (or was never taken).
	released chan struct{}
	funcs    []js.Func

	mu     sync.Mutex
	gone   error // set when the database is closed or deleted under the store
	closed bool
}

// idbName returns the IndexedDB database name of the store named dir.
func idbName(dir string) string { return idbPrefix + dir }

// openIDB takes the store's Web Lock and opens its database. With create,
// a missing database is made; without, a missing database is an error
// wrapping fs.ErrNotExist and none is made. made reports whether this call
// created the database.
func openIDB(dir string, create bool) (b *idb, made bool, err error) {
	b = &idb{name: idbName(dir)}
	if err := b.lock(); err != nil {
		return nil, false, err
	}
	made, err = b.open(create)
	if err != nil {
		b.release()
		return nil, false, err
	}
	return b, made, nil
}

// lock takes the Web Lock named b.name if no one holds it
// (navigator.locks.request with ifAvailable), and keeps it until release:
// the lock's callback returns a promise that release resolves.
func (b *idb) lock() error {
	locks := js.Global().Get("navigator").Get("locks")
	if locks.IsUndefined() {
		return errors.New("localstore: the browser has no Web Locks API (the page must be a secure context): cannot keep a second tab from opening the store")
	}
	got := make(chan bool, 1)
	b.released = make(chan struct{})
	holder := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) == 0 || args[0].IsNull() {
			got <- false
			return nil
		}
		executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
			b.unlock = args[0]
			return nil
		})
		defer executor.Release()
		p := js.Global().Get("Promise").New(executor)
		got <- true
		return p
	})
	opts := map[string]any{"ifAvailable": true, "mode": "exclusive"}
	var p js.Value
	if err := jsTry(func() { p = locks.Call("request", b.name, opts, holder) }); err != nil {
		holder.Release()
		return fmt.Errorf("localstore: lock %s: %w", b.name, err)
	}
	// The request's promise settles when the lock is given back (or at
	// once when it was not available, or with an error): then the
	// callbacks are released.
	failed := make(chan error, 1)
	var onDone, onFail js.Func
	onDone = js.FuncOf(func(js.Value, []js.Value) any {
		close(b.released)
		holder.Release()
		onDone.Release()
		onFail.Release()
		return nil
	})
	onFail = js.FuncOf(func(_ js.Value, args []js.Value) any {
		failed <- jsError(args)
		close(b.released)
		holder.Release()
		onDone.Release()
		onFail.Release()
		return nil
	})
	p.Call("then", onDone, onFail)
	select {
	case ok := <-got:
		if !ok {
			return fmt.Errorf("%w: %s is open in another tab or window", ErrLocked, b.name)
		}
		return nil
	case err := <-failed:
		return fmt.Errorf("localstore: lock %s: %w", b.name, err)
	}
}

// release gives the Web Lock back and waits until it is free, so that an
// Open right after Close finds it available.
func (b *idb) release() {
	if b.unlock.Type() == js.TypeFunction {
		b.unlock.Invoke()
		b.unlock = js.Undefined()
		<-b.released
	}
}

// open opens the database (IDBFactory.open). Without create, an upgrade
// from version 0 (the database does not exist) is aborted, so nothing is
// made.
func (b *idb) open(create bool) (made bool, err error) {
	factory := js.Global().Get("indexedDB")
	if factory.IsUndefined() {
		return false, errors.New("localstore: the browser has no IndexedDB")
	}
	var req js.Value
	if err := jsTry(func() { req = factory.Call("open", b.name, idbVersion) }); err != nil {
		return false, fmt.Errorf("localstore: open %s: %w", b.name, err)
	}
	missing := false
	upgrade := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ev := args[0]
		db := req.Get("result")
		if ev.Get("oldVersion").Int() == 0 {
			if !create {
				missing = true
				req.Get("transaction").Call("abort")
				return nil
			}
			made = true
		}
		names := db.Get("objectStoreNames")
		for _, s := range []string{idbRecords, idbKey} {
			if !names.Call("contains", s).Bool() {
				db.Call("createObjectStore", s)
			}
		}
		return nil
	})
	defer upgrade.Release()
	req.Set("onupgradeneeded", upgrade)
	blocked := js.FuncOf(func(js.Value, []js.Value) any { return nil })
	defer blocked.Release()
	req.Set("onblocked", blocked) // another connection is closing for the upgrade: wait
	_, err = waitRequest(req)
	req.Set("onupgradeneeded", js.Null())
	req.Set("onblocked", js.Null())
	if missing {
		return false, fmt.Errorf("localstore: open %s: %w", b.name, fs.ErrNotExist)
	}
	if err != nil {
		return false, fmt.Errorf("localstore: open %s: %w", b.name, err)
	}
	b.db = req.Get("result")
	// Another page deleting or upgrading the database (the user clearing
	// the site's data, say) asks this connection to close; the browser
	// may also close it itself. Later commits then fail with ErrGone
	// rather than be lost.
	onVersion := js.FuncOf(func(js.Value, []js.Value) any {
		b.setGone(fmt.Errorf("%w: %s was deleted or upgraded by another page", ErrGone, b.name))
		b.db.Call("close")
		return nil
	})
	onClose := js.FuncOf(func(js.Value, []js.Value) any {
		b.setGone(fmt.Errorf("%w: the browser closed %s (its data was cleared?)", ErrGone, b.name))
		return nil
	})
	b.funcs = append(b.funcs, onVersion, onClose)
	b.db.Set("onversionchange", onVersion)
	b.db.Set("onclose", onClose)
	return made, nil
}

func (b *idb) setGone(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gone == nil {
		b.gone = err
	}
}

// usable returns why the database can no longer be used, if it cannot.
func (b *idb) usable() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	return b.gone
}

func (b *idb) where() string { return "IndexedDB " + b.name }

// transaction starts a transaction on stores; readwrite ones are durable
// ("strict": the browser flushes to disk before reporting complete).
func (b *idb) transaction(mode string, stores ...string) (js.Value, error) {
	if err := b.usable(); err != nil {
		return js.Value{}, err
	}
	names := make([]any, len(stores))
	for i, s := range stores {
		names[i] = s
	}
	var tx js.Value
	err := jsTry(func() {
		tx = b.db.Call("transaction", names, mode, map[string]any{"durability": "strict"})
	})
	if err != nil {
		if gone := b.usable(); gone != nil {
			return js.Value{}, gone
		}
		return js.Value{}, err
	}
	return tx, nil
}

// load reads every record in one readonly transaction: getAllKeys and
// getAll return them in the same (key) order.
func (b *idb) load(ctx context.Context) (map[string][]byte, error) {
	tx, err := b.transaction("readonly", idbRecords)
	if err != nil {
		return nil, fmt.Errorf("localstore: read %s: %w", b.where(), err)
	}
	st := tx.Call("objectStore", idbRecords)
	keysReq, valsReq := st.Call("getAllKeys"), st.Call("getAll")
	if err := waitTx(ctx, tx); err != nil {
		return nil, fmt.Errorf("localstore: read %s: %w", b.where(), err)
	}
	keys, vals := keysReq.Get("result"), valsReq.Get("result")
	n := keys.Length()
	if vals.Length() != n {
		return nil, corrupt("%s: %d record names for %d records", b.where(), n, vals.Length())
	}
	recs := make(map[string][]byte, n)
	for i := range n {
		k, v := keys.Index(i), vals.Index(i)
		if k.Type() != js.TypeString || !isUint8Array(v) {
			return nil, corrupt("%s: a record is not a name and bytes", b.where())
		}
		if v.Length() > kvMaxRecord {
			return nil, corrupt("%s: a record is larger than %d bytes", b.where(), kvMaxRecord)
		}
		recs[k.String()] = bytesFromJS(v)
	}
	return recs, nil
}

// commit writes the batch in one readwrite transaction and waits for its
// complete event. If ctx ends first the transaction is aborted, and what
// IndexedDB reports then decides: complete (it was too late to abort) is
// success, abort is an error. An aborted transaction keeps nothing.
func (b *idb) commit(ctx context.Context, batch kvBatch) error {
	tx, err := b.transaction("readwrite", idbRecords)
	if err != nil {
		return fmt.Errorf("write %s: %w", b.where(), err)
	}
	err = jsTry(func() {
		st := tx.Call("objectStore", idbRecords)
		for name, v := range batch.puts {
			st.Call("put", bytesToJS(v), name)
		}
		for _, name := range batch.dels {
			st.Call("delete", name)
		}
		if tx.Get("commit").Type() == js.TypeFunction {
			tx.Call("commit")
		}
	})
	if err != nil {
		jsTry(func() { tx.Call("abort") })
		return fmt.Errorf("write %s: %w", b.where(), err)
	}
	if err := waitTx(ctx, tx); err != nil {
		if gone := b.usable(); gone != nil {
			return fmt.Errorf("write %s: %w (%w)", b.where(), gone, err)
		}
		return fmt.Errorf("write %s: %w", b.where(), err)
	}
	return nil
}

// readKeyFile returns the wrapped store key, or an error wrapping
// fs.ErrNotExist.
func (b *idb) readKeyFile() ([]byte, error) {
	tx, err := b.transaction("readonly", idbKey)
	if err != nil {
		return nil, fmt.Errorf("localstore: read %s: %w", b.where(), err)
	}
	req := tx.Call("objectStore", idbKey).Call("get", idbKeyName)
	if err := waitTx(context.Background(), tx); err != nil {
		return nil, fmt.Errorf("localstore: read %s: %w", b.where(), err)
	}
	v := req.Get("result")
	if v.IsUndefined() {
		return nil, fmt.Errorf("localstore: open: %s has no key: %w", b.where(), fs.ErrNotExist)
	}
	if !isUint8Array(v) {
		return nil, corrupt("%s: the key record is not bytes", b.where())
	}
	if v.Length() > maxKeyFileSize {
		return nil, corrupt("%s: the key record is larger than %d bytes", b.where(), maxKeyFileSize)
	}
	return bytesFromJS(v), nil
}

// writeKeyFile replaces the wrapped store key in a transaction of its own.
func (b *idb) writeKeyFile(data []byte) error {
	tx, err := b.transaction("readwrite", idbKey)
	if err != nil {
		return fmt.Errorf("localstore: write %s: %w", b.where(), err)
	}
	err = jsTry(func() { tx.Call("objectStore", idbKey).Call("put", bytesToJS(data), idbKeyName) })
	if err == nil {
		err = waitTx(context.Background(), tx)
	}
	if err != nil {
		return fmt.Errorf("localstore: write %s: %w", b.where(), err)
	}
	return nil
}

// close closes the database and gives the Web Lock back.
func (b *idb) close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	if !b.db.IsUndefined() && !b.db.IsNull() {
		b.db.Set("onversionchange", js.Null())
		b.db.Set("onclose", js.Null())
		jsTry(func() { b.db.Call("close") })
	}
	for _, f := range b.funcs {
		f.Release()
	}
	b.funcs = nil
	b.release()
	return nil
}

// deleteIDB deletes the database of the store named dir (a Create that
// failed after making it). The caller holds the store's lock or has just
// released it.
func deleteIDB(dir string) error {
	req := js.Global().Get("indexedDB").Call("deleteDatabase", idbName(dir))
	_, err := waitRequest(req)
	return err
}
