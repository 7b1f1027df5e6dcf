// Command sealpost is the Sealpost command-line client: it creates an
// account, sends and receives end-to-end encrypted messages, compares
// safety numbers, lists and revokes devices, audits the key server's
// transparency log and makes encrypted backups. It is built on the
// public client package only.
//
// Usage:
//
//	sealpost [global flags] COMMAND [flags] [arguments]
//
// Commands:
//
//	init HANDLE            create the local store in DIR and register HANDLE
//	send HANDLE [MESSAGE]  send MESSAGE (or standard input, also with "-")
//	listen                 print incoming messages as they arrive
//	chat HANDLE            send the lines typed, show the replies
//	verify HANDLE          show the safety number with HANDLE, mark verified
//	accept HANDLE          accept HANDLE's changed account key
//	contacts               list contacts
//	devices                list this account's devices
//	devices revoke ID      revoke one of this account's devices
//	audit                  download and check the whole transparency log
//	backup FILE            write an encrypted backup of the account
//	restore FILE           make a new device of the account from a backup
//	help [COMMAND]         show help
//	version                print the version
//
// Global flags, accepted before or after the command name:
//
//	--dir DIR                the store directory (default $SEALPOST_DIR, else ~/.sealpost)
//	--json                   machine output: one JSON object per line on standard output
//	--passphrase-file FILE   read the store passphrase from the first line of FILE
//	-v, --verbose            log the client's diagnostics to standard error
//
// The passphrase comes from --passphrase-file, else from the environment
// variable SEALPOST_PASSPHRASE (visible to other processes of the same
// user through /proc; prefer the file), else it is asked for on the
// terminal without echo ("init" and "restore" ask twice and refuse an empty
// passphrase). When standard input is not a terminal and neither source is
// given, sealpost fails with exit status 2 instead of waiting.
//
// DIR holds config.json (the server URLs and TLS trust: nothing secret,
// mode 0600) beside the encrypted store the client package keeps there,
// and a .gitignore of "*" so that the store is never committed.
//
// With --json, "listen" and "chat" print each message as
//
//	{"id":HEX,"from":H,"from_device":N,"to":H,"sent":BOOL,"time":RFC3339Nano,"text":S}
//
// ("sent" marks a message this account sent, from another device or from
// this chat; "text_base64" is added when the text is not valid UTF-8) and
// each client event as
//
//	{"event":KIND,"handle":H,"device":N,"error":S}
//
// on standard output, KIND being key-changed, device-added,
// device-revoked, envelope-dropped, security, connected or disconnected
// (empty fields left out). Without --json, events go to standard error.
//
// Human output shows a message as
//
//	2026-11-27 07:01:02  bob (device 1): text
//	2026-11-27 07:01:02  → bob: text       (sent from this account's other device)
//
// with later lines of a message indented; "chat" puts "*" before the
// sender of a message that is not part of the conversation. Control
// characters (ESC, so ANSI sequences, among them), invalid UTF-8,
// bidirectional overrides and backslashes in anything a peer or a server
// chose are shown as escapes (\x1b, \u202e, \\), so a message cannot
// drive or fake the terminal.
//
// Exit status:
//
//	0  success (chat and listen: also an end by Ctrl-D, /quit or Ctrl-C)
//	1  any other failure
//	2  usage error (bad flag or argument, no passphrase source)
//	3  local state: wrong passphrase, store locked by another process,
//	   no store or not registered, corrupt store
//	4  security failure: the client refused a key or log (ErrSecurity),
//	   a contact's key changed (ErrKeyChanged), safety number mismatch,
//	   server certificate does not match the pin or is not trusted
//	5  a server unreachable or not answering: connection refused, dial
//	   or TLS handshake timeout, stale key server; a message queued
//	6  no such account: the key server does not know the HANDLE given
//
// Before a command talks to the servers, sealpost checks for up to 4
// seconds that each accepts a TCP connection and a TLS handshake under
// the configured trust, and otherwise fails at once naming the address and
// the cause (probe.go).
//
// Errors are one line on standard error: "sealpost: COMMAND: reason",
// without the libraries' package prefixes (errors.go). With --json, an
// error is instead one JSON object on standard error (standard output
// keeps only results):
//
//	{"error":CODE,"message":S,"hint":S,"command":S,"exit":N}
//
// CODE being one of the words "sealpost help" lists by exit status.
//
// SEALPOST_TEST_WORKFACTOR, when set to a number, is the scrypt work factor
// (log2 N) of a new store or backup. It exists only to keep tests fast and
// weakens the store; never set it otherwise.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], newStdio())
	stop()
	os.Exit(code)
}
