package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/internal/testbin"
)

// liveChat is a chat run as a child process, its input a pipe.
type liveChat struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr *testbin.SyncBuffer
	done           chan error
}

func (u *user) startChat(ctx context.Context, args ...string) *liveChat {
	u.t.Helper()
	cmd := u.command(ctx, "", append([]string{"chat"}, args...)...)
	cmd.Stdin = nil
	stdin, err := cmd.StdinPipe()
	if err != nil {
		u.t.Fatal(err)
	}
	lc := &liveChat{t: u.t, cmd: cmd, stdin: stdin, stdout: new(testbin.SyncBuffer), stderr: new(testbin.SyncBuffer), done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = lc.stdout, lc.stderr
	if err := cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	go func() { lc.done <- cmd.Wait() }()
	return lc
}

// waitFor waits until buf holds want.
func (lc *liveChat) waitFor(buf *testbin.SyncBuffer, want string) {
	lc.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			lc.t.Fatalf("chat never printed %q:\nstdout: %s\nstderr: %s", want, lc.stdout.String(), lc.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// end closes the chat's input and waits for it to exit 0.
func (lc *liveChat) end() {
	lc.t.Helper()
	lc.stdin.Close()
	select {
	case err := <-lc.done:
		if err != nil {
			lc.t.Fatalf("chat: %v\nstdout: %s\nstderr: %s", err, lc.stdout.String(), lc.stderr.String())
		}
	case <-time.After(30 * time.Second):
		lc.t.Fatalf("chat still running 30s after end of input:\n%s", lc.stderr.String())
	}
}

// waitEpoch has u take in group changes (listen runs the receive path)
// until it holds group gid at epoch.
func (u *user) waitEpoch(gid string, epoch uint64) jsonGroup {
	u.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		u.run("", "listen", "--count", "1", "--timeout", "2s")
		r := u.run("", "--json", "group", "members", gid)
		var got jsonGroup
		if r.code == 0 && json.Unmarshal([]byte(r.stdout), &got) == nil && got.Epoch == epoch {
			return got
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("%s never got group %s at epoch %d: %v", u.dir, gid, epoch, r)
		}
	}
}

// TestGroupChat, against a real sealpostd: bob and carol chat in alice's
// group, named by its name; each sees the other's lines with the sender,
// not alice's one-to-one message (kept in bob's history instead); a
// command groups do not have is refused in place; carol's removal is told
// to both, and carol's line after it is refused. A GROUP that names no
// group, or two, ends chat at once with its documented status.
func TestGroupChat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs sealpostd and sealpost")
	}
	t.Parallel()
	srv := startServer(t)
	alice, bob, carol := newUser(t, srv, "alice"), newUser(t, srv, "bob"), newUser(t, srv, "carol")
	alice.init("alice")
	bob.init("bob")
	carol.init("carol")

	var g jsonGroup
	r := alice.ok("", "--json", "group", "create", "book club", "bob", "carol")
	if err := json.Unmarshal([]byte(r.stdout), &g); err != nil || len(g.ID) != 64 {
		t.Fatalf("group create printed %q", r.stdout)
	}
	bob.waitEpoch(g.ID, 0)
	carol.waitEpoch(g.ID, 0)

	t.Run("refused", func(t *testing.T) {
		bob := bob.on(t)
		var e jsonError
		r := bob.run("hello\n", "--json", "chat", "--group", "no such club")
		if json.Unmarshal([]byte(r.stderr), &e); r.code != exitLocal || e.Error != "unknown_group" || r.stdout != "" {
			t.Errorf("an unknown group: %v", r)
		}
		r = bob.run("hello\n", "--json", "chat", "--group", strings.Repeat("0", 64))
		if json.Unmarshal([]byte(r.stderr), &e); r.code != exitLocal || e.Error != "unknown_group" || r.stdout != "" {
			t.Errorf("a group id bob is not in: %v", r)
		}
		r = bob.run("hello\n", "chat", "--group", g.ID[:8], "alice")
		if r.code != exitUsage || !strings.Contains(r.stderr, "one or the other") {
			t.Errorf("--group and a HANDLE: %v", r)
		}
		// Nothing was sent: alice has no message waiting.
		if r := alice.on(t).run("", "--json", "listen", "--count", "1", "--timeout", "3s"); strings.Contains(r.stdout, "hello") {
			t.Errorf("a refused chat sent: %v", r)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bc := bob.startChat(ctx, "--group", "book club")
	cc := carol.startChat(ctx, "--group", g.ID[:6])
	header := `sealpost: group "book club" (` + g.ID[:8] + `), epoch 0: alice (admin), bob, carol`
	bc.waitFor(bc.stderr, header)
	cc.waitFor(cc.stderr, header)
	bc.waitFor(bc.stderr, "connected to the relay")
	cc.waitFor(cc.stderr, "connected to the relay")

	// A line typed in bob's chat reaches carol's, with its sender.
	io.WriteString(bc.stdin, "hi all\n")
	bc.waitFor(bc.stdout, " ✓")
	cc.waitFor(cc.stdout, "[group "+g.ID[:8]+"] bob (device 1): hi all\n")

	// alice writes to the group and, one-to-one, to bob: the group's
	// message shows in bob's chat, the other only as a notice.
	alice.ok("", "send", "bob", "private to bob")
	alice.ok("", "group", "send", g.ID, "hello from alice")
	bc.waitFor(bc.stdout, "[group "+g.ID[:8]+"] alice (device 1): hello from alice\n")
	bc.waitFor(bc.stderr, "a new message in your conversation with alice, not shown here")

	// One under a disappearing timer is shown (the ack starts the timer:
	// it must not run out unseen), marked as not of this chat.
	alice.ok("", "timer", "bob", "1h")
	alice.ok("", "send", "bob", "gone in an hour")
	bc.waitFor(bc.stdout, "* alice (device 1): gone in an hour  (disappears 1h after reading)\n")

	io.WriteString(bc.stdin, "/react 1234 👍\n")
	bc.waitFor(bc.stderr, "/react is not available in a group chat")

	// carol is removed: both chats say so; carol's next line is refused.
	alice.ok("", "group", "remove", g.ID, "carol")
	bc.waitFor(bc.stderr, "sealpost: alice removed carol\n")
	cc.waitFor(cc.stderr, "sealpost: alice removed you\n")
	cc.waitFor(cc.stderr, "you are no longer a member of this group")
	io.WriteString(cc.stdin, "still here?\n")
	cc.waitFor(cc.stderr, "not sent:")
	cc.end()
	bc.end()

	if out := bc.stdout.String(); strings.Contains(out, "private to bob") {
		t.Errorf("bob's group chat showed a one-to-one message:\n%s", out)
	}
	if !strings.Contains(cc.stderr.String(), "not a member") {
		t.Errorf("carol's line after her removal: %s", cc.stderr.String())
	}
	// The one-to-one message was kept, not lost.
	if r := bob.ok("", "history", "alice"); !strings.Contains(r.stdout, "private to bob") {
		t.Errorf("bob's history with alice: %q", r.stdout)
	}
	// alice got bob's line as a group message; carol's refused line went
	// nowhere.
	msgs, _ := alice.receive(1)
	if m := msgs[0]; m.From != "bob" || m.Group != g.ID || m.Text != "hi all" {
		t.Errorf("alice got %+v", m)
	}
	if r := alice.run("", "--json", "listen", "--count", "1", "--timeout", "3s"); strings.Contains(r.stdout, "still here?") {
		t.Errorf("a line after removal was sent: %v", r)
	}

	// With --json: the group first (carol gone), then the line sent, with
	// its group; bob gets it.
	r = alice.ok("from a script\n", "--json", "chat", "--group", g.ID[:8])
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var first jsonGroup
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.ID != g.ID || first.Epoch != 1 || strings.Join(first.Members, ",") != "alice,bob" {
		t.Fatalf("chat --json --group began with %q", lines[0])
	}
	var sent []jsonMessage
	for _, line := range lines[1:] {
		var m jsonMessage
		if json.Unmarshal([]byte(line), &m) == nil && m.Sent {
			sent = append(sent, m)
		}
	}
	if len(sent) != 1 || sent[0].Text != "from a script" || sent[0].Group != g.ID || sent[0].To != "" {
		t.Fatalf("chat --json --group printed %q", r.stdout)
	}
	msgs, _ = bob.receive(1)
	if m := msgs[0]; m.ID != sent[0].ID || m.From != "alice" || m.Group != g.ID || m.Text != "from a script" {
		t.Errorf("bob got %+v", m)
	}

	// Two groups named alike: the name is refused, not guessed.
	alice.ok("", "group", "create", "book club", "bob")
	r = alice.run("", "--json", "chat", "--group", "book club")
	var e jsonError
	if json.Unmarshal([]byte(r.stderr), &e); r.code != exitUsage || e.Error != "usage" || !strings.Contains(e.Message, "2 groups have this name") {
		t.Errorf("an ambiguous group name: %v", r)
	}
}

// TestOfChat: which messages a chat shows as its own. A group message
// from the peer is not one of the one-to-one conversation's.
func TestOfChat(t *testing.T) {
	club, other := client.GroupID{1}, client.GroupID{2}
	withBob := &chatSession{peer: "bob"}
	inClub := &chatSession{group: &groupChat{id: club}}
	for _, tc := range []struct {
		name          string
		m             *client.Message
		withBob, club bool
	}{
		{"from bob", &client.Message{From: "bob", To: "alice"}, true, false},
		{"sent to bob", &client.Message{From: "alice", To: "bob", Sent: true}, true, false},
		{"from carol", &client.Message{From: "carol", To: "alice"}, false, false},
		{"bob in the club", &client.Message{From: "bob", Group: club}, false, true},
		{"bob in another group", &client.Message{From: "bob", Group: other}, false, false},
		{"alice's other device in the club", &client.Message{From: "alice", FromDevice: 2, Group: club}, false, true},
	} {
		if got := withBob.ofChat(tc.m); got != tc.withBob {
			t.Errorf("%s: of the chat with bob: %v", tc.name, got)
		}
		if got := inClub.ofChat(tc.m); got != tc.club {
			t.Errorf("%s: of the group chat: %v", tc.name, got)
		}
	}
}

// TestChangeLines: what a group change did, from the states around it.
func TestChangeLines(t *testing.T) {
	base := &client.Group{Name: "club", Members: []string{"alice", "bob", "carol"}, Admins: []string{"alice"}}
	for _, tc := range []struct {
		name   string
		after  client.Group
		author string
		want   string
	}{
		{"add", client.Group{Name: "club", Members: []string{"alice", "bob", "carol", "dave"}, Admins: []string{"alice"}}, "alice", "alice added dave"},
		{"remove self", client.Group{Name: "club", Members: []string{"alice", "carol"}, Admins: []string{"alice"}}, "alice", "alice removed you"},
		{"leave", client.Group{Name: "club", Members: []string{"alice", "bob"}, Admins: []string{"alice"}}, "carol", "carol left the group"},
		{"promote", client.Group{Name: "club", Members: []string{"alice", "bob", "carol"}, Admins: []string{"alice", "carol"}}, "alice", "alice made carol admin"},
		{"rename", client.Group{Name: "club\x1b[2J", Members: base.Members, Admins: base.Admins}, "bob", `you renamed the group "club` + escapeText([]byte("\x1b"), false) + `[2J"`},
		{"nothing", *base, "alice", ""},
	} {
		got := strings.Join(changeLines(base, &tc.after, tc.author, "bob"), "; ")
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	demoted := &client.Group{Name: "club", Members: []string{"alice", "bob"}, Admins: []string{"bob"}}
	admins := &client.Group{Name: "club", Members: []string{"alice", "bob", "carol"}, Admins: []string{"alice", "carol"}}
	if got := strings.Join(changeLines(admins, demoted, "carol", "bob"), "; "); got != "carol left the group; carol made you admin; carol made alice no longer admin" {
		t.Errorf("several at once: %q", got)
	}
}

// TestGroupChatUsage: --group with a HANDLE or --presence is a usage
// error, before any store is opened.
func TestGroupChatUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"chat", "--group", "club", "bob"}, "one or the other"},
		{[]string{"chat", "--group", "club", "--presence"}, "--presence is for a chat with a HANDLE"},
		{[]string{"chat"}, "missing HANDLE"},
	} {
		code, out, errOut := cli{}.run(t, append([]string{"--dir", dir}, tc.args...)...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.err) {
			t.Errorf("sealpost %q: exit %d, stdout %q, stderr %q; want exit %d, stderr with %q", tc.args, code, out, errOut, exitUsage, tc.err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors wrote to the store directory: %v", entries)
	}
}
