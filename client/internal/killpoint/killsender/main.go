// Command killsender is the client library's crash-test sender: a real
// process that sends one message and, when told to, kills itself with
// SIGKILL at a step of the send (client/internal/killpoint), as a power
// cut or the OOM killer would.
//
// Usage:
//
//	SEALPOST_TEST_PASSPHRASE=... [SEALPOST_KILL_AT=STEP] killsender \
//		-dir DIR -keyserver URL -pin FINGERPRINT -log-key KEY -to HANDLE -id HEX -text TEXT
//
// It opens the existing store in DIR, calls Send(to, text,
// WithMessageID(id)) and prints "stored" (Send returned nil) or
// "queued" (an error wrapping ErrQueued) and exits 0; any other error
// exits 1. With SEALPOST_KILL_AT set to a step name, it kills itself when
// the client reaches that step; reaching the end without it exits 3.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/client/internal/killpoint"
)

// Environment variables.
const (
	PassphraseEnv = "SEALPOST_TEST_PASSPHRASE"
	KillAtEnv     = "SEALPOST_KILL_AT"
)

func main() {
	code, err := run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "killsender: %v\n", err)
	}
	os.Exit(code)
}

func run() (int, error) {
	dir := flag.String("dir", "", "client store `directory`")
	ks := flag.String("keyserver", "", "key server `URL`")
	pin := flag.String("pin", "", "TLS certificate `fingerprint`")
	logKey := flag.String("log-key", "", "transparency log verifier `key`")
	to := flag.String("to", "", "recipient `handle`")
	idHex := flag.String("id", "", "message `id` (32 hex digits)")
	text := flag.String("text", "", "message `text`")
	flag.Parse()
	pass := os.Getenv(PassphraseEnv)
	id, err := client.ParseMessageID(*idHex)
	if err != nil {
		return 1, err
	}
	if *dir == "" || *ks == "" || *pin == "" || *logKey == "" || *to == "" || pass == "" {
		return 1, fmt.Errorf("need -dir, -keyserver, -pin, -log-key, -to and $%s", PassphraseEnv)
	}
	killAt := os.Getenv(KillAtEnv)
	if killAt != "" {
		killpoint.Set(func(step string) {
			if step == killAt {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.Open(ctx, client.Config{
		Dir:        *dir,
		Passphrase: []byte(pass),
		KeyServer:  *ks,
		Pin:        *pin,
		LogKey:     *logKey,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		return 1, err
	}
	defer c.Close()
	_, err = c.Send(ctx, *to, []byte(*text), client.WithMessageID(id))
	switch {
	case errors.Is(err, client.ErrQueued):
		fmt.Println("queued")
	case err != nil:
		return 1, err
	default:
		fmt.Println("stored")
	}
	if killAt != "" {
		return 3, fmt.Errorf("step %s never reached", killAt)
	}
	return 0, nil
}
