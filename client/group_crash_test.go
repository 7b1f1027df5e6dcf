package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/group"
	"github.com/sealpost/sealpost/client/internal/killpoint"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/internal/testbin"
	"github.com/sealpost/sealpost/relay/wire"
)

const killreceiverPkg = "github.com/sealpost/sealpost/client/internal/killpoint/killreceiver"

// receiverLine is one line of killreceiver's output.
type receiverLine struct {
	Kind    string   `json:"kind"`
	Event   string   `json:"event"`
	Handle  string   `json:"handle"`
	Change  string   `json:"change"`
	Err     string   `json:"err"`
	ID      string   `json:"id"`
	From    string   `json:"from"`
	Text    string   `json:"text"`
	Group   string   `json:"group"`
	Name    string   `json:"name"`
	Epoch   uint64   `json:"epoch"`
	Members []string `json:"members"`
}

// receiverRun is what one killreceiver run printed.
type receiverRun []receiverLine

func (r receiverRun) events(kind string) []receiverLine {
	var out []receiverLine
	for _, l := range r {
		if l.Kind == "event" && l.Event == kind {
			out = append(out, l)
		}
	}
	return out
}

func (r receiverRun) messages() []receiverLine {
	var out []receiverLine
	for _, l := range r {
		if l.Kind == "message" {
			out = append(out, l)
		}
	}
	return out
}

// runReceiver runs killreceiver on the client in dir until the message
// until and a quiet second after it, printing group gid's state, or, with
// killAt, until it is killed there; it returns what it printed.
func runReceiver(t *testing.T, bin string, s *servers, dir string, gid GroupID, killAt, until string) receiverRun {
	t.Helper()
	cmd := exec.Command(bin, "-dir", dir, "-keyserver", s.url, "-pin", s.pin, "-log-key", s.logVerifierKey(),
		"-group", gid.String(), "-until", until, "-timeout", "30s")
	cmd.Env = append(os.Environ(), "SEALPOST_TEST_PASSPHRASE=correct horse battery staple", "SEALPOST_KILL_AT="+killAt)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case killAt != "" && (!errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL):
		t.Fatalf("killreceiver with SEALPOST_KILL_AT=%s: %v; want killed by SIGKILL\n%s", killAt, err, errb.Bytes())
	case killAt == "" && err != nil:
		t.Fatalf("killreceiver: %v\n%s", err, errb.Bytes())
	}
	var lines receiverRun
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var l receiverLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("killreceiver printed %q: %v", sc.Bytes(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

// waitPending waits until the relay holds exactly n envelopes for handle's
// first device: a child killed at a step of receiving is then killed on
// the envelope the test means, not on one a previous run left unacked.
func waitPending(t *testing.T, s *servers, handle string, n int) {
	t.Helper()
	var got int
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := s.q.Stats(ctxT(t), wire.FormatAddress(handle, 1))
		if err != nil {
			t.Fatal(err)
		}
		if got = st.Count; got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay holds %d envelopes for %s; want %d", got, handle, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGroupChangeKilledWhileReceiving (issue 16, Groups): bob's client is
// a process killed with SIGKILL at each step of receiving
// (spec/client.md §5.2) — inside the receive transaction after a group
// change was applied in it, after the commit, after the application took
// the message, after the relay was acked — and started again. A group
// change is applied exactly once: bob ends with alice's state, one epoch
// on, and the change is reported at most once across the two runs, and
// never again after its commit; nothing is lost: alice's next group
// message reaches bob once, decrypted. A group message received at each
// step is shown exactly once across the two runs.
func TestGroupChangeKilledWhileReceiving(t *testing.T) {
	t.Parallel() // its own servers and child processes, no package state
	bin := testbin.Build(t, killreceiverPkg)[0]
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	bob.Close()
	s.newUser("carol")
	newcomers := []string{"dave", "erin"}
	for _, h := range newcomers {
		s.newUser(h)
	}

	var gid GroupID
	run := func(t *testing.T, killAt, until string) receiverRun {
		t.Helper()
		return runReceiver(t, bin, s, bobDir, gid, killAt, until)
	}
	// sameState checks bob's state as the run printed it against alice's.
	sameState := func(t *testing.T, r receiverRun, want *Group) {
		t.Helper()
		i := slices.IndexFunc(r, func(l receiverLine) bool { return l.Kind == "group" })
		if i < 0 {
			t.Fatal("bob's run printed no group state")
		}
		got := r[i]
		if got.Group != want.ID.String() || got.Epoch != want.Epoch || got.Name != want.Name || !slices.Equal(got.Members, want.Members) {
			t.Fatalf("bob holds %+v; alice holds %+v", got, want)
		}
	}
	// onceEach checks that the messages of both runs are exactly texts,
	// in order, each alice's in the group.
	onceEach := func(t *testing.T, runs []receiverRun, texts ...string) {
		t.Helper()
		var got []string
		for _, r := range runs {
			for _, m := range r.messages() {
				if m.From != "alice" || m.Group != gid.String() {
					t.Fatalf("bob got %+v; want alice's in group %s", m, gid)
				}
				got = append(got, m.Text)
			}
		}
		if !slices.Equal(got, texts) {
			t.Fatalf("bob was shown %q; want %q once each", got, texts)
		}
	}
	noRefusals := func(t *testing.T, runs ...receiverRun) {
		t.Helper()
		for _, r := range runs {
			for _, kind := range []string{"group-refused", "envelope-dropped"} {
				if evs := r.events(kind); len(evs) != 0 {
					t.Fatalf("bob reported %+v", evs)
				}
			}
		}
	}

	var err error
	if gid, err = alice.CreateGroup(ctxT(t), "club", "bob", "carol"); err != nil {
		t.Fatal(err)
	}
	// bob joins, and takes alice's sending chain with her first message.
	if _, err := alice.SendGroupText(ctxT(t), gid, "hello"); err != nil {
		t.Fatal(err)
	}
	first := run(t, "", "hello")
	if evs := first.events("group-changed"); len(evs) != 1 || evs[0].Change != "create" || evs[0].Group != gid.String() {
		t.Fatalf("bob's group events: %+v", evs)
	}
	onceEach(t, []receiverRun{first}, "hello")
	want, err := alice.GroupMembers(ctxT(t), gid)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, first, want)
	waitPending(t, s, "bob", 0)

	for i, step := range killpoint.ReceiveSteps {
		t.Run("change/"+step, func(t *testing.T) {
			before, err := alice.GroupMembers(ctxT(t), gid)
			if err != nil {
				t.Fatal(err)
			}
			// An Add and a rename in turn.
			kind := "add"
			if i%2 == 0 {
				err = alice.AddMembers(ctxT(t), gid, newcomers[i/2])
			} else {
				kind = "rename"
				err = alice.SetGroupName(ctxT(t), gid, "club at "+step)
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := alice.GroupMembers(ctxT(t), gid)
			if err != nil || want.Epoch != before.Epoch+1 {
				t.Fatalf("alice's state %+v, %v; want epoch %d", want, err, before.Epoch+1)
			}
			waitPending(t, s, "bob", 1)
			killed := run(t, step, "")
			after := "after a change killed at " + step
			if _, err := alice.SendGroupText(ctxT(t), gid, after); err != nil {
				t.Fatal(err)
			}
			again := run(t, "", after)
			sameState(t, again, want)
			onceEach(t, []receiverRun{killed, again}, after)
			noRefusals(t, killed, again)
			// Reported once if the kill came before the commit; after it,
			// at most before the kill, never again. Events are not stored:
			// one killed between the commit and its report is never
			// reported, and GroupMembers has the change.
			k, a := killed.events("group-changed"), again.events("group-changed")
			switch {
			case step == killpoint.ReceiveBeforeCommit && (len(k) != 0 || len(a) != 1):
				t.Fatalf("the change reported %d times before the kill and %d after; want 0 and 1", len(k), len(a))
			case step != killpoint.ReceiveBeforeCommit && (len(k) > 1 || len(a) != 0):
				t.Fatalf("the change reported %d times before the kill and %d after; want at most 1 and 0", len(k), len(a))
			}
			for _, e := range slices.Concat(k, a) {
				if e.Handle != "alice" || e.Group != gid.String() || e.Change != kind {
					t.Fatalf("bob reported %+v; want alice's %s of %s", e, kind, gid)
				}
			}
		})
	}

	for _, step := range killpoint.ReceiveSteps {
		t.Run("message/"+step, func(t *testing.T) {
			text := "killed at " + step
			if _, err := alice.SendGroupText(ctxT(t), gid, text); err != nil {
				t.Fatal(err)
			}
			waitPending(t, s, "bob", 1)
			killed := run(t, step, "")
			after := "after a message killed at " + step
			if _, err := alice.SendGroupText(ctxT(t), gid, after); err != nil {
				t.Fatal(err)
			}
			again := run(t, "", after)
			onceEach(t, []receiverRun{killed, again}, text, after)
			noRefusals(t, killed, again)
			if step == killpoint.ReceiveAfterCommit && len(killed.messages()) != 0 {
				t.Fatalf("shown before the kill at %s: %+v", step, killed.messages())
			}
		})
	}

	// In the end, bob's store in this process: alice's state, nothing
	// left to show.
	want, err = alice.GroupMembers(ctxT(t), gid)
	if err != nil {
		t.Fatal(err)
	}
	waitPending(t, s, "bob", 0)
	bob = s.open(bobDir)
	if g, err := bob.GroupMembers(ctxT(t), gid); err != nil || g.Epoch != want.Epoch || g.Name != want.Name || !slices.Equal(g.Members, want.Members) {
		t.Fatalf("bob holds %+v, %v; alice %+v", g, err, want)
	}
	if !strings.HasPrefix(want.Name, "club at ") || len(want.Members) != 5 {
		t.Fatalf("alice's state at the end: %+v", want)
	}
	noMessage(t, bob, time.Second)
}

// spec/groups.md §6.3, spec/client.md §14.2: bob's rename loses a race to
// alice's (a smaller change id); his client, receiving hers, signs what
// is left of his again after the commit. Killed between the commit and
// that, it must still do it when it starts again: nothing lost, every
// member ends with both changes.
func TestGroupRebaseKilledAfterCommit(t *testing.T) {
	t.Parallel() // its own servers and child processes, no package state
	bin := testbin.Build(t, killreceiverPkg)[0]
	for _, killAt := range []string{"", killpoint.ReceiveAfterCommit} {
		name := killAt
		if name == "" {
			name = "not-killed"
		}
		t.Run(name, func(t *testing.T) {
			rebaseKilledAfterCommit(t, bin, killAt)
		})
	}
}

func rebaseKilledAfterCommit(t *testing.T, bin, killAt string) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	bob, bobDir := s.newUserDir("bob")
	s.newUser("carol")
	gid, err := alice.CreateGroup(ctxT(t), "club", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 0)
	if err := alice.Promote(ctxT(t), gid, "bob"); err != nil {
		t.Fatal(err)
	}
	groupOf(t, bob, gid, 1)
	if _, err := alice.SendGroupText(ctxT(t), gid, "hello"); err != nil {
		t.Fatal(err)
	}
	recvGroup(t, bob)
	waitPending(t, s, "bob", 0)
	bob.Close()

	// Both rename the state at epoch 1; alice's change id is the smaller.
	var st *group.State
	err = alice.store.View(ctxT(t), func(tx localstore.Tx) error {
		tr, err := loadGroupTx(tx, gid)
		if err == nil {
			st = tr.State()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	const aliceName = "alice's club"
	ac, err := group.NewChange(st, "alice", group.Intent{Kind: group.KindRename, Name: aliceName})
	if err != nil {
		t.Fatal(err)
	}
	var bobName string
	for i := 0; bobName == ""; i++ {
		name := fmt.Sprintf("bob's club %d", i)
		bc, err := group.NewChange(st, "bob", group.Intent{Kind: group.KindRename, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := ac.ChangeID(), bc.ChangeID(); bytes.Compare(b[:], a[:]) > 0 {
			bobName = name
		}
	}
	// bob renames with no relay to hear alice's from: applied and queued.
	cfg := s.config(bobDir)
	cfg.Relay = "wss://127.0.0.1:1/v1/relay"
	cut, err := Open(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	err = cut.SetGroupName(ctx, gid, bobName)
	cancel()
	if err != nil && !errors.Is(err, ErrQueued) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	if g := groupOf(t, cut, gid, 2); g.Name != bobName {
		t.Fatalf("bob's own rename not applied: %+v", g)
	}
	cut.Close()
	if err := alice.SetGroupName(ctxT(t), gid, aliceName); err != nil {
		t.Fatal(err)
	}
	waitPending(t, s, "bob", 1)

	// bob's client sends his, receives hers (his loses), and is killed
	// at killAt; started again, it gets alice's next message.
	if killAt != "" {
		runReceiver(t, bin, s, bobDir, gid, killAt, "")
	}
	if _, err := alice.SendGroupText(ctxT(t), gid, "next"); err != nil {
		t.Fatal(err)
	}
	again := runReceiver(t, bin, s, bobDir, gid, "", "next")
	// alice's rename at epoch 2, bob's signed again on it at 3 (bob's
	// client open again, in case the run ended before it was sent).
	s.open(bobDir)
	var g *Group
	deadline := time.Now().Add(20 * time.Second)
	for {
		g, err = alice.GroupMembers(ctxT(t), gid)
		if err == nil && g.Epoch == 3 && g.Name == bobName {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice holds %+v, %v; bob's client printed %+v; want bob's rename %q signed again at epoch 3", g, err, again, bobName)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
