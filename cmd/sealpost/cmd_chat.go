package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/crypto/keys"
)

var chatCommand = &command{
	name:    "chat",
	usage:   "chat HANDLE | --group GROUP",
	summary: "send the lines typed, show the replies",
	help: `
An interactive conversation with HANDLE: each line typed is sent as a text;
messages from HANDLE (texts, reactions, edits, deletions, timer changes, as
listen shows them), and copies of what this account sent HANDLE from its
other devices, are printed as they come. Messages to and from anyone else
are shown too, marked with "*" before the sender. HANDLE is looked up
first: an account the key server does not know ends chat at once (exit
status 6). End of input (Ctrl-D), a line "/quit", or Ctrl-C ends the chat
with exit status 0 (4 if a security event was reported, as for listen); a
line that could not be sent is reported at once and the chat goes on.

Each line sent is shown with its id and its state, which is shown again
as it changes:
  2026-12-04 21:00:01  ab12cd34  → bob: see you at 8  ✓
  → ab12cd34 ✓✓          (delivered to one of bob's devices)
  → ab12cd34 ✓✓ read     (read on one of them)
Messages shown are marked read, as listen does (--no-read, --no-receipts).

Typing: on a terminal, chat reads each key as it is typed (the line being
typed stays below what arrives meanwhile; Backspace, Ctrl-U and Ctrl-W
edit it) and tells HANDLE's connected devices that you are typing when a
line is begun, again every 5 seconds while it grows, and that you stopped
when it is sent or erased. "bob is typing…" is shown before the line being
typed while bob types (for up to 15 seconds without news). With standard
input or output not a terminal, or with --json, lines are read whole and
no typing is sent; "bob is typing…" is then a line of its own (an event
with --json). --presence tells HANDLE's connected devices once, at the
start, that you are online.

Commands (a line that starts with "/"; type "//" to send a line that
starts with "/"):
  /reply ID TEXT     send TEXT as a reply to message ID
  /react ID EMOJI    react to message ID (/unreact ID EMOJI removes it)
  /edit ID TEXT      change the text of a message you sent
  /delete ID         delete a message you sent, for everyone
  /timer [DURATION]  show or set the disappearing-message timer (or "off")
  /quit              end the chat
  /help              list these
ID is a message id or a unique prefix of at least 4 digits of one, as
shown. Other lines that start with "/" are sent as they are.

With --json, each line sent (and each command's message) is printed back
once stored, as a message with "sent":true; events, receipts and typing
are {"event":...} lines.

Groups: chat --group GROUP is a chat in a group this account is a member
of (GROUP as for 'sealpost group': its id, a prefix of at least 4 of its
digits, or its name); a GROUP that names none of your groups ends chat at
once (exit status 3, unknown_group). It shows the group's name and
members first, then each message of the group with its sender and
device; each line typed goes to every member, shown with its state as
above (a group message gets no delivery or read receipts, so it stays at
✓). Changes of the group are told as they come ("alice added carol", "bob
left the group"), and so is your own removal, after which lines are no
longer sent. Messages of one-to-one conversations are not shown: one
line says that the conversation with HANDLE has a new message, which is
kept, unread, in 'sealpost history HANDLE' (one under a disappearing
timer is shown in full, marked "*", as are other groups' messages,
which no history keeps). /reply, /react, /edit, /delete and /timer are
not available in a group chat yet; no typing or presence is sent. With
--json the group is printed first as 'group members' prints it, every
message is printed (each has its "group"), and group changes are
{"event":"group-changed",...} lines with the group and its new "state".
` + whatYouAreTold,
	setup: func(fs *flag.FlagSet) runner {
		timeout := fs.Duration("timeout", time.Minute, "give up on a line the relay has not stored after `D`")
		presence := fs.Bool("presence", false, "tell HANDLE once, at the start, that you are online")
		group := fs.String("group", "", "chat in group `GROUP` (id, prefix or name) instead of with a HANDLE")
		rf := receiptFlags(fs)
		return func(ctx context.Context, a *app, args []string) error {
			if *group != "" {
				if len(args) != 0 {
					return usagef("--group GROUP and a HANDLE: chat is with one or the other")
				}
				if *presence {
					return usagef("--presence is for a chat with a HANDLE")
				}
			} else {
				if err := wantArgs(args, 1, "HANDLE"); err != nil {
					return err
				}
				if err := keys.CheckHandle(args[0]); err != nil {
					return usagef("handle %q: want 3 to 32 of a-z 0-9 . _ -", args[0])
				}
			}
			if *timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			rf.apply(a)
			return a.withClient(ctx, 0, func(ctx context.Context, c *client.Client) error {
				s := &chatSession{a: a, c: c, timeout: *timeout, presence: *presence, read: !rf.noRead}
				if *group != "" {
					g, err := openGroupChat(ctx, c, *group)
					if err != nil {
						return err
					}
					s.group = g
				} else {
					if err := checkPeer(ctx, c, args[0], *timeout); err != nil {
						return err
					}
					s.peer = args[0]
				}
				return s.run(ctx)
			})
		}
	},
}

// checkPeer looks up peer before a chat begins: an account the key server
// does not know is an error now, not after the first line typed.
func checkPeer(ctx context.Context, c *client.Client, peer string, timeout time.Duration) error {
	if peer == c.Handle() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := c.SafetyNumber(ctx, peer)
	if errors.Is(err, client.ErrKeyChanged) {
		// Reported as an event; the chat shows it and each line's
		// refusal.
		return nil
	}
	return checkAccount(peer, err)
}

// chatSession is one run of chat: with peer, or in group.
type chatSession struct {
	a        *app
	c        *client.Client
	peer     string     // "" in a group
	group    *groupChat // nil with a peer
	timeout  time.Duration
	presence bool
	read     bool

	// Owned by the input goroutine.
	live    *liveLine // nil: lines are read whole
	typing  chan bool // to the typing sender
	started time.Time // the last typing start sent; zero: not typing

	// Owned by run's loop.
	sent    map[client.MessageID]client.DeliveryState // what this chat sent, as last shown
	typists map[string]time.Time                      // who is typing, until when
}

// sendResult is the outcome of one line typed: a message sent (echo is
// what was sent, for the transcript), or a note to show.
type sendResult struct {
	echo *client.Message
	note string
	json any // the note with --json, if it has one
	err  error
}

// typingTimeout is how long a typing start holds without being repeated,
// typingRepeat how often a start is repeated while the user types
// (spec/client.md §12.7).
const (
	typingTimeout = 15 * time.Second
	typingRepeat  = 5 * time.Second
)

func (s *chatSession) run(ctx context.Context) error {
	a, c := s.a, s.c
	if s.group != nil {
		s.group.banner(a)
	}
	if a.term != nil && a.term.IsTerminal() && !a.json {
		with := "with " + s.peer
		if s.group != nil {
			with = "in group " + shortGroup(s.group.id)
		}
		a.notef("Chat %s as %s. Type a line and Enter to send, /help for commands; Ctrl-D ends.\n", with, c.Handle())
	}
	s.sent = map[client.MessageID]client.DeliveryState{}
	s.typists = map[string]time.Time{}
	if ft, ok := a.term.(fdTerminal); ok && ft.IsTerminal() && a.stdoutTTY && !a.json {
		restore, err := enterKeyMode(ft.fd)
		if err == nil {
			defer func() {
				a.outMu.Lock()
				if a.live != nil {
					a.live.clear()
					a.live = nil
				}
				a.outMu.Unlock()
				restore()
			}()
			s.live = &liveLine{out: a.stdout}
			if s.group == nil {
				// Typing goes to a peer only (spec/client.md §12.7).
				s.typing = make(chan bool, 16)
				go s.sendTyping(ctx)
			}
		}
	}

	results := make(chan sendResult)
	inputDone := make(chan struct{})
	var inputErr error // set before inputDone is closed
	// The first line waits for the relay connection (see waitConnected).
	connected := make(chan struct{})
	go func() {
		defer close(inputDone)
		select {
		case <-connected:
		case <-ctx.Done():
			return
		}
		if s.live != nil {
			a.outMu.Lock()
			a.live = s.live
			s.live.redraw()
			a.outMu.Unlock()
		}
		inputErr = s.input(ctx, results)
	}()

	msgs, events := c.Messages(), c.Events()
	notify := connected
	security := false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-inputDone:
			// A normal end (end of input, /quit) is a success: lines
			// that could not be sent were reported as they failed.
			if inputErr != nil {
				return inputErr
			}
			if security {
				return errSecurityEvents
			}
			return nil
		case r := <-results:
			s.showResult(r)
		case m, ok := <-msgs:
			if !ok {
				return errors.New("the client stopped delivering messages")
			}
			s.receive(ctx, m)
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			security = security || isSecurityEvent(e)
			if e.Kind == client.EventConnected && notify != nil {
				close(notify)
				notify = nil
				if s.presence {
					go s.announce(ctx)
				}
			}
			s.event(ctx, e)
		case now := <-tick.C:
			for h, until := range s.typists {
				if now.After(until) {
					s.setTyping(h, false)
				}
			}
		}
	}
}

// ofChat reports whether m belongs to this chat's conversation.
func (s *chatSession) ofChat(m *client.Message) bool {
	if s.group != nil {
		return m.Group == s.group.id
	}
	return m.Group == (client.GroupID{}) && ((m.Sent && m.To == s.peer) || (!m.Sent && m.From == s.peer))
}

// receive shows a message, then acks it: nothing is acked before it is
// shown or kept (spec/client.md §5.3). A chat shows every message, others'
// marked "*"; a group chat leaves out those of one-to-one conversations
// that the history keeps as they are, saying only that one came (the ack
// starts a disappearing timer, so one under a timer is shown; no history
// keeps group messages).
func (s *chatSession) receive(ctx context.Context, m *client.Message) {
	a := s.a
	mine := s.ofChat(m)
	if !mine && s.group != nil && !a.json && m.Group == (client.GroupID{}) && m.Timer == 0 && !m.KeyChanged {
		conv := m.From
		if m.Sent {
			conv = m.To
		}
		a.notef("sealpost: * a new message in your conversation with %s, not shown here ('sealpost history %s')\n", escapeText([]byte(conv), false), escapeText([]byte(conv), false))
		m.Ack() // kept in the history, left unread
		return
	}
	mark := "*"
	if mine {
		mark = ""
	}
	a.printMessage(m, mark)
	m.Ack()
	if s.read && m.Group == (client.GroupID{}) {
		// Group messages have no receipts yet (spec/client.md §14).
		a.markRead(ctx, s.c, m)
	}
	if !m.Sent && s.group == nil {
		s.setTyping(m.From, false)
	}
}

// event shows a client event: receipts of this chat's lines as state
// changes, typing before the line being typed, a group chat's changes
// as what they did, the rest as listen does.
func (s *chatSession) event(ctx context.Context, e client.Event) {
	a := s.a
	if s.group != nil {
		switch e.Kind {
		case client.EventGroupChanged, client.EventGroupRefused:
			s.group.event(ctx, a, s.c, e)
			return
		case client.EventTyping:
			// Typing is one-to-one; none of it is about this chat.
			return
		}
	}
	if a.json {
		a.printEvent(e)
		return
	}
	switch e.Kind {
	case client.EventReceipt:
		var others []client.MessageID
		for _, id := range e.Messages {
			shown, ok := s.sent[id]
			if !ok {
				others = append(others, id)
				continue
			}
			st, err := s.c.MessageStatus(ctx, id)
			if err != nil || st.State <= shown {
				continue
			}
			s.sent[id] = st.State
			a.printf("→ %s %s\n", shortID(id), stateMark(st.State))
		}
		if len(others) > 0 {
			e.Messages = others
			a.printEvent(e)
		}
	case client.EventTyping:
		s.setTyping(e.Handle, e.Typing)
	default:
		a.printEvent(e)
	}
}

// setTyping records that handle started (for typingTimeout) or stopped
// typing and shows it: before the line being typed, or as a line.
func (s *chatSession) setTyping(handle string, typing bool) {
	_, was := s.typists[handle]
	if typing {
		s.typists[handle] = time.Now().Add(typingTimeout)
	} else {
		delete(s.typists, handle)
	}
	if was == typing {
		return
	}
	if s.live == nil {
		if typing {
			s.a.notef("sealpost: %s is typing…\n", escapeText([]byte(handle), false))
		}
		return
	}
	var names []string
	for h := range s.typists {
		names = append(names, escapeText([]byte(h), false))
	}
	prompt := ""
	if len(names) > 0 {
		prompt = "(" + strings.Join(names, ", ") + " typing…) "
	}
	s.a.outMu.Lock()
	s.live.prompt = prompt
	if s.a.live != nil {
		s.live.redraw()
	}
	s.a.outMu.Unlock()
}

// showResult shows the outcome of a line typed.
func (s *chatSession) showResult(r sendResult) {
	a := s.a
	switch {
	case r.err != nil:
		if a.json {
			a.emitError(jsonError{Error: errorCode(r.err), Message: "not sent: " + describe(r.err), Hint: hint(r.err), Command: "chat", Exit: exitCode(r.err)})
			return
		}
		msg := describe(r.err)
		if h := hint(r.err); h != "" {
			msg += " (" + h + ")"
		}
		a.notef("sealpost: chat: not sent: %s\n", msg)
	case r.note != "":
		if a.json {
			if r.json != nil {
				a.emit(r.json)
			}
			return
		}
		a.notef("%s", r.note)
	case r.echo != nil:
		s.sent[r.echo.ID] = client.StateStored
		if a.json {
			a.printMessage(r.echo, "")
			return
		}
		if s.live != nil {
			// The line typed is gone from the screen: show it as sent.
			a.printf("%s  %s\n", strings.TrimSuffix(formatMessage(s.echoShown(r.echo), a.loc, ""), "\n"), stateMark(client.StateStored))
			return
		}
		a.printf("→ %s %s\n", shortID(r.echo.ID), stateMark(client.StateStored))
	}
}

// input reads lines until end of input, /quit or ctx ends, and sends
// them; it returns an error only for a failure to read.
func (s *chatSession) input(ctx context.Context, results chan<- sendResult) error {
	for {
		var line []byte
		var err error
		if s.live != nil {
			line, err = s.a.readEdited(s.a.in, s.live, s.edited)
			if errors.Is(err, errEndOfInput) {
				s.stopTyping()
				return nil
			}
		} else {
			line, err = s.a.in.ReadBytes('\n')
			line = trimLine(line)
		}
		if string(line) == "/quit" {
			s.stopTyping()
			return nil
		}
		if len(line) > 0 {
			s.stopTyping()
			r := s.do(ctx, string(line))
			select {
			case results <- r:
			case <-ctx.Done():
				return nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading input: %w", err)
		}
	}
}

const groupChatHelp = `sealpost: chat commands in a group:
  /quit              end the chat (Ctrl-D too)
  //TEXT             send "/TEXT"
/reply, /react, /unreact, /edit, /delete and /timer are not available in a
group chat yet.
`

const chatHelp = `sealpost: chat commands:
  /reply ID TEXT     send TEXT as a reply to message ID
  /react ID EMOJI    react to message ID (/unreact ID EMOJI removes it)
  /edit ID TEXT      change the text of a message you sent
  /delete ID         delete a message you sent, for everyone
  /timer [DURATION]  show or set the disappearing-message timer ("off")
  /quit              end the chat (Ctrl-D too)
  //TEXT             send "/TEXT"
`

// do sends one line typed, or runs its command.
func (s *chatSession) do(ctx context.Context, line string) sendResult {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	c, peer := s.c, s.peer
	if strings.HasPrefix(line, "//") {
		return s.sendText(ctx, line[1:], nil)
	}
	cmd, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimLeft(rest, " ")
	arg, tail, _ := strings.Cut(rest, " ")
	tail = strings.TrimLeft(tail, " ")
	if s.group != nil {
		switch cmd {
		case "/help":
			return sendResult{note: groupChatHelp}
		case "/reply", "/react", "/unreact", "/edit", "/delete", "/timer":
			// The library sends only texts to a group (spec/client.md §14).
			return sendResult{err: usagef("%s is not available in a group chat", cmd)}
		}
		return s.sendText(ctx, line, nil)
	}
	switch cmd {
	case "/help":
		return sendResult{note: chatHelp}
	case "/reply", "/edit":
		if arg == "" || tail == "" {
			return sendResult{err: usagef("%s ID TEXT", cmd)}
		}
	case "/react", "/unreact":
		if arg == "" || tail == "" || strings.Contains(tail, " ") {
			return sendResult{err: usagef("%s ID EMOJI", cmd)}
		}
	case "/delete":
		if arg == "" || tail != "" {
			return sendResult{err: usagef("/delete ID")}
		}
	case "/timer":
		if tail != "" {
			return sendResult{err: usagef("/timer [DURATION|off]")}
		}
		if arg == "" {
			d, err := c.Timer(ctx, peer)
			if err != nil {
				return sendResult{err: err}
			}
			return sendResult{note: fmt.Sprintf("sealpost: disappearing-message timer with %s: %s\n", peer, fmtTimer(d)),
				json: jsonTimer{Handle: peer, Seconds: int64(d / time.Second)}}
		}
		d, err := parseTimer(arg)
		if err != nil {
			return sendResult{err: err}
		}
		id, err := c.SetTimer(ctx, peer, d)
		secs := uint32(d / time.Second)
		return s.echo(id, err, &contentpb.Content{Kind: &contentpb.Content_Timer{Timer: &contentpb.Timer{Seconds: secs}}})
	default:
		// Not a command: sent as it is, as before commands existed.
		return s.sendText(ctx, line, nil)
	}
	target, entry, err := resolveID(ctx, c, peer, arg)
	if err != nil {
		return sendResult{err: err}
	}
	switch cmd {
	case "/reply":
		if entry == nil {
			return sendResult{err: fmt.Errorf("message %s is not in this device's history with %s: %w", target, peer, client.ErrUnknownMessage)}
		}
		return s.sendText(ctx, tail, &contentpb.ReplyTo{MessageId: target[:], Sender: entry.From})
	case "/react", "/unreact":
		remove := cmd == "/unreact"
		id, err := c.React(ctx, peer, target, tail, remove)
		return s.echo(id, err, &contentpb.Content{Kind: &contentpb.Content_Reaction{Reaction: &contentpb.Reaction{TargetId: target[:], Emoji: tail, Remove: remove}}})
	case "/edit":
		id, err := c.Edit(ctx, peer, target, tail)
		return s.echo(id, err, &contentpb.Content{Kind: &contentpb.Content_Edit{Edit: &contentpb.Edit{TargetId: target[:], Body: tail}}})
	default: // "/delete"
		id, err := c.Delete(ctx, peer, target)
		return s.echo(id, err, &contentpb.Content{Kind: &contentpb.Content_Delete{Delete: &contentpb.Delete{TargetId: target[:]}}})
	}
}

// sendText sends a line as a text (a reply with reply set), or, when it
// is not UTF-8 or is too long for a text, as a version 1 message.
func (s *chatSession) sendText(ctx context.Context, text string, reply *contentpb.ReplyTo) sendResult {
	if s.group != nil {
		// spec/client.md §14.4: a text only, to every member.
		id, err := s.c.SendGroupText(ctx, s.group.id, text)
		return s.echo(id, err, &contentpb.Content{Kind: &contentpb.Content_Text{Text: &contentpb.Text{Body: text}}}, []byte(text))
	}
	if checkText([]byte(text)) != nil && reply == nil {
		id, err := s.c.Send(ctx, s.peer, []byte(text))
		return s.echo(id, checkAccount(s.peer, err), nil, []byte(text))
	}
	var opts []client.SendOption
	if reply != nil {
		var id client.MessageID
		copy(id[:], reply.MessageId)
		opts = append(opts, client.WithReplyTo(id, reply.Sender))
	}
	id, err := s.c.SendText(ctx, s.peer, text, opts...)
	return s.echo(id, checkAccount(s.peer, err), &contentpb.Content{Kind: &contentpb.Content_Text{Text: &contentpb.Text{Body: text}}, ReplyTo: reply}, []byte(text))
}

// echo is the result of sending m: the message as this chat shows it.
func (s *chatSession) echo(id client.MessageID, err error, m *contentpb.Content, plaintext ...[]byte) sendResult {
	if err != nil {
		return sendResult{err: err}
	}
	msg := &client.Message{ID: id, From: s.c.Handle(), FromDevice: s.c.DeviceID(), To: s.peer, Sent: true, Time: time.Now()}
	if s.group != nil {
		msg.Group = s.group.id
	}
	if m != nil {
		msg.Content = &content.Content{Content: m}
	}
	if len(plaintext) > 0 {
		msg.Plaintext = plaintext[0]
	}
	return sendResult{echo: msg}
}

// echoShown is the echo of a line sent as the screen shows it: in a group,
// sent "→ group ab12cd34", the group's id not repeated before it.
func (s *chatSession) echoShown(m *client.Message) *client.Message {
	if s.group == nil {
		return m
	}
	return &client.Message{ID: m.ID, From: m.From, FromDevice: m.FromDevice, To: "group " + shortGroup(m.Group),
		Sent: true, Time: m.Time, Content: m.Content, Plaintext: m.Plaintext}
}

// edited is called by the line editor after each change of the line:
// the first key of a line starts typing, and so does a key typingRepeat
// after the last start; erasing the line stops it.
func (s *chatSession) edited(empty bool) {
	switch {
	case empty:
		s.stopTyping()
	case s.started.IsZero() || time.Since(s.started) >= typingRepeat:
		s.started = time.Now()
		s.queueTyping(true)
	}
}

// stopTyping sends a stop if a start was sent.
func (s *chatSession) stopTyping() {
	if !s.started.IsZero() {
		s.started = time.Time{}
		s.queueTyping(false)
	}
}

func (s *chatSession) queueTyping(typing bool) {
	if s.typing == nil {
		return
	}
	select {
	case s.typing <- typing:
	default: // the sender is behind; a later signal will do
	}
}

// sendTyping sends the typing signals queued, in order. Typing is
// ephemeral: while the relay connection is down (ErrNotConnected) a
// signal is dropped without a word.
func (s *chatSession) sendTyping(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-s.typing:
			tctx, cancel := context.WithTimeout(ctx, typingRepeat)
			err := s.c.Typing(tctx, s.peer, t)
			cancel()
			if err != nil && !errors.Is(err, client.ErrNotConnected) && ctx.Err() == nil {
				s.a.notef("sealpost: chat: typing: %s\n", describe(err))
			}
		}
	}
}

// announce tells the peer once that this user is online (--presence).
func (s *chatSession) announce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.c.AnnouncePresence(ctx, s.peer)
	if err != nil && !errors.Is(err, client.ErrNotConnected) && ctx.Err() == nil {
		s.a.notef("sealpost: chat: presence: %s\n", describe(err))
	}
}
