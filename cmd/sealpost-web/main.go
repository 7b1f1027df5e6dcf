//go:build js

// Command sealpost-web is the web client's WebAssembly module: the client
// package in the browser, behind a small Promise-based JavaScript API on
// globalThis.sealpost (web/README.md has the reference):
//
//	const c = await sealpost.open({store, passphrase, create, keyServer, relay, logKey, ...});
//	await c.register("alice");
//	c.onMessage(m => { show(m); c.ack(m.id); });
//	const id = await c.send("bob", "hello");
//
// Every method that waits returns a Promise; a failure rejects it with an
// Error whose code is a stable word (client/webbridge) and whose message
// is for people. sealpost-webbuild builds it with GOOS=js GOARCH=wasm.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"syscall/js"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/client/webbridge"
)

// callTimeout bounds one call of the API (a send, a lookup): the page is
// told "timeout" rather than waiting for ever.
const callTimeout = 60 * time.Second

// openTimeout bounds open, which derives the store key from the
// passphrase (scrypt) and may create the store.
const openTimeout = 5 * time.Minute

func main() {
	api := js.Global().Get("Object").New()
	api.Set("open", js.FuncOf(open))
	api.Set("version", "1")
	js.Global().Set("sealpost", api)
	// Tell the page the API is there (the page waits for this event
	// rather than polling).
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("sealpost-ready"))
	select {} // the module serves the page until it is unloaded
}

// open is sealpost.open(options).
func open(_ js.Value, args []js.Value) any {
	var opts js.Value
	if len(args) > 0 {
		opts = args[0]
	}
	cfg, err := config(opts)
	return promise(func() (any, error) {
		if err != nil {
			return nil, err
		}
		defer clear(cfg.Passphrase)
		ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
		defer cancel()
		c, err := client.Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return newSession(c).object(), nil
	})
}

// config reads the options of open. The passphrase, a Uint8Array
// (preferred: it is zeroed here once copied) or a string, is copied into
// a Go slice that open zeroes once the store is open.
func config(opts js.Value) (client.Config, error) {
	if opts.Type() != js.TypeObject {
		return client.Config{}, webbridge.Usage("open needs an options object")
	}
	cfg := client.Config{
		Dir:              stringOpt(opts, "store", "sealpost"),
		Create:           boolOpt(opts, "create"),
		KeyServer:        stringOpt(opts, "keyServer", js.Global().Get("location").Get("origin").String()),
		Relay:            stringOpt(opts, "relay", ""),
		Blobs:            stringOpt(opts, "blobs", ""),
		LogKey:           stringOpt(opts, "logKey", ""),
		KeyServerName:    stringOpt(opts, "keyServerName", ""),
		TrustOnFirstUse:  boolOpt(opts, "trustOnFirstUse"),
		Invite:           stringOpt(opts, "invite", ""),
		FollowKeyChanges: boolOpt(opts, "followKeyChanges"),
		NoReadReceipts:   boolOpt(opts, "noReadReceipts"),
	}
	if wf := opts.Get("workFactor"); wf.Type() == js.TypeNumber {
		cfg.WorkFactor = wf.Int()
	}
	if boolOpt(opts, "debugLog") {
		// The client's debug log (timings of each send's phases, never
		// what is sent) on the page's console, for measurements.
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	pass := opts.Get("passphrase")
	switch pass.Type() {
	case js.TypeString:
		cfg.Passphrase = []byte(pass.String())
	case js.TypeObject:
		if !pass.InstanceOf(js.Global().Get("Uint8Array")) {
			return cfg, webbridge.Usage("passphrase must be a string or a Uint8Array")
		}
		cfg.Passphrase = make([]byte, pass.Length())
		js.CopyBytesToGo(cfg.Passphrase, pass)
		pass.Call("fill", 0)
	}
	if len(cfg.Passphrase) == 0 {
		return cfg, webbridge.Usage("a passphrase is needed")
	}
	return cfg, nil
}

func stringOpt(o js.Value, name, def string) string {
	if v := o.Get(name); v.Type() == js.TypeString && v.String() != "" {
		return v.String()
	}
	return def
}

func boolOpt(o js.Value, name string) bool {
	v := o.Get(name)
	return v.Type() == js.TypeBoolean && v.Bool()
}

// session is one open client and the page's callbacks.
type session struct {
	c *client.Client

	mu       sync.Mutex
	onMsg    js.Value                   // the page's onMessage function, or undefined
	onEvt    js.Value                   // the page's onEvent function, or undefined
	pending  map[string]*client.Message // offered, not yet acked, by id
	msgReady chan struct{}              // closed and replaced when onMsg is set
	events   []webbridge.Object         // events before onEvent was set
	closed   bool
}

// maxEarlyEvents bounds the events kept for a page that has not called
// onEvent yet; the oldest go first.
const maxEarlyEvents = 256

func newSession(c *client.Client) *session {
	s := &session{c: c, pending: map[string]*client.Message{}, msgReady: make(chan struct{})}
	go s.readMessages()
	go s.readEvents()
	return s
}

// object is the client object the page gets.
func (s *session) object() js.Value {
	o := js.Global().Get("Object").New()
	method := func(name string, f func(args []js.Value) (any, error)) {
		fn := js.FuncOf(func(_ js.Value, args []js.Value) any { return promise(func() (any, error) { return f(args) }) })
		o.Set(name, fn)
	}
	plain := func(name string, f func(args []js.Value) any) {
		fn := js.FuncOf(func(_ js.Value, args []js.Value) any { return f(args) })
		o.Set(name, fn)
	}
	plain("handle", func([]js.Value) any { return s.c.Handle() })
	plain("deviceId", func([]js.Value) any { return s.c.DeviceID() })
	plain("onMessage", func(args []js.Value) any { s.setOnMessage(arg(args, 0)); return nil })
	plain("onEvent", func(args []js.Value) any { s.setOnEvent(arg(args, 0)); return nil })
	method("register", s.register)
	method("send", s.send)
	method("ack", s.ack)
	method("safetyNumber", s.safetyNumber)
	method("verify", s.verify)
	method("acceptKeyChange", s.acceptKeyChange)
	method("contacts", s.contacts)
	method("history", s.history)
	method("status", s.status)
	method("devices", s.devices)
	method("close", s.close)
	return o
}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// handleArg is argument i as a handle.
func handleArg(args []js.Value, i int) (string, error) {
	v := arg(args, i)
	if v.Type() != js.TypeString || v.String() == "" {
		return "", webbridge.Usage("a handle is needed")
	}
	return v.String(), nil
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

func (s *session) register(args []js.Value) (any, error) {
	h, err := handleArg(args, 0)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callCtx()
	defer cancel()
	return nil, s.c.Register(ctx, h)
}

// send is send(handle, text[, {id}]): it resolves with the message id
// once the relay stored the message. A message queued but not confirmed
// rejects with code "queued" and the id in the error's id: it goes out by
// itself later and must not be sent again. With id (32 hex digits, made
// by the page), a send that failed before it was queued (the key server
// unreachable: every send looks the recipient's keys up afresh) can be
// tried again with the same id, handle and text without ever being sent
// twice (client.WithMessageID).
func (s *session) send(args []js.Value) (any, error) {
	h, err := handleArg(args, 0)
	if err != nil {
		return nil, err
	}
	text := arg(args, 1)
	if text.Type() != js.TypeString {
		return nil, webbridge.Usage("send needs a text")
	}
	var opts []client.SendOption
	if o := arg(args, 2); o.Type() == js.TypeObject {
		if v := o.Get("id"); v.Type() == js.TypeString {
			mid, err := client.ParseMessageID(v.String())
			if err != nil {
				return nil, webbridge.Usage("not a message id: " + v.String())
			}
			opts = append(opts, client.WithMessageID(mid))
		}
	}
	ctx, cancel := callCtx()
	defer cancel()
	id, err := s.c.SendText(ctx, h, text.String(), opts...)
	if errors.Is(err, client.ErrQueued) {
		return nil, &queuedError{id: id.String(), err: err}
	}
	if err != nil {
		return nil, err
	}
	return id.String(), nil
}

// queuedError is a send that was queued: the page is given its id.
type queuedError struct {
	id  string
	err error
}

func (e *queuedError) Error() string { return e.err.Error() }
func (e *queuedError) Unwrap() error { return e.err }

// ack is ack(id): the page has shown (or kept) the message, the client
// forgets it and the next one comes. An id that is not offered (acked
// already, or never) is unknown_message.
func (s *session) ack(args []js.Value) (any, error) {
	id := arg(args, 0)
	if id.Type() != js.TypeString {
		return nil, webbridge.Usage("ack needs a message id")
	}
	s.mu.Lock()
	m := s.pending[id.String()]
	delete(s.pending, id.String())
	s.mu.Unlock()
	if m == nil {
		return nil, client.ErrUnknownMessage
	}
	m.Ack()
	return nil, nil
}

func (s *session) safetyNumber(args []js.Value) (any, error) {
	h, err := handleArg(args, 0)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callCtx()
	defer cancel()
	sn, err := s.c.SafetyNumber(ctx, h)
	if err != nil {
		return nil, err
	}
	return webbridge.SafetyNumber(sn)
}

func (s *session) verify(args []js.Value) (any, error) {
	h, err := handleArg(args, 0)
	if err != nil {
		return nil, err
	}
	digits := arg(args, 1)
	if digits.Type() != js.TypeString {
		return nil, webbridge.Usage("verify needs the digits compared")
	}
	ctx, cancel := callCtx()
	defer cancel()
	return nil, webbridge.Verify(ctx, s.c, h, digits.String())
}

func (s *session) acceptKeyChange(args []js.Value) (any, error) {
	h, err := handleArg(args, 0)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callCtx()
	defer cancel()
	return nil, s.c.AcceptKeyChange(ctx, h)
}

func (s *session) contacts([]js.Value) (any, error) {
	ctx, cancel := callCtx()
	defer cancel()
	cs, err := s.c.Contacts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(cs))
	for i, c := range cs {
		out[i] = webbridge.Contact(c)
	}
	return out, nil
}

// history is history(handle, limit): the newest limit messages (default
// 50), oldest first.
func (s *session) history(args []js.Value) (any, error) {
	h, err := handleArg(args, 0)
	if err != nil {
		return nil, err
	}
	limit := 50
	if l := arg(args, 1); l.Type() == js.TypeNumber && l.Int() > 0 {
		limit = l.Int()
	}
	ctx, cancel := callCtx()
	defer cancel()
	es, err := s.c.History(ctx, h, limit)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(es))
	for i, e := range es {
		out[i] = webbridge.HistoryEntry(e)
	}
	return out, nil
}

// status is status(id): how far a message this account sent has got,
// {state, devices, stored, refused, delivered, read} with state one of
// "queued" (kept here, not yet stored by the relay for every recipient
// device), "stored", "delivered", "read".
func (s *session) status(args []js.Value) (any, error) {
	v := arg(args, 0)
	if v.Type() != js.TypeString {
		return nil, webbridge.Usage("status needs a message id")
	}
	id, err := client.ParseMessageID(v.String())
	if err != nil {
		return nil, webbridge.Usage("not a message id: " + v.String())
	}
	ctx, cancel := callCtx()
	defer cancel()
	st, err := s.c.MessageStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	return webbridge.Status(st), nil
}

func (s *session) devices([]js.Value) (any, error) {
	ctx, cancel := callCtx()
	defer cancel()
	ds, err := s.c.Devices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(ds))
	for i, d := range ds {
		out[i] = webbridge.Device(d)
	}
	return out, nil
}

// close closes the client (its store, its connection) and releases the
// object's functions; later calls reject with code "closed".
func (s *session) close([]js.Value) (any, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil
	}
	s.closed = true
	s.mu.Unlock()
	return nil, s.c.Close()
}

// setOnMessage sets the page's message callback; messages wait for it.
func (s *session) setOnMessage(fn js.Value) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onMsg = fn
	if fn.Type() == js.TypeFunction {
		close(s.msgReady)
		s.msgReady = make(chan struct{})
	}
}

// setOnEvent sets the page's event callback and hands it the events that
// came before.
func (s *session) setOnEvent(fn js.Value) {
	s.mu.Lock()
	s.onEvt = fn
	early := s.events
	s.events = nil
	s.mu.Unlock()
	if fn.Type() == js.TypeFunction {
		for _, e := range early {
			callback(fn, e)
		}
	}
}

// readMessages offers each received message to the page's callback, one
// at a time as the client does: the next comes once the page acks this
// one.
func (s *session) readMessages() {
	for m := range s.c.Messages() {
		id := m.ID.String()
		s.mu.Lock()
		s.pending[id] = m
		s.mu.Unlock()
		for {
			s.mu.Lock()
			fn, ready := s.onMsg, s.msgReady
			s.mu.Unlock()
			if fn.Type() == js.TypeFunction {
				callback(fn, webbridge.Message(m))
				break
			}
			<-ready
		}
	}
}

// readEvents hands the client's events to the page's callback, keeping
// the latest maxEarlyEvents until there is one.
func (s *session) readEvents() {
	for e := range s.c.Events() {
		o := webbridge.Event(e)
		s.mu.Lock()
		fn := s.onEvt
		if fn.Type() != js.TypeFunction {
			if len(s.events) == maxEarlyEvents {
				s.events = s.events[1:]
			}
			s.events = append(s.events, o)
			s.mu.Unlock()
			continue
		}
		s.mu.Unlock()
		callback(fn, o)
	}
}

// callback calls the page's fn with o; an exception it throws is
// reported on the console, not to the client.
func callback(fn js.Value, o webbridge.Object) {
	defer func() {
		if r := recover(); r != nil {
			js.Global().Get("console").Call("error", "sealpost: callback threw", js.ValueOf(errorString(r)))
		}
	}()
	fn.Invoke(toJS(o))
}

func errorString(r any) string {
	if err, ok := r.(error); ok {
		return err.Error()
	}
	return "panic"
}

// promise runs f in a goroutine and returns a Promise of its outcome.
func promise(f func() (any, error)) js.Value {
	var handler js.Func
	handler = js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer handler.Release()
			v, err := f()
			if err != nil {
				reject.Invoke(jsError(err))
				return
			}
			resolve.Invoke(toJS(v))
		}()
		return nil
	})
	return js.Global().Get("Promise").New(handler)
}

// jsError is err as the page gets it: an Error with code and message
// (and id, for a queued send).
func jsError(err error) js.Value {
	d := webbridge.Describe(err)
	e := js.Global().Get("Error").New(d.Message)
	e.Set("code", d.Code)
	var q *queuedError
	if errors.As(err, &q) {
		e.Set("id", q.id)
	}
	return e
}

// toJS converts a webbridge value: byte slices become Uint8Arrays.
func toJS(v any) any {
	switch v := v.(type) {
	case []byte:
		a := js.Global().Get("Uint8Array").New(len(v))
		js.CopyBytesToJS(a, v)
		return a
	case webbridge.Object:
		o := js.Global().Get("Object").New()
		for k, x := range v {
			o.Set(k, toJS(x))
		}
		return o
	case []any:
		a := js.Global().Get("Array").New(len(v))
		for i, x := range v {
			a.SetIndex(i, toJS(x))
		}
		return a
	case uint32:
		return float64(v)
	}
	return v
}
