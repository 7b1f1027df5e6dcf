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
//	react HANDLE ID EMOJI  react to a message (--remove takes it back)
//	edit HANDLE ID TEXT    change the text of a message you sent
//	delete HANDLE ID       delete a message you sent, for everyone
//	timer HANDLE [D|off]   show or set the disappearing-message timer
//	status ID              show whether a message was delivered and read
//	history HANDLE         show the conversation as this device keeps it
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
//	{"id":HEX,"from":H,"from_device":N,"to":H,"sent":BOOL,"time":T,"received":T,
//	 "disappears_after_seconds":N,"kind":K,"text":S,"reply_to":{"id":HEX,"sender":H},
//	 "reaction":{"target":HEX,"emoji":S,"remove":BOOL},"target":HEX,
//	 "timer_seconds":N,"app":{"type_url":S,"value_base64":B,"size":N},
//	 "unknown_base64":B}
//
// with the fields of its kind K (text, reaction, edit, delete, timer, app,
// unknown as client/content names them; v1 for a version 1 message; "sent"
// marks a message this account sent, from another device or from this
// chat; "text_base64" is added when a version 1 text is not valid UTF-8;
// T is RFC 3339 in UTC with milliseconds) and each client event as
//
//	{"event":KIND,"handle":H,"device":N,"time":T,"error":S,"messages":[HEX],"read":BOOL,"typing":BOOL}
//
// on standard output, KIND being key-changed, device-added,
// device-revoked, envelope-dropped, security, connected, disconnected,
// receipt, typing, presence, content-dropped or message-expired (empty
// fields left out; "read" only on receipts, "typing" only on typing).
// Without --json, events go to standard error. "history" prints entries
// with the message fields and "outgoing", "edited", "deleted",
// "reactions", "read", "expires" and "status"; "status" prints
// {"id","state","devices","stored","refused","delivered","read",
// "device_states"}.
//
// Human output shows a message as
//
//	2026-11-27 07:01:02  ab12cd34  bob (device 1): text
//	2026-11-27 07:01:02  ab12cd34  → bob: text       (sent from this account's other device)
//	2026-11-27 07:01:02  ab12cd34  bob (device 1) reacted 👍 to 9f00aa11
//
// (ab12cd34 being the first digits of the message id, which commands take)
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
//	2  usage error (bad flag or argument, no passphrase source, content
//	   the format refuses)
//	3  local state: wrong passphrase, store locked by another process,
//	   no store or not registered, corrupt store; a message id this
//	   device does not know, an edit or delete of another's message
//	4  security failure: the client refused a key or log (ErrSecurity),
//	   a contact's key changed (ErrKeyChanged), safety number mismatch,
//	   server certificate does not match the pin or is not trusted
//	5  a server unreachable or not answering: connection refused, dial
//	   or TLS handshake timeout, stale key server; a message queued;
//	   typing or presence while not connected
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
