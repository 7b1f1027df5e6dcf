// Command receiver is the end-to-end tests' receiving client: a real
// process that the tests kill with SIGKILL mid-stream. It opens an
// existing client store and prints every message it takes from
// client.Messages as one JSON line on standard output, written with a
// single write before it takes the next one, so that a line on the pipe is
// a message the application has shown (spec/client.md §5.3).
//
// Usage:
//
//	SEALPOST_E2E_PASSPHRASE=... receiver -dir DIR -keyserver URL -pin FINGERPRINT [-hold D]
//
// Events and logs go to standard error. SIGTERM or SIGINT closes the
// client and exits with status 0.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sealpost/sealpost/client"
)

// PassphraseEnv names the environment variable holding the store's
// passphrase (kept off the command line).
const PassphraseEnv = "SEALPOST_E2E_PASSPHRASE"

// Line is what the receiver prints for each message.
type Line struct {
	ID   string `json:"id"`
	From string `json:"from"`
	Text string `json:"text"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "receiver: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", "", "client store `directory`")
	ks := flag.String("keyserver", "", "key server `URL`")
	pin := flag.String("pin", "", "TLS certificate `fingerprint`")
	logKey := flag.String("log-key", "", "transparency log verifier `key`")
	hold := flag.Duration("hold", 0, "wait `D` after taking a message before printing it (an application's own slow write)")
	flag.Parse()
	pass := os.Getenv(PassphraseEnv)
	if *dir == "" || *ks == "" || *pin == "" || *logKey == "" || pass == "" {
		return fmt.Errorf("need -dir, -keyserver, -pin, -log-key and $%s", PassphraseEnv)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c, err := client.Open(ctx, client.Config{
		Dir:        *dir,
		Passphrase: []byte(pass),
		KeyServer:  *ks,
		Pin:        *pin,
		LogKey:     *logKey,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		return err
	}
	defer c.Close()
	go func() {
		for e := range c.Events() {
			fmt.Fprintf(os.Stderr, "receiver: event %d handle=%q device=%d err=%v\n", e.Kind, e.Handle, e.Device, e.Err)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-c.Messages():
			time.Sleep(*hold)
			b, err := json.Marshal(Line{ID: m.ID.String(), From: m.From, Text: string(m.Plaintext)})
			if err != nil {
				return err
			}
			// One write per line: os.Stdout is unbuffered, so the line
			// is on the pipe when Write returns.
			if _, err := os.Stdout.Write(append(b, '\n')); err != nil {
				return err
			}
			// Printed: the client may forget it.
			m.Ack()
		}
	}
}
