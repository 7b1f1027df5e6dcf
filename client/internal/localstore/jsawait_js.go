//go:build js

package localstore

import (
	"context"
	"errors"
	"fmt"
	"syscall/js"
)

// Waiting on IndexedDB from Go: the goroutine blocks on a channel that
// js.FuncOf callbacks feed (a callback must not block: it runs on the
// browser's event loop), and the callbacks are released once they fired.

// jsTry runs fn, turning a JavaScript exception (which syscall/js raises as
// a panic with a js.Error) into an error.
func jsTry(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			jsErr, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = domError(jsErr.Value)
		}
	}()
	fn()
	return nil
}

// domError describes a DOMException (or any thrown value); a
// QuotaExceededError wraps ErrFull.
func domError(v js.Value) error {
	if v.IsNull() || v.IsUndefined() {
		return errors.New("unknown error")
	}
	if v.Type() != js.TypeObject {
		return fmt.Errorf("%s", v.String())
	}
	name, msg := v.Get("name"), v.Get("message")
	var text string
	switch {
	case name.Type() == js.TypeString && msg.Type() == js.TypeString && msg.String() != "":
		text = name.String() + ": " + msg.String()
	case name.Type() == js.TypeString:
		text = name.String()
	default:
		text = v.Call("toString").String()
	}
	if name.Type() == js.TypeString && name.String() == "QuotaExceededError" {
		return fmt.Errorf("%w (%s)", ErrFull, text)
	}
	return errors.New(text)
}

// jsError is domError of a callback's first argument.
func jsError(args []js.Value) error {
	if len(args) == 0 {
		return domError(js.Undefined())
	}
	return domError(args[0])
}

// waitRequest waits for an IDBRequest's success or error event.
func waitRequest(req js.Value) (js.Value, error) {
	done := make(chan error, 1)
	onSuccess := js.FuncOf(func(js.Value, []js.Value) any {
		done <- nil
		return nil
	})
	onError := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- domError(req.Get("error"))
		if len(args) > 0 {
			args[0].Call("preventDefault") // reported here, not as an uncaught error
		}
		return nil
	})
	defer onSuccess.Release()
	defer onError.Release()
	req.Set("onsuccess", onSuccess)
	req.Set("onerror", onError)
	err := <-done
	req.Set("onsuccess", js.Null())
	req.Set("onerror", js.Null())
	if err != nil {
		return js.Value{}, err
	}
	return req.Get("result"), nil
}

// waitTx waits for an IDBTransaction's complete or abort event; an abort
// is an error (the transaction's own, a QuotaExceededError wrapping
// ErrFull). If ctx ends first the transaction is aborted, and the event
// that follows decides.
func waitTx(ctx context.Context, tx js.Value) error {
	done := make(chan error, 1)
	onComplete := js.FuncOf(func(js.Value, []js.Value) any {
		done <- nil
		return nil
	})
	onAbort := js.FuncOf(func(js.Value, []js.Value) any {
		if e := tx.Get("error"); !e.IsNull() && !e.IsUndefined() {
			done <- fmt.Errorf("transaction aborted: %w", domError(e))
		} else {
			done <- errors.New("transaction aborted")
		}
		return nil
	})
	defer onComplete.Release()
	defer onAbort.Release()
	tx.Set("oncomplete", onComplete)
	tx.Set("onabort", onAbort)
	defer tx.Set("oncomplete", js.Null())
	defer tx.Set("onabort", js.Null())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		jsTry(func() { tx.Call("abort") }) // throws if it already finished
		if err := <-done; err != nil {
			return fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil
	}
}

// isUint8Array reports whether v is a Uint8Array.
func isUint8Array(v js.Value) bool {
	return v.Type() == js.TypeObject && v.InstanceOf(js.Global().Get("Uint8Array"))
}

// bytesFromJS copies a Uint8Array into Go.
func bytesFromJS(v js.Value) []byte {
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b
}

// bytesToJS copies b into a new Uint8Array.
func bytesToJS(b []byte) js.Value {
	v := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(v, b)
	return v
}
