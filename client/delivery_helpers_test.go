package client

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/relay"
	relaysqlite "github.com/sealpost/sealpost/relay/store/sqlite"
)

// restartableRelay is a relay on a SQLite file of its own, served on the
// servers' listener at relay.Path in place of s.rs, that a test stops and
// starts again on the same file and address while the key server stays
// up. While it is down, dials to relay.Path fail (503).
type restartableRelay struct {
	s    *servers
	path string

	mu    sync.Mutex
	rs    *relay.Server // nil while down
	h     http.Handler  // rs's
	q     *relaysqlite.Queue
	conns map[net.Conn]struct{} // connections of the running relay
}

// restartableRelay starts one, and points the clients the servers open
// from now on at it.
func (s *servers) restartableRelay() *restartableRelay {
	s.t.Helper()
	r := &restartableRelay{s: s, path: filepath.Join(s.dir, "relay-restartable.db"), conns: map[net.Conn]struct{}{}}
	r.start()
	s.relayURL = "wss://" + strings.TrimPrefix(s.url, "https://") + relay.Path
	s.setIntercept(func(w http.ResponseWriter, req *http.Request, next http.Handler) {
		if req.URL.Path != relay.Path {
			next.ServeHTTP(w, req)
			return
		}
		r.mu.Lock()
		rs, h := r.rs, r.h
		r.mu.Unlock()
		if rs == nil {
			http.Error(w, "relay down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(&recordHijack{ResponseWriter: w, r: r}, req)
	})
	s.t.Cleanup(func() { r.stop(false) })
	return r
}

// start opens the relay's file and starts a relay on it.
func (r *restartableRelay) start() {
	r.s.t.Helper()
	q, err := relaysqlite.Open(r.path)
	if err != nil {
		r.s.t.Fatal(err)
	}
	limits := relay.DefaultLimits()
	limits.HeartbeatInterval = 200 * time.Millisecond
	limits.IdleTimeout = 2 * time.Second
	rs, err := relay.New(relay.Config{
		Name:        serverName,
		Queue:       q,
		TokenKeys:   []ed25519.PublicKey{r.s.tokenPub},
		Limits:      limits,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Revocations: r.s.ks,
	})
	if err != nil {
		q.Close()
		r.s.t.Fatal(err)
	}
	r.mu.Lock()
	r.rs, r.q, r.h = rs, q, rs.Handler()
	r.mu.Unlock()
}

// stop stops the relay and closes its file. abrupt drops every connection
// first, without a WebSocket close or an answer to what is in flight (a
// crash, as far as the clients can tell); otherwise the relay shuts down
// gracefully (answers what is in flight, then shutting_down).
func (r *restartableRelay) stop(abrupt bool) {
	r.mu.Lock()
	rs, q, conns := r.rs, r.q, r.conns
	r.rs, r.q, r.conns = nil, nil, map[net.Conn]struct{}{}
	r.mu.Unlock()
	if rs == nil {
		return
	}
	if abrupt {
		for c := range conns {
			c.Close()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rs.Shutdown(ctx)
	q.Close()
}

// restart stops the relay, keeps it down for down, and starts a new one on
// the same file.
func (r *restartableRelay) restart(abrupt bool, down time.Duration) {
	r.stop(abrupt)
	time.Sleep(down)
	r.start()
}

// recordHijack records the connections the relay hijacks, so that stop
// can drop them.
type recordHijack struct {
	http.ResponseWriter
	r *restartableRelay
}

func (w *recordHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.r.mu.Lock()
		w.r.conns[c] = struct{}{}
		w.r.mu.Unlock()
	}
	return c, brw, err
}
