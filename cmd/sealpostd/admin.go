package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// The admin listener (--admin-listen): plain HTTP for the operator's
// tools, never the public TLS listener. It serves /metrics (Prometheus),
// /debug/pprof/ (Go profiles), /healthz and /readyz. Off by default: a
// fixed default port would clash between two sealpostd on one host; the
// README recommends 127.0.0.1:9090. The public listener answers 404 for
// /metrics and /debug/pprof/ whatever this setting.

// adminWriteTimeout lets a CPU profile or execution trace run for its
// default 30 seconds and more.
const adminWriteTimeout = 5 * time.Minute

// adminMux routes the admin listener's paths.
func adminMux(metrics, healthz, readyz http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("GET /healthz", healthz)
	mux.Handle("GET /readyz", readyz)
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// startAdmin listens on addr and serves mux there, sending Serve's error
// to errc. It warns when addr is not a loopback address.
func startAdmin(addr string, mux *http.ServeMux, log *slog.Logger, stdout io.Writer, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		log.Warn("admin listener is not on loopback: /metrics and /debug/pprof/ are open to whoever reaches it", "addr", ln.Addr().String())
	}
	srv := newHTTPServer(mux, log)
	srv.WriteTimeout = adminWriteTimeout
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "sealpostd: admin listening on http://%s\n", ln.Addr())
	log.Info("admin listener", "addr", ln.Addr().String())
	return srv, nil
}
