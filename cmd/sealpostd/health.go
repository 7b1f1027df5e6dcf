package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sealpost/sealpost/keyserver/store"
)

// Health endpoints (README "Operations", spec/keyserver.md §3):
//
//   - GET /healthz: alive. 200 while the process serves HTTP; it checks
//     nothing else, so a supervisor restarts only a process that hangs.
//   - GET /readyz: ready. 200 when every check passes: each service's
//     database answers a query within healthTimeout (PostgreSQL
//     reachable), the key server's database takes a write (an expired
//     challenge, which the next challenge use sweeps), and, while a
//     service uses SQLite, the data directory's file system has at least
//     --min-free-disk bytes free. Else 503 with Retry-After; it recovers by
//     itself once the database answers and space is freed. A load
//     balancer sends traffic only to ready nodes. The answer is reused for
//     readyCacheFor, so that callers of the public /readyz cannot make the
//     server write more than once a second.
//
// Both answer {"status":"ok"} or {"status":"unavailable"} and nothing
// about which check failed: that goes to the log.

// readyRetryAfter is the Retry-After, in seconds, of a 503 from /readyz.
const readyRetryAfter = 2

// readyCacheFor is how long a /readyz answer is reused.
const readyCacheFor = time.Second

// check is one readiness check.
type check struct {
	name string
	run  func(context.Context) error
}

// healthzHandler answers 200 while the process serves.
func healthzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK)
	})
}

// readyzHandler answers 200 when every check passes within healthTimeout,
// else 503 with Retry-After, logging the failed check. Callers within
// readyCacheFor of a run get its answer.
func readyzHandler(checks []check, log *slog.Logger) http.Handler {
	var (
		mu    sync.Mutex
		at    time.Time
		ready bool
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if time.Since(at) >= readyCacheFor {
			ready = runChecks(r.Context(), checks, log)
			at = time.Now()
		}
		ok := ready
		mu.Unlock()
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(readyRetryAfter))
			writeStatus(w, http.StatusServiceUnavailable)
			return
		}
		writeStatus(w, http.StatusOK)
	})
}

// runChecks reports whether every check passes within healthTimeout.
func runChecks(ctx context.Context, checks []check, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healthTimeout)
	defer cancel()
	for _, c := range checks {
		if err := c.run(ctx); err != nil {
			log.Warn("not ready", "check", c.name, "err", err)
			return false
		}
	}
	return true
}

func writeStatus(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if status == http.StatusOK {
		io.WriteString(w, `{"status":"ok"}`+"\n")
	} else {
		io.WriteString(w, `{"status":"unavailable"}`+"\n")
	}
}

// keyServerCheck reads the log size and writes an expired challenge (a
// random nonce no client holds; UseChallenge sweeps expired ones).
func keyServerCheck(st store.Store) check {
	return check{name: "keyserver_store", run: func(ctx context.Context) error {
		if _, err := st.LogSize(ctx); err != nil {
			return err
		}
		nonce := make([]byte, 32)
		rand.Read(nonce)
		return st.PutChallenge(ctx, nonce, time.Now().Add(-time.Minute))
	}}
}

// freeDiskCheck fails when the file system holding dir has fewer than min
// bytes available to unprivileged writers.
func freeDiskCheck(dir string, min int64) check {
	return check{name: "free_disk", run: func(context.Context) error {
		free, err := freeBytes(dir)
		if err != nil {
			return err
		}
		if free < min {
			return fmt.Errorf("data directory %s: %d bytes free, below --min-free-disk %d", dir, free, min)
		}
		return nil
	}}
}

// freeBytes is the space available to unprivileged writers on the file
// system holding dir.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
