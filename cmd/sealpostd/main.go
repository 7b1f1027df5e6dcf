// Command sealpostd runs Sealpost's servers: the key server, the relay and
// the blob service of attachments, all three by default (--services
// keyserver,relay,blobs), or any of them alone.
//
// With no flags it serves on 127.0.0.1:8443 over TLS 1.3 with SQLite in
// ./sealpost-data (keyserver.db, relay.db, blobs.db; blob bytes under
// blobs/), generating there on first start
// (and reusing after) a self-signed certificate, the token signing key and
// the transparency log signing key. It prints the certificate's SHA-256
// fingerprint, which clients pin, and the log's verifier key. The relay is
// the WebSocket endpoint /v1/relay on the same listener; it accepts tokens
// for audience relay:<name> signed by the key server's token key (its own,
// in the same process, or the keys given with --relay-token-key). The blob
// service (spec/attachments.md §4) serves /v1/blobs/ on the same listener
// and takes tokens for audience blobs:<name> the same way
// (--blobs-token-key); its sweeper deletes expired blobs every minute.
// The relay wakes devices that are not connected (spec/push.md): Web Push
// itself, with the VAPID key it keeps in the data directory (vapid.pem)
// and publishes at /.well-known/sealpost-relay, and APNs and FCM through
// the push gateways named with --relay-push-gateway. The push gateway
// itself (--services pushgw) is what an app vendor runs with its Apple and
// Google credentials; it is never among the defaults.
// With --web DIR it also serves the web client that sealpost-webbuild
// built into DIR under /web/ (web.go, web/README.md).
//
// Usage:
//
//	sealpostd [flags]          serve
//	sealpostd invite [flags]   print a new invite code and exit
//
// Flags (sealpostd -h lists them with their defaults) may also come from a
// JSON file named by --config; flags given on the command line override it.
// An invalid configuration is reported whole, every problem at once, and
// sealpostd exits with status 2; a failure at start or while serving exits
// with status 1; SIGINT or SIGTERM shut it down gracefully with status 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is sealpostd with its arguments and output streams; it returns the
// exit status.
func run(args []string, stdout, stderr io.Writer) int {
	name, invite := "sealpostd", false
	if len(args) > 0 && args[0] == "invite" {
		name, invite, args = "sealpostd invite", true, args[1:]
	}
	cfg, err := parseConfig(name, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "sealpostd: invalid configuration:\n")
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "  %s\n", line)
		}
		return exitUsage
	}
	log := newLogger(cfg, stderr)
	cfg.applyGC(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if invite {
		err = runInvite(ctx, cfg, log, stdout)
	} else {
		err = serve(ctx, cfg, log, stdout)
		if err == nil {
			log.Info("stopped")
		}
	}
	if err != nil {
		log.Error("sealpostd failed", "err", err)
		fmt.Fprintf(stderr, "sealpostd: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// newLogger returns the slog logger cfg asks for, writing to w.
func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
