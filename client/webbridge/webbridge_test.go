package webbridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/crypto/keys"
)

func TestCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("open: %w", client.ErrWrongPassphrase), "wrong_passphrase"},
		{fmt.Errorf("localstore: %w", client.ErrLocked), "locked"},
		{client.ErrNoStore, "no_store"},
		{fmt.Errorf("client: sending: %w", client.ErrStoreFull), "store_full"},
		{fmt.Errorf("client: sending: %w", client.ErrStoreGone), "store_gone"},
		{client.ErrCorrupt, "corrupt_store"},
		{fmt.Errorf("%w: %w", client.ErrSecurity, client.ErrKeyChanged), "key_changed"},
		{client.ErrKeyChanged, "key_changed"},
		{client.ErrSecurity, "security"},
		{keys.ErrSafetyNumberMismatch, "safety_number_mismatch"},
		{client.ErrUnknownHandle, "no_such_account"},
		{client.ErrHandleTaken, "handle_taken"},
		{client.ErrInvalidHandle, "usage"},
		{Usage("a handle is needed"), "usage"},
		{fmt.Errorf("send: %w", client.ErrQueued), "queued"},
		{client.ErrClosed, "closed"},
		{&url.Error{Op: "Get", URL: "https://keys.example.org/v2/accounts/bob", Err: errors.New("fetch() failed: TypeError: Failed to fetch")}, "unreachable"},
		{context.DeadlineExceeded, "timeout"},
		{errors.New("something else"), "failure"},
	} {
		if got := Code(tc.err); got != tc.code {
			t.Errorf("Code(%v) = %q, want %q", tc.err, got, tc.code)
		}
	}
	if Code(nil) != "" {
		t.Error("Code(nil) is not empty")
	}
}

// TestCodesDocumented: every code Code returns (its own and
// client.ErrorCode's) is in web/README.md's table, so the page's authors
// can rely on the list.
func TestCodesDocumented(t *testing.T) {
	var src []byte
	for _, name := range []string{"webbridge.go", "../../client/errcode.go"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	readme, err := os.ReadFile("../../web/README.md")
	if err != nil {
		t.Fatal(err)
	}
	codes := regexp.MustCompile(`return "([a-z_]+)"`).FindAllSubmatch(src, -1)
	if len(codes) < 10 {
		t.Fatalf("found %d codes in webbridge.go and client/errcode.go", len(codes))
	}
	for _, c := range codes {
		if !bytes.Contains(readme, []byte("`"+string(c[1])+"`")) {
			t.Errorf("code %s is not in web/README.md", c[1])
		}
	}
}

func TestDescribe(t *testing.T) {
	err := fmt.Errorf("client: looking up bob: ksclient: GET /v2/accounts/bob: %w", client.ErrUnknownHandle)
	d := Describe(err)
	if d.Code != "no_such_account" || strings.Contains(d.Message, "client:") || strings.Contains(d.Message, "ksclient:") {
		t.Errorf("Describe = %+v", d)
	}
	if d := Describe(errors.New("a\nb")); d.Message != "a b" {
		t.Errorf("two lines: %q", d.Message)
	}
}

func TestMessage(t *testing.T) {
	id := client.MessageID{1, 2, 3}
	sent := time.UnixMilli(1_800_000_000_123)
	m := &client.Message{
		ID: id, From: "bob", FromDevice: 2, To: "alice", Time: sent, Received: sent.Add(time.Second),
		Plaintext: []byte("hello"), KeyChanged: true,
		Content: &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Text{Text: &contentpb.Text{Body: "hello"}}}},
	}
	o := Message(m)
	want := Object{"id": id.String(), "sender": "bob", "senderDevice": 2.0, "to": "alice", "outgoing": false, "keyChanged": true,
		"sent": 1_800_000_000_123.0, "received": 1_800_000_001_123.0, "kind": "text", "text": "hello", "timer": 0.0}
	if fmt.Sprint(o) != fmt.Sprint(want) {
		t.Errorf("Message = %v, want %v", o, want)
	}
	// A version 1 message: its bytes, made valid UTF-8.
	v1 := Message(&client.Message{ID: id, From: "bob", Plaintext: []byte("caf\xe9")})
	if v1["kind"] != "v1" || v1["text"] != "caf\uFFFD" || v1["sent"] != nil {
		t.Errorf("version 1 message: %v", v1)
	}
	h := HistoryEntry(client.HistoryEntry{ID: id, From: "alice", Outgoing: true, Deleted: true, Plaintext: []byte("gone")})
	if h["kind"] != "deleted" || h["text"] != "" || h["outgoing"] != true {
		t.Errorf("deleted history entry: %v", h)
	}
}

func TestStatus(t *testing.T) {
	o := Status(&client.MessageStatus{State: client.StateQueued, Devices: 2, Stored: 1})
	if o["state"] != "queued" || o["devices"] != 2.0 || o["stored"] != 1.0 || o["delivered"] != 0.0 {
		t.Errorf("queued status: %v", o)
	}
	if o := Status(&client.MessageStatus{State: client.StateRead, Devices: 1, Stored: 1, Delivered: 1, Read: 1}); o["state"] != "read" || o["read"] != 1.0 {
		t.Errorf("read status: %v", o)
	}
}

func TestEvent(t *testing.T) {
	ak1, _ := keys.GenerateAccountKey(rand.Reader)
	ak2, _ := keys.GenerateAccountKey(rand.Reader)
	ak3, _ := keys.GenerateAccountKey(rand.Reader)
	old, err := keys.NewSafetyNumber("alice", ak1.Public(), "bob", ak2.Public())
	if err != nil {
		t.Fatal(err)
	}
	nw, err := keys.NewSafetyNumber("alice", ak1.Public(), "bob", ak3.Public())
	if err != nil {
		t.Fatal(err)
	}
	o := Event(client.Event{Kind: client.EventKeyChanged, Handle: "bob", KeyChange: &client.KeyChange{Handle: "bob", Old: old, New: nw, Verified: true}})
	if o["kind"] != "key-changed" || o["handle"] != "bob" || o["verified"] != true || o["oldDigits"] != old.Digits() || o["newDigits"] != nw.Digits() {
		t.Errorf("key change: %v", o)
	}
	o = Event(client.Event{Kind: client.EventEnvelopeDropped, Err: fmt.Errorf("client: %w", client.ErrSecurity)})
	if o["kind"] != "envelope-dropped" || o["code"] != "security" || o["error"] != "security check failed" {
		t.Errorf("dropped envelope: %v", o)
	}
	if o := Event(client.Event{Kind: client.EventConnected}); o["kind"] != "connected" || o["error"] != nil {
		t.Errorf("connected: %v", o)
	}
	sn, err := SafetyNumber(old)
	if err != nil {
		t.Fatal(err)
	}
	if sn["digits"] != old.Digits() || sn["compact"] != old.Compact() || len(sn["groups"].([]any)) != len(old.Groups()) {
		t.Errorf("safety number: %v", sn)
	}
	if _, err := png.Decode(bytes.NewReader(sn["qr"].([]byte))); err != nil {
		t.Errorf("QR code: %v", err)
	}
}
