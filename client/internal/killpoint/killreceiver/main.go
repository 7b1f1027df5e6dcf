// Command killreceiver is the client library's crash-test receiver: a real
// process that receives what the relay holds for its device and, when
// told to, kills itself with SIGKILL at a step of receiving
// (client/internal/killpoint), as a power cut or the OOM killer would.
//
// Usage:
//
//	SEALPOST_TEST_PASSPHRASE=... [SEALPOST_KILL_AT=STEP] killreceiver \
//		-dir DIR -keyserver URL -pin FINGERPRINT -log-key KEY [-group ID] [-until TEXT] [-quiet D]
//
// It opens the existing store in DIR and prints, one JSON object a line
// as it happens, every group event ({"kind":"event",...}) and every
// message ({"kind":"message",...}; printed before it is acked, so a
// message the application took is on stdout even if the process dies
// right after). Once a message whose text is TEXT has arrived it listens
// for D more, prints the state of group ID ({"kind":"group",...}), closes
// the client and exits 0. With SEALPOST_KILL_AT set to a step name, it
// kills itself when the client reaches that step; not reaching it within
// the timeout exits 3. Any other failure exits 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
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

// Line is one line of output.
type Line struct {
	Kind string `json:"kind"` // "event", "message" or "group"

	// An event: its kind's name (group-changed, group-refused,
	// envelope-dropped), its account, group and change kind, its error.
	Event  string `json:"event,omitempty"`
	Handle string `json:"handle,omitempty"`
	Change string `json:"change,omitempty"`
	Err    string `json:"err,omitempty"`

	// A message: its id, sender and text.
	ID   string `json:"id,omitempty"`
	From string `json:"from,omitempty"`
	Text string `json:"text,omitempty"`

	// The group of an event, a message or the final state, and the state.
	Group   string   `json:"group,omitempty"`
	Name    string   `json:"name,omitempty"`
	Epoch   uint64   `json:"epoch,omitempty"`
	Members []string `json:"members,omitempty"`
}

var outMu sync.Mutex

// printLine writes l as one line, in one write: what is printed is out of the
// process before the next step.
func printLine(l Line) {
	b, _ := json.Marshal(l)
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func main() {
	code, err := run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "killreceiver: %v\n", err)
	}
	os.Exit(code)
}

func run() (int, error) {
	dir := flag.String("dir", "", "client store `directory`")
	ks := flag.String("keyserver", "", "key server `URL`")
	pin := flag.String("pin", "", "TLS certificate `fingerprint`")
	logKey := flag.String("log-key", "", "transparency log verifier `key`")
	groupHex := flag.String("group", "", "`id` of the group whose state to print at the end")
	until := flag.String("until", "", "stop after the message of this `text`")
	quiet := flag.Duration("quiet", time.Second, "how long to listen after it")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	pass := os.Getenv(PassphraseEnv)
	if *dir == "" || *ks == "" || *pin == "" || *logKey == "" || pass == "" {
		return 1, fmt.Errorf("need -dir, -keyserver, -pin, -log-key and $%s", PassphraseEnv)
	}
	var gid client.GroupID
	if *groupHex != "" {
		var err error
		if gid, err = client.ParseGroupID(*groupHex); err != nil {
			return 1, err
		}
	}
	killAt := os.Getenv(KillAtEnv)
	if killAt != "" {
		killpoint.Set(func(step string) {
			if step == killAt {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		})
	} else if *until == "" {
		return 1, errors.New("need -until or $" + KillAtEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
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
	go func() {
		for e := range c.Events() {
			switch e.Kind {
			case client.EventGroupChanged, client.EventGroupRefused, client.EventEnvelopeDropped:
				l := Line{Kind: "event", Event: e.Kind.String(), Handle: e.Handle, Change: e.GroupChange}
				if e.Group != (client.GroupID{}) {
					l.Group = e.Group.String()
				}
				if e.Err != nil {
					l.Err = e.Err.Error()
				}
				printLine(l)
			}
		}
	}()
	var stop <-chan time.Time
	for {
		select {
		case m := <-c.Messages():
			l := Line{Kind: "message", ID: m.ID.String(), From: m.From, Text: string(m.Plaintext)}
			if m.Group != (client.GroupID{}) {
				l.Group = m.Group.String()
			}
			printLine(l)
			m.Ack()
			if stop == nil && *until != "" && string(m.Plaintext) == *until {
				stop = time.After(*quiet)
			}
		case <-stop:
			if gid != (client.GroupID{}) {
				g, err := c.GroupMembers(ctx, gid)
				if err != nil {
					return 1, err
				}
				printLine(Line{Kind: "group", Group: g.ID.String(), Name: g.Name, Epoch: g.Epoch, Members: g.Members})
			}
			if err := c.Close(); err != nil {
				return 1, err
			}
			if killAt != "" {
				return 3, fmt.Errorf("step %s never reached", killAt)
			}
			return 0, nil
		case <-ctx.Done():
			if killAt != "" {
				return 3, fmt.Errorf("step %s never reached", killAt)
			}
			return 1, fmt.Errorf("no message %q: %w", *until, ctx.Err())
		}
	}
}
