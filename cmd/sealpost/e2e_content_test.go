package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The conversation commands of issue 14 end to end: texts, receipts,
// replies, reactions, edits, deletions and timers between two users of a
// real sealpostd, through the CLI as a script drives it.

// jsonLines decodes every line of out that is not an event into T.
func jsonLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var vs []T
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" || strings.HasPrefix(line, `{"event":`) {
			continue
		}
		var v T
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		vs = append(vs, v)
	}
	return vs
}

// sentID runs a command that sends (send, react, edit, delete, timer)
// with --json and returns the id it printed.
func (u *user) sentID(args ...string) string {
	u.t.Helper()
	r := u.ok("", append([]string{"--json"}, args...)...)
	var s jsonSent
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || !messageID.MatchString(s.ID) {
		u.t.Fatalf("sealpost %q printed %q (%v)", args, r.stdout, err)
	}
	return s.ID
}

func (u *user) status(args ...string) jsonStatus {
	u.t.Helper()
	r := u.ok("", append([]string{"--json", "status", "--timeout", "30s"}, args...)...)
	sts := jsonLines[jsonStatus](u.t, r.stdout)
	if len(sts) != 1 {
		u.t.Fatalf("status printed %q", r.stdout)
	}
	return sts[0]
}

func (u *user) history(peer string) map[string]jsonHistoryEntry {
	u.t.Helper()
	r := u.ok("", "--json", "history", peer)
	m := map[string]jsonHistoryEntry{}
	for _, e := range jsonLines[jsonHistoryEntry](u.t, r.stdout) {
		m[e.ID] = e
	}
	return m
}

func checkTime(t *testing.T, what, s string) {
	t.Helper()
	if _, err := time.Parse(jsonTime, s); err != nil {
		t.Errorf("%s %q: not RFC 3339 with ms: %v", what, s, err)
	}
}

func TestConversation(t *testing.T) {
	alice, bob := startPair(t)

	// A text: stored, then delivered (bob's listen --no-read acks it
	// without marking it read).
	id1 := alice.send("bob", "hello bob")
	if st := alice.status(id1); st.State != "stored" || st.Devices != 1 || st.Stored != 1 || st.Delivered != 0 || st.ID != id1 {
		t.Errorf("status before bob listened: %+v", st)
	}
	r := bob.ok("", "--json", "listen", "--no-read", "--count", "1", "--timeout", "30s")
	msgs := jsonLines[jsonMessage](t, r.stdout)
	if len(msgs) != 1 || msgs[0].ID != id1 || msgs[0].Kind != "text" || msgs[0].Text != "hello bob" || msgs[0].From != "alice" || msgs[0].Sent {
		t.Fatalf("bob's listen printed %q", r.stdout)
	}
	checkTime(t, "time", msgs[0].Time)
	checkTime(t, "received", msgs[0].Received)
	st := alice.status("--wait", "delivered", id1)
	if st.State != "delivered" || st.Delivered != 1 || st.Read != 0 || len(st.DeviceStates) != 1 {
		t.Fatalf("status after delivery: %+v", st)
	}
	if d := st.DeviceStates[0]; d.Device != 1 || d.State != "delivered" || d.Refused || d.Read != "" {
		t.Errorf("device status after delivery: %+v", d)
	} else {
		checkTime(t, "delivered", d.Delivered)
	}
	for _, args := range [][]string{{id1}, {"bob", id1[:8]}} {
		r = alice.ok("", append([]string{"status"}, args...)...)
		if r.stdout != id1+" ✓✓ delivered (1 of 1 devices)\n" {
			t.Errorf("status %q printed %q", args, r.stdout)
		}
	}

	// A second text, which bob's listen marks read.
	id2 := alice.send("bob", "are you there?")
	r = bob.ok("", "listen", "--count", "1", "--timeout", "30s")
	if !strings.HasSuffix(r.stdout, "  "+id2[:8]+"  alice (device 1): are you there?\n") {
		t.Errorf("bob's listen printed %q", r.stdout)
	}
	st = alice.status("--wait", "read", id2)
	if st.State != "read" || st.Read != 1 || st.Delivered != 1 || st.DeviceStates[0].State != "read" {
		t.Errorf("status after reading: %+v", st)
	}
	checkTime(t, "read", st.DeviceStates[0].Read)

	// A reply, by a prefix of the id; the quoted sender comes from the
	// history.
	idR := bob.sentID("send", "--reply-to", id1[:8], "alice", "hi alice")
	r = alice.ok("", "--json", "listen", "--count", "1", "--timeout", "30s")
	msgs = jsonLines[jsonMessage](t, r.stdout)
	if len(msgs) != 1 || msgs[0].ID != idR || msgs[0].ReplyTo == nil || *msgs[0].ReplyTo != (jsonReplyTo{ID: id1, Sender: "alice"}) {
		t.Fatalf("alice's listen printed %q", r.stdout)
	}

	// A reaction, shown by alice's listen.
	bob.sentID("react", "alice", id1, "👍")
	r = alice.ok("", "listen", "--count", "1", "--timeout", "30s")
	if !strings.HasSuffix(r.stdout, "  bob (device 1) reacted 👍 to "+id1[:8]+"\n") {
		t.Errorf("alice's listen printed %q", r.stdout)
	}

	// An edit by the sender.
	alice.sentID("edit", "bob", id1, "hello bob, again")
	r = bob.ok("", "--json", "listen", "--count", "1", "--timeout", "30s")
	msgs = jsonLines[jsonMessage](t, r.stdout)
	if len(msgs) != 1 || msgs[0].Kind != "edit" || msgs[0].Target != id1 || msgs[0].Text != "hello bob, again" {
		t.Fatalf("bob's listen printed %q", r.stdout)
	}

	// Both histories have the edit, the reaction, the reply.
	for _, u := range []*user{alice, bob} {
		peer := map[*user]string{alice: "bob", bob: "alice"}[u]
		h := u.history(peer)
		e, ok := h[id1]
		if !ok || e.Kind != "text" || e.Text != "hello bob, again" || e.Edited == "" || e.Deleted || e.From != "alice" ||
			len(e.Reactions) != 1 || e.Reactions[0].From != "bob" || e.Reactions[0].Emoji != "👍" {
			t.Errorf("%s's history of %s: %+v", peer, id1, e)
		}
		if e, ok := h[idR]; !ok || e.ReplyTo == nil || e.ReplyTo.ID != id1 || e.Text != "hi alice" || e.From != "bob" {
			t.Errorf("%s's history of the reply: %+v", peer, e)
		}
		if len(e.Reactions) == 1 {
			checkTime(t, "reaction time", e.Reactions[0].Time)
		}
		if u == alice && (e.Status == nil || e.Status.State != "delivered" || !e.Outgoing) {
			t.Errorf("alice's history: status of %s: %+v", id1, e.Status)
		}
		if u == bob && (e.Status != nil || e.Outgoing || e.Read == "" || e.FromDevice != 1) {
			t.Errorf("bob's history of %s: %+v", id1, e)
		}
		checkTime(t, "time", e.Time)
		checkTime(t, "received", e.Received)
	}
	r = alice.ok("", "history", "bob")
	if !strings.Contains(r.stdout, "  "+id1[:8]+"  alice: hello bob, again (edited)  [👍 bob]  ✓✓\n") ||
		!strings.Contains(r.stdout, "  "+idR[:8]+"  bob ↪ reply to "+id1[:8]+": hi alice\n") {
		t.Errorf("alice's history:\n%s", r.stdout)
	}

	// Alice cannot edit or delete bob's message: exit 3, not_sender, and
	// nothing is sent or changed.
	for _, args := range [][]string{{"edit", "bob", idR, "forged"}, {"delete", "bob", idR}} {
		r := alice.run("", append([]string{"--json"}, args...)...)
		var e jsonError
		if json.Unmarshal([]byte(r.stderr), &e); r.code != exitLocal || e.Error != "not_sender" || r.stdout != "" {
			t.Errorf("%q: %v", args, r)
		}
	}
	if r := bob.ok("", "--json", "listen", "--timeout", "2s"); len(jsonLines[jsonMessage](t, r.stdout)) != 0 {
		t.Errorf("bob received something after refused edits: %q", r.stdout)
	}
	for _, u := range []*user{alice, bob} {
		peer := map[*user]string{alice: "bob", bob: "alice"}[u]
		if e := u.history(peer)[idR]; e.Text != "hi alice" || e.Edited != "" || e.Deleted {
			t.Errorf("%s's copy of the reply after refused edits: %+v", peer, e)
		}
	}
	// An id nobody has: exit 3, unknown_message; a malformed one: exit 2.
	if r := alice.run("", "react", "bob", "00000000", "👍"); r.code != exitLocal || !strings.Contains(r.stderr, "no message 00000000") {
		t.Errorf("react to an unknown id: %v", r)
	}
	if r := alice.run("", "react", "bob", "xyz", "👍"); r.code != exitUsage {
		t.Errorf("react to a malformed id: %v", r)
	}

	// Delete for everyone.
	alice.sentID("delete", "bob", id2)
	r = bob.ok("", "listen", "--count", "1", "--timeout", "30s")
	if !strings.HasSuffix(r.stdout, "  alice (device 1) deleted "+id2[:8]+"\n") {
		t.Errorf("bob's listen printed %q", r.stdout)
	}
	for _, u := range []*user{alice, bob} {
		peer := map[*user]string{alice: "bob", bob: "alice"}[u]
		if e := u.history(peer)[id2]; !e.Deleted || e.Kind != "deleted" || e.Text != "" {
			t.Errorf("%s's history of the deleted message: %+v", peer, e)
		}
	}

	// The disappearing-message timer.
	alice.sentID("timer", "bob", "1h")
	r = bob.ok("", "--json", "listen", "--count", "1", "--timeout", "30s")
	msgs = jsonLines[jsonMessage](t, r.stdout)
	if len(msgs) != 1 || msgs[0].Kind != "timer" || msgs[0].TimerSeconds == nil || *msgs[0].TimerSeconds != 3600 {
		t.Fatalf("bob's listen printed %q", r.stdout)
	}
	if r := bob.ok("", "timer", "alice"); r.stdout != "disappearing-message timer with alice: 1h\n" {
		t.Errorf("bob's timer: %q", r.stdout)
	}
	// A message under the timer disappears an hour after bob read it.
	idE := alice.send("bob", "this will disappear")
	r = bob.ok("", "--json", "listen", "--count", "1", "--timeout", "30s")
	msgs = jsonLines[jsonMessage](t, r.stdout)
	if len(msgs) != 1 || msgs[0].ID != idE || msgs[0].DisappearsAfter != 3600 {
		t.Fatalf("bob's listen printed %q", r.stdout)
	}
	if e := bob.history("alice")[idE]; e.Read == "" || e.Expires == "" {
		t.Errorf("bob's history of a disappearing message: %+v", e)
	} else if read, _ := time.Parse(jsonTime, e.Read); e.Expires != fmtJSONTime(read.Add(time.Hour)) {
		t.Errorf("read %s, expires %s", e.Read, e.Expires)
	}
	if e := alice.history("bob")[idE]; e.Expires == "" {
		t.Errorf("alice's history of a disappearing message: %+v", e)
	}
	if r := alice.run("", "timer", "bob", "10s"); r.code != exitUsage {
		t.Errorf("a 10s timer: %v", r)
	}
	alice.sentID("timer", "bob", "off")
	r = alice.ok("", "--json", "timer", "bob")
	if r.stdout != `{"handle":"bob","timer_seconds":0}`+"\n" {
		t.Errorf("alice's timer after off: %q", r.stdout)
	}

	// chat's commands, from standard input.
	in := "/react " + id1[:8] + " 🎉\n" +
		"/reply " + idR[:8] + " replying in chat\n" +
		"/edit " + idR + " nope\n" +
		"/timer\n" +
		"/frob x\n"
	r = alice.ok(in, "chat", "bob")
	if strings.Count(r.stdout, " ✓\n") != 3 || !strings.Contains(r.stderr, "sealpost: chat: not sent: only the sender can edit or delete a message") ||
		!strings.Contains(r.stderr, "sealpost: disappearing-message timer with bob: off\n") {
		t.Errorf("chat with commands: %v", r)
	}
	r = bob.ok("", "--json", "listen", "--count", "4", "--timeout", "30s")
	msgs = jsonLines[jsonMessage](t, r.stdout)
	if len(msgs) == 4 && msgs[0].Kind == "timer" && *msgs[0].TimerSeconds == 0 { // alice's "off"
		msgs = msgs[1:]
	}
	if len(msgs) != 3 || msgs[0].Kind != "reaction" || *msgs[0].Reaction != (jsonReaction{Target: id1, Emoji: "🎉"}) ||
		msgs[1].Text != "replying in chat" || msgs[1].ReplyTo == nil || *msgs[1].ReplyTo != (jsonReplyTo{ID: idR, Sender: "bob"}) ||
		msgs[2].Kind != "text" || msgs[2].Text != "/frob x" {
		t.Errorf("bob's listen after alice's chat: %s", r.stdout)
	}

	// send --wait: bob is not listening, so no receipt comes: exit 1,
	// with the id of the message (which was stored) printed.
	r = alice.run("", "send", "--wait", "delivered", "--timeout", "3s", "bob", "anyone?")
	if r.code != exitFailure || !messageID.MatchString(strings.TrimSpace(r.stdout)) || !strings.Contains(r.stderr, "is stored, not delivered: no receipt said so") {
		t.Errorf("send --wait without a receipt: %v", r)
	}
}
